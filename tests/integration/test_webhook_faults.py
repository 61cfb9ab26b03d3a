"""Issue 14, "Done when": 100ms's webhooks under faults, sent by hms-sim
(docs/hms-sim.md, "Webhooks") to the worker's listener over real HTTP.

- Kafka down while 100ms sends: the shared stack's broker is frozen
  (SIGSTOP, always resumed); the simulator's retries (1 s, 3 s, 10 s) all
  end in 503, and nothing the listener answered 200 is missing from the
  topic. A webhook never answered 200 may be there only as contract
  section 1 allows it: "a webhook whose confirmation came after its 503",
  which the worker logs. With Kafka back, new webhooks get 200 and are
  stored.
- Webhooks twice and out of order (the simulator's duplicate and reorder
  faults, then a replay with is_replay): the subject's Redis hash ends as
  the same room's life without faults does (contract section 3, webhook),
  each webhook id is applied once, counted as a duplicate otherwise, and
  PUBLISHed once."""
import collections
import datetime
import json
import os
import signal
import time
import uuid

import pytest
import redis
import requests

from conftest import free_port, mint_app
from fault_harness import uid
from reactions import AdminRun
from test_admin import scrape, total, value
from test_webhook_events import sim_hooked_run
from test_webhooks import Receiver, envelope
from worker_helpers import booking, decode, encode, wait_for

HEADER = "X-Hook-Secret"
TIMEOUT_MS = 500  # WEBHOOK_TIMEOUT_MS: its minimum, to keep retries short


def sim_log(sim):
    return sim.admin("GET", "webhooks?since=0&limit=10000")


def by_id(log, room_id):
    """The simulator's attempts for one room, per event id, in order."""
    out = collections.defaultdict(list)
    for a in log["data"]:
        if a["room_id"] == room_id:
            out[a["id"]].append(a)
    return out


def rfc3339_ms(s):
    """An RFC 3339 UTC time (to the second, milli- or nanosecond) as Unix
    epoch ms, cut (not rounded) to the millisecond."""
    base, _, frac = s.rstrip("Z").partition(".")
    t = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 1000 + int((frac + "000")[:3])


