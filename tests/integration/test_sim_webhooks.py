"""hms-sim's webhooks over real HTTP, received by a small server on
127.0.0.1: the documented envelope and data of each event in the order
things happen, the static headers passed through, the retries 1/3/10 s
after a failure (a receiver answering 500, one that is down), replay with
is_replay, the faults, a room's own webhook, and the flags at start-up.
docs/100ms-api.md sections 4 and 9 and docs/hms-sim.md say what is
documented; each assertion below is one of those rules."""
import http.server
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import Sim, free_port, mint_app, mint_mgmt, own_sim_args

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                  r"[0-9a-f]{12}$")
HEX24 = re.compile(r"^[0-9a-f]{24}$")
SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
NANOS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
ENVELOPE = {"version", "id", "app_id", "account_id", "template_id",
            "timestamp", "type", "data"}
# documented data fields (configure-webhooks/webhook.md)
SESSION = {"room_id", "room_name", "session_id", "template_id",
           "session_started_at"}
PEER_JOIN = SESSION | {"peer_id", "user_id", "user_name", "user_data", "role",
                       "joined_at"}
PEER_LEAVE = PEER_JOIN | {"left_at", "duration", "reason", "message"}
HLS = {"beam_id", "job_id", "room_id", "peer_id", "session_id", "template_id",
       "meeting_url", "metadata_id", "metadata_timestamp", "max_width",
       "max_height", "recording_single_file_per_layer_enabled",
       "recording_vod_playlist_enabled", "session_started_at"}
ROOM_END = SESSION | {"peer_id", "user_id", "user_name", "role", "lock_room",
                      "reason", "source"}


class Receiver:
    """A webhook endpoint: records every POST (arrival time, headers, JSON
    body) and answers the statuses it is given in turn, then 200."""

    def __init__(self, statuses=()):
        self.posts = []
        self.statuses = list(statuses)
        self.cond = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.cond:
                    receiver.posts.append((time.time(), dict(self.headers),
                                           json.loads(body)))
                    status = (receiver.statuses.pop(0)
                              if receiver.statuses else 200)
                    receiver.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def wait(self, n, timeout=10):
        """Waits for at least n posts; returns the bodies."""
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.posts) >= n,
                                      timeout), self.types()
            return [p[2] for p in self.posts]

    def wait_type(self, type_, timeout=10):
        with self.cond:
            assert self.cond.wait_for(lambda: type_ in self.types(),
                                      timeout), self.types()
        return self.bodies()

    def wait_for(self, pred, timeout=10):
        """Waits until pred(types) holds; returns the bodies."""
        with self.cond:
            assert self.cond.wait_for(lambda: pred(self.types()),
                                      timeout), self.types()
        return self.bodies()

    def types(self):
        return [p[2]["type"] for p in self.posts]

    def bodies(self):
        with self.cond:
            return [p[2] for p in self.posts]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    """Makes receivers; closes them at the end."""
    made = []

    def make(statuses=()):
        made.append(Receiver(statuses))
        return made[-1]
    yield make
    for r in made:
        r.close()


def composer_url(room_id, sub="hmsworker"):
    return (f"https://{sub}.app.100ms.live/preview/{room_id}"
            "/__internal_recorder?skip_preview=true")


def join(sim, secret, access_key, room, user, name=None):
    r = sim.join(mint_app(secret, access_key, room["id"], "host", user),
                 name or user)
    assert r.status_code == 200, r.text
    return r.json()


def attempts(sim, timeout=0, want=0):
    """The /__sim/webhooks attempt log, waited for until it has `want`
    entries."""
    deadline = time.monotonic() + timeout
    while True:
        log = sim.admin("GET", "webhooks?since=0&limit=10000")
        if len(log["data"]) >= want or time.monotonic() > deadline:
            return log
        time.sleep(0.1)


