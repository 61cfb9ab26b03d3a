"""make bench-tls (issue 15): what TLS to the 100ms API costs per booking,
and how well the worker reuses its connections. A measurement, never a
pass/fail.

Two simulators side by side in one run: the stack's hms-sim over HTTPS
(its certificate checked against the stack's CA, HMS_API_CA_FILE, as the
worker always does) and a second hms-sim over plain http on loopback, with
the same secret and access key. For each HMS_MAX_IN_FLIGHT in
BENCH_TLS_IN_FLIGHT (1,64,256) and each of BENCH_REPEAT rounds (3), one
fresh worker per scheme (the order alternates from round to round) on
fresh topics is warmed up with 30 bookings, then two batches of BENCH_N
(3000) bookings are produced at once each, each lasting until its last
video-ready: the first grows the worker's connection pool, the second is
the steady state. Per batch: the worker's CPU and the simulator's CPU per
1,000 bookings (/proc), bookings/s, and the connections the simulator
accepted from the worker -- with HTTPS one full TLS handshake each
(hms-sim's libmicrohttpd/GnuTLS keeps no session cache and sends no
tickets, so none is resumed) -- per 1,000 bookings, and those of the
warm-up. The table shows medians and the HTTPS/http ratios.

Runs inside the stack's environment (tests/bench/run.sh). Writes
bench/results/tls-<time>.{md,json}."""
import json
import os
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import requests  # noqa: E402

import bench  # noqa: E402
from bench import Subject, cpu_s, free_port, say  # noqa: E402

