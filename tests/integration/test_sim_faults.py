"""Each fault mode of hms-sim, observed by a real HTTP client, set at run
time through /__sim/faults (and once by flags at start-up); plus many
concurrent keep-alive connections with latency that does not block."""
import asyncio
import email.utils
import os
import resource
import signal
import subprocess
import time

import pytest
import requests

from conftest import free_port, sim_ssl_context


def names(sim):
    return [e["room"] for e in sim.requests_log()]


def test_latency_only_for_matching_rooms(sim):
    sim.faults({"match": "bk-slow-*", "latency_ms": 300})
    t0 = time.monotonic()
    sim.room("bk-slow-1")
    assert time.monotonic() - t0 >= 0.28
    sim.room("bk-fast-1")
    log = sim.requests_log()
    assert [(e["room"], e["delay_ms"]) for e in log] == [
        ("bk-slow-1", 300), ("bk-fast-1", 0)]


@pytest.mark.parametrize("rule,wait,header", [
    ({}, 1, None),  # documented: the wait in the message, no header
    ({"retry_after_s": 45}, 45, None),
    ({"retry_after_s": 2, "retry_after_header": "none"}, 2, None),
    ({"retry_after_s": 2, "retry_after_header": "seconds"}, 2, "2"),
])
def test_429_wait_in_message_header_on_request(sim, rule, wait, header):
    sim.faults({"rate_429": 1, **rule})
    r = sim.call("POST", "/v2/rooms", json={"name": "bk-429"})
    assert r.status_code == 429
    assert r.headers.get("Retry-After") == header
    assert r.json() == {
        "code": 429, "message": f"rate limit exceeded, retry after {wait} seconds"}


def test_429_retry_after_as_http_date(sim):
    sim.faults({"rate_429": 1, "retry_after_s": 5, "retry_after_header": "date"})
    r = sim.call("GET", "/v2/rooms")
    when = email.utils.parsedate_to_datetime(r.headers["Retry-After"])
    assert 0 <= when.timestamp() - time.time() <= 7
    assert r.json()["message"] == "rate limit exceeded, retry after 5 seconds"


@pytest.mark.parametrize("rule", [{"retry_after_header": "soon"},
                                  {"retry_after_s": -1},
                                  {"retry_after_date": True}])
def test_429_bad_retry_after_fields_rejected(sim, rule):
    r = requests.post(sim.base + "/__sim/faults", verify=sim.verify,
                      json={"rules": [{"rate_429": 1, **rule}]}, timeout=5)
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx(sim, status):
    sim.faults({f"rate_{status}": 1})
    r = sim.call("POST", "/v2/rooms", json={"name": "bk-5xx"})
    assert r.status_code == status and r.json()["code"] == status
    # not applied: the room does not exist
    sim.faults()
    assert sim.call("GET", "/v2/rooms", params={"name": "bk-5xx"}).json()[
        "data"] == []


def test_5xx_with_html_body(sim):
    sim.faults({"rate_502": 1, "html_body": True})
    r = sim.call("GET", "/v2/rooms")
    assert r.status_code == 502
    assert r.headers["Content-Type"] == "text/html"
    with pytest.raises(ValueError):
        r.json()


@pytest.mark.parametrize("kind,applied", [("drop", False), ("drop_after", True)])
def test_dropped_connection(sim, kind, applied):
    sim.faults({"match": "bk-drop", f"rate_{kind}": 1})
    with pytest.raises(requests.ConnectionError):
        sim.call("POST", "/v2/rooms", json={"name": "bk-drop"})
    assert [(e["status"], e["fault"]) for e in sim.requests_log()] == [(0, kind)]
    sim.faults()
    found = sim.call("GET", "/v2/rooms", params={"name": "bk-drop"}).json()
    assert len(found["data"]) == (1 if applied else 0)


