"""make bench (issue 6): end-to-end throughput and latency of hms-worker on
the local stack, next to two reference points measured in the same run.

For every configuration (hms-sim latency x HMS_MAX_IN_FLIGHT) a fresh worker
on fresh topics and group is warmed up, then N booking-created events (3
participants, distinct ids) are produced at once and the run lasts until
the last video-ready is there. Per run: bookings/s from the first input's
timestamp to the last output's, latency input -> video-ready (both Kafka
CreateTimes, so the bench's own consumer adds nothing), worker CPU seconds
per 1,000 bookings (/proc), peak RSS (VmHWM). Each configuration runs
BENCH_REPEAT times (3); the table shows medians.

  floor   bench-floor: decode + re-produce, no HTTP, no Redis
  bound   min(in_flight, HMS_MAX_CONNECTIONS) / (calls per booking x
          latency), for latency > 0
  paced   the best 0 ms configuration at 50% of its peak rate: latency
          percentiles of the worker and of the floor at that rate
  soak    BENCH_SOAK_S (600) seconds at BENCH_SOAK_RATE bookings/s with
          1,000 in flight: worker RSS sampled every 5 s (flat or not)

The rows users live in (issue 16), side by side with the Node peer:

  paced   at each of BENCH_PACED_RATES (10,100,1000) bookings/s with
          hms-sim at 0 ms, and at BENCH_PACED_SLOW ("50:100": 100/s with a
          50 ms API; "latency:rate,..."), about
          BENCH_PACED_S (15) seconds per run but at least 300 bookings:
          hms-worker (256 in flight), the Node peer and the floor,
          interleaved (worker, peer, floor, worker, ...) BENCH_REPEAT
          times, medians. Per row p50/p99/max latency, CPU ms per booking,
          and system calls and context switches per booking of the subject
          process (all its threads), and worker/peer ratios of p99 and CPU
  cold    a fresh process, no warm-up, waited for until its group holds
          the input's partitions (not /readyz: see Subject.ready), then
          100 bookings at 100/s: latency of these first outputs, which a
          restart's first second shows; medians of BENCH_REPEAT

System calls and context switches come from `perf stat -e
raw_syscalls:sys_enter,context-switches -p PID`, counted in the kernel and
enabled only for the measurement's window; without perf (or BENCH_PERF=0)
context switches are the voluntary + involuntary counts of the process's
threads in /proc and system calls are "n/a".

The peer is `node BENCH_PEER_DIR/peer.js` (tests/bench/peer), given the
worker's environment, PEER_CONCURRENCY=64 and NODE_EXTRA_CA_CERTS; it runs
only when BENCH_PEER_DIR/node_modules exists, otherwise its rows say "not
installed". Its CPU is the node process's.

  httpfloor  bench-httpfloor: the two 100ms calls of a booking in libcurl
          alone (same options, keep-alive, HTTPS), 1, 64 and 256 at once,
          BENCH_REPEAT runs, medians: CPU ms per booking that no libcurl
          client can go below (with bench-floor: Kafka's share)

BENCH_SECTIONS picks what runs (default all:
throughput,paced,httpfloor,cold,soak; throughput is the in-flight table with
the floor and the paced run at 50% of the peak), e.g.
BENCH_SECTIONS=paced,cold for the new rows only.

BENCH_WRAP prefixes the worker's command line (a profiler: valgrind
--tool=callgrind counts instructions repeatably on a noisy machine).

Writes bench/results/bench-<time>.{md,png,json}. Runs inside the stack's
environment (stack.env), as tests/bench/run.sh arranges."""
import json
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import requests  # noqa: E402
from confluent_kafka import (Consumer, ConsumerGroupState,  # noqa: E402
                             KafkaException, Producer, TopicPartition)
from confluent_kafka.admin import AdminClient  # noqa: E402

from worker_helpers import booking, encode  # noqa: E402

BIN = os.path.join(ROOT, "build", "release")
BROKERS = os.environ["KAFKA_BROKERS"]
SIM = os.environ["HMS_SIM_URL"]
SIM_VERIFY = os.environ.get("HMS_API_CA_FILE") or True  # the stack's CA
CALLS_PER_BOOKING = 2  # POST /rooms, POST /room-codes/room/{id}
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
MAX_N = int(os.environ.get("BENCH_N", "20000"))
LATENCIES = [int(x) for x in
             os.environ.get("BENCH_LATENCIES", "0,50").split(",") if x]
IN_FLIGHT = [int(x) for x in
             os.environ.get("BENCH_IN_FLIGHT", "1,64,256,1000").split(",") if x]
SOAK_S = int(os.environ.get("BENCH_SOAK_S", "600"))
SOAK_RATE = int(os.environ.get("BENCH_SOAK_RATE", "500"))
WRAP = os.environ.get("BENCH_WRAP", "").split()  # e.g. callgrind
CONNECTIONS = int(os.environ.get("HMS_MAX_CONNECTIONS", "256"))  # its default
SECTIONS = set(os.environ.get("BENCH_SECTIONS",
                              "throughput,paced,httpfloor,cold,soak")
                 .split(","))
