"""Issue 7: hmsctl dlq list / dlq replay / lag / health against a worker
on topics of its own."""
import os
import subprocess

import redis

from conftest import free_port
from fault_harness import Run
from worker_helpers import booking, encode, wait_for


def hmsctl(bin_dir, env, *args):
    return subprocess.run([os.path.join(bin_dir, "hmsctl"), *args], env=env,
                          capture_output=True, text=True, timeout=60,
                          check=False)


def test_dlq_list_replay_lag_health(bin_dir, sim, tmp_path):
    port = free_port()
    run = Run(bin_dir, tmp_path, ADMIN_ADDR=f"127.0.0.1:{port}")
    run.start()
    rds = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    env = dict(run.env)
    try:
        run.send_bookings(6)
        # two poison messages, one with a header of its own
        run.kafka.send(run.t["bc"], "bad-1", b"\x13\x37 not avro",
                       headers=[("trace-id", b"t-1")])
        run.kafka.send(run.t["bc"], "bad-2",
                       encode("BookingCreated", booking("", [("a", "host")])))
        run.kafka.flush()
        assert run.wait_caught_up(rds, 60)
        listing = lambda: hmsctl(bin_dir, env, "dlq", "list")
        assert wait_for(lambda: "entries=2" in listing().stdout, 30), \
            listing().stdout + listing().stderr
        out = listing().stdout
        bad1 = next(l for l in out.splitlines() if "key=bad-1" in l)
        bad2 = next(l for l in out.splitlines() if "key=bad-2" in l)
        assert f"original_topic={run.t['bc']}" in bad1
        assert "class=decode" in bad1 and "decodes=no" in bad1
        assert "attempts=1" in bad1 and "timestamp_type=CreateTime" in bad1
        assert f"group={env['KAFKA_GROUP_ID']}" in bad1
        assert "class=validation" in bad2 and "decodes=yes" in bad2
        assert "record=BookingCreated" in bad2
        offset = bad1.split("dlq_offset=")[1].split()[0]
        part = bad1.split("dlq_partition=")[1].split()[0]

        r = hmsctl(bin_dir, env, "dlq", "replay")
        assert r.returncode == 2  # neither --offset nor --all
        r = hmsctl(bin_dir, env, "dlq", "replay", "--offset", offset,
                   "--partition", part)
        assert r.returncode == 0, r.stderr
        assert "replayed=1 failed=0" in r.stdout
        # back in the original topic with its key, value and own headers
        again = run.kafka.read(run.t["bc"], lambda m: m if m.key() == b"bad-1"
                               else None, 2, timeout=30)
        assert len(again) == 2
        assert again[1].value() == again[0].value()
        assert again[1].headers() == [("trace-id", b"t-1")]
        # the worker dead-letters it again: now three entries
        assert wait_for(lambda: "entries=3" in listing().stdout, 30)

        lag = hmsctl(bin_dir, env, "lag")
        assert lag.returncode == 0, lag.stderr
        assert f"topic={run.t['bc']} partition=0" in lag.stdout
        assert wait_for(lambda: "total_lag=0" in
                        hmsctl(bin_dir, env, "lag").stdout, 30)

        health = lambda: hmsctl(bin_dir, env, "health")
        assert wait_for(lambda: health().returncode == 0, 30), health().stdout
        assert "/healthz 200 ok" in health().stdout
        assert "/readyz 200 ok" in health().stdout
    finally:
        assert run.stop_all() == [0]
    down = hmsctl(bin_dir, env, "health")
    assert down.returncode == 1 and "unreachable" in down.stdout
