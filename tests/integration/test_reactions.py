"""The reaction table of docs/contract.md section 7, row by row, against the
real stack: every error a dependency or an input can produce leads to the
reaction the contract names (retry, wait, dead-letter, halt, stop), and
never to "applied" or to a worker that exits or waits forever. Each test
names its row(s); the Redis rows run against redis-servers of their own."""
import os
import signal
import subprocess
import time

import pytest
import redis
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from conftest import free_port
from reactions import AcceptCounter, AdminRun, RedisServer, headers
from worker_helpers import booking, encode, session_ended, stream, wait_for

BROKERS = os.environ.get("KAFKA_BROKERS", "")
INT64_MAX = 2**63 - 1


def shared_redis():
    return redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)


def set_topic_config(topic, **config):
    admin = AdminClient({"bootstrap.servers": BROKERS})
    res = ConfigResource("topic", topic,
                         set_config={k.replace("_", "."): str(v)
                                     for k, v in config.items()})
    for f in admin.alter_configs([res]).values():
        f.result(timeout=20)


def produce_until_accepted(topic, key, value, hdrs=None):
    """Produces one message, again until the broker takes it: a topic's new
    max.message.bytes reaches its partitions a moment after the alter."""
    p = Producer({"bootstrap.servers": BROKERS, "message.max.bytes": 3_000_000})
    for _ in range(20):
        errs = []
        p.produce(topic, key=key, value=value, headers=hdrs,
                  on_delivery=lambda err, m: errs.append(err))
        assert p.flush(30) == 0
        if errs == [None]:
            return
        time.sleep(0.5)
    raise AssertionError(f"{topic} refuses {len(value)} bytes: {errs}")


def wait_refused(topic, size):
    """Until the broker refuses a message of size bytes on topic (a lowered
    max.message.bytes is in force); probes it took have the key "probe"."""
    p = Producer({"bootstrap.servers": BROKERS})
    for _ in range(40):
        errs = []
        p.produce(topic, key=b"probe", value=b"p" * size,
                  on_delivery=lambda err, m: errs.append(err))
        assert p.flush(30) == 0
        if errs and errs[0] is not None:
            return
        time.sleep(0.25)
    raise AssertionError(f"{topic} still takes {size} bytes")


def stop(run):
    assert run.alive(), "the worker exited: " + run.log()[-3000:]
    assert run.stop_all() == [0]


def stop_after_the_rest(run, client):
    """Every event after the first is applied to client's Redis, nothing
    lags or is dead-lettered; then a clean stop."""
    later = [e["event_id"] for e in run.events[1:]]
    assert wait_for(lambda: all(client.exists(f"hms:event:{i}")
                                for i in later), 60), run.log()[-3000:]
    assert wait_for(lambda: run.lag() == 0, 20) and run.dlq() == []
    stop(run)


# ---- 100ms rows --------------------------------------------------------

@pytest.mark.parametrize("status,says", [
    (403, "100ms refuses to create room (HTTP 403 \"Forbidden\"): the "
          "management token lacks the permission"),
    (401, "100ms rejects the management token to create room (HTTP 401 "
          "\"Token validation error\"): HMS_ACCESS_KEY or the app secret")])
