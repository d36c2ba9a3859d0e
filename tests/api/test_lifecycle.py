#!/usr/bin/env python3
"""VM lifecycle through curl --unix-socket and foldctl against a real daemon:
create memfill VMs, console, pause/resume/stop/rm, exits and crashes, the
human and --json outputs of foldctl, and failures with clear messages."""
import json
import os
import stat

from apitest import (Daemon, check, console_has, create_vm, curl, foldctl, guest, require_kvm,
                     run_tests, wait_until)

require_kvm()
d = Daemon("--dedup-opt", "sleep_millisecs=20")
d.start()
c = d.client()


def test_socket_mode():
    mode = stat.S_IMODE(os.stat(d.sock).st_mode)
    check(stat.S_ISSOCK(os.stat(d.sock).st_mode), "not a socket")
    check(mode == 0o600, "socket mode is %o, expected 600" % mode)


def test_create_with_curl_and_foldctl():
    code, body = curl(d.sock, "POST", "/vms", {"kernel": guest("memfill"), "mem_mib": 32,
                                               "cmdline": "shared=0.75 zero=0.05"})
    check(code == 201, "curl create: %d %s" % (code, body))
    vm = json.loads(body)
    check(vm["id"] == 1 and vm["state"] == "running", "unexpected VM: %s" % body)
    check(vm["config"]["cmdline"] == "shared=0.75 zero=0.05", body)
    # foldctl resolves a relative kernel path against its own directory.
    rel = os.path.relpath(guest("memfill"))
    p = foldctl(d.sock, "vm", "create", rel, "--mem", "32M", "--cmdline", "shared=0.75 zero=0.05")
    check("created VM 2 (running)" in p.stdout, "foldctl create said: %r" % p.stdout)
    p = foldctl(d.sock, "--json", "vm", "create", guest("memfill"), "--mem", "32",
                "--cmdline", "shared=0.75 zero=0.05", "--dedup-domain", "other")
    vm3 = json.loads(p.stdout)
    check(vm3["id"] == 3 and vm3["config"]["dedup_domain"] == "other", p.stdout)
    for i in (1, 2, 3):
        wait_until(lambda: console_has(c, i, "memfill: filled"), 20, what="vm%d to fill" % i)


def test_list_and_show():
    p = foldctl(d.sock, "vm", "ls")
    lines = p.stdout.strip().splitlines()
    check(lines[0].split()[:3] == ["ID", "STATE", "MEM"], "table header: %r" % lines[0])
    check(len(lines) == 4 and all("running" in l for l in lines[1:]), p.stdout)
    p = foldctl(d.sock, "--json", "vm", "ls")
    check([v["id"] for v in json.loads(p.stdout)["vms"]] == [1, 2, 3], p.stdout)
    code, body = curl(d.sock, "GET", "/vms/1")
    vm = json.loads(body)
    check(code == 200 and vm["memory"]["mem_bytes"] == 32 << 20, body)
    check(vm["memory"]["resident_bytes"] > 16 << 20, "memfill VM should be mostly resident: %s" % body)
    check(vm["dedup"]["pages"] == 8192, body)
    p = foldctl(d.sock, "vm", "show", "1")
    check("state:" in p.stdout and "running" in p.stdout and "resident:" in p.stdout, p.stdout)


def test_console():
    code, body = curl(d.sock, "GET", "/vms/1/console?tail=1")
    lines = json.loads(body)["lines"]
    check(code == 200 and len(lines) == 1 and "memfill: filled" in lines[0], body)
    p = foldctl(d.sock, "vm", "console", "1", "--tail", "5")
    check("memfill: filled" in p.stdout, p.stdout)
    code, body = curl(d.sock, "GET", "/vms/1/console?tail=0")
    check(json.loads(body)["lines"] == [], body)


def test_pause_resume():
    code, body = curl(d.sock, "PUT", "/vms/1/state", {"state": "paused"})
    check(code == 200 and json.loads(body)["state"] == "paused", body)
    check(c.get("/vms/1", expect=200).json()["state"] == "paused", "GET after pause")
    code, body = curl(d.sock, "PUT", "/vms/1/state", {"state": "paused"})
    check(code == 200, "pausing a paused VM is a no-op: %d %s" % (code, body))
    p = foldctl(d.sock, "vm", "resume", "1")
    check("VM 1: running" in p.stdout, p.stdout)
    p = foldctl(d.sock, "vm", "pause", "2")
    check("VM 2: paused" in p.stdout, p.stdout)
    p = foldctl(d.sock, "--json", "vm", "resume", "2")
    check(json.loads(p.stdout)["state"] == "running", p.stdout)


