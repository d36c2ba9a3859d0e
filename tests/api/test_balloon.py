#!/usr/bin/env python3
"""The virtio balloon through the REST API with the real balloon guest: a VM
created with a balloon by POST /vms is inflated to 75% of its RAM with PATCH
and followed through GET /vms/{id}/balloon/statistics, the VM's resident
guest RAM (GET /vms/{id}), the daemon's RSS and /metrics; then deflated back
to zero. The guest verifies its memory all along and exits 0 only if every
page kept its contents and all freed memory is usable again."""
import re

from apitest import (Daemon, check, console_has, guest, require_kvm, run_tests, wait_until)

require_kvm()
d = Daemon()
d.start()
c = d.client()

MEM_MIB = 128
TARGET_MIB = MEM_MIB * 3 // 4  # 96
MIB = 1 << 20
FIRECRACKER_STATS = {"swap_in", "swap_out", "major_faults", "minor_faults", "free_memory",
                     "total_memory", "available_memory", "disk_caches", "hugetlb_allocations",
                     "hugetlb_failures"}
vm_id = None


def daemon_rss():
    with open("/proc/%d/status" % d.proc.pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1)) << 10


def resident():
    return c.get("/vms/%d" % vm_id, expect=200).json()["memory"]["resident_bytes"]


def stats():
    return c.get("/vms/%d/balloon/statistics" % vm_id, expect=200).json()


def metric(name, **labels):
    text = c.get("/metrics", expect=200).text
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r"^(\w+)\{([^}]*)\} (\S+)$", line)
        if m and m.group(1) == name and ",".join(sorted(m.group(2).split(","))) == want:
            return float(m.group(3))
    return None


def no_mismatch():
    return not console_has(c, vm_id, "MISMATCH")


def test_create_with_balloon():
    global vm_id
    balloon = {"amount_mib": 0, "deflate_on_oom": False, "stats_polling_interval_s": 1,
               "free_page_reporting": False}
    r = c.request("POST", "/vms", expect=201,
                  body={"kernel": guest("balloon"), "mem_mib": MEM_MIB,
                        "cmdline": "touch keep=8M exit_on_zero", "balloon": balloon})
    vm = r.json()
    vm_id = vm["id"]
    check(vm["config"]["balloon"] == balloon, "config.balloon: %r" % vm["config"])
    check(c.get("/vms/%d/balloon" % vm_id, expect=200).json() == balloon, "GET balloon")
    wait_until(lambda: console_has(c, vm_id, "balloon: touched"), 20, what="the guest's touch")
    # The whole heap was written once: most of guest RAM is resident.
    wait_until(lambda: resident() > (MEM_MIB - 16) * MIB, 10, what="guest RAM to be resident")
    s = wait_until(lambda: (lambda s: s if "free_memory" in s else None)(stats()), 10,
                   what="the guest's first statistics")
    check(s["target_mib"] == 0 and s["actual_mib"] == 0, s)
    check(FIRECRACKER_STATS <= set(s), "missing statistics: %s" % sorted(FIRECRACKER_STATS - set(s)))
    check(s["total_memory"] == MEM_MIB * MIB, "total_memory %r" % s["total_memory"])
    check(s["host"]["driver_ok"] is True and s["host"]["needs_reset"] is False, s)


