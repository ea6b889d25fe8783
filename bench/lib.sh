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

# start_redis PORT: a private redis-server on PORT (nothing kept on disk) that answers when
# this returns; its pid is left in $redis_pid for the caller to keep or kill.
start_redis() {
  redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >/dev/null &
  redis_pid=$!
  for _ in $(seq 50); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.1; done
}

# redis_with_heartbeats PORT EXECUTORS: a redis-server on PORT with EXECUTORS x 60
# heartbeats in RAGFlow's layout (bench/heartbeats.py).
redis_with_heartbeats() {
  start_redis "$1"
  pids+=("$redis_pid")
  python3 bench/heartbeats.py "$2" 60 | redis-cli -p "$1" --pipe >/dev/null
}