def test_refused_token_halts_and_resumes(bin_dir, sim, tmp_path, status, says):
    """100ms 401, or 403 that does not say "disabled" (a missing
    permission): re-mint, replay once, then halt -- nothing applied, nothing
    dead-lettered, offset not stored, /readyz names the likely cause, the
    worker stays up; the token accepted again -> resumes by itself. (A 403
    was once read as "room disabled": skipped and marked applied.)"""
    r = shared_redis()
    run = AdminRun(bin_dir, tmp_path)
    sim.faults({"route": "POST /v2/rooms", f"rate_{status}": 1.0})
    run.start()
    run.send_bookings(3)
    assert wait_for(lambda: "halted" in run.readyz()[1], 30), run.readyz()
    code, text = run.readyz()
    assert code == 503 and says in text, text
    assert run.metric("hms_worker_halted") == 1
    assert run.metric("hms_worker_management_token_mints_total"
                      f'{{reason="{status}"}}') >= 1
    assert run.applied(r) == 0 and run.dlq() == [] and run.lag() == 3
    log = [x for x in sim.requests_log() if x["route"] == "POST /v2/rooms"]
    assert len(log) >= 2 and all(x["status"] == status for x in log)
    assert run.log().count("halted: intake stopped") == 1  # once per cause
    sim.faults()  # the permission is back
    assert run.wait_caught_up(r, 30), run.log()[-3000:]
    assert wait_for(lambda: run.readyz()[0] == 200, 30), run.readyz()
    assert wait_for(lambda: run.lag() == 0, 30)
    assert run.dlq() == []
    assert "resuming: the cause of the halt is gone" in run.log()
    stop(run)


def test_403_room_disabled_is_skipped(bin_dir, sim, tmp_path):
    """100ms 403 whose message says the room is disabled: skipped (marked
    applied, no output, no DLQ) -- the room's state, not a permission."""
    r = shared_redis()
    run = AdminRun(bin_dir, tmp_path)
    e = booking("dis-" + os.urandom(4).hex(), [("alice", "host")])
    room = sim.room(f"bk-{e['booking_id']}")
    assert sim.call("POST", f"/v2/rooms/{room['id']}",
                    json={"enabled": False}).status_code == 200
    run.start()
    run.kafka.send(run.t["bc"], e["booking_id"], encode("BookingCreated", e))
    run.kafka.flush()
    assert wait_for(lambda: r.exists(f"hms:event:{e['event_id']}"), 30)
    assert "room is disabled" in run.log()
    assert run.kafka.read(run.t["vr"], lambda m: m, 1, timeout=3) == []
    assert run.dlq() == [] and wait_for(lambda: run.lag() == 0, 20)
    stop(run)


def test_100ms_rejections_are_dead_lettered(bin_dir, sim, tmp_path):
    """400 on create (a template 100ms does not know): dead-letter
    hms_rejected; a participant whose role the template lacks: validation;
    404 on codes right after the create: retried twice, then hms_rejected."""
    r = shared_redis()
    run = AdminRun(bin_dir, tmp_path)
    run.start()
    tpl = booking("tpl-" + os.urandom(4).hex(), [("alice", "host")],
                  template_id="0123456789abcdef01234567")
    role = booking("role-" + os.urandom(4).hex(), [("alice", "ghost")])
    for e in (tpl, role):
        run.kafka.send(run.t["bc"], e["booking_id"], encode("BookingCreated", e))
    run.kafka.flush()
    dlq = {m.key().decode(): headers(m) for m in run.dlq(2, timeout=30)}
    assert dlq[tpl["booking_id"]]["hms-error-class"] == b"hms_rejected"
    assert b"HTTP 400" in dlq[tpl["booking_id"]]["kafka_dlt-exception-message"]
    assert dlq[role["booking_id"]]["hms-error-class"] == b"validation"
    # codes 404 twice after the create (not yet visible): the third succeeds
    sim.faults({"route": "POST /v2/room-codes/room/*", "rate_404": 1,
                "times": 2})
    run.send_bookings(1)
    assert run.wait_caught_up(r, 30)
    sim.faults({"route": "POST /v2/room-codes/room/*", "rate_404": 1})
    late = booking("gone-" + os.urandom(4).hex(), [("alice", "host")])
    run.kafka.send(run.t["bc"], late["booking_id"], encode("BookingCreated", late))
    run.kafka.flush()
    dead = run.dlq(3, timeout=30)
    assert len(dead) == 3, dead
    m = [m for m in dead if m.key().decode() == late["booking_id"]][0]
    assert headers(m)["hms-error-class"] == b"hms_rejected"
    codes = [x for x in sim.requests_log() if x["room"] == f"bk-{late['booking_id']}"
             and x["route"] == "POST /v2/room-codes/room/{id}"]
    assert len(codes) == 3  # the first try and two retries
    assert wait_for(lambda: run.lag() == 0, 20)
    stop(run)


