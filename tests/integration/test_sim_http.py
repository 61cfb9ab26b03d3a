"""hms-sim over real HTTP: authentication, rooms, codes, sessions, HLS and
the test controls. Management tokens are minted by PyJWT and checked by our
C code inside the simulator, so every 200 here is also JWT interop."""
import re
import time

import pytest
import requests

from conftest import Sim, mint_mgmt

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
    r = requests.get(sim.base + "/v2/rooms", headers=headers, timeout=5)
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


def test_hls_start_and_stop(sim):
    room = sim.room("ls-hls")
    r = sim.call("POST", f"/v2/live-streams/room/{room['id']}/start", json={})
    assert r.status_code == 200, r.text
    stream = r.json()
    assert stream["status"] == "starting"
    assert stream["playback"]["url"].endswith("/master.m3u8")
    error_body(sim.call("POST", f"/v2/live-streams/room/{room['id']}/start",
                        json={}), 400)
    r = sim.call("POST", f"/v2/live-streams/room/{room['id']}/stop")
    assert r.status_code == 200 and r.json()["data"][0]["id"] == stream["id"]
    error_body(sim.call("POST", f"/v2/live-streams/room/{room['id']}/stop"), 404)


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
