"""Fixtures for the integration suite: the local stack of deploy/local/stack.sh.

tests/run.sh starts the stack and exports its stack.env (KAFKA_BROKERS,
REDIS_URL, HMS_SIM_URL, HMS_ACCESS_KEY, HMS_APP_SECRET_FILE, ...) and BIN,
the build directory. Every test starts from a reset simulator.

hms-sim serves HTTPS, as 100ms does, with a certificate of the stack's CA
(HMS_API_CA_FILE): the workers trust that CA, and so does every client here
(sim_verify()), with verification on, as production runs.
"""
import os
import socket
import ssl
import subprocess
import time
import uuid

import jwt  # PyJWT: an implementation independent of ours
import pytest
import requests


def env(name):
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run the suite through tests/run.sh")
    return value


@pytest.fixture(scope="session")
def bin_dir():
    return env("BIN")


@pytest.fixture(scope="session")
def secret():
    with open(env("HMS_APP_SECRET_FILE"), encoding="utf-8") as f:
        return f.read().rstrip("\n")


@pytest.fixture(scope="session")
def access_key():
    return env("HMS_ACCESS_KEY")


def mint_mgmt(secret, access_key, now=None, ttl=3600, **extra):
    """A management token minted by PyJWT, as docs/contract.md section 5 says."""
    now = int(time.time()) if now is None else now
    claims = {"access_key": access_key, "type": "management", "version": 2,
              "iat": now - 60, "nbf": now - 60, "exp": now + ttl,
              "jti": str(uuid.uuid4())}
    claims.update(extra)
    return jwt.encode(claims, secret, algorithm="HS256")


def mint_app(secret, access_key, room_id, role, user_id="u1", now=None,
             ttl=3600, **extra):
    """An app (join) token minted by PyJWT, as docs/100ms-api.md 1.1 says."""
    now = int(time.time()) if now is None else now
    claims = {"access_key": access_key, "type": "app", "version": 2,
              "room_id": room_id, "role": role, "user_id": user_id,
              "iat": now - 60, "nbf": now - 60, "exp": now + ttl,
              "jti": str(uuid.uuid4())}
    claims.update(extra)
    return jwt.encode(claims, secret, algorithm="HS256")


def sim_verify():
    """requests' verify= for hms-sim: the stack's CA file (the system's
    store when it is not set)."""
    return os.environ.get("HMS_API_CA_FILE") or True


def sim_ssl_context():
    """An ssl context that trusts hms-sim's certificate (raw clients)."""
    return ssl.create_default_context(
        cafile=os.environ.get("HMS_API_CA_FILE") or None)


def own_sim_args(port):
    """The flags of an hms-sim a test starts itself: the stack's
    certificate, so it serves HTTPS like the stack's; and its URL."""
    return (["--listen", f"127.0.0.1:{port}",
             "--tls-cert", env("HMS_SIM_TLS_CERT"),
             "--tls-key", env("HMS_SIM_TLS_KEY")],
            f"https://127.0.0.1:{port}")


class Sim:
    """A small client of hms-sim: /v2 calls with a management token."""

    def __init__(self, base, token):
        self.base = base
        self.verify = sim_verify()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method, path, timeout=10, **kw):
        # per call: REQUESTS_CA_BUNDLE in the environment would win over a
        # session's verify
        return self.session.request(method, self.base + path, timeout=timeout,
                                    verify=self.verify, **kw)

    def admin(self, method, path, **kw):
        r = requests.request(method, self.base + "/__sim/" + path, timeout=10,
                             verify=self.verify, **kw)
        r.raise_for_status()
        return r.json()

    def admin_raw(self, method, path, **kw):
        """An /__sim/ call whose refusal is the test's subject."""
        return requests.request(method, self.base + "/__sim/" + path,
                                timeout=10, verify=self.verify, **kw)

    def faults(self, *rules, seed=1):
        return self.admin("POST", "faults", json={"seed": seed,
                                                  "rules": list(rules)})

    def admin_raw(self, method, path, **kw):
        """A /__sim/ call whose status the caller checks."""
        return requests.request(method, self.base + "/__sim/" + path,
                                timeout=10, verify=self.verify, **kw)

    def config(self, **settings):
        """POST /__sim/config: the run-time settings (reset by the fixture)."""
        return self.admin("POST", "config", json=settings)

    def join(self, token, name="peer"):
        return self.admin_raw("POST", "join", json={"token": token,
                                                    "name": name})

    def leave(self, peer_id):
        return self.admin_raw("POST", "leave", json={"peer_id": peer_id})

    def room(self, name, **body):
        r = self.call("POST", "/v2/rooms", json={"name": name, **body})
        assert r.status_code == 200, r.text
        return r.json()

    def requests_log(self, since=0):
        """Every logged request after seq `since` (paged)."""
        out = []
        while True:
            page = self.admin("GET", f"requests?since={since}&limit=10000")
            out.extend(page["data"])
            if page["next"] <= since or not page["data"]:
                return out
            since = page["next"]


@pytest.fixture
def sim(secret, access_key):
    s = Sim(env("HMS_SIM_URL"), mint_mgmt(secret, access_key))
    s.admin("POST", "reset", json={})
    yield s
    s.admin("POST", "reset", json={})


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def run_bin(bin_dir):
    """Runs a program of the build directory; returns CompletedProcess."""
    def run(name, *args, stdin=None, env_extra=None):
        e = dict(os.environ, **(env_extra or {}))
        return subprocess.run([os.path.join(bin_dir, name), *args],
                              input=stdin, capture_output=True, text=True,
                              env=e, timeout=30, check=False)
    return run
