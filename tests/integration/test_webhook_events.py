"""What 100ms reports through its webhooks, applied (docs/contract.md
sections 1, 3 and 4): webhooks stored in the webhooks topic (as the
listener stores them) reach the subject's Redis hash -- the session and
who attended -- each change PUBLISHed on the subject's channel and told
in one video-session event, applied once however often it comes, in
order with the subject's own events."""
import json
import os
import subprocess
import uuid
from datetime import datetime

import redis

from conftest import free_port
from fault_harness import uid
from reactions import AdminRun, headers
from worker_helpers import booking, decode, encode, now_ms, wait_for


def hook(kind, room_id, room_name, **data):
    return {"version": "2.0", "id": str(uuid.uuid4()), "app_id": "a",
            "account_id": "c", "template_id": "t",
            "timestamp": "2026-12-01T10:00:00Z", "type": kind,
            "data": {"room_id": room_id, "room_name": room_name, **data}}


def hook_run(bin_dir, tmp_path, **env):
    """A worker that consumes a webhooks topic of its own; not started."""
    topic = uid("ft-hooks")
    subprocess.run([os.path.join(bin_dir, "mktopics"),
                    os.environ["KAFKA_BROKERS"], f"{topic}:3"],
                   check=True, capture_output=True)
    return AdminRun(bin_dir, tmp_path, WEBHOOK_EVENTS="1",
                    TOPIC_WEBHOOKS=topic, **env), topic


def sim_hooked_run(bin_dir, tmp_path, sim, sim_cfg=None, **env):
    """hook_run, its listener receiving hms-sim's webhooks (a secret header
    of its own); not started. The sim fixture resets the sim's settings."""
    port = free_port()
    secret = uuid.uuid4().hex
    run, topic = hook_run(bin_dir, tmp_path, WEBHOOK_ADDR=f"127.0.0.1:{port}",
                          WEBHOOK_SECRET_HEADERS=f"X-Hook-Secret: {secret}",
                          **env)
    sim.config(webhook_url=f"http://127.0.0.1:{port}/hms/webhooks",
               webhook_headers={"X-Hook-Secret": secret}, **(sim_cfg or {}))
    return run, topic


def shared_redis():
    return redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)


def ms(rfc3339):
    """An RFC 3339 UTC time as Unix epoch ms (what the worker reads)."""
    return round(datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
                 .timestamp() * 1000)


def sessions(run, count, timeout=30):
    """The video-session events so far, (key, record), up to count."""
    return run.kafka.read(run.t["vs"], lambda m: (
        m.key().decode(), decode("VideoSession", m.value())), count,
        timeout=timeout)


def dropped(run, webhook_id):
    """How often the worker found webhook_id applied already."""
    return sum(1 for line in run.log().splitlines()
               if "duplicate, already applied" in line
               and line.endswith(f"event_id={webhook_id}"))


def told(rec, bid, room):
    """What every video-session of booking bid's room says alike."""
    uuid.UUID(rec["event_id"])
    assert rec["subject_kind"] == "BOOKING" and rec["subject_id"] == bid
    assert rec["room_id"] == room
    assert abs(rec["occurred_at"] - now_ms()) < 600_000


