"""Issue 7, Schema Registry: inputs in the Confluent wire format written by
confluent-kafka's own AvroSerializer, outputs read back by its
AvroDeserializer, through a real Confluent-compatible registry: Karapace
(registry_karapace.py; BACKWARD compatibility, Confluent's default).
Issue 11: an outage while hundreds of messages, on every partition, are
held; the credentials of https://user:password@host go as HTTP Basic auth.

Tests that only need a registry use the stack's (STACK_SCHEMA_REGISTRY_URL).
Those that take it down or need Basic auth start a private one on its own
schemas topic: down is the process stopped (connections refused), hung is
the process frozen with SIGSTOP (connections taken, never answered). Every
fault these tests need is staged on the real registry where it can be.
What is checked is what the registry answers over its REST API, and
which requests it logged (its access log). Two faults Karapace cannot
be made to show have a stand-in HTTP server (see their docstrings): a
crafted error message, and one schema id that hangs while others
answer (review B10)."""
import base64
import http.server
import json
import os
import subprocess
import threading
import time
import uuid
from urllib.parse import quote

import redis
import requests
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from prometheus_client.parser import text_string_to_metric_families

from conftest import free_port
from fault_harness import Run
from registry_karapace import AccessLog, Karapace, stack_log, stack_url, subjects
from worker_helpers import ROOT, booking, encode, wait_for


def schema_text(name):
    with open(os.path.join(ROOT, "schemas", name + ".avsc"), encoding="utf-8") as f:
        return f.read()


def sr_client(sr):
    """sr: the registry's URL, or a SchemaRegistryClient configuration."""
    return SchemaRegistryClient(sr if isinstance(sr, dict) else {"url": sr})


def confluent_booking(sr, topic, bid, schema=None, **extra):
    client = sr_client(sr)
    ser = AvroSerializer(client, schema or schema_text("BookingCreated"))
    rec = booking(bid, [("alice", "host"), ("bob", "guest")])
    rec.update(extra)
    return rec, ser(rec, SerializationContext(topic, MessageField.VALUE))


def ready_outputs(run, sr, count, timeout=60):
    de = AvroDeserializer(sr_client(sr))
    ctx = SerializationContext(run.t["vr"], MessageField.VALUE)
    return run.kafka.read(run.t["vr"], lambda m: (m.value()[0], de(m.value(), ctx)),
                          count, timeout=timeout)


def schema_id(framed):
    assert framed[0] == 0  # the Confluent wire format
    return int.from_bytes(framed[1:5], "big")


def test_confluent_in_confluent_out(bin_dir, sim, tmp_path):
    url = stack_url()
    access = AccessLog(stack_log())
    run = Run(bin_dir, tmp_path, SCHEMA_REGISTRY_URL=url)
    try:
        run.start()
        bid = f"sr-{uuid.uuid4().hex[:8]}"
        rec, value = confluent_booking(url, run.t["bc"], bid)
        assert value[0] == 0  # the Confluent wire format
        # a producer whose schema is newer than ours: an extra field with a
        # default; the worker resolves from the registry's writer schema
        newer = json.loads(schema_text("BookingCreated"))
        newer["fields"].append({"name": "notes", "type": ["null", "string"],
                                "default": None})
        bid2 = f"sr-{uuid.uuid4().hex[:8]}"
        rec2, value2 = confluent_booking(url, run.t["bc"], bid2,
                                         schema=json.dumps(newer), notes="hi")
        assert value2[1:5] != value[1:5]  # another schema id
        run.kafka.send(run.t["bc"], bid, value)
        run.kafka.send(run.t["bc"], bid2, value2)
        run.kafka.flush()
        outs = ready_outputs(run, url, 2)
        assert len(outs) == 2, outs
        assert all(magic == 0 for magic, _ in outs)
        # the deserializer applies logical types: uuids come back as UUID
        by_cause = {str(o["causation_id"]): o for _, o in outs}
        assert by_cause[rec["event_id"]]["subject_id"] == bid
        assert by_cause[rec2["event_id"]]["subject_id"] == bid2
        assert {c["role"] for c in by_cause[rec["event_id"]]["codes"]} == \
            {"host", "guest", "viewer"}
        # the worker registered its output under <topic>-value
        assert f"{run.t['vr']}-value" in subjects(url)
        latest = requests.get(f"{url}/subjects/{run.t['vr']}-value/versions/"
                              "latest", timeout=10).json()
        assert json.loads(latest["schema"])["name"] == "VideoReady"
        # each input schema fetched once by the worker, the output's once
        # by our reader (the tests run one at a time: only ours in the log)
        ids = [schema_id(value), schema_id(value2), latest["id"]]
        gets = [p for m, p, _ in access.requests()
                if m == "GET" and p.startswith("/schemas/ids/")]
        assert sorted(gets) == sorted(f"/schemas/ids/{i}" for i in ids), gets
    finally:
        assert run.stop_all() == [0]


