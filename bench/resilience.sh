#!/usr/bin/env bash
# The SPEC 9 targets about failing dependencies, on the release binary:
# 1. a black-holed dependency (accepts TCP, never answers): healthz?fresh=1 answers within
#    timeout + 100 ms and the other components stay ok; next to prometheus-blackbox-exporter
#    probing the same black hole with the same timeout;
# 2. probe amplification: 10,000 healthz requests cause no more Redis commands than the
#    schedule alone; next to prometheus-redis-exporter taking the same 10,000 requests;
# 3. detection of a killed dependency (SIGKILL of redis-server) within interval + timeout.
#
# Needs the machine's MariaDB (scripts/test-services.sh); installs hey and both exporters
# when missing. SAMPLES (default 20) fresh requests and kills.
set -euo pipefail
cd "$(dirname "$0")/.."
SAMPLES=${SAMPLES:-20}

missing=()
for tool in hey prometheus-blackbox-exporter prometheus-redis-exporter; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cargo build --release --quiet
# shellcheck source=bench/lib.sh
source bench/lib.sh

# A black hole: accepts every connection and never reads or answers.
black_hole=$(free_port)
python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1024)
held = []
while True:
    held.append(s.accept()[0])
' "$black_hole" &
pids+=("$!")

redis_commands() { redis-cli -p "$1" info stats | awk -F: '/^total_commands_processed/ {print $2+0}'; }

# serve PORT INTERVAL TIMEOUT REDIS_PORT STORAGE_URL: a ragwatch on PORT.
serve() {
  cat > "$work/ragwatch-$1.toml" <<TOML
[server]
listen = "127.0.0.1:$1"
# Every fresh request probes (else the next one within 1 s reads the last result, untimed).
fresh_min_interval = "0s"
[monitor]
interval = "$2"
timeout = "$3"
[db]
url = "mysql://root@127.0.0.1:3306/mysql"
[redis]
url = "redis://127.0.0.1:$4/0"
[doc_engine]
enabled = false
[storage]
endpoint = "$5"
[task_executors]
enabled = false
[history]
enabled = false
TOML
  RUST_LOG=warn target/release/ragwatch serve --config "$work/ragwatch-$1.toml" 2>"$work/ragwatch-$1.log" &
  pids+=("$!")
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/livez" && return; sleep 0.1; done
  echo "ragwatch on $1 did not start:"; cat "$work/ragwatch-$1.log"; exit 1
}

