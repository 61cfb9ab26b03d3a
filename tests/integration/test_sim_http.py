"""hms-sim over real HTTP: authentication, rooms, codes, sessions, HLS and
the test controls. Management tokens are minted by PyJWT and checked by our
C code inside the simulator, so every 200 here is also JWT interop."""
import datetime
import email.utils
import http.client
import re
import time

import pytest
import requests

from conftest import Sim, mint_app, mint_mgmt, sim_ssl_context

CODE = re.compile(r"^[a-z]{3}-[a-z]{4}-[a-z]{3}$")
HEX24 = re.compile(r"^[0-9a-f]{24}$")
ROLES = ["host", "guest", "viewer"]  # the built-in template


def error_body(r, status):
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert body["code"] == status and isinstance(body["message"], str)
    return body


@pytest.mark.parametrize("auth,detail", [
    (None, "missing bearer token"),
    ("Bearer nonsense", "malformed token"),
    ("Basic dXNlcjpwYXNz", "missing bearer token"),
])
def test_401_without_a_usable_token(sim, auth, detail):
    headers = {"Authorization": auth} if auth else {}
    r = requests.get(sim.base + "/v2/rooms", headers=headers, timeout=5,
                     verify=sim.verify)
    body = error_body(r, 401)
    assert detail in body["details"][0]


@pytest.mark.parametrize("make,detail", [
    (lambda s, ak: mint_mgmt("wrong-secret-" * 6, ak), "signature mismatch"),
    (lambda s, ak: mint_mgmt(s, ak, now=int(time.time()) - 7200),
     "token expired"),
    (lambda s, ak: mint_mgmt(s, ak, now=int(time.time()) + 600),
     "not yet valid"),
    (lambda s, ak: mint_mgmt(s, ak, type="app"), "not management"),
    (lambda s, ak: mint_mgmt(s, ak, version=1), "version"),
    (lambda s, ak: mint_mgmt(s, "someone-else"), "access_key"),
])
def test_401_on_bad_or_expired_token(sim, secret, access_key, make, detail):
    bad = Sim(sim.base, make(secret, access_key))
    body = error_body(bad.call("POST", "/v2/rooms", json={"name": "x"}), 401)
    assert body["message"] == "Token validation error"
    assert detail in body["details"][0]
    assert sim.call("GET", "/v2/rooms", params={"name": "x"}).json()["data"] == []


def test_our_management_token_is_accepted(sim, run_bin, secret, access_key):
    r = run_bin("jwtcli", "mgmt", access_key, "600",
                env_extra={"HMS_APP_SECRET": secret})
    ours = Sim(sim.base, r.stdout.strip())
    assert ours.call("GET", "/v2/rooms").status_code == 200


def test_room_create_is_an_upsert_by_name(sim):
    a = sim.room("bk-upsert", description="first")
    assert HEX24.match(a["id"]) and a["enabled"] is True
    assert a["template_id"] == "6a1b00000000000000000001"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", a["created_at"])
    b = sim.room("BK-UPSERT", description="second")
    assert b["id"] == a["id"] and b["description"] == "second"
    got = sim.call("GET", f"/v2/rooms/{a['id']}").json()
    assert got["description"] == "second" and got["name"] == "bk-upsert"
    listed = sim.call("GET", "/v2/rooms", params={"name": "bk-UPSERT"}).json()
    assert [x["id"] for x in listed["data"]] == [a["id"]]
    assert listed["last"] == "" and listed["limit"] == 10


def test_404_and_400_bodies(sim):
    body = error_body(sim.call("GET", "/v2/rooms/0123456789abcdef01234567"), 404)
    assert body["message"] == "Room not found"
    error_body(sim.call("POST", "/v2/rooms", data="{not json"), 400)
    body = error_body(sim.call("POST", "/v2/rooms", json={"name": "a b"}), 400)
    assert "name" in body["details"][0]
    body = error_body(sim.call("POST", "/v2/rooms",
                               json={"name": "ok", "template_id": "nope"}), 400)
    assert body["message"] == "Error: template not found"
    error_body(sim.call("POST", "/v2/room-codes/room/0123456789abcdef01234567"),
               404)