def test_stop_and_illegal_transitions():
    p = foldctl(d.sock, "vm", "stop", "2")
    check("VM 2: stopped" in p.stdout, p.stdout)
    vm = c.get("/vms/2", expect=200).json()
    check(vm["state"] == "stopped" and vm["exit_code"] == 0, vm)
    p = foldctl(d.sock, "vm", "resume", "2", expect_rc=1)
    check("cannot change VM 2 from stopped to running" in p.stderr and "409" in p.stderr, p.stderr)
    code, body = curl(d.sock, "PUT", "/vms/2/state", {"state": "paused"})
    check(code == 409 and json.loads(body)["field"] == "state", body)
    code, body = curl(d.sock, "PUT", "/vms/2/state", {"state": "stopped"})
    check(code == 200, "stopping a stopped VM is a no-op: %s" % body)


def test_remove():
    p = foldctl(d.sock, "vm", "rm", "2")
    check("removed VM 2" in p.stdout, p.stdout)
    code, body = curl(d.sock, "GET", "/vms/2")
    check(code == 404 and json.loads(body) == {"error": "no VM with id 2", "field": "id"}, body)
    p = foldctl(d.sock, "vm", "show", "2", expect_rc=1)
    check("no VM with id 2" in p.stderr, p.stderr)
    code, body = curl(d.sock, "DELETE", "/vms/3")  # a running VM
    check(code == 204 and body == "", "DELETE running VM: %d %r" % (code, body))
    check([v["id"] for v in c.get("/vms").json()["vms"]] == [1], "only VM 1 should be left")


def test_exit_and_crash():
    vm = create_vm(c, "hello", cmdline="x=1")
    wait_until(lambda: c.get("/vms/%d" % vm["id"]).json()["state"] == "exited", 10,
               what="hello to exit")
    v = c.get("/vms/%d" % vm["id"], expect=200).json()
    check(v["exit_code"] == 0 and v["crash_reason"] is None, v)
    check(console_has(c, vm["id"], "Hello from foldvm guest"), "hello console")
    p = foldctl(d.sock, "vm", "pause", str(vm["id"]), expect_rc=1)
    check("from exited to paused" in p.stderr, p.stderr)
    cr = create_vm(c, "crash")
    wait_until(lambda: c.get("/vms/%d" % cr["id"]).json()["state"] == "crashed", 10,
               what="crash guest to crash")
    v = c.get("/vms/%d" % cr["id"], expect=200).json()
    check(v["exit_code"] != 0 and v["crash_reason"], v)
    c.get("/healthz", expect=200)
    for i in (vm["id"], cr["id"]):
        c.request("DELETE", "/vms/%d" % i, expect=204)


def test_host_dedup_metrics_commands():
    p = foldctl(d.sock, "host")
    check("memory total:" in p.stdout and "mappings:" in p.stdout, p.stdout)
    h = json.loads(foldctl(d.sock, "--json", "host").stdout)
    check(h["vms"] == 1 and h["guest_mem_bytes"] == 32 << 20, h)
    p = foldctl(d.sock, "dedup", "show")
    check(p.stdout.startswith("mode: builtin") and "pages_to_scan" in p.stdout, p.stdout)
    p = foldctl(d.sock, "dedup", "set", "pages_to_scan=2000", "sleep_millisecs=30")
    check("pages_to_scan" in p.stdout and "2000" in p.stdout, p.stdout)
    cfg = c.get("/dedup").json()["config"]
    check(cfg["pages_to_scan"] == 2000 and cfg["sleep_millisecs"] == 30, cfg)
    p = foldctl(d.sock, "dedup", "set", "pages_to_scan=0", expect_rc=1)
    check("[1, 10000000]" in p.stderr, p.stderr)
    p = foldctl(d.sock, "dedup", "set", "pages_to_scan", expect_rc=2)
    check("KEY=VALUE" in p.stderr, p.stderr)
    p = foldctl(d.sock, "dedup", "scan-now")
    check("scan_now: started" in p.stdout, p.stdout)
    p = foldctl(d.sock, "dedup", "unmerge")
    check("unmerge_all: done" in p.stdout, p.stdout)
    p = foldctl(d.sock, "metrics")
    check("# TYPE foldvm_vms gauge" in p.stdout, p.stdout[:500])
    p = foldctl(d.sock, "version")
    check(p.stdout.startswith("foldvm "), p.stdout)


def test_unreachable_socket():
    p = foldctl(os.path.join(d.dir, "nope.sock"), "vm", "ls", expect_rc=3)
    check("cannot connect to API socket" in p.stderr and "nope.sock" in p.stderr, p.stderr)


def test_sigterm_stops_vms():
    check(c.get("/vms").json()["vms"][0]["state"] == "running", "VM 1 runs before shutdown")
    c.close()
    d.stop()  # checks exit 0 and that the socket is gone
    check("stopped 1 VM(s)" in d.read_log(), d.read_log())


run_tests([test_socket_mode, test_create_with_curl_and_foldctl, test_list_and_show, test_console,
           test_pause_resume, test_stop_and_illegal_transitions, test_remove, test_exit_and_crash,
           test_host_dedup_metrics_commands, test_unreachable_socket, test_sigterm_stops_vms])
