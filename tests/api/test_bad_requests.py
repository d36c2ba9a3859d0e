#!/usr/bin/env python3
"""A battery of bad requests: malformed HTTP, oversized bodies and headers,
invalid JSON, unknown fields, wrong types, out-of-range values (with the
range in the message), unknown VM ids, illegal state transitions, hostile
paths. Every answer is a JSON error with a fitting status, and the daemon
keeps serving other clients throughout."""
import json
import os
import socket
import threading
import time

from apitest import (check, create_vm, guest, make_tmpdir, parse_raw_response, raw_exchange,
                     require_kvm, run_tests, spec, wait_until, Client, Daemon)

require_kvm()
d = Daemon()
d.start()
c = d.client()
S = spec()


def expect_error(resp, status, field=None, contains=None):
    check(resp.status == status, "expected %d, got %r" % (status, resp))
    body = resp.json()
    check(set(body) == {"error", "field"} and isinstance(body["error"], str) and body["error"],
          "error body: %r" % body)
    if field is not None:
        check(body["field"] == field, "field: expected %r, got %r" % (field, body))
    if contains is not None:
        check(contains in body["error"], "message %r lacks %r" % (body["error"], contains))
    return body


def raw(data, status, contains=None, **kw):
    out = raw_exchange(d.sock, data, **kw)
    code, headers, body = parse_raw_response(out)
    check(code == status, "raw %r: expected %d, got %d %r" % (data[:60], status, code, body))
    err = json.loads(body)
    check(set(err) == {"error", "field"}, err)
    if contains:
        check(contains in err["error"], "%r lacks %r" % (err["error"], contains))
    check(headers.get("content-type") == "application/json", headers)
    return err


