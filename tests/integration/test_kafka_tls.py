"""Issue 15, part 2: the worker and hmsctl through the broker's SASL_SSL
listener (SCRAM-SHA-512), as against Confluent Cloud or MSK: configured by
KAFKA_PROP_* only, the password read from a 0600 file
(KAFKA_PROP_SASL_PASSWORD_FILE), the broker's certificate verified against
the stack's CA. A refused login halts the worker with the reason on
/readyz; hmsctl says why and fails at once."""
import os
import subprocess
import time

import pytest
import requests

from conftest import free_port
from fault_harness import Run, uid
from worker_helpers import decode, wait_for


def sasl_env(password_file, ca_file=None):
    """The worker's (and hmsctl's) settings for the SASL_SSL listener."""
    return {
        "KAFKA_BROKERS": os.environ["STACK_KAFKA_SASL_BROKERS"],
        "KAFKA_PROP_SECURITY_PROTOCOL": "sasl_ssl",
        "KAFKA_PROP_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_PROP_SASL_USERNAME": os.environ["STACK_KAFKA_SASL_USER"],
        "KAFKA_PROP_SASL_PASSWORD_FILE": str(password_file),
        "KAFKA_PROP_SSL_CA_LOCATION": ca_file or os.environ["STACK_CA_FILE"],
    }


@pytest.fixture(autouse=True)
def needs_sasl():
    if not os.environ.get("STACK_KAFKA_SASL_BROKERS"):
        pytest.skip("no SASL_SSL listener in this stack (stack.sh up)")


def hmsctl(bin_dir, env, *args, timeout=60):
    return subprocess.run([os.path.join(bin_dir, "hmsctl"), *args], env=env,
                          capture_output=True, text=True, timeout=timeout,
                          check=False)


def readyz(port):
    try:
        r = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
        return r.status_code, r.text
    except requests.RequestException as e:
        return 0, str(e)


def start_worker(run, tmp_path):
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        p = subprocess.Popen([os.path.join(run.bin, "hms-worker")],
                             env=run.env, stderr=out)
    p.log = log
    run.procs.append(p)
    return p


def test_worker_and_hmsctl_over_sasl_ssl(bin_dir, sim, tmp_path):
    password = os.environ["STACK_KAFKA_SASL_PASSWORD_FILE"]
    assert os.stat(password).st_mode & 0o077 == 0
    # the listener is not plaintext: nothing in the stack's PLAINTEXT
    # settings is used by the worker
    run = Run(bin_dir, tmp_path, **sasl_env(password))
    assert "KAFKA_PROP_SASL_PASSWORD" not in run.env
    p = run.start()  # "partitions assigned": logged in, group joined
    env = dict(run.env)
    try:
        bid = uid("tls")
        sent = hmsctl(bin_dir, env, "send", "booking-created",
                      "--booking-id", bid, "--participant", "alice:host",
                      "--participant", "bob:guest")
        assert sent.returncode == 0, sent.stderr
        assert f"sent topic={run.t['bc']}" in sent.stdout
        ready = run.kafka.read(
            run.t["vr"], lambda m: decode("VideoReady", m.value())
            if m.key() == bid.encode() else None, 1, timeout=60)
        assert len(ready) == 1, p.log.read_text()[-3000:]
        assert ready[0]["subject_kind"] == "BOOKING"
        assert ready[0]["subject_id"] == bid and ready[0]["codes"]
        lag = hmsctl(bin_dir, env, "lag")
        assert lag.returncode == 0, lag.stderr
        assert f"topic={run.t['bc']}" in lag.stdout
        listing = hmsctl(bin_dir, env, "dlq", "list")
        assert listing.returncode == 0 and "entries=0" in listing.stdout, \
            listing.stdout + listing.stderr
    finally:
        assert run.stop_all() == [0]
    log = p.log.read_text()
    secret = open(password, encoding="utf-8").read().strip()
    assert secret not in log
    assert "SASL authentication" not in log and "level=error" not in log


def test_wrong_password_halts_worker_and_fails_hmsctl(bin_dir, tmp_path):
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    port = free_port()
    run = Run(bin_dir, tmp_path, ADMIN_ADDR=f"127.0.0.1:{port}",
              **sasl_env(wrong))
    p = start_worker(run, tmp_path)
    try:
        # halted, alive: /readyz says why, the process keeps running
        assert wait_for(lambda: "SASL login" in readyz(port)[1], 30), \
            readyz(port)[1] + p.log.read_text()[-3000:]
        code, body = readyz(port)
        assert code == 503 and "halted" in body, body
        assert "KAFKA_PROP_SASL" in body
        assert p.poll() is None
        assert requests.get(f"http://127.0.0.1:{port}/healthz",
                            timeout=2).status_code == 200
        log = p.log.read_text()
        assert 'msg="halted: kafka refuses the worker"' in log
        assert log.count("halted: kafka refuses") == 1  # once, not per retry
        assert "not-the-password" not in log

        started = time.monotonic()
        sent = hmsctl(bin_dir, dict(run.env), "send", "booking-created",
                      "--booking-id", uid("tls"), "--participant", "a:host")
        assert sent.returncode == 1
        assert "kafka refuses us" in sent.stderr and "SASL" in sent.stderr, \
            sent.stderr
        assert time.monotonic() - started < 15  # not the 30 s flush
        assert "not-the-password" not in sent.stderr + sent.stdout
    finally:
        assert run.stop_all() == [0]


def test_unknown_ca_halts_worker(bin_dir, tmp_path):
    """Certificate verification is on: a CA that did not sign the broker's
    certificate is a TLS failure, not a connection that works anyway."""
    other = tmp_path / "other"
    subprocess.run([os.path.join(os.path.dirname(__file__), "..", "..",
                                 "deploy", "local", "tls.sh"), "ca",
                    str(other)], check=True, capture_output=True)
    port = free_port()
    run = Run(bin_dir, tmp_path, ADMIN_ADDR=f"127.0.0.1:{port}",
              **sasl_env(os.environ["STACK_KAFKA_SASL_PASSWORD_FILE"],
                         ca_file=str(other / "ca.pem")))
    p = start_worker(run, tmp_path)
    try:
        assert wait_for(lambda: "TLS handshake failed" in readyz(port)[1],
                        30), readyz(port)[1] + p.log.read_text()[-3000:]
        assert "certificate verify failed" in readyz(port)[1]
        assert p.poll() is None
    finally:
        assert run.stop_all() == [0]
