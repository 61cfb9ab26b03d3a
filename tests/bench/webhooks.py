"""make bench-webhooks (issue 14): how many webhooks/s one hms-worker's
webhook listener accepts with delivery confirmed, i.e. answered 200 only
once Kafka's delivery report came back. A measurement, never a pass/fail.

One worker on fresh topics and group (its consumer idles), the listener on
a free port. For each concurrency in BENCH_WH_CONCURRENCY (1,16,64): that
many keep-alive connections, spread over BENCH_WH_PROCS client processes
(2; threads inside each), post 100ms-like envelopes (~400 bytes, 50 rooms)
for BENCH_WH_SECONDS (10) after a 1 s warm-up. Per row: 200s per second,
latency p50/p99 (request sent to answer read, client side), non-200
answers, and the worker's CPU ms per 1,000 webhooks (/proc). At the end
the topic is read back: it must hold at least every webhook answered 200
(it may hold more: one answered 503 after a late confirmation).

The client runs on the same 2 cores as Kafka and the worker, so the
numbers are a floor of what the listener does, not of what it could do
alone.

Then the latency users feel: a second worker with WEBHOOK_EVENTS=1 (the
listener and the consumer in one process) gets BENCH_WH_LATENCY_RATE
(100) peer.join.success webhooks per second for BENCH_WH_SECONDS, for
rooms it knows (their hms:room and subject hashes are written first), and
a Redis subscriber times each from the POST being sent to its PUBLISH
(sent after the hash is written): p50/p99/max of "webhook in -> Redis
updated". Runs inside the stack's environment (tests/bench/run.sh)."""
import http.client
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
BIN = os.environ.get("BIN", os.path.join(ROOT, "build", "release"))
BROKERS = os.environ["KAFKA_BROKERS"]
CONCURRENCY = [int(x) for x in os.environ.get(
    "BENCH_WH_CONCURRENCY", "1,16,64").split(",") if x]
SECONDS = float(os.environ.get("BENCH_WH_SECONDS", "10"))
PROCS = int(os.environ.get("BENCH_WH_PROCS", "2"))
WARMUP_S = 1.0
HEADER = "X-Hms-Webhook-Secret"
SECRET = "bench-" + uuid.uuid4().hex
LATENCY_RATE = float(os.environ.get("BENCH_WH_LATENCY_RATE", "100"))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def body(i):
    return json.dumps({
        "version": "2.0", "id": str(uuid.uuid4()), "app_id": "bench-app",
        "account_id": "bench-account",
        "template_id": "6a1b00000000000000000001",
        "timestamp": "2026-12-01T10:00:00Z", "type": "peer.join.success",
        "data": {"room_id": f"65a1b2c3d4e5f607182{i % 50:05d}",
                 "room_name": f"bk-bench-{i % 50}", "session_id": "s-1",
                 "peer_id": f"p-{i}", "user_id": f"user-{i}",
                 "user_name": "Bench User", "role": "guest",
                 "joined_at": "2026-12-01T10:00:00Z", "type": "regular"},
    }).encode()


