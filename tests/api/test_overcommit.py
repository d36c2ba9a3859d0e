#!/usr/bin/env python3
"""/host/memory and /vms/{id}/memory against a real `foldvm serve`: GET/PATCH
round trips, every way a PATCH is refused (1e400, -1, 2^40, unknown field,
wrong type, a field fixed at start, thresholds out of order, the compressor,
a budget below the floor), a memfill VM's pages and faults, park (resident
pages drop, the guest keeps running and verifying its data) and unpark, the
per-VM policy, the same figures in /metrics, the governor's balloon step (a
ballooned guest is asked for its free memory when memory is tight, and gets
it back when it is plentiful), and a daemon with overcommit off (409)."""
import re

from apitest import (Daemon, check, console_has, create_vm, curl, guest, make_tmpdir,
                     require_kvm, run_tests, skip, wait_until)

require_kvm()
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    skip("python3-prometheus-client is needed (tools/dev installs it)")

swap_dir = make_tmpdir("foldvm-swap-")
d = Daemon("--mem-budget", "8G", "--swap-dir", swap_dir)
d.start()
c = d.client()
state = {}

LIVE = {"budget_mib": 4096, "compress_max_bytes": 1024, "compressed_max_mib": 256,
        "swap_max_mib": 2048, "cold_age_s": 30, "high_free_pm": 100, "soft_free_pm": 50,
        "hard_free_pm": 10, "fault_around_pages": 8, "governor_interval_ms": 50}


def host_memory():
    return c.get("/host/memory", expect=200).json()


def patch(body, expect):
    return c.request("PATCH", "/host/memory", body=body, expect=expect).json()


