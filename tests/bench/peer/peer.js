/* peer.js -- the Node.js peer `make bench` measures hms-worker against.
 *
 * DESIGN
 * ------
 * Does for each booking-created what hms-worker does (docs/contract.md
 * sections 2-5), the way 100ms's Node guides do it: kafkajs, the
 * @100mslive/server-sdk for the REST calls and the app tokens, ioredis,
 * avsc. Per booking: decode (single-object encoding, v1-v3 writers
 * resolved into v3) -> EXISTS marker + HGETALL (one round trip; applied:
 * done, PHYSICAL or ended: marker only) -> POST /rooms (upsert by name,
 * the worker's name rule) -> POST /room-codes/room/{id} (404: again after
 * 500 ms, twice) -> one app token per participant -> one MULTI/EXEC with the
 * worker's hash, room key, tokens and stale-token deletions -> VideoReady
 * produced with acks=all and awaited -> SET marker -> offset committable.
 *
 * Concurrency: eachMessage only admits a message (it waits while
 * PEER_CONCURRENCY bookings are in flight) and returns, so the three
 * partitions feed one bounded pool. Messages of one key chain on the
 * previous one's promise (per-key order). Offsets: a partition's offset
 * moves past a message only once it and every earlier one are done (output
 * acknowledged, marker written), and what moved is committed every 5 s, as
 * librdkafka's auto-commit of stored offsets does for the worker, and at
 * stop. A rebalance resets the offset trackers: anything not committed is
 * redelivered and found applied by its marker (at-least-once, as the
 * worker).
 *
 * Failures: bad input (no decode, unknown fingerprint, a participant's
 * role the template lacks, ...) is logged and committed (the worker
 * dead-letters it; the bench sends none). Anything else (API 5xx, 408,
 * 429, transport, Redis, Kafka) runs the booking again, at most 5 times
 * with a doubling backoff, then it is logged and skipped. SIGTERM/SIGINT:
 * stop admitting, let in-flight bookings finish for SHUTDOWN_TIMEOUT_MS,
 * commit what is done, disconnect, exit 0.
 *
 * The server SDK (0.3.0) has no base-URL setting (api.100ms.live, or
 * api-nonprod with HMS_ENV=nonprod), so the peer points the SDK's own
 * axios instance at HMS_API_BASE; TLS is verified as usual, against
 * NODE_EXTRA_CA_CERTS for hms-sim's CA.
 */
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const avro = require('avsc');
const Redis = require('ioredis');
const { Kafka, Partitioners, logLevel } = require('kafkajs');
const { SDK: HMSSDK } = require('@100mslive/server-sdk');

const DAY_S = 86400;
const TOKEN_MAX_S = 90 * DAY_S;
const HASH_MIN_S = 3600; /* a hash lives at least an hour from now */
const MARKER_TTL_S = 7 * DAY_S;
const COMMIT_EVERY_MS = 5000; /* librdkafka's auto.commit.interval.ms */
const ATTEMPTS = 5;
const CODES_404_RETRIES = 2;
const CODES_404_WAIT_MS = 500;

/* ---- logfmt on stderr ------------------------------------------------ */

const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 };
let minLevel = LEVELS.info;

