"""hms-worker end to end: the real Kafka 3.9 broker, redis-server and
hms-sim; inputs written and outputs read with independent implementations
(fastavro, confluent-kafka, redis-py, PyJWT)."""
import os
import signal
import struct
import subprocess
import time
import uuid

import jwt
import pytest
import redis

from worker_helpers import (Kafka, booking, decode, encode, now_ms,
                            session_ended, stream, wait_for)

ROLES = {"host", "guest", "viewer"}  # hms-sim's built-in template
SUB = "hmsworker"


def uid(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def kafka():
    k = Kafka(os.environ["KAFKA_BROKERS"])
    yield k
    k.flush()


@pytest.fixture(scope="module")
def rds():
    return redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)


@pytest.fixture(scope="module")
def worker(bin_dir, tmp_path_factory, secret):
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    env = dict(os.environ, KAFKA_GROUP_ID=uid("it-worker"), HMS_SUBDOMAIN=SUB,
               ADMIN_ADDR="off", HMS_RETRY_BASE_MS="50", HMS_RETRY_CAP_MS="300",
               HMS_RETRY_MAX="3", EVENT_DEADLINE_MS="15000",
               SHUTDOWN_TIMEOUT_MS="5000")
    wrap = os.environ.get("WORKER_WRAP", "").split()
    with open(log, "w") as out:
        proc = subprocess.Popen(wrap + [os.path.join(bin_dir, "hms-worker")],
                                env=env, stderr=out)
    assert wait_for(lambda: "partitions assigned" in log.read_text(), 90), \
        log.read_text()[-2000:]
    proc.log_path = log
    yield proc
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    text = log.read_text()
    os.environ.get("HW_LOGS") and open(
        os.path.join(os.environ["HW_LOGS"], "worker.log"), "w").write(text)
    assert secret not in text
    for bad in ("level=error", "AddressSanitizer", "runtime error",
                "LeakSanitizer", "ThreadSanitizer", "definitely lost"):
        assert bad not in text, text[text.index(bad) - 500:][:2000]


def outputs(kafka, topic, schema, pred, count=1, timeout=60):
    """Decoded records of topic that satisfy pred, once count are there."""
    def keep(m):
        r = decode(schema, m.value())
        return r if pred(r) else None
    return kafka.read(topic, keep, count, timeout)


def sim_calls(sim, room):
    return [(e["route"], e["status"]) for e in sim.requests_log()
            if e["room"] == room]


def applied(rds, event_id):
    return wait_for(lambda: rds.exists(f"hms:event:{event_id}"), 30)


def test_booking_becomes_ready(worker, sim, kafka, rds, secret, access_key):
    bid = uid("it-book")
    ev = booking(bid, [("alice", "host"), ("bob", "guest"), ("carol", "guest")])
    kafka.send("booking-created", bid, encode("BookingCreated", ev))
    kafka.flush()
    [r] = outputs(kafka, "video-ready", "VideoReady",
                  lambda r: r["causation_id"] == ev["event_id"])
    assert r["subject_kind"] == "BOOKING" and r["subject_id"] == bid
    assert r["room_name"] == f"bk-{bid}" and r["cache_key"] == f"hms:booking:{bid}"
    assert {c["role"] for c in r["codes"]} == ROLES
    for c in r["codes"]:
        assert c["join_url"] == f"https://{SUB}.app.100ms.live/meeting/{c['code']}"
    assert r["hls_url"] is None
    assert applied(rds, ev["event_id"])
    h = rds.hgetall(f"hms:booking:{bid}")
    assert h["status"] == "ready" and h["room_id"] == r["room_id"]
    assert h["event_id"] == ev["event_id"]
    assert {k[5:]: v for k, v in h.items() if k.startswith("code:")} == {
        c["role"]: c["code"] for c in r["codes"]}
    assert {k for k in h if k.startswith("link:")} == {f"link:{x}" for x in ROLES}
    assert {k: v for k, v in h.items() if k.startswith("role:")} == {
        "role:alice": "host", "role:bob": "guest", "role:carol": "guest"}
    # the hash lives until ends_at + CACHE_GRACE_S
    assert abs(r["expires_at"] - (ev["ends_at"] + 86400_000)) < 2000
    assert abs(rds.ttl(f"hms:booking:{bid}") - (ev["ends_at"] / 1000 + 86400
                                                - time.time())) < 5
    # the room's subject, for what 100ms says about the room (webhooks)
    assert rds.get(f"hms:room:{r['room_id']}") == f"booking:{bid}"
    assert abs(rds.ttl(f"hms:room:{r['room_id']}")
               - rds.ttl(f"hms:booking:{bid}")) <= 1
    for user, role in (("alice", "host"), ("bob", "guest"), ("carol", "guest")):
        tok = rds.get(f"hms:token:{r['room_id']}:{user}")
        claims = jwt.decode(tok, secret, algorithms=["HS256"])
        assert (claims["room_id"], claims["user_id"], claims["role"],
                claims["type"], claims["access_key"]) == (
            r["room_id"], user, role, "app", access_key)
        assert abs(claims["exp"] - (time.time() + 86400)) < 10
        assert abs(rds.ttl(f"hms:token:{r['room_id']}:{user}")
                   - (claims["exp"] - 60 - time.time())) < 5
    assert sim_calls(sim, f"bk-{bid}") == [
        ("POST /v2/rooms", 200), ("POST /v2/room-codes/room/{id}", 200)]


