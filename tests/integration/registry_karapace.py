"""A real Confluent-compatible schema registry for the tests: Aiven's
Karapace (tests/vendor/README.md), started by deploy/local/karapace.sh.

The stack runs one (STACK_SCHEMA_REGISTRY_URL, its log under STACK_DIR);
tests that only need a registry use it. Karapace(dir) is a private one for
a test that takes its registry down or needs Basic auth: its own schemas
topic (so its ids start at 1) on the stack's broker, stopped by stop().
Faults are staged on the real process: stop() refuses connections,
freeze() (SIGSTOP) leaves the port taking connections that are never
answered, as a hung registry looks, and start() brings either back with
the same port and storage (the schemas topic)."""
import json
import os
import re
import signal
import subprocess
import uuid

import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "deploy", "local", "karapace.sh")
VENV = os.environ.get("KARAPACE_VENV",
                      os.path.join(ROOT, "build", "karapace-venv"))


def stack_url():
    return os.environ["STACK_SCHEMA_REGISTRY_URL"]


def stack_log():
    return os.path.join(os.environ["STACK_DIR"], "registry", "karapace.log")


def subjects(url, **kw):
    r = requests.get(url + "/subjects", timeout=10, **kw)
    r.raise_for_status()
    return r.json()


class AccessLog:
    """The requests a registry logged from now on (Karapace logs every one
    at INFO, as aiohttp's access log: '"GET /schemas/ids/3 HTTP/1.1" 200')."""

    LINE = re.compile(r'"([A-Z]+) ([^?\s]+)\S* HTTP/[0-9.]+" (\d{3})')

    def __init__(self, path):
        self.path = path
        self.start = os.path.getsize(path)

    def requests(self):
        """[(method, path without its query, status), ...] logged since
        this was made."""
        with open(self.path, encoding="utf-8", errors="replace") as f:
            f.seek(self.start)
            return [(m[1], m[2], int(m[3])) for m in self.LINE.finditer(f.read())]


class Karapace:
    def __init__(self, directory, auth=None):
        """auth=(user, password): every call needs HTTP Basic auth with
        them (karapace_mkpasswd hashes the password into the user file)."""
        self.dir = str(directory)
        self.topic = f"_schemas-{uuid.uuid4().hex[:12]}"
        self.authfile = None
        self.frozen = False
        os.makedirs(self.dir, exist_ok=True)
        if auth is not None:
            user, password = auth
            out = subprocess.run(
                [os.path.join(VENV, "bin", "karapace_mkpasswd"), "-u", user,
                 password], capture_output=True, text=True, check=True)
            entry = json.loads(out.stdout)
            self.authfile = os.path.join(self.dir, "users.json")
            with open(self.authfile, "w", encoding="utf-8") as f:
                json.dump({"users": [entry], "permissions": [
                    {"username": user, "operation": "Write",
                     "resource": ".*"}]}, f)

    @property
    def log(self):
        return os.path.join(self.dir, "karapace.log")

    @property
    def url(self):
        with open(os.path.join(self.dir, "env"), encoding="utf-8") as f:
            return f.read().strip().split("=", 1)[1]

    @property
    def port(self):
        return int(self.url.rsplit(":", 1)[1])

    def pid(self):
        with open(os.path.join(self.dir, "pid"), encoding="utf-8") as f:
            return int(f.read())

    def start(self):
        """Start, or bring back from stop() or freeze()."""
        if self.frozen:
            os.kill(self.pid(), signal.SIGCONT)
            self.frozen = False
            return
        env = dict(os.environ, KARAPACE_TOPIC=self.topic,
                   KARAPACE_AUTHFILE=self.authfile or "")
        out = subprocess.run([SCRIPT, "start", self.dir,
                              os.environ["KAFKA_BROKERS"]], env=env,
                             capture_output=True, text=True, timeout=120,
                             check=False)
        assert out.returncode == 0, out.stderr

    def freeze(self):
        os.kill(self.pid(), signal.SIGSTOP)
        self.frozen = True

    def stop(self):
        if not os.path.exists(os.path.join(self.dir, "pid")):
            return
        if self.frozen:  # a stopped process would hold TERM until KILL
            os.kill(self.pid(), signal.SIGCONT)
            self.frozen = False
        subprocess.run([SCRIPT, "stop", self.dir], check=True, timeout=60)
