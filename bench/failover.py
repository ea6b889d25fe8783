"""Failover of a ragwatch cluster, next to two replicas without [cluster], in one run.

Run by bench/failover.sh, which builds the release binary and hands over its path, a
private redis-server port and a scratch PostgreSQL database.

Cluster: three `ragwatch serve` replicas on one PostgreSQL history ([cluster], lease and
interval below), each watching only the private Redis, one webhook receiver (this script)
recording every delivery with its term. The Redis is killed: one continuing outage. Then,
KILLS times, the leader is SIGKILLed at a random point of its lease; the time until another
replica says it leads (in a higher term) is measured, and the killed replica is started
again under its name. Last, Redis comes back. Counted: firing and resolved deliveries
(expected one each: duplicates and missed resolutions are the difference).

Peer: two replicas of today's behaviour (no [cluster], each its own SQLite history) through
the same outage, the same receiver: every notification twice.
"""

import http.server
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

BIN, REDIS_PORT, DATABASE_URL = sys.argv[1], int(sys.argv[2]), sys.argv[3]
KILLS = int(os.environ.get("KILLS", "20"))
LEASE_S = 4.0
INTERVAL_S = 2.0
work = tempfile.mkdtemp()


class Receiver(http.server.BaseHTTPRequestHandler):
    deliveries = []
    lock = threading.Lock()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with Receiver.lock:
            Receiver.deliveries.append((time.monotonic(), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def free_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


receiver = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
threading.Thread(target=receiver.serve_forever, daemon=True).start()
HOOK = f"http://127.0.0.1:{receiver.server_port}/hook"


def config(name, port, clustered):
    history = (
        f'url = "{DATABASE_URL}"\nobserver = "{name}"\n'
        if clustered
        else f'url = "sqlite://{work}/{name}.db"\nobserver = "{name}"\n'
    )
    cluster = f'[cluster]\nlease = "{LEASE_S:g}s"\n' if clustered else ""
    path = os.path.join(work, f"{name}.toml")
    with open(path, "w") as f:
        f.write(
            f'[server]\nlisten = "127.0.0.1:{port}"\n'
            f'[monitor]\ninterval = "{INTERVAL_S:g}s"\ntimeout = "{INTERVAL_S:g}s"\n'
            "[db]\nenabled = false\n[doc_engine]\nenabled = false\n"
            "[storage]\nenabled = false\n[task_executors]\nenabled = false\n"
            f'[redis]\nurl = "redis://127.0.0.1:{REDIS_PORT}/0"\n'
            f"[history]\n{history}{cluster}"
            "[alerts]\nfailure_threshold = 2\nsuccess_threshold = 2\n"
            f'[[alerts.webhook]]\nurl = "{HOOK}"\n'
        )
    return path


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.read()
    except Exception:
        return None


def get_json(port, path):
    body = get(port, path)
    return json.loads(body) if body is not None else None


class Replica:
    def __init__(self, name, clustered):
        self.name, self.port = name, free_port()
        self.path = config(name, self.port, clustered)
        self.start()

    def start(self):
        log = open(os.path.join(work, f"{self.name}.log"), "a")
        self.process = subprocess.Popen(
            [BIN, "serve", "--config", self.path], stdout=log, stderr=log
        )
        until(lambda: get(self.port, "/livez") is not None or None, 60, f"{self.name} serves")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def cluster(self):
        return get_json(self.port, "/api/v1/cluster")


def until(check, bound, what, poll=0.05):
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll)
    raise SystemExit(f"{what}: not so after {bound} s (logs in {work})")


def redis(command):
    subprocess.run(command, check=True)


def start_redis():
    redis(
        ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--daemonize", "yes"]
    )
    until(lambda: subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "ping"],
                                 capture_output=True).returncode == 0 or None, 30, "redis answers")


def stop_redis():
    subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "shutdown", "nosave"], capture_output=True)


def counted():
    with Receiver.lock:
        states = [body["state"] for _, body in Receiver.deliveries]
    return states.count("firing"), states.count("resolved")


def leader(replicas, above=0):
    for i, r in enumerate(replicas):
        c = r.cluster()
        if c and c.get("leading") and c.get("term", 0) > above:
            return i, c["term"]
    return None


def settle():
    time.sleep(2 * LEASE_S)


def clustered_run():
    start_redis()
    replicas = [Replica(f"ragwatch-{n}", True) for n in "abc"]
    until(lambda: leader(replicas), 60, "a replica leads")
    until(lambda: all(r.cluster() and sum(o["live"] for o in r.cluster()["observers"]) == 3
                      for r in replicas) or None, 60, "three observers are live")
    stop_redis()
    until(lambda: counted()[0] >= 1 or None, 60, "the outage fires")
    failovers = []
    for _ in range(KILLS):
        i, term = until(lambda: leader(replicas), 60, "a replica leads")
        time.sleep(random.uniform(0, LEASE_S))
        killed_at = time.monotonic()
        replicas[i].kill()
        until(lambda: leader(replicas, above=term), 60, "another replica leads", poll=0.02)
        failovers.append(time.monotonic() - killed_at)
        replicas[i].start()
    start_redis()
    until(lambda: counted()[1] >= 1 or None, 60, "the outage resolves")
    settle()
    firing, resolved = counted()
    for r in replicas:
        r.kill()
    stop_redis()
    return failovers, firing, resolved


def unclustered_run():
    with Receiver.lock:
        Receiver.deliveries.clear()
    start_redis()
    replicas = [Replica(f"single-{n}", False) for n in "ab"]
    time.sleep(INTERVAL_S * 2)
    stop_redis()
    until(lambda: counted()[0] >= 2 or None, 60, "both replicas fire")
    start_redis()
    until(lambda: counted()[1] >= 2 or None, 60, "both replicas resolve")
    settle()
    firing, resolved = counted()
    for r in replicas:
        r.kill()
    stop_redis()
    return firing, resolved


failovers, firing, resolved = clustered_run()
bound = LEASE_S + INTERVAL_S
ms = [round(f * 1000) for f in failovers]
print(f"cluster of 3, lease {LEASE_S:g} s, interval {INTERVAL_S:g} s, {KILLS} leader SIGKILLs "
      "during one continuing Redis outage")
print(f"  failover: median {statistics.median(ms)} ms, max {max(ms)} ms "
      f"(target max <= lease + interval = {bound * 1000:.0f} ms: "
      f"{'PASS' if max(failovers) <= bound else 'FAIL'})")
print(f"  all: {sorted(ms)}")
print(f"  deliveries: {firing} firing, {resolved} resolved -> duplicated "
      f"{max(firing - 1, 0) + max(resolved - 1, 0)}, missed resolutions {max(1 - resolved, 0)} "
      f"(target 0, 0: {'PASS' if firing == 1 and resolved == 1 else 'FAIL'})")
peer_firing, peer_resolved = unclustered_run()
print("peer: 2 replicas without [cluster], the same outage")
print(f"  deliveries: {peer_firing} firing, {peer_resolved} resolved "
      f"({peer_firing + peer_resolved} notifications for one outage)")
