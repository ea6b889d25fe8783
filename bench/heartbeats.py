"""Writes N task executors x M heartbeats, laid out as RAGFlow's executors write them (the
TASKEXE set, one sorted set per executor, Python json.dumps members scored by unix time),
as Redis protocol on stdout for `redis-cli --pipe`. Usage: heartbeats.py N M [SPACING]
(seconds between heartbeats, 30 as RAGFlow writes them; the newest is dated now)."""

import json
import sys
import time


def command(*args):
    parts = [f"*{len(args)}\r\n"]
    for arg in args:
        data = str(arg).encode()
        parts.append(f"${len(data)}\r\n{data.decode()}\r\n")
    return "".join(parts)


def main():
    executors, beats = int(sys.argv[1]), int(sys.argv[2])
    spacing = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
    now = time.time()
    out = sys.stdout
    for e in range(executors):
        name = f"task_executor_common_host{e:04d}_0"
        out.write(command("SADD", "TASKEXE", name))
        for b in range(beats):
            at = now - spacing * (beats - b - 1)
            member = json.dumps({
                "ip_address": "172.18.0.6", "pid": 41, "name": name,
                "now": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(at)) + ".000+00:00",
                "boot_at": "2025-01-02T09:12:44.903+08:00", "pending": 3, "lag": 2,
                "done": b, "failed": b // 7, "current": {},
            })
            out.write(command("ZADD", name, f"{at:.3f}", member))


if __name__ == "__main__":
    main()