@pytest.mark.parametrize("hls", [True, False])
def test_stream_started(worker, sim, kafka, rds, hls):
    sid = uid("it-live")
    ev = stream(sid, "host-1", hls)
    kafka.send("stream-started", sid, encode("StreamStarted", ev))
    kafka.flush()
    [r] = outputs(kafka, "video-ready", "VideoReady",
                  lambda r: r["causation_id"] == ev["event_id"])
    assert r["subject_kind"] == "STREAM" and r["room_name"] == f"ls-{sid}"
    assert applied(rds, ev["event_id"])
    h = rds.hgetall(f"hms:stream:{sid}")
    assert h["role:host-1"] == "host"
    calls = sim_calls(sim, f"ls-{sid}")
    if hls:
        assert r["hls_url"].endswith("/master.m3u8") and h["hls_url"] == r["hls_url"]
        assert ("POST /v2/live-streams/room/{id}/start", 200) in calls
    else:
        assert r["hls_url"] is None and "hls_url" not in h
        assert len(calls) == 2


def test_session_ended_locks_and_late_booking_is_skipped(worker, sim, kafka,
                                                         rds):
    bid = uid("it-end")
    ev = booking(bid, [("alice", "host"), ("bob", "guest")])
    kafka.send("booking-created", bid, encode("BookingCreated", ev))
    kafka.flush()
    [r] = outputs(kafka, "video-ready", "VideoReady",
                  lambda r: r["causation_id"] == ev["event_id"])
    assert applied(rds, ev["event_id"])
    room = r["room_id"]
    sim.admin("POST", f"rooms/{room}/session",
              json={"peers": [{"user_id": "alice", "role": "host"}]})
    end = session_ended("BOOKING", bid, lock=True, reason="booking over")
    kafka.send("session-ended", bid, encode("SessionEnded", end))
    kafka.flush()
    [e] = outputs(kafka, "video-ended", "VideoEnded",
                  lambda r: r["causation_id"] == end["event_id"])
    assert e["room_id"] == room and e["reason"] == "booking over"
    assert applied(rds, end["event_id"])
    assert sim.call("GET", f"/v2/rooms/{room}").json()["enabled"] is False
    log = [x for x in sim.requests_log() if x["room"] == f"bk-{bid}"]
    assert [x["body"] for x in log if x["route"].endswith("end-room")] == [
        {"reason": "booking over", "lock": True}]
    disabled = [x["body"] for x in log if x["route"] == "POST /v2/room-codes/code"]
    assert sorted(d["code"] for d in disabled) == sorted(c["code"] for c in r["codes"])
    assert all(d["enabled"] is False for d in disabled)
    h = rds.hgetall(f"hms:booking:{bid}")
    assert h["status"] == "ended" and h["event_id"] == end["event_id"]
    assert not [k for k in h if k.split(":")[0] in ("code", "link", "role")]
    assert not rds.exists(f"hms:token:{room}:alice", f"hms:token:{room}:bob")
    assert abs(rds.ttl(f"hms:booking:{bid}") - 86400) < 5
    assert rds.get(f"hms:room:{room}") == f"booking:{bid}"  # kept as long
    assert abs(rds.ttl(f"hms:room:{room}") - 86400) < 5
    # a late booking-created for the ended subject: skipped, no calls
    before = len(log)
    late = booking(bid, [("alice", "host")])
    kafka.send("booking-created", bid, encode("BookingCreated", late))
    kafka.flush()
    assert applied(rds, late["event_id"])
    assert len(sim_calls(sim, f"bk-{bid}")) == before
    assert outputs(kafka, "video-ready", "VideoReady",
                   lambda r: r["causation_id"] == late["event_id"], timeout=3) == []