def test_malformed_http():
    raw(b"GARBAGE\r\n\r\n", 400, "malformed HTTP")
    raw(b"GET /healthz HTTP/9.9\r\n\r\n", 400)
    raw(b"GET /healthz HTTP/1.1\r\nNoColonHere\r\n\r\n", 400)
    raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400)
    raw(b"GET /healthz HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400)
    raw(b"POST /vms HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400)
    raw(b"GET healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "absolute path")
    raw(b"\x00\x01\x02\xff\r\n\r\n", 400)
    # A request cut short by the client gets a 400 before the close.
    raw(b"POST /vms HTTP/1.1\r\nContent-Length: 10\r\n\r\n{\"a\"", 400, shut_write=True)


def test_oversized():
    big = b"x" * (2 << 20)
    # Refused from the header alone, before the body is read.
    raw(b"POST /vms HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
        % len(big), 413, "1048576")
    raw(b"POST /vms HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(big) + big, 413)
    chunk = b"%x\r\n%s\r\n" % (64 << 10, b"y" * (64 << 10))
    raw(b"POST /vms HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 20, 413)
    raw(b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * (20 << 10) + b"\r\n\r\n", 431)
    raw(b"GET /" + b"a" * (20 << 10) + b" HTTP/1.1\r\n\r\n", 431)
    # Just under the limit is fine (and then invalid JSON).
    body = b" " * ((1 << 20) - 10) + b"{}"
    r = c.request("POST", "/vms", raw=body, headers={"Content-Type": "application/json"})
    expect_error(r, 400, "kernel", "missing required field 'kernel'")


def test_invalid_json():
    H = {"Content-Type": "application/json"}
    expect_error(c.request("POST", "/vms", raw=b"{", headers=H), 400, None, "invalid JSON")
    expect_error(c.request("POST", "/vms", raw=b"{'a': 1}", headers=H), 400, None, "invalid JSON")
    expect_error(c.request("POST", "/vms", raw=b"[1,2]", headers=H), 400, None, "JSON object")
    expect_error(c.request("POST", "/vms", raw=b"null", headers=H), 400, None, "JSON object")
    expect_error(c.request("POST", "/vms", raw=b"", headers=H), 400, None, "empty")
    expect_error(c.request("POST", "/vms", raw=b'{"kernel": "\xff\xfe"}', headers=H), 400, None,
                 "invalid JSON")
    expect_error(c.request("PATCH", "/dedup", raw=b'{"run": 1} trailing', headers=H), 400)
    expect_error(c.request("PATCH", "/dedup", raw=b"[" * 200000 + b"]" * 200000, headers=H), 400)
    expect_error(c.request("PATCH", "/dedup", raw=b'{"a":' * 100000, headers=H), 400)
    expect_error(c.request("POST", "/vms", raw=b"{}", headers={"Content-Type": "text/plain"}), 415)
    c.get("/healthz", expect=200)


def test_unknown_fields_and_types():
    k = guest("hello")
    expect_error(c.request("POST", "/vms", body={"kernel": k, "memory": 32}), 400, "memory",
                 "unknown field")
    expect_error(c.request("POST", "/vms", body={"kernel": k, "é": 1}), 400, "é")
    for field, bad in (("mem_mib", "32"), ("mem_mib", 32.5), ("mem_mib", True), ("vcpus", None),
                       ("vcpus", [1]), ("guest_cpl", "3"), ("kernel", 5), ("cmdline", {}),
                       ("initrd", 1), ("dedup_domain", None), ("mem_mib", 1e30)):
        body = {"kernel": k, field: bad}
        expect_error(c.request("POST", "/vms", body=body), 400, field)
    expect_error(c.request("PUT", "/vms/1/state", body={"state": 1}), 404)  # no VM 1 yet
    vm = create_vm(c, "memfill")
    expect_error(c.request("PUT", "/vms/%d/state" % vm["id"], body={"state": 1}), 400, "state")
    expect_error(c.request("PUT", "/vms/%d/state" % vm["id"], body={"state": "running", "x": 1}),
                 400, "x")
    expect_error(c.request("PUT", "/vms/%d/state" % vm["id"], body={}), 400, "state", "missing")
    expect_error(c.request("PUT", "/vms/%d/state" % vm["id"], body={"state": "frozen"}), 422,
                 "state", "running, paused, stopped")
    expect_error(c.request("POST", "/dedup/actions", body={"action": 1}), 400, "action")
    expect_error(c.request("POST", "/dedup/actions", body={}), 400, "action")
    c.request("DELETE", "/vms/%d" % vm["id"], expect=204)


def test_out_of_range_values_give_the_range():
    k = guest("hello")
    for field, bad, rng in (("mem_mib", 1, "[4, 65536]"), ("mem_mib", 65537, "[4, 65536]"),
                            ("mem_mib", -5, "[4, 65536]"), ("vcpus", 0, "[1, 64]"),
                            ("vcpus", 65, "[1, 64]"), ("guest_cpl", 7, "[0, 3]"),
                            ("mem_mib", 2 ** 64 - 1, "[4, 65536]")):
        expect_error(c.request("POST", "/vms", body={"kernel": k, field: bad}), 422, field, rng)
    expect_error(c.request("POST", "/vms", body={"kernel": k, "guest_cpl": 1}), 422, "guest_cpl",
                 "0 or 3")
    expect_error(c.request("POST", "/vms", body={"kernel": k, "cmdline": "x" * 5000}), 422, "cmdline")
    expect_error(c.request("POST", "/vms", body={"kernel": k, "dedup_domain": ""}), 422,
                 "dedup_domain")
    expect_error(c.request("POST", "/vms", body={"kernel": k, "dedup_domain": "d" * 65}), 422,
                 "dedup_domain")
    # Every knob, with the limits the OpenAPI document gives.
    knobs = S.doc["components"]["schemas"]["DedupKnobs"]["properties"]
    live = c.get("/dedup").json()["config"]
    check(set(knobs) == set(live), "OpenAPI knobs %s != live knobs %s" % (sorted(knobs), sorted(live)))
    for name, sch in knobs.items():
        lo, hi = sch["minimum"], sch["maximum"]
        rng = "[%d, %d]" % (lo, hi)
        expect_error(c.request("PATCH", "/dedup", body={name: hi + 1}), 422, name, rng)
        if lo > 0:
            expect_error(c.request("PATCH", "/dedup", body={name: lo - 1}), 422, name, rng)
        expect_error(c.request("PATCH", "/dedup", body={name: -1}), 422, name, rng)
        expect_error(c.request("PATCH", "/dedup", body={name: 1.5}), 400, name)
        expect_error(c.request("PATCH", "/dedup", body={name: str(lo)}), 400, name)
    check(c.get("/dedup").json()["config"] == live, "rejected PATCHes changed the config")
    expect_error(c.request("GET", "/vms/1/console?tail=5000"), 404)  # no such VM
    vm = create_vm(c, "hello")
    i = vm["id"]
    expect_error(c.get("/vms/%d/console?tail=5000" % i), 422, "tail", "[0, 1000]")
    expect_error(c.get("/vms/%d/console?tail=abc" % i), 400, "tail")
    expect_error(c.get("/vms/%d/console?tail=-1" % i), 400, "tail")
    expect_error(c.get("/vms/%d/console?lines=3" % i), 400, "lines", "unknown query parameter")
    expect_error(c.get("/vms/%d/console?tail=%%zz" % i), 400)
    c.get("/vms/%d/console?tail=%%33" % i, expect=200)  # percent-encoded "3"
    c.request("DELETE", "/vms/%d" % i, expect=204)


def test_numbers_beyond_their_type():
    """A number an integer field cannot hold is a 400 naming the field (a
    fraction, an exponent, 1e400 beyond any double, a string), one outside
    its range a 422 with the range; never a 500."""
    H = {"Content-Type": "application/json"}
    live = c.get("/dedup").json()["config"]
    for raw_body, field in ((b'{"sleep_millisecs": 1e400}', "sleep_millisecs"),
                            (b'{"sleep_millisecs": -1e400}', "sleep_millisecs"),
                            (b'{"run": 1, "pages_to_scan": 1e400}', "pages_to_scan"),
                            (b'{"max_cpu_percent": 1e20}', "max_cpu_percent"),
                            (b'{"max_cpu_percent": 100000000000000000000}', "max_cpu_percent"),
                            (b'{"merge_batch_pages": 2.5}', "merge_batch_pages"),
                            (b'{"volatile_passes": "1"}', "volatile_passes")):
        expect_error(c.request("PATCH", "/dedup", raw=raw_body, headers=H), 400, field)
    # 32-bit knobs: a 64-bit value is out of range, not truncated.
    for name, value, rng in (("sleep_millisecs", 2 ** 32, "[0, 60000]"),
                             ("pages_to_scan", 2 ** 32 + 100, "[1, 10000000]"),
                             ("run", 2 ** 63, "[0, 2]"),
                             ("mappings_limit", 2 ** 32 + 1, "[0, 4294967296]"),
                             ("volatile_passes", -1, "[0, 1000]")):
        expect_error(c.request("PATCH", "/dedup", body={name: value}), 422, name, rng)
    check(c.get("/dedup").json()["config"] == live, "rejected PATCHes changed the config")
    k = guest("hello").encode()
    for raw_body, field in ((b'{"kernel": "%s", "mem_mib": 1e400}' % k, "mem_mib"),
                            (b'{"kernel": "%s", "vcpus": 2.5}' % k, "vcpus"),
                            (b'{"kernel": "%s", "vcpus": 1e20}' % k, "vcpus"),
                            (b'{"kernel": "%s", "guest_cpl": -1e400}' % k, "guest_cpl"),
                            (b'{"kernel": "%s", "cmdline": [1e400]}' % k, "cmdline"),
                            (b'{"kernel": "%s", "balloon": {"amount_mib": 1e400}}' % k,
                             "balloon.amount_mib")):
        expect_error(c.request("POST", "/vms", raw=raw_body, headers=H), 400, field)
    for field, value, rng in (("vcpus", -1, "[1, 64]"), ("vcpus", 2 ** 32 + 1, "[1, 64]"),
                              ("mem_mib", 2 ** 32 + 32, "[4, 65536]")):
        expect_error(c.request("POST", "/vms", body={"kernel": guest("hello"), field: value}),
                     422, field, rng)
    expect_error(c.request("PATCH", "/dedup", raw=b'{"a": [1e400]}', headers=H), 400, "a")
    check(c.get("/vms").json()["vms"] == [], "failed creates must leave no VM")


def test_pages_to_scan_under_the_advisor():
    """While advisor_target_scan_time_s > 0 the advisor picks the scan rate:
    a pages_to_scan would be ignored, so it is refused with a 409."""
    live = c.get("/dedup").json()["config"]
    c.request("PATCH", "/dedup", body={"advisor_target_scan_time_s": 60}, expect=200)
    expect_error(c.request("PATCH", "/dedup", body={"pages_to_scan": 100}), 409, "pages_to_scan",
                 "advisor")
    expect_error(c.request("PATCH", "/dedup", body={"pages_to_scan": 100, "run": 1}), 409,
                 "pages_to_scan", "advisor_target_scan_time_s")
    expect_error(c.request("PATCH", "/dedup", body={"advisor_target_scan_time_s": 30,
                                                    "pages_to_scan": 100}), 409, "pages_to_scan")
    check(c.get("/dedup").json()["config"]["advisor_target_scan_time_s"] == 60,
          "a refused PATCH changed the advisor")
    # Switching the advisor off in the same request makes pages_to_scan count.
    r = c.request("PATCH", "/dedup", body={"advisor_target_scan_time_s": 0, "pages_to_scan": 100},
                  expect=200).json()["config"]
    check(r["pages_to_scan"] == 100 and r["advisor_target_scan_time_s"] == 0, r)
    c.request("PATCH", "/dedup", body=live, expect=200)
    check(c.get("/dedup").json()["config"] == live, "config not restored")


def test_bad_kernel_paths():
    tmp = make_tmpdir("foldvm-bad-")
    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)
    notelf = os.path.join(tmp, "notelf")
    with open(notelf, "wb") as f:
        f.write(b"\x7fELF" + b"\x00" * 100)
    empty = os.path.join(tmp, "empty")
    open(empty, "w").close()
    for path, contains in (("relative/path.elf", "absolute path"), ("/nonexistent/x.elf", "cannot open"),
                           (tmp, "not a regular file"), (fifo, "not a regular file"),
                           ("/dev/zero", "not a regular file"), (empty, "empty"),
                           (notelf, "kernel"), ("/etc/hostname", "kernel")):
        t0 = time.monotonic()
        expect_error(c.request("POST", "/vms", body={"kernel": path}), 422, "kernel", contains)
        check(time.monotonic() - t0 < 5, "%s took too long" % path)
    expect_error(c.request("POST", "/vms", body={"kernel": guest("hello"), "initrd": fifo}), 422,
                 "initrd")
    expect_error(c.request("POST", "/vms", body={"mem_mib": 32}), 400, "kernel", "missing")
    check(c.get("/vms").json()["vms"] == [], "failed creates must leave no VM")


def test_unknown_ids_and_paths():
    for path in ("/vms/999", "/vms/0", "/vms/abc", "/vms/-1", "/vms/01",
                 "/vms/99999999999999999999999"):
        expect_error(c.get(path), 404, "id")
        expect_error(c.request("DELETE", path), 404, "id")
        expect_error(c.request("PUT", path + "/state", body={"state": "paused"}), 404, "id")
        expect_error(c.get(path + "/console"), 404, "id")
    for path in ("/", "/nope", "/vms/1/nope", "/vms/", "/dedup/", "//vms", "/VMS", "/metrics/x"):
        expect_error(c.get(path), 404)


def test_wrong_methods():
    for method, path, allowed in (("DELETE", "/vms", "POST, GET"), ("POST", "/dedup", "GET, PATCH"),
                                  ("GET", "/dedup/actions", "POST"), ("PATCH", "/vms/1", "GET, DELETE"),
                                  ("POST", "/healthz", "GET"), ("BREW", "/metrics", "GET"),
                                  ("HEAD", "/version", "GET")):
        r = c.request(method, path)
        check(r.status == 405, "%s %s: %r" % (method, path, r))
        check(r.headers.get("allow") == allowed, "%s %s Allow: %r" % (method, path, r.headers))
        if method != "HEAD":
            expect_error(r, 405, None, "not allowed")


def test_illegal_transitions():
    vm = create_vm(c, "hello")
    i = vm["id"]
    wait_until(lambda: c.get("/vms/%d" % i).json()["state"] == "exited", 10, what="hello to exit")
    for target in ("running", "paused", "stopped"):
        expect_error(c.request("PUT", "/vms/%d/state" % i, body={"state": target}), 409, "state",
                     "from exited to " + target)
    c.request("DELETE", "/vms/%d" % i, expect=204)
    m = create_vm(c, "memfill")
    j = m["id"]
    c.request("PUT", "/vms/%d/state" % j, body={"state": "stopped"}, expect=200)
    expect_error(c.request("PUT", "/vms/%d/state" % j, body={"state": "running"}), 409, "state")
    expect_error(c.request("PUT", "/vms/%d/state" % j, body={"state": "paused"}), 409, "state")
    c.request("DELETE", "/vms/%d" % j, expect=204)
    expect_error(c.request("DELETE", "/vms/%d" % j), 404, "id")


def test_http_details():
    # HTTP/1.0 without Host, and a pipelined pair on one connection.
    out = raw_exchange(d.sock, b"GET /healthz HTTP/1.0\r\n\r\n")
    check(out.startswith(b"HTTP/1.0 200") or out.startswith(b"HTTP/1.1 200"), out[:100])
    out = raw_exchange(d.sock, b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n"
                       b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       until_close=True)
    check(out.count(b"HTTP/1.1 ") == 2 and b"200 OK" in out and b"404 Not Found" in out, out)
    check(out.index(b"200 OK") < out.index(b"404 Not Found"), "pipelined answers out of order")
    # Expect: 100-continue gets its interim response.
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(d.sock)
    body = b'{"run": 1}'
    s.sendall(b"PATCH /dedup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
    check(s.recv(100).startswith(b"HTTP/1.1 100 Continue"), "no 100 Continue")
    s.sendall(body)
    check(s.recv(100).startswith(b"HTTP/1.1 200"), "PATCH after 100-continue")
    s.close()


def test_slow_and_broken_clients_do_not_block_others():
    stop = threading.Event()
    socks = []

    def slowloris():
        s = socket.socket(socket.AF_UNIX)
        s.connect(d.sock)
        socks.append(s)
        s.sendall(b"POST /vms HTTP/1.1\r\nContent-Length: 100000\r\n\r\n{")
        while not stop.is_set():
            try:
                s.sendall(b" ")
            except OSError:
                return
            time.sleep(0.05)

    threads = [threading.Thread(target=slowloris) for _ in range(50)]
    for t in threads:
        t.start()
    for _ in range(20):  # half-open connections that vanish
        s = socket.socket(socket.AF_UNIX)
        s.connect(d.sock)
        s.sendall(b"GET /dedup HTTP/1.1\r\n")
        s.close()
    other = Client(d.sock)
    t0 = time.monotonic()
    for _ in range(200):
        other.get("/dedup", expect=200)
    elapsed = time.monotonic() - t0
    stop.set()
    for t in threads:
        t.join()
    for s in socks:
        s.close()
    check(elapsed < 5, "200 requests took %.1f s next to slow clients" % elapsed)


def test_still_healthy():
    check(d.proc.poll() is None, "the daemon died")
    c.get("/healthz", expect=200)
    m = c.get("/metrics", expect=200).text
    check('foldvm_api_responses_total{code="4xx"}' in m, "4xx counter")


def shutdown():
    c.close()
    d.stop()


run_tests([test_malformed_http, test_oversized, test_invalid_json, test_unknown_fields_and_types,
           test_out_of_range_values_give_the_range, test_numbers_beyond_their_type,
           test_pages_to_scan_under_the_advisor, test_bad_kernel_paths, test_unknown_ids_and_paths,
           test_wrong_methods, test_illegal_transitions, test_http_details,
           test_slow_and_broken_clients_do_not_block_others, test_still_healthy], finish=shutdown)