def test_kafka_down_while_100ms_sends(bin_dir, sim, tmp_path, secret,
                                      access_key):
    """Two people in a room; the broker frozen; one leaves (a room with a
    webhook of its own, another destination, has its session opened at the
    same time): each webhook is tried 4 times, 1/3/10 s after each 503,
    then given up. Nothing answered 200 is missing from the topic. Broker
    back: the second leave and the session's close get 200 at their first
    attempt and are stored."""
    broker_pid = int(open(os.path.join(os.environ["STACK_DIR"], "kafka",
                                       "pid")).read())
    port, hook_secret = free_port(), "s3cr3t-" + uuid.uuid4().hex
    url = f"http://127.0.0.1:{port}/hms/webhooks"
    run = AdminRun(bin_dir, tmp_path, WEBHOOK_ADDR=f"127.0.0.1:{port}",
                   WEBHOOK_SECRET_HEADERS=f"{HEADER}: {hook_secret}",
                   WEBHOOK_TIMEOUT_MS=str(TIMEOUT_MS))
    headers = {HEADER: hook_secret}
    sim.config(webhook_url=url, webhook_headers=headers)
    room = sim.room(uid("wh-kdown"))
    # a second destination (the URL differs), so its retries run side by
    # side with the first one's instead of after them
    other = sim.room(uid("wh-kdown-b"), webhook={"url": url + "?dest=b",
                                                 "headers": headers})
    probes = {}  # id -> statuses of webhooks this test posts itself

    def probe():
        ev = {"version": "2.0", "id": str(uuid.uuid4()), "app_id": "a",
              "account_id": "c", "template_id": "t",
              "timestamp": "2026-12-01T10:00:00Z", "type": "peer.join.success",
              "data": {"room_id": room["id"], "user_id": "probe"}}
        r = requests.post(url, json=ev, headers=headers, timeout=30)
        probes.setdefault(ev["id"], []).append(r.status_code)
        return r.status_code == 200
    try:
        run.start()  # inside: a worker that never got ready is stopped too
        assert wait_for(lambda: "webhook listener running" in run.log(), 30)
        peers = {}
        for user in ("ann", "bob"):
            j = sim.join(mint_app(secret, access_key, room["id"], "host",
                                  user), user)
            assert j.status_code == 200, j.text
            peers[user] = j.json()["peer_id"]
        # open, two joins: delivered while Kafka is up
        assert wait_for(lambda: sim_log(sim)["counts"]["delivered"] == 3, 15), \
            sim_log(sim)
        before = sim_log(sim)["next"]
        os.kill(broker_pid, signal.SIGSTOP)
        try:
            assert sim.leave(peers["ann"]).status_code == 200
            r = sim.admin_raw("POST", f"rooms/{other['id']}/session",
                              json={"peers": []})
            assert r.status_code == 200, r.text
            # 4 attempts each: ~0.5 + 1 + 0.5 + 3 + 0.5 + 10 + 0.5 s
            assert wait_for(lambda: sim_log(sim)["counts"]["gave_up"] == 2,
                            40), sim_log(sim)
            assert not probe()  # the listener too: no 200 while down
        finally:
            os.kill(broker_pid, signal.SIGCONT)
        frozen = [a for a in sim_log(sim)["data"] if a["seq"] > before]
        per = collections.defaultdict(list)
        for a in frozen:
            per[a["id"]].append(a)
        assert sorted(a[0]["type"] for a in per.values()) == [
            "peer.leave.success", "session.open.success"], frozen
        for attempts in per.values():
            assert [(a["attempt"], a["status"], a["result"])
                    for a in attempts] == [
                (1, 503, "failed"), (2, 503, "failed"), (3, 503, "failed"),
                (4, 503, "gave_up")], attempts
            # documented: 1 s, 3 s, 10 s after the failed attempt ended; an
            # attempt lasts WEBHOOK_TIMEOUT_MS (or up to the destination
            # that went before it, one sender serving both)
            ts = [a["ts_ms"] / 1000 for a in attempts]
            for got, wait in zip([b - a for a, b in zip(ts, ts[1:])],
                                 (1, 3, 10)):
                assert wait + TIMEOUT_MS / 1000 - 0.1 <= got \
                    <= wait + 2 * TIMEOUT_MS / 1000 + 1.0, ts
        # Kafka back: the listener stores again (reconnecting may take a
        # moment: a probe every half second until one is 200)
        assert wait_for(probe, 60, step=0.5), probes
        assert sim.leave(peers["bob"]).status_code == 200
        assert wait_for(lambda: sim_log(sim)["counts"]["delivered"] == 5, 20), \
            sim_log(sim)
        log = sim_log(sim)
        after = [a for a in log["data"] if a["seq"] > before
                 and a["id"] not in per]
        assert [(a["type"], a["attempt"], a["status"]) for a in after] == [
            ("peer.leave.success", 1, 200),
            ("session.close.success", 1, 200)], after
        # what the topic holds, against what was answered 200
        answered = {a["id"] for a in log["data"] if a["status"] == 200}
        answered |= {i for i, s in probes.items() if 200 in s}
        sent = {a["id"] for a in log["data"]} | set(probes)
        def read(count, timeout):
            return {json.loads(v)["id"] for v in run.kafka.read(
                run.t["wh"], lambda m: m.value(), count, timeout=timeout)}
        # once as many as were answered 200 are there, all that is there
        stored = read(len(answered), 20) | read(10**6, 3)
        assert answered <= stored, (answered, stored)
        # the rest: webhooks answered 503 that Kafka stored anyway (100ms
        # sends them again; readers drop the copies by id). How such a one
        # is logged: test_a_webhook_stored_after_its_503_is_logged
        assert stored <= sent
        m = scrape(run.port)
        n_200 = sum(a["status"] == 200 for a in log["data"]) + sum(
            s.count(200) for s in probes.values())
        n_503 = sum(a["status"] == 503 for a in log["data"]) + sum(
            s.count(503) for s in probes.values())
        assert value(m, "hms_worker_webhooks_total", outcome="stored") == n_200
        assert (value(m, "hms_worker_webhooks_total", outcome="kafka_timeout")
                + value(m, "hms_worker_webhooks_total",
                        outcome="kafka_failed")) == n_503
    finally:
        os.kill(broker_pid, signal.SIGCONT)
        codes = run.stop_all()
    assert codes == [0]


