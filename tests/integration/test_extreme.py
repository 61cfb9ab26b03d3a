"""Valid-but-extreme events through the real stack (issue 11).

extreme_events.py generates the events (a fixed catalogue of edges, then
seeded random combinations) and says, from docs/contract.md alone, what
each must become. Each group of cases (time, ids, size, cap-*, subjects,
random) runs on a worker of its own (fault_harness.Run: topics and a
consumer group of its own), all at once, so that a stall or a crash
caused by one group leaves the others judged; once a group has settled,
one plain booking (the canary) shows whether its worker still serves new
events. Then, one test per invariant:

  - every event is applied (marker hms:event:{event_id}; a video-ready
    with causation_id = event_id for VIRTUAL bookings and streams, a
    video-ended for session-ended) or dead-lettered, never both, never
    neither, and the way the contract says when it says (validation,
    hms_rejected, applied; "either" where it is silent)
  - every dead letter carries the provenance headers of section 7, with a
    documented hms-error-class
  - the group's committed offsets reach the end of every input partition
  - the worker never exits before the test stops it; then it exits 0
  - its log has no level=error line and no sanitizer report
  - every subject hash has an expiry (section 4), and distinct subjects
    never share a 100ms room

Environment:
  EXTREME_SEED      the seed (default: random; always printed)
  EXTREME_RANDOM    random events besides the catalogue (default 150);
  EXTREME_SIZE=full 3000 of them
  EXTREME_STALL_S   give up waiting after this long without progress (15)

Run alone against a stack of your own:
  D=$(mktemp -d) && deploy/local/stack.sh up $D && (set -a; . $D/stack.env;
  set +a; BIN=$PWD/build/release build/venv/bin/python -m pytest -q \\
  -p no:cacheprovider tests/integration/test_extreme.py);
  deploy/local/stack.sh down $D
"""
import os
import random
import re
import signal
import struct
import subprocess
import time
import uuid
from collections import defaultdict

import pytest
import redis
import requests
from confluent_kafka import Consumer, Producer, TopicPartition

import extreme_events as xe
from conftest import sim_verify
from fault_harness import Run
from worker_helpers import decode, wait_for

SEED = int(os.environ.get("EXTREME_SEED")
           or random.SystemRandom().randrange(2**31))
N_RANDOM = int(os.environ.get("EXTREME_RANDOM")
               or (3000 if os.environ.get("EXTREME_SIZE") == "full" else 150))
STALL_S = float(os.environ.get("EXTREME_STALL_S", "15"))
CANARY_STALL_S = 10  # one plain booking takes well under a second
WAVE_TIMEOUT_S = 300  # at most, whatever moves
LAG_TIMEOUT_S = 12  # the worker commits every 5 s (librdkafka default)
MAX_RESTARTS = 2    # after an unexpected exit, so the rest is still judged
GROUP_PREFIX = "xt-group"
# level=error lines one could justify: none so far. (pattern, why)
ALLOWED_ERRORS = []
SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|ThreadSanitizer|"
                       r"UndefinedBehavior"
                       r"Sanitizer|runtime error:|definitely lost|"
                       r"Invalid (read|write) of size")
LINE = re.compile(r"^ts=\S+ level=(\w+) mod=(\S+) ")
MAX_LINES = 400  # entries per failure message


def rerun():
    return (f"EXTREME_SEED={SEED} EXTREME_RANDOM={N_RANDOM} pytest "
            "tests/integration/test_extreme.py")


def log_safe(s, size):
    """service/src/log.c log_safe(): how an id shows in the worker log."""
    out = []
    for b in s.encode("utf-8")[:size - 1]:
        out.append("_" if b <= 0x20 or b in (0x22, 0x5c) or b >= 0x7f
                   else chr(b))
    return "".join(out)