def test_hls_stop_failure_still_ends(bin_dir, sim, tmp_path):
    """HLS stop failing (5xx past its retries) does not stop the ending:
    end-room, the hash and video-ended go on, with a warning."""
    r = shared_redis()
    run = AdminRun(bin_dir, tmp_path, HMS_RETRY_MAX="1")
    run.start()
    sid = "hls-" + os.urandom(4).hex()
    ev = stream(sid, "host-1", True)
    run.kafka.send(run.t["ss"], sid, encode("StreamStarted", ev))
    run.kafka.flush()
    assert wait_for(lambda: r.exists(f"hms:event:{ev['event_id']}"), 30)
    assert r.hget(f"hms:stream:{sid}", "hls_url")
    sim.faults({"route": "POST /v2/live-streams/room/*/stop", "rate_500": 1})
    end = session_ended("STREAM", sid, lock=False)
    run.kafka.send(run.t["se"], sid, encode("SessionEnded", end))
    run.kafka.flush()
    assert wait_for(lambda: r.exists(f"hms:event:{end['event_id']}"), 30)
    assert r.hget(f"hms:stream:{sid}", "status") == "ended"
    assert "HLS stop failed, ending anyway" in run.log()
    assert len(run.kafka.read(run.t["ve"], lambda m: m, 1, timeout=20)) == 1
    stop(run)


# ---- Kafka produce rows ------------------------------------------------

def test_oversized_input_is_dead_lettered_without_its_value(bin_dir, sim,
                                                           tmp_path):
    """A 2 MB input on a topic that accepts it: its dead letter is larger
    than the producer allows (MSG_SIZE_TOO_LARGE), so it goes without the
    value, with hms-value-dropped and the provenance headers; the worker
    goes on."""
    r = shared_redis()
    run = AdminRun(bin_dir, tmp_path)
    set_topic_config(run.t["bc"], max_message_bytes=3_000_000)
    run.start()
    big = b"\xc3\x01" + os.urandom(2_000_000)
    produce_until_accepted(run.t["bc"], b"huge", big, [("trace", b"t-1")])
    run.send_bookings(2)
    [m] = run.dlq(1, timeout=30)
    h = headers(m)
    assert m.value() in (None, b"") and m.key() == b"huge"
    assert h["hms-value-dropped"] == str(len(big)).encode()
    assert h["hms-error-class"] == b"decode"
    assert h["kafka_dlt-original-topic"] == run.t["bc"].encode()
    assert "kafka_dlt-original-offset" in h and h["trace"] == b"t-1"
    assert run.wait_caught_up(r, 30) and wait_for(lambda: run.lag() == 0, 20)
    assert "dead letter refused, sending it smaller" in run.log()
    # the operator's tools say the value is gone, and do not replay nothing
    hmsctl = lambda *a: subprocess.run(
        [os.path.join(bin_dir, "hmsctl"), "dlq", *a], env=run.env,
        capture_output=True, text=True, timeout=60, check=False)
    assert f"value_dropped={len(big)}" in hmsctl("list").stdout
    replay = hmsctl("replay", "--all")
    assert "lost its value" in replay.stderr and "replayed=0" in replay.stdout
    stop(run)