def test_session_ended_before_booking(worker, sim, kafka, rds):
    bid = uid("it-early")
    end = session_ended("BOOKING", bid)
    kafka.send("session-ended", bid, encode("SessionEnded", end))
    kafka.flush()
    [e] = outputs(kafka, "video-ended", "VideoEnded",
                  lambda r: r["causation_id"] == end["event_id"])
    assert e["room_id"] is None
    assert rds.hgetall(f"hms:booking:{bid}")["status"] == "ended"
    assert abs(rds.ttl(f"hms:booking:{bid}") - 604800) < 5
    late = booking(bid, [("alice", "host")])
    kafka.send("booking-created", bid, encode("BookingCreated", late))
    kafka.flush()
    assert applied(rds, late["event_id"])
    assert sim_calls(sim, f"bk-{bid}") == []


def test_same_event_twice_applied_once(worker, sim, kafka, rds):
    bid = uid("it-dup")
    ev = encode("BookingCreated", booking(bid, [("alice", "host")]))
    event_id = decode("BookingCreated", ev)["event_id"]
    kafka.send("booking-created", bid, ev)
    kafka.send("booking-created", bid, ev)
    kafka.flush()
    assert applied(rds, event_id)
    marker = wait_for(lambda: rds.get(f"hms:event:{event_id}"))
    assert marker == "1"
    time.sleep(1)  # give a wrong second application the time to show
    assert len(outputs(kafka, "video-ready", "VideoReady",
                       lambda r: r["causation_id"] == event_id, count=2,
                       timeout=3)) == 1
    assert sim_calls(sim, f"bk-{bid}").count(("POST /v2/rooms", 200)) == 1


def test_physical_booking_makes_no_calls(worker, sim, kafka, rds):
    bid = uid("it-phys")
    ev = booking(bid, [], mode="PHYSICAL")
    kafka.send("booking-created", bid, encode("BookingCreated", ev))
    kafka.flush()
    assert applied(rds, ev["event_id"])
    assert sim_calls(sim, f"bk-{bid}") == []
    assert not rds.exists(f"hms:booking:{bid}")


def test_v1_producer_is_still_read(worker, sim, kafka, rds):
    bid = uid("it-v1")
    ev = booking(bid, [("alice", "host")])
    for f in ("ends_at", "template_id", "metadata"):
        del ev[f]
    kafka.send("booking-created", bid, encode("BookingCreated.v1", ev))
    kafka.flush()
    [r] = outputs(kafka, "video-ready", "VideoReady",
                  lambda r: r["causation_id"] == ev["event_id"])
    assert r["room_name"] == f"bk-{bid}"
    # no ends_at (the default null): CACHE_DEFAULT_TTL_S
    assert abs(rds.ttl(f"hms:booking:{bid}") - 604800) < 5
    body = [x["body"] for x in sim.requests_log()
            if x["room"] == f"bk-{bid}" and x["route"] == "POST /v2/rooms"]
    assert body[0]["template_id"] == os.environ["HMS_TEMPLATE_ID"]


def room_bodies(sim, name):
    return [x["body"] for x in sim.requests_log()
            if x["room"] == name and x["route"] == "POST /v2/rooms"]


OPTIONS = ("region", "size", "max_duration_seconds")