def check_envelope(body, room, tpl="6a1b00000000000000000001"):
    assert set(body) == ENVELOPE, body
    assert body["version"] == ("1.0" if body["type"] == "recording.success"
                               else "2.0")
    assert UUID.match(body["id"])
    assert HEX24.match(body["app_id"]) and HEX24.match(body["account_id"])
    assert body["template_id"] == tpl == body["data"]["template_id"]
    assert SECONDS.match(body["timestamp"])
    assert body["data"]["room_id"] == room["id"]


def test_a_session_in_order_with_documented_fields(sim, receivers, secret,
                                                   access_key):
    """Two joins, a leave, HLS, end-room with lock: the events in the order
    they happened, each with its documented data; the configured header
    reaches the receiver unchanged, with Content-Type: application/json."""
    rx = receivers()
    sim.config(webhook_url=rx.url, hls_running_after_ms=100,
               webhook_headers={"X-Hook-Secret": "s3cr3t value"})
    room = sim.room("wh-seq")
    a = join(sim, secret, access_key, room, "alice", "Alice")
    b = join(sim, secret, access_key, room, "bob")
    assert sim.leave(a["peer_id"]).status_code == 200
    r = sim.call("POST", f"/v2/live-streams/room/{room['id']}/start",
                 json={"meeting_url": composer_url(room["id"])})
    assert r.status_code == 200, r.text
    rx.wait_type("hls.started.success")  # nobody polls: the ticker sends it
    r = sim.call("POST", f"/v2/active-rooms/{room['id']}/end-room",
                 json={"reason": "booking over", "lock": True})
    assert r.status_code == 200, r.text
    bodies = rx.wait_type("room.end.success")
    assert rx.types() == [
        "session.open.success", "peer.join.success", "peer.join.success",
        "peer.leave.success", "hls.started.success", "hls.stopped.success",
        "peer.leave.success", "session.close.success", "room.end.success"]
    for body in bodies:
        check_envelope(body, room)
    assert len({b_["id"] for b_ in bodies}) == len(bodies)
    for _, headers, _ in rx.posts:
        assert headers["X-Hook-Secret"] == "s3cr3t value"
        assert headers["Content-Type"] == "application/json"
    d = [x["data"] for x in bodies]
    assert set(d[0]) >= SESSION and d[0]["room_name"] == "wh-seq"
    session_id = d[0]["session_id"]
    assert HEX24.match(session_id) and NANOS.match(d[0]["session_started_at"])
    assert set(d[1]) >= PEER_JOIN
    assert (d[1]["peer_id"], d[1]["user_id"], d[1]["user_name"],
            d[1]["role"]) == (a["peer_id"], "alice", "Alice", "host")
    assert d[2]["peer_id"] == b["peer_id"]
    assert set(d[3]) >= PEER_LEAVE
    assert (d[3]["peer_id"], d[3]["reason"]) == (a["peer_id"],
                                                 "client request")
    assert isinstance(d[3]["duration"], int) and NANOS.match(d[3]["left_at"])
    assert set(d[4]) >= HLS | {"url", "started_at", "start_delay"}
    stream = sim.call("GET", "/v2/live-streams",
                      params={"room_id": room["id"]}).json()["data"][0]
    assert d[4]["url"] == stream["playback"]["url"]
    assert d[4]["beam_id"] == stream["id"]
    assert d[5]["reason"] == "client request"
    assert set(d[5]) >= HLS | {"url", "duration", "started_at", "stopped_at"}
    assert (d[6]["peer_id"], d[6]["reason"]) == (b["peer_id"],
                                                 "server removed peer")
    assert set(d[7]) >= SESSION | {"session_duration", "session_stopped_at"}
    assert all(x["session_id"] == session_id for x in d)
    assert set(d[8]) >= ROOM_END
    assert (d[8]["lock_room"], d[8]["reason"]) == (True, "booking over")
    # the receiver has an event before the simulator has its answer
    log = attempts(sim, timeout=5, want=9)
    assert [(e["type"], e["attempt"], e["status"], e["result"])
            for e in log["data"]] == [(t, 1, 200, "delivered")
                                      for t in rx.types()]
    assert log["counts"]["delivered"] == 9 and log["queued"] == 0
    # header values are secrets: never shown
    assert sim.admin("GET", "config")["webhook_headers"] == {
        "X-Hook-Secret": "(redacted)"}


