#!/usr/bin/env bash
# Makes sure everything the tests need is on this machine; idempotent, silent when nothing to do.
# - Debian packages: redis-server, postgresql, mariadb-server, nats-server, prometheus and
#   prometheus-alertmanager (the tests start their own redis-server, initdb/postgres,
#   mariadb-install-db/mariadbd, nats-server, prometheus and alertmanager on free ports),
#   chromium with chromium-driver for the web UI tests (each test runs its own chromedriver),
#   and nginx, the reverse proxy the web UI is tested behind (each test runs its own).
# - The machine's shared services answer on 6379 (Redis), 5432 (PostgreSQL), 3306 (MariaDB) and
#   4222 (NATS); one that does not is started with the machine's own start command.
# - s3s-fs (S3 server on a directory) from crates.io, Azurite (Azure Blob emulator) from npm and
#   gcp-storage-emulator (GCS JSON API) from PyPI in its own virtualenv; the tests start their
#   own, not this script. openssl makes the RSA keys of the GCS service-account tests and the
#   private certificate authorities of the TLS tests (Debian's redis-server serves TLS).
# - python3-aiosmtpd: the e-mail tests run their own SMTP server (aiosmtpd, with STARTTLS and
#   AUTH) under Debian's /usr/bin/python3.
# - iproute2 (`ip netns`) and curl: the access tests put a client in a network namespace of
#   its own, to be a client whose address is not loopback.
# Prints one line per action. Must run as root (installs packages, starts system services).
set -euo pipefail

S3S_FS_VERSION=0.14.1
# 3.35.0 is the last Azurite that runs on Node 20 (3.36 needs Node 21+).
AZURITE_VERSION=3.35.0
GCS_EMULATOR_VERSION=2026.7.19
GCS_EMULATOR_VENV=/opt/gcp-storage-emulator
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin:$CARGO_BIN"

say() { echo "test-services: $*"; }

# Runs a command with its output in a log; shows the log's tail if it fails.
quietly() {
  local log
  log="$(mktemp)"
  if ! "$@" >"$log" 2>&1; then
    say "FAILED: $*"
    tail -n 40 "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

# A program in PATH that is an executable file (bash's `command -v` also names non-executable files).
have() {
  local p
  p="$(command -v "$1" 2>/dev/null)" && [[ -f "$p" && -x "$p" ]]
}

have_postgres() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [[ -x "$d/initdb" && -x "$d/postgres" ]]; then return 0; fi
  done
  have initdb && have postgres
}

# ---- Debian packages ---------------------------------------------------------------------------
missing=()
have redis-server || missing+=(redis-server)
{ have_postgres && have pg_ctlcluster; } || missing+=(postgresql)
{ have mariadbd && have mariadb-install-db; } || missing+=(mariadb-server)
have nats-server || missing+=(nats-server)
have prometheus || missing+=(prometheus)
have prometheus-alertmanager || missing+=(prometheus-alertmanager)
have chromium || missing+=(chromium)
have chromedriver || missing+=(chromium-driver)
have nginx || missing+=(nginx)
have openssl || missing+=(openssl)
have ip || missing+=(iproute2)
have curl || missing+=(curl)
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || missing+=(python3-aiosmtpd)
if ((${#missing[@]})); then
  say "apt-get update"
  quietly apt-get update
  say "apt-get install -y ${missing[*]}"
  quietly env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# ---- shared services -----------------------------------------------------------------------------
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

wait_port() {
  local name=$1 port=$2 i
  for ((i = 0; i < 60; i++)); do
    if port_open "$port"; then return 0; fi
    sleep 0.5
  done
  say "FAILED: $name does not answer on 127.0.0.1:$port after 30 s" >&2
  return 1
}

start_redis() {
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null
}

start_postgres() {
  # shellcheck disable=SC2046 # the machine's own command: one cluster version in /etc/postgresql
  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
}

start_mariadb() {
  mkdir -p /run/mysqld
  chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
}

start_nats() {
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
}

ensure_service() {
  local name=$1 port=$2 start=$3
  if port_open "$port"; then return 0; fi
  say "starting $name (127.0.0.1:$port is closed)"
  quietly "$start"
  wait_port "$name" "$port"
}

ensure_service redis 6379 start_redis
ensure_service postgresql 5432 start_postgres
ensure_service mariadb 3306 start_mariadb
ensure_service nats 4222 start_nats

# ---- s3s-fs --------------------------------------------------------------------------------------
if ! have s3s-fs && [[ ! -x "$CARGO_BIN/s3s-fs" ]]; then
  say "cargo install s3s-fs --version $S3S_FS_VERSION --features binary --locked (a few minutes)"
  quietly cargo install s3s-fs --version "$S3S_FS_VERSION" --features binary --locked
fi

# ---- Azurite -------------------------------------------------------------------------------------
if ! have azurite-blob || [[ "$(azurite-blob --version 2>/dev/null)" != "$AZURITE_VERSION" ]]; then
  say "npm install -g azurite@$AZURITE_VERSION"
  quietly npm install -g --no-fund --no-audit "azurite@$AZURITE_VERSION"
fi

# ---- gcp-storage-emulator --------------------------------------------------------------------------
gcs_emulator="$GCS_EMULATOR_VENV/bin/gcp-storage-emulator"
gcs_installed="$("$GCS_EMULATOR_VENV/bin/pip" show gcp-storage-emulator 2>/dev/null || true)"
if [[ ! -x "$gcs_emulator" || "$gcs_installed" != *"Version: $GCS_EMULATOR_VERSION"* ]]; then
  say "pip install gcp-storage-emulator==$GCS_EMULATOR_VERSION into $GCS_EMULATOR_VENV"
  quietly python3 -m venv "$GCS_EMULATOR_VENV"
  quietly "$GCS_EMULATOR_VENV/bin/pip" install -q "gcp-storage-emulator==$GCS_EMULATOR_VERSION"
fi
if [[ "$(readlink /usr/local/bin/gcp-storage-emulator 2>/dev/null)" != "$gcs_emulator" ]]; then
  ln -sf "$gcs_emulator" /usr/local/bin/gcp-storage-emulator
fi