def test_get_host_memory():
    # used_bytes is sampled by the governor's first step.
    wait_until(lambda: host_memory()["governor"]["ticks"] > 0, 5, what="governor ticks")
    m = host_memory()
    check(m["enabled"] and m["budget_source"] == "explicit", m)
    check(m["budget_bytes"] == 8 << 30 and m["config"]["budget_mib"] == 8192, m)
    check(m["config"]["swap_dir"] == swap_dir, m["config"])
    check(m["state"] in ("high", "soft", "hard", "low"), m["state"])
    t = m["thresholds"]
    check(t["high_free_bytes"] > t["soft_free_bytes"] > t["hard_free_bytes"] > 0, t)
    check(abs(t["high_free_bytes"] - m["budget_bytes"] * t["high_free_pm"] / 1000) < 1 << 20, t)
    check(m["used_bytes"] > 0 and m["peak_used_bytes"] >= m["used_bytes"] // 2, m)
    check(m["budget_floor_bytes"] >= 64 << 20, m)
    check(set(m["tiers"]) == {"compressed", "swap"}, m["tiers"])


def test_patch_round_trip():
    m = patch(LIVE, 200)
    for k, v in LIVE.items():
        check(m["config"][k] == v, "%s: %r" % (k, m["config"]))
    check(m["budget_bytes"] == 4096 << 20 and m["thresholds"]["high_free_pm"] == 100, m)
    check(host_memory()["config"] == m["config"], "GET after PATCH differs")
    # An empty PATCH changes nothing; a subset keeps the other fields.
    check(patch({}, 200)["config"] == m["config"], "empty PATCH changed something")
    m2 = patch({"cold_age_s": 10}, 200)
    check(m2["config"]["cold_age_s"] == 10 and m2["config"]["budget_mib"] == 4096, m2)
    # 0 = the automatic budget.
    m3 = patch({"budget_mib": 0}, 200)
    check(m3["budget_source"] == "auto" and m3["budget_bytes"] > 0, m3)
    patch({"budget_mib": 8192, "high_free_pm": 60, "soft_free_pm": 40, "hard_free_pm": 20}, 200)


def refused(body, status, field):
    before = host_memory()["config"]
    r = c.request("PATCH", "/host/memory", body=body, expect=status).json()
    check(r["field"] == field, "%r: field %r, expected %r (%s)" % (body, r["field"], field, r))
    check(host_memory()["config"] == before, "%r changed the config" % body)
    return r


def test_patch_refused():
    code, body = curl(d.sock, "PATCH", "/host/memory", '{"budget_mib": 1e400}')
    check(code == 400 and '"budget_mib"' in body, (code, body))
    refused({"budget_mib": -1}, 422, "budget_mib")
    refused({"budget_mib": 1 << 40}, 422, "budget_mib")
    refused({"budget_mib": 1.5}, 400, "budget_mib")
    refused({"budget_mib": "4096"}, 400, "budget_mib")
    refused({"swap_encrypt": 1}, 400, "swap_encrypt")
    refused({"nope": 1}, 400, "nope")
    refused({"cold_age_s": 0}, 422, "cold_age_s")
    refused({"fault_around_pages": 257}, 422, "fault_around_pages")
    # Fixed at start: 409 naming the field.
    refused({"swap_dir": "/tmp"}, 409, "swap_dir")
    refused({"compressor": "zstd"}, 409, "compressor")
    refused({"swap_encrypt": False}, 409, "swap_encrypt")
    refused({"enabled": False}, 409, "enabled")
    # An unknown compressor is out of range whatever else.
    refused({"compressor": "lzo"}, 422, "compressor")
    # Thresholds out of order, alone or with a valid field beside them.
    r = refused({"soft_free_pm": 70}, 409, "soft_free_pm")
    check("high_free_pm > soft_free_pm > hard_free_pm" in r["error"], r)
    refused({"cold_age_s": 20, "hard_free_pm": 50}, 409, "soft_free_pm")
    # A budget below the floor (64 MiB + what cannot be evicted).
    floor = host_memory()["budget_floor_bytes"] >> 20
    r = refused({"budget_mib": floor - 1}, 422, "budget_mib")
    check(str(floor) in r["error"], r)
    refused({"budget_mib": 10}, 422, "budget_mib")
    check(patch({"budget_mib": floor}, 200)["budget_bytes"] == floor << 20, "floor refused")
    patch({"budget_mib": 8192}, 200)


def vm_memory(i, expect=200):
    return c.get("/vms/%d/memory" % i, expect=expect).json()


def put_memory(i, body, expect=200):
    return c.request("PUT", "/vms/%d/memory" % i, body=body, expect=expect).json()


def last_verify_round(i):
    lines = c.get("/vms/%d/console?tail=1000" % i, expect=200).json()["lines"]
    rounds = [(int(m.group(1)), int(m.group(2))) for m in
              (re.search(r"verify round=(\d+) .*mismatches=(\d+)", l) for l in lines) if m]
    return rounds[-1] if rounds else (0, 0)


def test_vm_memory():
    # A slow engine leaves most pages unvisited since their write when the
    # VM is parked, and a park must not wait for dedup's visit.
    c.request("PATCH", "/dedup", body={"pages_to_scan": 64, "sleep_millisecs": 1000,
                                       "advisor_target_scan_time_s": 0}, expect=200)
    vm = create_vm(c, mem_mib=64, cmdline="shared=0.3 zero=0.2 verify verify_ms=1500",
                   mem_priority=70, mem_limit_mib=0)
    i = state["vm"] = vm["id"]
    check(vm["config"]["mem_priority"] == 70 and vm["config"]["mem_limit_mib"] == 0, vm["config"])
    wait_until(lambda: console_has(c, i, "memfill: filled"), 30, what="memfill")
    m = vm_memory(i)
    check(m["id"] == i and m["state"] == "active" and m["pages"] == 16384, m)
    check(m["resident_pages"] > 8000, "memfill filled but %d pages resident" % m["resident_pages"])
    check(m["priority"] == 70 and m["limit_mib"] == 0, m)
    vm_memory(9999, expect=404)


def pages_brought_back(m):
    return (m["faults_zero"] + m["faults_compressed"] + m["faults_swap"] + m["faults_fresh"]
            + m["pages_faulted_around"])


def test_park_and_unpark():
    i = state["vm"]
    was = vm_memory(i)
    before = was["resident_pages"]
    rounds_before = last_verify_round(i)[0]
    m = put_memory(i, {"state": "parked"})
    check(m["state"] == "parked", m)
    evicted = m["zero_pages"] + m["compressed_pages"] + m["swapped_pages"]
    # The guest verifies its memory all along: what a round that overlapped
    # the park read back is resident again, and not the park's doing.
    back = pages_brought_back(m) - pages_brought_back(was)
    check(m["resident_pages"] - back < before // 10,
          "parked but %d of %d pages resident (%d brought back meanwhile)"
          % (m["resident_pages"], before, back))
    check(evicted > before // 2, "parked but only %d pages evicted: %s" % (evicted, m))
    # The guest keeps running, and its verify rounds read back its data.
    wait_until(lambda: last_verify_round(i)[0] >= rounds_before + 2, 20, what="verify rounds")
    check(last_verify_round(i)[1] == 0, "mismatches after park")
    check(c.get("/vms/%d" % i, expect=200).json()["state"] == "running", "VM not running")
    m = vm_memory(i)
    check(m["faults_compressed"] + m["faults_swap"] + m["faults_zero"] > 0, m)
    check(host_memory()["governor"]["pages_compressed"] + host_memory()["governor"]["pages_swapped"]
          + host_memory()["governor"]["pages_zero"] >= 0, "governor")
    check(put_memory(i, {"state": "active"})["state"] == "active", "unpark")
    check(vm_memory(i)["state"] == "active", "unpark did not stick")
    c.request("PATCH", "/dedup", body={"pages_to_scan": 4096, "sleep_millisecs": 20}, expect=200)


def test_vm_policy():
    i = state["vm"]
    m = put_memory(i, {"limit_mib": 48, "priority": 10})
    check(m["limit_mib"] == 48 and m["priority"] == 10, m)
    m = put_memory(i, {"priority": 20})
    check(m["limit_mib"] == 48 and m["priority"] == 20, m)
    for body, status, field in [({}, 400, None), ({"state": "frozen"}, 422, "state"),
                                ({"state": 1}, 400, "state"), ({"priority": 101}, 422, "priority"),
                                ({"limit_mib": -1}, 422, "limit_mib"),
                                ({"priority": "5"}, 400, "priority"), ({"x": 1}, 400, "x"),
                                ({"state": "parked", "priority": 500}, 422, "priority")]:
        r = c.request("PUT", "/vms/%d/memory" % i, body=body, expect=status).json()
        check(r["field"] == field, "%r: field %r" % (body, r))
    code, body = curl(d.sock, "PUT", "/vms/%d/memory" % i, '{"limit_mib": 1e400}')
    check(code == 400 and '"limit_mib"' in body, (code, body))
    check(vm_memory(i)["state"] == "active", "a refused park parked")
    check(vm_memory(i)["priority"] == 20, "a refused change changed the priority")
    put_memory(9999, {"state": "parked"}, expect=404)
    put_memory(i, {"limit_mib": 0, "priority": 50})


def test_metrics():
    i = state["vm"]
    m = host_memory()  # first: the counters in /metrics can only have grown since
    code, text = curl(d.sock, "GET", "/metrics")
    check(code == 200, code)
    fams = {f.name: f for f in text_string_to_metric_families(text)}

    def value(name, **labels):
        for f in fams.values():
            for s in f.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    return s.value
        raise AssertionError("no sample %s%s" % (name, labels))

    check(value("foldvm_memory_enabled") == 1, "enabled")
    check(value("foldvm_memory_budget_bytes") == m["budget_bytes"], "budget")
    check(value("foldvm_memory_used_bytes") > 0, "used")
    check(value("foldvm_memory_state", state=m["state"]) == 1, "state")
    check(sum(value("foldvm_memory_state", state=s) for s in ("high", "soft", "hard", "low")) == 1,
          "one state")
    check(value("foldvm_memory_threshold_free_bytes", state="soft")
          == m["thresholds"]["soft_free_bytes"], "threshold")
    check(value("foldvm_memory_config", option="cold_age_s") == m["config"]["cold_age_s"], "cfg")
    for tier in ("compressed", "swap"):
        check(value("foldvm_memory_tier_pages", tier=tier) >= 0, tier)
    check(value("foldvm_memory_tier_written_bytes_total", tier="swap")
          >= m["tiers"]["swap"]["bytes_written"], "swap written")
    check(value("foldvm_governor_ticks_total") > 0, "ticks")
    check(value("foldvm_governor_decisions_total", decision="throttle") >= 0, "decisions")
    check(fams["foldvm_vm_memory_faults"].type == "counter", "faults type")
    v = vm_memory(i)
    for loc in ("resident", "merged", "zero", "compressed", "swap"):
        value("foldvm_vm_memory_location_pages", vm=str(i), location=loc)
    check(value("foldvm_vm_memory_pages", vm=str(i)) == v["pages"], "pages")
    check(value("foldvm_vm_memory_faults_total", vm=str(i), tier="swap") >= 0, "faults")
    check(value("foldvm_vm_memory_fault_latency_seconds", vm=str(i), quantile="0.99") >= 0, "lat")
    check(value("foldvm_vm_memory_parked", vm=str(i)) == 0, "parked")


def test_balloon_step():
    # Before any tier, the governor asks a ballooned guest for the memory its
    # statistics report free, and gives it back once memory is plentiful.
    balloon = {"amount_mib": 0, "deflate_on_oom": False, "stats_polling_interval_s": 1}
    vm = c.request("POST", "/vms", expect=201,
                   body={"kernel": guest("balloon"), "mem_mib": 128, "cmdline": "keep=8",
                         "balloon": balloon}).json()
    i = vm["id"]

    def stats():
        return c.get("/vms/%d/balloon/statistics" % i, expect=200).json()

    wait_until(lambda: "free_memory" in stats(), 20, what="the guest's statistics")
    check(stats()["free_memory"] > 64 << 20, stats())
    before = host_memory()["governor"]
    # Free budget at 40%, under a 50% high line: soft.
    used = host_memory()["used_bytes"]
    budget = max(host_memory()["budget_floor_bytes"] >> 20, (used * 5 // 3 >> 20) + 1)
    patch({"high_free_pm": 500, "soft_free_pm": 100, "hard_free_pm": 50,
           "budget_mib": budget}, 200)
    wait_until(lambda: stats()["target_mib"] > 0, 10, what="the governor to inflate the balloon")
    g = host_memory()["governor"]
    check(g["balloon_inflations"] > before["balloon_inflations"], g)
    # The guest kept its reserve (1/8 of its RAM) and hands the rest over.
    check(stats()["target_mib"] <= 128 - 16, stats())
    wait_until(lambda: stats()["actual_mib"] == stats()["target_mib"], 10,
               what="the guest to inflate")
    patch({"budget_mib": 8192, "high_free_pm": 100, "soft_free_pm": 50, "hard_free_pm": 10}, 200)
    wait_until(lambda: stats()["target_mib"] == 0, 10, what="the governor to deflate the balloon")
    check(host_memory()["governor"]["balloon_deflations"] > before["balloon_deflations"], "deflations")
    check(c.get("/vms/%d" % i, expect=200).json()["state"] == "running", "balloon VM not running")
    c.request("DELETE", "/vms/%d" % i, expect=204)


def test_overcommit_off():
    with Daemon("--no-overcommit") as off:
        o = off.client()
        m = o.get("/host/memory", expect=200).json()
        check(not m["enabled"] and m["state"] is None and m["budget_source"] == "off", m)
        check(not m["tiers"]["swap"]["enabled"], m["tiers"])
        o.request("PATCH", "/host/memory", body={"cold_age_s": 20}, expect=409)
        i = create_vm(o)["id"]
        o.get("/vms/%d/memory" % i, expect=409)
        o.request("PUT", "/vms/%d/memory" % i, body={"state": "parked"}, expect=409)
        code, text = curl(off.sock, "GET", "/metrics")
        check("foldvm_memory_enabled 0" in text, "metrics with overcommit off")
        o.close()


def finish():
    c.close()
    d.stop()


run_tests([test_get_host_memory, test_patch_round_trip, test_patch_refused, test_vm_memory,
           test_park_and_unpark, test_vm_policy, test_metrics, test_balloon_step,
           test_overcommit_off], finish)