def test_a_webhook_stored_after_its_503_is_logged(bin_dir, tmp_path):
    """The broker frozen (SIGSTOP) with the listener's connection up: a
    webhook is answered 503 at WEBHOOK_TIMEOUT_MS; the broker, resumed,
    stores it. The worker must not say it gave the webhook up: contract
    sections 1 and 7 have such a webhook stored and logged."""
    broker_pid = int(open(os.path.join(os.environ["STACK_DIR"], "kafka",
                                       "pid")).read())
    rc = Receiver(bin_dir, tmp_path, LOG_LEVEL="debug",
                  WEBHOOK_TIMEOUT_MS=str(TIMEOUT_MS))
    try:
        # the producer's connection is up: this one is stored, 200
        assert wait_for(lambda: rc.post(envelope()).status_code == 200, 20)
        ev = envelope()
        os.kill(broker_pid, signal.SIGSTOP)
        try:
            assert rc.post(ev).status_code == 503
            time.sleep(2)  # librdkafka times the request out in flight
        finally:
            os.kill(broker_pid, signal.SIGCONT)
        got = [json.loads(v)["id"] for _, v, _ in rc.stored(10, timeout=10)]
        if ev["id"] not in got:
            pytest.skip("the broker did not store the webhook this time")

        def said():  # what the log says of it, besides its 503
            return [x for x in rc.log().splitlines() if f"id={ev['id']}" in x
                    and "not confirmed in time" not in x
                    and "not stored: 503" not in x]
        wait_for(said, 10)
        assert said() and not any("given up" in x for x in said()), said()
    finally:
        os.kill(broker_pid, signal.SIGCONT)
        rc.run.stop_all()


# A room's life: (user, "join"/"leave"); bob leaves and comes back
SCRIPT = [("alice", "join"), ("bob", "join"), ("bob", "leave"),
          ("carol", "join"), ("bob", "join"), ("alice", "leave"),
          ("carol", "leave"), ("bob", "leave")]
USERS = [("alice", "host"), ("bob", "guest"), ("carol", "guest")]
WEBHOOK_FIELDS = ("session_id", "session_status", "session_started_at",
                  "session_ended_at", "joined:", "left:", "present:")


def drive(sim, rds, room_id):
    peers = {}
    for user, what in SCRIPT:
        if what == "join":
            tok = rds.get(f"hms:token:{room_id}:{user}")
            r = sim.admin_raw("POST", "join", json={"token": tok,
                                                    "name": user})
            assert r.status_code == 200, r.text
            peers[user] = r.json()["peer_id"]
        else:
            assert sim.leave(peers.pop(user)).status_code == 200
        time.sleep(0.05)  # the events' times differ by more than a ms


def hooked(h):
    """The fields of a subject's hash that webhooks write."""
    return {k: v for k, v in h.items() if k.startswith(WEBHOOK_FIELDS)}


def happened(body):
    """When the event of a webhook happened, for its order: the time its
    data gives; a session opens before its first join and closes after its
    last leave at the same instant."""
    d, t = body["data"], body["type"]
    at = {"session.open.success": ("session_started_at", 0),
          "peer.join.success": ("joined_at", 1),
          "peer.leave.success": ("left_at", 1),
          "session.close.success": ("session_stopped_at", 2)}[t]
    return rfc3339_ms(d[at[0]]), at[1]


def expected(bodies):
    """Contract section 3 (webhook), order-insensitive: what the hash holds
    once every one of a closed session's webhooks is applied once."""
    out = {}
    for b in bodies:
        d, t = b["data"], b["type"]
        if t == "session.open.success":
            out["session_started_at"] = str(rfc3339_ms(
                d["session_started_at"]))
        elif t == "session.close.success":
            out["session_id"] = d["session_id"]
            out["session_status"] = "ended"
            out["session_ended_at"] = str(rfc3339_ms(
                d["session_stopped_at"]))
        elif t == "peer.join.success":
            k, at = f"joined:{d['user_id']}", rfc3339_ms(d["joined_at"])
            out[k] = str(min(at, int(out.get(k, at))))
        elif t == "peer.leave.success":
            k, at = f"left:{d['user_id']}", rfc3339_ms(d["left_at"])
            out[k] = str(max(at, int(out.get(k, at))))
    return out