def test_confluent_booking_versions(bin_dir, sim, tmp_path):
    """BookingCreated v3 through the registry: its room options reach the
    room; a v2 writer (registered as such, matched to our embedded v2 by
    fingerprint) is resolved, the options null and not sent."""
    url = stack_url()
    run = Run(bin_dir, tmp_path, SCHEMA_REGISTRY_URL=url)
    try:
        run.start()
        b3, b2 = (f"sr-{uuid.uuid4().hex[:8]}" for _ in range(2))
        rec3, v3 = confluent_booking(url, run.t["bc"], b3, region="in",
                                     size=2, max_duration_seconds=600)
        # v2 after v3 under one subject: BACKWARD compatible (contract 2)
        rec2, v2 = confluent_booking(url, run.t["bc"], b2,
                                     schema=schema_text("BookingCreated.v2"))
        assert v3[1:5] != v2[1:5]  # two schema ids
        run.kafka.send(run.t["bc"], b3, v3)
        run.kafka.send(run.t["bc"], b2, v2)
        run.kafka.flush()
        outs = {str(o["causation_id"]): o for _, o in ready_outputs(run, url, 2)}
        room = sim.call("GET", f"/v2/rooms/{outs[rec3['event_id']]['room_id']}")
        assert {k: room.json().get(k) for k in (
            "region", "size", "max_duration_seconds")} == {
            "region": "in", "size": 2, "max_duration_seconds": 600}
        room = sim.call("GET", f"/v2/rooms/{outs[rec2['event_id']]['room_id']}")
        assert "size" not in room.json() and room.json()["region"] == "us"
        [body] = [e["body"] for e in sim.requests_log()
                  if e["room"] == f"bk-{b2}" and e["route"] == "POST /v2/rooms"]
        assert sorted(body) == ["description", "name", "template_id"]
    finally:
        assert run.stop_all() == [0]


def test_registry_down_holds_input_and_unknown_id_is_dead_lettered(bin_dir, sim,
                                                                   tmp_path):
    sr = Karapace(tmp_path / "registry")
    sr.start()
    run = Run(bin_dir, tmp_path, SCHEMA_REGISTRY_URL=sr.url)
    try:
        bid = f"sr-{uuid.uuid4().hex[:8]}"
        rec, value = confluent_booking(sr.url, run.t["bc"], bid)
        sr.stop()  # down before the worker has seen the id
        run.start()
        run.kafka.send(run.t["bc"], bid, value)
        run.kafka.flush()
        time.sleep(4)
        log = run.procs[0].log.read_text()
        assert "schema registry down, holding input" in log
        assert run.kafka.read(run.t["dlq"], lambda m: m, 1, timeout=2) == []
        sr.start()  # back, same storage
        outs = ready_outputs(run, sr.url, 1)
        assert [str(o["causation_id"]) for _, o in outs] == [rec["event_id"]]
        # an id the registry does not know is the message's fault
        unknown = requests.get(f"{sr.url}/schemas/ids/999", timeout=10)
        assert unknown.status_code == 404, unknown.text
        run.kafka.send(run.t["bc"], "sr-unknown", b"\x00\x00\x00\x03\xe7" + value[5:])
        run.kafka.flush()
        dlq = run.kafka.read(run.t["dlq"], lambda m: m, 1, timeout=30)
        assert len(dlq) == 1
        assert dict(dlq[0].headers())["hms-error-class"] == b"unknown_schema"
        assert wait_for(lambda: "schema registry back" in
                        run.procs[0].log.read_text(), 5)
    finally:
        assert run.stop_all() == [0]
        sr.stop()


