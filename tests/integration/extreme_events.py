"""Valid-but-extreme input events (issue 11), and what the contract says
each must become.

generate(seed, n_random, now_ms, nonce, template_id) returns Cases: a
fixed catalogue of edge cases (int64 bounds of every long, id lengths at
and past the limits in bytes, unicode, huge free text, 10,000
participants, roles outside the template, re-bookings, session-ended for
unknown subjects, ...) followed by n_random events whose fields are drawn
from the same pools with a seeded RNG. The seed fixes every choice; the
nonce (random per run) only keeps ids unique across runs on one stack.

Every case carries `expect`, computed by classify() from the contract
alone (docs/contract.md), never from what the code does today:

  validation    contract section 2 says so: dead-lettered, class validation
  decode        past the size rule of section 2 (more than 10,000 array
                items and map entries in one message)
  hms_rejected  the API refuses the create (an unknown template_id: 100ms
                answers 400 "template not found", contract section 7)
  applied       a valid event: marker written and its output produced
  either        the contract is silent (a non-UUID event_id, a body the API
                may find too large): applied, or dead-lettered with a
                documented class

Whatever `expect` says, an event is never both applied and dead-lettered,
and never neither.

Unencodable extremes are skipped and listed (UNENCODABLE): longs outside
int64 (fastavro refuses them: not an Avro long), lone surrogates (not
UTF-8), NUL in strings (left out on purpose: the issue asks for NUL-free
control characters), anything over the codec's 1 MiB cap.

Run it alone to see the cases:  python extreme_events.py --seed 7 --random 50
"""
import hashlib
import io
import json
import os
import random
import sys
import unicodedata
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(__file__))
import fastavro  # noqa: E402

from worker_helpers import SCHEMAS, decode, encode  # noqa: E402

INT64_MIN, INT64_MAX = -2**63, 2**63 - 1
DAY_MS = 86_400_000
Y2000_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
CACHE_GRACE_S = 86400       # the worker runs with this value (test sets it)
MESSAGE_CAP = 1024 * 1024   # codec.h CODEC_MAX_MESSAGE
API_BODY = 512 * 1024       # a JSON field this big: the API may refuse it
                            # (hms-sim at 1 MiB with 413; 100ms: undocumented)
ROLES = ("host", "guest", "viewer")  # hms-sim's built-in template
DOCUMENTED = ("decode", "unknown_schema", "validation", "hms_rejected",
              "hms_retries", "deadline", "redis_wrongtype", "redis_rejected",
              "output_rejected")             # contract section 7
INT32_MIN, INT32_MAX = -2**31, 2**31 - 1
TEXT_MAX = 1024     # title, reason (contract section 2)
REGIONS = ("in", "us", "eu", "auto")  # BookingCreated v3 room options (s.2)
SIZE_MAX = 2500
DURATION_MIN, DURATION_MAX = 120, 43200
ITEMS_MAX = 10_000  # array items and map entries in one message (s.2)
PARTICIPANTS_MAX = 1_000  # participants in one booking (s.2)
UNENCODABLE = [
    "longs outside int64 (INT64_MAX+1, INT64_MIN-1): not Avro longs, "
    "fastavro refuses them",
    "ints outside int32 (size, max_duration_seconds INT32_MAX+1): not Avro "
    "ints, fastavro refuses them",
    "strings with lone surrogates (U+D800..U+DFFF): not UTF-8",
    "strings with NUL: left out, the issue asks for NUL-free control "
    "characters",
    "messages over 1 MiB (the codec's cap): no such event is valid input",
]

# ---- string pools ----------------------------------------------------

WEIRD = {
    "latin1": "café-Ünïcödé",
    "cjk": "会议室预订",
    "emoji": "🎥📅👩‍💻",
    "zwj-family": "👨‍👩‍👧‍👦",
    "flags": "🇺🇦🇯🇵",
    "skin-tone": "👍🏽",
    "rtl": "مرحبا-שלום",
    "bidi-override": "\u202eevil\u202c\u200f",
    "combining": "e\u0301\u0302\u0303\u0304",
    "zalgo": "Z" + "\u0336\u0337\u0338\u0489" * 8,
    "controls": "\x01\x02\x07\x08\t\x0b\x0c\x1b[31m\x7f",
    "log-injection": "\r\nts=2000-01-01T00:00:00.000Z level=error "
                     "mod=injected msg=\"forged by an event\"",
    "c1-controls": "\u0080\u0085\u009b\u009f",
    "bom-nonchars": "\ufeff\ufffe\uffff",
    "max-codepoint": "\U0010ffff\U000e0001",
    "line-separators": "\u2028\u2029",
    "zero-width": "\u200b\u200c\u200d\u2060",
    "format-string": "%s%n%x%p%%%-99999d",
    "json-breaker": "\"}]{\\u0000\\\"",
    "redis-protocol": "*1\r\n$4\r\nPING\r\n",
    "path": "../../v2/rooms?x=1#/%2e%2e",
    "key-separator": "hms:event:x",
    "sql-html": "'; DROP TABLE rooms;--<script>",
    "nfc": "\u00e9t\u00e9",
    "nfd": "e\u0301te\u0301",
    "fullwidth": "ｈｏｓｔ",
    "turkish-i": "İı",
    "space": " ",
}
WEIRD_NAMES = sorted(WEIRD)
BAD_ROLES = ["Host", "HOST", "host ", " host", "h\u043est", "ｈｏｓｔ",
             "host\u200b", "admin", "__internal_recorder", "broadcaster",
             "guest\n", "viewer-realtime", "\u30db\u30b9\u30c8", "🎤"]