def test_dead_letter_the_broker_refuses(bin_dir, sim, tmp_path):
    """The DLQ topic takes at most 600 bytes: a 5 KB poison message goes
    without its value (the broker refused the full copy); then at most 100
    bytes: not even a bare dead letter fits, so the message is logged,
    counted (hms_worker_dlq_dropped_total) and skipped -- never an exit."""
    r = shared_redis()
    run = AdminRun(bin_dir, tmp_path)
    set_topic_config(run.t["dlq"], max_message_bytes=600)
    wait_refused(run.t["dlq"], 1000)
    run.start()
    run.kafka.send(run.t["bc"], "p1", b"\x13\x37" + b"x" * 5000)
    run.kafka.flush()
    assert wait_for(lambda: [m for m in run.dlq() if m.key() == b"p1"], 30)
    [m] = [m for m in run.dlq() if m.key() == b"p1"]
    assert m.value() in (None, b"") and headers(m)["hms-value-dropped"] == b"5002"
    set_topic_config(run.t["dlq"], max_message_bytes=100)
    wait_refused(run.t["dlq"], 300)
    run.kafka.send(run.t["bc"], "p2", b"\x13\x37" + b"y" * 5000)
    run.send_bookings(2)
    assert wait_for(lambda: run.metric(
        f'hms_worker_dlq_dropped_total{{topic="{run.t["bc"]}"}}') == 1, 30)
    assert "dead letter refused even bare: skipped" in run.log()
    assert run.wait_caught_up(r, 30) and wait_for(lambda: run.lag() == 0, 20)
    stop(run)


def test_missing_output_topic_halts_until_created(bin_dir, sim, tmp_path):
    """The output topic does not exist: halt (nothing stored, nothing
    dead-lettered, /readyz says which topic); created -> resumes."""
    r = shared_redis()
    missing = "ft-missing-" + os.urandom(4).hex()
    run = AdminRun(bin_dir, tmp_path, TOPIC_VIDEO_READY=missing,
                   KAFKA_PROP_TOPIC_METADATA_PROPAGATION_MAX_MS="1000",
                   KAFKA_PROP_MESSAGE_TIMEOUT_MS="5000")
    run.start()
    run.send_bookings(2)
    assert wait_for(lambda: f"topic {missing} does not exist" in
                    run.readyz()[1], 60), run.readyz()
    assert run.lag() == 2 and run.dlq() == []
    subprocess.run([os.path.join(bin_dir, "mktopics"), BROKERS, f"{missing}:3"],
                   check=True, capture_output=True)
    assert wait_for(lambda: run.lag() == 0, 60), run.log()[-3000:]
    assert run.readyz()[0] == 200 and run.dlq() == []
    assert len(run.kafka.read(missing, lambda m: m, 2, timeout=20)) == 2
    stop(run)


# ---- input rows --------------------------------------------------------

def test_far_future_ends_at_is_invalid(bin_dir, sim, tmp_path):
    """ends_at = Long.MAX_VALUE (a Java "never"): class validation; it once
    made EXPIREAT fail inside EXEC and paused every partition for good."""
    r = shared_redis()
    run = AdminRun(bin_dir, tmp_path)
    run.start()
    bad = booking("far-" + os.urandom(4).hex(), [("alice", "host")],
                  ends_at=INT64_MAX)
    secs = booking("sec-" + os.urandom(4).hex(), [("alice", "host")],
                   starts_at=1790000000, ends_at=None)  # seconds, not ms
    for e in (bad, secs):
        run.kafka.send(run.t["bc"], e["booking_id"], encode("BookingCreated", e))
    run.send_bookings(3)
    dlq = run.dlq(2, timeout=30)
    assert sorted(m.key().decode() for m in dlq) == sorted(
        [bad["booking_id"], secs["booking_id"]])
    assert {headers(m)["hms-error-class"] for m in dlq} == {b"validation"}
    assert run.wait_caught_up(r, 30) and wait_for(lambda: run.lag() == 0, 20)
    assert not r.exists(f"hms:booking:{bad['booking_id']}")
    stop(run)


# ---- Redis rows --------------------------------------------------------

