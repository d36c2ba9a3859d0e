#!/usr/bin/env python3
"""Live dedup tuning through PATCH /dedup changes what the engine does, within
one scan interval: run=0 stops full scans, run=1 restarts them, pages_to_scan
sets the scan rate; PATCH is atomic; actions work; merging is observable."""
import time

from apitest import (Daemon, check, console_has, create_vm, dedup_stats, require_kvm, run_tests,
                     wait_until)

require_kvm()
# The engine starts stopped so the scan-rate test sees every page still pending.
d = Daemon("--dedup-opt", "run=0", "--dedup-opt", "sleep_millisecs=50")
d.start()
c = d.client()


def patch(**knobs):
    return c.request("PATCH", "/dedup", body=knobs, expect=200).json()


def rate(seconds):
    """pages_scanned per second and full_scans growth over an interval."""
    s0 = dedup_stats(c)
    t0 = time.monotonic()
    time.sleep(seconds)
    s1 = dedup_stats(c)
    dt = time.monotonic() - t0
    return (s1["pages_scanned"] - s0["pages_scanned"]) / dt, s1["full_scans"] - s0["full_scans"]


def test_setup_vms():
    for _ in range(2):
        create_vm(c, mem_mib=128)
    for i in (1, 2):
        wait_until(lambda: console_has(c, i, "memfill: filled"), 30, what="vm%d to fill" % i)
    s = dedup_stats(c)
    check(s["pages_tracked"] == 2 * 32768, s)
    check(s["pages_scanned"] == 0, "run=0: nothing may be scanned yet: %s" % s)


def test_pages_to_scan_sets_scan_rate():
    # 100 pages per 50 ms wake-up: at most 2000 pages/s.
    patch(run=1, pages_to_scan=100, sleep_millisecs=50)
    slow, _ = rate(1.0)
    check(200 <= slow <= 2600, "pages_to_scan=100 @ 50 ms should scan ~2000 pages/s, got %.0f" % slow)
    # 2000 per wake-up: ~40000 pages/s while pending pages last (65536 in all).
    patch(pages_to_scan=2000)
    fast, _ = rate(0.4)
    check(fast >= 5 * slow, "pages_to_scan=2000 should scan much faster than 100: %.0f vs %.0f"
          % (fast, slow))
    print("  scan rate: pages_to_scan=100 -> %.0f pages/s, 2000 -> %.0f pages/s" % (slow, fast))


def test_merging_happens():
    patch(pages_to_scan=100000, sleep_millisecs=20)
    # Both VMs fill 75% of their pages with the same contents.
    wait_until(lambda: dedup_stats(c)["pages_sharing"] > 20000, 30, what="pages to merge")
    vm = c.get("/vms/1", expect=200).json()
    check(vm["dedup"]["pages_merged"] > 10000, vm["dedup"])


def test_run0_stops_scans_within_one_interval():
    interval_ms = 200
    patch(run=1, sleep_millisecs=interval_ms)
    _, grew = rate(0.5)
    check(grew >= 1, "full_scans must grow while run=1")
    t0 = time.monotonic()
    patch(run=0)
    patch_ms = (time.monotonic() - t0) * 1000
    f0 = dedup_stats(c)["full_scans"]
    time.sleep(3 * interval_ms / 1000)
    f1 = dedup_stats(c)["full_scans"]
    check(f1 == f0, "full_scans went on after run=0: %d -> %d" % (f0, f1))
    check(patch_ms < interval_ms, "PATCH took %.1f ms, longer than one interval" % patch_ms)
    print("  run=0 took effect when PATCH returned (%.1f ms)" % patch_ms)


