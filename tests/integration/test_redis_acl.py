"""The Redis ACLs of README.md ("Redis ACLs: the worker writes, frontends
read"), applied exactly as written there to the stack's redis-server: the
worker runs as its ACL user (password from REDIS_PASSWORD_FILE) through a
booking's whole life -- provisioning, the webhooks of a live session
(MULTI/EXEC with PUBLISH and ZADD), token renewal (Lua scripts) and the
locked ending -- without one NOPERM, and the frontend user reads the hash
and tokens but cannot write them. The users are removed at the end."""
import os
import re
import shlex

import pytest
import redis

from fault_harness import uid
from test_webhook_events import sim_hooked_run
from worker_helpers import (booking, decode, encode, session_ended,
                            wait_for)

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def readme_acl_lines():
    """The ACL SETUSER lines of README.md's Redis ACLs section, as argv."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("### Redis ACLs"):]
    block = re.search(r"```redis\n(.*?)```", section, re.S).group(1)
    lines = [shlex.split(x) for x in block.splitlines() if x.strip()]
    assert lines and all(x[:2] == ["ACL", "SETUSER"] for x in lines), lines
    return {x[2]: x for x in lines}


def password(argv):
    [p] = [a[1:] for a in argv if a.startswith(">")]
    return p


def test_readme_acls_let_the_worker_work_and_frontends_only_read(
        bin_dir, sim, tmp_path):
    acl = readme_acl_lines()
    assert set(acl) == {"hms-worker", "hms-frontend"}
    admin = redis.Redis.from_url(os.environ["REDIS_URL"],
                                 decode_responses=True)
    port = admin.connection_pool.connection_kwargs["port"]
    pw_file = tmp_path / "redis-password"
    pw_file.write_text(password(acl["hms-worker"]) + "\n")
    pw_file.chmod(0o600)
    try:
        for argv in acl.values():
            assert admin.execute_command(*argv) in ("OK", b"OK", True)
        run, _ = sim_hooked_run(
            bin_dir, tmp_path, sim,
            REDIS_URL=f"redis://hms-worker@127.0.0.1:{port}/0",
            REDIS_PASSWORD_FILE=str(pw_file), HMS_APP_TOKEN_TTL_S="300",
            HMS_TOKEN_RENEW_CHECK_MS="1000")
        run.start()
        try:
            lifecycle(run, sim, admin, acl, port)
        finally:
            codes = run.stop_all()
        assert codes == [0]
        log = run.log()
        for refused in ("NOPERM", "can't run this command", "halted",
                        "cannot claim", "renewal failed"):
            assert refused not in log, log[-3000:]
        assert password(acl["hms-worker"]) not in log
    finally:
        admin.execute_command("ACL", "DELUSER", *acl)
    assert not set(acl) & set(admin.acl_users())


def lifecycle(run, sim, admin, acl, port):
    bid = uid("acl")
    key = f"hms:booking:{bid}"
    run.kafka.send(run.t["bc"], bid, encode(
        "BookingCreated", booking(bid, [("alice", "host"), ("bob", "guest")])))
    run.kafka.flush()
    [ready] = run.kafka.read(run.t["vr"],
                             lambda m: decode("VideoReady", m.value()), 1,
                             timeout=60)
    room = ready["room_id"]
    tkey = f"hms:token:{room}:alice"
    assert admin.hget(key, "status") == "ready"

    fe = redis.Redis(port=port, username="hms-frontend",
                     password=password(acl["hms-frontend"]),
                     decode_responses=True)
    sub = fe.pubsub()
    sub.subscribe(f"hms:events:booking:{bid}")
    assert sub.get_message(timeout=5)["type"] == "subscribe"
    # a session opens (webhooks: MULTI/EXEC, PUBLISH, ZADD hms:renew)
    first = fe.get(tkey)
    j = sim.join(first, "alice")
    assert j.status_code == 200, j.text
    assert wait_for(lambda: admin.hget(key, "session_status") == "live", 30)
    assert wait_for(lambda: admin.zscore("hms:renew", f"booking:{bid}")
                    is not None, 10)
    msg = None
    for _ in range(10):
        msg = sub.get_message(timeout=3)
        if msg is not None and msg["type"] == "message":
            break
    assert msg is not None and msg["type"] == "message", msg
    # renewal (its Lua scripts) as the worker's user
    admin.pexpire(tkey, 10_000)
    assert wait_for(lambda: admin.get(tkey) not in (None, first), 15), \
        run.log()[-3000:]

    # the frontend reads ...
    h = fe.hgetall(key)
    assert h["status"] == "ready" and h["room_id"] == room
    assert fe.hget(key, "code:guest") == admin.hget(key, "code:guest")
    assert fe.get(tkey) == admin.get(tkey) and fe.ttl(tkey) > 0
    # ... and cannot write, nor read what is not its
    for call in (lambda: fe.hset(key, "room_id", "../rooms/x"),
                 lambda: fe.hdel(key, "code:guest"),
                 lambda: fe.delete(key),
                 lambda: fe.set(tkey, "forged"),
                 lambda: fe.expire(tkey, 1),
                 lambda: fe.publish(f"hms:events:booking:{bid}", "{}"),
                 lambda: fe.get(f"hms:room:{room}"),
                 lambda: fe.set(f"hms:event:{uid('x')}", "1"),
                 lambda: fe.eval("return 1", 0)):
        with pytest.raises(redis.exceptions.NoPermissionError):
            call()
    assert admin.hget(key, "room_id") == room
    sub.close()
    fe.close()

    # the locked ending: end-room, disable, tokens and codes gone
    end = session_ended("BOOKING", bid, lock=True)
    run.kafka.send(run.t["se"], bid, encode("SessionEnded", end))
    run.kafka.flush()
    assert wait_for(lambda: admin.hget(key, "status") == "ended", 30), \
        run.log()[-3000:]
    assert run.kafka.read(run.t["ve"], lambda m: m, 1, timeout=30)
    assert not admin.exists(tkey) and admin.hget(key, "code:guest") is None
    assert run.dlq() == []