def test_room_options_reach_the_room(worker, sim, kafka, rds):
    """BookingCreated v3: region, size and max_duration_seconds go to POST
    /v2/rooms, and the room 100ms keeps (GET /v2/rooms/{id}) has them; a
    booking that leaves them null sends none, and its room has the
    template's region (hms-sim's default template: us)."""
    bid, plain = uid("it-opt"), uid("it-noopt")
    ev = booking(bid, [("alice", "host"), ("bob", "guest")], region="eu",
                 size=2, max_duration_seconds=3600)
    ev2 = booking(plain, [("alice", "host")])
    kafka.send("booking-created", bid, encode("BookingCreated", ev))
    kafka.send("booking-created", plain, encode("BookingCreated", ev2))
    kafka.flush()
    by_cause = {r["causation_id"]: r for r in outputs(
        kafka, "video-ready", "VideoReady",
        lambda r: r["causation_id"] in (ev["event_id"], ev2["event_id"]),
        count=2)}
    room = sim.call("GET", f"/v2/rooms/{by_cause[ev['event_id']]['room_id']}")
    assert room.status_code == 200, room.text
    assert {k: room.json().get(k) for k in OPTIONS} == {
        "region": "eu", "size": 2, "max_duration_seconds": 3600}
    [body] = room_bodies(sim, f"bk-{bid}")
    assert {k: body.get(k) for k in OPTIONS} == {
        "region": "eu", "size": 2, "max_duration_seconds": 3600}
    [body] = room_bodies(sim, f"bk-{plain}")
    assert sorted(body) == ["description", "name", "template_id"]
    room = sim.call("GET", f"/v2/rooms/{by_cause[ev2['event_id']]['room_id']}")
    assert room.json()["region"] == "us"
    assert "size" not in room.json()
    assert "max_duration_seconds" not in room.json()


def test_room_options_out_of_range_are_dead_lettered(worker, sim, kafka, rds):
    """Outside what 100ms accepts (docs/100ms-api.md 2.1): dead-lettered
    `validation` before any call; a region is taken as 100ms spells it, so
    "EU" is invalid. The neighbour on the same partition is applied."""
    key = uid("it-badopt")
    bad = {
        "max_duration_seconds 60": booking(key, [("alice", "host")],
                                           max_duration_seconds=60),
        "max_duration_seconds 43201": booking(key, [("alice", "host")],
                                              max_duration_seconds=43201),
        "size 2501": booking(key, [("alice", "host")], size=2501),
        "size -1": booking(key, [("alice", "host")], size=-1),
        "region EU": booking(key, [("alice", "host")], region="EU"),
    }
    good = booking(key, [("alice", "host")], region="auto", size=0,
                   max_duration_seconds=120)
    for ev in bad.values():
        kafka.send("booking-created", key, encode("BookingCreated", ev))
    kafka.send("booking-created", key, encode("BookingCreated", good))
    kafka.flush()
    [r] = outputs(kafka, "video-ready", "VideoReady",
                  lambda r: r["causation_id"] == good["event_id"])
    dlq = kafka.read("hms-worker-dlq",
                     lambda m: m if m.key() == key.encode() else None, len(bad))
    assert len(dlq) == len(bad)
    by_id = {decode("BookingCreated", m.value())["event_id"]: m for m in dlq}
    for what, ev in bad.items():
        m = by_id[ev["event_id"]]
        assert header(m, "hms-error-class") == b"validation", what
        field = what.split()[0].encode()
        assert header(m, "kafka_dlt-exception-message").startswith(field), what
    # none reached 100ms: the one create is the good event's
    [body] = room_bodies(sim, f"bk-{key}")
    assert {k: body.get(k) for k in OPTIONS} == {
        "region": "auto", "size": 0, "max_duration_seconds": 120}
    assert sim.call("GET", f"/v2/rooms/{r['room_id']}").json()["size"] == 0


def test_hmsctl_sends_room_options(worker, sim, kafka, rds, run_bin):
    """hmsctl send writes v3 with the worker's own codec: the options it
    is given reach the room."""
    bid = uid("it-ctl")
    r = run_bin("hmsctl", "send", "booking-created", "--booking-id", bid,
                "--participant", "alice:host", "--region", "eu", "--size", "2",
                "--max-duration-seconds", "3600")
    assert r.returncode == 0, r.stderr
    event_id = r.stdout.split("event_id=")[1].split()[0]
    [out] = outputs(kafka, "video-ready", "VideoReady",
                    lambda o: o["causation_id"] == event_id)
    room = sim.call("GET", f"/v2/rooms/{out['room_id']}").json()
    assert {k: room.get(k) for k in OPTIONS} == {
        "region": "eu", "size": 2, "max_duration_seconds": 3600}
    bad = run_bin("hmsctl", "send", "booking-created", "--booking-id", bid,
                  "--participant", "alice:host", "--size", "2147483648")
    assert bad.returncode == 2  # not an Avro int: usage, nothing sent