class Outcome:
    """Everything the run produced, gathered once for all tests."""

    def __init__(self):
        self.cases = []
        self.skipped = []
        self.applied = set()            # case idx with a marker
        self.dlq = defaultdict(list)    # case idx -> [message]
        self.stray_dlq = []             # (group, dead letter matching no case)
        self.ready = defaultdict(list)  # causation_id -> [VideoReady]
        self.ended = defaultdict(list)  # causation_id -> [VideoEnded]
        self.exits = []                 # (worker, code, log tail) unexpected
        self.stop_codes = []            # (worker, code) when stopped
        self.lag = []  # (group, topic, partition, committed, end offset)
        self.logs = []                  # (name, text)
        self.no_expiry = []             # subject keys without TTL
        self.dead = set()               # groups whose worker stayed down
        self.timeline = []
        self.groups = {}                # case group -> consumer group id
        self.topics = {}                # case group -> {bc, ss, ..., dlq}


def header(m, name):
    for k, v in m.headers() or []:
        if k == name:
            return v
    return None


def note(out, msg):
    out.timeline.append(f"{time.strftime('%H:%M:%S')} {msg}")
    print(msg, flush=True)


class Driver:
    """One group of cases: topics, a consumer group and a worker of its
    own (fault_harness.Run), so that what one group does to a worker (a
    stall, a crash) leaves the other groups judged."""

    def __init__(self, bin_dir, tmp, out, name, cases):
        self.out, self.name, self.cases = out, name, cases
        self.run = Run(bin_dir, tmp, HMS_SUBDOMAIN="hmsworker",
                       CACHE_GRACE_S=str(xe.CACHE_GRACE_S),
                       EVENT_DEADLINE_MS="30000", HMS_RETRY_MAX="3",
                       SHUTDOWN_TIMEOUT_MS="5000",
                       KAFKA_GROUP_ID=f"{GROUP_PREFIX}-{name}-"
                                      f"{uuid.uuid4().hex[:8]}")
        out.groups[name] = self.run.env["KAFKA_GROUP_ID"]
        out.topics[name] = dict(self.run.t)
        self.brokers = os.environ["KAFKA_BROKERS"]
        self.rds = redis.Redis.from_url(os.environ["REDIS_URL"])
        self.by_pos = {}    # (topic, partition, offset) -> case
        self.by_value = {}  # value -> case
        self.dlq_reader = None
        self.finished = False
        self.progress = (-1, time.monotonic())

    # -- the worker --
    def launch(self):
        """Starts a worker without waiting for its assignment."""
        log = self.run.tmp / f"worker-{self.name}-{len(self.run.procs)}.log"
        with open(log, "w") as f:
            p = subprocess.Popen(os.environ.get("WORKER_WRAP", "").split()
                                 + [os.path.join(self.run.bin, "hms-worker")],
                                 env=self.run.env, stderr=f)
        p.log = log
        self.run.procs.append(p)

    def assigned(self, timeout=90):
        log = self.run.procs[-1].log
        assert wait_for(lambda: "partitions assigned" in log.read_text(
            errors="replace"), timeout), log.read_text()[-3000:]

    def alive(self):
        """Notes workers that exited on their own; restarts one (bounded)
        so that the remaining events are still judged."""
        p = self.run.procs[-1]
        if p.poll() is None:
            return True
        for q in self.run.procs:
            if q.returncode is not None and not getattr(q, "noted", False):
                q.noted = True
                tail = q.log.read_text(errors="replace").splitlines()[-12:]
                self.out.exits.append((q.log.name, q.returncode, tail))
        if len(self.run.procs) <= MAX_RESTARTS:
            note(self.out, f"{self.name}: worker exited ({p.returncode}), "
                 "starting another")
            self.launch()
            self.assigned()
            return True
        self.out.dead.add(self.name)
        return False

    # -- input --
    def send(self, cases):
        prod = Producer({"bootstrap.servers": self.brokers,
                         "enable.idempotence": True, "linger.ms": 20,
                         "message.max.bytes": 1_048_576})

        def report(case):
            def dr(err, msg):
                if err is not None:
                    case.sent["error"] = str(err)
                    return
                case.sent.update(partition=msg.partition(),
                                 offset=msg.offset(),
                                 timestamp=msg.timestamp()[1])
                self.by_pos[(msg.topic(), msg.partition(), msg.offset())] = case
            return dr

        for c in cases:
            while True:
                try:
                    prod.produce(self.run.t[c.topic_kind()], key=c.key,
                                 value=c.value, on_delivery=report(c),
                                 headers=[("x-extreme-case",
                                           str(c.idx).encode())])
                    break
                except BufferError:
                    prod.poll(0.1)
            self.by_value[c.value] = c
            prod.poll(0)
        assert prod.flush(60) == 0
        for c in cases:
            if "error" in c.sent:
                note(self.out, f"could not send {c.summary()}: "
                     f"{c.sent['error']}")

    # -- what became of it --
    def poll_dlq(self):
        if self.dlq_reader is None:
            t = self.run.t["dlq"]
            self.dlq_reader = Consumer({"bootstrap.servers": self.brokers,
                                        "group.id": "xt-reader-"
                                                    + uuid.uuid4().hex,
                                        "enable.auto.commit": False})
            parts = self.dlq_reader.list_topics(t, timeout=10).topics[
                t].partitions
            self.dlq_reader.assign([TopicPartition(t, p, 0) for p in parts])
        while True:
            msgs = self.dlq_reader.consume(500, 0.1)
            if not msgs:
                return
            for m in msgs:
                if m.error() is not None:
                    continue
                case = self.dlq_case(m)
                if case is None:
                    self.out.stray_dlq.append((self.name, m))
                else:
                    self.out.dlq[case.idx].append(m)

    def dlq_case(self, m):
        topic = header(m, "kafka_dlt-original-topic")
        part = header(m, "kafka_dlt-original-partition")
        off = header(m, "kafka_dlt-original-offset")
        if topic is not None and part is not None and off is not None \
                and len(part) == 4 and len(off) == 8:
            pos = (topic.decode(errors="replace"),
                   struct.unpack(">i", part)[0], struct.unpack(">q", off)[0])
            if pos in self.by_pos:
                return self.by_pos[pos]
        return self.by_value.get(m.value())

    def poll_markers(self):
        todo = [c for c in self.cases if c.idx not in self.out.applied]
        for i in range(0, len(todo), 500):
            chunk = todo[i:i + 500]
            pipe = self.rds.pipeline(transaction=False)
            for c in chunk:
                pipe.exists(b"hms:event:" + c.record["event_id"].encode())
            for c, hit in zip(chunk, pipe.execute()):
                if hit:
                    self.out.applied.add(c.idx)

    def step(self, t0, stall_s):
        """One look; finished once every sent case is applied or
        dead-lettered, or nothing moved for stall_s."""
        if self.finished:
            return
        alive = self.alive()
        self.poll_dlq()
        self.poll_markers()
        sent = [c for c in self.cases if "offset" in c.sent]
        done = sum(1 for c in sent if c.idx in self.out.applied
                   or c.idx in self.out.dlq)
        now = time.monotonic()
        if done != self.progress[0]:
            self.progress = (done, now)
        if done == len(sent) or not alive \
                or now - self.progress[1] > stall_s \
                or now - t0 > WAVE_TIMEOUT_S:
            self.finished = True
            note(self.out, f"{self.name}: {done}/{len(sent)} resolved in "
                 f"{now - t0:.1f} s" + ("" if done == len(sent) else
                                         f" (nothing moved for {stall_s} s)"))

    def lag(self, c):
        tps = [TopicPartition(self.run.t[k], p)
               for k in ("bc", "ss", "se") for p in range(3)]
        lag = []
        for tp in c.committed(tps, timeout=10):
            low, high = c.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=10,
                cached=False)
            lag.append((tp.topic, tp.partition,
                        tp.offset if tp.offset >= 0 else low, high))
        return lag

    def read_outputs(self):
        for kind, schema, into in (("vr", "VideoReady", self.out.ready),
                                   ("ve", "VideoEnded", self.out.ended)):
            for m in read_to_end(self.brokers, self.run.t[kind]):
                r = decode(schema, m.value())
                into[r["causation_id"]].append(r)

    def stop(self):
        for p in self.run.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.run.procs:
            if getattr(p, "noted", False):
                continue
            try:
                code = p.wait(timeout=60)
            except subprocess.TimeoutExpired:  # hung: that is the finding
                p.kill()
                code = f"hung after SIGTERM ({p.wait()})"
            self.out.stop_codes.append((p.log.name, code))
        for p in self.run.procs:
            self.out.logs.append((p.log.name,
                                  p.log.read_text(errors="replace")))
        if self.dlq_reader is not None:
            self.dlq_reader.close()


