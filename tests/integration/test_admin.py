"""Issue 7: /metrics, /healthz and /readyz on ADMIN_ADDR, read with the
Prometheus client library's own text-format parser."""
import os
import socket
import subprocess
import time
import uuid

import redis
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import free_port
from fault_harness import Run
from worker_helpers import decode, encode, stream, wait_for


def get(port, path, method="GET"):
    return requests.request(method, f"http://127.0.0.1:{port}{path}",
                            timeout=5)


def scrape(port):
    r = get(port, "/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(m, name, **labels):
    return m.get((name, tuple(sorted(labels.items()))), 0)


def total(m, name, **labels):
    """Sum over the series whose labels include these."""
    return sum(v for (n, ls), v in m.items() if n == name
               and set(labels.items()) <= set(ls))


def test_metrics_health_and_readiness(bin_dir, sim, tmp_path):
    port = free_port()
    run = Run(bin_dir, tmp_path, ADMIN_ADDR=f"127.0.0.1:{port}")
    run.start()
    rds = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    try:
        # Kafka readiness comes from librdkafka's statistics (every 5 s)
        assert wait_for(lambda: get(port, "/readyz").status_code == 200, 30), \
            get(port, "/readyz").text
        assert get(port, "/healthz").text == "ok\n"
        run.send_bookings(20, poison_every=10)  # 18 bookings, 2 poison
        assert run.wait_caught_up(rds, 60)
        topic = run.t["bc"]
        done = lambda: total(scrape(port), "hms_worker_events_done_total",
                             topic=topic)
        assert wait_for(lambda: done() == 20, 30), done()
        m = scrape(port)
        assert value(m, "hms_worker_events_consumed_total", topic=topic) == 20
        assert value(m, "hms_worker_events_done_total", topic=topic,
                     outcome="succeeded", **{"class": ""}) == 18
        assert total(m, "hms_worker_events_done_total", topic=topic,
                     outcome="dlq") == 2
        # poison 1 is truncated, poison 2 has an unknown fingerprint
        assert value(m, "hms_worker_events_done_total", topic=topic,
                     outcome="dlq", **{"class": "decode"}) == 1
        assert value(m, "hms_worker_events_done_total", topic=topic,
                     outcome="dlq", **{"class": "unknown_schema"}) == 1
        assert value(m, "hms_worker_event_seconds_count", topic=topic) == 20
        assert value(m, "hms_worker_hms_requests_total", route="POST /rooms",
                     status="200") == 18
        assert value(m, "hms_worker_hms_requests_total",
                     route="POST /room-codes/room/{id}", status="200") == 18
        assert value(m, "hms_worker_hms_request_seconds_count",
                     route="POST /rooms") == 18
        assert value(m, "hms_worker_hms_request_seconds_bucket",
                     route="POST /rooms", le="+Inf") == 18
        assert value(m, "hms_worker_management_token_mints_total",
                     reason="start") == 1
        assert value(m, "hms_worker_redis_seconds_count") >= 18 * 3
        assert value(m, "hms_worker_redis_errors_total") == 0
        for dep in ("kafka", "redis", "hms_api"):
            assert value(m, "hms_worker_dependency_up", dependency=dep) == 1
        assert value(m, "hms_worker_assigned_partitions") == 9
        assert wait_for(lambda: value(scrape(port),
                                      "hms_worker_events_in_flight") == 0, 5)
        # lag per assigned partition, from the statistics: caught up
        lag = lambda: [v for (n, ls), v in scrape(port).items()
                       if n == "hms_worker_consumer_lag"
                       and ("topic", topic) in ls]
        assert wait_for(lambda: len(lag()) == 3 and sum(lag()) == 0, 30), lag()
        assert get(port, "/nope").status_code == 404
        assert get(port, "/metrics", "POST").status_code == 405
    finally:
        assert run.stop_all() == [0]
    log = run.procs[0].log.read_text()
    assert "msg=\"admin listening\"" in log


def test_hls_start_failure_is_counted(bin_dir, sim, tmp_path):
    """Contract section 3: a failed HLS start does not fail the event; the
    video-ready goes out without hls_url, with a warning and a metric."""
    port = free_port()
    run = Run(bin_dir, tmp_path, ADMIN_ADDR=f"127.0.0.1:{port}",
              HMS_RETRY_MAX="1", HMS_SUBDOMAIN="hmsworker")
    sim.faults({"route": "POST /v2/live-streams/*", "rate_500": 1.0})
    run.start()
    try:
        sid = f"adm-{uuid.uuid4().hex[:8]}"
        ev = stream(sid, "host-1", True)
        run.kafka.send(run.t["ss"], sid, encode("StreamStarted", ev))
        run.kafka.flush()
        [r] = run.kafka.read(run.t["vr"], lambda m: decode("VideoReady", m.value()),
                             1, timeout=60)
        assert r["causation_id"] == ev["event_id"] and r["hls_url"] is None
        assert value(scrape(port), "hms_worker_hls_start_failures_total") == 1
    finally:
        assert run.stop_all() == [0]
    assert "no HLS: 100ms refused or did not answer, continuing without" in \
        run.procs[0].log.read_text()


def test_redis_down_is_not_ready_but_alive(bin_dir, tmp_path):
    port, dead = free_port(), free_port()
    run = Run(bin_dir, tmp_path, ADMIN_ADDR=f"127.0.0.1:{port}",
              REDIS_URL=f"redis://127.0.0.1:{dead}/0")
    run.start()
    try:
        r = lambda: get(port, "/readyz")
        # Kafka turns ready with the first statistics; Redis never does
        assert wait_for(lambda: r().text == "redis down\n", 30), r().text
        assert r().status_code == 503
        assert get(port, "/healthz").status_code == 200  # alive: no restart
        m = scrape(port)
        assert value(m, "hms_worker_dependency_up", dependency="redis") == 0
        assert value(m, "hms_worker_redis_errors_total") >= 1
    finally:
        assert run.stop_all() == [0]


def test_admin_port_in_use_is_a_start_error(bin_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        env = dict(os.environ, ADMIN_ADDR=f"127.0.0.1:{port}")
        p = subprocess.run([os.path.join(bin_dir, "hms-worker")], env=env,
                           capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p.stderr
    assert "ADMIN_ADDR" in p.stderr and "in use" in p.stderr


ADMIN_PER_IP = 8      # admin.c ADMIN_PER_IP_LIMIT
ADMIN_TIMEOUT_S = 3   # admin.c ADMIN_TIMEOUT_S


def test_slow_clients_do_not_starve_the_probes(bin_dir, tmp_path):
    """Review B16: a slowloris on the admin port must not fail the kubelet's
    probes. The attacker connects from 127.0.0.2 (another loopback source
    address: another peer to the listener, as another pod is to the kubelet
    on the node's address), so the per-IP limit bounds it and not the
    probes, which come from 127.0.0.1. 100 connections, each with half a
    request, are more than the whole listener took before (32): then the
    probes were refused."""
    port = free_port()
    run = Run(bin_dir, tmp_path, ADMIN_ADDR=f"127.0.0.1:{port}")
    run.start()
    socks = []
    try:
        assert wait_for(lambda: get(port, "/healthz").status_code == 200, 30)
        for _ in range(100):
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never ends
            socks.append(s)
        time.sleep(0.5)  # the listener has seen them all
        # the probes answer, in time, while the attacker holds its share
        for _ in range(5):
            for path in ("/healthz", "/readyz"):
                r = requests.get(f"http://127.0.0.1:{port}{path}", timeout=2)
                assert r.status_code in (200, 503), r.text
                assert r.text.endswith("\n")
        # the limit is what held: the listener still holds 8 of the 100
        # (so they were held while the probes answered), the rest it closed
        assert sum(1 for s in socks if _open(s)) == ADMIN_PER_IP
        # and an idle one goes after the short timeout, not 10 s
        assert wait_for(lambda: not any(_open(s) for s in socks),
                        ADMIN_TIMEOUT_S + 3)
    finally:
        for s in socks:
            s.close()
        assert run.stop_all() == [0]


def _open(s):
    """Whether the peer still holds s open (no EOF, no reset waiting)."""
    try:
        s.setblocking(False)
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
