"""Tokens that follow the room (docs/contract.md sections 4 and 5): while a
subject's session is live, the app tokens of its listed users are minted
again before they run out -- driven by the sorted set hms:renew in Redis,
so a restarted worker goes on renewing -- and never once the session has
closed.

The token's life in Redis is shortened with PEXPIRE below the renewal
margin (HMS_APP_TOKEN_TTL_S=300: 30 s), and the worker checks every
second, so each step takes a second or two."""
import time

import jwt  # PyJWT: an implementation independent of ours

from fault_harness import uid
from test_webhook_events import shared_redis, sim_hooked_run
from worker_helpers import (booking, decode, encode, session_ended, stream,
                            wait_for)


def renewing_run(bin_dir, tmp_path, sim):
    """A worker with the sim's webhooks, short tokens and a check every
    second; not started."""
    run, _ = sim_hooked_run(bin_dir, tmp_path, sim, HMS_APP_TOKEN_TTL_S="300",
                            HMS_TOKEN_RENEW_CHECK_MS="1000")
    return run


def claims(secret, token):
    return jwt.decode(token, secret, algorithms=["HS256"],
                      options={"verify_aud": False})


def renewed(rds, key, old, timeout=15):
    """The token at key once it is no longer old (None: it was not)."""
    got = []

    def changed():
        v = rds.get(key)
        if v is not None and v != old:
            got.append(v)
            return True
        return False
    return got[0] if wait_for(changed, timeout) else None


def test_tokens_follow_a_live_session(bin_dir, sim, tmp_path, secret,
                                      access_key):
    run = renewing_run(bin_dir, tmp_path, sim)
    rds = shared_redis()
    run.start()
    try:
        sid = uid("rn-ls")
        run.kafka.send(run.t["ss"], sid,
                       encode("StreamStarted", stream(sid, "hana", False)))
        run.kafka.flush()
        [r] = run.kafka.read(run.t["vr"],
                             lambda m: decode("VideoReady", m.value()), 1)
        room, key = r["room_id"], f"hms:stream:{sid}"
        tkey, member = f"hms:token:{room}:hana", f"stream:{sid}"
        first = rds.get(tkey)
        c0 = claims(secret, first)
        assert rds.zscore("hms:renew", member) is None  # no session yet

        j = sim.join(first, "hana")
        assert j.status_code == 200, j.text
        peer = j.json()["peer_id"]
        assert wait_for(lambda: rds.hget(key, "session_status") == "live",
                        30), rds.hgetall(key)
        assert rds.zscore("hms:renew", member) is not None
        # a fresh token is not minted again
        time.sleep(2.5)
        assert rds.get(tkey) == first
        assert run.metric("hms_worker_tokens_renewed_total") == 0

        # its life in Redis below the margin: minted again
        rds.pexpire(tkey, 10_000)
        second = renewed(rds, tkey, first)
        assert second is not None, run.log()[-3000:]
        c1 = claims(secret, second)
        assert c1["jti"] != c0["jti"] and c1["exp"] > c0["exp"]
        assert {k: c1[k] for k in ("access_key", "room_id", "user_id", "role",
                                   "type", "version")} == {
            "access_key": access_key, "room_id": room, "user_id": "hana",
            "role": "host", "type": "app", "version": 2}
        assert c1["exp"] - c1["iat"] == 300 + 60
        assert 200 < rds.ttl(tkey) <= 240  # exp - 60 s, as at provisioning
        assert wait_for(lambda: run.metric(
            "hms_worker_tokens_renewed_total") == 1, 5)
        j2 = sim.join(second, "hana-2")  # the new token lets her in
        assert j2.status_code == 200, j2.text

        # a restarted worker goes on renewing: nothing lives in memory
        assert run.stop_all() == [0]
        run.start()
        rds.pexpire(tkey, 10_000)
        third = renewed(rds, tkey, second)
        assert third is not None, run.log(1)[-3000:]
        assert claims(secret, third)["jti"] != c1["jti"]

        # the session closes: no more renewals
        for p in (peer, j2.json()["peer_id"]):
            assert sim.leave(p).status_code == 200
        assert wait_for(lambda: rds.hget(key, "session_status") == "ended",
                        30), rds.hgetall(key)
        assert wait_for(lambda: rds.zscore("hms:renew", member) is None, 5)
        rds.pexpire(tkey, 10_000)
        time.sleep(3)
        assert rds.get(tkey) == third
    finally:
        assert set(run.stop_all()) == {0}


def test_only_listed_users_of_a_live_subject(bin_dir, sim, tmp_path, secret):
    """A user no longer listed gets no token back; a locked subject's
    tokens stay gone, although its session was live."""
    run = renewing_run(bin_dir, tmp_path, sim)
    rds = shared_redis()
    run.start()
    try:
        bid = uid("rn-bk")
        for n, who in enumerate(([("alice", "host"), ("bob", "guest")],
                                 [("alice", "host")]), 1):
            run.kafka.send(run.t["bc"], bid,
                           encode("BookingCreated", booking(bid, who)))
            run.kafka.flush()
            r = run.kafka.read(run.t["vr"],
                               lambda m: decode("VideoReady", m.value()), n)[-1]
            if len(who) == 2:  # alice opens the session while bob is listed
                room = r["room_id"]
                first = rds.get(f"hms:token:{room}:alice")
                assert sim.join(first, "alice").status_code == 200
                key = f"hms:booking:{bid}"
                assert wait_for(
                    lambda: rds.hget(key, "session_status") == "live", 30)
        akey, bkey = f"hms:token:{room}:alice", f"hms:token:{room}:bob"
        assert rds.get(bkey) is None and "role:bob" not in rds.hgetall(key)
        before = rds.get(akey)
        rds.pexpire(akey, 10_000)
        after = renewed(rds, akey, before)
        assert after is not None, run.log()[-3000:]
        c = claims(secret, after)
        assert (c["user_id"], c["role"], c["room_id"]) == ("alice", "host",
                                                           room)
        time.sleep(2)
        assert rds.get(bkey) is None  # bob is no longer listed
        # ended and locked mid-session: the tokens go and stay gone
        run.kafka.send(run.t["se"], bid, encode(
            "SessionEnded", session_ended("BOOKING", bid, lock=True)))
        run.kafka.flush()
        run.kafka.read(run.t["ve"], lambda m: m, 1)
        assert rds.hget(key, "status") == "ended" and rds.get(akey) is None
        assert rds.zscore("hms:renew", f"booking:{bid}") is None
        time.sleep(3)
        assert rds.get(akey) is None
        assert run.metric("hms_worker_tokens_renewed_total") == 1
    finally:
        assert set(run.stop_all()) == {0}