def test_hang_past_client_timeout(sim):
    sim.faults({"rate_hang": 1, "hang_ms": 3000})
    t0 = time.monotonic()
    with pytest.raises(requests.Timeout):
        sim.call("GET", "/v2/rooms", timeout=0.5)
    assert time.monotonic() - t0 < 2.5
    assert sim.requests_log()[0]["fault"] == "hang"


def test_one_subject_fails_while_others_succeed(sim):
    ok = sim.room("bk-ok-1")
    bad = sim.room("bk-fail-1")
    sim.faults({"match": "bk-fail-*", "rate_503": 1})
    assert sim.call("POST", "/v2/rooms",
                    json={"name": "bk-fail-1"}).status_code == 503
    assert sim.call("POST", f"/v2/room-codes/room/{bad['id']}").status_code == 503
    assert sim.call("POST", "/v2/rooms", json={"name": "bk-ok-1"}).status_code == 200
    assert sim.call("POST", f"/v2/room-codes/room/{ok['id']}").status_code == 200
    by_room = {}
    for e in sim.requests_log():
        by_room.setdefault(e["room"], []).append(e["status"])
    assert by_room["bk-fail-1"][-2:] == [503, 503]
    assert by_room["bk-ok-1"][-2:] == [200, 200]


def test_rule_by_route_and_times(sim):
    room = sim.room("bk-times")
    sim.faults({"route": "POST /v2/room-codes/*", "rate_500": 1, "times": 2})
    codes = f"/v2/room-codes/room/{room['id']}"
    assert [sim.call("POST", codes).status_code for _ in range(3)] == [500, 500, 200]
    assert sim.call("GET", f"/v2/rooms/{room['id']}").status_code == 200
    assert sim.admin("GET", "faults")["rules"][0]["hits"] == 2


def test_invalid_fault_rules_rejected(sim):
    r = requests.post(sim.base + "/__sim/faults", verify=sim.verify,
                      json={"rules": [{"rate_500": 0.7, "rate_503": 0.7}]},
                      timeout=5)
    assert r.status_code == 400 and "sum" in r.json()["details"][0]


def test_faults_set_by_flags_at_start(bin_dir, secret, access_key, tmp_path):
    from conftest import Sim, mint_mgmt, own_sim_args
    args, url = own_sim_args(free_port())
    proc = subprocess.Popen(
        [os.path.join(bin_dir, "hms-sim"), *args,
         "--access-key", access_key, "--fault", "match=bk-flag-*",
         "--fault", "rate_503=1"],
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
        assert s.call("POST", "/v2/rooms", json={"name": "bk-flag-1"}).status_code == 503
        assert s.call("POST", "/v2/rooms", json={"name": "other"}).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


async def keepalive_client(port, token, path, n):
    reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                   ssl=sim_ssl_context())
    statuses = []
    for _ in range(n):
        writer.write(f"GET {path} HTTP/1.1\r\nHost: sim\r\n"
                     f"Authorization: Bearer {token}\r\n\r\n".encode())
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        statuses.append(int(head.split(" ", 2)[1]))
        length = int([h for h in head.split("\r\n")
                      if h.lower().startswith("content-length:")][0].split(":")[1])
        await reader.readexactly(length)
    writer.close()
    return statuses


def test_many_concurrent_keepalive_connections(sim):
    """1000 connections, 2 requests each on the same connection, 300 ms of
    latency each: they must overlap (suspended_peak), not queue on the
    simulator's two threads."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    room = sim.room("bk-conc")
    sim.faults({"route": "GET /v2/rooms/{id}", "latency_ms": 300})
    token = sim.session.headers["Authorization"].split()[1]
    port = int(sim.base.rsplit(":", 1)[1])

    async def main():
        return await asyncio.gather(*[
            keepalive_client(port, token, f"/v2/rooms/{room['id']}", 2)
            for _ in range(1000)])

    results = asyncio.run(main())
    assert all(s == [200, 200] for s in results)
    stats = sim.admin("GET", "stats")
    assert stats["routes"]["GET /v2/rooms/{id}"] == {"200": 2000}
    assert stats["suspended_peak"] >= 500