ROOT = os.path.join(HERE, "..", "..")
N = int(os.environ.get("BENCH_N", "3000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
IN_FLIGHT = [int(x) for x in os.environ.get(
    "BENCH_TLS_IN_FLIGHT", "1,64,256").split(",") if x]
CA = os.environ["HMS_API_CA_FILE"]


class Sim:
    """One simulator: its /v2 base for the worker, its pid for /proc."""

    def __init__(self, url, pid, verify):
        self.url, self.pid, self.verify = url, pid, verify

    def admin(self, method, path, **kw):
        r = requests.request(method, f"{self.url}/__sim/{path}", timeout=10,
                             verify=self.verify, **kw)
        r.raise_for_status()
        return r.json()

    def connections(self):
        return self.admin("GET", "stats")["connections"]


def stack_sim():
    pid = bench.stack_pids().get("hms-sim")
    if pid is None:
        raise RuntimeError("the stack's hms-sim is not running")
    return Sim(os.environ["HMS_SIM_URL"], int(pid), CA)


def plain_sim(tmp):
    """An hms-sim over plain http on loopback, as the stack starts its own
    but without --tls-*."""
    port = free_port()
    log = open(os.path.join(tmp, "sim-plain.log"), "w", encoding="utf-8")
    proc = subprocess.Popen(
        [os.path.join(bench.BIN, "hms-sim"), "--listen", f"127.0.0.1:{port}",
         "--access-key", os.environ["HMS_ACCESS_KEY"]], stderr=log)
    sim = Sim(f"http://127.0.0.1:{port}", proc.pid, True)
    deadline = time.monotonic() + 20
    while True:
        try:
            sim.admin("GET", "health")
            return sim, proc
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def batch(s, sim):
    """N bookings on a running worker: its numbers, the simulator's CPU
    and the connections the worker opened meanwhile, per 1,000."""
    c0, cpu0 = sim.connections(), cpu_s(sim.pid)
    r = s.measure(N)
    r["sim_cpu_per_1k"] = (cpu_s(sim.pid) - cpu0) * 1000 / N
    # less the connection of the stats call itself
    r["connections_per_1k"] = (sim.connections() - c0 - 1) * 1000 / N
    return r


def one_run(sim, in_flight, tmp):
    """A fresh worker: warm-up, then two batches. The first grows the
    connection pool towards HMS_MAX_IN_FLIGHT; the second shows the steady
    state."""
    sim.admin("POST", "reset", json={"state": True, "faults": True})
    s = Subject("hms-worker", in_flight, tmp,
                env_extra={"HMS_API_BASE": sim.url + "/v2"})
    try:
        warm = sim.connections() - 1  # less the stats call's own
        first = batch(s, sim)
        r = batch(s, sim)
    finally:
        s.stop()
    r["warm_connections"] = warm
    r["first_connections_per_1k"] = first["connections_per_1k"]
    r["first_cpu_per_1k"] = first["cpu_per_1k"]
    r["first_sim_cpu_per_1k"] = first["sim_cpu_per_1k"]
    return r


def median(runs, key):
    return statistics.median(r[key] for r in runs)


def table(results):
    rows = ["| in flight | scheme | bookings/s | worker CPU s / 1k | "
            "hms-sim CPU s / 1k | connections: warm-up (30 bookings) | "
            "first 1k | steady 1k |", "|" + "---|" * 8]
    ratios = ["", "| in flight | worker CPU https/http | hms-sim CPU "
              "https/http | worker, first batch | hms-sim, first batch |",
              "|---|---|---|---|---|"]
    for inf in IN_FLIGHT:
        for scheme in ("https", "http"):
            runs = results[(inf, scheme)]
            rows.append(
                f"| {inf} | {scheme} | {median(runs, 'rate'):.0f} | "
                f"{median(runs, 'cpu_per_1k'):.3f} | "
                f"{median(runs, 'sim_cpu_per_1k'):.3f} | "
                f"{median(runs, 'warm_connections'):.0f} | "
                f"{median(runs, 'first_connections_per_1k'):.2f} | "
                f"{median(runs, 'connections_per_1k'):.2f} |")
        tls, plain = results[(inf, "https")], results[(inf, "http")]

        def ratio(key):
            p = median(plain, key)
            return f"{median(tls, key) / p:.2f}" if p else "-"
        ratios.append(f"| {inf} | {ratio('cpu_per_1k')} | "
                      f"{ratio('sim_cpu_per_1k')} | "
                      f"{ratio('first_cpu_per_1k')} | "
                      f"{ratio('first_sim_cpu_per_1k')} |")
    note = ["", f"Medians of {REPEAT} runs of 2 x {N} bookings per row; "
            "bookings/s and CPU of the second (steady) batch, the ratios "
            "also for the first, which opens the connections; connections "
            "are what hms-sim accepted from the worker, each one full TLS "
            "handshake with https. CPU from /proc at 10 ms resolution; "
            f"{os.cpu_count()} cores shared with Kafka, Redis and this "
            "client."]
    return "\n".join(rows + ratios + note)


def main():
    tmp = os.environ.get("BENCH_TMP", "/tmp")
    tls = stack_sim()
    plain, proc = plain_sim(tmp)  # the stack's HMS_APP_SECRET_FILE
    say(f"bench-tls: {REPEAT} rounds, {N} bookings per run, in flight "
        f"{IN_FLIGHT}; https {tls.url}, http {plain.url}")
    results = {}
    try:
        for inf in IN_FLIGHT:
            for rnd in range(REPEAT):
                order = [("https", tls), ("http", plain)]
                for scheme, sim in order if rnd % 2 == 0 else order[::-1]:
                    r = one_run(sim, inf, tmp)
                    results.setdefault((inf, scheme), []).append(r)
                    say(f"  in_flight={inf} {scheme}: {r['rate']:.0f}/s "
                        f"worker {r['cpu_per_1k']:.3f} s/1k, sim "
                        f"{r['sim_cpu_per_1k']:.3f} s/1k, connections "
                        f"{r['warm_connections']} at warm-up, "
                        f"{r['first_connections_per_1k']:.2f}/1k, then "
                        f"{r['connections_per_1k']:.2f}/1k")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    md = table(results)
    out_dir = os.path.join(ROOT, "bench", "results")
    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, f"tls-{time.strftime('%Y%m%d-%H%M%S')}")
    with open(base + ".md", "w", encoding="utf-8") as f:
        f.write(md + "\n")
    with open(base + ".json", "w", encoding="utf-8") as f:
        json.dump([{"in_flight": k[0], "scheme": k[1], "runs": v}
                   for k, v in sorted(results.items())], f, indent=1)
    say("\n" + md + f"\n\nwritten: {base}.md, {base}.json")


if __name__ == "__main__":
    main()