def test_v2_producer_is_still_read(worker, sim, kafka, rds):
    bid = uid("it-v2")
    ev = booking(bid, [("alice", "host")])
    for f in OPTIONS:
        del ev[f]
    kafka.send("booking-created", bid, encode("BookingCreated.v2", ev))
    kafka.flush()
    [r] = outputs(kafka, "video-ready", "VideoReady",
                  lambda r: r["causation_id"] == ev["event_id"])
    assert r["room_name"] == f"bk-{bid}"
    [body] = room_bodies(sim, f"bk-{bid}")
    assert sorted(body) == ["description", "name", "template_id"]


def header(m, name):
    return dict(m.headers() or [])[name]


def test_bad_inputs_go_to_the_dlq(worker, kafka, rds):
    key = uid("it-poison")  # one key: one partition, good one after the bad
    good = encode("BookingCreated", booking(key, [("alice", "host")]))
    fp = good[2:10]
    bad = {
        "garbage": (b"\x13\x37 not avro at all", "decode"),
        "truncated": (good[:-3], "decode"),
        "huge length": (b"\xc3\x01" + fp + b"\x80\x80\x80\x80\x08", "decode"),
        "empty booking_id": (encode("BookingCreated", booking("", [("a", "host")])),
                             "validation"),
        "unknown fingerprint": (b"\xc3\x01" + b"\x01" * 8 + good[10:],
                                "unknown_schema"),
        "confluent framing": (b"\x00\x00\x00\x00\x07" + good[10:], "unknown_schema"),
        "another record": (encode("StreamStarted", stream("s", "h", False)),
                           "unknown_schema"),
    }
    for value, _ in bad.values():
        kafka.send("booking-created", key, value, headers=[("trace", b"t-1")])
    kafka.send("booking-created", key, good)
    kafka.flush()
    [r] = outputs(kafka, "video-ready", "VideoReady",
                  lambda r: r["subject_id"] == key)  # neighbours unaffected
    dlq = kafka.read("hms-worker-dlq",
                     lambda m: m if m.key() == key.encode() else None, len(bad))
    assert len(dlq) == len(bad)
    by_value = {m.value(): m for m in dlq}
    for what, (value, cls) in bad.items():
        m = by_value[value]
        assert header(m, "hms-error-class").decode() == cls, what
        assert header(m, "kafka_dlt-original-topic") == b"booking-created"
        part = struct.unpack(">i", header(m, "kafka_dlt-original-partition"))[0]
        offset = struct.unpack(">q", header(m, "kafka_dlt-original-offset"))[0]
        ts = struct.unpack(">q", header(m, "kafka_dlt-original-timestamp"))[0]
        assert part >= 0 and offset >= 0 and abs(ts - now_ms()) < 120_000
        assert header(m, "kafka_dlt-original-timestamp-type") == b"CreateTime"
        assert header(m, "kafka_dlt-original-consumer-group").startswith(
            b"it-worker")
        assert 0 < len(header(m, "kafka_dlt-exception-message")) <= 1024
        assert header(m, "hms-attempts") == b"1"
        assert header(m, "trace") == b"t-1"  # original headers kept


@pytest.mark.skipif(bool(os.environ.get("WORKER_WRAP")),
                    reason="wall time under valgrind says nothing")
def test_many_bookings_run_concurrently(worker, sim, kafka, rds):
    """1,000 bookings, 100 ms per 100ms call: far below 1,000 x 2 x 100 ms."""
    sim.faults({"route": "POST /v2/*", "latency_ms": 100})
    run = uid("it-many")
    events = [booking(f"{run}-{i}", [("u1", "host"), ("u2", "guest")])
              for i in range(1000)]
    ids = {e["event_id"] for e in events}
    t0 = time.monotonic()
    for e in events:
        kafka.send("booking-created", e["booking_id"], encode("BookingCreated", e))
    kafka.flush()
    got = outputs(kafka, "video-ready", "VideoReady",
                  lambda r: r["causation_id"] in ids, count=1000, timeout=120)
    elapsed = time.monotonic() - t0
    rss_kib = int([ln for ln in open(f"/proc/{worker.pid}/status")
                   if ln.startswith("VmHWM")][0].split()[1])
    report = (f"1000 bookings with 100 ms simulated latency: {elapsed:.1f} s "
              f"wall, worker peak RSS {rss_kib / 1024:.1f} MiB, "
              f"suspended_peak {sim.admin('GET', 'stats')['suspended_peak']}\n")
    print(report)
    if os.environ.get("HW_LOGS"):
        with open(os.path.join(os.environ["HW_LOGS"], "results.txt"), "a") as f:
            f.write(report)
    assert len({r["causation_id"] for r in got}) == 1000
    assert elapsed < 30