function quote(v) {
  const s = String(v);
  return /^[^\s"=]+$/.test(s) ? s : JSON.stringify(s);
}

function log(level, msg, fields = {}) {
  if (LEVELS[level] < minLevel) {
    return;
  }
  let line = `ts=${new Date().toISOString()} level=${level} mod=peer msg=${quote(msg)}`;
  for (const [k, v] of Object.entries(fields)) {
    line += ` ${k}=${quote(v)}`;
  }
  process.stderr.write(line + '\n');
}

/* ---- configuration: the worker's variables (docs/contract.md 6) ------- */

function env(name, dflt) {
  const v = process.env[name];
  return v === undefined || v === '' ? dflt : v;
}

function intEnv(name, dflt, min, max, errs) {
  const s = env(name, String(dflt));
  const v = Number(s);
  if (!/^[0-9]+$/.test(s) || v < min || v > max) {
    errs.push(`${name}: expected an integer in ${min}..${max}, got "${s}"`);
  }
  return v;
}

/* "guest=7200,viewer=7200": per-role app token TTLs */
function ttlByRole(s, errs) {
  const out = new Map();
  for (const item of (s || '').split(',').filter(Boolean)) {
    const m = /^([^=]+)=([0-9]+)$/.exec(item.trim());
    if (m === null || Number(m[2]) < 300) {
      errs.push(`HMS_APP_TOKEN_TTL_BY_ROLE: bad item "${item}"`);
    } else {
      out.set(m[1], Number(m[2]));
    }
  }
  return out;
}

/* The app secret as raw bytes, one trailing newline stripped (the
 * worker's secret.c). */
function readSecret(errs) {
  const file = env('HMS_APP_SECRET_FILE');
  let s;
  if (file !== undefined && env('HMS_APP_SECRET') !== undefined) {
    errs.push('HMS_APP_SECRET and HMS_APP_SECRET_FILE: set exactly one');
    return null;
  }
  try {
    s = file !== undefined ? fs.readFileSync(file) : Buffer.from(env('HMS_APP_SECRET', ''));
  } catch (e) {
    errs.push(`HMS_APP_SECRET_FILE: cannot read ${file}: ${e.code || e.message}`);
    return null;
  }
  if (s.length > 0 && s[s.length - 1] === 0x0a) {
    s = s.subarray(0, s[s.length - 2] === 0x0d ? s.length - 2 : s.length - 1);
  }
  if (s.length === 0) {
    errs.push('HMS_APP_SECRET_FILE (or HMS_APP_SECRET): required');
  }
  return s;
}

function loadConfig() {
  const errs = [];
  const cf = {
    brokers: env('KAFKA_BROKERS', '127.0.0.1:9092').split(',').map((b) => b.trim()),
    groupId: env('KAFKA_GROUP_ID', 'hms-worker'),
    topicIn: env('TOPIC_BOOKING_CREATED', 'booking-created'),
    topicOut: env('TOPIC_VIDEO_READY', 'video-ready'),
    topicDlq: env('TOPIC_DLQ', 'hms-worker-dlq'), /* not written: see README */
    apiBase: env('HMS_API_BASE', 'https://api.100ms.live/v2'),
    accessKey: env('HMS_ACCESS_KEY'),
    secret: readSecret(errs),
    templateId: env('HMS_TEMPLATE_ID'),
    subdomain: env('HMS_SUBDOMAIN'),
    redisUrl: env('REDIS_URL', 'redis://127.0.0.1:6379/0'),
    concurrency: intEnv('PEER_CONCURRENCY', 64, 1, 10000, errs),
    tokenTtl: intEnv('HMS_APP_TOKEN_TTL_S', 86400, 300, 90 * DAY_S, errs),
    ttlByRole: ttlByRole(env('HMS_APP_TOKEN_TTL_BY_ROLE'), errs),
    tokenGrace: intEnv('HMS_TOKEN_GRACE_S', 3600, 0, 30 * DAY_S, errs),
    cacheGrace: intEnv('CACHE_GRACE_S', 86400, 60, 365 * DAY_S, errs),
    cacheDefaultTtl: intEnv('CACHE_DEFAULT_TTL_S', 604800, 60, 365 * DAY_S, errs),
    shutdownMs: intEnv('SHUTDOWN_TIMEOUT_MS', 10000, 0, 600000, errs),
  };
  const level = env('LOG_LEVEL', 'info');
  if (LEVELS[level] === undefined) {
    errs.push(`LOG_LEVEL: one of debug, info, warn, error, got "${level}"`);
  }
  minLevel = LEVELS[level] ?? LEVELS.info;
  for (const [k, name] of [['accessKey', 'HMS_ACCESS_KEY'], ['templateId', 'HMS_TEMPLATE_ID']]) {
    if (cf[k] === undefined) {
      errs.push(`${name}: required`);
    }
  }
  if (!/^https:\/\/|^http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(cf.apiBase)) {
    errs.push('HMS_API_BASE: https://, or http:// to a loopback host');
  }
  if (errs.length > 0) {
    for (const e of errs) {
      log('error', 'bad configuration', { problem: e });
    }
    process.exit(2);
  }
  return cf;
}

/* ---- Avro single-object encoding (docs/contract.md 2) ---------------- */

const CRC_EMPTY = 0xc15d213aa4d7a795n;
const CRC_TABLE = Array.from({ length: 256 }, (_, i) => {
  let fp = BigInt(i);
  for (let j = 0; j < 8; j++) {
    fp = (fp >> 1n) ^ (CRC_EMPTY & -(fp & 1n));
  }
  return fp;
});

/* CRC-64-AVRO of the Parsing Canonical Form, little-endian as on the wire */
function fingerprint(type) {
  let fp = CRC_EMPTY;
  for (const b of Buffer.from(JSON.stringify(type.getSchema()))) {
    fp = (fp >> 8n) ^ CRC_TABLE[Number((fp ^ BigInt(b)) & 0xffn)];
  }
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(fp);
  return out;
}

function schema(name) {
  const file = path.join(__dirname, '..', '..', '..', 'schemas', `${name}.avsc`);
  /* logicalType is ignored: uuids stay strings, times stay numbers (ms) */
  return avro.Type.forSchema(JSON.parse(fs.readFileSync(file, 'utf8')));
}

const BOOKING = schema('BookingCreated');
const VIDEO_READY = schema('VideoReady');
const VIDEO_READY_HEAD = Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprint(VIDEO_READY)]);
/* writer fingerprint (hex) -> resolver into the v3 reader; null: itself */
const WRITERS = new Map([[fingerprint(BOOKING).toString('hex'), null]]);
for (const old of ['BookingCreated.v2', 'BookingCreated.v1']) {
  const w = schema(old);
  WRITERS.set(fingerprint(w).toString('hex'), BOOKING.createResolver(w));
}

