# Shared by the bench scripts (sourced): a work folder and background processes that go
# away on exit, free ports, and a private Redis holding RAGFlow executor heartbeats.

work=$(mktemp -d)
chmod 755 "$work" # nginx workers run as another user
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# redis_with_heartbeats PORT EXECUTORS: a redis-server on PORT with EXECUTORS x 60
# heartbeats in RAGFlow's layout (bench/heartbeats.py).
redis_with_heartbeats() {
  redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >/dev/null &
  pids+=("$!")
  for _ in $(seq 50); do redis-cli -p "$1" ping >/dev/null 2>&1 && break; sleep 0.1; done
  python3 bench/heartbeats.py "$2" 60 | redis-cli -p "$1" --pipe >/dev/null
}