def test_basic_auth_from_url_credentials(bin_dir, sim, tmp_path):
    """SCHEMA_REGISTRY_URL=http://user:password@host (percent-encoded, a
    loopback host: over the network https:// is required) decodes a
    Confluent-framed booking and registers the output through a registry
    that requires Basic auth; the password is in no log line and
    --check-config shows the URL with the password redacted."""
    user = "sr-user"
    password = f"p@ss:w/rd%{uuid.uuid4().hex[:8]}"
    sr = Karapace(tmp_path / "registry", auth=(user, password))
    sr.start()
    client = {"url": sr.url, "basic.auth.user.info": f"{user}:{password}"}
    url = f"http://{user}:{quote(password, safe='')}@127.0.0.1:{sr.port}"
    assert requests.get(sr.url + "/subjects", timeout=5).status_code == 401
    assert requests.get(sr.url + "/subjects", auth=(user, "wrong"),
                        timeout=5).status_code == 401
    assert requests.get(sr.url + "/subjects", auth=(user, password),
                        timeout=5).status_code == 200
    access = AccessLog(sr.log)
    run = Run(bin_dir, tmp_path, SCHEMA_REGISTRY_URL=url)
    try:
        run.start()
        bid = f"sr-{uuid.uuid4().hex[:8]}"
        rec, value = confluent_booking(client, run.t["bc"], bid)
        assert value[0] == 0
        run.kafka.send(run.t["bc"], bid, value)
        run.kafka.flush()
        outs = ready_outputs(run, client, 1)
        assert [str(o["causation_id"]) for _, o in outs] == [rec["event_id"]]
        assert outs[0][0] == 0  # registered through the registry: Confluent
        assert f"{run.t['vr']}-value" in subjects(sr.url,
                                                  auth=(user, password))
        calls = access.requests()
        assert ("GET", "/schemas/ids/1", 200) in calls, calls
        # the worker always sent the credentials
        assert [c for c in calls if c[2] in (401, 403)] == [], calls
    finally:
        assert run.stop_all() == [0]
        sr.stop()
    check = subprocess.run([os.path.join(bin_dir, "hms-worker"),
                            "--check-config"], env=run.env,
                           capture_output=True, text=True, timeout=30,
                           check=False)
    assert check.returncode == 0, check.stderr
    assert (f'var=SCHEMA_REGISTRY_URL url="http://{user}:(redacted)@'
            f'127.0.0.1:{sr.port}" auth=basic') in check.stderr
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    for text in (run.procs[0].log.read_text(), check.stderr, check.stdout):
        for form in (password, quote(password, safe=""), password[-8:], basic):
            assert form not in text


def gauge(port, name):
    r = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    return None


def offsets(run, topic, partitions):
    """{partition: (committed offset of the worker's group, end offset)}."""
    c = Consumer({"bootstrap.servers": run.kafka.brokers,
                  "group.id": run.env["KAFKA_GROUP_ID"],
                  "enable.auto.commit": False})
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        committed = {tp.partition: tp.offset
                     for tp in c.committed(tps, timeout=10)}
        return {p: (committed[p], c.get_watermark_offsets(tps[p],
                                                          timeout=10)[1])
                for p in range(partitions)}
    finally:
        c.close()


