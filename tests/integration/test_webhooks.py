"""Issue 14, "Receive": hms-worker's webhook listener (service/src/webhook.c)
over HTTP against the local stack. A webhook is answered 200 only once it
is in the topic (read back here with confluent-kafka, its own librdkafka);
refused ones (401, 403, 400, 413, 404, 405) leave nothing there; Kafka
unreachable answers 503 within WEBHOOK_TIMEOUT_MS; SIGTERM stops accepting
and answers what waits; 100 concurrent webhooks are all stored."""
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest
import requests

from conftest import free_port
from fault_harness import Run
from test_admin import scrape, value
from worker_helpers import wait_for

HEADER = "X-Hms-Webhook-Secret"


def envelope(room="room-1", type_="peer.join.success", **data):
    """A webhook as 100ms sends it (docs/100ms-api.md section 4)."""
    return {"version": "2.0", "id": str(uuid.uuid4()),
            "app_id": "app-1", "account_id": "acct-1",
            "template_id": "6a1b00000000000000000001",
            "timestamp": "2026-12-01T10:00:00Z", "type": type_,
            "data": {"room_id": room, "room_name": "bk-b1",
                     "session_id": "sess-1", **data}}


class Receiver:
    """A worker of its own (fault_harness.Run: topics, group) with the
    webhook listener on a free port."""

    def __init__(self, bin_dir, tmp_path, wait_assigned=True, **env):
        self.secret = "s3cr3t-" + uuid.uuid4().hex
        self.port = free_port()
        env.setdefault("WEBHOOK_SECRET_HEADERS", f"{HEADER}: {self.secret}")
        self.run = Run(bin_dir, tmp_path,
                       WEBHOOK_ADDR=f"127.0.0.1:{self.port}", **env)
        self.scheme = "https" if "WEBHOOK_TLS_CERT_FILE" in env else "http"
        self.url = f"{self.scheme}://127.0.0.1:{self.port}/hms/webhooks"
        if wait_assigned:
            self.proc = self.run.start()
        else:  # Kafka unreachable: no partition is ever assigned
            log = tmp_path / "worker-0.log"
            with open(log, "w") as out:
                self.proc = subprocess.Popen(
                    [os.path.join(bin_dir, "hms-worker")], env=self.run.env,
                    stderr=out)
            self.proc.log = log
            self.run.procs.append(self.proc)
        assert wait_for(lambda: "webhook listener running"
                        in self.proc.log.read_text(), 30), self.log()[-3000:]

    def log(self):
        return self.proc.log.read_text()

    def post(self, body, headers=None, secret=True, url=None, **kw):
        h = {"Content-Type": "application/json"}
        if secret:
            h[HEADER] = self.secret
        h.update(headers or {})
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        kw.setdefault("timeout", 30)
        return requests.post(url or self.url, data=body, headers=h, **kw)

    def stored(self, count, timeout=10):
        """What the webhooks topic holds: (key, value, headers) each."""
        return self.run.kafka.read(
            self.run.t["wh"],
            lambda m: (m.key(), m.value(), dict(m.headers() or [])),
            count, timeout=timeout)

    def stop(self):
        codes = self.run.stop_all()
        assert self.secret not in self.log(), "a secret header in the log"
        return codes


@pytest.fixture
def receivers(bin_dir, tmp_path):
    made = []

    def make(**env):
        d = tmp_path / f"r{len(made)}"
        d.mkdir()
        made.append(Receiver(bin_dir, d, **env))
        return made[-1]
    yield make
    for r in made:
        r.run.stop_all()


def test_valid_webhook_is_stored_before_200(receivers):
    """200 only once stored: the body byte for byte, keyed by data.room_id,
    with the id, type and reception time in headers. Redis and the 100ms
    API are down: receiving depends on Kafka alone."""
    rc = receivers(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
                   HMS_API_BASE=f"https://127.0.0.1:{free_port()}/v2",
                   ADMIN_ADDR=f"127.0.0.1:{free_port()}")
    ev = envelope(room="65a1b2c3d4e5f60718293a4b", peer_id="p-1",
                  user_name="Zoë ✓", role="host")
    # 100ms's own formatting, kept as sent: spaces, key order, escapes
    body = (json.dumps(ev, indent=1, ensure_ascii=False) + "\n").encode()
    before = int(time.time() * 1000)
    r = rc.post(body)
    after = int(time.time() * 1000)
    assert r.status_code == 200, r.text
    # stored before the answer: there without waiting
    [(key, val, hdrs)] = rc.stored(1, timeout=5)
    assert key == b"65a1b2c3d4e5f60718293a4b"
    assert val == body
    assert hdrs["hms-webhook-id"] == ev["id"].encode()
    assert hdrs["hms-webhook-type"] == b"peer.join.success"
    assert before <= int(hdrs["hms-received-at"]) <= after
    admin = int(rc.run.env["ADMIN_ADDR"].rsplit(":", 1)[1])
    m = scrape(admin)
    assert value(m, "hms_worker_webhooks_total", outcome="stored") == 1
    assert value(m, "hms_worker_webhook_seconds_count") == 1
    assert rc.stop() == [0]