def test_one_failing_subject_is_dead_lettered(worker, sim, kafka, rds):
    """Its neighbours succeed, so the API is up: the failure is its own."""
    bad = uid("it-fail")
    sim.faults({"match": f"bk-{bad}", "rate_503": 1})
    ev = booking(bad, [("alice", "host")])
    kafka.send("booking-created", bad, encode("BookingCreated", ev))
    good = [booking(uid("it-ok"), [("bob", "host")]) for _ in range(3)]
    for g in good:
        kafka.send("booking-created", g["booking_id"], encode("BookingCreated", g))
    kafka.flush()
    ids = {g["event_id"] for g in good}
    assert len(outputs(kafka, "video-ready", "VideoReady",
                       lambda r: r["causation_id"] in ids, count=3)) == 3
    [m] = kafka.read("hms-worker-dlq",
                     lambda m: m if m.key() == bad.encode() else None, 1)
    assert header(m, "hms-error-class") in (b"hms_retries", b"deadline")
    assert header(m, "hms-attempts") == b"4"  # HMS_RETRY_MAX=3 retries
    assert b"HTTP 503" in header(m, "kafka_dlt-exception-message")
    calls = sim_calls(sim, f"bk-{bad}")
    assert set(calls) == {("POST /v2/rooms", 503)} and len(calls) <= 8
    assert not rds.exists(f"hms:booking:{bad}")


def own_worker(bin_dir, log, group, drop=(), **extra):
    """A worker on topics of its own (the module's worker stays out of the
    way), impatient with 100ms; drop: variables of the stack's environment
    it does not get, extra: more. Returns (process, topics)."""
    t = {k: uid(f"it-{k}") for k in ("bc", "ss", "se", "vr", "ve", "dlq")}
    subprocess.run([os.path.join(bin_dir, "mktopics"), os.environ["KAFKA_BROKERS"],
                    *[f"{n}:1" for n in t.values()]], check=True,
                   capture_output=True)
    env = dict(os.environ, KAFKA_GROUP_ID=uid(group), ADMIN_ADDR="off",
               TOPIC_BOOKING_CREATED=t["bc"], TOPIC_STREAM_STARTED=t["ss"],
               TOPIC_SESSION_ENDED=t["se"], TOPIC_VIDEO_READY=t["vr"],
               TOPIC_VIDEO_ENDED=t["ve"], TOPIC_DLQ=t["dlq"],
               EVENT_DEADLINE_MS="3000", HMS_RETRY_MAX="3",
               HMS_RETRY_BASE_MS="50", HMS_RETRY_CAP_MS="200",
               HMS_TIMEOUT_MS="1000")
    for k in drop:
        env.pop(k, None)
    env.update(extra)
    with open(log, "w") as out:
        proc = subprocess.Popen(os.environ.get("WORKER_WRAP", "").split()
                                + [os.path.join(bin_dir, "hms-worker")],
                                env=env, stderr=out)
    return proc, t


