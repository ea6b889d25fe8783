"""RAGFlow's own read of task-executor heartbeats, as its /system/status does it with
redis-py: SMEMBERS TASKEXE, then one ZRANGEBYSCORE per executor (last 30 minutes), every
member json.loads-ed. Prints one JSON line with the timings of `reps` runs."""

import json
import statistics
import sys
import time

import redis


def read_heartbeats(conn):
    now = time.time()
    result = {}
    for name in conn.smembers("TASKEXE"):
        members = conn.zrangebyscore(name, now - 60 * 30, now)
        result[name] = [json.loads(member) for member in members]
    return result


def main():
    url, reps = sys.argv[1], int(sys.argv[2])
    conn = redis.Redis.from_url(url, decode_responses=True)
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        heartbeats = read_heartbeats(conn)
        times.append((time.perf_counter() - started) * 1000)
    print(json.dumps({
        "executors": len(heartbeats),
        "heartbeats": sum(len(v) for v in heartbeats.values()),
        "median_ms": statistics.median(times),
        "min_ms": min(times),
    }))


if __name__ == "__main__":
    main()
