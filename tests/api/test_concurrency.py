#!/usr/bin/env python3
"""Many concurrent clients: keep-alive readers, one-shot connections, VM
churn (create, pause, resume, delete) and knob changes all at once, plus
hundreds of idle connections; every answer is right and nobody starves."""
import random
import socket
import threading
import time

from apitest import Client, Daemon, check, guest, require_kvm, run_tests

require_kvm()
d = Daemon("--dedup-opt", "sleep_millisecs=10")
d.start()
errors = []
counts = {"requests": 0}
lock = threading.Lock()


def record(err):
    with lock:
        errors.append(err)


def worker(fn, n):
    def run():
        try:
            fn(n)
        except Exception as e:  # noqa: BLE001
            record("%s: %s: %s" % (fn.__name__, type(e).__name__, e))
    return threading.Thread(target=run)


def reader(n):
    c = Client(d.sock)
    paths = ["/dedup", "/vms", "/healthz", "/host", "/metrics", "/version"]
    for _ in range(n):
        p = random.choice(paths)
        r = c.get(p)
        if r.status != 200:
            record("GET %s -> %r" % (p, r))
    c.close()
    with lock:
        counts["requests"] += n


def one_shot(n):
    for _ in range(n):
        r = Client(d.sock).get("/dedup")
        if r.status != 200:
            record("one-shot GET /dedup -> %r" % r)
    with lock:
        counts["requests"] += n


def vm_churn(n):
    c = Client(d.sock)
    for _ in range(n):
        r = c.request("POST", "/vms", body={"kernel": guest("memfill"), "mem_mib": 8,
                                            "cmdline": "shared=0.5"})
        if r.status != 201:
            record("create -> %r" % r)
            continue
        i = r.json()["id"]
        for st in ("paused", "running"):
            r = c.request("PUT", "/vms/%d/state" % i, body={"state": st})
            if r.status != 200:
                record("%s vm%d -> %r" % (st, i, r))
        r = c.request("DELETE", "/vms/%d" % i)
        if r.status != 204:
            record("delete vm%d -> %r" % (i, r))
    c.close()


def tuner(n):
    c = Client(d.sock)
    for k in range(n):
        r = c.request("PATCH", "/dedup", body={"pages_to_scan": 1000 + k, "sleep_millisecs": 5 + k % 20})
        if r.status != 200:
            record("PATCH -> %r" % r)
        r = c.request("PATCH", "/dedup", body={"pages_to_scan": 0})
        if r.status != 422:
            record("bad PATCH -> %r" % r)
    c.close()


def test_mixed_load():
    threads = ([worker(reader, 150) for _ in range(64)] + [worker(one_shot, 50) for _ in range(16)]
               + [worker(vm_churn, 6) for _ in range(6)] + [worker(tuner, 40) for _ in range(2)])
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    elapsed = time.monotonic() - t0
    check(not any(t.is_alive() for t in threads), "clients still running after 120 s")
    check(not errors, "%d failures, first: %s" % (len(errors), errors[:5]))
    print("  %d reads by 80 clients next to VM churn and PATCHes in %.1f s"
          % (counts["requests"], elapsed))
    c = Client(d.sock)
    check(c.get("/vms").json()["vms"] == [], "churned VMs must all be gone")
    cfg = c.get("/dedup").json()["config"]
    check(1000 <= cfg["pages_to_scan"] < 1040, cfg)
    c.close()


def test_many_idle_connections():
    idle = []
    for _ in range(500):
        s = socket.socket(socket.AF_UNIX)
        s.connect(d.sock)
        idle.append(s)
    c = Client(d.sock)
    t0 = time.monotonic()
    for _ in range(100):
        c.get("/healthz", expect=200)
    check(time.monotonic() - t0 < 5, "slow with 500 idle connections")
    m = c.get("/metrics", expect=200).text
    open_conns = [l for l in m.splitlines() if l.startswith("foldvm_api_connections ")]
    check(open_conns and float(open_conns[0].split()[1]) >= 500, open_conns)
    for s in idle:
        s.close()
    c.close()


def shutdown():
    d.stop()


run_tests([test_mixed_load, test_many_idle_connections], finish=shutdown)