def read_to_end(brokers, topic):
    c = Consumer({"bootstrap.servers": brokers,
                  "group.id": "xt-reader-" + uuid.uuid4().hex,
                  "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p),
                                           timeout=10)[1] for p in parts}
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        pos, out = {p: 0 for p in parts}, []
        deadline = time.monotonic() + 60
        while any(pos[p] < ends[p] for p in parts) \
                and time.monotonic() < deadline:
            for m in c.consume(1000, 0.5):
                if m.error() is None:
                    pos[m.partition()] = m.offset() + 1
                    out.append(m)
        return out
    finally:
        c.close()


def settle(drivers, stall_s):
    t0 = time.monotonic()
    while not all(d.finished for d in drivers):
        for d in drivers:
            d.step(t0, stall_s)
        time.sleep(0.3)


def wait_lag(drivers, out):
    """Committed offsets against end offsets of every input partition,
    until all are equal or LAG_TIMEOUT_S."""
    deadline = time.monotonic() + LAG_TIMEOUT_S
    while True:
        lag = []
        for d in drivers:
            d.alive()
            # committed() reads the offsets of the consumer's own group.id;
            # it never subscribes, so it does not join the worker's group
            g = Consumer({"bootstrap.servers": d.brokers,
                          "group.id": out.groups[d.name],
                          "enable.auto.commit": False})
            try:
                lag += [(d.name,) + x for x in d.lag(g)]
            finally:
                g.close()
        if all(cm >= hi for *_, cm, hi in lag) \
                or time.monotonic() > deadline:
            out.lag = lag
            return
        time.sleep(1)