def test_registry_outage_holds_hundreds_across_partitions(bin_dir, sim,
                                                          tmp_path):
    """Issue 11: the registry down while hundreds of messages, on every
    partition and several per subject, wait for it. When it is back every
    event is applied, in order per subject, nothing is dead-lettered, every
    partition commits up to its end and the worker stops cleanly."""
    n_subjects, per_subject = 60, 5
    sr = Karapace(tmp_path / "registry")
    sr.start()
    port = free_port()
    run = Run(bin_dir, tmp_path, SCHEMA_REGISTRY_URL=sr.url,
              ADMIN_ADDR=f"127.0.0.1:{port}", SHUTDOWN_TIMEOUT_MS="5000")
    rds = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    topic = run.t["bc"]
    ser = AvroSerializer(SchemaRegistryClient({"url": sr.url}),
                         schema_text("BookingCreated"))
    ctx = SerializationContext(topic, MessageField.VALUE)
    bids = [f"srh-{uuid.uuid4().hex[:8]}" for _ in range(n_subjects)]
    events = {b: [] for b in bids}
    msgs = []
    for k in range(per_subject):  # subjects interleaved, each in order
        for b in bids:
            rec = booking(b, [("alice", "host"), (f"guest{k}", "guest")])
            events[b].append(rec)
            msgs.append((b, ser(rec, ctx)))  # registered while it is up
    ids = [e["event_id"] for evs in events.values() for e in evs]
    held = lambda: gauge(port, "hms_worker_events_in_flight")
    try:
        # Down before the worker has seen the schema id, hung rather than
        # refusing, and every message produced before the worker starts:
        # its first fetch brings every partition's messages at once, all
        # held behind the schema id (each partition then paused alone), as
        # the lookup (on the registry client's thread) waits out its
        # timeout.
        sr.freeze()  # SIGSTOP: connections accepted, never answered
        for b, value in msgs:
            run.kafka.send(topic, b, value)
        run.kafka.flush()
        ends = {p: end for p, (_, end) in offsets(run, topic, 3).items()}
        assert all(n > 0 for n in ends.values()), ends  # every partition
        run.start()
        log = run.procs[0].log
        assert wait_for(lambda: "schema registry down, holding input" in
                        log.read_text(), 30), log.read_text()[-3000:]
        assert wait_for(lambda: held() == len(msgs), 10), held()
        assert run.kafka.read(run.t["dlq"], lambda m: m, 1, timeout=1) == []

        sr.start()  # SIGCONT: back

        def applied():
            p = rds.pipeline()
            for i in ids:
                p.exists(f"hms:event:{i}")
            return sum(p.execute())

        ok = wait_for(lambda: applied() == len(ids), 30, step=0.5)
        state = (f"{len(ids)} held; applied {applied()}; still in flight "
                 f"{held()}; (committed, end offset) per partition "
                 f"{offsets(run, topic, 3)}")
        assert ok, state
        outs = ready_outputs(run, sr.url, len(ids), timeout=30)
        assert {str(o["causation_id"]) for _, o in outs} == set(ids), state
        for b in bids:  # per-subject order: the last booking stays
            h = rds.hgetall(f"hms:booking:{b}")
            assert h.get("event_id") == events[b][-1]["event_id"], (b, h)
        assert run.kafka.read(run.t["dlq"], lambda m: m, 1, timeout=2) == []
        assert wait_for(lambda: held() == 0, 10), state  # nothing leaked
        assert wait_for(lambda: all(c == end for c, end in offsets(
            run, topic, 3).values()), 20), offsets(run, topic, 3)
        assert "schema registry back" in log.read_text()
    finally:
        assert run.stop_all(timeout=30) == [0]
        sr.stop()


class StandIn:
    """B10: a registry stand-in on 127.0.0.1 for what Karapace cannot be
    made to do to one id alone: answer some ids at once and leave one
    hanging (until release()), and count the requests per path; and
    (B18) say what Karapace never says. Ids in `schemas` answer 200 with
    that schema, ids in `hang` wait first, others 404 with `missing` as
    the message; every registration answers id 1000."""

    def __init__(self, schemas, hang=(), missing="Schema not found"):
        self.schemas, self.hang, self.missing = schemas, set(hang), missing
        self.gets = {}
        self.released = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self, status, doc):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                outer.gets[self.path] = outer.gets.get(self.path, 0) + 1
                sid = int(self.path.rsplit("/", 1)[-1])
                if sid in outer.hang:
                    outer.released.wait(120)
                if sid in outer.schemas:
                    self.answer(200, {"schema": outer.schemas[sid]})
                else:
                    self.answer(404, {"error_code": 40403,
                                      "message": outer.missing})

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                self.answer(200, {"id": 1000})

            def log_message(self, *args):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.srv.server_port}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def release(self):
        self.released.set()

    def close(self):
        self.release()
        self.srv.shutdown()


def test_registry_message_is_escaped_in_logs(bin_dir, tmp_path):
    """B18: the registry's error `message` is a peer's text; the worker logs
    it inside err="..." (dead-lettering), so its quotes, backslashes and
    newlines are escaped and cannot end the field or forge a line. Karapace
    cannot be made to say that, so this one fault has a stand-in
    (StandIn) that answers the unknown id 404 with that message."""
    forged = ('Schema "999" not found\\\nts=2026-01-01T00:00:00.000Z '
              'level=error mod=main msg="forged line"')
    srv = StandIn({}, missing=forged)
    run = Run(bin_dir, tmp_path, SCHEMA_REGISTRY_URL=srv.url)
    try:
        run.start()
        run.kafka.send(run.t["bc"], "sr-crafted", b"\x00\x00\x00\x03\xe7{}")
        run.kafka.flush()
        dlq = run.kafka.read(run.t["dlq"], lambda m: m, 1, timeout=30)
        assert len(dlq) == 1
        assert dict(dlq[0].headers())["hms-error-class"] == b"unknown_schema"
    finally:
        codes = run.stop_all()
        srv.close()
    lines = run.procs[0].log.read_text().splitlines()
    assert codes == [0]
    assert not [l for l in lines if l.startswith("ts=2026-01-01")], lines
    dead = [l for l in lines if "dead-lettering" in l]
    assert len(dead) == 1 and "HTTP 404 Schema _999_ not found__ts=2026" \
        in dead[0] and 'msg=_forged line_"' in dead[0], dead