class BadInput extends Error {}

function decodeBooking(buf) {
  if (buf === null || buf.length < 10 || buf[0] !== 0xc3 || buf[1] !== 0x01) {
    throw new BadInput('decode: not Avro single-object encoding');
  }
  const resolver = WRITERS.get(buf.subarray(2, 10).toString('hex'));
  if (resolver === undefined) {
    throw new BadInput('unknown_schema: unknown fingerprint');
  }
  try {
    return BOOKING.fromBuffer(buf.subarray(10), resolver ?? undefined);
  } catch (e) {
    throw new BadInput(`decode: ${e.message}`);
  }
}

function encodeVideoReady(rec) {
  return Buffer.concat([VIDEO_READY_HEAD, VIDEO_READY.toBuffer(rec)]);
}

/* ---- the contract's rules (service/src/rules.c) ----------------------- */

/* 100ms names are case-insensitive: only lower case stays readable, and
 * "x-" starts the hashed names */
function roomName(id) {
  if (/^[a-z0-9._:-]{1,64}$/.test(id) && !id.startsWith('x-')) {
    return `bk-${id}`;
  }
  return `bk-x-${crypto.createHash('sha256').update(id, 'utf8').digest('hex').slice(0, 32)}`;
}

function tokenExp(cf, ev, role, nowS) {
  const ttl = cf.ttlByRole.get(role) ?? cf.tokenTtl;
  const exp =
    ev.ends_at !== null
      ? Math.max(nowS + ttl, Math.floor(ev.ends_at / 1000) + cf.tokenGrace)
      : Math.max(nowS, Math.floor(ev.starts_at / 1000)) + ttl;
  return Math.min(exp, nowS + TOKEN_MAX_S);
}

function hashExpiry(cf, ev, nowS) {
  if (ev.ends_at !== null) {
    return Math.max(Math.floor(ev.ends_at / 1000) + cf.cacheGrace, nowS + HASH_MIN_S);
  }
  return nowS + cf.cacheDefaultTtl;
}

/* what the worker dead-letters as validation and the peer can tell
 * before calling 100ms (the bench sends valid bookings) */
function invalid(ev) {
  const users = new Set(ev.participants.map((p) => p.user_id));
  if (ev.booking_id.length === 0 || Buffer.byteLength(ev.booking_id) > 256) {
    return 'booking_id: 1-256 bytes';
  }
  if (ev.participants.length === 0) {
    return 'a VIRTUAL booking with no participants';
  }
  if (users.size !== ev.participants.length) {
    return 'a duplicate user_id';
  }
  return null;
}

/* ---- one booking ------------------------------------------------------ */

