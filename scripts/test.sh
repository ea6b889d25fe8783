#!/usr/bin/env bash
# The whole check: services and tools, formatting, lints, tests. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

bash scripts/test-services.sh
echo "== cargo fmt --all -- --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
echo "== cargo test"
# The integration tests mostly wait on servers, sockets and back-off timers (the alert
# give-up test alone waits two minutes): four at a time keep two cores busy.
cargo test -- --test-threads 4