def test_webhooks_twice_and_out_of_order(bin_dir, sim, tmp_path):
    """The same room's life twice, through a worker with WEBHOOK_EVENTS=1:
    once without faults, once with the simulator duplicating and
    reordering webhooks, then replaying them all (is_replay). Both hashes
    end as the webhooks say once each, in whatever order; every id has its
    applied marker, is PUBLISHed exactly once, and every further copy is
    counted as a duplicate."""
    run, topic = sim_hooked_run(bin_dir, tmp_path, sim)
    rds = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    try:
        run.start()
        bids = {"clean": uid("wh-clean"), "faulty": uid("wh-faulty")}
        for bid in bids.values():
            run.kafka.send(run.t["bc"], bid,
                           encode("BookingCreated", booking(bid, USERS)))
        run.kafka.flush()
        rooms = {r["subject_id"]: r["room_id"] for r in run.kafka.read(
            run.t["vr"], lambda m: decode("VideoReady", m.value()), 2)}
        subs = {}
        for name, bid in bids.items():
            subs[name] = rds.pubsub()
            subs[name].subscribe(f"hms:events:booking:{bid}")
            assert subs[name].get_message(timeout=5)["type"] == "subscribe"
        heard = {name: [] for name in bids}

        def listen(name, want, quiet=2.0):
            """PUBLISHed webhook ids until every id of want was heard, then
            quiet s more (a copy applied twice would be heard there)."""
            deadline = time.monotonic() + 30
            while not want <= set(heard[name]) and \
                    time.monotonic() < deadline:
                m = subs[name].get_message(timeout=0.5)
                if m is not None:
                    heard[name].append(json.loads(m["data"])["webhook_id"])
            while (m := subs[name].get_message(timeout=quiet)) is not None:
                heard[name].append(json.loads(m["data"])["webhook_id"])
            return heard[name]

        drive(sim, rds, rooms[bids["clean"]])
        assert wait_for(lambda: sim_log(sim)["queued"] == 0, 15)
        clean_ids = set(by_id(sim_log(sim), rooms[bids["clean"]]))
        assert len(clean_ids) == 2 + len(SCRIPT)  # and open, close
        listen("clean", clean_ids)
        # seeded dice: these faults repeat run after run
        sim.config(webhook_faults={"duplicate_rate": 0.5,
                                   "reorder_rate": 0.5, "seed": 7})
        drive(sim, rds, rooms[bids["faulty"]])
        assert wait_for(lambda: sim_log(sim)["queued"] == 0, 15)
        log = sim_log(sim)
        faulty = by_id(log, rooms[bids["faulty"]])
        assert len(faulty) == len(clean_ids)
        assert log["counts"]["duplicated"] >= 2, log["counts"]
        assert log["counts"]["reordered"] >= 2, log["counts"]
        listen("faulty", set(faulty))
        # 100ms's replay of the room: every event once more, is_replay
        sim.config(webhook_faults={"duplicate_rate": 0, "reorder_rate": 0})
        r = sim.admin("POST", "webhooks/replay",
                      json={"room_id": rooms[bids["faulty"]]})
        assert r["replayed"] == len(faulty), r
        assert wait_for(lambda: sim_log(sim)["counts"]["replayed"]
                        == len(faulty) and sim_log(sim)["queued"] == 0, 20)
        log = sim_log(sim)
        assert all(a["status"] == 200 for a in log["data"]), [
            a for a in log["data"] if a["status"] != 200]
        delivered = sum(a["result"] == "delivered" for a in log["data"])
        copies = run.kafka.read(topic, lambda m: json.loads(m.value()),
                                delivered, timeout=20)
        assert len(copies) == delivered
        # the worker saw every copy: each one past the first a duplicate
        n_ids = len({c["id"] for c in copies})
        assert wait_for(lambda: total(
            scrape(run.port), "hms_worker_events_done_total", topic=topic,
            outcome="duplicate") == delivered - n_ids, 30), (
            delivered, n_ids, scrape(run.port))
        assert total(scrape(run.port), "hms_worker_events_done_total",
                     topic=topic, outcome="succeeded") == n_ids
        # the topic holds the faulty room's webhooks out of their order
        # (the order they happened in), and some of them twice
        arrived = [happened(c) for c in copies
                   if c["data"]["room_id"] == rooms[bids["faulty"]]
                   and not c.get("is_replay")]
        assert arrived != sorted(arrived), arrived
        assert len(arrived) > len(faulty)
        listen("faulty", set(), quiet=1.0)  # the replays: nothing new
        for name, bid in bids.items():
            room_id = rooms[bid]
            ids = set(by_id(log, room_id))
            assert collections.Counter(heard[name]) == {i: 1 for i in ids}, \
                (name, heard[name])
            assert all(rds.exists(f"hms:event:{i}") for i in ids)
            bodies = {c["id"]: c for c in copies
                      if c["data"]["room_id"] == room_id}
            assert set(bodies) == ids
            h = rds.hgetall(f"hms:booking:{bid}")
            assert hooked(h) == expected(bodies.values()), (name, h)
        assert hooked(rds.hgetall(f"hms:booking:{bids['clean']}")).keys() == \
            hooked(rds.hgetall(f"hms:booking:{bids['faulty']}")).keys()
        assert run.dlq() == []
    finally:
        codes = run.stop_all()
    assert codes == [0]
