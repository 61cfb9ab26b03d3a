"""Issue 15, Redis over TLS (rediss://): the worker end to end against the
stack's redis-server on its TLS port (REDIS_TLS_URL, certificate from the
stack's CA, verification on), and the refusals that must halt with their
cause rather than read as "Redis down": a CA the worker does not trust, a
certificate issued for another name, a client certificate Redis wants and
does not get. Redis ACL user + REDIS_PASSWORD_FILE over TLS with a client
certificate. The hashes and tokens are read back with redis-py over the
plain port of the same server."""
import os
import subprocess

import jwt
import pytest
import redis

from conftest import free_port
from reactions import AdminRun, RedisServer
from worker_helpers import decode, wait_for

CA = os.environ.get("STACK_CA_FILE", "")
TLS_DIR = os.path.dirname(CA)
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def shared_redis():
    return redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)


def tls_port(url):
    return int(url.rsplit(":", 1)[1].split("/")[0])


def issue(tmp_path, name, *san):
    """A server certificate from the stack's CA for san (not 127.0.0.1 and
    localhost, unlike tls.sh cert): key and certificate paths."""
    key, csr, pem = (tmp_path / f"{name}.{x}" for x in ("key", "csr", "pem"))
    ext = tmp_path / f"{name}.ext"
    ext.write_text(f"subjectAltName={','.join(san)}\n"
                   "extendedKeyUsage=serverAuth\n")
    for cmd in (["openssl", "ecparam", "-name", "prime256v1", "-genkey",
                 "-noout", "-out", key],
                ["openssl", "req", "-new", "-key", key, "-subj",
                 f"/CN={name}", "-out", csr],
                ["openssl", "x509", "-req", "-in", csr, "-CA", CA, "-CAkey",
                 os.path.join(TLS_DIR, "ca.key"), "-CAcreateserial",
                 "-days", "1", "-sha256", "-extfile", ext, "-out", pem]):
        subprocess.run([str(x) for x in cmd], check=True, capture_output=True)
    return str(pem), str(key)


def tls_server(tmp_path, name, cert, key, clients="optional"):
    """A redis-server of the test's own: plain port (for the test's client)
    and a TLS port with cert."""
    port = free_port()
    srv = RedisServer(tmp_path, name, "--tls-port", str(port),
                      "--tls-cert-file", cert, "--tls-key-file", key,
                      "--tls-ca-cert-file", CA, "--tls-auth-clients", clients)
    srv.tls_port = port
    return srv


def stop(run):
    assert run.alive(), "the worker exited: " + run.log()[-3000:]
    assert run.stop_all() == [0]


def assert_halted(run, *says):
    """Halted with the cause on /readyz; nothing applied or dead-lettered,
    the worker up."""
    assert wait_for(lambda: "halted" in run.readyz()[1], 40), \
        (run.readyz(), run.log()[-3000:])
    code, text = run.readyz()
    assert code == 503 and "redis TLS refused" in text, text
    for s in says:
        assert s in text, text
    assert run.dlq() == [] and run.lag() == len(run.events)
    assert run.alive()


@pytest.fixture(autouse=True)
def need_tls_stack():
    if not os.environ.get("REDIS_TLS_URL") or not CA:
        pytest.fail("REDIS_TLS_URL / STACK_CA_FILE unset: deploy/local/"
                    "stack.sh up writes them")


def test_worker_over_tls_end_to_end(bin_dir, sim, tmp_path, secret):
    """rediss:// with verification on (the stack's CA), by host name:
    bookings -> video-ready, the hash and the tokens in Redis."""
    r = shared_redis()
    run = AdminRun(bin_dir, tmp_path, REDIS_URL=os.environ["REDIS_TLS_URL"],
                   REDIS_TLS_CA_FILE=CA)
    try:
        run.start()
        run.send_bookings(3)
        assert run.wait_caught_up(r, 60), (run.readyz(), run.log()[-3000:])
        ready = run.kafka.read(run.t["vr"],
                               lambda m: decode("VideoReady", m.value()), 3,
                               timeout=30)
        assert sorted(x["subject_id"] for x in ready) == sorted(
            e["booking_id"] for e in run.events)
        for v in ready:
            h = r.hgetall(f"hms:booking:{v['subject_id']}")
            assert h["status"] == "ready" and h["room_id"] == v["room_id"]
            for user, role in (("alice", "host"), ("bob", "guest")):
                tok = r.get(f"hms:token:{v['room_id']}:{user}")
                claims = jwt.decode(tok, secret, algorithms=["HS256"])
                assert (claims["user_id"], claims["role"]) == (user, role)
        assert wait_for(lambda: run.readyz()[0] == 200, 20), run.readyz()
        assert "tls=verify(REDIS_TLS_CA_FILE)" in run.log()
        stop(run)
    finally:
        run.stop_all()


