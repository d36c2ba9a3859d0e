#!/usr/bin/env python3
"""The overcommit from the command line: `foldctl host memory [set]`, `foldctl
vm memory|park|unpark` against a real daemon; `foldvm run|serve` refusing a
missing --swap-dir, an unknown compressor or option and a bad --mem-budget
with exit 2 naming the option; and the "memory" object of the
--stats-interval JSON lines."""
import json
import re
import subprocess

from apitest import (FOLDVM, Daemon, check, console_has, create_vm, foldctl, guest, make_tmpdir,
                     require_kvm, run_tests)

require_kvm()
swap_dir = make_tmpdir("foldvm-swap-")


def test_foldctl_host_memory():
    with Daemon("--mem-budget", "6G", "--swap-dir", swap_dir) as d:
        p = foldctl(d.sock, "host", "memory")
        for text in ("state:", "budget:", "6.0 GiB (explicit)", "compressed", "swap",
                     "cold_age_s"):
            check(text in p.stdout, "%r missing from:\n%s" % (text, p.stdout))
        m = json.loads(foldctl(d.sock, "host", "memory", "--json").stdout)
        check(m["budget_bytes"] == 6 << 30 and m["config"]["swap_dir"] == swap_dir, m)
        m = json.loads(foldctl(d.sock, "--json", "host", "memory", "set", "budget_mib=3072",
                               "cold_age_s=20").stdout)
        check(m["config"]["budget_mib"] == 3072 and m["config"]["cold_age_s"] == 20, m)
        p = foldctl(d.sock, "host", "memory", "set", "soft_free_pm=90", expect_rc=1)
        check("soft_free_pm" in p.stderr and "409" in p.stderr, p.stderr)
        p = foldctl(d.sock, "host", "memory", "set", "compressor=zstd", expect_rc=1)
        check("[field: compressor]" in p.stderr, p.stderr)
        p = foldctl(d.sock, "host", "memory", "set", "budget_mib", expect_rc=2)
        check("KEY=VALUE" in p.stderr, p.stderr)
        # Plain `foldctl host` is still the host figures.
        check("memory total" in foldctl(d.sock, "host").stdout, "foldctl host")


def test_foldctl_vm_memory_park():
    with Daemon("--swap-dir", swap_dir) as d:
        c = d.client()
        # Idle once filled: nothing it reads back muddles the parked figure
        # (api-overcommit parks a guest that keeps verifying).
        i = create_vm(c, mem_mib=64, cmdline="shared=0.3 zero=0.2")["id"]
        check(c.request("GET", "/vms/%d" % i, expect=200).json()["state"] == "running", "vm")
        import time
        deadline = time.monotonic() + 30
        while not console_has(c, i, "memfill: filled"):
            check(time.monotonic() < deadline, "memfill did not fill")
            time.sleep(0.05)
        p = foldctl(d.sock, "vm", "memory", str(i))
        check("resident_pages:" in p.stdout and "state:" in p.stdout, p.stdout)
        # Idle means settled: dedup's first pass over the new VM (zero pages
        # leaving) is over. Parked during that pass, 10-16% stayed resident in
        # 3 of about 10 CI runs (never here in 20 tries): unexplained, kept
        # apart from what this test checks, the foldctl round trip.
        before = json.loads(foldctl(d.sock, "vm", "memory", str(i), "--json").stdout)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = json.loads(foldctl(d.sock, "vm", "memory", str(i), "--json").stdout)
            if now["resident_pages"] == before["resident_pages"]:
                break
            before = now
        check(before["state"] == "active", before)
        after = json.loads(foldctl(d.sock, "vm", "park", str(i), "--json").stdout)
        check(after["state"] == "parked", after)
        check(after["resident_pages"] < before["resident_pages"] // 10,
              "resident %d -> %d: %s" % (before["resident_pages"], after["resident_pages"], after))
        p = foldctl(d.sock, "vm", "memory", str(i))
        check(re.search(r"^state:\s+parked$", p.stdout, re.M), p.stdout)
        p = foldctl(d.sock, "vm", "park", str(i))
        check(("VM %d: parked, " % i) in p.stdout and "pages resident" in p.stdout, p.stdout)
        p = foldctl(d.sock, "vm", "unpark", str(i))
        check(("VM %d: active" % i) in p.stdout, p.stdout)
        check(json.loads(foldctl(d.sock, "--json", "vm", "memory", str(i)).stdout)["state"]
              == "active", "unpark did not stick")
        p = foldctl(d.sock, "vm", "park", "999", expect_rc=1)
        check("404" in p.stderr, p.stderr)
        foldctl(d.sock, "vm", "park", "x", expect_rc=2)
        c.close()