def test_refused_webhooks_store_nothing(receivers):
    rc = receivers(ADMIN_ADDR=f"127.0.0.1:{free_port()}",
                   WEBHOOK_MAX_BYTES="4096")
    ev = envelope()
    wrong = rc.secret[:-1] + ("x" if rc.secret[-1] != "x" else "y")
    cases = [
        (401, dict(body=ev, secret=False)),
        (401, dict(body=ev, secret=False, headers={HEADER: wrong})),
        (401, dict(body=ev, secret=False, headers={HEADER: rc.secret + "x"})),
        (401, dict(body=ev, secret=False, headers={HEADER: ""})),
        (400, dict(body=b"not json")),
        (400, dict(body=b"[1, 2]")),
        (400, dict(body={k: v for k, v in ev.items() if k != "id"})),
        (400, dict(body={**ev, "data": {"peer_id": "no room"}})),
        (400, dict(body={**ev, "data": "room-1"})),
        (400, dict(body={**ev, "type": 7})),
        (400, dict(body=b'{"id":"a","id":"b","type":"t",'
                        b'"data":{"room_id":"r"}}')),
        (400, dict(body={**ev, "id": "x" * 129})),
        (413, dict(body=json.dumps({**ev, "pad": "x" * 5000}).encode())),
        (404, dict(body=ev, url=rc.url + "/other")),
    ]
    for want, kw in cases:
        r = rc.post(**kw)
        assert r.status_code == want, (want, kw, r.status_code, r.text)
    r = requests.get(rc.url, headers={HEADER: rc.secret}, timeout=10)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    # chunked, no Content-Length: past the limit the connection is closed
    chunks = (json.dumps({**ev, "pad": "x" * 5000}).encode()[i:i + 1000]
              for i in range(0, 6000, 1000))
    with pytest.raises(requests.ConnectionError):
        rc.post(chunks)
    # the one good webhook, last: the topic holds it and nothing else
    assert rc.post(ev).status_code == 200
    got = rc.stored(100, timeout=5)
    assert [json.loads(v)["id"] for _, v, _ in got] == [ev["id"]]
    admin = int(rc.run.env["ADMIN_ADDR"].rsplit(":", 1)[1])
    m = scrape(admin)
    for outcome, n in (("unauthorized", 4), ("malformed", 8),
                       ("too_large", 2), ("not_found", 1), ("bad_method", 1),
                       ("stored", 1)):
        assert value(m, "hms_worker_webhooks_total", outcome=outcome) == n, \
            outcome
    assert rc.stop() == [0]


def test_address_outside_the_allowlist_is_forbidden(receivers):
    """The test connects from 127.0.0.1; only 10.0.0.0/8 is allowed."""
    rc = receivers(WEBHOOK_ALLOW_CIDRS="10.0.0.0/8")
    ev = envelope()
    r = rc.post(ev)
    assert r.status_code == 403, r.text
    assert rc.post(ev, secret=False).status_code == 403  # before the secret
    assert rc.stored(1, timeout=3) == []
    assert "status=403 peer=127.0.0.1" in rc.log()
    assert rc.stop() == [0]


def test_kafka_unreachable_answers_503_within_the_timeout(receivers):
    """KAFKA_BROKERS is a dead port: every webhook waits at most
    WEBHOOK_TIMEOUT_MS, then 503 (100ms sends it again); none is 200."""
    rc = receivers(wait_assigned=False,
                   KAFKA_BROKERS=f"127.0.0.1:{free_port()}",
                   WEBHOOK_TIMEOUT_MS="2000")
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        def one(_):
            t0 = time.monotonic()
            r = rc.post(envelope())
            return r.status_code, time.monotonic() - t0
        got = list(pool.map(one, range(5)))
    assert [s for s, _ in got] == [503] * 5, got
    # the timeout plus librdkafka's once-a-second expiry scan, at most
    assert all(1.5 <= t < 4.5 for _, t in got), got
    assert "msg=\"webhook not stored: 503\"" in rc.log() or \
        "not confirmed in time" in rc.log()
    assert rc.stop() == [0]


