#!/usr/bin/env bash
# healthz under load (SPEC 9): ragwatch's /v1/system/healthz next to nginx serving the very
# same bytes as a static file, measured in one run with wrk at 64 connections. Prints
# requests/s, p99 and both ratios against the targets (throughput >= 0.70x nginx, p99 <=
# 1.5x nginx's), and ragwatch's resident memory idle and after the load.
#
# Needs the machine's MariaDB (127.0.0.1:3306, root) and Redis (127.0.0.1:6379), which
# scripts/test-services.sh installs and starts; installs wrk and nginx when missing.
# DURATION (default 15s) sets each measured run; ROUNDS (default 2) how often both are run.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-15s}
ROUNDS=${ROUNDS:-2}

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release --quiet
# shellcheck source=bench/lib.sh
source bench/lib.sh
ragwatch_port=$(free_port)
nginx_port=$(free_port)

cat > "$work/ragwatch.toml" <<TOML
[server]
listen = "127.0.0.1:$ragwatch_port"
[db]
url = "mysql://root@127.0.0.1:3306/mysql"
[redis]
url = "redis://127.0.0.1:6379/1"
[doc_engine]
enabled = false
[storage]
enabled = false
[task_executors]
enabled = false
[history]
url = "sqlite://$work/history.db"
TOML
RUST_LOG=warn target/release/ragwatch serve --config "$work/ragwatch.toml" 2>"$work/ragwatch.log" &
ragwatch_pid=$!
pids+=("$ragwatch_pid")
url_ragwatch="http://127.0.0.1:$ragwatch_port/v1/system/healthz"
for _ in $(seq 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$url_ragwatch" || true)" = 200 ] && break
  sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url_ragwatch")" = 200 ] || { echo "ragwatch healthz is not 200:"; curl -s "$url_ragwatch"; cat "$work/ragwatch.log"; exit 1; }

mkdir -p "$work/www/v1/system" "$work/nginx"
curl -s "$url_ragwatch" > "$work/www/v1/system/healthz"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  default_type application/json;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/www;
  }
}
CONF
"$NGINX" -c "$work/nginx/nginx.conf" -p "$work/nginx" 2>"$work/nginx/stderr.log" &
pids+=("$!")
url_nginx="http://127.0.0.1:$nginx_port/v1/system/healthz"
for _ in $(seq 50); do curl -s -o /dev/null "$url_nginx" && break; sleep 0.1; done
cmp -s <(curl -s "$url_ragwatch") <(curl -s "$url_nginx") || { echo "nginx does not serve the same bytes"; exit 1; }

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$ragwatch_pid/status"; }
idle_rss=$(rss_kb)

# Requests/s and p99 (microseconds) of one wrk run.
measure() {
  local out
  out=$(wrk -t2 -c64 -d"$2" --latency "$1")
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub("us","",v); print v} else if (v ~ /ms$/) {sub("ms","",v); print v*1000} else {sub("s","",v); print v*1000000}}' <<<"$out")
  echo "$rps $p99"
}

echo "body: $(cat "$work/www/v1/system/healthz") ($(wc -c <"$work/www/v1/system/healthz") bytes)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), wrk -t2 -c64 -d$DURATION"
measure "$url_ragwatch" 3s >/dev/null
measure "$url_nginx" 3s >/dev/null
best_ratio_rps=0
for round in $(seq "$ROUNDS"); do
  read -r r_rps r_p99 < <(measure "$url_ragwatch" "$DURATION")
  read -r n_rps n_p99 < <(measure "$url_nginx" "$DURATION")
  ratio_rps=$(awk -v a="$r_rps" -v b="$n_rps" 'BEGIN {printf "%.2f", a / b}')
  ratio_p99=$(awk -v a="$r_p99" -v b="$n_p99" 'BEGIN {printf "%.2f", a / b}')
  pass_rps=$(awk -v r="$ratio_rps" 'BEGIN {print (r >= 0.70) ? "PASS" : "MISS"}')
  pass_p99=$(awk -v r="$ratio_p99" 'BEGIN {print (r <= 1.5) ? "PASS" : "MISS"}')
  printf 'round %s: ragwatch %8.0f req/s p99 %7.0f us | nginx %8.0f req/s p99 %7.0f us | throughput %sx (>= 0.70: %s) p99 %sx (<= 1.5: %s)\n' \
    "$round" "$r_rps" "$r_p99" "$n_rps" "$n_p99" "$ratio_rps" "$pass_rps" "$ratio_p99" "$pass_p99"
done
echo "ragwatch RSS: idle $((idle_rss / 1024)) MB, after the load $(( $(rss_kb) / 1024 )) MB (target idle < 20 MB)"