def framed(sid, rec):
    """The Confluent wire format by hand: 00, schema id, then the datum
    (encode()'s, after its 10-byte single-object header)."""
    return b"\x00" + sid.to_bytes(4, "big") + encode("BookingCreated", rec)[10:]


def test_slow_schema_fetch_holds_only_its_partition(bin_dir, sim, tmp_path):
    """B10: while the registry does not answer for one schema id, the
    consumer thread does not wait for it: events of other partitions (a
    schema id already fetched, single-object encoding) are applied and
    their delivery reports served (the marker comes after the report).
    The held message's partition waits behind it, in order: a later event
    of its subject there is applied after it, once the registry answers."""
    sr = StandIn({1: schema_text("BookingCreated"),
                  2: schema_text("BookingCreated")}, hang=[1])
    run = Run(bin_dir, tmp_path, SCHEMA_REGISTRY_URL=sr.url)
    rds = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    topic = run.t["bc"]
    applied = lambda rec: rds.exists(f"hms:event:{rec['event_id']}") == 1

    def send(partition, bid, value):
        run.kafka.producer.produce(topic, key=bid, value=value,
                                   partition=partition)
        run.kafka.flush()

    try:
        run.start()
        warm = booking(f"srs-{uuid.uuid4().hex[:8]}", [("alice", "host")])
        send(1, warm["booking_id"], framed(2, warm))
        assert wait_for(lambda: applied(warm), 30)  # id 2 is fetched
        slow_bid = f"srs-{uuid.uuid4().hex[:8]}"
        slow = booking(slow_bid, [("alice", "host")])
        send(0, slow_bid, framed(1, slow))  # its fetch hangs
        assert wait_for(lambda: sr.gets.get("/schemas/ids/1"), 10)
        behind = booking(slow_bid, [("alice", "host"), ("bob", "guest")])
        send(0, slow_bid, framed(2, behind))  # held behind it
        known = booking(f"srs-{uuid.uuid4().hex[:8]}", [("alice", "host")])
        send(1, known["booking_id"], framed(2, known))
        plain_rec = booking(f"srs-{uuid.uuid4().hex[:8]}", [("alice", "host")])
        send(2, plain_rec["booking_id"], encode("BookingCreated", plain_rec))
        assert wait_for(lambda: applied(known) and applied(plain_rec), 15), \
            run.procs[0].log.read_text()[-3000:]
        assert not applied(slow) and not applied(behind)
        assert run.kafka.read(run.t["dlq"], lambda m: m, 1, timeout=1) == []
        sr.release()  # the registry answers
        assert wait_for(lambda: applied(slow) and applied(behind), 30)
        # in order: the later booking of the subject is the one that stays
        h = rds.hgetall(f"hms:booking:{slow_bid}")
        assert h.get("event_id") == behind["event_id"], h
        assert run.kafka.read(run.t["dlq"], lambda m: m, 1, timeout=1) == []
    finally:
        codes = run.stop_all()
        sr.close()
    assert codes == [0]


def test_unknown_schema_id_is_fetched_once(bin_dir, tmp_path):
    """B10: an id the registry answered 404 for is remembered
    (REGISTRY_MISSING_MS, a minute): a second message with it is
    dead-lettered unknown_schema without asking the registry again."""
    sr = StandIn({})
    run = Run(bin_dir, tmp_path, SCHEMA_REGISTRY_URL=sr.url)
    try:
        run.start()
        for i in range(2):
            run.kafka.producer.produce(run.t["bc"], key=f"sr-unknown-{i}",
                                       value=b"\x00\x00\x00\x03\xe7{}",
                                       partition=i)
            run.kafka.flush()
            dlq = run.kafka.read(run.t["dlq"], lambda m: m, i + 1, timeout=30)
            assert len(dlq) == i + 1
        assert {dict(m.headers())["hms-error-class"] for m in dlq} == \
            {b"unknown_schema"}
        assert sr.gets == {"/schemas/ids/999": 1}, sr.gets
    finally:
        codes = run.stop_all()
        sr.close()
    assert codes == [0]