def test_redis_readonly_reconnects_and_waits(bin_dir, sim, tmp_path):
    """READONLY (the primary became a replica, as after a failover): the
    connection is dropped and made again, events wait (nothing
    dead-lettered); writable again -> applied."""
    a = RedisServer(tmp_path, "a")
    b = RedisServer(tmp_path, "b")
    run = AdminRun(bin_dir, tmp_path, REDIS_URL=a.url)
    try:
        run.start()
        run.send_bookings(1)
        assert run.wait_caught_up(a.client, 30)
        a.client.replicaof("127.0.0.1", b.port)
        assert wait_for(lambda: a.client.info("replication")
                        ["master_link_status"] == "up", 30)
        conns = a.client.info("stats")["total_connections_received"]
        run.send_bookings(3)
        assert wait_for(lambda: "READONLY" in run.log(), 30)
        assert wait_for(lambda: a.client.info("stats")
                        ["total_connections_received"] > conns + 1, 30)
        assert "reconnecting to redis" in run.log()
        # the log line comes a moment before the engine publishes readiness
        assert wait_for(lambda: run.readyz()[1].startswith("redis down"), 10)
        assert run.dlq() == []
        a.client.replicaof("no", "one")  # its data is B's now: empty
        stop_after_the_rest(run, a.client)
    finally:
        run.stop_all()
        a.stop()
        b.stop()


def test_redis_down_one_connection_backoff(bin_dir, sim, tmp_path):
    """Redis down with 300 events parked, each at its own moment: the cache
    makes one connection attempt per backoff step (100 ms doubling to 2 s),
    however many events wait -- not one per event per second (a reconnect
    storm, each attempt a blocking DNS lookup on the engine thread).
    Counted twice: attempts the worker makes
    (hms_worker_redis_connects_total) while the port refuses, and
    connections accepted by a listener that closes them at once. Redis back
    on the port: every event is applied, nothing dead-lettered."""
    a = RedisServer(tmp_path, "a")
    # a name: resolved by the cache once per connection failure at most
    run = AdminRun(bin_dir, tmp_path,
                   REDIS_URL=f"redis://localhost:{a.port}/0")
    counter = b = None

    def in_100ms():
        return sum(run.metric(f'hms_worker_engine_events{{state="{s}"}}')
                   for s in ("create_room", "codes"))

    try:
        run.start()
        run.send_bookings(1)
        assert run.wait_caught_up(a.client, 30)
        # loaded, then 0.5 to 3 s in 100ms calls each: they reach Redis
        # again, and find it down, at moments of their own
        sim.faults({"route": "POST /v2/*", "latency_ms": 500,
                    "jitter_ms": 2500})
        run.send_bookings(300)
        assert wait_for(lambda: in_100ms() >= 300, 30), run.log()[-3000:]
        a.kill()  # the port refuses now
        assert wait_for(lambda: "redis unavailable, waiting" in run.log(), 10)
        assert wait_for(lambda: run.readyz()[1].startswith("redis down"), 10)
        assert wait_for(lambda: in_100ms() == 0, 30)
        time.sleep(2)  # the backoff reaches its cap
        n0 = run.metric("hms_worker_redis_connects_total")
        time.sleep(3)
        refused = run.metric("hms_worker_redis_connects_total") - n0
        assert 1 <= refused <= 5, f"{refused} connection attempts in 3 s"
        counter = AcceptCounter(a.port)
        time.sleep(2)  # the backoff reaches its cap again
        n0 = counter.accepts
        time.sleep(3)
        accepted = counter.accepts - n0
        assert 1 <= accepted <= 5, f"{accepted} connections in 3 s"
        counter.close()
        counter = None
        b = RedisServer(tmp_path, "b", port=a.port)
        stop_after_the_rest(run, b.client)
    finally:
        if counter is not None:
            counter.close()
        run.stop_all()
        a.stop()
        if b is not None:
            b.stop()


def test_redis_oom_waits(bin_dir, sim, tmp_path):
    """OOM (maxmemory reached, noeviction): events wait, nothing
    dead-lettered; memory back -> applied."""
    a = RedisServer(tmp_path, "a", "--maxmemory-policy", "noeviction")
    run = AdminRun(bin_dir, tmp_path, REDIS_URL=a.url)
    try:
        run.start()
        a.client.config_set("maxmemory", "1")
        run.send_bookings(2)
        assert wait_for(lambda: "OOM" in run.log(), 30)
        assert run.applied(a.client) == 0 and run.dlq() == []
        assert wait_for(lambda: run.readyz()[1].startswith("redis down"), 20)
        a.client.config_set("maxmemory", "0")
        assert run.wait_caught_up(a.client, 30), run.log()[-3000:]
        assert wait_for(lambda: run.lag() == 0, 20) and run.dlq() == []
        stop(run)
    finally:
        run.stop_all()
        a.stop()


