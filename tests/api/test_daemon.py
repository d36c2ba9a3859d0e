#!/usr/bin/env python3
"""The socket's life: stale socket replaced, live one refused, other files
left alone; clean shutdown on SIGINT and SIGTERM; `foldvm run --api-sock`."""
import os
import signal
import socket
import subprocess
import time

from apitest import (check, console_has, create_vm, curl, guest, make_tmpdir, require_kvm,
                     run_tests, wait_until, Client, Daemon, FOLDVM)

require_kvm()
tmp = make_tmpdir("foldvm-api-daemon-")


def test_stale_socket_replaced():
    path = os.path.join(tmp, "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # the file stays; nobody listens
    check(os.path.exists(path), "stale socket file")
    with Daemon(sock=path) as d:
        d.client().get("/healthz", expect=200)


def test_live_socket_refused():
    with Daemon() as d:
        p = subprocess.run([FOLDVM, "serve", "--api-sock", d.sock], capture_output=True, text=True,
                           timeout=20)
        check(p.returncode != 0, "second daemon on a live socket must fail")
        check("already listening" in p.stderr and d.sock in p.stderr, p.stderr)
        d.client().get("/healthz", expect=200)  # the first one is untouched


def test_regular_file_not_replaced():
    path = os.path.join(tmp, "file.sock")
    with open(path, "w") as f:
        f.write("keep me")
    p = subprocess.run([FOLDVM, "serve", "--api-sock", path], capture_output=True, text=True,
                       timeout=20)
    check(p.returncode != 0 and "not a socket" in p.stderr, p.stderr)
    with open(path) as f:
        check(f.read() == "keep me", "the file was modified")


def test_path_too_long():
    path = os.path.join(tmp, "x" * 120 + ".sock")
    p = subprocess.run([FOLDVM, "serve", "--api-sock", path], capture_output=True, text=True,
                       timeout=20)
    check(p.returncode != 0 and "too long" in p.stderr, p.stderr)


def test_sigint_with_running_vms():
    d = Daemon().start()
    try:
        c = d.client()
        ids = [create_vm(c)["id"] for _ in range(2)]
        c.request("PUT", "/vms/%d/state" % ids[1], body={"state": "paused"}, expect=200)
        c.close()
        t0 = time.monotonic()
        d.stop(signal.SIGINT)
        check(time.monotonic() - t0 < 10, "shutdown took too long")
        check("SIGINT received" in d.read_log() and "stopped 2 VM(s)" in d.read_log(),
              d.read_log())
    finally:
        d.kill()


def test_sigterm_with_open_connections():
    d = Daemon().start()
    try:
        idle = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(20)]
        for s in idle:
            s.connect(d.sock)
        partial = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        partial.connect(d.sock)
        partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
        d.stop(signal.SIGTERM)
        for s in idle + [partial]:
            s.close()
    finally:
        d.kill()


def test_run_api_sock():
    sock = os.path.join(tmp, "run.sock")
    proc = subprocess.Popen([FOLDVM, "run", guest("memfill"), "--cmdline", "shared=0.75",
                             "--timeout", "3", "--api-sock", sock],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: os.path.exists(sock), 10, what="run's API socket")
        c = Client(sock)
        vms = c.get("/vms", expect=200).json()["vms"]
        check(len(vms) == 1 and vms[0]["state"] == "running", vms)
        wait_until(lambda: console_has(c, 1, "memfill: filled"), 10, what="memfill")
        code, body = curl(sock, "GET", "/dedup")
        check(code == 200 and '"mode":"builtin"' in body, body)
        # A VM created through the API lives alongside the run's own.
        extra = create_vm(c, "hello")
        check(extra["id"] == 2, extra)
        c.close()
        out, err = proc.communicate(timeout=20)
        check(proc.returncode == 124, "run --timeout should exit 124, got %d: %s"
              % (proc.returncode, err))
        check(not os.path.exists(sock), "run left its API socket behind")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_api_sock_vm_removed_through_api():
    sock = os.path.join(tmp, "run2.sock")
    proc = subprocess.Popen([FOLDVM, "run", guest("memfill"), "--api-sock", sock],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: os.path.exists(sock), 10, what="run's API socket")
        c = Client(sock)
        wait_until(lambda: console_has(c, 1, "memfill: filled"), 10, what="memfill")
        c.request("DELETE", "/vms/1", expect=204)
        out, err = proc.communicate(timeout=20)
        check(proc.returncode == 0, "run after its VM was removed: %d %s" % (proc.returncode, err))
        check(not os.path.exists(sock), "socket left behind")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


run_tests([test_stale_socket_replaced, test_live_socket_refused, test_regular_file_not_replaced,
           test_path_too_long, test_sigint_with_running_vms, test_sigterm_with_open_connections,
           test_run_api_sock, test_run_api_sock_vm_removed_through_api])
