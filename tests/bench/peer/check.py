"""Checks that the bench's Node peer (peer.js) does for each booking what
hms-worker does (docs/contract.md sections 2-5), on the local stack.

Runs inside a stack's environment (deploy/local/stack.sh up DIR; then
`set -a; . DIR/stack.env; set +a`):

    build/venv/bin/python tests/bench/peer/check.py            # the peer
    build/venv/bin/python tests/bench/peer/check.py --worker   # hms-worker

The same checks against build/release/hms-worker show they describe the
worker's behaviour, not the peer's. Fresh topics and group per run; CHECK_N
(200) bookings paced at CHECK_RATE (100) per second -- 1 to 3 participants,
upper-case ids (hashed room names), no ends_at, v1 and v2 writers, room
options -- plus a PHYSICAL booking, a duplicate and a re-provisioning. Per
booking: the VideoReady decodes (worker_helpers.decode) and matches it, the
hash has exactly the worker's fields and expiry, the room key, the marker,
each token key (its JWT's claims and TTL); a few tokens join hms-sim. Then
SIGTERM: exit 0 with every input offset committed. Then a burst of 1,000
slowed by hms-sim (1.5 s per call) and a SIGTERM in its middle with
SHUTDOWN_TIMEOUT_MS=200: no offset committed without its VideoReady, and a
restart finishes the rest. Prints the latency (input -> VideoReady
CreateTimes) and CPU per booking seen, then `N passed, N failed`."""
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import jwt  # noqa: E402
import redis  # noqa: E402
import requests  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

from worker_helpers import booking, decode, encode  # noqa: E402

BIN = os.path.join(ROOT, "build", "release")
BROKERS = os.environ["KAFKA_BROKERS"]
N = int(os.environ.get("CHECK_N", "200"))
RATE = float(os.environ.get("CHECK_RATE", "100"))
SUB = os.environ.get("HMS_SUBDOMAIN")
ROLES = ("host", "guest", "viewer")  # hms-sim's built-in template
DAY = 86400
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Result:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, name, problems):
        if problems:
            self.failed += 1
            print(f"FAIL {name}: " + "; ".join(problems), flush=True)
        else:
            self.passed += 1