def check_expiry(out):
    rds = redis.Redis.from_url(os.environ["REDIS_URL"])
    keys = set()
    for c in out.cases:
        kind, sid = c.subject
        if sid:
            keys.add(f"hms:{'stream' if kind == 'STREAM' else 'booking'}:"
                     f"{sid}".encode())
    keys = sorted(keys)
    pipe = rds.pipeline(transaction=False)
    for k in keys:
        pipe.ttl(k)
    out.no_expiry = [k for k, ttl in zip(keys, pipe.execute()) if ttl == -1]


@pytest.fixture(scope="module")
def outcome(bin_dir, tmp_path_factory):
    out = Outcome()
    print(f"\nextreme events: seed {SEED}, {N_RANDOM} random events "
          f"(rerun: {rerun()})", flush=True)
    requests.post(os.environ["HMS_SIM_URL"] + "/__sim/faults",
                  json={"seed": 1, "rules": []}, timeout=10,
                  verify=sim_verify()).raise_for_status()
    g = xe.generate(SEED, N_RANDOM, int(time.time() * 1000),
                    uuid.uuid4().hex[:6], os.environ["HMS_TEMPLATE_ID"])
    out.cases, out.skipped = g.cases, g.skipped
    tmp = tmp_path_factory.mktemp("extreme")
    names = list(dict.fromkeys(c.group for c in g.cases))
    drivers = [Driver(bin_dir, tmp, out, n,
                      [c for c in g.cases if c.group == n]) for n in names]
    try:
        for d in drivers:
            d.launch()
        for d in drivers:
            d.assigned()
        note(out, f"{len(drivers)} workers up ({', '.join(names)}); "
             f"{len(g.cases)} events")
        for d in drivers:
            d.send(d.cases)
        settle(drivers, STALL_S)
        # then one plain booking per group: is the worker still serving?
        for d in drivers:
            g.section(d.name)
            c = g.booking("canary: a plain booking sent once the group's "
                          "events had settled")
            d.cases.append(c)
            d.finished, d.progress = False, (-1, time.monotonic())
            d.send([c])
        settle(drivers, CANARY_STALL_S)
        wait_lag(drivers, out)
        for d in drivers:
            d.poll_dlq()
            d.poll_markers()
            d.read_outputs()
        check_expiry(out)
    finally:
        for d in drivers:
            d.stop()
    text = "\n".join(out.timeline)
    if os.environ.get("HW_LOGS"):
        with open(os.path.join(os.environ["HW_LOGS"], "extreme.txt"), "w") as f:
            f.write(f"seed {SEED}\n{text}\n")
    return out


