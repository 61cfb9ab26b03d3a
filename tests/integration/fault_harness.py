"""The fault-injection harness (issue 5): a worker on topics of its own,
bookings in, and the invariant checked on the final state, not on logs:

  every VIRTUAL booking has its room in hms-sim, its complete Redis entry
  and at least one video-ready; no Redis entry is partial; the DLQ holds
  exactly the poison messages.

FAULT_SIZE=full (make faults) runs the sizes of the issue; the default is
the reduced size that make test runs."""
import os
import random
import signal
import subprocess
import time
import uuid

from worker_helpers import Kafka, booking, decode, encode, stream, wait_for

FULL = os.environ.get("FAULT_SIZE") == "full"


def uid(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Run:
    """Topics, a group and worker processes of one scenario."""

    def __init__(self, bin_dir, tmp_path, **env):
        self.bin = bin_dir
        self.tmp = tmp_path
        self.kafka = Kafka(os.environ["KAFKA_BROKERS"])
        self.t = {k: uid(f"ft-{k}")
                  for k in ("bc", "ss", "se", "vr", "ve", "vs", "dlq", "wh")}
        subprocess.run([os.path.join(bin_dir, "mktopics"),
                        os.environ["KAFKA_BROKERS"],
                        *[f"{n}:3" for n in self.t.values()]],
                       check=True, capture_output=True)
        self.env = dict(os.environ, KAFKA_GROUP_ID=uid("ft-group"),
                        ADMIN_ADDR="off", TOPIC_BOOKING_CREATED=self.t["bc"],
                        TOPIC_STREAM_STARTED=self.t["ss"],
                        TOPIC_SESSION_ENDED=self.t["se"],
                        TOPIC_VIDEO_READY=self.t["vr"],
                        TOPIC_VIDEO_ENDED=self.t["ve"],
                        TOPIC_VIDEO_SESSION=self.t["vs"],
                        TOPIC_DLQ=self.t["dlq"], TOPIC_WEBHOOKS=self.t["wh"],
                        KAFKA_PROP_SESSION_TIMEOUT_MS="6000",
                        KAFKA_PROP_HEARTBEAT_INTERVAL_MS="1000")
        self.env.setdefault("HMS_RETRY_BASE_MS", "50")
        self.env.setdefault("HMS_RETRY_CAP_MS", "500")
        self.env.update(env)
        self.procs = []
        self.events = []
        self.poison = []
        self.twice = []  # (first, second) bookings of one subject

    def start(self):
        log = self.tmp / f"worker-{len(self.procs)}.log"
        with open(log, "w") as out:
            p = subprocess.Popen(os.environ.get("WORKER_WRAP", "").split()
                                 + [os.path.join(self.bin, "hms-worker")],
                                 env=self.env, stderr=out)
        p.log = log
        self.procs.append(p)
        assert wait_for(lambda: "partitions assigned" in log.read_text(), 90), \
            log.read_text()[-3000:]
        return p

    def send_bookings(self, n, poison_every=0):
        for i in range(n):
            bid = uid("fb")
            if poison_every and i % poison_every == poison_every - 1:
                self.poison.append(bid)
                self.kafka.send(self.t["bc"], bid, poison(len(self.poison), bid))
                continue
            e = booking(bid, [("alice", "host"), ("bob", "guest")])
            self.events.append(e)
            self.kafka.send(self.t["bc"], bid, encode("BookingCreated", e))
        self.kafka.flush()

    def send_booking_twice(self, n):
        """n subjects booked twice back to back (same topic and key, so the
        same partition): the second, with one more participant, must be
        the one that stays. Kafka orders nothing across topics, so this is
        the order a worker can keep."""
        for _ in range(n):
            bid = uid("fo")
            first = booking(bid, [("alice", "host")])
            second = booking(bid, [("alice", "host"), ("carol", "guest")])
            for e in (first, second):
                self.kafka.send(self.t["bc"], bid, encode("BookingCreated", e))
            self.twice.append((first, second))
        self.kafka.flush()

    def applied(self, rds):
        ids = [e["event_id"] for e in self.events]
        ids += [x["event_id"] for pair in self.twice for x in pair]
        return sum(rds.exists(f"hms:event:{i}") for i in ids)

    def expected(self):
        return len(self.events) + 2 * len(self.twice)

    def wait_caught_up(self, rds, timeout):
        return wait_for(lambda: self.applied(rds) == self.expected(),
                        timeout, step=0.5)

    def stop_all(self, timeout=60):
        """SIGTERM to every worker still running; their exit codes, or
        "hung" for one that did not exit within timeout s (then killed,
        so that no worker outlives its test)."""
        codes = []
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                codes.append(p.wait(timeout=timeout))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                codes.append("hung")
        return codes

    def check(self, sim, rds):
        """The invariant; returns (lost, duplicated output events)."""
        ready = {}
        for m in self.kafka.read(self.t["vr"], lambda m: m, 10**7, timeout=3):
            r = decode("VideoReady", m.value())
            ready[r["causation_id"]] = ready.get(r["causation_id"], 0) + 1
        lost = 0
        for e in self.events:
            h = rds.hgetall(f"hms:booking:{e['booking_id']}")
            complete = (h.get("status") == "ready" and h.get("room_id")
                        and h.get("role:alice") == "host"
                        and h.get("role:bob") == "guest"
                        and all(f"code:{r}" in h for r in
                                ("host", "guest", "viewer"))
                        and rds.exists(f"hms:token:{h.get('room_id')}:alice",
                                       f"hms:token:{h.get('room_id')}:bob") == 2)
            in_sim = sim.call("GET", "/v2/rooms",
                              params={"name": f"bk-{e['booking_id']}"}).json()["data"]
            if not complete or not in_sim or ready.get(e["event_id"], 0) < 1:
                lost += 1
        for first, second in self.twice:  # applied in order: second wins
            h = rds.hgetall(f"hms:booking:{second['booking_id']}")
            if (h.get("event_id") != second["event_id"]
                    or h.get("role:carol") != "guest"):
                lost += 1
        dlq = self.kafka.read(self.t["dlq"], lambda m: m.key().decode(), 10**6,
                              timeout=3)
        assert sorted(dlq) == sorted(self.poison), (dlq, self.poison)
        dups = sum(n - 1 for n in ready.values() if n > 1)
        return lost, dups


def poison(i, bid):
    """One of the kinds of bad message, in turn."""
    good = encode("BookingCreated", booking(bid, [("alice", "host")]))
    kinds = [
        b"\x13\x37 garbage " + bid.encode(),
        good[:-4],  # truncated
        b"\xc3\x01" + b"\x02" * 8 + good[10:],  # unknown fingerprint
        good[:10] + b"\x80\x80\x80\x80\x08",  # declares a 1 GiB string
        encode("StreamStarted", stream(bid, "h", False)),  # wrong record
        encode("BookingCreated", booking("", [("alice", "host")])),  # empty id
        encode("BookingCreated", booking("x" * 300, [("a", "host")])),  # oversized
        encode("BookingCreated", booking(bid, [("a", "host"), ("a", "guest")])),
    ]
    return kinds[i % len(kinds)]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(name, events, lost, dups, attempts, wall):
    line = (f"| {name} | {events} | {lost} | {dups} | {attempts} | "
            f"{wall:.1f} s |\n")
    print(line)
    if os.environ.get("HW_LOGS"):
        with open(os.path.join(os.environ["HW_LOGS"], "faults.md"), "a") as f:
            f.write(line)


def random_moments(k, span):
    return sorted(random.uniform(0.1 * span, 0.9 * span) for _ in range(k))


__all__ = ["FULL", "Run", "cpu_seconds", "report", "random_moments", "uid",
           "time"]