def test_redis_noperm_halts_until_granted(bin_dir, sim, tmp_path):
    """NOPERM (the worker's ACL user lacks EXPIREAT): halt with the reason
    on /readyz, nothing applied or dead-lettered; granted -> resumes."""
    a = RedisServer(tmp_path, "a")
    a.client.execute_command("ACL", "SETUSER", "hmsw", "on", ">s3cret-acl",
                             "~hms:*", "+@all", "-expireat")
    run = AdminRun(bin_dir, tmp_path,
                   REDIS_URL=f"redis://hmsw:s3cret-acl@127.0.0.1:{a.port}/0")
    try:
        run.start()
        run.send_bookings(2)
        assert wait_for(lambda: "halted" in run.readyz()[1], 30), run.readyz()
        assert "redis refuses the worker" in run.readyz()[1]
        assert "NOPERM" in run.readyz()[1]
        assert run.applied(a.client) == 0 and run.dlq() == [] and run.lag() == 2
        a.client.execute_command("ACL", "SETUSER", "hmsw", "+expireat")
        assert run.wait_caught_up(a.client, 30), run.log()[-3000:]
        assert wait_for(lambda: run.readyz()[0] == 200, 20), run.readyz()
        assert wait_for(lambda: run.lag() == 0, 20) and run.dlq() == []
        assert "s3cret-acl" not in run.log()
        stop(run)
    finally:
        run.stop_all()
        a.stop()


def test_redis_wrongtype_dead_letters_that_event(bin_dir, sim, tmp_path):
    """WRONGTYPE (another writer put a string at the subject's key): that
    event goes to the DLQ with class redis_wrongtype; the others apply."""
    r = shared_redis()
    run = AdminRun(bin_dir, tmp_path)
    e = booking("wt-" + os.urandom(4).hex(), [("alice", "host")])
    r.set(f"hms:booking:{e['booking_id']}", "not a hash", ex=600)
    run.start()
    run.kafka.send(run.t["bc"], e["booking_id"], encode("BookingCreated", e))
    run.send_bookings(3)
    [m] = run.dlq(1, timeout=30)
    assert m.key().decode() == e["booking_id"]
    assert headers(m)["hms-error-class"] == b"redis_wrongtype"
    assert b"WRONGTYPE" in headers(m)["kafka_dlt-exception-message"]
    assert run.wait_caught_up(r, 30) and wait_for(lambda: run.lag() == 0, 20)
    assert r.get(f"hms:booking:{e['booking_id']}") == "not a hash"
    stop(run)