def test_untrusted_ca_halts(bin_dir, sim, tmp_path):
    """No REDIS_TLS_CA_FILE: the system's trust store, which does not know
    the stack's CA -> halt naming the certificate, never "redis down"."""
    run = AdminRun(bin_dir, tmp_path, REDIS_URL=os.environ["REDIS_TLS_URL"])
    try:
        run.start()
        run.send_bookings(2)
        assert_halted(run, "Redis's certificate is not accepted",
                      "REDIS_TLS_CA_FILE")
        assert run.applied(shared_redis()) == 0
        stop(run)
    finally:
        run.stop_all()


@pytest.mark.parametrize("host,says", [
    ("localhost", "hostname mismatch"),
    ("127.0.0.1", "IP address mismatch")])
def test_certificate_for_another_name_halts(bin_dir, sim, tmp_path, host,
                                            says):
    """A certificate from the trusted CA but issued for another name (and
    no IP address): hiredis 1.4.1 would take it; the worker checks the
    name itself and halts -- for a DNS name (with SNI) and an IP address."""
    cert, key = issue(tmp_path, "other", "DNS:redis.other.invalid")
    a = tls_server(tmp_path, "a", cert, key)
    run = AdminRun(bin_dir, tmp_path,
                   REDIS_URL=f"rediss://{host}:{a.tls_port}/0",
                   REDIS_TLS_CA_FILE=CA)
    try:
        run.start()
        run.send_bookings(1)
        assert_halted(run, says)
        assert run.applied(a.client) == 0
        stop(run)
    finally:
        run.stop_all()
        a.stop()


def test_acl_user_password_file_and_client_certificate(bin_dir, sim,
                                                        tmp_path):
    """Redis wanting a client certificate and an ACL user: without
    REDIS_TLS_CERT_FILE the worker halts saying so; with it, the user of
    the URL and the password of REDIS_PASSWORD_FILE, the bookings apply
    and the password reaches no log."""
    subprocess.run([os.path.join(ROOT, "deploy/local/tls.sh"), "cert",
                    TLS_DIR, "redis-client"], check=True)
    a = tls_server(tmp_path, "a", os.path.join(TLS_DIR, "redis.pem"),
                   os.path.join(TLS_DIR, "redis.key"), clients="yes")
    a.client.execute_command("ACL", "SETUSER", "hmsw", "on",
                             ">tls-acl-s3cret", "~hms:*", "+@all")
    a.client.execute_command("ACL", "SETUSER", "default", "off")
    pw = tmp_path / "redis-password"
    pw.write_text("tls-acl-s3cret\n")
    pw.chmod(0o600)
    env = dict(REDIS_URL=f"rediss://hmsw@localhost:{a.tls_port}/0",
               REDIS_PASSWORD_FILE=str(pw), REDIS_TLS_CA_FILE=CA)
    admin = redis.Redis(port=a.port, username="hmsw",
                        password="tls-acl-s3cret", decode_responses=True)
    run = AdminRun(bin_dir, tmp_path, **env)
    try:
        run.start()
        run.send_bookings(1)
        assert_halted(run, "handshake failed", "REDIS_TLS_CERT_FILE")
        stop(run)
    finally:
        run.stop_all()
    run = AdminRun(bin_dir, tmp_path, REDIS_TLS_CERT_FILE=os.path.join(
        TLS_DIR, "redis-client.pem"), REDIS_TLS_KEY_FILE=os.path.join(
        TLS_DIR, "redis-client.key"), **env)
    try:
        run.start()
        run.send_bookings(2)
        assert run.wait_caught_up(admin, 60), run.log()[-3000:]
        assert wait_for(lambda: run.readyz()[0] == 200, 20), run.readyz()
        assert "tls-acl-s3cret" not in run.log()
        assert "user=hmsw" in run.log()
        stop(run)
    finally:
        run.stop_all()
        a.stop()