def test_sigterm_stops_accepting_and_answers_the_waiting(receivers):
    """SIGTERM: no new connection; a webhook waiting for Kafka is answered
    503 within SHUTDOWN_TIMEOUT_MS, well before its WEBHOOK_TIMEOUT_MS;
    exit 0."""
    rc = receivers(wait_assigned=False,
                   KAFKA_BROKERS=f"127.0.0.1:{free_port()}",
                   WEBHOOK_TIMEOUT_MS="60000", SHUTDOWN_TIMEOUT_MS="1000")
    out = {}

    def waiting():
        t0 = time.monotonic()
        out["status"] = rc.post(envelope()).status_code
        out["after"] = time.monotonic() - t0
    t = threading.Thread(target=waiting)
    t.start()
    time.sleep(1.0)
    assert t.is_alive()  # waits for Kafka
    rc.proc.send_signal(signal.SIGTERM)
    assert wait_for(lambda: "webhook listener stopping" in rc.log(), 5)
    with pytest.raises(requests.ConnectionError):
        rc.post(envelope(), timeout=3)
    t.join(20)
    assert out.get("status") == 503, out
    assert out["after"] < 10, out
    assert rc.proc.wait(20) == 0


def test_100_concurrent_webhooks_are_all_stored(receivers):
    rc = receivers()
    events = [envelope(room=f"room-{i % 10}") for i in range(100)]
    start = threading.Barrier(100)

    def one(ev):
        with requests.Session() as s:  # a connection each
            start.wait(30)
            return s.post(rc.url, data=json.dumps(ev).encode(), timeout=30,
                          headers={HEADER: rc.secret}).status_code
    with concurrent.futures.ThreadPoolExecutor(100) as pool:
        codes = list(pool.map(one, events))
    assert codes == [200] * 100, codes
    got = rc.stored(100, timeout=10)
    assert len(got) == 100
    by_id = {json.loads(v)["id"]: (k, v) for k, v, _ in got}
    for ev in events:
        k, v = by_id[ev["id"]]
        assert k == ev["data"]["room_id"].encode()
        assert v == json.dumps(ev).encode()
    assert rc.stop() == [0]


def test_tls(receivers, tmp_path):
    """WEBHOOK_TLS_CERT_FILE + WEBHOOK_TLS_KEY_FILE: HTTPS (libmicrohttpd
    with GnuTLS), verified against the certificate; plain HTTP fails."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    rc = receivers(WEBHOOK_TLS_CERT_FILE=str(cert),
                   WEBHOOK_TLS_KEY_FILE=str(key))
    ev = envelope()
    assert rc.post(ev, verify=str(cert)).status_code == 200
    with pytest.raises(requests.ConnectionError):
        rc.post(ev, url=rc.url.replace("https:", "http:"), timeout=5)
    [(_, val, _)] = rc.stored(1, timeout=5)
    assert json.loads(val)["id"] == ev["id"]
    assert "tls=on" in rc.log()
    assert rc.stop() == [0]


def run_worker(bin_dir, **env):
    e = dict(os.environ, ADMIN_ADDR="off", **env)
    return subprocess.run([os.path.join(bin_dir, "hms-worker")], env=e,
                          capture_output=True, text=True, timeout=30)


def test_start_errors_exit_2(bin_dir):
    """No secret header, or the port in use: exit 2 naming the variable."""
    r = run_worker(bin_dir, WEBHOOK_ADDR="127.0.0.1:0")
    assert r.returncode == 2
    assert "var=WEBHOOK_SECRET_HEADERS" in r.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = run_worker(bin_dir, WEBHOOK_ADDR=f"127.0.0.1:{s.getsockname()[1]}",
                       WEBHOOK_SECRET_HEADERS="X-A: 0123456789abcdef-xyz")
    assert r.returncode == 2
    assert "WEBHOOK_ADDR: cannot listen" in r.stderr
    assert "0123456789abcdef-xyz" not in r.stderr