def gaps(times):
    return [round(b - a, 2) for a, b in zip(times, times[1:])]


def assert_schedule(times):
    """documented: retried 1 s, 3 s and 10 s after the failure
    (configure-webhooks/overview.mdx); a little later is scheduling."""
    assert len(times) == 4, times
    for got, want in zip(gaps(times), (1, 3, 10)):
        assert want - 0.05 <= got <= want + 1.0, gaps(times)


def test_retries_to_a_failing_and_a_down_receiver(sim, receivers):
    """A receiver answering 500 gets the event 4 times, 1/3/10 s apart; a
    room's webhook whose port is closed is tried as often, side by side
    (one destination's retries do not hold up another's). Both are then
    given up and counted."""
    rx = receivers(statuses=[500] * 4)
    down = f"http://127.0.0.1:{free_port()}/hook"
    sim.config(webhook_url=rx.url)
    failing = sim.room("wh-500")
    dead = sim.room("wh-down", webhook={"url": down, "headers": {}})
    for room in (failing, dead):
        sim.admin("POST", f"rooms/{room['id']}/session", json={"peers": []})
    rx.wait(4, timeout=20)
    assert rx.types() == ["session.open.success"] * 4
    assert len({p[2]["id"] for p in rx.posts}) == 1  # the same event
    assert_schedule([p[0] for p in rx.posts])
    log = attempts(sim, timeout=10, want=8)["data"]
    for url, status in ((rx.url, 500), (down, 0)):
        mine = [e for e in log if e["url"] == url]
        assert [(e["attempt"], e["status"], e["result"]) for e in mine] == [
            (1, status, "failed"), (2, status, "failed"),
            (3, status, "failed"), (4, status, "gave_up")]
        assert_schedule([e["ts_ms"] / 1000 for e in mine])
    assert all(e["error"] for e in log if e["url"] == down)
    counts = attempts(sim)["counts"]
    assert counts["gave_up"] == 2 and counts["failed_attempts"] == 6


def test_replay_marks_is_replay(sim, receivers):
    """documented: the replay API re-sends past events with is_replay:
    true (analytics/replay-webhook-events.mdx): by ids, or a room's."""
    rx = receivers()
    sim.config(webhook_url=rx.url)
    room = sim.room("wh-replay")
    sim.admin("POST", f"rooms/{room['id']}/session",
              json={"peers": [{"user_id": "u1", "role": "host"}]})
    first = rx.wait(2)
    assert all("is_replay" not in b for b in first)
    r = sim.admin("POST", "webhooks/replay",
                  json={"ids": [first[1]["id"], "nope"]})
    assert r == {"replayed": 1, "missing": ["nope"]}
    again = rx.wait(3)[2]
    assert again["is_replay"] is True
    assert {k: v for k, v in again.items() if k != "is_replay"} == first[1]
    # the room's events, oldest first: a replay is no new event
    assert sim.admin("POST", "webhooks/replay",
                     json={"room_id": room["id"]})["replayed"] == 2
    bodies = rx.wait(5)
    assert [b["id"] for b in bodies[3:]] == [first[0]["id"], first[1]["id"]]
    assert all(b["is_replay"] for b in bodies[3:])
    bad = sim.admin_raw("POST", "webhooks/replay", json={"ids": "x"})
    assert bad.status_code == 400
    assert [e["replay"] for e in attempts(sim, timeout=5, want=5)["data"]] == [
        False, False, True, True, True]