# ---- reporting ---------------------------------------------------------

def fail(title, lines, out, extra=""):
    shown = lines[:MAX_LINES]
    more = f"\n  ... and {len(lines) - MAX_LINES} more" if len(lines) > \
        MAX_LINES else ""
    pytest.fail(f"{title} (seed {SEED}; rerun: {rerun()})\n"
                + "\n".join(shown) + more + extra, pytrace=False)


def log_lines_of(out, case, limit=3):
    safe = log_safe(case.record["event_id"], 80)
    if not safe:
        return []
    hits = []
    for _, text in out.logs:
        for ln in text.splitlines():
            if ln.endswith(f"event_id={safe}") or f"event_id={safe} " in ln:
                hits.append("      log: " + ln[:300])
    return hits[-limit:]


def blocked_behind(out, case, unresolved):
    """The first unresolved earlier case of the same subject, if any."""
    for c in out.cases:
        if c.idx >= case.idx:
            return None
        if c.subject == case.subject and c.idx in unresolved \
                and c.topic_kind() == case.topic_kind():
            return c
    return None


def skipped_note(out):
    return ("\n  not sent (unencodable by the schema or over the cap):\n    "
            + "\n    ".join(out.skipped + xe.UNENCODABLE))


# ---- the invariants ------------------------------------------------------