def test_codes_for_every_role_stable_and_well_formed(sim):
    room = sim.room("bk-codes")
    first = sim.call("POST", f"/v2/room-codes/room/{room['id']}").json()["data"]
    assert sorted(c["role"] for c in first) == sorted(ROLES)
    assert all(CODE.match(c["code"]) and c["enabled"] for c in first)
    assert len({c["code"] for c in first}) == len(ROLES)
    again = sim.call("POST", f"/v2/room-codes/room/{room['id']}",
                     json={}).json()["data"]
    assert again == first
    extra = sim.call("POST", f"/v2/room-codes/room/{room['id']}/role/guest")
    assert extra.status_code == 200
    assert extra.json()["code"] not in {c["code"] for c in first}
    error_body(sim.call("POST", f"/v2/room-codes/room/{room['id']}/role/nope"),
               404)
    listed = sim.call("GET", f"/v2/room-codes/room/{room['id']}",
                      params={"limit": 20}).json()
    assert len(listed["data"]) == len(ROLES) + 1


def test_disable_code_and_lock_room(sim):
    room = sim.room("bk-lock")
    codes = sim.call("POST", f"/v2/room-codes/room/{room['id']}").json()["data"]
    r = sim.call("POST", "/v2/room-codes/code",
                 json={"code": codes[0]["code"], "enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    error_body(sim.call("POST", "/v2/room-codes/code",
                        json={"code": codes[0]["code"], "enabled": "no"}), 400)
    error_body(sim.call("POST", "/v2/room-codes/code",
                        json={"code": "aaa-aaaa-aaa", "enabled": False}), 404)
    # no session yet: end-room is a 404 and locks nothing
    body = error_body(sim.call("POST", f"/v2/active-rooms/{room['id']}/end-room",
                               json={"lock": True}), 404)
    assert body["message"] == "session not found"
    s = sim.admin("POST", f"rooms/{room['id']}/session",
                  json={"peers": [{"user_id": "u1", "role": "host"}]})
    assert s["active"] is True and len(s["peers"]) == 1
    active = sim.call("GET", f"/v2/sessions?room_id={room['id']}").json()
    assert [x["id"] for x in active["data"]] == [s["id"]]
    r = sim.call("POST", f"/v2/active-rooms/{room['id']}/end-room",
                 json={"reason": "booking over", "lock": True})
    assert r.status_code == 200 and r.json() == {"message": "session is ending"}
    assert sim.call("GET", f"/v2/rooms/{room['id']}").json()["enabled"] is False
    error_body(sim.call("POST", f"/v2/room-codes/room/{room['id']}"), 403)
    assert sim.call("GET", "/v2/rooms", params={"name": "bk-lock"}).json()[
        "data"] == []


def composer_url(room_id, sub="hmsworker", role="__internal_recorder"):
    """The documented meeting_url form; hmsworker is the built-in template's
    subdomain, __internal_recorder the role of every documented example."""
    return (f"https://{sub}.app.100ms.live/preview/{room_id}/{role}"
            "?skip_preview=true")


def wait_status(sim, stream_id, want, timeout=10):
    """Polls GET /v2/live-streams/{id} until its status is want."""
    deadline = time.monotonic() + timeout
    while True:
        r = sim.call("GET", f"/v2/live-streams/{stream_id}")
        assert r.status_code == 200, r.text
        if r.json()["status"] == want:
            return r.json()
        assert time.monotonic() < deadline, r.json()
        time.sleep(0.05)


