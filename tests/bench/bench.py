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
  bound   in_flight / (calls per booking x latency), for latency > 0
  paced   the best 0 ms configuration at 50% of its peak rate: latency
          percentiles of the worker and of the floor at that rate
  soak    BENCH_SOAK_S (600) seconds at BENCH_SOAK_RATE bookings/s with
          1,000 in flight: worker RSS sampled every 5 s (flat or not)

BENCH_WRAP prefixes the worker's command line (a profiler: valgrind
--tool=callgrind counts instructions repeatably on a noisy machine).

Writes bench/results/bench-<time>.{md,png,json}. Runs inside the stack's
environment (stack.env), as tests/bench/run.sh arranges."""
import json
import os
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
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

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


class Subject:
    """One process under test (hms-worker or bench-floor) with topics and a
    group of its own, warmed up and ready to measure."""

    def __init__(self, program, in_flight, tmp, admin_port=None,
                 env_extra=None):
        self.t = {k: uid(f"bench-{k}") for k in ("bc", "ss", "se", "vr", "ve",
                                                  "dlq")}
        subprocess.run([os.path.join(BIN, "mktopics"), BROKERS,
                        *[f"{n}:3" for n in self.t.values()]],
                       check=True, capture_output=True)
        env = dict(os.environ, KAFKA_GROUP_ID=uid("bench-group"),
                   ADMIN_ADDR=f"127.0.0.1:{admin_port}" if admin_port else "off", LOG_LEVEL="warn", HMS_SUBDOMAIN="bench",
                   HMS_MAX_IN_FLIGHT=str(in_flight),
                   TOPIC_BOOKING_CREATED=self.t["bc"],
                   TOPIC_STREAM_STARTED=self.t["ss"],
                   TOPIC_SESSION_ENDED=self.t["se"],
                   TOPIC_VIDEO_READY=self.t["vr"],
                   TOPIC_VIDEO_ENDED=self.t["ve"], TOPIC_DLQ=self.t["dlq"],
                   **(env_extra or {}))
        self.log = os.path.join(tmp, uid(program) + ".log")
        with open(self.log, "w", encoding="utf-8") as out:
            wrap = WRAP if program == "hms-worker" else []
            self.proc = subprocess.Popen(wrap + [os.path.join(BIN, program)],
                                         env=env, stderr=out)
        self.producer = Producer({"bootstrap.servers": BROKERS,
                                  "linger.ms": 5, "enable.idempotence": True,
                                  "queue.buffering.max.messages": 1000000})
        self.outputs = Consumer({"bootstrap.servers": BROKERS,
                                 "group.id": uid("bench-reader"),
                                 "enable.auto.commit": False,
                                 "fetch.wait.max.ms": 10})
        self.outputs.assign([TopicPartition(self.t["vr"], p, 0)
                             for p in range(3)])
        self.seen = {}
        self.send(self.bookings("warm", 30))
        if len(self.collect(lambda k: k.startswith(b"warm"), 30, 90)) < 30:
            self.stop()
            raise RuntimeError(f"{program} did not warm up; see {self.log}")

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
        for i, (key, value) in enumerate(msgs):
            if rate is not None:
                while time.monotonic() - t0 < i / rate:
                    self.producer.poll(0)
                    time.sleep(0.0005)
            ts = int(time.time() * 1000)
            while True:
                try:
                    self.producer.produce(self.t["bc"], key=key, value=value,
                                          timestamp=ts)
                    break
                except BufferError:
                    self.producer.poll(0.01)
            sent[key] = ts
            if i % 1000 == 0:
                self.producer.poll(0)
        assert self.producer.flush(60) == 0
        return sent

    def collect(self, want, count, timeout):
        """Output CreateTimes of keys accepted by want(), until count."""
        got, deadline = {}, time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            for m in self.outputs.consume(1000, 0.1):
                if m.error() is None and want(m.key()):
                    got.setdefault(m.key(), m.timestamp()[1])
        return got

    def measure(self, n, rate=None):
        msgs = self.bookings("b", n)
        keys = {k for k, _ in msgs}
        cpu0 = cpu_s(self.proc.pid)
        rest0 = others_cpu(STACK)
        sent = self.send(msgs, rate)
        timeout = 120 + (n / rate if rate else 0)
        got = self.collect(lambda k: k in keys, n, timeout)
        cpu = cpu_s(self.proc.pid) - cpu0
        rest = others_cpu(STACK) - rest0
        if len(got) < n:
            raise RuntimeError(f"only {len(got)} of {n} video-ready arrived; "
                               f"see {self.log}")
        lat = sorted(got[k] - sent[k] for k in keys)
        span = (max(got.values()) - min(sent.values())) / 1000
        return {"n": n, "rate": n / span, "p50": pct(lat, 50),
                "p99": pct(lat, 99), "max": lat[-1],
                "cpu_per_1k": cpu * 1000 / n,
                "all_cpu_per_1k": (cpu + rest) * 1000 / n,
                "rss_mib": mem_kib(self.proc.pid, "VmHWM") / 1024}

    def stop(self):
        self.outputs.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = "killed"
        if rc != 0:
            raise RuntimeError(f"exit {rc}; see {self.log}")


def pct(sorted_values, p):
    i = min(len(sorted_values) - 1, int(len(sorted_values) * p / 100))
    return sorted_values[i]


def bound(in_flight, latency_ms):
    return in_flight / (CALLS_PER_BOOKING * latency_ms / 1000) \
        if latency_ms else None


def size(in_flight, latency_ms):
    """About 5 s of work at the bound (at 0 ms: more with more in flight),
    within [500, BENCH_N]."""
    b = bound(in_flight, latency_ms)
    n = max(5000, in_flight * 40) if b is None else max(500, int(b * 5))
    return min(MAX_N, n)


def median_run(program, in_flight, latency, tmp, n):
    runs = []
    for _ in range(REPEAT):
        s = Subject(program, in_flight, tmp)
        try:
            runs.append(s.measure(n))
        finally:
            s.stop()
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
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


def plot(results, floor, soak_samples, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.5),
                                  gridspec_kw={"width_ratios": [3, 2]})
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    STACK.update(stack_pids())
    say(f"bench: stack processes {STACK}")
    out_dir = os.path.join(ROOT, "bench", "results")
    tmp = os.environ.get("BENCH_TMP", "/tmp")
    os.makedirs(out_dir, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    say(f"bench: {REPEAT} runs per configuration, up to {MAX_N} bookings each")
    sim_latency(0)
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
    soak_samples = []
    if SOAK_S > 0:
        say(f"  soak: {SOAK_S} s at {SOAK_RATE}/s, 1000 in flight")
        soak_samples = soak(tmp, SOAK_RATE, SOAK_S)
    md = table(results, floor, paced)
    if soak_samples:
        rss = [r for _, r, _ in soak_samples]
        first = [r for t, r, _ in soak_samples if t >= 60][:1] or rss[:1]
        md += (f"\n\nSoak: {SOAK_S} s at {SOAK_RATE} bookings/s, 1000 in "
               f"flight: worker RSS {first[0]:.1f} MiB after 1 min, "
               f"{rss[-1]:.1f} MiB at the end, max {max(rss):.1f} MiB; "
               f"events held at once: max "
               f"{max(h for _, _, h in soak_samples):.0f} (cap 4,000) "
               f"({len(rss)} samples, in the .json).")
    base = os.path.join(out_dir, f"bench-{stamp}")
    with open(base + ".md", "w", encoding="utf-8") as f:
        f.write(md + "\n")
    with open(base + ".json", "w", encoding="utf-8") as f:
        json.dump({"floor": floor, "paced": paced, "soak": soak_samples,
                   "results": [{"latency_ms": k[0], "in_flight": k[1], **v}
                               for k, v in sorted(results.items())]}, f,
                  indent=1)
    plot(results, floor, soak_samples, base + ".png")
    say("\n" + md + f"\n\nwritten: {base}.md, {base}.png, {base}.json")


if __name__ == "__main__":
    main()