def connection(port, start, stop, out):
    """One keep-alive connection posting until stop; appends
    (status, seconds, sent_at) per request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {HEADER: SECRET, "Content-Type": "application/json"}
    i = 0
    while time.monotonic() < start:
        time.sleep(0.001)
    while time.monotonic() < stop:
        b = body(i)
        i += 1
        t0 = time.monotonic()
        try:
            conn.request("POST", "/hms/webhooks", body=b, headers=headers)
            r = conn.getresponse()
            r.read()
            status = r.status
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        out.append((status, time.monotonic() - t0, t0))
    conn.close()


def client(args):
    """One process: n connections as threads; its results."""
    port, n, start, stop = args
    outs = [[] for _ in range(n)]
    threads = [threading.Thread(target=connection,
                                args=(port, start, stop, outs[k]))
               for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [x for o in outs for x in o]


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    return sorted_vals[min(len(sorted_vals) - 1, int(p * len(sorted_vals)))]


def measure(pool, port, pid, c):
    procs = min(PROCS, c)
    per = [c // procs + (1 if k < c % procs else 0) for k in range(procs)]
    start = time.monotonic() + 0.5
    measure_from = start + WARMUP_S
    stop = measure_from + SECONDS
    cpu0 = None

    def sample_cpu():
        nonlocal cpu0
        time.sleep(max(0, measure_from - time.monotonic()))
        cpu0 = cpu_s(pid)
    t = threading.Thread(target=sample_cpu)
    t.start()
    results = pool.map(client, [(port, n, start, stop) for n in per])
    cpu1 = cpu_s(pid)
    t.join()
    rows = [x for r in results for x in r]
    timed = [x for x in rows if x[2] >= measure_from]
    ok = sorted(s for st, s, _ in timed if st == 200)
    return {"concurrency": c, "per_s": len(ok) / SECONDS,
            "p50_ms": pct(ok, 0.50) * 1000, "p99_ms": pct(ok, 0.99) * 1000,
            "errors": sum(1 for st, _, _ in timed if st != 200),
            "cpu_ms_per_1000": (cpu1 - cpu0) * 1e6 / max(1, len(ok)),
            "ok_total": sum(1 for st, _, _ in rows if st == 200)}


def count_topic(topic, at_least, timeout=60):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": "bench-wh-" +
                  uuid.uuid4().hex, "enable.auto.commit": False})
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    n, deadline = 0, time.monotonic() + timeout
    try:
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        while n < at_least and time.monotonic() < deadline:
            n += sum(1 for m in c.consume(10000, 0.5) if m.error() is None)
        n += sum(1 for m in c.consume(10000, 1.0) if m.error() is None)
    finally:
        c.close()
    return n


def start_worker(env, port, log):
    worker = subprocess.Popen([os.path.join(BIN, "hms-worker")], env=env,
                              stderr=log)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return worker
        except OSError:
            if time.monotonic() > deadline or worker.poll() is not None:
                worker.kill()
                raise SystemExit("the worker did not start; see " + log.name)
            time.sleep(0.1)


def latency(env, tag, log):
    """Paced webhooks through listener, Kafka and consumer into Redis: the
    time from the POST to the PUBLISH of each, sorted (seconds)."""
    import redis
    rds = redis.Redis.from_url(os.environ["REDIS_URL"])
    rooms = []
    for i in range(50):
        room, bid = f"65b0{tag}{i:012d}", f"bench-{tag}-{i}"
        rds.set(f"hms:room:{room}", f"booking:{bid}", ex=3600)
        rds.hset(f"hms:booking:{bid}", mapping={"status": "ready",
                                                "room_id": room})
        rds.expire(f"hms:booking:{bid}", 3600)
        rooms.append((room, f"bk-{bid}"))
    sub = rds.pubsub()
    sub.psubscribe(f"hms:events:booking:bench-{tag}-*")
    port, topic = free_port(), f"bw-whl-{tag}"  # no backlog to read first
    subprocess.run([os.path.join(BIN, "mktopics"), BROKERS, f"{topic}:3"],
                   check=True, capture_output=True)
    env = dict(env, WEBHOOK_ADDR=f"127.0.0.1:{port}", WEBHOOK_EVENTS="1",
               TOPIC_WEBHOOKS=topic, KAFKA_GROUP_ID=f"bw-lat-{tag}")
    worker = start_worker(env, port, log)
    sent, heard = {}, {}

    def listen():
        while len(heard) < len(sent) or not done.is_set():
            m = sub.get_message(timeout=1)
            if m is not None and m["type"] == "pmessage":
                heard[json.loads(m["data"])["webhook_id"]] = time.monotonic()
    done = threading.Event()
    t = threading.Thread(target=listen)
    t.start()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        n = int(SECONDS * LATENCY_RATE)
        t0 = time.monotonic() + 1.0
        for i in range(n):
            time.sleep(max(0, t0 + i / LATENCY_RATE - time.monotonic()))
            room, name = rooms[i % len(rooms)]
            wid = str(uuid.uuid4())
            b = json.dumps({"version": "2.0", "id": wid, "app_id": "a",
                            "account_id": "c", "timestamp":
                            "2026-12-01T10:00:00Z",
                            "type": "peer.join.success",
                            "data": {"room_id": room, "room_name": name,
                                     "user_id": f"u-{i}", "peer_id": f"p-{i}",
                                     "role": "guest", "joined_at":
                                     "2026-12-01T10:00:00Z"}}).encode()
            sent[wid] = time.monotonic()
            conn.request("POST", "/hms/webhooks", body=b,
                         headers={HEADER: SECRET,
                                  "Content-Type": "application/json"})
            conn.getresponse().read()
        deadline = time.monotonic() + 30
        while len(heard) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        done.set()
        t.join()
        conn.close()
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    return sorted(heard[w] - sent[w] for w in sent if w in heard), len(sent)


def main():
    tag = uuid.uuid4().hex[:8]
    topics = {k: f"bw-{k}-{tag}" for k in ("bc", "ss", "se", "vr", "ve",
                                           "vs", "dlq", "wh")}
    subprocess.run([os.path.join(BIN, "mktopics"), BROKERS,
                    *[f"{t}:3" for t in topics.values()]], check=True,
                   capture_output=True)
    port = free_port()
    env = dict(os.environ, KAFKA_GROUP_ID=f"bw-group-{tag}",
               ADMIN_ADDR="off", LOG_LEVEL="warn",
               TOPIC_BOOKING_CREATED=topics["bc"],
               TOPIC_STREAM_STARTED=topics["ss"],
               TOPIC_SESSION_ENDED=topics["se"],
               TOPIC_VIDEO_READY=topics["vr"], TOPIC_VIDEO_ENDED=topics["ve"],
               TOPIC_VIDEO_SESSION=topics["vs"],
               TOPIC_DLQ=topics["dlq"], TOPIC_WEBHOOKS=topics["wh"],
               WEBHOOK_ADDR=f"127.0.0.1:{port}",
               WEBHOOK_SECRET_HEADERS=f"{HEADER}: {SECRET}")
    log = open(os.path.join(os.environ.get("BENCH_TMP", "/tmp"),
                            f"bench-webhooks-{tag}.log"), "w")
    worker = start_worker(env, port, log)
    try:
        rows = []
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(PROCS) as pool:
            for c in CONCURRENCY:
                rows.append(measure(pool, port, worker.pid, c))
                print(f"  concurrency {c}: {rows[-1]['per_s']:.0f}/s",
                      file=sys.stderr)
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(60)
    total_ok = sum(r["ok_total"] for r in rows)
    stored = count_topic(topics["wh"], total_ok)
    print(f"\nwebhooks/s one listener accepts with delivery confirmed "
          f"({SECONDS:.0f} s per row, {PROCS} client processes, "
          f"worker exit {code})\n")
    print("| concurrency | webhooks/s | p50 ms | p99 ms | non-200 | "
          "worker CPU ms / 1000 |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['concurrency']} | {r['per_s']:.0f} | {r['p50_ms']:.1f} "
              f"| {r['p99_ms']:.1f} | {r['errors']} | "
              f"{r['cpu_ms_per_1000']:.0f} |")
    print(f"\nanswered 200: {total_ok}; in the topic: {stored}"
          f"{'' if stored >= total_ok else '  <-- FEWER THAN ANSWERED 200'}")
    lat, n = latency(env, tag, log)
    print(f"\nwebhook in -> Redis updated (PUBLISH heard), {LATENCY_RATE:.0f}"
          f"/s for {SECONDS:.0f} s, listener and consumer in one worker\n")
    print("| webhooks | applied | p50 ms | p99 ms | max ms |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {n} | {len(lat)} | {pct(lat, 0.5) * 1000:.1f} | "
          f"{pct(lat, 0.99) * 1000:.1f} | "
          f"{(lat[-1] if lat else float('nan')) * 1000:.1f} |")


if __name__ == "__main__":
    main()