def test_every_event_applied_xor_dead_lettered(outcome):
    out = outcome
    ended = xe.ended_subjects(out.cases)
    sent = [c for c in out.cases if "offset" in c.sent]
    unsent = [c for c in out.cases if "offset" not in c.sent]
    unresolved = {c.idx for c in sent
                  if c.idx not in out.applied and c.idx not in out.dlq}
    problems = defaultdict(list)
    for c in sent:
        applied, dlq = c.idx in out.applied, out.dlq.get(c.idx, [])
        classes = sorted({(header(m, "hms-error-class") or b"?").decode(
            errors="replace") for m in dlq})
        why_dlq = "; ".join(sorted({(header(m, "kafka_dlt-exception-message")
                                     or b"").decode(errors="replace")[:120]
                                    for m in dlq}))
        head = f"  {c.summary()}\n      expected because: {c.why[:200]}"
        if applied and dlq:
            problems["BOTH applied and dead-lettered"].append(
                f"{head}\n      dead-lettered as {classes}: {why_dlq}")
            continue
        if not applied and not dlq:
            behind = blocked_behind(out, c, unresolved)
            lines = [head + (f"\n      (blocked behind #{behind.idx}, same "
                             "subject, also unresolved)" if behind else "")
                     + (f"\n      (the {c.group} worker had exited for good)"
                        if c.group in out.dead else "")]
            problems["NEITHER applied nor dead-lettered"].append(
                "\n".join(lines + log_lines_of(out, c)))
            continue
        if dlq:
            bad = [k for k in classes if k not in xe.DOCUMENTED]
            if bad:
                problems["dead-lettered with an undocumented class"].append(
                    f"{head}\n      class {classes}: {why_dlq}")
            elif c.expect == "applied":
                problems["valid but dead-lettered"].append(
                    f"{head}\n      dead-lettered as {classes}: {why_dlq}")
            elif c.expect in ("validation", "hms_rejected", "decode") \
                    and classes != [c.expect]:
                problems["dead-lettered with the wrong class"].append(
                    f"{head}\n      got {classes}: {why_dlq}")
            continue
        # applied
        if c.expect in ("validation", "hms_rejected", "decode") and not (
                c.needs_room and c.subject in ended):  # skipped: s.3
            problems[f"applied, but the contract says {c.expect}"].append(head)
            continue
        eid = c.record["event_id"]
        kind = c.output()
        if kind == "ve":
            got = out.ended.get(eid, [])
            if not got:
                problems["applied without its video-ended"].append(head)
            for r in got:
                if (r["subject_id"], r["subject_kind"], r["reason"]) != (
                        c.record["subject_id"], c.record["subject_kind"],
                        c.record["reason"]):
                    problems["video-ended does not match its input"].append(
                        f"{head}\n      got subject {r['subject_id'][:60]!r}"
                        f" {r['subject_kind']} reason {str(r['reason'])[:60]!r}")
        elif kind == "vr":
            got = out.ready.get(eid, [])
            if not got and c.subject not in ended:
                problems["applied without its video-ready"].append(head)
            for r in got:
                if r["subject_id"] != c.subject[1] \
                        or r["subject_kind"] != c.subject[0]:
                    problems["video-ready does not match its input"].append(
                        f"{head}\n      got {r['subject_kind']} "
                        f"{r['subject_id'][:60]!r}")
                if r["expires_at"] < r["occurred_at"] + 3_600_000 - 5_000:
                    problems["video-ready expires_at earlier than now + 1 h "
                             "(section 4)"].append(
                        f"{head}\n      expires_at {r['expires_at']}, "
                        f"occurred_at {r['occurred_at']}")
    either = defaultdict(list)  # the contract is silent: noted, not failed
    for c in sent:
        if c.expect == "either" and out.dlq.get(c.idx):
            cls = (header(out.dlq[c.idx][0], "hms-error-class") or b"?")
            either[cls.decode(errors="replace")].append(f"#{c.idx}")
    notes = "; ".join(f"{k}: {' '.join(v[:30])}" for k, v in either.items())
    print(f"silent-contract cases dead-lettered: {notes or 'none'}")
    counts = (f"{len(sent)} events sent: {len(out.applied)} applied, "
              f"{len(out.dlq)} dead-lettered, {len(unresolved)} neither; "
              f"{len(unsent)} could not be sent")
    print(counts)
    lines = []
    for title in sorted(problems, key=lambda t: (not t.startswith("NEITHER"),
                                                 t)):
        lines.append(f"- {title}: {len(problems[title])}")
        lines.extend(problems[title][:25])
        if len(problems[title]) > 25:
            lines.append(f"    ... {len(problems[title]) - 25} more")
    for c in unsent:
        lines.append(f"- not sent: {c.summary()}: {c.sent.get('error')}")
    exits = "".join(f"\n  worker {n} exited by itself with {code}; log tail:\n"
                    + "\n".join("      " + ln[:300] for ln in tail)
                    for n, code, tail in out.exits)
    if lines:
        fail(counts, lines, out, exits + skipped_note(out)
             + f"\n  (not failures) silent-contract cases dead-lettered: "
               f"{notes or 'none'}")


def test_dead_letters_carry_provenance(outcome):
    out = outcome
    lines = []
    for group, m in out.stray_dlq:
        lines.append(f"  {group}: a dead letter matching no input: key "
                     f"{(m.key() or b'')[:60]!r}, headers "
                     f"{[k for k, _ in m.headers() or []]}")
    for idx, msgs in sorted(out.dlq.items()):
        c = out.cases[idx]
        topic = out.topics[c.group][c.topic_kind()]
        for m in msgs:
            errs = []

            def want(name, ok):
                v = header(m, name)
                if v is None:
                    errs.append(f"no {name}")
                elif not ok(v):
                    errs.append(f"{name}={v[:80]!r}")

            want("kafka_dlt-original-topic", lambda v: v == topic.encode())
            want("kafka_dlt-original-partition",
                 lambda v: len(v) == 4 and struct.unpack(">i", v)[0]
                 == c.sent["partition"])
            want("kafka_dlt-original-offset",
                 lambda v: len(v) == 8 and struct.unpack(">q", v)[0]
                 == c.sent["offset"])
            want("kafka_dlt-original-timestamp",
                 lambda v: len(v) == 8 and struct.unpack(">q", v)[0]
                 == c.sent["timestamp"])
            want("kafka_dlt-original-timestamp-type",
                 lambda v: v == b"CreateTime")
            want("kafka_dlt-original-consumer-group",
                 lambda v: v == out.groups[c.group].encode())
            want("kafka_dlt-exception-message", lambda v: 0 < len(v) <= 1024)
            want("hms-error-class", lambda v: v.decode(errors="replace")
                 in xe.DOCUMENTED)
            want("hms-attempts", lambda v: v.isdigit() and int(v) >= 1)
            want("x-extreme-case", lambda v: v == str(c.idx).encode())
            if m.key() != c.key:
                errs.append("key differs from the original")
            dropped = dict(m.headers() or []).get("hms-value-dropped")
            if dropped is not None:  # too large for the DLQ: s.7
                if m.value() or int(dropped) != len(c.value):
                    errs.append(f"value dropped, but {len(m.value() or b'')}"
                                f" bytes kept, hms-value-dropped={dropped}")
            elif m.value() != c.value:
                errs.append("value differs from the original")
            if errs:
                lines.append(f"  {c.summary()}\n      {'; '.join(errs)}")
    if lines:
        fail(f"{len(lines)} dead letters without the provenance of "
             "contract section 7", lines, out)


