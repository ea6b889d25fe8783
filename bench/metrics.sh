#!/usr/bin/env bash
# /metrics with 6 components and 1,000 task executors (x 60 heartbeats): ragwatch's scrape
# time and size next to prometheus-redis-exporter scraping the same Redis, in one run.
# Needs the machine's MariaDB and NATS (scripts/test-services.sh); installs the exporter
# when missing. REPS (default 20) scrapes per side; the median is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-20}
if ! command -v prometheus-redis-exporter >/dev/null; then
  echo "installing prometheus-redis-exporter"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-redis-exporter >/dev/null
fi
cargo build --release --quiet
# shellcheck source=bench/lib.sh
source bench/lib.sh
redis_port=$(free_port); ragwatch_port=$(free_port); exporter_port=$(free_port); closed=$(free_port)

redis_with_heartbeats "$redis_port" 1000

cat > "$work/ragwatch.toml" <<TOML
[server]
listen = "127.0.0.1:$ragwatch_port"
[db]
url = "mysql://root@127.0.0.1:3306/mysql"
[redis]
url = "redis://127.0.0.1:$redis_port/0"
[doc_engine]
url = "http://127.0.0.1:$closed"
[storage]
endpoint = "http://127.0.0.1:$closed"
[message_queue]
kind = "nats"
[history]
url = "sqlite://$work/history.db"
TOML
RUST_LOG=warn target/release/ragwatch serve --config "$work/ragwatch.toml" 2>"$work/ragwatch.log" &
pids+=("$!")
prometheus-redis-exporter --redis.addr "redis://127.0.0.1:$redis_port" --web.listen-address "127.0.0.1:$exporter_port" >"$work/exporter.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do
  curl -s "http://127.0.0.1:$ragwatch_port/metrics" | grep -q 'ragwatch_task_executors{state="alive"} 1000' && break
  sleep 0.2
done
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$exporter_port/metrics" && break; sleep 0.1; done

# Median seconds and bytes of REPS scrapes of a URL.
scrape() {
  for _ in $(seq "$REPS"); do curl -s -o /dev/null -w '%{time_total} %{size_download}\n' "$1"; done |
    sort -n | awk '{t[NR]=$1; b=$2} END {printf "%.1f %d\n", t[int((NR+1)/2)] * 1000, b}'
}
read -r r_ms r_bytes < <(scrape "http://127.0.0.1:$ragwatch_port/metrics")
read -r e_ms e_bytes < <(scrape "http://127.0.0.1:$exporter_port/metrics")
series=$(curl -s "http://127.0.0.1:$ragwatch_port/metrics" | grep -vc '^#')
echo "ragwatch /metrics (6 components, 1000 executors): $r_ms ms, $r_bytes bytes, $series series"
echo "prometheus-redis-exporter /metrics (same Redis):   $e_ms ms, $e_bytes bytes"
awk -v a="$r_ms" -v b="$e_ms" 'BEGIN {printf "ratio ragwatch/exporter time: %.2fx\n", a / b}'
echo "ragwatch RSS: $(( $(awk '/VmRSS/ {print $2}' "/proc/${pids[1]}/status") / 1024 )) MB"