def test_sessions_and_attendance_reach_the_hash(bin_dir, sim, tmp_path):
    run, topic = hook_run(bin_dir, tmp_path)
    rds = shared_redis()
    run.start()
    try:
        bid = uid("wh-bk")
        ev = booking(bid, [("alice", "host"), ("bob", "guest")])
        run.kafka.send(run.t["bc"], bid, encode("BookingCreated", ev))
        run.kafka.flush()
        [r] = run.kafka.read(run.t["vr"],
                             lambda m: decode("VideoReady", m.value()), 1)
        room, name = r["room_id"], r["room_name"]
        sub = rds.pubsub()
        sub.subscribe(f"hms:events:booking:{bid}")
        assert sub.get_message(timeout=5)["type"] == "subscribe"
        hooks = [
            hook("session.open.success", room, name, session_id="s-1",
                 session_started_at="2026-12-01T10:00:00Z"),
            hook("peer.join.success", room, name, user_id="alice",
                 peer_id="p-a", role="host",
                 joined_at="2026-12-01T10:00:01.250Z"),
            # bob's leave comes before his join: he is not "present"
            hook("peer.leave.success", room, name, user_id="bob",
                 peer_id="p-b", left_at="2026-12-01T10:20:00Z",
                 reason="client request", duration=900),
            hook("peer.join.success", room, name, user_id="bob",
                 peer_id="p-b", role="guest",
                 joined_at="2026-12-01T10:05:00Z"),
            hook("peer.leave.success", room, name, user_id="alice",
                 peer_id="p-a", left_at="2026-12-01T10:30:00Z"),
            hook("peer.join.success", room, name, user_id="alice",
                 peer_id="p-a2", joined_at="2026-12-01T10:31:00Z"),
            hook("session.close.success", room, name, session_id="s-1",
                 session_stopped_at="2026-12-01T11:00:00Z",
                 session_duration=3600),
            hook("recording.success", room, name, session_id="s-1",
                 session_stopped_at="2026-12-01T11:00:00Z", duration=3600,
                 recording_path="s3://bucket/rec/s-1.mp4",
                 recording_presigned_url="https://storage.test/s-1.mp4?sig=x",
                 size=1024),
        ]
        for h in hooks + [hooks[1]]:  # the second join of alice: a retry
            run.kafka.send(topic, room, json.dumps(h).encode())
        # a room that is not ours, and a body that is not a webhook
        run.kafka.send(topic, "x", json.dumps(
            hook("peer.join.success", "6a1b000000000000000000ff", "other",
                 user_id="u", joined_at="2026-12-01T10:00:00Z")).encode())
        run.kafka.send(topic, "y", b"{not json")
        run.kafka.flush()
        key = f"hms:booking:{bid}"
        assert wait_for(lambda: "recording_url" in rds.hgetall(key),
                        30), rds.hgetall(key)
        h = rds.hgetall(key)
        assert h["recording_path"] == "s3://bucket/rec/s-1.mp4"
        assert h["recording_url"] == "https://storage.test/s-1.mp4?sig=x"
        assert h["recording_duration_s"] == "3600"
        assert h["session_status"] == "ended"
        assert h["status"] == "ready" and h["session_id"] == "s-1"
        assert h["session_started_at"] == "1796119200000"
        assert h["session_ended_at"] == "1796122800000"
        assert h["joined:alice"] == "1796119201250"
        assert h["left:alice"] == "1796121000000"
        # alice came back at 10:31; the session's close took her out
        assert not [k for k in h if k.startswith("present:")]
        assert h["joined:bob"] == "1796119500000"
        assert h["left:bob"] == "1796120400000" and "present:bob" not in h
        msgs = []
        while len(msgs) < len(hooks):
            m = sub.get_message(timeout=5)
            assert m is not None, msgs
            msgs.append(json.loads(m["data"]))
        assert [m["webhook_id"] for m in msgs] == [x["id"] for x in hooks]
        assert msgs[1] == {"type": "peer.join.success",
                           "webhook_id": hooks[1]["id"],
                           "at": 1796119201250, "user_id": "alice"}
        assert sub.get_message(timeout=2) is None  # the retry: applied once
        [dl] = run.dlq(1, timeout=30)
        assert dl.value() == b"{not json"
        assert headers(dl)["hms-error-class"] == b"decode"
        assert wait_for(lambda: run.metric(
            "hms_worker_webhooks_foreign_total") == 1, 10)
        assert wait_for(lambda: run.lag() == 0, 30)
        # one video-session per webhook applied, in order, caused by it;
        # the retry of alice's join told nothing more
        got = sessions(run, len(hooks) + 1, timeout=10)
        assert len(got) == len(hooks), got
        for (k, rec), sent in zip(got, hooks):
            assert k == bid and rec["causation_id"] == sent["id"]
            told(rec, bid, room)
        want = [  # type, session, user, role, at, url, duration_s, reason
            ("SESSION_STARTED", "s-1", None, None, "2026-12-01T10:00:00Z",
             None, None, None),
            ("PEER_JOINED", None, "alice", "host", "2026-12-01T10:00:01.250Z",
             None, None, None),
            ("PEER_LEFT", None, "bob", None, "2026-12-01T10:20:00Z", None, 900,
             "client request"),
            ("PEER_JOINED", None, "bob", "guest", "2026-12-01T10:05:00Z",
             None, None, None),
            ("PEER_LEFT", None, "alice", None, "2026-12-01T10:30:00Z", None,
             None, None),
            ("PEER_JOINED", None, "alice", None, "2026-12-01T10:31:00Z", None,
             None, None),
            ("SESSION_ENDED", "s-1", None, None, "2026-12-01T11:00:00Z", None,
             3600, None),
            ("RECORDING_READY", "s-1", None, None, "2026-12-01T11:00:00Z",
             "https://storage.test/s-1.mp4?sig=x", 3600, None),
        ]
        assert [(r["type"], r["session_id"], r["user_id"], r["role"], r["at"],
                 r["url"], r["duration_s"], r["reason"]) for _, r in got] == [
            (t, s, u, ro, ms(at), url, d, re)
            for t, s, u, ro, at, url, d, re in want]
        # marked once told; replayed by 100ms (same id), it tells nothing
        assert all(rds.exists(f"hms:event:{h['id']}") for h in hooks)
        assert dropped(run, hooks[1]["id"]) == 1  # the retry
        replay = dict(hooks[0], is_replay=True)
        run.kafka.send(topic, room, json.dumps(replay).encode())
        run.kafka.flush()
        assert wait_for(lambda: dropped(run, hooks[0]["id"]) == 1, 30)
        assert len(sessions(run, len(hooks) + 1, timeout=5)) == len(hooks)
        # provisioned again (bob is no longer listed): what 100ms reported
        # stays, what the booking said is replaced
        again = booking(bid, [("alice", "host")])
        run.kafka.send(run.t["bc"], bid, encode("BookingCreated", again))
        run.kafka.flush()
        run.kafka.read(run.t["vr"], lambda m: decode("VideoReady", m.value()),
                       2)  # from the start: the first one, then this one
        h2 = rds.hgetall(key)
        assert h2["event_id"] == again["event_id"] and "role:bob" not in h2
        assert {k: v for k, v in h2.items() if k.split(":")[0] in (
            "joined", "left", "session_id", "session_status")} == {
            k: v for k, v in h.items() if k.split(":")[0] in (
                "joined", "left", "session_id", "session_status")}
    finally:
        assert run.stop_all() == [0]


