"""Helpers of the reaction-table tests (docs/contract.md section 7): a
worker with its admin listener, what it committed, what it dead-lettered,
and redis-servers of a test's own (a replica, a cluster node, ACL users)
that the shared stack's Redis must not become."""
import os
import socket
import subprocess
import threading

import redis
import requests
from confluent_kafka import Consumer, TopicPartition

from conftest import free_port
from fault_harness import Run
from worker_helpers import wait_for


class AdminRun(Run):
    """A Run whose worker has an admin listener (/readyz, /metrics) and a
    short HALT_RETRY_MS, so a fixed setting is picked up within seconds."""

    def __init__(self, bin_dir, tmp_path, **env):
        self.port = free_port()
        env.setdefault("HALT_RETRY_MS", "1500")
        super().__init__(bin_dir, tmp_path, ADMIN_ADDR=f"127.0.0.1:{self.port}",
                         **env)

    def readyz(self):
        r = requests.get(f"http://127.0.0.1:{self.port}/readyz", timeout=5)
        return r.status_code, r.text

    def metric(self, line_start):
        text = requests.get(f"http://127.0.0.1:{self.port}/metrics",
                            timeout=5).text
        for line in text.splitlines():
            if line.startswith(line_start + " "):
                return float(line.split()[-1])
        return 0.0

    def log(self, i=0):
        return self.procs[i].log.read_text()

    def lag(self):
        """Messages of the input topics past the group's committed offsets."""
        c = Consumer({"bootstrap.servers": os.environ["KAFKA_BROKERS"],
                      "group.id": self.env["KAFKA_GROUP_ID"],
                      "enable.auto.commit": False})
        try:
            total = 0
            for t in (self.t["bc"], self.t["ss"], self.t["se"]):
                parts = [TopicPartition(t, p) for p in range(3)]
                for tp in c.committed(parts, timeout=10):
                    lo, hi = c.get_watermark_offsets(tp, timeout=10)
                    total += hi - (tp.offset if tp.offset >= 0 else lo)
            return total
        finally:
            c.close()

    def dlq(self, count=None, timeout=2):
        """The dead letters: as soon as count are there, else all that
        came within timeout (2 s: enough to say "none" here)."""
        return self.kafka.read(self.t["dlq"], lambda m: m,
                               count if count is not None else 10**6,
                               timeout=timeout)

    def alive(self):
        return all(p.poll() is None for p in self.procs)


def headers(m):
    return {k: v for k, v in (m.headers() or [])}


class RedisServer:
    """A redis-server of the test's own on a free 127.0.0.1 port (or on
    port: one that a stopped server had)."""

    def __init__(self, tmp_path, name, *args, port=None):
        self.dir = tmp_path / name
        self.dir.mkdir()
        self.port = port if port is not None else free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
             "--save", "", "--appendonly", "no", "--dir", str(self.dir),
             "--logfile", str(self.dir / "redis.log"), *args])
        self.client = redis.Redis(port=self.port, decode_responses=True)
        assert wait_for(self.ping, 20), (self.dir / "redis.log").read_text()

    def ping(self):
        try:
            return self.client.ping()
        except redis.ConnectionError:
            return False

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self):
        """Gone at once, stopped (SIGSTOP) or not: its port refuses."""
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()



class AcceptCounter:
    """A TCP listener on 127.0.0.1:port that accepts and at once closes
    every connection, counting them: a Redis that is down behind something
    that still takes connections (a proxy, a Service), and a count of the
    connection attempts that reach it."""

    def __init__(self, port):
        self.accepts = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(1024)
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepts += 1
            conn.close()

    def close(self):
        self.running = False
        self.thread.join(5)
        self.sock.close()