def test_inflate_to_75_percent():
    before_resident = resident()
    before_rss = daemon_rss()
    r = c.request("PATCH", "/vms/%d/balloon" % vm_id, body={"amount_mib": TARGET_MIB}, expect=200)
    check(r.json()["amount_mib"] == TARGET_MIB, r)
    s = wait_until(lambda: (lambda s: s if s["actual_mib"] == TARGET_MIB else None)(stats()), 15,
                   what="actual_mib to reach %d" % TARGET_MIB)
    check(s["target_mib"] == TARGET_MIB and s["target_pages"] == TARGET_MIB * 256, s)
    check(s["actual_pages"] == TARGET_MIB * 256, s)
    check(s["host"]["inflated_pages"] >= TARGET_MIB * 256, s)
    # Inflated pages are released before the driver sees its buffer back,
    # so the memory is gone by now.
    after_resident = resident()
    after_rss = daemon_rss()
    drop = before_resident - after_resident
    check(drop >= (TARGET_MIB - 6) * MIB,
          "resident guest RAM %d -> %d MiB, expected a drop of about %d MiB"
          % (before_resident >> 20, after_resident >> 20, TARGET_MIB))
    check(before_rss - after_rss >= (TARGET_MIB - 16) * MIB,
          "daemon RSS %d -> %d MiB" % (before_rss >> 20, after_rss >> 20))
    print("  resident %d -> %d MiB, daemon RSS %d -> %d MiB"
          % (before_resident >> 20, after_resident >> 20, before_rss >> 20, after_rss >> 20))
    # The guest's own numbers follow within a polling interval.
    wait_until(lambda: stats()["free_memory"] < (MEM_MIB - TARGET_MIB) * MIB, 5,
               what="the guest to report the inflated balloon")
    check(c.get("/vms/%d/balloon" % vm_id, expect=200).json()["amount_mib"] == TARGET_MIB, "GET")
    check(c.get("/vms/%d" % vm_id, expect=200).json()["state"] == "running", "guest still runs")
    check(no_mismatch(), "the guest saw corrupted memory")


def test_metrics():
    vm = str(vm_id)
    check(metric("foldvm_vm_balloon_target_pages", vm=vm) == TARGET_MIB * 256, "target_pages")
    check(metric("foldvm_vm_balloon_actual_pages", vm=vm) == TARGET_MIB * 256, "actual_pages")
    inflated = metric("foldvm_vm_balloon_pages_discarded_total", vm=vm, source="inflate")
    check(inflated is not None and inflated >= TARGET_MIB * 256, "discarded %r" % inflated)
    check(metric("foldvm_vm_balloon_pages_discarded_total", vm=vm,
                 source="free_page_reporting") == 0, "reporting was not enabled")
    check(metric("foldvm_vm_balloon_pages_deflated_total", vm=vm) == 0, "deflated")


def test_statistics_interval():
    r = c.request("PATCH", "/vms/%d/balloon/statistics" % vm_id,
                  body={"stats_polling_interval_s": 2}, expect=200)
    check(r.json()["stats_polling_interval_s"] == 2, r)
    r = c.request("PATCH", "/vms/%d/balloon/statistics" % vm_id,
                  body={"stats_polling_interval_s": 1}, expect=200)
    age = wait_until(lambda: (lambda a: a if a < 1.5 else None)(stats()["host"]["stats_age_s"]),
                     5, what="fresh statistics")
    check(age >= 0, age)


def test_deflate_back():
    c.request("PATCH", "/vms/%d/balloon" % vm_id, body={"amount_mib": 0}, expect=200)
    # exit_on_zero: once back at zero the guest uses all free memory,
    # verifies everything and exits 0 (3 on a mismatch).
    vm = wait_until(lambda: (lambda v: v if v["state"] != "running" else None)(
        c.get("/vms/%d" % vm_id, expect=200).json()), 20, what="the guest to finish")
    lines = c.get("/vms/%d/console?tail=50" % vm_id, expect=200).json()["lines"]
    check(vm["state"] == "exited" and vm["exit_code"] == 0,
          "guest ended %s/%s:\n%s" % (vm["state"], vm["exit_code"], "\n".join(lines)))
    done = [l for l in lines if "balloon: done (back at zero)" in l]
    check(done and done[-1].endswith("mismatches=0"), "\n".join(lines))
    s = stats()  # the device outlives the guest
    check(s["actual_mib"] == 0 and s["target_mib"] == 0, s)
    check(s["host"]["deflated_pages"] >= TARGET_MIB * 256, s)
    check(metric("foldvm_vm_balloon_pages_deflated_total", vm=str(vm_id)) >= TARGET_MIB * 256,
          "deflated metric")
    r = c.request("PATCH", "/vms/%d/balloon" % vm_id, body={"amount_mib": 8}, expect=409)
    check("exited" in r.json()["error"], r)
    c.request("DELETE", "/vms/%d" % vm_id, expect=204)


def shutdown():
    c.close()
    d.stop()


run_tests([test_create_with_balloon, test_inflate_to_75_percent, test_metrics,
           test_statistics_interval, test_deflate_back], finish=shutdown)