def test_faults_duplicate_drop_reorder(sim, receivers):
    """Test tools, seeded: duplicate_rate sends an event twice with one id,
    drop_rate loses it before any attempt (counted), reorder_rate swaps it
    with its room's next event (100ms documents no ordering guarantee,
    and no absence of one either)."""
    rx = receivers()
    sim.config(webhook_url=rx.url, webhook_faults={"duplicate_rate": 1})
    room = sim.room("wh-dup")
    sim.admin("POST", f"rooms/{room['id']}/session",
              json={"peers": [{"user_id": "u1", "role": "host"}]})
    bodies = rx.wait(4)
    assert rx.types() == ["session.open.success"] * 2 + [
        "peer.join.success"] * 2
    assert bodies[0] == bodies[1] and bodies[2] == bodies[3]
    log = attempts(sim, timeout=5, want=4)
    assert [e["duplicate"] for e in log["data"]] == [False, True, False, True]
    assert log["counts"]["duplicated"] == 2

    sim.config(webhook_faults={"duplicate_rate": 0, "drop_rate": 1})
    room = sim.room("wh-drop")
    sim.admin("POST", f"rooms/{room['id']}/session", json={"peers": []})
    log = attempts(sim, timeout=5, want=5)
    assert log["data"][4]["result"] == "lost" and log["counts"]["lost"] == 1
    time.sleep(0.3)
    assert len(rx.posts) == 4

    sim.config(webhook_faults={"drop_rate": 0, "reorder_rate": 1})
    room = sim.room("wh-reorder")
    sim.admin("POST", f"rooms/{room['id']}/session",
              json={"peers": [{"user_id": "u1", "role": "host"}]})
    rx.wait(6)
    assert rx.types()[4:] == ["peer.join.success", "session.open.success"]
    assert attempts(sim)["counts"]["reordered"] == 1


def test_hls_events_go_out_on_their_own(sim, receivers, secret, access_key):
    """Nobody reads the stream: the ticker sends hls.started.success, then,
    5 (scaled) minutes after the last peer left, hls.stopped.success with
    the documented reason and hls.recording.success (recording.hls_vod).
    A composer that cannot join: hls.failure, then hls.stopped.success
    "failure: MAX_RETRIES_REACHED"."""
    rx = receivers()
    sim.config(webhook_url=rx.url, time_scale=300, hls_running_after_ms=100)
    room = sim.room("wh-hls")
    p = join(sim, secret, access_key, room, "ann")
    r = sim.call("POST", f"/v2/live-streams/room/{room['id']}/start",
                 json={"meeting_url": composer_url(room["id"]),
                       "recording": {"hls_vod": True}})
    assert r.status_code == 200, r.text
    rx.wait_type("hls.started.success", timeout=5)
    left = time.time()
    sim.leave(p["peer_id"])
    bodies = rx.wait_type("hls.recording.success", timeout=5)
    types = rx.types()
    assert types.index("session.close.success") < types.index(
        "hls.stopped.success") < types.index("hls.recording.success")
    stopped = next(b for b in bodies if b["type"] == "hls.stopped.success")
    assert stopped["data"]["reason"] == "last peer left"
    arrived = next(p_[0] for p_ in rx.posts
                   if p_[2]["type"] == "hls.stopped.success")
    assert 0.9 <= arrived - left <= 2.0  # 1 s alone (300 s / 300), ticked
    rec = next(b for b in bodies if b["type"] == "hls.recording.success")
    assert rec["data"]["beam_id"] == r.json()["id"]
    assert rec["data"]["hls_vod_recording_path"].startswith("s3://")

    bad = sim.room("wh-hls-bad")
    r = sim.call("POST", f"/v2/live-streams/room/{bad['id']}/start",
                 json={"meeting_url": "https://example.invalid/room"})
    assert r.status_code == 200, r.text
    bodies = rx.wait_for(lambda t: t.count("hls.stopped.success") == 2,
                         timeout=5)
    failure, stop = bodies[-2:]
    assert failure["type"] == "hls.failure"
    assert failure["data"]["error_type"] == "MAX_RETRIES_REACHED"
    assert (stop["type"], stop["data"]["reason"]) == (
        "hls.stopped.success", "failure: MAX_RETRIES_REACHED")


