#!/usr/bin/env bash
# Failover of a ragwatch cluster (issue: high availability), on the release binary: three
# replicas on a scratch database of the machine's PostgreSQL and a private redis-server;
# KILLS (default 20) SIGKILLs of the leader at random points during one continuing Redis
# outage. Prints the failover time (median, max; target max <= lease + interval), duplicated
# notifications and missed resolutions (target 0), next to two replicas without [cluster]
# through the same outage in the same run. bench/failover.py does the measuring.
#
# Needs the machine's PostgreSQL (scripts/test-services.sh). RAGWATCH_BIN measures another
# build instead.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${RAGWATCH_BIN:-}" ]; then
  cargo build --release --quiet
  RAGWATCH_BIN=${CARGO_TARGET_DIR:-target}/release/ragwatch
fi
# shellcheck source=bench/lib.sh
source bench/lib.sh

database="ragwatch_failover_$$"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $database"
dropdb() { psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $database WITH (FORCE)"; }
trap 'dropdb; cleanup' EXIT

python3 bench/failover.py "$RAGWATCH_BIN" "$(free_port)" "postgres://postgres@127.0.0.1:5432/$database"
