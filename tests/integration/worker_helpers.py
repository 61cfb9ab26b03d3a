"""Helpers for the end-to-end tests: an independent Avro implementation
(fastavro) to write inputs and read outputs, an independent Kafka client
(confluent-kafka, its own librdkafka) and Redis client (redis-py)."""
import io
import json
import os
import time
import uuid

import fastavro
from confluent_kafka import Consumer, Producer, TopicPartition
from fastavro.schema import fingerprint, to_parsing_canonical_form

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def plain(schema):
    """The schema without logicalType: uuids stay str, times stay int."""
    if isinstance(schema, dict):
        return {k: plain(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [plain(x) for x in schema]
    return schema


def load_schema(name):
    with open(os.path.join(ROOT, "schemas", name + ".avsc"), encoding="utf-8") as f:
        raw = json.load(f)
    # fastavro's fingerprint is printed in wire (little-endian) order
    fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(raw), "CRC-64-AVRO"))
    return fastavro.parse_schema(plain(raw)), fp


SCHEMAS = {n: load_schema(n) for n in (
    "BookingCreated", "BookingCreated.v2", "BookingCreated.v1",
    "StreamStarted", "SessionEnded", "VideoReady", "VideoEnded",
    "VideoSession")}


def encode(name, record):
    """Avro single-object encoding: C3 01, fingerprint, datum."""
    parsed, fp = SCHEMAS[name]
    out = io.BytesIO()
    out.write(b"\xc3\x01" + fp)
    fastavro.schemaless_writer(out, parsed, record)
    return out.getvalue()


def decode(name, data):
    parsed, fp = SCHEMAS[name]
    assert data[:2] == b"\xc3\x01" and data[2:10] == fp, data[:10].hex()
    return fastavro.schemaless_reader(io.BytesIO(data[10:]), parsed)


def now_ms():
    return int(time.time() * 1000)


def booking(booking_id, participants, **over):
    rec = {"event_id": str(uuid.uuid4()), "occurred_at": now_ms(),
           "booking_id": booking_id, "mode": "VIRTUAL",
           "starts_at": now_ms() + 3600_000, "ends_at": now_ms() + 7200_000,
           "template_id": None,
           "participants": [{"user_id": u, "display_name": None, "role": r}
                            for u, r in participants],
           "metadata": {},
           # v3's room options; older schemas' writers leave them out
           "region": None, "size": None, "max_duration_seconds": None}
    rec.update(over)
    return rec


def stream(stream_id, host, hls, **over):
    rec = {"event_id": str(uuid.uuid4()), "occurred_at": now_ms(),
           "stream_id": stream_id, "host_user_id": host,
           "host_display_name": None, "host_role": "host", "title": None,
           "hls": hls, "template_id": None}
    rec.update(over)
    return rec


def session_ended(kind, subject_id, lock=True, **over):
    rec = {"event_id": str(uuid.uuid4()), "occurred_at": now_ms(),
           "subject_kind": kind, "subject_id": subject_id, "reason": None,
           "lock": lock}
    rec.update(over)
    return rec


class Kafka:
    def __init__(self, brokers):
        self.brokers = brokers
        self.producer = Producer({"bootstrap.servers": brokers,
                                  "enable.idempotence": True})

    def send(self, topic, key, value, headers=None):
        self.producer.produce(topic, key=key, value=value, headers=headers)

    def flush(self):
        assert self.producer.flush(30) == 0

    def read(self, topic, keep, count, timeout=60):
        """Reads topic from the beginning; returns keep(message) for every
        message where it is not None, once count are there or the timeout
        passes. Each message is looked at once."""
        c = Consumer({"bootstrap.servers": self.brokers,
                      "group.id": "it-reader-" + str(uuid.uuid4()),
                      "enable.auto.commit": False})
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        out, deadline = [], time.monotonic() + timeout
        try:
            while len(out) < count and time.monotonic() < deadline:
                for m in c.consume(500, 0.2):
                    if m.error() is None and (v := keep(m)) is not None:
                        out.append(v)
        finally:
            c.close()
        return out


def wait_for(cond, timeout=30, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()