@pytest.mark.parametrize("field", ["room_id", "code:guest"])
def test_tampered_hash_is_dead_lettered(bin_dir, sim, tmp_path, field):
    """A value of the subject's hash that the worker did not write (here
    another room's id behind "../rooms/", or another room's code with a
    slash: frontends share this Redis) never reaches 100ms: the
    session-ended (lock, so the room and its codes would be disabled) is
    dead-lettered redis_tampered with a warning; nothing is called, the
    other room stays enabled, the hash is not ended, the offset moves on."""
    r = shared_redis()
    run = AdminRun(bin_dir, tmp_path)
    victim = sim.room(f"victim-{os.urandom(4).hex()}")
    vcodes = sim.call("POST", f"/v2/room-codes/room/{victim['id']}").json()
    vcode = vcodes["data"][0]["code"]
    try:
        run.start()
        run.send_bookings(1)
        assert run.wait_caught_up(r, 30), run.log()[-3000:]
        bid = run.events[0]["booking_id"]
        key = f"hms:booking:{bid}"
        bad = (f"../rooms/{victim['id']}" if field == "room_id"
               else f"{vcode}/../x")
        r.hset(key, field, bad)
        seen = max(x["seq"] for x in sim.requests_log())
        end = session_ended("BOOKING", bid, lock=True)
        run.kafka.send(run.t["se"], bid, encode("SessionEnded", end))
        run.kafka.flush()
        [m] = run.dlq(1, timeout=30)
        assert headers(m)["hms-error-class"] == b"redis_tampered"
        msg = headers(m)["kafka_dlt-exception-message"].decode()
        assert key in msg and field in msg and bad not in msg, msg
        assert wait_for(lambda: run.lag() == 0, 20)
        assert sim.requests_log(since=seen) == []  # no call at all, bad or not
        assert sim.call("GET", f"/v2/rooms/{victim['id']}").json()["enabled"]
        assert r.hget(key, "status") == "ready" and r.hget(key, field) == bad
        assert not r.exists(f"hms:event:{end['event_id']}")
        assert run.kafka.read(run.t["ve"], lambda m: m, 1, timeout=3) == []
        assert "hash value the worker did not write" in run.log()
        stop(run)
    finally:
        run.stop_all()  # a failed assert leaves no worker behind