class Peer {
  constructor(cf) {
    this.cf = cf;
    /* a KeyObject: given bytes, jsonwebtoken 9 first tries them as a PEM
     * private key, and that failure costs ~0.4 ms of CPU per token (0.03
     * with the KeyObject) */
    this.hms = new HMSSDK(cf.accessKey, crypto.createSecretKey(cf.secret));
    this.hms.setLogLevel('silent'); /* its errors reach our log */
    /* no base-URL setting in the SDK: its own axios instance, moved */
    this.hms.api.axios.defaults.baseURL = cf.apiBase.replace(/\/+$/, '');
    this.redis = new Redis(cf.redisUrl, { lazyConnect: true });
    this.redis.on('error', (e) => log('warn', 'redis', { err: e.message }));
    this.kafka = new Kafka({
      clientId: 'hms-peer',
      brokers: cf.brokers,
      logLevel: logLevel.WARN,
      logCreator:
        () =>
        ({ level, log: l }) =>
          log(level <= logLevel.ERROR ? 'error' : 'warn', l.message, { src: 'kafkajs' }),
    });
    this.producer = this.kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    });
    this.consumer = this.kafka.consumer({
      groupId: cf.groupId,
      allowAutoTopicCreation: false,
    });
  }

  /* room codes; a room not visible yet answers 404 (a public sample
   * waits): again after 500 ms, twice */
  async codes(roomId) {
    for (let i = 0; ; i++) {
      try {
        const all = await this.hms.roomCodes.create(roomId);
        return all.filter((c) => c.enabled === true && c.code && c.role);
      } catch (e) {
        if (e.code !== 404 || i >= CODES_404_RETRIES) {
          throw e;
        }
        await sleep(CODES_404_WAIT_MS);
      }
    }
  }

  /* returns what became of it: "ready", "duplicate" or "skipped" */
  async handle(ev) {
    const cf = this.cf;
    const key = `hms:booking:${ev.booking_id}`;
    const marker = `hms:event:${ev.event_id}`;
    const loaded = await this.redis.pipeline().exists(marker).hgetall(key).exec();
    const [applied, hash] = loaded.map(([err, v]) => {
      if (err) {
        throw err;
      }
      return v;
    });

    if (applied) {
      return 'duplicate';
    }
    if (ev.mode === 'PHYSICAL' || hash.status === 'ended') {
      await this.redis.set(marker, '1', 'EX', MARKER_TTL_S);
      return 'skipped';
    }
    const why = invalid(ev);
    if (why !== null) {
      throw new BadInput(`validation: ${why}`);
    }
    const name = roomName(ev.booking_id);
    const body = {
      name,
      description: `Booking ${ev.booking_id}`,
      template_id: ev.template_id ?? cf.templateId,
    };
    for (const opt of ['region', 'size', 'max_duration_seconds']) {
      if (ev[opt] !== null && ev[opt] !== undefined) {
        body[opt] = ev[opt];
      }
    }
    const room = await this.hms.rooms.create(body);
    if (typeof room.id !== 'string' || room.id === '') {
      throw new BadInput('hms_rejected: create room: reply without a valid id');
    }
    const codes = await this.codes(room.id);
    const roles = new Set(codes.map((c) => c.role));
    if (!ev.participants.every((p) => roles.has(p.role))) {
      throw new BadInput("validation: role is not a role of the room's template");
    }
    const nowMs = Date.now();
    const nowS = Math.floor(nowMs / 1000);
    const expireS = hashExpiry(cf, ev, nowS);
    const tokens = await Promise.all(
      ev.participants.map(async (p) => {
        const exp = tokenExp(cf, ev, p.role, nowS);
        const { token } = await this.hms.auth.getAuthToken({
          roomId: room.id,
          role: p.role,
          userId: p.user_id,
          issuedAt: nowS - 60, /* the worker's back-dating */
          notValidBefore: nowS - 60,
          validForSeconds: exp - (nowS - 60),
        });
        return { user: p.user_id, token, ttl: Math.max(exp - 60 - nowS, 1) };
      })
    );
    const out = {
      event_id: crypto.randomUUID(),
      causation_id: ev.event_id,
      occurred_at: nowMs,
      subject_kind: 'BOOKING',
      subject_id: ev.booking_id,
      room_id: room.id,
      room_name: name,
      codes: codes.map((c) => ({
        role: c.role,
        code: c.code,
        join_url: cf.subdomain ? `https://${cf.subdomain}.app.100ms.live/meeting/${c.code}` : null,
      })),
      cache_key: key,
      expires_at: expireS * 1000,
      hls_url: null,
    };
    await this.writeReady(ev, hash, room.id, out, tokens, nowMs);
    await this.producer.send({
      topic: cf.topicOut,
      acks: -1,
      messages: [{ key: ev.booking_id, value: encodeVideoReady(out) }],
    });
    await this.redis.set(marker, '1', 'EX', MARKER_TTL_S);
    log('info', 'room ready', { booking_id: ev.booking_id, room_id: room.id, codes: codes.length });
    return 'ready';
  }

  /* The worker's cache_put_ready: old provisioning fields go, webhook
   * fields stay; hash, room key, tokens and stale tokens in one MULTI. */
  async writeReady(ev, hash, roomId, out, tokens, nowMs) {
    const key = out.cache_key;
    const listed = new Set(ev.participants.map((p) => p.user_id));
    const old = Object.keys(hash).filter(
      (f) =>
        /^(code|link|role):/.test(f) ||
        ['hls_requested', 'ends_at', 'hls_url', 'hls_stream_id'].includes(f)
    );
    const fields = ['status', 'ready', 'room_id', roomId, 'room_name', out.room_name];
    fields.push('event_id', ev.event_id, 'updated_at', String(nowMs));
    for (const c of out.codes) {
      fields.push(`code:${c.role}`, c.code);
      if (c.join_url !== null) {
        fields.push(`link:${c.role}`, c.join_url);
      }
    }
    for (const p of ev.participants) {
      fields.push(`role:${p.user_id}`, p.role);
    }
    if (ev.ends_at !== null) {
      fields.push('ends_at', String(ev.ends_at));
    }
    const m = this.redis.multi();
    if (old.length > 0) {
      m.hdel(key, ...old);
    }
    m.hset(key, ...fields);
    m.expireat(key, out.expires_at / 1000);
    m.set(`hms:room:${roomId}`, `booking:${ev.booking_id}`);
    m.expireat(`hms:room:${roomId}`, out.expires_at / 1000);
    for (const t of tokens) {
      m.set(`hms:token:${roomId}:${t.user}`, t.token, 'EX', t.ttl);
    }
    if (hash.room_id === roomId) {
      /* another room's tokens are that room's */
      for (const f of Object.keys(hash)) {
        if (f.startsWith('role:') && !listed.has(f.slice(5))) {
          m.del(`hms:token:${roomId}:${f.slice(5)}`);
        }
      }
    }
    for (const [err] of await m.exec()) {
      if (err) {
        throw err; /* a command failing inside EXEC fails the write */
      }
    }
  }
}