def test_marker_waits_for_the_video_session(bin_dir, sim, tmp_path):
    """Contract section 3, order and duplicates: a webhook is marked applied
    only once its video-session is delivered. The topic missing, the hash
    is written but the webhook stays unmarked (halted, /readyz says why);
    created, the event goes out once and the marker follows."""
    missing = "ft-missing-vs-" + os.urandom(4).hex()
    run, topic = hook_run(bin_dir, tmp_path, TOPIC_VIDEO_SESSION=missing,
                          KAFKA_PROP_TOPIC_METADATA_PROPAGATION_MAX_MS="1000",
                          KAFKA_PROP_MESSAGE_TIMEOUT_MS="5000")
    rds = shared_redis()
    run.start()
    try:
        bid = uid("wh-mk")
        run.kafka.send(run.t["bc"], bid, encode("BookingCreated", booking(
            bid, [("alice", "host")])))
        run.kafka.flush()
        [r] = run.kafka.read(run.t["vr"],
                             lambda m: decode("VideoReady", m.value()), 1)
        h = hook("session.open.success", r["room_id"], r["room_name"],
                 session_id="s-9", session_started_at="2026-12-01T10:00:00Z")
        run.kafka.send(topic, r["room_id"], json.dumps(h).encode())
        run.kafka.flush()
        assert wait_for(lambda: f"topic {missing} does not exist" in
                        run.readyz()[1], 60), run.readyz()
        assert rds.hget(f"hms:booking:{bid}", "session_status") == "live"
        assert not rds.exists(f"hms:event:{h['id']}")
        subprocess.run([os.path.join(bin_dir, "mktopics"),
                        os.environ["KAFKA_BROKERS"], f"{missing}:3"],
                       check=True, capture_output=True)
        assert wait_for(lambda: rds.exists(f"hms:event:{h['id']}"), 60), \
            run.log()[-3000:]
        got = run.kafka.read(missing, lambda m: decode("VideoSession",
                                                       m.value()), 2, timeout=5)
        assert [(x["type"], x["causation_id"]) for x in got] == [
            ("SESSION_STARTED", h["id"])]
        assert run.readyz()[0] == 200 and run.dlq() == []
    finally:
        assert run.stop_all() == [0]


