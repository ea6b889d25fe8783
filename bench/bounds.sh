#!/usr/bin/env bash
# Resident memory under hostile input, on the release binary: 20 concurrent intervals
# requests for one executor with 100,000 heartbeats in its window (a private Redis), and
# probes of a document engine streaming a 2 GiB answer (bench/endless_http.py), next to
# prometheus-blackbox-exporter probing the same endless answer. Installs the exporter when
# missing. RAGWATCH_BIN measures another build instead (e.g. an older commit's).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${RAGWATCH_BIN:-}" ]; then
  cargo build --release --quiet
  RAGWATCH_BIN=${CARGO_TARGET_DIR:-target}/release/ragwatch
fi
if ! command -v prometheus-blackbox-exporter >/dev/null; then
  echo "installing prometheus-blackbox-exporter"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-blackbox-exporter >/dev/null
fi
# shellcheck source=bench/lib.sh
source bench/lib.sh
redis_port=$(free_port); ragwatch_port=$(free_port); http_port=$(free_port); bb_port=$(free_port)
executor=task_executor_common_host0000_0

start_redis "$redis_port"
pids+=("$redis_pid")
python3 bench/heartbeats.py 1 100000 0.015 | redis-cli -p "$redis_port" --pipe >/dev/null
python3 bench/endless_http.py "$http_port" $((2 * 1024 * 1024 * 1024)) &
pids+=("$!")

cat > "$work/ragwatch.toml" <<TOML
[server]
listen = "127.0.0.1:$ragwatch_port"
# Every fresh request probes the 2 GiB answer again (else within 1 s it reads the last result).
fresh_min_interval = "0s"
[monitor]
interval = "1h"
timeout = "1s"
[db]
enabled = false
[redis]
url = "redis://127.0.0.1:$redis_port/0"
[doc_engine]
url = "http://127.0.0.1:$http_port"
[storage]
enabled = false
TOML
RUST_LOG=warn "$RAGWATCH_BIN" serve --config "$work/ragwatch.toml" 2>"$work/ragwatch.log" &
ragwatch_pid=$!
pids+=("$ragwatch_pid")
base="http://127.0.0.1:$ragwatch_port"
for _ in $(seq 150); do
  curl -s "$base/api/v1/executors" | grep -q "\"$executor\"" && break
  sleep 0.2
done

# Resident and peak resident memory of a process, in MB.
rss() { awk '/VmRSS/ {r=$2} /VmHWM/ {h=$2} END {printf "%d MB (peak %d MB)", r / 1024, h / 1024}' "/proc/$1/status"; }

echo "ragwatch ($RAGWATCH_BIN) after start, executor read: $(rss "$ragwatch_pid")"
size=$(curl -s -o /dev/null -w '%{size_download}' "$base/api/v1/executors/$executor/intervals")
start=$(date +%s.%N)
seq 20 | xargs -P20 -I{} curl -s -o /dev/null "$base/api/v1/executors/$executor/intervals"
took=$(echo "$(date +%s.%N) - $start" | bc)
echo "20 concurrent intervals requests ($size bytes each) in ${took}s: $(rss "$ragwatch_pid")"
curl -s "$base/api/v1/executors" | python3 -c 'import json,sys; e=json.load(sys.stdin)["executors"][0]; print("heartbeats kept:", e["heartbeats_30m"], "skipped:", e.get("skipped", "-"))'

for _ in 1 2 3 4 5; do
  curl -s -o /dev/null -w 'healthz?fresh=1 (doc_engine streaming 2 GiB): %{time_total}s\n' "$base/v1/system/healthz?fresh=1"
done
curl -s "$base/api/v1/components/doc_engine" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("doc_engine:", d.get("status"), d.get("elapsed_ms"), "ms,", d.get("error"))' || true
echo "ragwatch after 5 probes of the 2 GiB answer: $(rss "$ragwatch_pid")"

cat > "$work/blackbox.yml" <<YAML
modules:
  http_2xx:
    prober: http
    timeout: 1s
YAML
prometheus-blackbox-exporter --config.file "$work/blackbox.yml" --web.listen-address "127.0.0.1:$bb_port" >"$work/blackbox.log" 2>&1 &
bb_pid=$!
pids+=("$bb_pid")
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$bb_port/metrics" && break; sleep 0.1; done
for _ in 1 2 3 4 5; do
  curl -s -o "$work/probe.txt" -w 'blackbox /probe (same answer): %{time_total}s' "http://127.0.0.1:$bb_port/probe?module=http_2xx&target=http://127.0.0.1:$http_port/"
  echo " probe_success $(awk '/^probe_success/ {print $2}' "$work/probe.txt")"
done
echo "prometheus-blackbox-exporter after 5 probes: $(rss "$bb_pid")"
