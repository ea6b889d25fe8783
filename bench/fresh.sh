#!/usr/bin/env bash
# ?fresh=1 bounded: 2,000 healthz?fresh=1 requests from 50 clients (hey) against ragwatch
# watching only a private Redis, with server.fresh_min_interval at its default (1 s), next to
# the same ragwatch with fresh_min_interval = "0s" (unbounded: concurrent requests share one
# probe, nothing more). Each is run flat out, then paced over about 5 s (hey -q). Probes are
# counted on the Redis's INFO commandstats (PING calls, one per probe; the schedule is 1 h,
# so none come from it); the target is at most (duration / 1 s + 1) probes.
#
# Installs hey when missing. REQUESTS (default 2000) and CLIENTS (default 50) change the load,
# PACED_QPS (default 8 per client) the pace of the second run. RAGWATCH_BIN measures another
# build instead.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-2000}
CLIENTS=${CLIENTS:-50}
PACED_QPS=${PACED_QPS:-8}

if ! command -v hey >/dev/null; then
  echo "installing hey"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hey >/dev/null
fi
if [ -z "${RAGWATCH_BIN:-}" ]; then
  cargo build --release --quiet
  RAGWATCH_BIN=${CARGO_TARGET_DIR:-target}/release/ragwatch
fi
# shellcheck source=bench/lib.sh
source bench/lib.sh

# PING calls the Redis on port $1 has answered.
pings() { redis-cli -p "$1" info commandstats | awk -F'[=,]' '/^cmdstat_ping:/ {n=$2} END {print n+0}'; }

# measure NAME FRESH_MIN_INTERVAL [HEY_ARGS...]: one run on its own Redis and ragwatch.
measure() {
  local name=$1 min_interval=$2
  shift 2
  local redis_port ragwatch_port url before after took probes bound verdict statuses
  redis_port=$(free_port)
  ragwatch_port=$(free_port)
  start_redis "$redis_port"
  pids+=("$redis_pid")
  cat >"$work/$name.toml" <<TOML
[server]
listen = "127.0.0.1:$ragwatch_port"
fresh_min_interval = "$min_interval"
[monitor]
interval = "1h"
timeout = "2s"
[db]
enabled = false
[redis]
url = "redis://127.0.0.1:$redis_port/0"
[doc_engine]
enabled = false
[storage]
enabled = false
[task_executors]
enabled = false
[history]
enabled = false
TOML
  RUST_LOG=warn "$RAGWATCH_BIN" serve --config "$work/$name.toml" 2>"$work/$name.log" &
  pids+=("$!")
  url="http://127.0.0.1:$ragwatch_port/v1/system/healthz"
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)" = 200 ] && break
    sleep 0.1
  done
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ] || { echo "$name: healthz is not 200"; cat "$work/$name.log"; exit 1; }
  before=$(pings "$redis_port")
  hey -n "$REQUESTS" -c "$CLIENTS" "$@" "$url?fresh=1" >"$work/$name.hey"
  after=$(pings "$redis_port")
  took=$(awk '/Total:/ {print $2; exit}' "$work/$name.hey")
  statuses=$(awk '/Status code distribution:/ {on=1; next} on && /\[/ {printf "%s%s %s", sep, $1, $2; sep=", "} on && !/\[/ && NF == 0 && sep {exit}' "$work/$name.hey")
  probes=$((after - before))
  bound=$(awk -v d="$took" 'BEGIN {printf "%d", d / 1 + 1}')
  verdict=$(awk -v p="$probes" -v b="$bound" 'BEGIN {print (p <= b) ? "PASS" : "MISS"}')
  printf '%-28s %s requests, %s clients in %6.2f s (%s): %5d probes of redis; bound %d: %s\n' \
    "$name" "$REQUESTS" "$CLIENTS" "$took" "$statuses" "$probes" "$bound" "$verdict"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); hey -n $REQUESTS -c $CLIENTS"
measure "bounded 1s, flat out" 1s
measure "bounded 1s, paced" 1s -q "$PACED_QPS"
measure "unbounded 0s, flat out" 0s
measure "unbounded 0s, paced" 0s -q "$PACED_QPS"