def blen(s):
    return len(s.encode("utf-8"))


def fill_to(prefix, unit, nbytes):
    """prefix + copies of unit + ASCII padding: exactly nbytes of UTF-8."""
    s = prefix + unit * max(0, (nbytes - blen(prefix)) // blen(unit))
    return s + "x" * (nbytes - blen(s))


def big_text(rng, nbytes, style):
    """Free text of exactly nbytes UTF-8 bytes."""
    if style == "ascii":
        return fill_to("", "lorem ipsum ", nbytes)
    if style == "controls":  # each escapes to 6 bytes of JSON
        return fill_to("", "\x01\x1f\x7f\x08", nbytes)
    units = [WEIRD[k] for k in ("cjk", "emoji", "rtl", "combining",
                                "zwj-family", "latin1", "max-codepoint")]
    rng.shuffle(units)
    return fill_to("", "".join(units), nbytes)


# ---- timestamps ------------------------------------------------------

def ts_pool(now):
    five_years = 5 * 365 * DAY_MS + 2 * DAY_MS
    # the largest ends_at whose EXPIREAT (ends_at/1000 + CACHE_GRACE_S) Redis
    # still accepts, and the first it refuses (seconds * 1000 overflows)
    redis_ok = (INT64_MAX // 1000 - CACHE_GRACE_S) * 1000 + 999
    return {
        "INT64_MIN": INT64_MIN,
        "INT64_MIN+1": INT64_MIN + 1,
        "INT64_MAX": INT64_MAX,
        "INT64_MAX-1": INT64_MAX - 1,
        "redis-edge-ok": redis_ok,
        "redis-edge-over": redis_ok + 1,
        "year-9999": 253_402_300_799_000,
        "2**53+1": 2**53 + 1,
        "INT32_MAX": 2**31 - 1,
        "0": 0,
        "-1": -1,
        "1": 1,
        "2000-01-01": Y2000_MS,
        "2000-01-01-1ms": Y2000_MS - 1,
        "now": now,
        "now-in-seconds": now // 1000,
        "now-in-microseconds": now * 1000,
        "now+1h": now + 3_600_000,
        "now+2h": now + 7_200_000,
        "now-1d": now - DAY_MS,
        "now+90d": now + 90 * DAY_MS,
        "now+5y-1d": now + 5 * 365 * DAY_MS - DAY_MS,
        "now+5y+1d": now + five_years,
    }


def in_range(ts, now):
    """Inside [2000-01-01, now + 5 years] (contract section 2), with a day
    of margin at the far end: "now" is the worker's when it reads."""
    return Y2000_MS <= ts <= now + 5 * 365 * DAY_MS - DAY_MS


def near_edge(ts, now):
    """Within a day of the far end: read a moment later, it may be out."""
    far = now + 5 * 365 * DAY_MS
    return far - DAY_MS < ts <= far + DAY_MS


# ---- cases -----------------------------------------------------------

@dataclass
class Case:
    idx: int
    kind: str    # booking | stream | ended
    schema: str  # writer schema, e.g. BookingCreated.v1
    record: dict
    what: str    # what is extreme about it
    subject: tuple = None  # (BOOKING|STREAM, id)
    expect: str = ""
    why: str = ""
    value: bytes = b""
    key: bytes = b""
    group: str = ""  # isolation: one worker and topics per group
    needs_room: bool = False  # expect decided by the room (template, roles)
    sent: dict = field(default_factory=dict)  # partition, offset, timestamp

    def topic_kind(self):
        return {"booking": "bc", "stream": "ss", "ended": "se"}[self.kind]

    def output(self):
        """The output topic kind an applied event must produce, or None."""
        if self.kind == "ended":
            return "ve"
        if self.kind == "booking" and self.record.get("mode") == "PHYSICAL":
            return None
        return "vr"

    def summary(self, width=160):
        return (f"#{self.idx} {self.kind} [{self.group}, {self.schema}, "
                f"{len(self.value)} B, expect {self.expect}] "
                f"{self.what}")[:width]


class Gen:
    def __init__(self, seed, now, nonce, template_id):
        self.rng = random.Random(seed)
        self.now = now
        self.nonce = nonce
        self.template_id = template_id
        self.ts = ts_pool(now)
        self.count = 0
        self.cases = []
        self.skipped = []
        self.subjects = {"BOOKING": [], "STREAM": []}  # of this group
        self.group = ""

    def section(self, group):
        """Cases from here on go to group (a worker of their own, so that
        a stall or crash caused by one group leaves the others judged);
        subjects are never shared across groups."""
        self.group = group
        self.subjects = {"BOOKING": [], "STREAM": []}

    # -- ids --
    def tag(self):
        self.count += 1
        return f"x{self.nonce}{self.count}"

    def sid(self, style="plain"):
        """A fresh subject or user id of a given style."""
        t = self.tag()
        if style == "plain":
            return t
        if style == "ascii64":
            return fill_to(t + "-", "aZ09._:-", 64)
        if style == "ascii65":
            return fill_to(t + "-", "aZ09._:-", 65)
        if style == "max256-ascii":
            return fill_to(t + "-", "abcdefgh", 256)
        if style == "max256-emoji":
            return fill_to(t, "🎥", 256)
        if style == "max256-2byte":
            return fill_to(t, "é", 256)
        if style == "max256-weird":
            return fill_to(t, WEIRD["zalgo"] + WEIRD["rtl"], 256)
        if style == "over257-ascii":
            return fill_to(t + "-", "abcdefgh", 257)
        if style == "over257-2byte":  # 257 bytes, far fewer characters
            return fill_to(t, "é", 257)
        if style == "over-emoji":  # 65 characters of 4 bytes
            return t[:4] + "🎥" * 65
        if style == "huge":
            return fill_to(t, "id", 5000)
        if style.startswith("weird:"):
            return t + WEIRD[style[6:]]
        raise ValueError(style)

    def rand_sid(self):
        r = self.rng.random()
        if r < 0.45:
            return self.sid("plain")
        if r < 0.85:
            return self.sid("weird:" + self.rng.choice(WEIRD_NAMES))
        return self.sid(self.rng.choice(
            ["ascii64", "ascii65", "max256-ascii", "max256-emoji",
             "max256-2byte", "max256-weird"]))

    def event_id(self):
        return "%08x-%04x-4%03x-%04x-%012x" % (
            self.rng.getrandbits(32), self.rng.getrandbits(16),
            self.rng.getrandbits(12), 0x8000 | self.rng.getrandbits(14),
            int(self.nonce, 16) << 24 | self.count)

    # -- records --
    def participants(self, n, roles=ROLES, style="plain"):
        return [{"user_id": self.sid(style) if style != "short" else f"u{i}",
                 "display_name": None, "role": roles[i % len(roles)]}
                for i in range(n)]

    def booking(self, what, bid=None, schema="BookingCreated", reuse=True,
                **over):
        bid = self.sid() if bid is None else bid
        rec = {"event_id": self.event_id(), "occurred_at": self.now,
               "booking_id": bid, "mode": "VIRTUAL",
               "starts_at": self.now + 3_600_000,
               "ends_at": self.now + 7_200_000, "template_id": None,
               "participants": [{"user_id": "alice", "display_name": None,
                                 "role": "host"},
                                {"user_id": "bob", "display_name": "Bob",
                                 "role": "guest"}],
               "metadata": {},
               "region": None, "size": None, "max_duration_seconds": None}
        rec.update(over)
        if schema in ("BookingCreated.v1", "BookingCreated.v2"):
            for f in ("region", "size", "max_duration_seconds"):
                rec.pop(f, None)
        if schema == "BookingCreated.v1":
            for f in ("ends_at", "template_id", "metadata"):
                rec.pop(f, None)
        return self.add("booking", schema, rec, what, ("BOOKING", bid),
                        reuse)

    def stream(self, what, sid=None, **over):
        sid = self.sid() if sid is None else sid
        rec = {"event_id": self.event_id(), "occurred_at": self.now,
               "stream_id": sid, "host_user_id": "host-1",
               "host_display_name": None, "host_role": "host",
               "title": None, "hls": False, "template_id": None}
        rec.update(over)
        return self.add("stream", "StreamStarted", rec, what, ("STREAM", sid))

    def ended(self, what, kind="BOOKING", subject=None, **over):
        subject = self.sid() if subject is None else subject
        rec = {"event_id": self.event_id(), "occurred_at": self.now,
               "subject_kind": kind, "subject_id": subject, "reason": None,
               "lock": True}
        rec.update(over)
        return self.add("ended", "SessionEnded", rec, what, (kind, subject))

    def add(self, kind, schema, rec, what, subject, reuse=True):
        case = Case(len(self.cases), kind, schema, rec, what, subject)
        try:
            case.value = encode(schema, rec)
        except (OverflowError, ValueError, TypeError, UnicodeError) as e:
            self.skipped.append(f"{what}: {type(e).__name__}: {e}"[:200])
            return None
        if len(case.value) > MESSAGE_CAP:
            self.skipped.append(f"{what}: {len(case.value)} B > 1 MiB")
            return None
        assert decode(schema, case.value) == {
            **{k: v for k, v in rec.items()}}, what  # fastavro round trip
        case.key = subject[1].encode("utf-8")
        case.group = self.group
        case.expect, case.why = classify(case, self.now, self.template_id)
        case.needs_room = case.why.startswith(ROOM_REASONS)
        self.cases.append(case)
        if reuse and subject[1] and subject not in self.subjects[subject[0]]:
            self.subjects[subject[0]].append(subject)
        return case


# ---- the contract, as a function -------------------------------------

ROOM_REASONS = ("template_id unknown", "a role outside", "host_role outside")


def classify(case, now, template_id):
    """(expect, why) from docs/contract.md alone."""
    r, k = case.record, case.kind
    invalid, rejected, bad_role, silent = [], [], [], []

    def idlen(name, value, top=256):
        if not 1 <= blen(value) <= top:
            invalid.append(f"{name} is {blen(value)} bytes (1-{top}, s.2)")

    idlen("event_id", r["event_id"], 128)
    if not _is_uuid(r["event_id"]) and r["event_id"]:
        silent.append("event_id is not a UUID (logicalType uuid; s.2 "
                      "checks only its length)")
    times = {}  # occurred_at is not interpreted (s.2)
    if k == "booking":
        idlen("booking_id", r["booking_id"])
        virtual = r.get("mode", "VIRTUAL") == "VIRTUAL"
        ends = r.get("ends_at")
        times["starts_at"] = r["starts_at"]
        if ends is not None:
            times["ends_at"] = ends
            if ends < r["starts_at"]:
                invalid.append("ends_at before starts_at (s.2)")
        for p in r["participants"]:
            idlen("a user_id", p["user_id"])
            idlen("a role", p["role"])
        users = [p["user_id"] for p in r["participants"]]
        if virtual and not users:
            invalid.append("VIRTUAL booking without participants (s.2)")
        if len(set(users)) != len(users):
            invalid.append("duplicate user_id (s.2)")
        if len(users) > PARTICIPANTS_MAX:
            invalid.append(f"more than {PARTICIPANTS_MAX} participants (s.2)")
        _room_options(r, invalid)
        items = len(users) + len(r.get("metadata") or {})
        if items > ITEMS_MAX:
            return "decode", (f"{items} array items and map entries "
                              f"(at most {ITEMS_MAX}, s.2)")
        norm = [unicodedata.normalize("NFC", u) for u in users]
        if len(set(norm)) != len(norm) and len(set(users)) == len(users):
            silent.append("user_ids equal only after NFC normalisation")
        roles = {p["role"] for p in r["participants"]}
        if roles - set(ROLES):
            (bad_role if virtual else silent).append(
                "a role outside the template" + (" (s.2)" if virtual else
                                                 " in a PHYSICAL booking"))
        tpl = r.get("template_id")
        if virtual:
            _template(tpl, template_id, rejected, silent)
    elif k == "stream":
        for n in ("stream_id", "host_user_id", "host_role"):
            idlen(n, r[n])
        if r["host_role"] not in ROLES:
            bad_role.append("host_role outside the template (s.2)")
        _template(r.get("template_id"), template_id, rejected, silent)
        if blen(r["title"] or "") > TEXT_MAX:
            invalid.append(f"title over {TEXT_MAX} bytes (s.2)")
    else:
        idlen("subject_id", r["subject_id"])
        if blen(r["reason"] or "") > TEXT_MAX:
            invalid.append(f"reason over {TEXT_MAX} bytes (s.2)")
    for name, ts in times.items():
        if near_edge(ts, now):
            silent.append(f"{name} within a day of now + 5 years (s.2)")
        elif not in_range(ts, now):
            invalid.append(f"{name} outside [2000-01-01, now + 5 years] "
                           "(s.2)")
    if invalid:
        return "validation", "; ".join(invalid)
    if rejected:
        return "hms_rejected", "; ".join(rejected)
    if bad_role:
        return "validation", "; ".join(bad_role)
    if silent:
        return "either", "; ".join(silent)
    return "applied", "valid (s.2), so applied (s.3)"


def _room_options(r, invalid):
    """BookingCreated v3 (s.2): what 100ms accepts on POST /rooms, as it
    spells it; PHYSICAL bookings included."""
    region, size = r.get("region"), r.get("size")
    duration = r.get("max_duration_seconds")
    if region is not None and region not in REGIONS:
        invalid.append("region not one of in, us, eu, auto (s.2)")
    if size is not None and not 0 <= size <= SIZE_MAX:
        invalid.append(f"size outside 0-{SIZE_MAX} (s.2)")
    if duration is not None and not DURATION_MIN <= duration <= DURATION_MAX:
        invalid.append(f"max_duration_seconds outside {DURATION_MIN}-"
                       f"{DURATION_MAX} (s.2)")


def _template(tpl, known, rejected, silent):
    if tpl is None or tpl == known:
        return
    if tpl == "":
        silent.append("empty template_id (absent or unknown?)")
    else:
        rejected.append("template_id unknown to 100ms: 400 on create "
                        "(s.7 hms_rejected)")


def _json_size(s):
    """Bytes of s in a JSON body (jansson writes UTF-8, escapes controls)."""
    return len(json.dumps(s, ensure_ascii=False).encode("utf-8"))


def _is_uuid(s):
    import uuid
    try:
        return str(uuid.UUID(s)) == s
    except ValueError:
        return False


# ---- Avro encodings the schema allows besides fastavro's -------------

def zz(n):
    """Avro long: zig-zag varint."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7f:
        out.append((n & 0x7f) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def blocked_booking(rec, block=1):
    """BookingCreated with participants and metadata written in blocks of
    `block` items, each with a negative count and its byte size (Avro
    spec, "Complex Types: Arrays"): the same datum, another encoding."""
    parsed, fp = SCHEMAS["BookingCreated"]

    def s(x):
        x = x.encode()
        return zz(len(x)) + x

    def opt(x, enc):
        return zz(0) if x is None else zz(1) + enc(x)

    head = (s(rec["event_id"]) + zz(rec["occurred_at"]) + s(rec["booking_id"])
            + zz(0 if rec["mode"] == "VIRTUAL" else 1) + zz(rec["starts_at"])
            + opt(rec["ends_at"], zz) + opt(rec["template_id"], s))
    items = [s(p["user_id"]) + (zz(0) if p["display_name"] is None
                                else zz(1) + s(p["display_name"]))
             + s(p["role"]) for p in rec["participants"]]
    body = head + _blocks(items, block)
    body += _blocks([s(k) + s(v) for k, v in rec["metadata"].items()], block)
    body += (opt(rec["region"], s) + opt(rec["size"], zz)
             + opt(rec["max_duration_seconds"], zz))
    value = b"\xc3\x01" + fp + body
    assert fastavro.schemaless_reader(io.BytesIO(body), parsed) == rec
    return value


def _blocks(items, block):
    out = b""
    for i in range(0, len(items), block):
        chunk = b"".join(items[i:i + block])
        out += zz(-len(items[i:i + block])) + zz(len(chunk)) + chunk
    return out + zz(0)


# ---- the catalogue ---------------------------------------------------

def catalogue(g):
    ts, now = g.ts, g.now
    g.section("time")  # every long of every record at its edges
    for name in ts:
        g.booking(f"booking starts_at={name}, ends_at null",
                  starts_at=ts[name], ends_at=None)
        g.booking(f"booking starts_at=now, ends_at={name}",
                  starts_at=now, ends_at=ts[name])
        g.booking(f"booking starts_at=ends_at={name}",
                  starts_at=ts[name], ends_at=ts[name])
        g.booking(f"booking occurred_at={name}", occurred_at=ts[name])
        g.stream(f"stream occurred_at={name}", occurred_at=ts[name])
        g.ended(f"session-ended (unknown subject) occurred_at={name}",
                occurred_at=ts[name])
    g.booking("ends_at < starts_at by 1 ms", starts_at=now + 3_600_000,
              ends_at=now + 3_599_999)
    g.booking("ends_at INT64_MIN, starts_at INT64_MAX", starts_at=INT64_MAX,
              ends_at=INT64_MIN)
    g.booking("ends_at INT64_MIN+1, starts_at -1", starts_at=-1,
              ends_at=INT64_MIN + 1)
    g.booking("starts_at in ms, ends_at in seconds",
              ends_at=(now + 7_200_000) // 1000)
    g.booking("starts_at and ends_at both in seconds",
              starts_at=(now + 3_600_000) // 1000,
              ends_at=(now + 7_200_000) // 1000)
    g.booking("PHYSICAL, ends_at=INT64_MAX", mode="PHYSICAL",
              ends_at=INT64_MAX)
    g.booking("v1 writer, starts_at=INT64_MAX", schema="BookingCreated.v1",
              starts_at=INT64_MAX)
    g.booking("v1 writer, starts_at=INT64_MIN", schema="BookingCreated.v1",
              starts_at=INT64_MIN)
    for v in (INT64_MAX + 1, INT64_MIN - 1):  # not Avro longs: skipped
        g.booking(f"starts_at={v}", starts_at=v)
    g.booking("lone surrogate in booking_id", bid="x\ud800")

    g.section("options")  # BookingCreated v3's room options at their edges
    for region in REGIONS + ("EU", "Eu", "", "eu ", " eu", "europe",
                             "ｅｕ", "e\u0301u", WEIRD["controls"]):
        g.booking(f"region {region!r}", region=region)
    for v in (INT32_MIN, -1, 0, 1, 2, SIZE_MAX, SIZE_MAX + 1, INT32_MAX,
              INT32_MAX + 1):  # the last: not an Avro int, skipped
        g.booking(f"size {v}", size=v)
    for v in (INT32_MIN, -1, 0, DURATION_MIN - 1, DURATION_MIN,
              DURATION_MAX, DURATION_MAX + 1, INT32_MAX):
        g.booking(f"max_duration_seconds {v}", max_duration_seconds=v)
    g.booking("all three at their upper edges", region="auto", size=SIZE_MAX,
              max_duration_seconds=DURATION_MAX)
    g.booking("all three valid but one", region="eu", size=2,
              max_duration_seconds=DURATION_MAX + 1)
    g.booking("PHYSICAL with region EU", mode="PHYSICAL", region="EU")
    g.booking("PHYSICAL with size 2", mode="PHYSICAL", size=2)
    g.booking("v2 writer (no room options)", schema="BookingCreated.v2")
    o = g.sid()
    g.booking("re-booking with other options 1/3", bid=o, region="eu", size=2)
    g.booking("re-booking with other options 2/3", bid=o, region="in",
              max_duration_seconds=7200)
    g.booking("re-booking with other options 3/3 (none)", bid=o)

    g.section("ids")  # event_id: length in bytes, not characters
    g.booking("empty event_id", event_id="")
    g.booking("event_id 128 bytes ASCII",
              event_id=fill_to(g.tag() + "-", "0123456789abcdef", 128))
    g.booking("event_id 128 bytes, emoji",
              event_id=fill_to(g.tag(), "🎥", 128))
    g.booking("event_id 129 bytes ASCII",
              event_id=fill_to(g.tag() + "-", "0123456789abcdef", 129))
    g.booking("event_id 129 bytes in 3-byte characters",
              event_id=fill_to(g.tag(), "€", 129))
    g.booking("event_id 33 emoji = 132 bytes",
              event_id=g.tag()[:4] + "🎥" * 32)
    for w in ("controls", "rtl", "log-injection", "format-string", "zalgo"):
        g.booking(f"event_id with {w}", event_id=g.tag() + WEIRD[w])

    # subject ids at and past 256 bytes, readable-name edge at 64
    for style in ("ascii64", "ascii65", "max256-ascii", "max256-emoji",
                  "max256-2byte", "max256-weird", "over257-ascii",
                  "over257-2byte", "over-emoji", "huge"):
        g.booking(f"booking_id {style}", bid=g.sid(style))
        g.stream(f"stream_id {style}", sid=g.sid(style), hls=True)
        g.stream(f"host_user_id {style}", host_user_id=g.sid(style))
        g.ended(f"session-ended subject_id {style}", subject=g.sid(style))
        g.booking(f"a user_id {style}", participants=[
            {"user_id": g.sid(style), "display_name": None, "role": "guest"},
            {"user_id": "h", "display_name": None, "role": "host"}])
    for bad in ("", ):
        g.booking("empty booking_id", bid=bad)
        g.stream("empty stream_id", sid=bad)
        g.stream("empty host_user_id", host_user_id=bad)
        g.stream("empty host_role", host_role=bad)
        g.ended("empty subject_id", subject=bad)
        g.booking("empty user_id", participants=[
            {"user_id": "", "display_name": None, "role": "host"}])
        g.booking("empty role", participants=[
            {"user_id": "a", "display_name": None, "role": ""}])
    g.stream("host_role of 257 bytes", host_role="h" * 257)
    g.booking("role of 257 bytes", participants=[
        {"user_id": "a", "display_name": None, "role": "é" * 128 + "x"}])

    # unicode everywhere
    for w in WEIRD_NAMES:
        g.booking(f"booking_id, user_id, display_name with {w}",
                  bid=g.sid("weird:" + w),
                  participants=[{"user_id": "u" + WEIRD[w],
                                 "display_name": WEIRD[w], "role": "host"},
                                {"user_id": WEIRD[w] + "2",
                                 "display_name": None, "role": "viewer"}],
                  metadata={WEIRD[w]: WEIRD[w]})
        g.stream(f"stream_id, host, title with {w}", sid=g.sid("weird:" + w),
                 host_user_id=WEIRD[w] + "h", host_display_name=WEIRD[w],
                 title=WEIRD[w], hls=w < "m")
        g.ended(f"session-ended (unknown subject) id, reason with {w}",
                kind="STREAM" if w < "m" else "BOOKING",
                subject=g.sid("weird:" + w), reason=WEIRD[w], lock=w > "m")
    for role in BAD_ROLES:
        g.booking(f"VIRTUAL booking with role {role!r}", participants=[
            {"user_id": "a", "display_name": None, "role": "host"},
            {"user_id": "b", "display_name": None, "role": role}])
        g.stream(f"stream with host_role {role!r}", host_role=role)
    g.booking("PHYSICAL booking with role 'admin'", mode="PHYSICAL",
              participants=[{"user_id": "a", "display_name": None,
                             "role": "admin"}])
    g.stream("stream without host_role in the event (schema default "
             "'broadcaster')", host_role="broadcaster")
    g.booking("every template role", participants=[
        {"user_id": r, "display_name": None, "role": r} for r in ROLES])
    g.booking("user_ids that differ only in case",
              participants=[{"user_id": u, "display_name": None,
                             "role": "guest"} for u in ("Alice", "alice",
                                                        "ALICE")])
    g.booking("user_ids equal after NFC normalisation only",
              participants=[{"user_id": WEIRD["nfc"], "display_name": None,
                             "role": "guest"},
                            {"user_id": WEIRD["nfd"], "display_name": None,
                             "role": "host"}])

    # template_id
    g.booking("template_id = HMS_TEMPLATE_ID", template_id=g.template_id)
    g.booking("template_id empty string", template_id="")
    g.booking("template_id unknown", template_id="f" * 24)
    g.booking("template_id unicode", template_id=WEIRD["emoji"])
    g.stream("stream template_id of 300 bytes", template_id="t" * 300)
    g.booking("PHYSICAL, template_id unknown", mode="PHYSICAL",
              template_id="0" * 24, participants=[])

    g.section("size")  # participants: 0, 1, 1,000, 10,000, duplicates
    g.booking("VIRTUAL, no participants", participants=[])
    g.booking("PHYSICAL, no participants", mode="PHYSICAL", participants=[])
    g.booking("1 participant", participants=g.participants(1))
    g.booking("duplicate user_id", participants=[
        {"user_id": "a", "display_name": None, "role": "host"},
        {"user_id": "a", "display_name": None, "role": "guest"}])
    g.booking("PHYSICAL with a duplicate user_id", mode="PHYSICAL",
              participants=[{"user_id": "a", "display_name": None,
                             "role": "host"}] * 2)
    g.booking("1,000 participants (the cap)",
              participants=g.participants(1_000, style="short"))
    g.booking("1,001 participants", participants=g.participants(1_001))
    many = g.participants(10_000, style="short")
    g.booking("10,000 participants", participants=many)
    g.booking("10,000 participants, metadata of 3 entries",
              participants=many, metadata={"a": "1", "b": "2", "c": "3"})
    g.booking("10,000 participants, the last duplicates the first",
              participants=many[:-1] + [dict(many[0], role="guest")])
    g.booking("10,000 participants, the last with role 'admin'",
              participants=many[:-1] + [dict(many[-1], role="admin")])
    g.booking("10,000 participants with 64-byte unicode ids",
              participants=[{"user_id": fill_to(f"{i}-", "🎥", 64),
                             "display_name": None, "role": ROLES[i % len(ROLES)]}
                            for i in range(10_000)])
    g.booking("PHYSICAL, 10,000 participants", mode="PHYSICAL",
              participants=many)
    g.booking("v1 writer, 10,000 participants", schema="BookingCreated.v1",
              participants=many)
    g.booking("metadata of 9,998 entries (with 2 participants)",
              metadata={f"k{i}": "v" for i in range(9_998)})

    # another valid encoding of the same datum: arrays and maps in blocks
    for block in (1, 7):
        c = g.booking(f"participants and metadata in blocks of {block} "
                      "with negative counts (valid Avro)",
                      participants=g.participants(50),
                      metadata={f"k{i}": WEIRD["cjk"] for i in range(20)})
        c.value = blocked_booking(c.record, block)

    # huge free text (a few hundred KB) and the 1 MiB cap
    rng = g.rng
    for size, style in ((300_000, "ascii"), (400_000, "unicode"),
                        (200_000, "controls")):
        g.stream(f"title of {size} bytes ({style})",
                 title=big_text(rng, size, style), hls=True)
        g.booking(f"display_name of {size} bytes ({style})",
                  participants=[{"user_id": "a", "role": "host",
                                 "display_name": big_text(rng, size, style)}])
        g.booking(f"metadata value of {size} bytes ({style})",
                  metadata={"notes": big_text(rng, size, style)})
        g.stream(f"host_display_name of {size} bytes ({style})",
                 host_display_name=big_text(rng, size, style))
        g.ended(f"session-ended (unknown subject), reason of {size} bytes "
                f"({style})", reason=big_text(rng, size, style))
    g.booking("metadata of 4,000 keys of 200 bytes",
              metadata={fill_to(f"{i}-", "ключ", 200): "v"
                        for i in range(4_000)})
    # near the codec's 1 MiB cap: one worker each, a crash here must not
    # hide what the others do
    near = MESSAGE_CAP - 9_000  # ~1,039,576 bytes: under the codec's cap
    g.section("cap-valid")
    g.booking("message just under 1 MiB (metadata), valid",
              metadata={"blob": big_text(rng, near, "ascii")})
    g.section("cap-invalid")
    g.booking("message just under 1 MiB, invalid (empty booking_id)",
              bid="", metadata={"blob": big_text(rng, near, "ascii")})
    g.section("cap-990k")
    g.booking("message of ~990 KB, invalid (ends_at < starts_at)",
              ends_at=0, metadata={"blob": big_text(rng, 990_000, "ascii")})
    g.section("cap-reason")
    g.ended("session-ended (unknown subject), reason just under 1 MiB",
            reason=big_text(rng, near, "ascii"))
    g.booking("message over 1 MiB", metadata={
        "blob": big_text(rng, MESSAGE_CAP, "ascii")})  # skipped

    g.section("subjects")  # re-bookings, ends, kinds, collisions
    a = g.sid("weird:emoji")
    g.booking("re-booking 1/3 (first)", bid=a)
    g.booking("re-booking 2/3: other users, one unicode", bid=a,
              participants=[{"user_id": "bob", "display_name": None,
                             "role": "guest"},
                            {"user_id": WEIRD["cjk"], "display_name": None,
                             "role": "host"}])
    g.booking("re-booking 3/3: 300 participants", bid=a,
              participants=g.participants(300, style="short"))
    b = g.sid()
    g.booking("VIRTUAL then PHYSICAL 1/2", bid=b)
    g.booking("VIRTUAL then PHYSICAL 2/2", bid=b, mode="PHYSICAL")
    c = g.sid()
    g.booking("PHYSICAL then VIRTUAL 1/2", bid=c, mode="PHYSICAL")
    g.booking("PHYSICAL then VIRTUAL 2/2", bid=c)
    d = g.sid("weird:rtl")
    g.stream("stream twice 1/2 (no hls)", sid=d)
    g.stream("stream twice 2/2 (hls)", sid=d, hls=True)
    e = g.sid()
    g.booking("booking and stream with one id (booking)", bid=e)
    g.stream("booking and stream with one id (stream)", sid=e, hls=True)
    g.ended("session-ended STREAM for an id only booked", kind="STREAM",
            subject=g.sid(), lock=False)
    f = g.sid("weird:zwj-family")
    g.booking("booked, ended (lock=false), booked again 1/3", bid=f)
    g.ended("booked, ended (lock=false), booked again 2/3", subject=f,
            lock=False, reason="")
    g.booking("booked, ended (lock=false), booked again 3/3", bid=f)
    h = g.sid("max256-emoji")
    g.stream("stream with hls, ended with lock 1/2", sid=h, hls=True)
    g.ended("stream with hls, ended with lock 2/2", kind="STREAM", subject=h,
            reason=WEIRD["log-injection"])
    for kind in ("BOOKING", "STREAM"):
        for lock in (True, False):
            g.ended(f"session-ended for an unknown {kind}, lock={lock}",
                    kind=kind, lock=lock)
    u = g.sid("plain")
    g.ended("session-ended twice for one unknown subject 1/2", subject=u)
    g.ended("session-ended twice for one unknown subject 2/2", subject=u,
            lock=False)
    # distinct subjects whose 100ms room names collide: names are
    # case-insensitive (docs/100ms-api.md 2.1), and a readable name can
    # equal another id's hashed one
    base = g.sid("plain")
    g.booking("room-name collision: mixed case", bid="Case-" + base,
              reuse=False)
    g.booking("room-name collision: lower case", bid="case-" + base,
              reuse=False)
    uni = g.sid("weird:cjk")
    g.booking("room-name collision: unicode id (hashed name)", bid=uni,
              reuse=False)
    g.booking("room-name collision: id equal to that hash", bid="x-"
              + hashlib.sha256(uni.encode()).hexdigest()[:32], reuse=False)


# ---- random combinations ---------------------------------------------

def random_event(g):
    rng, ts = g.rng, g.ts
    names = list(ts)

    def t(normal):
        return normal if rng.random() < 0.7 else ts[rng.choice(names)]

    def text(p=0.5):
        r = rng.random()
        if r < p:
            return None
        if r < 0.9:
            return WEIRD[rng.choice(WEIRD_NAMES)]
        return big_text(rng, rng.choice([1_000, 20_000, 100_000]), "unicode")

    def reuse(kind):
        pool = g.subjects[kind]
        return rng.choice(pool)[1] if pool and rng.random() < 0.25 else None

    def role():
        return rng.choice(ROLES) if rng.random() < 0.97 else \
            rng.choice(BAD_ROLES)

    def user():
        r = rng.random()
        if r < 0.6:
            return f"u{rng.randrange(1000)}"
        if r < 0.97:
            return g.sid("weird:" + rng.choice(WEIRD_NAMES))
        return g.sid(rng.choice(["max256-emoji", "over257-2byte", "huge"]))

    def eid():
        return g.event_id() if rng.random() < 0.95 else \
            g.tag() + WEIRD[rng.choice(WEIRD_NAMES)]

    kind = rng.choices(["booking", "stream", "ended"], [5, 3, 2])[0]
    if kind == "booking":
        bid = reuse("BOOKING") or g.rand_sid()
        n = rng.choice([1, 1, 2, 3, 5, 20, rng.randrange(1, 400)])
        users = list(dict.fromkeys(user() for _ in range(n)))
        if rng.random() < 0.03:
            users.append(users[0])
        ps = [{"user_id": u, "role": role(), "display_name":
               None if rng.random() < 0.7 else WEIRD[rng.choice(WEIRD_NAMES)]}
              for u in users]
        start = t(g.now + rng.randrange(-DAY_MS, 90 * DAY_MS))
        end = (None if rng.random() < 0.15 else
               t(min(INT64_MAX, start + rng.randrange(0, 4 * 3_600_000))))
        schema = ("BookingCreated.v1" if rng.random() < 0.1
                  else "BookingCreated")
        mode = "PHYSICAL" if rng.random() < 0.1 else "VIRTUAL"
        meta = {WEIRD[rng.choice(WEIRD_NAMES)]: text(0) or ""
                for _ in range(rng.choice([0, 0, 1, 5]))}
        what = (f"random booking: {n} participants, starts_at={start}, "
                f"ends_at={end}, {mode}, {schema}")
        return g.booking(what, bid=bid, schema=schema, event_id=eid(),
                         occurred_at=t(g.now), participants=ps,
                         starts_at=start, ends_at=end, mode=mode,
                         metadata=meta)
    if kind == "stream":
        sid = reuse("STREAM") or g.rand_sid()
        hls = rng.random() < 0.5
        return g.stream(f"random stream: hls={hls}", sid=sid, hls=hls,
                        event_id=eid(), occurred_at=t(g.now),
                        host_user_id=user(), host_display_name=text(),
                        host_role=role(), title=text())
    sk = rng.choice(["BOOKING", "STREAM"])
    subject = reuse(sk) or g.rand_sid()
    lock = rng.random() < 0.5
    return g.ended(f"random session-ended {sk}, lock={lock}", kind=sk,
                   subject=subject, event_id=eid(), occurred_at=t(g.now),
                   reason=text(), lock=lock)


def generate(seed, n_random, now, nonce, template_id):
    """The catalogue, then n_random random events. Returns the Gen."""
    g = Gen(seed, now, nonce, template_id)
    catalogue(g)
    g.section("random")
    for _ in range(n_random):
        random_event(g)
    return g


def ended_subjects(cases):
    """Subjects with a session-ended in the run: Kafka orders nothing
    across topics, so their bookings may run after the end and be skipped
    (applied, no video-ready: contract section 3)."""
    return {c.subject for c in cases if c.kind == "ended"}


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--random", type=int, default=50)
    a = ap.parse_args()
    import time
    g = generate(a.seed, a.random, int(time.time() * 1000), "abcdef",
                 "6a1b00000000000000000001")
    for c in g.cases:
        print(c.summary(200))
        print(f"    why: {c.why}"[:200])
    print(f"{len(g.cases)} cases; skipped (unencodable): {len(g.skipped)}")
    for s in g.skipped:
        print("  -", s)


if __name__ == "__main__":
    main()

__all__ = ["Case", "DOCUMENTED", "ROLES", "UNENCODABLE", "blen", "generate",
           "ended_subjects"]
