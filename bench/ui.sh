#!/usr/bin/env bash
# The System page's weight and time to first render in headless Chromium (bench/ui.rs):
# ragwatch serving it with live data (MariaDB, a private Redis with task executors) next to
# nginx serving the very same three files as static files, in one run. EXECUTORS (default
# 2) executors x 60 heartbeats; REPS (default 10) page loads per side, medians printed.
# Needs what scripts/test-services.sh installs (chromium, chromium-driver, redis-server);
# installs nginx when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
EXECUTORS=${EXECUTORS:-2}
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || {
  echo "installing nginx"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release --quiet
cargo bench --no-run --quiet --bench ui
# shellcheck source=bench/lib.sh
source bench/lib.sh
redis_port=$(free_port); ragwatch_port=$(free_port); nginx_port=$(free_port); driver_port=$(free_port)

redis_with_heartbeats "$redis_port" "$EXECUTORS"

cat > "$work/ragwatch.toml" <<TOML
[server]
listen = "127.0.0.1:$ragwatch_port"
[db]
url = "mysql://root@127.0.0.1:3306/mysql"
[redis]
url = "redis://127.0.0.1:$redis_port/0"
[doc_engine]
enabled = false
[storage]
enabled = false
[history]
url = "sqlite://$work/history.db"
TOML
RUST_LOG=warn target/release/ragwatch serve --config "$work/ragwatch.toml" 2>"$work/ragwatch.log" &
pids+=("$!")
for _ in $(seq 100); do
  curl -s "http://127.0.0.1:$ragwatch_port/api/v1/executors" | grep -q "\"alive\":$EXECUTORS" && break
  sleep 0.2
done

mkdir -p "$work/www/ui" "$work/nginx"
cp ui/index.html "$work/www/"
cp ui/app.js ui/app.css "$work/www/ui/"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
daemon off;
events { worker_connections 256; }
http {
  access_log off;
  include /etc/nginx/mime.types;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/www;
  }
}
CONF
"$NGINX" -c "$work/nginx/nginx.conf" &
pids+=("$!")
chromedriver --port="$driver_port" >/dev/null 2>&1 &
pids+=("$!")
for _ in $(seq 50); do curl -s "http://127.0.0.1:$driver_port/status" >/dev/null && break; sleep 0.1; done

echo "System page, $EXECUTORS executors x 60 heartbeats (nginx: the same files, no data)"
CHROMEDRIVER="http://127.0.0.1:$driver_port" \
  PAGES="ragwatch=http://127.0.0.1:$ragwatch_port/,nginx=http://127.0.0.1:$nginx_port/" \
  cargo bench --quiet --bench ui