# Milliseconds: median and maximum of the numbers on stdin.
summary() { sort -n | awk '{v[NR]=$1} END {printf "median %.0f ms, max %.0f ms", v[int((NR+1)/2)], v[NR]}'; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

# 1. Black hole ---------------------------------------------------------------------------
redis_a=$(free_port); start_redis "$redis_a"; pids+=("$redis_pid")
port_a=$(free_port)
serve "$port_a" 5s 1s "$redis_a" "http://127.0.0.1:$black_hole"
body=$(curl -s "http://127.0.0.1:$port_a/v1/system/healthz?fresh=1")
verdict=$(python3 -c 'import json,sys; b=json.loads(sys.argv[1]); print(b["db"], b["redis"], b["storage"])' "$body")
[ "$verdict" = "ok ok nok" ] || { echo "unexpected healthz: $body"; exit 1; }
for _ in $(seq "$SAMPLES"); do
  curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port_a/v1/system/healthz?fresh=1"
done | awk '{print $1 * 1000}' > "$work/fresh.ms"

exporter_port=$(free_port)
cat > "$work/blackbox.yml" <<YAML
modules:
  http_1s:
    prober: http
    timeout: 1s
YAML
prometheus-blackbox-exporter --config.file "$work/blackbox.yml" --web.listen-address "127.0.0.1:$exporter_port" >"$work/blackbox.log" 2>&1 &
pids+=("$!")
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$exporter_port/metrics" && break; sleep 0.1; done
for _ in $(seq "$SAMPLES"); do
  curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$exporter_port/probe?module=http_1s&target=http://127.0.0.1:$black_hole/"
done | awk '{print $1 * 1000}' > "$work/blackbox.ms"
echo "1. black-holed storage, timeout 1 s, $SAMPLES requests each (target: within 1,100 ms, db and redis still ok):"
echo "   ragwatch healthz?fresh=1:       $(summary < "$work/fresh.ms"); db, redis, storage = $verdict"
echo "   blackbox-exporter /probe (1 s): $(summary < "$work/blackbox.ms")"
worst=$(sort -n "$work/fresh.ms" | tail -1)
echo "   worst ragwatch request $(awk -v w="$worst" 'BEGIN {printf "%.2f", w / 1100}')x the target: $(awk -v w="$worst" 'BEGIN {print (w <= 1100) ? "PASS" : "MISS"}')"

# 2. Amplification ------------------------------------------------------------------------
# ragwatch on a 1 s schedule; 10,000 requests spread over 10 s (hey: 10 workers x 100/s).
redis_b=$(free_port); start_redis "$redis_b"; pids+=("$redis_pid")
port_b=$(free_port)
serve "$port_b" 1s 1s "$redis_b" "http://127.0.0.1:$black_hole"
sleep 2
window() { # COMMAND...: Redis commands during 10 s with COMMAND running, minus our own INFO
  local before after
  before=$(redis_commands "$redis_b")
  "$@" >/dev/null
  after=$(redis_commands "$redis_b")
  echo $((after - before - 1))
}
idle=$(window sleep 10)
loaded=$(window hey -n 10000 -c 10 -q 100 "http://127.0.0.1:$port_b/v1/system/healthz")
exporter_b=$(free_port)
prometheus-redis-exporter --redis.addr "redis://127.0.0.1:$redis_b" --web.listen-address "127.0.0.1:$exporter_b" >"$work/redis-exporter.log" 2>&1 &
pids+=("$!")
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$exporter_b/metrics" && break; sleep 0.1; done
exporter_start=$(date +%s.%N)
exporter_loaded=$(window hey -n 10000 -c 10 -q 100 "http://127.0.0.1:$exporter_b/metrics")
exporter_secs=$(awk -v s="$exporter_start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
echo "2. Redis commands in 10 s (target: no more under load than the schedule alone):"
echo "   ragwatch, schedule alone:                 $idle"
echo "   ragwatch, 10,000 healthz requests:        $loaded ($(awk -v a="$loaded" -v b="$idle" 'BEGIN {printf "%.2f", a / b}')x the schedule: $(awk -v a="$loaded" -v b="$idle" 'BEGIN {print (a <= b * 1.2 + 2) ? "PASS" : "MISS"}'))"
echo "   redis-exporter, 10,000 scrapes (${exporter_secs} s, ragwatch's probes included): $exporter_loaded ($(awk -v a="$exporter_loaded" 'BEGIN {printf "%.1f", a / 10000}') per request)"

# 3. Kill detection -----------------------------------------------------------------------
redis_c=$(free_port); start_redis "$redis_c"; pid_c=$redis_pid
port_c=$(free_port)
serve "$port_c" 2s 1s "$redis_c" "http://127.0.0.1:$black_hole"
redis_state() { curl -s "http://127.0.0.1:$port_c/v1/system/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["redis"])'; }
for _ in $(seq "$SAMPLES"); do
  for _ in $(seq 100); do [ "$(redis_state)" = ok ] && break; sleep 0.05; done
  # A random point in the schedule, as a crash would land.
  sleep "$(awk -v r="$RANDOM" 'BEGIN {printf "%.2f", r % 200 / 100}')"
  kill -9 "$pid_c"; wait "$pid_c" 2>/dev/null || true
  killed=$(date +%s%N)
  until [ "$(redis_state)" = nok ]; do sleep 0.02; done
  echo $(( ($(date +%s%N) - killed) / 1000000 ))
  start_redis "$redis_c"; pid_c=$redis_pid
done > "$work/detect.ms"
pids+=("$pid_c")
worst=$(sort -n "$work/detect.ms" | tail -1)
echo "3. SIGKILL of redis-server to healthz saying nok, interval 2 s + timeout 1 s, $SAMPLES kills (target: within 3,000 ms):"
echo "   ragwatch: $(summary < "$work/detect.ms"); worst $(awk -v w="$worst" 'BEGIN {printf "%.2f", w / 3000}')x the target: $(awk -v w="$worst" 'BEGIN {print (w <= 3000) ? "PASS" : "MISS"}')"