PACED_RATES = [int(x) for x in
               os.environ.get("BENCH_PACED_RATES", "10,100,1000").split(",")
               if x]
# (100ms API latency ms, bookings/s): every paced rate at 0 ms, plus the
# BENCH_PACED_SLOW points ("50:100": 100/s with a 50 ms API)
PACED_POINTS = [(0, r) for r in PACED_RATES] + [
    tuple(int(v) for v in x.split(":"))
    for x in os.environ.get("BENCH_PACED_SLOW", "50:100").split(",") if x]
PACED_S = float(os.environ.get("BENCH_PACED_S", "15"))
PACED_MIN_N = 300  # a p99 needs a few hundred samples
PACED_IN_FLIGHT = 256
COLD_N, COLD_RATE = 100, 100
PEER_DIR = os.environ.get("BENCH_PEER_DIR", os.path.join(HERE, "peer"))
PEER_CONCURRENCY = 64
PERF = shutil.which("perf") if os.environ.get("BENCH_PERF", "1") != "0" \
    else None
NAMES = {"hms-worker": "hms-worker", "peer": "Node peer",
         "bench-floor": "floor"}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PARTICIPANTS = [("alice", "host"), ("bob", "guest"), ("carol", "guest")]
STACK = {}  # name -> pid of the stack's processes, for the machine CPU


def say(*a):
    print(*a, flush=True)


