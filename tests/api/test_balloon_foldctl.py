#!/usr/bin/env python3
"""foldctl vm balloon / vm balloon-stats against a real daemon and the
balloon guest (created with curl): show the config, move the target, change
the statistics interval, read the statistics as a table and as JSON, and
the exit codes of failures (1 refused by the API, 2 bad input, 3 no socket)."""
import json
import os

from apitest import (Daemon, check, console_has, curl, foldctl, guest, make_tmpdir, require_kvm,
                     run_tests, wait_until)

require_kvm()
d = Daemon("--dedup", "off")
d.start()
c = d.client()
vm_id = plain_id = None


def test_setup_with_curl():
    global vm_id, plain_id
    code, body = curl(d.sock, "POST", "/vms", {
        "kernel": guest("balloon"), "mem_mib": 64, "cmdline": "keep=2M",
        "balloon": {"amount_mib": 0, "stats_polling_interval_s": 1, "deflate_on_oom": True}})
    check(code == 201, "%d %s" % (code, body))
    vm_id = json.loads(body)["id"]
    code, body = curl(d.sock, "POST", "/vms", {"kernel": guest("memfill"), "mem_mib": 16})
    check(code == 201, "%d %s" % (code, body))
    plain_id = json.loads(body)["id"]
    wait_until(lambda: console_has(c, vm_id, "balloon: device ready"), 10, what="the driver")


def kv(text):
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        out[k.strip()] = v.strip()
    return out


def test_show():
    p = foldctl(d.sock, "vm", "balloon", str(vm_id))
    check(kv(p.stdout) == {"amount_mib": "0", "deflate_on_oom": "true",
                           "stats_polling_interval_s": "1", "free_page_reporting": "false"},
          p.stdout)
    p = foldctl(d.sock, "--json", "vm", "balloon", str(vm_id))
    check(json.loads(p.stdout) == c.get("/vms/%d/balloon" % vm_id, expect=200).json(), p.stdout)


def test_set_amount_and_follow_stats():
    p = foldctl(d.sock, "vm", "balloon", str(vm_id), "--amount-mib", "48")
    check(kv(p.stdout)["amount_mib"] == "48", p.stdout)
    check(c.get("/vms/%d/balloon" % vm_id).json()["amount_mib"] == 48, "GET after foldctl")

    def reached():
        p = foldctl(d.sock, "--json", "vm", "balloon-stats", str(vm_id))
        return json.loads(p.stdout)["actual_mib"] == 48
    wait_until(reached, 15, interval=0.2, what="actual_mib 48 via foldctl")
    wait_until(lambda: "free_memory" in foldctl(d.sock, "vm", "balloon-stats", str(vm_id)).stdout,
               5, interval=0.2, what="guest statistics")
    p = foldctl(d.sock, "vm", "balloon-stats", str(vm_id))
    lines = p.stdout.splitlines()
    check(lines[0].split() == ["STAT", "VALUE"], p.stdout)
    rows = dict(l.split(None, 1) for l in lines[1:])
    check(rows["target_mib"] == "48" and rows["actual_mib"] == "48", p.stdout)
    check(rows["actual_pages"] == str(48 * 256), p.stdout)
    check(rows["total_memory"] == str(64 << 20), p.stdout)
    check(rows["host.driver_ok"] == "true", p.stdout)
    p = foldctl(d.sock, "vm", "balloon", str(vm_id), "--amount-mib", "0")
    check(kv(p.stdout)["amount_mib"] == "0", p.stdout)


def test_stats_interval():
    p = foldctl(d.sock, "--json", "vm", "balloon", str(vm_id), "--stats-interval", "3")
    check(json.loads(p.stdout)["stats_polling_interval_s"] == 3, p.stdout)
    # Both at once go through one PUT.
    p = foldctl(d.sock, "vm", "balloon", str(vm_id), "--amount-mib", "8", "--stats-interval", "1")
    out = kv(p.stdout)
    check(out["amount_mib"] == "8" and out["stats_polling_interval_s"] == "1", p.stdout)
    check(c.get("/vms/%d/balloon" % vm_id).json() == {
        "amount_mib": 8, "deflate_on_oom": True, "stats_polling_interval_s": 1,
        "free_page_reporting": False}, "GET after both")


def test_refused_by_the_api():
    before = c.get("/vms/%d/balloon" % vm_id).json()
    p = foldctl(d.sock, "vm", "balloon", "999", expect_rc=1)
    check("no VM with id 999 [field: id] (HTTP 404)" in p.stderr, p.stderr)
    p = foldctl(d.sock, "vm", "balloon-stats", "999", expect_rc=1)
    check("(HTTP 404)" in p.stderr, p.stderr)
    p = foldctl(d.sock, "vm", "balloon", str(plain_id), expect_rc=1)
    check("has no balloon" in p.stderr and "(HTTP 404)" in p.stderr, p.stderr)
    p = foldctl(d.sock, "vm", "balloon", str(plain_id), "--amount-mib", "1", expect_rc=1)
    check("configured at creation" in p.stderr and "(HTTP 409)" in p.stderr, p.stderr)
    p = foldctl(d.sock, "vm", "balloon", str(vm_id), "--amount-mib", "65", expect_rc=1)
    check("[0, 64]" in p.stderr and "[field: amount_mib] (HTTP 422)" in p.stderr, p.stderr)
    p = foldctl(d.sock, "vm", "balloon", str(vm_id), "--stats-interval", "0", expect_rc=1)
    check("[field: stats_polling_interval_s] (HTTP 409)" in p.stderr, p.stderr)
    p = foldctl(d.sock, "vm", "balloon", str(vm_id), "--amount-mib", "70", "--stats-interval",
                "2", expect_rc=1)
    check("(HTTP 422)" in p.stderr, p.stderr)
    check(c.get("/vms/%d/balloon" % vm_id).json() == before, "refused commands changed it")
    check(p.stdout == "", "nothing on stdout on failure: %r" % p.stdout)


def test_bad_input():
    for args in (("vm", "balloon"), ("vm", "balloon", "x"), ("vm", "balloon", "-1"),
                 ("vm", "balloon", str(vm_id), "--amount-mib", "abc"),
                 ("vm", "balloon", str(vm_id), "--amount-mib", "-5"),
                 ("vm", "balloon", str(vm_id), "--amount-mib", ""),
                 ("vm", "balloon", str(vm_id), "--stats-interval", "1.5"),
                 ("vm", "balloon", str(vm_id), "--bogus"),
                 ("vm", "balloon-stats"), ("vm", "balloon-stats", "1", "2")):
        p = foldctl(d.sock, *args, expect_rc=2)
        check(p.stderr.strip(), "foldctl %s: no message" % " ".join(args))


def test_unreachable():
    sock = os.path.join(make_tmpdir("foldctl-"), "none.sock")
    for args in (("vm", "balloon", "1"), ("vm", "balloon", "1", "--amount-mib", "4"),
                 ("vm", "balloon-stats", "1")):
        p = foldctl(sock, *args, expect_rc=3)
        check("foldctl: error:" in p.stderr, p.stderr)


def test_guest_unharmed():
    check(c.get("/vms/%d" % vm_id).json()["state"] == "running", "guest stopped")
    check(not console_has(c, vm_id, "MISMATCH"), "guest saw corrupted memory")


def shutdown():
    c.close()
    d.stop()


run_tests([test_setup_with_curl, test_show, test_set_amount_and_follow_stats, test_stats_interval,
           test_refused_by_the_api, test_bad_input, test_unreachable, test_guest_unharmed],
          finish=shutdown)
