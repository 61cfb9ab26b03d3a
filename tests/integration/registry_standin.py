"""A stand-in for a Confluent-compatible schema registry: the subset of the
Schema Registry REST API that hms-worker and confluent-kafka's serializers
use (register under a subject, schema by id, latest version), in memory.

Apicurio Registry, the real registry the integration suite is meant to use,
cannot be obtained here (its runnable distribution is not on the Maven
mirror this machine reaches); until it is, this keeps the worker's registry
code honest against an independent client (confluent-kafka's
AvroSerializer/AvroDeserializer).

With auth=(user, password) every call needs HTTP Basic auth with exactly
those credentials: 401 without them, 403 with others (as Confluent's
registry answers); the Authorization headers seen are kept."""
import base64
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

TYPE = "application/vnd.schemaregistry.v1+json"


class Registry:
    def __init__(self):
        self.lock = threading.Lock()
        self.schemas = []   # id - 1 -> schema text
        self.subjects = {}  # subject -> [id, ...] (versions)
        self.calls = []     # (method, path)
        self.auth = None    # (user, password): Basic auth required
        self.refused = []   # (method, path, status) of refused calls
        self.authorizations = []  # every Authorization header received

    def register(self, subject, schema):
        canon = json.dumps(json.loads(schema), sort_keys=True)
        with self.lock:
            for i, s in enumerate(self.schemas):
                if json.dumps(json.loads(s), sort_keys=True) == canon:
                    sid = i + 1
                    break
            else:
                self.schemas.append(schema)
                sid = len(self.schemas)
            versions = self.subjects.setdefault(subject, [])
            if sid not in versions:
                versions.append(sid)
            return sid


def handler(reg):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", TYPE)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def not_found(self, code, what):
            self.reply(404, {"error_code": code, "message": what})

        def authorized(self):
            got = self.headers.get("Authorization")
            if got is not None:
                reg.authorizations.append(got)
            if reg.auth is None:
                return True
            want = "Basic " + base64.b64encode(
                ":".join(reg.auth).encode()).decode()
            if got == want:
                return True
            status = 401 if got is None else 403
            reg.refused.append((self.command, self.path, status))
            if status == 401:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="registry"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return False
            self.reply(403, {"error_code": 40301, "message": "Forbidden"})
            return False

        def do_GET(self):
            if not self.authorized():
                return
            path = urlparse(self.path).path.rstrip("/")
            parts = path.split("/")
            reg.calls.append(("GET", path))
            if path.startswith("/schemas/ids/"):
                sid = int(parts[3])
                if 0 < sid <= len(reg.schemas):
                    return self.reply(200, {"schema": reg.schemas[sid - 1]})
                return self.not_found(40403, f"Schema {sid} not found")
            if len(parts) == 5 and parts[1] == "subjects" and parts[3] == "versions":
                versions = reg.subjects.get(parts[2])
                if not versions:
                    return self.not_found(40401, f"Subject {parts[2]} not found")
                v = len(versions) if parts[4] == "latest" else int(parts[4])
                sid = versions[v - 1]
                return self.reply(200, {"subject": parts[2], "version": v,
                                        "id": sid,
                                        "schema": reg.schemas[sid - 1]})
            if path == "/subjects":
                return self.reply(200, sorted(reg.subjects))
            return self.not_found(404, "no such endpoint")

        def do_POST(self):
            if not self.authorized():
                return
            path = urlparse(self.path).path.rstrip("/")
            parts = path.split("/")
            reg.calls.append(("POST", path))
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if len(parts) == 4 and parts[1] == "subjects" and parts[3] == "versions":
                if body.get("schemaType", "AVRO") != "AVRO":
                    return self.reply(422, {"error_code": 42201,
                                            "message": "AVRO only here"})
                try:
                    sid = reg.register(parts[2], body["schema"])
                except (KeyError, ValueError):
                    return self.reply(422, {"error_code": 42201,
                                            "message": "Invalid schema"})
                return self.reply(200, {"id": sid})
            return self.not_found(404, "no such endpoint")

    return H


class Standin:
    """start()/stop() on one port; the schemas survive a restart, as a real
    registry's storage would. freeze() stops it the way a hung registry
    looks: the port still takes connections, nothing ever answers (clients
    wait for their timeout); start() again resets those connections."""

    def __init__(self, port, auth=None):
        self.port = port
        self.reg = Registry()
        self.reg.auth = auth
        self.server = None
        self.frozen = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def freeze(self):
        self.stop()
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)  # never accepted
        self.frozen = s

    def start(self):
        if self.frozen is not None:
            self.frozen.close()
            self.frozen = None
        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port),
                                          handler(self.reg))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.frozen is not None:
            self.frozen.close()
            self.frozen = None
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