def uid(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def room_name(booking_id):
    """docs/contract.md section 3, computed independently"""
    if (re.fullmatch(r"[a-z0-9._:-]{1,64}", booking_id)
            and not booking_id.startswith("x-")):
        return "bk-" + booking_id
    return "bk-x-" + hashlib.sha256(booking_id.encode()).hexdigest()[:32]


def secret():
    with open(os.environ["HMS_APP_SECRET_FILE"], "rb") as f:
        s = f.read()
    return s[:-1] if s.endswith(b"\n") else s


def cpu_s(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def pct(xs, p):
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


def inputs(prefix):
    """(booking_id, schema, record) in sending order, and the special cases"""
    out = []
    for i in range(N):
        bid = f"{prefix}-{i}" if i % 10 else f"{prefix.upper()}-Up-{i}"
        people = [(f"u{i}-{j}", ROLES[(i + j) % 3]) for j in range(1 + i % 3)]
        over = {}
        if i % 7 == 3:
            over["ends_at"] = None
        if i % 11 == 5:
            over.update(region="eu", size=10, max_duration_seconds=3600)
        name = ("BookingCreated.v1" if i % 13 == 1 else
                "BookingCreated.v2" if i % 13 == 2 else "BookingCreated")
        rec = booking(bid, people, **over)
        if name == "BookingCreated.v1":
            rec["ends_at"] = None  # v1 has none: the reader's default
        out.append((bid, name, rec))
    return out


class Run:
    def __init__(self, program):
        self.t = {k: uid(f"chk-{k}") for k in ("bc", "ss", "se", "vr", "ve",
                                                "dlq")}
        subprocess.run([os.path.join(BIN, "mktopics"), BROKERS,
                        *[f"{n}:3" for n in self.t.values()]],
                       check=True, capture_output=True)
        self.group = uid("chk-group")
        env = dict(os.environ, KAFKA_GROUP_ID=self.group, ADMIN_ADDR="off",
                   LOG_LEVEL="warn", PEER_CONCURRENCY="64",
                   NODE_EXTRA_CA_CERTS=os.environ["HMS_API_CA_FILE"],
                   TOPIC_BOOKING_CREATED=self.t["bc"],
                   TOPIC_STREAM_STARTED=self.t["ss"],
                   TOPIC_SESSION_ENDED=self.t["se"],
                   TOPIC_VIDEO_READY=self.t["vr"],
                   TOPIC_VIDEO_ENDED=self.t["ve"], TOPIC_DLQ=self.t["dlq"])
        self.env = env
        self.cmd = ([os.path.join(BIN, "hms-worker")] if program == "worker"
                    else ["node", os.path.join(HERE, "peer.js")])
        self.log = os.path.join(os.environ.get("STACK_DIR", "/tmp"),
                                uid(f"check-{program}") + ".log")
        self.start()
        self.producer = Producer({"bootstrap.servers": BROKERS,
                                  "linger.ms": 5, "enable.idempotence": True})
        self.reader = Consumer({"bootstrap.servers": BROKERS,
                                "group.id": uid("chk-reader"),
                                "enable.auto.commit": False,
                                "fetch.wait.max.ms": 10})
        self.reader.assign([TopicPartition(self.t["vr"], p, 0)
                            for p in range(3)])
        self.outputs = []  # (key, CreateTime, decoded VideoReady)
        self.sent = {}  # event_id -> CreateTime of its input

    def start(self, **env):
        with open(self.log, "a", encoding="utf-8") as err:
            self.proc = subprocess.Popen(self.cmd, env=dict(self.env, **env),
                                         stderr=err)

    def poll(self, timeout):
        for m in self.reader.consume(1000, timeout):
            if m.error() is None:
                self.outputs.append((m.key().decode(), m.timestamp()[1],
                                     decode("VideoReady", m.value())))

    def send(self, msgs, rate):
        t0 = time.monotonic()
        for i, (key, name, rec) in enumerate(msgs):
            while time.monotonic() - t0 < i / rate:
                self.poll(0.002)
            ts = int(time.time() * 1000)
            self.producer.produce(self.t["bc"], key=key.encode(),
                                  value=encode(name, rec), timestamp=ts)
            self.producer.poll(0)
            self.sent.setdefault(rec["event_id"], ts)
        assert self.producer.flush(30) == 0

    def wait(self, causes, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = {o["causation_id"] for _, _, o in self.outputs}
            if causes <= seen:
                return True
            self.poll(0.1)
        return False

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return "killed"

    def input_offsets(self):
        """event_id -> (partition, offset) of every input sent"""
        c = Consumer({"bootstrap.servers": BROKERS, "group.id": uid("chk-in"),
                      "enable.auto.commit": False})
        c.assign([TopicPartition(self.t["bc"], p, 0) for p in range(3)])
        out, idle = {}, 0
        try:
            while idle < 10:
                ms = c.consume(1000, 0.2)
                idle = 0 if ms else idle + 1
                for m in ms:
                    if m.error() is None:
                        ev = decode_any(m.value())
                        out.setdefault(ev["event_id"], (m.partition(), m.offset()))
        finally:
            c.close()
        return out

    def committed(self):
        c = Consumer({"bootstrap.servers": BROKERS, "group.id": self.group,
                      "enable.auto.commit": False})
        try:
            parts = [TopicPartition(self.t["bc"], p) for p in range(3)]
            done = {tp.partition: tp.offset
                    for tp in c.committed(parts, timeout=10)}
            ends = {p: c.get_watermark_offsets(TopicPartition(
                self.t["bc"], p), timeout=10)[1] for p in range(3)}
        finally:
            c.close()
        return done, ends


def decode_any(value):
    for name in ("BookingCreated", "BookingCreated.v2", "BookingCreated.v1"):
        try:
            return decode(name, value)
        except AssertionError:
            continue
    raise ValueError("not a BookingCreated")


def check_booking(rds, key, rec, outs, now_s):
    """The problems of one provisioned booking (empty: as the worker)."""
    p = []
    if len(outs) != 1:
        return [f"{len(outs)} VideoReady for its event"]
    out = outs[0]
    ends = rec.get("ends_at")
    want_exp = ((ends // 1000 + DAY) * 1000 if ends is not None else
                None)  # without ends_at: now + 7 days
    name = room_name(rec["booking_id"])
    roles = {x["role"] for x in rec["participants"]}
    for k, v in (("subject_kind", "BOOKING"), ("subject_id", rec["booking_id"]),
                 ("room_name", name), ("cache_key", key), ("hls_url", None)):
        if out[k] != v:
            p.append(f"VideoReady {k}={out[k]!r}, want {v!r}")
    if not re.fullmatch(r"[0-9a-f-]{36}", out["event_id"]):
        p.append("event_id is not a UUID")
    if want_exp is not None and out["expires_at"] != want_exp:
        p.append(f"expires_at {out['expires_at']} != {want_exp}")
    if want_exp is None and abs(out["expires_at"] / 1000 - now_s - 7 * DAY) > 30:
        p.append(f"expires_at {out['expires_at']}: not now + 7 days")
    codes = {c["role"]: c for c in out["codes"]}
    if not roles <= set(codes):
        p.append(f"codes for {sorted(codes)}, participants' roles {roles}")
    for c in out["codes"]:
        link = f"https://{SUB}.app.100ms.live/meeting/{c['code']}" if SUB else None
        if c["join_url"] != link:
            p.append(f"join_url {c['join_url']!r} != {link!r}")
    h = {k.decode(): v.decode() for k, v in rds.hgetall(key).items()}
    want = {"status": "ready", "room_id": out["room_id"], "room_name": name,
            "event_id": rec["event_id"]}
    want.update({f"code:{c['role']}": c["code"] for c in out["codes"]})
    if SUB:
        want.update({f"link:{c['role']}": c["join_url"] for c in out["codes"]})
    want.update({f"role:{x['user_id']}": x["role"]
                 for x in rec["participants"]})
    if ends is not None:
        want["ends_at"] = str(ends)
    got = {k: v for k, v in h.items() if k != "updated_at"}
    if got != want:
        p.append(f"hash {sorted(set(got.items()) ^ set(want.items()))}")
    if abs(int(h.get("updated_at", "0")) / 1000 - now_s) > 120:
        p.append(f"updated_at {h.get('updated_at')}")
    ttl = rds.ttl(key)
    if abs(now_s + ttl - out["expires_at"] / 1000) > 30:
        p.append(f"hash TTL {ttl} does not end at expires_at")
    if rds.get(f"hms:room:{out['room_id']}") != f"booking:{rec['booking_id']}".encode():
        p.append("hms:room:{room_id} is not booking:{id}")
    if abs(rds.ttl(f"hms:room:{out['room_id']}") - ttl) > 30:
        p.append("hms:room TTL is not the hash's")
    if not rds.exists(f"hms:event:{rec['event_id']}"):
        p.append("no applied marker")
    for x in rec["participants"]:
        p += check_token(rds, out["room_id"], x, rec, now_s)
    return p


def check_token(rds, room_id, x, rec, now_s):
    tkey = f"hms:token:{room_id}:{x['user_id']}"
    tok = rds.get(tkey)
    if tok is None:
        return [f"no {tkey}"]
    c = jwt.decode(tok, secret(), algorithms=["HS256"],
                   options={"verify_nbf": False, "verify_iat": False})
    p = []
    for k, v in (("access_key", os.environ["HMS_ACCESS_KEY"]),
                 ("room_id", room_id), ("user_id", x["user_id"]),
                 ("role", x["role"]), ("type", "app"), ("version", 2)):
        if c.get(k) != v:
            p.append(f"token {k}={c.get(k)!r}, want {v!r}")
    if c["iat"] != c["nbf"] or abs(now_s - 60 - c["iat"]) > 120:
        p.append(f"token iat/nbf {c['iat']}/{c['nbf']}: not now - 60 s")
    ends = rec.get("ends_at")
    want = (max(now_s + DAY, ends // 1000 + 3600) if ends is not None
            else max(now_s, rec["starts_at"] // 1000) + DAY)
    if abs(c["exp"] - want) > 120:
        p.append(f"token exp {c['exp']}, want ~{want}")
    if not re.fullmatch(r"[0-9a-f-]{36}", str(c.get("jti"))):
        p.append("token jti is not a UUID")
    if abs(now_s + rds.ttl(tkey) - (c["exp"] - 60)) > 30:
        p.append(f"{tkey} TTL does not end 60 s before exp")
    if set(c) != {"access_key", "room_id", "user_id", "role", "type",
                  "version", "iat", "nbf", "exp", "jti"}:
        p.append(f"token claims {sorted(c)}")
    return p


def sim_faults(rules):
    requests.post(os.environ["HMS_SIM_URL"] + "/__sim/faults",
                  json={"seed": 1, "rules": rules},
                  verify=os.environ["HMS_API_CA_FILE"],
                  timeout=10).raise_for_status()


def sigterm_mid_load(r, res, prefix):
    """A burst, SIGTERM while it runs: exit 0, and only offsets whose
    bookings have their VideoReady are committed; a restart in the same
    group does the rest and tells no committed booking again (one whose
    output went out without its marker may be). hms-sim's fault rules are
    left empty."""
    burst = [(f"{prefix}-burst{i}", "BookingCreated",
              booking(f"{prefix}-burst{i}", [(f"v{i}", "guest")]))
             for i in range(1000)]
    causes = {b[2]["event_id"] for b in burst}
    # 1.5 s per call for the burst's rooms: it is still running at the
    # SIGTERM, however fast the program is; and a short shutdown: bookings
    # in flight then are abandoned, so an offset committed before its
    # output shows
    sim_faults([{"match": f"bk-{prefix}-burst*", "latency_ms": 1500}])
    r.start(SHUTDOWN_TIMEOUT_MS="200")
    r.send(burst, 100000)
    deadline = time.monotonic() + 90
    while (sum(o["causation_id"] in causes for _, _, o in r.outputs) < 50
           and time.monotonic() < deadline):
        r.poll(0.05)
    at_term = sum(o["causation_id"] in causes for _, _, o in r.outputs)
    rc = r.stop()
    n = -1
    while n != len(r.outputs):  # everything acknowledged is readable
        n = len(r.outputs)
        r.poll(1)
    told = {o["causation_id"] for _, _, o in r.outputs}
    done, _ = r.committed()
    where = r.input_offsets()
    committed = {e for e in causes
                 if where[e][1] < done.get(where[e][0], -1)}
    print(f"burst of {len(causes)}: SIGTERM after {at_term} VideoReady, "
          f"{len(causes & told)} at exit, {len(committed)} committed",
          flush=True)
    early = committed - told
    res.check("SIGTERM mid-load: exit 0, committed only what was told",
              ([] if rc == 0 else [f"exit {rc}; see {r.log}"]) +
              ([f"{len(early)} committed without a VideoReady"]
               if early else []) +
              ([] if 0 < at_term < len(causes) else
               [f"SIGTERM after {at_term} of {len(causes)}"]))
    sim_faults([])
    r.start()
    r.wait(causes, 120)
    last = booking(f"{prefix}-last", [("z", "host")])  # SIGTERM is handled
    r.send([(f"{prefix}-last", "BookingCreated", last)], 1)
    r.wait({last["event_id"]}, 60)
    counts = {}
    for _, _, o in r.outputs:
        counts[o["causation_id"]] = counts.get(o["causation_id"], 0) + 1
    missing = [e for e in causes if e not in counts]
    # told again: only what was not committed (its marker may be missing)
    again = [e for e in committed if counts.get(e, 0) > 1]
    rc = r.stop()
    done, ends = r.committed()
    res.check("restart: the rest done, nothing committed told again, all "
              "committed",
              ([f"{len(missing)} without a VideoReady"] if missing else []) +
              ([f"{len(again)} committed but told again"] if again else []) +
              ([] if rc == 0 else [f"exit {rc}"]) +
              ([] if done == ends else [f"committed {done}, end {ends}"]))


def main():
    program = "worker" if "--worker" in sys.argv[1:] else "peer"
    res = Result()
    rds = redis.Redis.from_url(os.environ["REDIS_URL"])
    prefix = uid("chk")
    msgs = inputs(prefix)
    phys = booking(f"{prefix}-phys", [("p1", "host")], mode="PHYSICAL")
    rp_id = f"{prefix}-rp"
    rp1 = booking(rp_id, [("a", "host"), ("b", "guest")])
    rp2 = booking(rp_id, [("a", "host"), ("c", "guest")])
    dup = msgs[4]

    r = Run(program)
    try:
        # warm: connections, metadata, the group's first join
        warm = [(f"{prefix}-warm{i}", "BookingCreated",
                 booking(f"{prefix}-warm{i}", [("w", "host")]))
                for i in range(5)]
        r.send(warm, 50)
        res.check("warm-up", [] if r.wait({w[2]["event_id"] for w in warm},
                                          90) else [f"no output; see {r.log}"])
        cpu0 = cpu_s(r.proc.pid)
        r.send(msgs, RATE)
        r.wait({m[2]["event_id"] for m in msgs}, 60 + N / RATE)
        cpu = cpu_s(r.proc.pid) - cpu0
        r.send([(f"{prefix}-phys", "BookingCreated", phys), dup,
                (rp_id, "BookingCreated", rp1),
                (rp_id, "BookingCreated", rp2)], 50)
        r.wait({rp1["event_id"], rp2["event_id"]}, 30)
        time.sleep(1)  # what should not come has had its chance
        r.poll(0.5)
        now_s = time.time()

        by_cause = {}
        for key, ts, o in r.outputs:
            by_cause.setdefault(o["causation_id"], []).append((key, ts, o))
        for bid, _, rec in msgs:
            outs = by_cause.get(rec["event_id"], [])
            if any(k != bid for k, _, _ in outs):
                res.check(bid, ["VideoReady key is not the booking id"])
                continue
            res.check(bid, check_booking(rds, f"hms:booking:{bid}", rec,
                                         [o for _, _, o in outs], now_s))
        lat = sorted(ts - r.sent[o["causation_id"]]
                     for m in msgs for _, ts, o in by_cause.get(m[2]["event_id"], []))
        if lat:
            print(f"{program}: {len(lat)} bookings at {RATE:g}/s: latency "
                  f"p50 {pct(lat, 50)} ms, p99 {pct(lat, 99)} ms, max "
                  f"{lat[-1]} ms; CPU {cpu * 1000 / N:.2f} ms per booking "
                  f"(log: {r.log})", flush=True)

        res.check("PHYSICAL: no output, no hash, marker",
                  (["a VideoReady"] if phys["event_id"] in by_cause else []) +
                  (["a hash"] if rds.exists(f"hms:booking:{prefix}-phys") else []) +
                  ([] if rds.exists(f"hms:event:{phys['event_id']}") else ["no marker"]))
        res.check("duplicate: one VideoReady",
                  [] if len(by_cause.get(dup[2]["event_id"], [])) == 1 else
                  [f"{len(by_cause.get(dup[2]['event_id'], []))} outputs"])
        o1, o2 = (by_cause.get(rp1["event_id"], []),
                  by_cause.get(rp2["event_id"], []))
        p = [] if len(o1) == 1 and len(o2) == 1 else [f"outputs {len(o1)}, {len(o2)}"]
        if not p:
            room = o2[0][2]["room_id"]
            p += [] if o1[0][2]["room_id"] == room else ["another room"]
            p += check_booking(rds, f"hms:booking:{rp_id}", rp2,
                               [o2[0][2]], now_s)
            p += ["b's token is still there"] if rds.exists(
                f"hms:token:{room}:b") else []
        res.check("re-provisioning: same room, new list, stale token gone", p)

        joins = []
        for bid, _, rec in msgs[:5]:
            outs = by_cause.get(rec["event_id"])
            if outs:
                u = rec["participants"][0]["user_id"]
                tok = rds.get(f"hms:token:{outs[0][2]['room_id']}:{u}")
                resp = requests.post(
                    os.environ["HMS_SIM_URL"] + "/__sim/join",
                    json={"token": (tok or b"").decode(), "name": "Ann"},
                    verify=os.environ["HMS_API_CA_FILE"], timeout=10)
                if resp.status_code != 200:
                    joins.append(f"{bid}: join {resp.status_code} {resp.text}")
        res.check("tokens join hms-sim", joins)
        rc = r.stop()
        res.check("SIGTERM: exit 0", [] if rc == 0 else [f"exit {rc}; see {r.log}"])
        done, ends = r.committed()
        res.check("every input offset committed",
                  [] if done == ends else [f"committed {done}, end {ends}"])
        sigterm_mid_load(r, res, prefix)
    finally:
        sim_faults([])
        if r.proc.poll() is None:
            r.proc.kill()
        r.reader.close()
    print(f"{res.passed} passed, {res.failed} failed")
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