def test_hls_start_and_stop(sim):
    room = sim.room("ls-hls")
    start = f"/v2/live-streams/room/{room['id']}/start"
    # meeting_url is documented as required, whatever the template
    error_body(sim.call("POST", start, json={}), 400)
    r = sim.call("POST", start, json={"meeting_url": composer_url(room["id"])})
    assert r.status_code == 200, r.text
    stream = r.json()
    assert stream["status"] == "starting"
    assert stream["playback"]["url"].endswith("/master.m3u8")
    # undocumented: a second start while one is live answers the live one
    again = sim.call("POST", start, json={"meeting_url": composer_url(room["id"])})
    assert again.status_code == 200 and again.json()["id"] == stream["id"]
    r = sim.call("POST", f"/v2/live-streams/room/{room['id']}/stop")
    assert r.status_code == 200 and r.json()["data"][0]["id"] == stream["id"]
    assert r.json()["data"][0]["status"] == "stopping"
    # undocumented: stopping with nothing live, the same shape, empty
    r = sim.call("POST", f"/v2/live-streams/room/{room['id']}/stop")
    assert r.status_code == 200, r.text
    assert r.json() == {"error": "", "data": [], "limit": 10, "last": ""}
    got = sim.call("GET", f"/v2/live-streams/{stream['id']}").json()
    assert got["id"] == stream["id"] and got["status"] == "stopping"
    error_body(sim.call("GET", "/v2/live-streams/0123456789abcdef01234567"), 404)


def test_hls_composer_that_cannot_join_fails_later(sim):
    """The start answers 200 starting with a playback URL; the composer
    fails when it tries to join (role beam is not the documented one)."""
    sim.config(hls_running_after_ms=100)
    room = sim.room("ls-beam")
    r = sim.call("POST", f"/v2/live-streams/room/{room['id']}/start",
                 json={"meeting_url": composer_url(room["id"], role="beam")})
    assert r.status_code == 200 and r.json()["status"] == "starting"
    assert r.json()["playback"]["url"].endswith("/master.m3u8")
    wait_status(sim, r.json()["id"], "failed")
    listed = sim.call("GET", "/v2/live-streams",
                      params={"room_id": room["id"], "status": "failed"}).json()
    assert [x["id"] for x in listed["data"]] == [r.json()["id"]]


def test_hls_composer_alone_for_5_minutes_stops(sim, secret, access_key):
    """With --time-scale 300 at run time, 5 minutes are 1 s: the stream
    runs while a peer is in the room and completes 1 s after it left."""
    sim.config(time_scale=300, hls_running_after_ms=100)
    room = sim.room("ls-alone")
    j = sim.join(mint_app(secret, access_key, room["id"], "host"))
    assert j.status_code == 200, j.text
    r = sim.call("POST", f"/v2/live-streams/room/{room['id']}/start",
                 json={"meeting_url": composer_url(room["id"])})
    assert r.status_code == 200, r.text
    sid = r.json()["id"]
    assert r.json()["session_id"] == j.json()["session_id"]
    wait_status(sim, sid, "running")
    time.sleep(1.5)  # past 5 (scaled) minutes, but the peer is there
    assert sim.call("GET", f"/v2/live-streams/{sid}").json()["status"] == "running"
    left = time.time()
    assert sim.leave(j.json()["peer_id"]).json()["active"] is False
    done = wait_status(sim, sid, "completed", timeout=5)
    stopped = datetime.datetime.fromisoformat(done["stopped_at"][:19] +
                                              "+00:00")
    assert abs(stopped.timestamp() - (left + 1)) < 1.5


def test_join_leave_and_sessions(sim, secret, access_key):
    room = sim.room("pe-join")
    a = sim.join(mint_app(secret, access_key, room["id"], "host", "alice"),
                 "Alice")
    assert a.status_code == 200, a.text
    assert {k: a.json()[k] for k in ("room_id", "role", "user_id")} == {
        "room_id": room["id"], "role": "host", "user_id": "alice"}
    b = sim.join(mint_app(secret, access_key, room["id"], "guest", "bob"))
    assert b.json()["session_id"] == a.json()["session_id"]
    active = sim.call("GET", f"/v2/active-rooms/{room['id']}").json()
    assert sorted(active["session"]["peers"]) == sorted(
        [a.json()["peer_id"], b.json()["peer_id"]])
    assert sim.leave(a.json()["peer_id"]).json()["active"] is True
    s = sim.leave(b.json()["peer_id"]).json()
    assert s["active"] is False
    assert all(p["left_at"] for p in s["peers"].values())
    assert sim.leave(b.json()["peer_id"]).status_code == 404
    error_body(sim.call("GET", f"/v2/active-rooms/{room['id']}"), 404)
    ended = sim.call("GET", "/v2/sessions",
                     params={"room_id": room["id"], "active": "false"}).json()
    assert [x["id"] for x in ended["data"]] == [a.json()["session_id"]]