def test_redis_cluster_halts_with_a_message(bin_dir, sim, tmp_path):
    """Redis Cluster (here one node owning every slot): a write touching
    several keys gets CROSSSLOT; the worker halts saying Cluster is not
    supported -- it does not read that as "Redis down" forever."""
    a = RedisServer(tmp_path, "a", "--cluster-enabled", "yes",
                    "--cluster-config-file", str(tmp_path / "nodes.conf"),
                    "--cluster-port", str(free_port()))
    a.client.execute_command("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
    assert wait_for(lambda: a.client.execute_command("CLUSTER", "INFO")
                    .startswith("cluster_state:ok"), 30)
    run = AdminRun(bin_dir, tmp_path, REDIS_URL=a.url)
    try:
        run.start()
        run.send_bookings(1)
        assert wait_for(lambda: "Redis Cluster is not supported" in
                        run.readyz()[1], 30), (run.readyz(), run.log()[-2000:])
        assert run.dlq() == [] and run.lag() == 1
        stop(run)
    finally:
        run.stop_all()
        a.stop()


def test_redis_unknown_error(bin_dir, sim, tmp_path):
    """An error reply the worker does not know (here EXPIREAT is renamed
    away, as some proxies lack it): retried; if Redis took other writes
    meanwhile (a PHYSICAL booking's marker), the refused events are their
    own failure: dead-lettered as redis_rejected; if no write of anyone
    gets through, a halt that quotes the error -- nothing dead-lettered."""
    a = RedisServer(tmp_path, "a", "--rename-command", "EXPIREAT", "")
    run = AdminRun(bin_dir, tmp_path, REDIS_URL=a.url)
    try:
        run.start()
        run.send_bookings(2)
        assert wait_for(lambda: "unknown command" in run.log(), 20)
        phys = booking("ph-" + os.urandom(4).hex(), [], mode="PHYSICAL")
        run.kafka.send(run.t["bc"], phys["booking_id"],  # while they retry
                       encode("BookingCreated", phys))
        run.kafka.flush()
        dead = run.dlq(2, timeout=30)
        assert len(dead) == 2, run.log()[-3000:]
        assert {headers(m)["hms-error-class"] for m in dead} == {
            b"redis_rejected"}
        assert a.client.exists(f"hms:event:{phys['event_id']}")
        assert wait_for(lambda: run.lag() == 0, 20)
        run.send_bookings(2)  # nobody else writes now
        assert wait_for(lambda: "halted" in run.readyz()[1], 30), run.readyz()
        assert "unknown command" in run.readyz()[1], run.readyz()
        assert len(run.dlq()) == 2 and run.lag() == 2
        stop(run)
    finally:
        run.stop_all()
        a.stop()


def test_session_ended_wrongtype_inside_exec(bin_dir, sim, tmp_path):
    """A command failing inside EXEC (the key turned into a string between
    the read and the write) fails the whole write: dead-lettered as
    redis_wrongtype, never reported as applied."""
    r = shared_redis()
    run = AdminRun(bin_dir, tmp_path, LOG_LEVEL="debug")
    run.start()
    run.send_bookings(1)
    assert run.wait_caught_up(r, 30)
    bid = run.events[0]["booking_id"]
    sim.faults({"route": "POST /v2/active-rooms/*", "latency_ms": 3000})
    end = session_ended("BOOKING", bid, lock=False)
    run.kafka.send(run.t["se"], bid, encode("SessionEnded", end))
    run.kafka.flush()
    # "event in": the hash is read right after, then end-room waits 3 s
    assert wait_for(lambda: f"event_id={end['event_id']}" in run.log(), 20)
    time.sleep(0.5)
    r.delete(f"hms:booking:{bid}")
    r.set(f"hms:booking:{bid}", "taken", ex=600)
    [m] = run.dlq(1, timeout=30)
    assert headers(m)["hms-error-class"] == b"redis_wrongtype"
    assert b"in EXEC: WRONGTYPE" in headers(m)["kafka_dlt-exception-message"]
    assert not r.exists(f"hms:event:{end['event_id']}")
    assert run.kafka.read(run.t["ve"], lambda m: m, 1, timeout=3) == []
    assert wait_for(lambda: run.lag() == 0, 20)
    stop(run)


# ---- Kafka consume rows ------------------------------------------------

def test_missing_input_topic_is_logged_and_the_rest_flows(bin_dir, sim,
                                                          tmp_path):
    """An input topic that does not exist: logged at error, the worker keeps
    consuming the others (and would pick the topic up once created)."""
    r = shared_redis()
    run = AdminRun(bin_dir, tmp_path,
                   TOPIC_STREAM_STARTED="ft-none-" + os.urandom(4).hex())
    run.start()
    run.send_bookings(2)
    assert run.wait_caught_up(r, 30)
    assert wait_for(lambda: "UNKNOWN_TOPIC_OR_PART" in run.log(), 20)
    stop(run)


def test_consumer_fatal_error_stops(bin_dir, sim, tmp_path):
    """A fatal consumer error (here: fenced by a second member with the same
    group.instance.id) stops the worker: exit 1, nothing stored for it."""
    run = AdminRun(bin_dir, tmp_path, KAFKA_PROP_GROUP_INSTANCE_ID="same-one")
    first = run.start()
    run.env["ADMIN_ADDR"] = "off"  # the first one's port is taken
    second = run.start()
    assert first.wait(timeout=60) == 1
    assert "FATAL" in run.log(0) or "fatal" in run.log(0)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0


# ---- configuration rows ------------------------------------------------

def test_cooperative_assignor_is_refused(run_bin):
    """librdkafka 2.0.2's cooperative mode is unsafe (README, Scaling out):
    refused at start, exit 2, saying why."""
    r = run_bin("hms-worker", "--check-config", env_extra={
        "KAFKA_PROP_PARTITION_ASSIGNMENT_STRATEGY": "cooperative-sticky"})
    assert r.returncode == 2
    assert "cooperative-sticky is not supported" in r.stderr


def test_sigterm_while_halted_exits_0(bin_dir, sim, tmp_path):
    """Halted is not stuck: SIGTERM still ends the worker cleanly, with the
    halted events' offsets unstored (they are redone after the restart)."""
    run = AdminRun(bin_dir, tmp_path, SHUTDOWN_TIMEOUT_MS="2000")
    sim.faults({"route": "POST /v2/rooms", "rate_403": 1.0})
    w = run.start()
    run.send_bookings(2)
    assert wait_for(lambda: "halted" in run.readyz()[1], 30)
    w.send_signal(signal.SIGTERM)
    assert w.wait(timeout=30) == 0
    assert run.lag() == 2