def test_secrets_are_wiped_from_the_environment(bin_dir, sim, kafka, secret,
                                                tmp_path):
    """The app secret and REDIS_URL's password given in the environment:
    once loaded, /proc/<pid>/environ no longer shows them (the names stay,
    with an empty value), and the worker works on its own copies: tokens
    are minted, Redis is logged in to with that password (the stack's
    default user takes any)."""
    if os.environ.get("WORKER_WRAP"):
        pytest.skip("a wrapper's /proc/<pid>/environ is not the worker's")
    url = os.environ["REDIS_URL"].replace("redis://",
                                          "redis://default:b9-redis-pa55@")
    log = tmp_path / "worker.log"
    proc, t = own_worker(bin_dir, log, "it-environ",
                         drop=("HMS_APP_SECRET_FILE",), HMS_APP_SECRET=secret,
                         REDIS_URL=url)
    try:
        assert wait_for(lambda: "partitions assigned" in log.read_text(), 90),\
            log.read_text()[-2000:]
        with open(f"/proc/{proc.pid}/environ", "rb") as f:
            shown = f.read()
        assert secret.encode() not in shown and b"b9-redis-pa55" not in shown
        entries = shown.split(b"\0")
        assert b"HMS_APP_SECRET=" in entries and b"REDIS_URL=" in entries
        assert f"HMS_ACCESS_KEY={os.environ['HMS_ACCESS_KEY']}".encode() \
            in entries  # the rest as it was
        assert "wiped from the environment\" count=2" in log.read_text()
        ev = booking(uid("it-env"), [("alice", "host")])
        kafka.send(t["bc"], ev["booking_id"], encode("BookingCreated", ev))
        kafka.flush()
        assert outputs(kafka, t["vr"], "VideoReady",
                       lambda r: r["causation_id"] == ev["event_id"]), \
            log.read_text()[-2000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    text = log.read_text()
    assert secret not in text and "b9-redis-pa55" not in text
    assert "level=error" not in text, text[-2000:]


def test_full_outage_dead_letters_nothing(bin_dir, sim, kafka, tmp_path):
    """Every call fails for longer than EVENT_DEADLINE_MS: the worker
    pauses instead of dead-lettering, and catches up when 100ms is back."""
    log = tmp_path / "worker.log"
    proc, t = own_worker(bin_dir, log, "it-outage")
    try:
        assert wait_for(lambda: "partitions assigned" in log.read_text(), 90)
        sim.faults({"rate_503": 1})
        events = [booking(uid("it-out"), [("alice", "host")]) for _ in range(5)]
        for e in events:
            kafka.send(t["bc"], e["booking_id"], encode("BookingCreated", e))
        kafka.flush()
        assert wait_for(lambda: "event waits" in log.read_text(), 30)
        time.sleep(7)  # more than twice EVENT_DEADLINE_MS
        assert kafka.read(t["dlq"], lambda m: m, 1, timeout=2) == []
        sim.faults()
        ids = {e["event_id"] for e in events}
        got = outputs(kafka, t["vr"], "VideoReady",
                      lambda r: r["causation_id"] in ids, count=5)
        assert len(got) == 5
        assert kafka.read(t["dlq"], lambda m: m, 1, timeout=2) == []
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_untrusted_certificate_reaches_nothing(bin_dir, sim, kafka, tmp_path):
    """hms-sim's certificate is signed by the stack's CA: a worker that
    does not trust it (no HMS_API_CA_FILE: the system's store) refuses the
    connection before any request is sent, and waits instead of
    dead-lettering. Verification is never off: no setting turns it off."""
    log = tmp_path / "worker.log"
    proc, t = own_worker(bin_dir, log, "it-untrusted",
                         drop=("HMS_API_CA_FILE",))
    try:
        assert wait_for(lambda: "partitions assigned" in log.read_text(), 90)
        ev = booking(uid("it-tls"), [("alice", "host")])
        kafka.send(t["bc"], ev["booking_id"], encode("BookingCreated", ev))
        kafka.flush()
        assert wait_for(lambda: "event waits" in log.read_text(), 30), \
            log.read_text()[-2000:]
        assert "SSL certificate problem" in log.read_text()
        assert sim_calls(sim, f"bk-{ev['booking_id']}") == []  # none got through
        assert kafka.read(t["dlq"], lambda m: m, 1, timeout=2) == []
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_no_secret_or_token_leaks(worker, kafka, rds, secret):
    """After everything above: the app secret, any JWT (app tokens from
    Redis, or the management token, which starts like every JWT) and the
    Redis password never appear in the worker's log, an output event or a
    dead letter (value or header)."""
    tokens = [rds.get(k) for k in rds.scan_iter("hms:token:*")]
    assert tokens  # the tests above left some
    needles = [secret.encode(), b"eyJ"] + [t.encode() for t in tokens]
    blobs = [worker.log_path.read_bytes()]
    for topic in ("video-ready", "video-ended", "hms-worker-dlq"):
        for m in kafka.read(topic, lambda m: m, 10**6, timeout=3):
            blobs.append(m.value() or b"")
            blobs.extend(v or b"" for _, v in (m.headers() or []))
    for blob in blobs:
        for needle in needles:
            assert needle not in blob