def test_consumer_lag_reaches_zero(outcome):
    out = outcome
    by_pos = {(out.topics[c.group][c.topic_kind()], c.sent.get("partition"),
               c.sent.get("offset")): c for c in out.cases if c.sent}
    lines = []
    for group, topic, part, committed, end in out.lag:
        if committed < end:
            stuck = by_pos.get((topic, part, committed))
            lines.append(f"  {group}: {topic}[{part}]: committed {committed}, end "
                         f"{end}, lag {end - committed}; first uncommitted: "
                         + (stuck.summary() if stuck else "?"))
    assert out.lag, "no lag measured"
    if lines:
        fail(f"the group's lag did not reach 0 within {LAG_TIMEOUT_S} s",
             lines, out)


def test_worker_never_exits_and_stops_with_0(outcome):
    out = outcome
    lines = []
    for name, code, tail in out.exits:
        lines.append(f"  {name} exited by itself with status {code}; log "
                     "tail:")
        lines.extend("      " + ln[:300] for ln in tail)
    for name, code in out.stop_codes:
        if code != 0:
            lines.append(f"  {name}: SIGTERM -> {code}, not 0")
    if lines:
        fail("the worker did not run until stopped, or did not exit 0",
             lines, out)


def test_worker_log_is_clean(outcome):
    out = outcome
    lines = []
    for name, text in out.logs:
        for ln in text.splitlines():
            m = LINE.match(ln)
            if m and m.group(1) == "error" and not any(
                    re.search(p, ln) for p, _ in ALLOWED_ERRORS):
                lines.append(f"  {name}: {ln[:400]}")
            elif SANITIZER.search(ln):
                lines.append(f"  {name} (sanitizer): {ln[:400]}")
    if lines:
        fail(f"{len(lines)} level=error or sanitizer lines in the worker log",
             lines, out)


def test_subject_hashes_expire(outcome):
    out = outcome
    lines = []
    for k in out.no_expiry:
        kind, sid = k.decode().split(":", 2)[1:]
        subject = ("STREAM" if kind == "stream" else "BOOKING", sid)
        lines.append(f"  {k[:120]!r}, written for:")
        lines.extend(f"      {c.summary()}" for c in out.cases
                     if c.subject == subject)
    if lines:
        fail(f"{len(out.no_expiry)} subject hashes without an expiry "
             "(contract section 4: every hash expires; writes are atomic)",
             lines, out)


def test_distinct_subjects_get_distinct_rooms(outcome):
    out = outcome
    rooms = defaultdict(set)
    for rs in out.ready.values():
        for r in rs:
            rooms[r["room_id"]].add((r["subject_kind"], r["subject_id"],
                                     r["room_name"]))
    lines = [f"  room {room}: " + ", ".join(
        f"{k} {s[:40]!r} (name {n[:50]})" for k, s, n in sorted(subjects))
        for room, subjects in rooms.items()
        if len({(k, s) for k, s, _ in subjects}) > 1]
    if lines:
        fail("distinct subjects share one 100ms room (ending one locks the "
             "other; 100ms room names are case-insensitive, "
             "docs/100ms-api.md section 2.1)", lines, out)
