"""The worker against 100ms as its documentation describes it
(docs/100ms-api.md section 9, docs/hms-sim.md): HLS that starts
asynchronously, fails when the composer cannot join and stops when the
composer is alone; end-room that locks nothing without a session; the 429
that names its wait in the message; a management token refused because
this host's clock is ahead. One test per point of the 100ms-behaviour
issue; each failed against the worker before it."""
import contextlib
import os

import pytest
import redis

from fault_harness import uid
from reactions import AdminRun
from worker_helpers import (booking, decode, encode, session_ended, stream,
                            wait_for)

SUB = "hmsworker"  # the subdomain of hms-sim's built-in template


@pytest.fixture
def rds():
    return redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)


@pytest.fixture
def sim_config(sim):
    """Sets hms-sim's run-time configuration; the sim fixture's reset puts
    the start-up values back."""
    return lambda **cfg: sim.admin("POST", "config", json=cfg)


@contextlib.contextmanager
def running(bin_dir, tmp_path, **env):
    """A worker of its own (admin listener, topics, group) for one test,
    with the sim's subdomain unless the test says otherwise."""
    env.setdefault("HMS_SUBDOMAIN", SUB)
    run = AdminRun(bin_dir, tmp_path, **env)
    if env["HMS_SUBDOMAIN"] is None:
        run.env.pop("HMS_SUBDOMAIN", None)
    run.start()
    try:
        yield run
    finally:
        assert run.stop_all() == [0]


def ready(run, ev, timeout=60):
    [r] = run.kafka.read(run.t["vr"], lambda m: decode("VideoReady", m.value()),
                         1, timeout=timeout)
    assert r["causation_id"] == ev["event_id"]
    return r


def ended(run, ev, timeout=60):
    [r] = run.kafka.read(run.t["ve"], lambda m: decode("VideoEnded", m.value()),
                         1, timeout=timeout)
    assert r["causation_id"] == ev["event_id"]
    return r


def start_stream(run, hls=True):
    sid = uid("doc-ls")
    ev = stream(sid, "host-1", hls)
    run.kafka.send(run.t["ss"], sid, encode("StreamStarted", ev))
    run.kafka.flush()
    return sid, ev


def streams_of(sim, room_id):
    r = sim.call("GET", f"/v2/live-streams?room_id={room_id}")
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_hls_url_is_published_only_once_the_stream_runs(bin_dir, sim,
                                                        sim_config, tmp_path,
                                                        rds):
    """Start answers `starting`; the URL goes out once the stream runs,
    with the documented composer role in the meeting_url."""
    sim_config(hls_running_after_ms=3000)
    with running(bin_dir, tmp_path) as run:
        sid, ev = start_stream(run)
        r = ready(run, ev)
        [st] = streams_of(sim, r["room_id"])
        assert st["status"] == "running" and r["hls_url"] == st["playback"]["url"]
        assert rds.hget(f"hms:stream:{sid}", "hls_url") == r["hls_url"]
        # published no sooner than the stream ran, 3 s after its start
        [start] = [x for x in sim.requests_log() if x["room"] == f"ls-{sid}"
                   and x["route"].endswith("/start")]
        assert r["occurred_at"] - start["ts_ms"] >= 2900
        assert st["meeting_url"] == (f"https://{SUB}.app.100ms.live/preview/"
                                     f"{r['room_id']}/__internal_recorder"
                                     "?skip_preview=true")


def test_composer_that_cannot_join_publishes_no_url(bin_dir, sim, sim_config,
                                                    tmp_path, rds):
    """A role the composer cannot join with: start still answers 200 with
    a playback URL, the stream fails later; no hls_url anywhere."""
    sim_config(hls_running_after_ms=500)
    with running(bin_dir, tmp_path, HMS_HLS_COMPOSER_ROLE="beam") as run:
        sid, ev = start_stream(run)
        r = ready(run, ev)
        assert r["hls_url"] is None
        assert "hls_url" not in rds.hgetall(f"hms:stream:{sid}")
        assert [s["status"] for s in streams_of(sim, r["room_id"])] == ["failed"]
        assert run.metric("hms_worker_hls_start_failures_total") == 1
    assert "no HLS: the stream is not running" in run.log()


def test_hls_url_goes_when_the_composer_stops_alone(bin_dir, sim, sim_config,
                                                    tmp_path, rds):
    """The composer stops after 5 minutes alone in the room (here 5 s: the
    sim's time scale); the published URL goes from Redis."""
    sim_config(hls_running_after_ms=300, time_scale=60)
    with running(bin_dir, tmp_path, HMS_HLS_CHECK_MS="1000") as run:
        sid, ev = start_stream(run)
        r = ready(run, ev)
        key = f"hms:stream:{sid}"
        assert rds.hget(key, "hls_url") == r["hls_url"]
        assert wait_for(lambda: rds.hget(key, "hls_url") is None, 30)
        assert [s["status"] for s in streams_of(sim, r["room_id"])] == ["completed"]
        assert rds.hget(key, "status") == "ready"  # the room itself stays
        assert run.metric("hms_worker_hls_cleared_total") == 1