@pytest.mark.parametrize("claims", [
    {"type": "management"}, {"version": 1}, {"access_key": "other"},
    {"role": "beam"}, {"room_id": "0123456789abcdef01234567"},
    {"exp": int(time.time()) - 10},
    {"nbf": int(time.time()) + 600, "iat": int(time.time()) + 600},
])
def test_join_with_a_bad_app_token_is_401(sim, secret, access_key, claims):
    room = sim.room("pe-bad")
    args = {"access_key": access_key, "room_id": room["id"], "role": "host",
            **claims}
    r = sim.join(mint_app(secret, args.pop("access_key"), args.pop("room_id"),
                          args.pop("role"), **args))
    body = error_body(r, 401)
    assert body["message"] == "Token validation error"
    bad_sig = mint_app("wrong-secret-" * 6, access_key, room["id"], "host")
    error_body(sim.join(bad_sig), 401)


def test_end_room_without_session_then_disable(sim, secret, access_key):
    """lock: true without a session locks nothing (404); the room stays
    enabled and joinable. POST /v2/rooms/{id} {"enabled": false}, the
    documented way, then refuses joins; the running session goes on."""
    room = sim.room("pe-lock")
    token = mint_app(secret, access_key, room["id"], "host")
    body = error_body(sim.call("POST", f"/v2/active-rooms/{room['id']}/end-room",
                               json={"lock": True}), 404)
    assert body["message"] == "session not found"
    assert sim.call("GET", f"/v2/rooms/{room['id']}").json()["enabled"] is True
    first = sim.join(token)
    assert first.status_code == 200, first.text
    r = sim.call("POST", f"/v2/rooms/{room['id']}", json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert error_body(sim.join(token), 403) == {"code": 403,
                                                 "message": "Room is disabled"}
    assert sim.call("GET", f"/v2/active-rooms/{room['id']}").status_code == 200
    assert sim.leave(first.json()["peer_id"]).json()["active"] is False


def test_strict_turns_on_the_invented_rules(sim):
    room = sim.room("ls-strict")
    start = f"/v2/live-streams/room/{room['id']}/start"
    stop = f"/v2/live-streams/room/{room['id']}/stop"
    url = {"meeting_url": composer_url(room["id"])}
    assert sim.call("POST", "/v2/rooms", json={"name": "n" * 101}).status_code == 200
    assert sim.config(strict=True)["strict"] is True
    error_body(sim.call("POST", "/v2/rooms", json={"name": "m" * 101}), 400)
    assert sim.call("POST", start, json=url).status_code == 200
    error_body(sim.call("POST", start, json=url), 400)
    assert sim.call("POST", stop).status_code == 200
    error_body(sim.call("POST", stop), 404)
    # the reset between tests restores the start-up settings
    sim.admin("POST", "reset", json={})
    assert sim.admin("GET", "config")["strict"] is False


def test_config_endpoint(sim):
    first = sim.admin("GET", "config")
    no_webhook = {"webhook_url": None, "webhook_headers": {},
                  "webhook_faults": {"drop_rate": 0, "duplicate_rate": 0,
                                     "reorder_rate": 0, "seed": 0}}
    assert first == {"time_scale": 1, "clock_offset_s": 0, "strict": False,
                     "hls_running_after_ms": first["hls_running_after_ms"],
                     **no_webhook}
    got = sim.config(time_scale=60, clock_offset_s=-120, strict=True,
                     hls_running_after_ms=500)
    assert got == {"time_scale": 60, "clock_offset_s": -120, "strict": True,
                   "hls_running_after_ms": 500, **no_webhook}
    for bad in ({"time_scale": 0}, {"strict": "yes"}, {"bogus": 1},
                {"clock_offset_s": 1.5}):
        r = sim.admin_raw("POST", "config", json=bad)
        assert r.status_code == 400 and r.json()["message"] == "Invalid config"
    assert sim.admin("GET", "config") == got  # all or nothing
    sim.admin("POST", "reset", json={"state": False, "faults": False,
                                     "stats": False})
    assert sim.admin("GET", "config") == first


def dates(base, method, path, headers=None, body=None):
    """Every Date header of one response, read with http.client so that
    two headers would show as two (requests would join them)."""
    host, port = base.split("//")[1].split(":")
    conn = http.client.HTTPSConnection(host, int(port), timeout=10,
                                       context=sim_ssl_context())
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.msg.get_all("Date")
    finally:
        conn.close()


def test_clock_offset_moves_date_and_token_checks(sim, secret, access_key):
    """--clock-offset-s / clock_offset_s: the simulator's clock is real time
    + N s, for token checks and for the one Date header of every response
    (/v2, /__sim/ and injected faults)."""
    for offset in (0, -120, 3600):
        sim.config(clock_offset_s=offset)
        # a token minted by the simulator's clock, so that it is valid
        token = mint_mgmt(secret, access_key, now=int(time.time()) + offset)
        auth = {"Authorization": f"Bearer {token}"}
        sim.faults({"route": "GET /v2/sessions", "rate_503": 1})
        for method, path, headers in [("GET", "/v2/rooms", auth),
                                      ("GET", "/__sim/health", {}),
                                      ("GET", "/v2/sessions", auth)]:
            status, got = dates(sim.base, method, path, headers)
            assert status == (503 if path == "/v2/sessions" else 200)
            assert len(got) == 1, got
            when = email.utils.parsedate_to_datetime(got[0]).timestamp()
            assert abs(when - (time.time() + offset)) < 3, (offset, got)
    # 120 s behind: a token issued 60 s ago (iat, nbf) is from the future
    sim.config(clock_offset_s=-120)
    body = error_body(sim.call("GET", "/v2/rooms"), 401)
    assert "not yet valid" in body["details"][0]
    sim.config(clock_offset_s=0)
    assert sim.call("GET", "/v2/rooms").status_code == 200


def test_stats_and_request_log(sim):
    sim.room("bk-log", description="d")
    sim.call("GET", "/v2/rooms/0123456789abcdef01234567")
    stats = sim.admin("GET", "stats")
    assert stats["routes"]["POST /v2/rooms"] == {"200": 1}
    assert stats["routes"]["GET /v2/rooms/{id}"] == {"404": 1}
    log = sim.requests_log()
    assert [(e["route"], e["status"], e["room"]) for e in log] == [
        ("POST /v2/rooms", 200, "bk-log"), ("GET /v2/rooms/{id}", 404, None)]
    assert log[0]["body"] == {"name": "bk-log", "description": "d"}
    assert "Bearer" not in str(log) and "eyJ" not in str(log)
    assert sim.requests_log(since=log[0]["seq"]) == log[1:]


def test_connections_are_counted(sim):
    """/__sim/stats counts accepted connections (over HTTPS, one TLS
    handshake each): three calls on one keep-alive session are one."""
    before = sim.admin("GET", "stats")["connections"]
    for _ in range(3):
        assert sim.call("GET", "/v2/rooms").status_code == 200
    # the session's one connection, and this stats call's own
    assert sim.admin("GET", "stats")["connections"] - before == 2
    sim.admin("POST", "reset", json={"state": False, "faults": False})
    assert sim.admin("GET", "stats")["connections"] == 1  # this call's