def test_a_rooms_webhook_replaces_the_workspaces(sim, receivers):
    """documented: webhook{url, headers} of POST /v2/rooms replaces the
    workspace webhook for that room; SFU recording (recording_info) ends
    in recording.success, version "1.0" as its samples show."""
    workspace, own = receivers(), receivers()
    sim.config(webhook_url=workspace.url,
               webhook_headers={"X-Workspace": "w"})
    mine = sim.room("wh-own", webhook={"url": own.url,
                                       "headers": {"X-Room-Secret": "r1"}},
                    recording_info={"enabled": True})
    other = sim.room("wh-other")
    for room in (mine, other):
        s = sim.admin("POST", f"rooms/{room['id']}/session",
                      json={"peers": [{"user_id": "u", "role": "host"}]})
        sim.leave(next(iter(s["peers"])))
    own.wait(5)
    workspace.wait(4)
    time.sleep(0.3)
    assert own.types() == ["session.open.success", "peer.join.success",
                           "peer.leave.success", "session.close.success",
                           "recording.success"]
    assert {b["data"]["room_id"] for b in own.bodies()} == {mine["id"]}
    assert {b["data"]["room_id"] for b in workspace.bodies()} == {other["id"]}
    assert all(h.get("X-Room-Secret") == "r1" and "X-Workspace" not in h
               for _, h, _ in own.posts)
    assert all(h.get("X-Workspace") == "w" for _, h, _ in workspace.posts)
    rec = own.bodies()[4]
    check_envelope(rec, mine)
    assert rec["data"]["recording_path"].startswith("s3://")


def test_webhook_settings_all_or_nothing_and_reset(sim):
    before = sim.admin("GET", "config")
    assert before["webhook_url"] is None and before["webhook_headers"] == {}
    for bad in ({"webhook_url": "ftp://127.0.0.1/x"},
                {"webhook_url": "http://127.0.0.1:1/", "time_scale": 0},
                {"time_scale": 5, "webhook_headers": {"Bad Name": "v"}},
                {"webhook_headers": {"X": "a\r\nInjected: 1"}},
                {"webhook_faults": {"drop_rate": 1.5}},
                {"webhook_faults": {"loss": 0.1}}):
        r = sim.admin_raw("POST", "config", json=bad)
        assert r.status_code == 400 and r.json()["message"] == "Invalid config"
    assert sim.admin("GET", "config") == before
    got = sim.config(webhook_url="http://127.0.0.1:1/x",
                     webhook_faults={"reorder_rate": 0.5, "seed": 3})
    assert got["webhook_url"] == "http://127.0.0.1:1/x"
    assert got["webhook_faults"] == {"drop_rate": 0, "duplicate_rate": 0,
                                     "reorder_rate": 0.5, "seed": 3}
    sim.admin("POST", "reset", json={"state": False, "stats": False,
                                     "faults": False})
    assert sim.admin("GET", "config") == before


def test_webhook_flags_at_start(bin_dir, secret, access_key, receivers,
                                tmp_path):
    """--webhook-url and --webhook-header (repeatable) at start-up."""
    rx = receivers()
    args, url = own_sim_args(free_port())
    proc = subprocess.Popen(
        [os.path.join(bin_dir, "hms-sim"), *args,
         "--access-key", access_key, "--webhook-url", rx.url,
         "--webhook-header", "X-One: 1", "--webhook-header", "X-Two:tw0-secret"],
        env=dict(os.environ, HMS_APP_SECRET=secret, HMS_APP_SECRET_FILE=""),
        stderr=open(tmp_path / "sim.log", "w"))
    try:
        s = Sim(url, mint_mgmt(secret, access_key))
        deadline = time.monotonic() + 20
        while True:
            try:
                s.admin("GET", "health")
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        room = s.room("wh-flags")
        s.admin("POST", f"rooms/{room['id']}/session", json={"peers": []})
        body = rx.wait(1)[0]
        assert body["type"] == "session.open.success"
        headers = rx.posts[0][1]
        assert (headers["X-One"], headers["X-Two"]) == ("1", "tw0-secret")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    assert "tw0-secret" not in open(tmp_path / "sim.log").read()