def test_no_subdomain_sends_no_start(bin_dir, sim, tmp_path):
    """100ms requires a meeting_url, which needs the template's subdomain:
    without HMS_SUBDOMAIN no start is sent; a warning and a metric."""
    with running(bin_dir, tmp_path, HMS_SUBDOMAIN=None) as run:
        sid, ev = start_stream(run)
        r = ready(run, ev)
        assert r["hls_url"] is None
        routes = [x["route"] for x in sim.requests_log()
                  if x["room"] == f"ls-{sid}"]
        assert routes and not [x for x in routes if "live-streams" in x]
        assert run.metric("hms_worker_hls_skipped_total") == 1
    assert "HMS_SUBDOMAIN is unset" in run.log()


def test_session_ended_takes_the_hls_url(bin_dir, sim, sim_config, tmp_path,
                                         rds):
    """An ended stream plays nothing: the hash loses hls_url even when the
    room is not locked."""
    sim_config(hls_running_after_ms=300)
    with running(bin_dir, tmp_path) as run:
        sid, ev = start_stream(run)
        r = ready(run, ev)
        assert rds.hget(f"hms:stream:{sid}", "hls_url") == r["hls_url"]
        end = session_ended("STREAM", sid, lock=False)
        run.kafka.send(run.t["se"], sid, encode("SessionEnded", end))
        run.kafka.flush()
        ended(run, end)
        h = rds.hgetall(f"hms:stream:{sid}")
        assert h["status"] == "ended" and "hls_url" not in h
        assert [s["status"] for s in streams_of(sim, r["room_id"])] != ["running"]


def test_lock_without_a_session_disables_the_room(bin_dir, sim, tmp_path, rds):
    """end-room answers 404 when nobody is in the room and locks nothing;
    lock must disable the room anyway, so the tokens handed out no longer
    join."""
    with running(bin_dir, tmp_path) as run:
        bid = uid("doc-bk")
        ev = booking(bid, [("alice", "host"), ("bob", "guest")])
        run.kafka.send(run.t["bc"], bid, encode("BookingCreated", ev))
        run.kafka.flush()
        r = ready(run, ev)
        token = rds.get(f"hms:token:{r['room_id']}:bob")
        join = lambda: sim.admin_raw("POST", "join",
                                     json={"token": token, "name": "Bob"})
        first = join()
        assert first.status_code == 200, first.text  # the token works
        sim.admin("POST", "leave", json={"peer_id": first.json()["peer_id"]})
        end = session_ended("BOOKING", bid, lock=True)
        run.kafka.send(run.t["se"], bid, encode("SessionEnded", end))
        run.kafka.flush()
        ended(run, end)
        assert sim.call("GET", f"/v2/rooms/{r['room_id']}").json()["enabled"] is False
        assert join().status_code == 403  # locked means nobody joins


def test_429_waits_as_its_message_says(bin_dir, sim, tmp_path):
    """The only 429 100ms documents names the wait in its message, with no
    Retry-After header: the retry comes no sooner."""
    sim.faults({"route": "POST /v2/rooms", "rate_429": 1.0, "retry_after_s": 3,
                "times": 1})
    with running(bin_dir, tmp_path, HMS_RETRY_BASE_MS="50",
                 HMS_RETRY_CAP_MS="200") as run:
        bid = uid("doc-429")
        ev = booking(bid, [("alice", "host")])
        run.kafka.send(run.t["bc"], bid, encode("BookingCreated", ev))
        run.kafka.flush()
        ready(run, ev)
        tries = [x for x in sim.requests_log()
                 if x["room"] == f"bk-{bid}" and x["route"] == "POST /v2/rooms"]
        assert [t["status"] for t in tries] == [429, 200]
        assert tries[1]["ts_ms"] - tries[0]["ts_ms"] >= 2900


def test_clock_ahead_is_named_and_counted(bin_dir, sim, sim_config, tmp_path):
    """A host clock 2 minutes ahead of 100ms's mints tokens from 100ms's
    future: 401. The worker halts saying so, counts it, and resumes when
    the clocks agree again."""
    sim_config(clock_offset_s=-120)
    with running(bin_dir, tmp_path) as run:
        bid = uid("doc-skew")
        ev = booking(bid, [("alice", "host")])
        run.kafka.send(run.t["bc"], bid, encode("BookingCreated", ev))
        run.kafka.flush()
        assert wait_for(lambda: "ahead of 100ms" in run.readyz()[1], 60), \
            run.readyz()
        assert 115 <= run.metric("hms_worker_clock_skew_seconds") <= 125
        assert run.metric("hms_worker_clock_skew_refusals_total") >= 1
        sim_config(clock_offset_s=0)
        ready(run, ev)
        assert wait_for(lambda: run.readyz()[0] == 200, 30), run.readyz()
    assert "this host's clock is off: ahead of 100ms's" in run.log()