def test_run1_restarts_scans_within_one_interval():
    interval_ms = 500
    patch(sleep_millisecs=interval_ms)
    f0 = dedup_stats(c)["full_scans"]
    t0 = time.monotonic()
    patch(run=1)  # wakes the scanner: no need to wait out the old sleep
    wait_until(lambda: dedup_stats(c)["full_scans"] > f0, interval_ms / 1000, interval=0.002,
               what="a full scan after run=1")
    print("  run=1: first full scan after %.1f ms" % ((time.monotonic() - t0) * 1000))
    patch(sleep_millisecs=20)


def test_patch_is_atomic():
    before = c.get("/dedup", expect=200).json()["config"]
    r = c.request("PATCH", "/dedup", body={"sleep_millisecs": 7, "pages_to_scan": 0}, expect=422)
    check(r.json()["field"] == "pages_to_scan" and "[1, 10000000]" in r.json()["error"], r)
    r = c.request("PATCH", "/dedup", body={"sleep_millisecs": 7, "bogus": 1}, expect=400)
    check(r.json()["field"] == "bogus", r)
    r = c.request("PATCH", "/dedup", body={"sleep_millisecs": 7, "run": "1"}, expect=400)
    check(r.json()["field"] == "run", r)
    after = c.get("/dedup", expect=200).json()["config"]
    check(before == after, "a rejected PATCH changed the config: %s -> %s" % (before, after))
    r = patch(sleep_millisecs=33, max_cpu_percent=50, merge_batch_pages=128)
    cfg = r["config"]
    check((cfg["sleep_millisecs"], cfg["max_cpu_percent"], cfg["merge_batch_pages"]) == (33, 50, 128),
          cfg)
    check(patch()["config"] == cfg, "an empty PATCH changes nothing")
    patch(sleep_millisecs=20, max_cpu_percent=100, merge_batch_pages=256)


def test_actions():
    patch(run=1, sleep_millisecs=60000)  # the scanner would sleep for a minute
    f0 = dedup_stats(c)["full_scans"]
    r = c.request("POST", "/dedup/actions", body={"action": "scan_now"}, expect=202)
    check(r.json() == {"action": "scan_now", "status": "started"}, r)
    wait_until(lambda: dedup_stats(c)["full_scans"] > f0, 5, what="scan_now to run a pass")
    patch(run=0)
    r = c.request("POST", "/dedup/actions", body={"action": "scan_now"}, expect=409)
    check("run=1" in r.json()["error"], r)
    r = c.request("POST", "/dedup/actions", body={"action": "unmerge_all"}, expect=200)
    check(r.json()["status"] == "done", r)
    s = dedup_stats(c)
    check(s["pages_sharing"] == 0 and s["pages_shared"] == 0, "unmerge_all left merges: %s" % s)
    c.request("POST", "/dedup/actions", body={"action": "defrag"}, expect=422)


def test_modes_without_engine():
    with Daemon("--dedup", "off") as off:
        oc = off.client()
        r = oc.get("/dedup", expect=200).json()
        check(r == {"mode": "off", "config": None, "stats": None, "ksm": None}, r)
        r = oc.request("PATCH", "/dedup", body={"run": 0}, expect=409)
        check("--dedup off" in r.json()["error"], r)
        oc.request("POST", "/dedup/actions", body={"action": "scan_now"}, expect=409)
        vm = create_vm(oc)
        check(oc.get("/vms/%d" % vm["id"]).json()["dedup"] is None, "no dedup stats when off")
        oc.close()
    with Daemon("--dedup", "ksm") as ksm:
        kc = ksm.client()
        r = kc.get("/dedup", expect=200).json()
        check(r["mode"] == "ksm" and r["config"] is None, r)
        kc.request("PATCH", "/dedup", body={"run": 0}, expect=409)
        kc.close()


def shutdown():
    c.close()
    d.stop()  # exit 0, socket removed


run_tests([test_setup_vms, test_pages_to_scan_sets_scan_rate, test_merging_happens,
           test_run0_stops_scans_within_one_interval, test_run1_restarts_scans_within_one_interval,
           test_patch_is_atomic, test_actions, test_modes_without_engine], finish=shutdown)