def uid(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sim_latency(ms):
    rules = [{"latency_ms": ms}] if ms else []
    r = requests.post(SIM + "/__sim/faults", json={"seed": 1, "rules": rules},
                      timeout=10, verify=SIM_VERIFY)
    r.raise_for_status()


def cpu_s(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def stack_pids():
    """hms-sim, the Kafka broker and redis-server of this bench's stack."""
    tmp = os.environ.get("BENCH_TMP", "/nonexistent")
    redis_port = os.environ["REDIS_URL"].rsplit(":", 1)[1].split("/")[0]
    pids = {}
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if tmp in cmd and "hms-sim" in cmd:
            pids["hms-sim"] = d
        elif tmp in cmd and "kafka.Kafka" in cmd:
            pids["kafka"] = d
        elif cmd.startswith("redis-server") and f":{redis_port}" in cmd:
            pids["redis"] = d
    return pids


def others_cpu(pids):
    """CPU seconds of the stack's processes and of this bench client."""
    own = os.times()
    return sum(cpu_s(p) for p in pids.values()) + own.user + own.system


def mem_kib(pid, key):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def ctx_switches(pid):
    """Voluntary + involuntary context switches of pid's live threads."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status",
                      encoding="ascii") as f:
                for line in f:
                    if line.split(":")[0].endswith("ctxt_switches"):
                        total += int(line.split()[1])
        except OSError:
            continue  # the thread ended
    return total


class Counters:
    """System calls and context switches of one process (all its threads)
    over a window. perf stat starts with its counters disabled and is
    enabled and disabled through its control FIFO, so its window is the
    measurement's, not perf's own start-up; the kernel counts, perf sleeps.
    Without perf: context switches from /proc (threads that end in the
    window take theirs with them), system calls None."""

    def __init__(self, pid, tmp):
        self.pid, self.perf = pid, None
        if PERF:
            try:
                self._perf_start(tmp)
            except (OSError, TimeoutError) as e:
                say(f"  perf stat failed ({e}); /proc counts instead")
                self._perf_end()
        self.ctx0 = ctx_switches(pid)

    def _perf_start(self, tmp):
        base = os.path.join(tmp, uid("perf"))
        self.files = [base + ".ctl", base + ".ack", base + ".out",
                      base + ".log"]
        os.mkfifo(self.files[0])
        os.mkfifo(self.files[1])
        # O_RDWR: a FIFO opened so never blocks, whether or not perf runs
        self.ctl = os.open(self.files[0], os.O_RDWR)
        self.ack = os.open(self.files[1], os.O_RDWR)
        with open(self.files[3], "w", encoding="utf-8") as log:
            self.perf = subprocess.Popen(
                [PERF, "stat", "-x,", "-e",
                 "raw_syscalls:sys_enter,context-switches",
                 "-p", str(self.pid), "-D", "-1", "--control",
                 f"fifo:{self.files[0]},{self.files[1]}",
                 "-o", self.files[2]], stdout=log, stderr=log)
        self._command(b"enable")

    def _command(self, cmd):
        os.write(self.ctl, cmd + b"\n")
        deadline, got = time.monotonic() + 10, b""
        while b"ack" not in got:
            left = deadline - time.monotonic()
            if left <= 0 or self.perf.poll() is not None:
                raise TimeoutError(f"perf stat did not ack {cmd.decode()}")
            if select.select([self.ack], [], [], left)[0]:
                got += os.read(self.ack, 64)

    def _perf_end(self):
        if self.perf is not None:
            if self.perf.poll() is None:
                self.perf.send_signal(signal.SIGINT)
            try:
                self.perf.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.perf.kill()
                self.perf.wait()
        for fd in ("ctl", "ack"):
            if hasattr(self, fd):
                os.close(getattr(self, fd))
                delattr(self, fd)
        for path in getattr(self, "files", [])[:2]:
            if os.path.exists(path):
                os.unlink(path)
        self.perf = None

    def stop(self):
        """(system calls or None, context switches) since the start."""
        if self.perf is None:
            return None, ctx_switches(self.pid) - self.ctx0
        try:
            self._command(b"disable")
        except TimeoutError as e:
            say(f"  perf stat: {e}")
        self._perf_end()
        counts = {}
        with open(self.files[2], encoding="utf-8") as f:
            for line in f:
                v = line.split(",")
                if len(v) > 2 and v[0].isdigit():
                    counts[v[2]] = int(v[0])
                elif len(v) > 2 and v[0] == "<not counted>":
                    counts[v[2]] = 0  # the process never ran in the window
        for path in self.files[2:]:
            os.unlink(path)
        ctx = counts.get("context-switches")
        return (counts.get("raw_syscalls:sys_enter"),
                ctx_switches(self.pid) - self.ctx0 if ctx is None else ctx)


_admin = []


def group_assigned(group, topic, partitions=3):
    """True once group is stable with all partitions of topic assigned."""
    if not _admin:
        _admin.append(AdminClient({"bootstrap.servers": BROKERS}))
    try:
        d = _admin[0].describe_consumer_groups(
            [group], request_timeout=5)[group].result()
    except KafkaException:
        return False  # not there yet
    held = sum(1 for m in d.members if m.assignment
               for tp in m.assignment.topic_partitions if tp.topic == topic)
    return d.state == ConsumerGroupState.STABLE and held == partitions


def peer_installed():
    return os.path.isdir(os.path.join(PEER_DIR, "node_modules"))


class Subject:
    """One process under test (hms-worker, bench-floor or "peer", the Node
    peer) with topics and a group of its own, ready to measure: warmed up,
    or with warm=False only started (see ready())."""

    def __init__(self, program, in_flight, tmp, admin_port=None,
                 env_extra=None, warm=True):
        self.t = {k: uid(f"bench-{k}") for k in ("bc", "ss", "se", "vr", "ve",
                                                  "dlq")}
        subprocess.run([os.path.join(BIN, "mktopics"), BROKERS,
                        *[f"{n}:3" for n in self.t.values()]],
                       check=True, capture_output=True)
        env = dict(os.environ, KAFKA_GROUP_ID=uid("bench-group"),
                   ADMIN_ADDR=f"127.0.0.1:{admin_port}" if admin_port else "off", LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "warn"), HMS_SUBDOMAIN="bench",
                   HMS_MAX_IN_FLIGHT=str(in_flight),
                   TOPIC_BOOKING_CREATED=self.t["bc"],
                   TOPIC_STREAM_STARTED=self.t["ss"],
                   TOPIC_SESSION_ENDED=self.t["se"],
                   TOPIC_VIDEO_READY=self.t["vr"],
                   TOPIC_VIDEO_ENDED=self.t["ve"], TOPIC_DLQ=self.t["dlq"],
                   **(env_extra or {}))
        cmd = [os.path.join(BIN, program)]
        if program == "hms-worker":
            cmd = WRAP + cmd
        elif program == "peer":
            cmd = ["node", os.path.join(PEER_DIR, "peer.js")]
            env["PEER_CONCURRENCY"] = str(PEER_CONCURRENCY)
            if os.environ.get("HMS_API_CA_FILE"):
                env["NODE_EXTRA_CA_CERTS"] = os.environ["HMS_API_CA_FILE"]
        self.program, self.tmp = program, tmp
        self.group = env["KAFKA_GROUP_ID"]
        self.log = os.path.join(tmp, uid(program) + ".log")
        with open(self.log, "w", encoding="utf-8") as out:
            self.started = time.monotonic()
            self.proc = subprocess.Popen(
                cmd, env=env, stderr=out,
                stdout=out if program == "peer" else None)
        # bursts batch (linger 5 ms); paced sends leave at once, so the
        # meter adds no linger to the latency it measures
        self.producers = {
            linger: Producer({"bootstrap.servers": BROKERS,
                              "linger.ms": linger, "enable.idempotence": True,
                              "queue.buffering.max.messages": 1000000})
            for linger in (0, 5)}
        self.outputs = Consumer({"bootstrap.servers": BROKERS,
                                 "group.id": uid("bench-reader"),
                                 "enable.auto.commit": False,
                                 "fetch.wait.max.ms": 10})
        self.outputs.assign([TopicPartition(self.t["vr"], p, 0)
                             for p in range(3)])
        self.seen = {}
        if not warm:
            return
        try:  # the peer may start at the latest offset: not before it joins
            self.ready(90)
        except RuntimeError:
            self.stop(check=False)
            raise
        self.send(self.bookings("warm", 30))
        if len(self.collect(lambda k: k.startswith(b"warm"), 30, 90)) < 30:
            self.stop()
            raise RuntimeError(f"{program} did not warm up; see {self.log}")

    def ready(self, timeout=60):
        """Waits until the process can consume: its group holds the
        input's partitions, the same test for the three subjects. Not the
        worker's /readyz: that says "kafka down" until the first statistics
        document (statistics.interval.ms, 5 s), long after the partitions
        are held, and waiting for it would hide a start's first seconds.
        Returns the seconds since the start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if group_assigned(self.group, self.t["bc"]):
                return time.monotonic() - self.started
            time.sleep(0.02)
        raise RuntimeError(f"{self.program} not ready; see {self.log}")

    @staticmethod
    def bookings(prefix, n):
        prefix = uid(prefix)
        return [(f"{prefix}-{i}".encode(),
                 encode("BookingCreated",
                        booking(f"{prefix}-{i}", PARTICIPANTS)))
                for i in range(n)]

    def send(self, msgs, rate=None):
        """Produces msgs (all at once, or paced at rate/s); returns the
        CreateTime (ms) of each key."""
        sent, t0 = {}, time.monotonic()
        producer = self.producers[5 if rate is None else 0]
        for i, (key, value) in enumerate(msgs):
            if rate is not None:
                while time.monotonic() - t0 < i / rate:
                    producer.poll(0)
                    time.sleep(0.0005)
            ts = int(time.time() * 1000)
            while True:
                try:
                    producer.produce(self.t["bc"], key=key, value=value,
                                     timestamp=ts)
                    break
                except BufferError:
                    producer.poll(0.01)
            sent[key] = ts
            if i % 1000 == 0:
                producer.poll(0)
        assert producer.flush(60) == 0
        return sent

    def collect(self, want, count, timeout):
        """Output CreateTimes of keys accepted by want(), until count."""
        got, deadline = {}, time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            for m in self.outputs.consume(1000, 0.1):
                if m.error() is None and want(m.key()):
                    got.setdefault(m.key(), m.timestamp()[1])
        return got

    def measure(self, n, rate=None, partial=False):
        """Latency, CPU and wake-ups of n bookings. partial: a shortfall is
        reported ("arrived") rather than raised, after 30 s."""
        msgs = self.bookings("b", n)
        keys = {k for k, _ in msgs}
        counters = Counters(self.proc.pid, self.tmp)
        cpu0 = cpu_s(self.proc.pid)
        rest0 = others_cpu(STACK)
        sent = self.send(msgs, rate)
        timeout = (30 if partial else 120) + (n / rate if rate else 0)
        got = self.collect(lambda k: k in keys, n, timeout)
        cpu = cpu_s(self.proc.pid) - cpu0
        rest = others_cpu(STACK) - rest0
        syscalls, ctx = counters.stop()
        if len(got) < n and not (partial and got):
            raise RuntimeError(f"only {len(got)} of {n} video-ready arrived; "
                               f"see {self.log}")
        lat = sorted(got[k] - sent[k] for k in got)
        span = (max(got.values()) - min(sent.values())) / 1000
        return {"n": n, "arrived": len(got), "rate": len(got) / span,
                "p50": pct(lat, 50), "p99": pct(lat, 99), "max": lat[-1],
                "cpu_per_1k": cpu * 1000 / n,
                "all_cpu_per_1k": (cpu + rest) * 1000 / n,
                "syscalls_per": syscalls / n if syscalls is not None
                else None, "ctx_per": ctx / n,
                "rss_mib": mem_kib(self.proc.pid, "VmHWM") / 1024}

    def stop(self, check=True):
        self.outputs.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = "killed"
        # node's default on SIGTERM is to die of it: no fault of a peer
        ok = (0, -signal.SIGTERM) if self.program == "peer" else (0,)
        if check and rc not in ok:
            raise RuntimeError(f"exit {rc}; see {self.log}")


def pct(sorted_values, p):
    i = min(len(sorted_values) - 1, int(len(sorted_values) * p / 100))
    return sorted_values[i]


def bound(in_flight, latency_ms):
    """Over HTTP/1.1 a call holds a connection: at most
    HMS_MAX_CONNECTIONS of them run at once, whatever is in flight."""
    return min(in_flight, CONNECTIONS) / \
        (CALLS_PER_BOOKING * latency_ms / 1000) if latency_ms else None


def size(in_flight, latency_ms):
    """About 5 s of work at the bound (at 0 ms: more with more in flight),
    within [500, BENCH_N]."""
    b = bound(in_flight, latency_ms)
    n = max(5000, in_flight * 40) if b is None else max(500, int(b * 5))
    return min(MAX_N, n)


def medians(runs):
    """Median of each measure over runs; None where a run has none."""
    return {k: None if any(r[k] is None for r in runs)
            else statistics.median(r[k] for r in runs) for k in runs[0]}


def median_run(program, in_flight, latency, tmp, n):
    runs = []
    for _ in range(REPEAT):
        s = Subject(program, in_flight, tmp)
        try:
            runs.append(s.measure(n))
        finally:
            s.stop()
    med = medians(runs)
    med["rates"] = [round(r["rate"]) for r in runs]
    say(f"  {program} latency={latency}ms in_flight={in_flight} n={n}: "
        f"{med['rate']:.0f}/s (runs {med['rates']}) p50={med['p50']:.0f}ms "
        f"p99={med['p99']:.0f}ms rss={med['rss_mib']:.1f}MiB")
    return med


def held(port):
    """hms_worker_events_in_flight from the worker's /metrics."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith("hms_worker_events_in_flight "):
            return float(line.split()[1])
    return -1


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def soak(tmp, rate, seconds):
    """(seconds, RSS MiB, events held) every 5 s."""
    port = free_port()
    s = Subject("hms-worker", 1000, tmp, admin_port=port)
    samples, t0 = [], time.monotonic()
    try:
        while time.monotonic() - t0 < seconds:
            s.send(s.bookings("soak", rate * 5), rate)
            samples.append((round(time.monotonic() - t0),
                            mem_kib(s.proc.pid, "VmRSS") / 1024, held(port)))
        s.collect(lambda k: k.startswith(b"soak"), 10**9, 10)
    finally:
        s.stop()
    return samples


def subjects():
    """What the paced and cold rows run, in the order they interleave."""
    return ["hms-worker"] + (["peer"] if peer_installed() else []) + \
        ["bench-floor"]


def one_run(program, tmp, fn, warm=True):
    """fn(subject) on a fresh subject. A failing peer is reported in its
    row rather than ending the bench."""
    try:
        s = Subject(program, PACED_IN_FLIGHT, tmp, warm=warm)
        try:
            return fn(s)
        finally:
            s.stop()
    except RuntimeError as e:
        if program != "peer":
            raise
        say(f"  peer failed: {e}")
        return {"error": str(e)}


def summary(rs):
    """Medians of the runs that worked, and every run."""
    ok = [r for r in rs if "error" not in r]
    if not ok:
        return {"error": rs[-1]["error"], "runs": rs}
    return {**medians(ok), "runs": rs}


def show(what, r):
    if "error" in r:
        say(f"  {what}: failed")
        return
    say(f"  {what}: p50={r['p50']:.0f}ms p99={r['p99']:.0f}ms "
        f"max={r['max']:.0f}ms cpu={r['cpu_per_1k']:.3f}ms/booking "
        f"syscalls={fmt(r['syscalls_per'], '.1f')}/booking "
        f"ctx={r['ctx_per']:.1f}/booking")


def paced_rows(tmp):
    """One row per (API latency, rate, subject): medians of REPEAT
    interleaved runs."""
    rows, progs = [], subjects()
    for api_ms, rate in PACED_POINTS:
        n = max(PACED_MIN_N, int(rate * PACED_S))
        rs = {p: [] for p in progs}
        sim_latency(api_ms)
        for i in range(REPEAT):
            for prog in progs:
                rs[prog].append(one_run(prog, tmp,
                                        lambda s: s.measure(n, rate)))
                show(f"paced {rate}/s api={api_ms}ms n={n} {prog} "
                     f"run {i + 1}", rs[prog][-1])
        rows += [{**summary(rs[p]), "paced_rate": rate, "api_ms": api_ms,
                  "subject": p} for p in progs]
    sim_latency(0)
    return rows


HTTP_FLOOR_AT_ONCE = (1, 64, 256)
HTTP_FLOOR_N = 5000


def http_floor_rows():
    """CPU ms per booking of bench-httpfloor at each concurrency: medians
    of REPEAT runs."""
    rows = []
    for conc in HTTP_FLOOR_AT_ONCE:
        cpu = []
        for _ in range(REPEAT):
            p = subprocess.run([os.path.join(BIN, "bench-httpfloor"),
                                str(HTTP_FLOOR_N), str(conc)],
                               capture_output=True, text=True, timeout=300,
                               check=False)
            if p.returncode != 0:
                say(f"  httpfloor {conc} at once: failed: {p.stderr.strip()}")
                continue
            cpu.append(json.loads(p.stdout)["cpu_s"] * 1000 / HTTP_FLOOR_N)
        if cpu:
            rows.append({"at_once": conc, "cpu_ms_per_booking":
                         statistics.median(cpu), "runs": cpu})
            say(f"  httpfloor {conc} at once: "
                f"{rows[-1]['cpu_ms_per_booking']:.3f} CPU ms/booking")
    return rows


def http_floor_table(rows):
    out = ["| calls at once | CPU ms / booking (median) | runs |",
           "|---|---|---|"]
    out += [f"| {r['at_once']} | {r['cpu_ms_per_booking']:.3f} | "
            + ", ".join(f"{x:.3f}" for x in r["runs"]) + " |" for r in rows]
    out += ["", f"HTTP floor: bench-httpfloor, {HTTP_FLOOR_N} bookings a "
            f"run after a warm-up, {CALLS_PER_BOOKING} HTTPS POSTs each "
            f"(a room, its codes) to hms-sim at 0 ms in libcurl alone, with "
            f"hms-worker's options and keep-alive connections; no Kafka, "
            f"Redis or JSON. What the 100ms calls cost any libcurl client; "
            f"with the floor's Kafka share, the least a booking can cost."]
    return "\n".join(out)


def cold_rows(tmp):
    """The first COLD_N outputs of a process that was just started."""
    def first(s):
        ready_s = s.ready()
        r = s.measure(COLD_N, COLD_RATE, partial=True)
        return {**r, "ready_s": ready_s}

    progs = subjects()
    rs = {p: [] for p in progs}
    for i in range(REPEAT):
        for prog in progs:
            rs[prog].append(one_run(prog, tmp, first, warm=False))
            show(f"cold {prog} run {i + 1}", rs[prog][-1])
    return [{"subject": p, **summary(rs[p])} for p in progs]


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def missing(r):
    """The row's cells when it has no numbers."""
    return "failed (see its log)" if r else "not installed"


def paced_table(rows):
    out = ["| 100ms API | bookings/s | subject | p50 ms | p99 ms | max ms | "
           "CPU ms / booking | syscalls / booking | "
           "ctx switches / booking | p99 worker / peer | "
           "CPU worker / peer |", "|" + "---|" * 11]
    for api_ms, rate in PACED_POINTS:
        by = {r["subject"]: r for r in rows
              if r["paced_rate"] == rate and r["api_ms"] == api_ms}
        w, peer = by.get("hms-worker"), by.get("peer")
        for prog in ("hms-worker", "peer", "bench-floor"):
            r = by.get(prog)
            if r is None or "error" in r:
                out.append(f"| {api_ms} ms | {rate} | {NAMES[prog]} | "
                           f"{missing(r)} |" + " |" * 7)
                continue
            ratio = "- | -"
            if prog == "hms-worker" and peer and "error" not in peer \
                    and peer["cpu_per_1k"]:
                ratio = (f"{w['p99'] / max(peer['p99'], 1):.2f} | "
                         f"{w['cpu_per_1k'] / peer['cpu_per_1k']:.2f}")
            out.append(f"| {api_ms} ms | {rate} | {NAMES[prog]} | "
                       f"{r['p50']:.0f} | "
                       f"{r['p99']:.0f} | {r['max']:.0f} | "
                       f"{r['cpu_per_1k']:.3f} | "
                       f"{fmt(r['syscalls_per'], '.1f')} | "
                       f"{r['ctx_per']:.1f} | {ratio} |")
    how = ("perf stat (kernel counts, all threads)" if PERF
           else "/proc (voluntary + involuntary, all threads); no perf")
    out += ["", f"Paced: medians of {REPEAT} interleaved runs (worker, "
            f"peer, floor) per rate, each a fresh process on fresh topics, "
            f"warmed up; max({PACED_MIN_N}, {PACED_S:g} s x rate) bookings "
            f"per run; hms-worker HMS_MAX_IN_FLIGHT {PACED_IN_FLIGHT}, the "
            f"peer PEER_CONCURRENCY {PEER_CONCURRENCY}, hms-sim at the "
            f"100ms API latency of the row. Inputs are produced with "
            f"linger.ms 0. Latency input -> video-ready CreateTime; CPU of "
            f"the process "
            f"from /proc (10 ms ticks); system calls and context switches "
            f"from {how}."]
    return "\n".join(out)


def cold_table(rows):
    out = ["| subject | ready after ms | p50 ms | p99 ms | max ms | "
           "outputs | CPU ms / booking | syscalls / booking | "
           "ctx switches / booking |", "|" + "---|" * 9]
    by = {r["subject"]: r for r in rows}
    for prog in ("hms-worker", "peer", "bench-floor"):
        r = by.get(prog)
        if r is None or "error" in r:
            out.append(f"| {NAMES[prog]} | {missing(r)} |" + " |" * 7)
            continue
        out.append(f"| {NAMES[prog]} | {r['ready_s'] * 1000:.0f} | "
                   f"{r['p50']:.0f} | {r['p99']:.0f} | {r['max']:.0f} | "
                   f"{r['arrived']:.0f} of {COLD_N} | "
                   f"{r['cpu_per_1k']:.3f} | "
                   f"{fmt(r['syscalls_per'], '.1f')} | {r['ctx_per']:.1f} |")
    out += ["", f"Cold start: a fresh process, no warm-up, waited for until "
            f"its group holds the input's partitions, then {COLD_N} bookings at "
            f"{COLD_RATE}/s: latency of these first outputs, what a start, "
            f"restart or rebalance costs. Medians of {REPEAT} interleaved "
            f"runs; \"ready after\" is from the process's start."]
    return "\n".join(out)


def runs(r):
    return ", ".join(map(str, r["rates"]))


def table(results, floor, paced):
    rows = ["| 100ms latency | in flight | bookings/s (median of runs) | "
            "bound | worker / bound | worker / floor | p50 ms | p99 ms | "
            "max ms | worker CPU s / 1k | machine CPU s / 1k | peak RSS MiB |",
            "|" + "---|" * 12]
    for (lat, inf), r in sorted(results.items()):
        b = bound(inf, lat)
        vs_bound = f"{r['rate'] / b:.0%}" if b else "-"
        rows.append(
            f"| {lat} ms | {inf} | {r['rate']:.0f} ({runs(r)}) | "
            f"{f'{b:.0f}' if b else '-'} | {vs_bound} | "
            f"{r['rate'] / floor['rate']:.0%} | {r['p50']:.0f} | "
            f"{r['p99']:.0f} | {r['max']:.0f} | {r['cpu_per_1k']:.2f} | "
            f"{r['all_cpu_per_1k']:.2f} | {r['rss_mib']:.1f} |")
    rows.append(f"| floor | - | {floor['rate']:.0f} ({runs(floor)}) "
                f"| - | - | 100% | {floor['p50']:.0f} | {floor['p99']:.0f} | "
                f"{floor['max']:.0f} | {floor['cpu_per_1k']:.2f} | "
                f"{floor['all_cpu_per_1k']:.2f} | {floor['rss_mib']:.1f} |")
    zero = [r for (lat, _), r in results.items() if lat == 0]
    if zero:
        best = max(zero, key=lambda r: r["rate"])
        ncpu = os.cpu_count()
        rest = best["all_cpu_per_1k"] - best["cpu_per_1k"]
        rows += ["", f"CPU budget at the 0 ms peak: {best['all_cpu_per_1k']:.2f} "
                 f"CPU s per 1,000 bookings on the whole machine, "
                 f"{best['cpu_per_1k']:.2f} of them in hms-worker and "
                 f"{rest:.2f} in hms-sim, Kafka, Redis and this client. On "
                 f"{ncpu} cores that allows at most "
                 f"{ncpu * 1000 / best['all_cpu_per_1k']:.0f} bookings/s; the "
                 f"rest of the stack alone would allow "
                 f"{ncpu * 1000 / rest:.0f}/s with a worker that cost nothing."]
    if paced:
        rows += ["", f"Paced at {paced['rate']:.0f} bookings/s (50% of the "
                 f"0 ms peak, in flight {paced['in_flight']}):", "",
                 "| | p50 ms | p99 ms | max ms |", "|---|---|---|---|"]
        for who in ("worker", "floor"):
            r = paced[who]
            rows.append(f"| {who} | {r['p50']:.0f} | {r['p99']:.0f} | "
                        f"{r['max']:.0f} |")
    return "\n".join(rows)


def plot(results, floor, soak_samples, paced, path):
    """Throughput and soak (with the throughput section), paced latency
    (with the paced rows), side by side. False when there is nothing."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ratios = ([3, 2] if results else []) + ([3] if paced else [])
    if not ratios:
        return False
    fig, axes = plt.subplots(1, len(ratios), squeeze=False,
                             figsize=(11 * sum(ratios) / 5, 4.5),
                             gridspec_kw={"width_ratios": ratios})
    axes = list(axes[0])
    if results:
        plot_throughput(axes.pop(0), axes.pop(0), results, floor,
                        soak_samples)
    if paced:
        plot_paced(axes.pop(0), paced)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def plot_paced(ax, rows):
    for i, prog in enumerate(("hms-worker", "peer", "bench-floor")):
        rs = [r for r in rows if r["subject"] == prog and "error" not in r
              and r["api_ms"] == 0]
        if not rs:
            continue
        xs = [r["paced_rate"] for r in rs]
        ax.plot(xs, [r["p99"] for r in rs], marker="o", color=f"C{i}",
                label=f"{NAMES[prog]} p99")
        ax.plot(xs, [max(r["p50"], 0.5) for r in rs], marker=".",
                linestyle="--", color=f"C{i}", label=f"{NAMES[prog]} p50")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("bookings/s, paced")
    ax.set_ylabel("input -> video-ready, ms")
    ax.set_title(f"latency at paced rates (0 ms API, medians of {REPEAT})",
                 fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def plot_throughput(ax, ax2, results, floor, soak_samples):
    for lat in LATENCIES:
        xs = [inf for inf in IN_FLIGHT if (lat, inf) in results]
        ax.plot(xs, [results[(lat, x)]["rate"] for x in xs], marker="o",
                label=f"hms-worker, 100ms latency {lat} ms")
        if lat:
            ax.plot(xs, [bound(x, lat) for x in xs], linestyle=":",
                    label=f"bound at {lat} ms")
    ax.axhline(floor["rate"], color="grey", linestyle="--",
               label="floor (Kafka decode + re-produce)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("HMS_MAX_IN_FLIGHT")
    ax.set_ylabel("bookings/s, end to end")
    ax.set_title("throughput (2 cores shared with Kafka, Redis, hms-sim)",
                 fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if soak_samples:
        ax2.plot([t / 60 for t, _, _ in soak_samples],
                 [r for _, r, _ in soak_samples])
        ax2.set_ylim(bottom=0)
    ax2.set_xlabel("minutes")
    ax2.set_ylabel("worker RSS, MiB")
    ax2.set_title(f"soak: {SOAK_RATE} bookings/s, 1000 in flight", fontsize=9)
    ax2.grid(True, alpha=0.3)


def throughput(tmp):
    """The in-flight table: floor, worker per (latency, in flight), and the
    best 0 ms configuration paced at half its peak."""
    floor = median_run("bench-floor", 256, 0, tmp, MAX_N)
    results = {}
    for lat in LATENCIES:
        sim_latency(lat)
        for inf in IN_FLIGHT:
            results[(lat, inf)] = median_run("hms-worker", inf, lat, tmp,
                                             size(inf, lat))
    sim_latency(0)
    paced = None
    zero = {inf: r for (lat, inf), r in results.items() if lat == 0}
    if zero:
        inf = max(zero, key=lambda k: zero[k]["rate"])
        rate = zero[inf]["rate"] / 2
        n = int(rate * 6)
        paced = {"rate": rate, "in_flight": inf}
        for who, prog in (("worker", "hms-worker"), ("floor", "bench-floor")):
            s = Subject(prog, inf, tmp)
            try:
                paced[who] = s.measure(n, rate)
            finally:
                s.stop()
        say(f"  paced at {rate:.0f}/s: worker p99 {paced['worker']['p99']} ms,"
            f" floor p99 {paced['floor']['p99']} ms")
    return floor, results, paced


def soak_md(soak_samples):
    rss = [r for _, r, _ in soak_samples]
    first = [r for t, r, _ in soak_samples if t >= 60][:1] or rss[:1]
    return (f"Soak: {SOAK_S} s at {SOAK_RATE} bookings/s, 1000 in "
            f"flight: worker RSS {first[0]:.1f} MiB after 1 min, "
            f"{rss[-1]:.1f} MiB at the end, max {max(rss):.1f} MiB; "
            f"events held at once: max "
            f"{max(h for _, _, h in soak_samples):.0f} (cap 4,000) "
            f"({len(rss)} samples, in the .json).")


def main():
    unknown = SECTIONS - {"throughput", "paced", "httpfloor", "cold", "soak"}
    if unknown:
        sys.exit(f"BENCH_SECTIONS: unknown {sorted(unknown)}")
    STACK.update(stack_pids())
    say(f"bench: stack processes {STACK}; sections {sorted(SECTIONS)}; "
        f"peer {'installed' if peer_installed() else 'not installed'}; "
        f"counters from {'perf stat' if PERF else '/proc'}")
    out_dir = os.path.join(ROOT, "bench", "results")
    tmp = os.environ.get("BENCH_TMP", "/tmp")
    os.makedirs(out_dir, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    say(f"bench: {REPEAT} runs per configuration, up to {MAX_N} bookings each")
    sim_latency(0)
    floor, results, paced, md = None, {}, None, []
    if "throughput" in SECTIONS:
        floor, results, paced = throughput(tmp)
        md.append(table(results, floor, paced))
    paced_r = paced_rows(tmp) if "paced" in SECTIONS else []
    if paced_r:
        md.append(paced_table(paced_r))
    http_floor = http_floor_rows() if "httpfloor" in SECTIONS else []
    if http_floor:
        md.append(http_floor_table(http_floor))
    cold = cold_rows(tmp) if "cold" in SECTIONS else []
    if cold:
        md.append(cold_table(cold))
    soak_samples = []
    if SOAK_S > 0 and "soak" in SECTIONS:
        say(f"  soak: {SOAK_S} s at {SOAK_RATE}/s, 1000 in flight")
        soak_samples = soak(tmp, SOAK_RATE, SOAK_S)
        md.append(soak_md(soak_samples))
    md = "\n\n".join(md)
    base = os.path.join(out_dir, f"bench-{stamp}")
    with open(base + ".md", "w", encoding="utf-8") as f:
        f.write(md + "\n")
    with open(base + ".json", "w", encoding="utf-8") as f:
        json.dump({"sections": sorted(SECTIONS), "floor": floor,
                   "paced": paced, "soak": soak_samples,
                   "results": [{"latency_ms": k[0], "in_flight": k[1], **v}
                               for k, v in sorted(results.items())],
                   "paced_rows": paced_r, "http_floor": http_floor,
                   "cold_start": cold}, f, indent=1)
    png = plot(results, floor, soak_samples, paced_r, base + ".png")
    say("\n" + md + f"\n\nwritten: {base}.md, "
        + (f"{base}.png, " if png else "") + f"{base}.json")


if __name__ == "__main__":
    main()
