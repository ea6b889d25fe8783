# syntax=docker/dockerfile:1
# ragwatch in a container: docker build -t ragwatch .
# Configure it with RAGWATCH_<SECTION>__<KEY> variables or a file given with --config
# (see deploy/compose/docker-compose.ragwatch.yml and the README).

# The toolchain is at least the newest rust-version in Cargo.lock (tests/deploy.rs checks).
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The web UI's files are compiled into the binary (include_bytes! in src/api/ui.rs).
COPY ui ./ui
# The caches keep downloaded crates and compiled dependencies between builds; the binary
# is copied out of the cached target directory in the same step.
# ragwatch_build_info{revision}: `docker build --build-arg RAGWATCH_REVISION=$(git rev-parse HEAD)`.
ARG RAGWATCH_REVISION
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -D -m 0755 target/release/ragwatch /out/ragwatch

# Same Debian release as the build stage, so the binary finds the glibc it was linked with.
# No tzdata needed: named time zones (maintenance windows) use the system's zoneinfo when
# present, else the copy of the time zone database built into the binary.
FROM debian:bookworm-slim
# The system's certificate store, which every TLS client of ragwatch trusts: add a private
# CA to it in a derived image (update-ca-certificates), or give it as a tls_ca_file.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/ragwatch --create-home \
        --shell /usr/sbin/nologin ragwatch
COPY --from=build /out/ragwatch /usr/local/bin/ragwatch
USER 10001:10001
# The default history, sqlite://ragwatch.db, lands in this volume.
WORKDIR /var/lib/ragwatch
VOLUME /var/lib/ragwatch
EXPOSE 9390
# "Is ragwatch itself working": asks the running server's /livez, exit 0 or 1. Never a probe
# round (RAGFlow's Redis being down must not restart ragwatch).
HEALTHCHECK --interval=30s --timeout=10s --start-period=10s --retries=3 \
    CMD ["ragwatch", "healthcheck"]
ENTRYPOINT ["ragwatch"]
CMD ["serve"]
