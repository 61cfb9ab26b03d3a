"""The room's life as 100ms reports it (docs/contract.md section 3,
webhook): with 100ms's webhooks consumed, a stream's HLS starts when its
host joins (HMS_HLS_START=on_join, the default then), its URL is
published when hls.started.success says the stream runs and removed when
hls.stopped.success says it stopped; a composer that fails is started
again a bounded number of times; a booking whose session closes after
its window is cleaned up (CLEANUP_ON_CLOSE). Rooms are driven through
hms-sim, which sends the webhooks as 100ms does."""
import json
import time

import pytest

from fault_harness import uid
from test_webhook_events import shared_redis, sim_hooked_run
from worker_helpers import booking, decode, encode, now_ms, stream, wait_for

SUB = "hmsworker"  # the subdomain of hms-sim's built-in template


@pytest.fixture
def hooked(bin_dir, sim, tmp_path):
    """Starts a worker whose listener receives the sim's webhooks and
    which consumes them; the sim's reset restores its settings."""
    runs = []

    def start(sim_cfg, **env):
        run, _ = sim_hooked_run(bin_dir, tmp_path, sim, sim_cfg,
                                HMS_SUBDOMAIN=SUB, **env)
        run.start()
        runs.append(run)
        return run

    yield start
    for run in runs:
        assert run.stop_all() == [0]


def streams_of(sim, room_id):
    r = sim.call("GET", f"/v2/live-streams?room_id={room_id}")
    assert r.status_code == 200, r.text
    return r.json()["data"]


def provision(run):
    sid = uid("hls-wh")
    ev = stream(sid, "host-1", True)
    run.kafka.send(run.t["ss"], sid, encode("StreamStarted", ev))
    run.kafka.flush()
    [r] = run.kafka.read(run.t["vr"], lambda m: decode("VideoReady", m.value()),
                         1, timeout=60)
    return sid, r


def told(run, subject_id, types, timeout=30):
    """The video-session events of subject_id, once those of every type in
    types are there (or the timeout passes)."""
    def keep(m):
        v = decode("VideoSession", m.value())
        return v if v["subject_id"] == subject_id else None
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = run.kafka.read(run.t["vs"], keep, 1000, timeout=1)
        if all(sum(g["type"] == t for g in got) >= types.count(t)
               for t in types):
            break
    return got


def ready_booking(run, bid, people, **over):
    """Sends a booking-created; its video-ready."""
    run.kafka.send(run.t["bc"], bid,
                   encode("BookingCreated", booking(bid, people, **over)))
    run.kafka.flush()
    [r] = run.kafka.read(run.t["vr"], lambda m: decode("VideoReady", m.value()),
                         1, timeout=60)
    return r


def join(sim, rds, r, user):
    """user joins r's room with the token the worker cached; the peer id."""
    tok = rds.get(f"hms:token:{r['room_id']}:{user}")
    j = sim.admin_raw("POST", "join", json={"token": tok, "name": user})
    assert j.status_code == 200, j.text
    return j.json()["peer_id"]


def test_hls_starts_when_the_host_joins_and_goes_when_it_stops(hooked, sim):
    """No composer alone in an empty room: nothing starts at provisioning;
    the host's join starts it, hls.started.success publishes the URL, and
    when the composer stops (5 minutes alone after the host left; 5 s at
    the sim's time scale) hls.stopped.success removes it."""
    run = hooked({"hls_running_after_ms": 300, "time_scale": 60})
    rds = shared_redis()
    sid, r = provision(run)
    key = f"hms:stream:{sid}"
    assert r["hls_url"] is None and streams_of(sim, r["room_id"]) == []
    assert rds.hget(key, "hls_requested") == "1"
    sub = rds.pubsub()
    sub.subscribe(f"hms:events:stream:{sid}")
    assert sub.get_message(timeout=5)["type"] == "subscribe"
    peer = join(sim, rds, r, "host-1")
    assert wait_for(lambda: rds.hget(key, "hls_url") is not None, 30), \
        rds.hgetall(key)
    [st] = streams_of(sim, r["room_id"])
    assert st["status"] == "running"
    assert rds.hget(key, "hls_url") == st["playback"]["url"]
    assert rds.hget(key, "hls_stream_id") == st["id"]
    sim.admin("POST", "leave", json={"peer_id": peer})
    assert wait_for(lambda: rds.hget(key, "hls_url") is None, 30), \
        rds.hgetall(key)
    assert [s["status"] for s in streams_of(sim, r["room_id"])] == ["completed"]
    assert rds.hget(key, "status") == "ready"
    types = []
    while (m := sub.get_message(timeout=3)) is not None:
        types.append(json.loads(m["data"])["type"])
    assert "hls.started.success" in types and "hls.stopped.success" in types
    assert run.metric("hms_worker_hls_cleared_total") == 0  # webhooks did it
    got = told(run, sid, ["HLS_STARTED", "HLS_STOPPED"])
    [on] = [g for g in got if g["type"] == "HLS_STARTED"]
    [off] = [g for g in got if g["type"] == "HLS_STOPPED"]
    assert on["url"] == off["url"] == st["playback"]["url"]
    assert on["room_id"] == r["room_id"] and on["subject_kind"] == "STREAM"
    assert off["reason"] == "last peer left" and off["at"] >= on["at"]