def foldvm(*args, timeout=60):
    return subprocess.run([FOLDVM] + list(args), capture_output=True, text=True, timeout=timeout)


def test_bad_flags_exit_2():
    sock = make_tmpdir("foldvm-sock-") + "/api.sock"
    cases = [
        (["--swap-dir", "/nonexistent/swap"], "--swap-dir '/nonexistent/swap'"),
        (["--swap-dir", "/etc/hostname"], "is not a directory"),
        (["--overcommit-opt", "swap_dir=/nonexistent"], "swap_dir"),
        (["--overcommit-opt", "compressor=brotli"], "compressor"),
        (["--overcommit-opt", "nope=1"], "unknown overcommit option 'nope'"),
        (["--overcommit-opt", "cold_age_s"], "needs a value"),
        (["--overcommit-opt", "cold_age_s=0"], "cold_age_s"),
        (["--overcommit-opt", "soft_free_pm=90"], "soft_free_pm"),
        (["--mem-budget", "12X"], "--mem-budget"),
        (["--mem-budget", "lots"], "--mem-budget"),
        (["--mem-budget", "10M"], "--mem-budget '10M' is below"),
        (["--mem-budget", "1536K"], "whole number of MiB"),
    ]
    for extra, needle in cases:
        for cmd in (["run", guest("hello")], ["serve", "--api-sock", sock]):
            p = foldvm(*(cmd + extra))
            check(p.returncode == 2, "%s: exit %d\n%s" % (cmd[0] + " " + " ".join(extra),
                                                          p.returncode, p.stderr))
            check(needle in p.stderr, "%s: %r not in %r" % (" ".join(extra), needle, p.stderr))
    # The good forms run.
    for extra in (["--mem-budget", "auto"], ["--mem-budget", "0"], ["--mem-budget", "512M"],
                  ["--no-overcommit"], ["--overcommit-opt", "enabled=false",
                                        "--swap-dir", "/nonexistent"],
                  ["--overcommit-opt", "compressor=zstd", "--swap-dir", swap_dir]):
        p = foldvm("run", guest("hello"), *extra)
        check(p.returncode == 0, "%s: exit %d\n%s" % (extra, p.returncode, p.stderr))


def stats_lines(*extra):
    p = foldvm("run", guest("memfill"), "--mem", "32M", "--count", "2", "--cmdline",
               "shared=0.5 zero=0.1 duration_ms=1500", "--stats-interval", "0.3", *extra)
    check(p.returncode == 0, "exit %d\n%s" % (p.returncode, p.stderr))
    lines = [json.loads(l) for l in p.stderr.splitlines() if l.startswith("{")]
    check(len(lines) >= 2, "only %d stats lines:\n%s" % (len(lines), p.stderr))
    return lines


def test_stats_interval_memory():
    last = stats_lines("--mem-budget", "2G", "--swap-dir", swap_dir)[-1]
    m = last["memory"]
    check(m["enabled"] and m["budget_bytes"] == 2 << 30 and m["state"] in ("high", "soft", "hard",
                                                                           "low"), m)
    for k in ("used_bytes", "compressed_pages", "swapped_pages", "swap_bytes_written"):
        check(k in m, "%s missing: %s" % (k, m))
    check(len(m["vms"]) == 2, m["vms"])
    for v in m["vms"]:
        for k in ("resident_pages", "compressed_pages", "swapped_pages", "zero_pages",
                  "faults_swap", "faults_compressed"):
            check(k in v, "%s missing: %s" % (k, v))
        check(v["resident_pages"] > 4000, v)
    check(stats_lines("--no-overcommit")[-1]["memory"] == {"enabled": False}, "off")


run_tests([test_foldctl_host_memory, test_foldctl_vm_memory_park, test_bad_flags_exit_2,
           test_stats_interval_memory])