/* ---- offsets, concurrency, the consumer loop ------------------------- */

/* One partition's messages in consumption order; next is the offset to
 * commit: every message before it is done. */
class Offsets {
  constructor() {
    this.q = [];
    this.head = 0;
    this.next = null;
  }

  add(offset) {
    const e = { offset, done: false };
    this.q.push(e);
    return e;
  }

  finish(e) {
    e.done = true;
    while (this.head < this.q.length && this.q[this.head].done) {
      this.next = this.q[this.head].offset + 1;
      this.head++;
    }
    if (this.head > 1024) {
      this.q = this.q.slice(this.head);
      this.head = 0;
    }
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/* transient: 100ms's 408, 429, 5xx, transport errors; Redis and Kafka */
function transient(e) {
  return !(e instanceof BadInput) && !(e.code >= 400 && e.code < 500 && e.code !== 408 && e.code !== 429);
}

class Loop {
  constructor(peer) {
    this.peer = peer;
    this.limit = peer.cf.concurrency;
    this.inFlight = 0;
    this.waiting = []; /* admissions waiting for a slot */
    this.tails = new Map(); /* key -> the last booking of that key */
    this.parts = new Map(); /* "topic:partition" -> Offsets */
    this.committed = new Map();
    this.stopping = false;
    this.idle = null; /* resolves when inFlight reaches 0 while stopping */
  }

  slot() {
    if (this.inFlight < this.limit) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release() {
    const next = this.waiting.shift();
    if (next !== undefined) {
      next(); /* the slot passes on */
    } else if (--this.inFlight === 0 && this.idle !== null) {
      this.idle();
    }
  }

  offsets(topic, partition) {
    const k = `${topic}:${partition}`;
    if (!this.parts.has(k)) {
      this.parts.set(k, new Offsets());
    }
    return this.parts.get(k);
  }

  async attempt(m) {
    let ev;
    for (let i = 1; ; i++) {
      try {
        ev = ev ?? decodeBooking(m.value);
        return await this.peer.handle(ev);
      } catch (e) {
        const what = { offset: m.offset, key: m.key ? m.key.toString() : '-' };
        if (!transient(e) || i >= ATTEMPTS || this.stopping) {
          log('error', 'booking not applied, skipped (the worker dead-letters it)', {
            ...what,
            err: e.message,
            http: e.code ?? '-',
          });
          return 'skipped';
        }
        log('warn', 'booking failed, trying again', { ...what, err: e.message, attempt: i });
        await sleep(Math.min(100 * 2 ** (i - 1), 2000));
      }
    }
  }

  /* eachMessage: admits one message and returns; its work runs behind
   * the previous booking of its key. */
  async admit({ topic, partition, message }) {
    await this.slot();
    if (this.stopping) {
      this.release(); /* never started: not committed, redelivered */
      return;
    }
    const slot = this.offsets(topic, partition);
    const entry = slot.add(Number(message.offset));
    const key = message.key ? message.key.toString('latin1') : '';
    const prev = this.tails.get(key) ?? Promise.resolve();
    const run = prev.then(() => this.attempt(message));
    this.tails.set(key, run);
    run.then(
      () => slot.finish(entry),
      (e) => log('error', 'bug: a booking threw', { err: e.stack })
    ).finally(() => {
      if (this.tails.get(key) === run) {
        this.tails.delete(key);
      }
      this.release();
    });
  }

  async commit() {
    const list = [];
    for (const [k, o] of this.parts) {
      if (o.next !== null && this.committed.get(k) !== o.next) {
        const i = k.lastIndexOf(':');
        list.push({ topic: k.slice(0, i), partition: Number(k.slice(i + 1)), offset: String(o.next), k });
      }
    }
    if (list.length === 0) {
      return;
    }
    try {
      await this.peer.consumer.commitOffsets(list.map(({ k, ...rest }) => rest));
      for (const { k, offset } of list) {
        this.committed.set(k, Number(offset));
      }
    } catch (e) {
      log('warn', 'commit failed, trying again later', { err: e.message });
    }
  }

  async stop() {
    this.stopping = true;
    try {
      this.peer.consumer.pause([{ topic: this.peer.cf.topicIn }]);
    } catch (e) {
      return; /* not running yet: nothing admitted, nothing to commit */
    }
    if (this.inFlight > 0) {
      const drained = new Promise((resolve) => (this.idle = resolve));
      await Promise.race([drained, sleep(this.peer.cf.shutdownMs)]);
    }
    if (this.inFlight > 0) {
      log('warn', 'shutdown timeout: abandoning in-flight bookings', { in_flight: this.inFlight });
    }
    await this.commit();
  }
}

async function main() {
  const cf = loadConfig();
  const peer = new Peer(cf);
  const loop = new Loop(peer);
  let stopping = null;

  const stop = (sig) => {
    stopping =
      stopping ??
      (async () => {
        log('info', 'stopping', { signal: sig });
        clearInterval(timer);
        await loop.stop();
        await peer.consumer.disconnect();
        await peer.producer.disconnect();
        peer.redis.disconnect();
        log('info', 'stopped');
        process.exit(0);
      })().catch((e) => {
        log('error', 'unclean stop', { err: e.message });
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  const timer = setInterval(() => loop.commit(), COMMIT_EVERY_MS);

  await peer.redis.connect();
  await peer.producer.connect();
  await peer.consumer.connect();
  peer.consumer.on(peer.consumer.events.GROUP_JOIN, () => {
    loop.parts = new Map(); /* uncommitted work is redelivered */
    loop.committed = new Map();
  });
  peer.consumer.on(peer.consumer.events.CRASH, (e) =>
    log('error', 'consumer crashed', { err: e.payload.error.message, restart: e.payload.restart })
  );
  if (loop.stopping) {
    return; /* a signal during start-up: stop() ends the process */
  }
  await peer.consumer.subscribe({ topics: [cf.topicIn], fromBeginning: true });
  await peer.consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: 3,
    eachMessage: (p) => loop.admit(p),
  });
  log('info', 'started', { topic: cf.topicIn, group: cf.groupId, concurrency: cf.concurrency });
}

process.on('unhandledRejection', (e) => {
  log('error', 'unhandled rejection', { err: e && e.stack ? e.stack : String(e) });
});

main().catch((e) => {
  log('error', 'cannot start', { err: e.message });
  process.exit(1);
});