def test_a_failing_composer_is_started_again_then_given_up(hooked, sim):
    """A composer that cannot join (a role it lacks) fails with
    hls.failure: the worker starts it again HMS_HLS_RETRIES times, then
    gives up and says so; no URL is ever published."""
    run = hooked({"hls_running_after_ms": 300}, HMS_HLS_COMPOSER_ROLE="beam",
                 HMS_HLS_RETRIES="2")
    rds = shared_redis()
    sid, r = provision(run)
    key = f"hms:stream:{sid}"
    join(sim, rds, r, "host-1")
    assert wait_for(lambda: run.metric(
        "hms_worker_hls_start_failures_total") == 1, 30), rds.hgetall(key)
    streams = streams_of(sim, r["room_id"])
    assert [s["status"] for s in streams] == ["failed"] * 3, streams
    h = rds.hgetall(key)
    assert "hls_url" not in h and h["hls_retries"] == "2"
    assert h["hls_error"] == "MAX_RETRIES_REACHED"
    assert "HLS failed again: given up" in run.log()
    failed = [g for g in told(run, sid, ["HLS_FAILED"] * 3)
              if g["type"] == "HLS_FAILED"]
    assert len(failed) == 3 and {g["reason"] for g in failed} == {
        "MAX_RETRIES_REACHED"}


def test_a_booking_is_cleaned_up_when_its_session_closes_late(hooked, sim):
    """Doctor and patient leave after the booking's end: the session's
    close ends the booking, disables its room and codes and deletes the
    tokens (CLEANUP_ON_CLOSE=lock), as a session-ended with lock would;
    nobody can join again."""
    run = hooked({})
    rds = shared_redis()
    bid = uid("clean")
    start = now_ms()
    r = ready_booking(run, bid, [("doc", "host"), ("pat", "guest")],
                      starts_at=start, ends_at=start + 3000)
    key, room = f"hms:booking:{bid}", r["room_id"]
    assert rds.hget(key, "ends_at") == str(start + 3000)
    toks = {u: rds.get(f"hms:token:{room}:{u}") for u in ("doc", "pat")}
    peers = [join(sim, rds, r, u) for u in toks]
    assert wait_for(lambda: rds.hget(key, "session_status") == "live", 30)
    time.sleep(max(0, (start + 3500 - now_ms()) / 1000))  # the window ends
    for p in peers:
        sim.admin("POST", "leave", json={"peer_id": p})
    [e] = run.kafka.read(run.t["ve"], lambda m: decode("VideoEnded", m.value()),
                         1, timeout=60)
    assert e["subject_id"] == bid and e["room_id"] == room
    assert e["reason"] == "the session closed after the booking's window"
    [end] = [g for g in told(run, bid, ["SESSION_ENDED"])
             if g["type"] == "SESSION_ENDED"]
    assert end["at"] >= start + 3000  # told first, then ended
    h = rds.hgetall(key)
    assert h["status"] == "ended" and h["session_status"] == "ended"
    assert not [k for k in h if k.split(":")[0] in ("code", "link", "role")]
    assert all(rds.get(f"hms:token:{room}:{u}") is None for u in toks)
    got = sim.call("GET", f"/v2/rooms/{room}").json()
    assert got["enabled"] is False
    j = sim.admin_raw("POST", "join", json={"token": toks["pat"], "name": "p"})
    assert j.status_code != 200  # a disabled room takes nobody
    assert run.metric("hms_worker_cleanups_total") == 1


def test_a_session_within_the_window_leaves_the_booking(hooked, sim):
    """A session that closes before the booking's end (a dropped call)
    keeps the room: the booking may be rejoined."""
    run = hooked({})
    rds = shared_redis()
    bid = uid("keep")
    r = ready_booking(run, bid, [("doc", "host")], starts_at=now_ms(),
                      ends_at=now_ms() + 3600_000)
    key = f"hms:booking:{bid}"
    tok = rds.get(f"hms:token:{r['room_id']}:doc")
    sim.admin("POST", "leave", json={"peer_id": join(sim, rds, r, "doc")})
    assert wait_for(lambda: rds.hget(key, "session_status") == "ended", 30)
    time.sleep(1)
    assert rds.hget(key, "status") == "ready"
    assert sim.admin_raw("POST", "join", json={"token": tok, "name": "doc"}
                         ).status_code == 200
    assert run.metric("hms_worker_cleanups_total") == 0


def test_a_recorded_session_brings_its_recording(hooked, sim):
    """A room that records (recording_info, set on the room beforehand:
    the upsert keeps it) sends recording.success once its session closes:
    the hash gets the recording, a RECORDING_READY event tells it."""
    run = hooked({}, CLEANUP_ON_CLOSE="off")
    rds = shared_redis()
    bid = uid("rec")
    sim.room(f"bk-{bid}", recording_info={"enabled": True})
    r = ready_booking(run, bid, [("doc", "host")])
    key = f"hms:booking:{bid}"
    peer = join(sim, rds, r, "doc")
    time.sleep(1)  # a second of recording
    sim.admin("POST", "leave", json={"peer_id": peer})
    assert wait_for(lambda: "recording_url" in rds.hgetall(key), 30), \
        rds.hgetall(key)
    h = rds.hgetall(key)
    assert h["recording_path"].startswith("s3://")
    assert h["recording_url"].startswith("https://")
    assert int(h["recording_duration_s"]) >= 1
    assert h["recording_at"] == h["session_ended_at"]
    [rec] = [g for g in told(run, bid, ["RECORDING_READY"])
             if g["type"] == "RECORDING_READY"]
    assert rec["url"] == h["recording_url"]
    assert rec["duration_s"] == int(h["recording_duration_s"])