def test_a_room_reaches_redis_through_100ms_webhooks(bin_dir, sim, tmp_path):
    """End to end: people join and leave a room in hms-sim, which sends
    100ms's webhooks (duplicated now and then) to the worker's listener;
    the listener stores them in Kafka, the worker applies them, and a
    subscriber hears every change."""
    run, _ = sim_hooked_run(bin_dir, tmp_path, sim, {
        "webhook_faults": {"duplicate_rate": 0.5, "seed": 3}})
    rds = shared_redis()
    run.start()
    try:
        bid = uid("wh-e2e")
        ev = booking(bid, [("alice", "host"), ("bob", "guest")])
        run.kafka.send(run.t["bc"], bid, encode("BookingCreated", ev))
        run.kafka.flush()
        [r] = run.kafka.read(run.t["vr"],
                             lambda m: decode("VideoReady", m.value()), 1)
        key = f"hms:booking:{bid}"
        sub = rds.pubsub()
        sub.subscribe(f"hms:events:booking:{bid}")
        assert sub.get_message(timeout=5)["type"] == "subscribe"
        peers = {}
        for user in ("alice", "bob"):
            tok = rds.get(f"hms:token:{r['room_id']}:{user}")
            j = sim.admin_raw("POST", "join", json={"token": tok, "name": user})
            assert j.status_code == 200, j.text
            peers[user] = j.json()["peer_id"]
        assert wait_for(lambda: "present:bob" in rds.hgetall(key), 30), \
            rds.hgetall(key)
        h = rds.hgetall(key)
        assert h["session_status"] == "live" and "present:alice" in h
        sim.admin("POST", "leave", json={"peer_id": peers["alice"]})
        sim.admin("POST", "leave", json={"peer_id": peers["bob"]})
        assert wait_for(lambda: rds.hget(key, "session_status") == "ended",
                        30), rds.hgetall(key)
        h = rds.hgetall(key)
        assert {"joined:alice", "left:alice", "joined:bob",
                "left:bob"} <= set(h)
        assert not [k for k in h if k.startswith("present:")]
        types = []
        while True:
            m = sub.get_message(timeout=3)
            if m is None:
                break
            types.append(json.loads(m["data"])["type"])
        # session open and close, two joins, two leaves: once each, however
        # often the simulator sent them
        assert sorted(types) == sorted(
            ["session.open.success", "peer.join.success",
             "peer.join.success", "peer.leave.success",
             "peer.leave.success", "session.close.success"]), types
        sent = sim.admin("GET", "webhooks")
        assert sent["data"] and all(x["status"] == 200 for x in sent["data"]
                                    if x["room_id"] == r["room_id"])
        # one video-session per reaction, however often it was sent, each
        # caused by its webhook and saying what the hash says
        got = [rec for _, rec in sessions(run, 7, timeout=10)]
        assert len(got) == 6, got
        assert len({x["causation_id"] for x in got}) == 6
        assert {x["session_id"] for x in got} == {h["session_id"]}
        for rec in got:
            told(rec, bid, r["room_id"])
        by = {(x["type"], x["user_id"]): x for x in got}
        assert sorted(by) == sorted([
            ("SESSION_STARTED", None), ("PEER_JOINED", "alice"),
            ("PEER_JOINED", "bob"), ("PEER_LEFT", "alice"),
            ("PEER_LEFT", "bob"), ("SESSION_ENDED", None)])
        assert by[("SESSION_STARTED", None)]["at"] == int(
            h["session_started_at"])
        assert by[("SESSION_ENDED", None)]["at"] == int(h["session_ended_at"])
        for user, role in (("alice", "host"), ("bob", "guest")):
            joined, left = by[("PEER_JOINED", user)], by[("PEER_LEFT", user)]
            assert joined["role"] == left["role"] == role
            assert joined["at"] == int(h[f"joined:{user}"])
            assert left["at"] == int(h[f"left:{user}"])
            assert left["reason"] == "client request"
            assert left["duration_s"] is not None and left["duration_s"] >= 0
        assert all(x["url"] is None for x in got)
        # the webhooks the simulator sent are the causes
        ids = {x["id"] for x in sent["data"] if x["room_id"] == r["room_id"]}
        assert {x["causation_id"] for x in got} <= ids
        # 100ms replays the room's webhooks (same ids, is_replay): each is
        # found applied and tells nothing again
        before = {i: dropped(run, i) for i in ids}
        rep = sim.admin("POST", "webhooks/replay",
                        json={"room_id": r["room_id"]})
        assert rep["replayed"] >= 6 and rep["missing"] == []
        assert wait_for(lambda: all(dropped(run, i) > before[i] for i in ids),
                        60), {i: (before[i], dropped(run, i)) for i in ids}
        assert len(sessions(run, 7, timeout=5)) == 6
    finally:
        assert run.stop_all() == [0]
