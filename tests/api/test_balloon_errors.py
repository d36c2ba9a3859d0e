#!/usr/bin/env python3
"""Bad requests to the balloon endpoints: the "balloon" object of POST /vms,
GET/PUT/PATCH /vms/{id}/balloon and GET/PATCH /vms/{id}/balloon/statistics
with malformed JSON, wrong types, unknown fields, out-of-range values,
unknown VMs, VMs without a balloon, features fixed at creation and finished
VMs. Every answer is a JSON error naming the field, nothing changes on a
refused request, and the daemon keeps serving."""
from apitest import (Daemon, check, console_has, guest, require_kvm, run_tests, wait_until)

require_kvm()
d = Daemon("--dedup", "off")
d.start()
c = d.client()
H = {"Content-Type": "application/json"}
MEM = 32


def expect_error(resp, status, field=None, contains=None):
    check(resp.status == status, "expected %d, got %r" % (status, resp))
    body = resp.json()
    check(set(body) == {"error", "field"} and body["error"], "error body: %r" % body)
    check(body["field"] == field, "field: expected %r, got %r" % (field, body))
    if contains is not None:
        check(contains in body["error"], "message %r lacks %r" % (body["error"], contains))
    return body


def create(balloon, name="balloon", cmdline="keep=1M", mem=MEM, expect=201):
    body = {"kernel": guest(name), "mem_mib": mem, "cmdline": cmdline}
    if balloon is not ...:
        body["balloon"] = balloon
    return c.request("POST", "/vms", body=body, expect=expect).json()


# A balloon with statistics, one without, and a VM without a balloon.
STATS = {"amount_mib": 4, "deflate_on_oom": True, "stats_polling_interval_s": 1,
         "free_page_reporting": False}
withstats = create(STATS)["id"]
nostats = create({"free_page_reporting": True})["id"]
plain = create(..., name="memfill", cmdline="shared=0.5")["id"]
for i in (withstats, nostats):
    wait_until(lambda: console_has(c, i, "balloon: device ready"), 10, what="vm%d driver" % i)


def balloon(i):
    return c.get("/vms/%d/balloon" % i, expect=200).json()


def test_create_bad_balloon():
    k = guest("hello")
    for bad in (5, "x", [], True):
        expect_error(c.request("POST", "/vms", body={"kernel": k, "balloon": bad}), 400,
                     "balloon", "must be an object")
    for field, bad in (("amount_mib", "1"), ("amount_mib", 1.5), ("amount_mib", None),
                       ("amount_mib", True), ("deflate_on_oom", 1), ("deflate_on_oom", "true"),
                       ("free_page_reporting", 0), ("free_page_reporting", None),
                       ("stats_polling_interval_s", True), ("stats_polling_interval_s", "1"),
                       ("amount_mib", 2 ** 64)):
        expect_error(c.request("POST", "/vms", body={"kernel": k, "balloon": {field: bad}}), 400,
                     "balloon." + field)
    expect_error(c.request("POST", "/vms", body={"kernel": k, "balloon": {"target": 1}}), 400,
                 "balloon.target", "unknown field 'balloon.target'")
    for field, bad, rng in (("amount_mib", 33, "[0, 32]"), ("amount_mib", -1, "[0, 32]"),
                            ("stats_polling_interval_s", 86401, "[0, 86400]"),
                            ("stats_polling_interval_s", -1, "[0, 86400]")):
        body = {"kernel": k, "mem_mib": 32, "balloon": {field: bad}}
        expect_error(c.request("POST", "/vms", body=body), 422, "balloon." + field, rng)
    # The range follows mem_mib (default 32).
    expect_error(c.request("POST", "/vms", body={"kernel": k, "balloon": {"amount_mib": 64}}),
                 422, "balloon.amount_mib", "[0, 32]")
    expect_error(c.request("POST", "/vms", body={"kernel": k, "mem_mib": 65536, "balloon": {}}),
                 422, "balloon", "64 GiB")
    check(len(c.get("/vms").json()["vms"]) == 3, "failed creates must leave no VM")
    # null means no balloon; the edge of the range is accepted.
    vm = create(None, name="hello")
    check(vm["config"]["balloon"] is None, vm)
    vm2 = create({"amount_mib": 32}, name="hello")
    check(vm2["config"]["balloon"]["amount_mib"] == 32, vm2)
    for v in (vm, vm2):
        c.request("DELETE", "/vms/%d" % v["id"], expect=204)


def test_unknown_vms():
    for path in ("/vms/999", "/vms/0", "/vms/abc", "/vms/01", "/vms/-1"):
        expect_error(c.get(path + "/balloon"), 404, "id")
        expect_error(c.get(path + "/balloon/statistics"), 404, "id")
        expect_error(c.request("PUT", path + "/balloon", body=STATS), 404, "id")
        expect_error(c.request("PATCH", path + "/balloon", body={"amount_mib": 1}), 404, "id")
        expect_error(c.request("PATCH", path + "/balloon/statistics",
                               body={"stats_polling_interval_s": 1}), 404, "id")
    expect_error(c.get("/vms/%d/balloon/nope" % withstats), 404)


def test_vm_without_balloon():
    expect_error(c.get("/vms/%d/balloon" % plain), 404, None, "has no balloon")
    expect_error(c.get("/vms/%d/balloon/statistics" % plain), 404, None, "has no balloon")
    for method, path, body in (("PUT", "/balloon", STATS),
                               ("PATCH", "/balloon", {"amount_mib": 1}),
                               ("PATCH", "/balloon/statistics", {"stats_polling_interval_s": 1})):
        expect_error(c.request(method, "/vms/%d%s" % (plain, path), body=body), 409, None,
                     "configured at creation")
    check(c.get("/vms/%d" % plain).json()["config"]["balloon"] is None, "config.balloon")


def test_malformed_bodies():
    before = balloon(withstats)
    for method, path, valid in (("PUT", "/balloon", STATS),
                                ("PATCH", "/balloon", {"amount_mib": 4}),
                                ("PATCH", "/balloon/statistics", {"stats_polling_interval_s": 1})):
        url = "/vms/%d%s" % (withstats, path)
        expect_error(c.request(method, url, raw=b"{", headers=H), 400, None, "invalid JSON")
        expect_error(c.request(method, url, raw=b"[1]", headers=H), 400, None, "JSON object")
        expect_error(c.request(method, url, raw=b"", headers=H), 400, None, "empty")
        expect_error(c.request(method, url, raw=b'{"amount_mib": 1} x', headers=H), 400)
        expect_error(c.request(method, url, raw=b"{}", headers={"Content-Type": "text/plain"}),
                     415)
        expect_error(c.request(method, url, body=dict(valid, bogus=1)), 400, "bogus",
                     "unknown field 'bogus'")
    check(balloon(withstats) == before, "refused requests changed the balloon")


def test_patch_amount():
    url = "/vms/%d/balloon" % withstats
    before = balloon(withstats)
    expect_error(c.request("PATCH", url, body={}), 400, "amount_mib", "missing")
    for bad in ("8", 8.5, None, True, [8], 2 ** 64):
        expect_error(c.request("PATCH", url, body={"amount_mib": bad}), 400, "amount_mib")
    for bad in (33, -1, 1 << 40):
        expect_error(c.request("PATCH", url, body={"amount_mib": bad}), 422, "amount_mib",
                     "[0, 32]")
    # Firecracker's PATCH takes amount_mib only.
    expect_error(c.request("PATCH", url, body={"amount_mib": 8, "deflate_on_oom": True}), 400,
                 "deflate_on_oom", "unknown field")
    expect_error(c.request("PATCH", url, body={"target_mib": 8}), 400, "target_mib")
    check(balloon(withstats) == before, "refused PATCHes changed the balloon")
    r = c.request("PATCH", url, body={"amount_mib": 32}, expect=200).json()  # all of RAM is allowed
    check(r == dict(before, amount_mib=32), r)
    c.request("PATCH", url, body={"amount_mib": 4}, expect=200)


def test_put_features_are_fixed():
    url = "/vms/%d/balloon" % withstats
    before = balloon(withstats)
    expect_error(c.request("PUT", url, body={"deflate_on_oom": True}), 400, "amount_mib",
                 "missing")
    expect_error(c.request("PUT", url, body={"amount_mib": 4}), 400, "deflate_on_oom", "missing")
    for field, bad in (("amount_mib", "4"), ("deflate_on_oom", 1),
                       ("stats_polling_interval_s", 1.0), ("free_page_reporting", "no")):
        expect_error(c.request("PUT", url, body=dict(STATS, **{field: bad})), 400, field)
    expect_error(c.request("PUT", url, body=dict(STATS, amount_mib=33)), 422, "amount_mib",
                 "[0, 32]")
    expect_error(c.request("PUT", url, body=dict(STATS, stats_polling_interval_s=90000)), 422,
                 "stats_polling_interval_s", "[0, 86400]")
    expect_error(c.request("PUT", url, body=dict(STATS, deflate_on_oom=False)), 409,
                 "deflate_on_oom", "fixed at creation")
    expect_error(c.request("PUT", url, body=dict(STATS, free_page_reporting=True)), 409,
                 "free_page_reporting", "fixed at creation")
    expect_error(c.request("PUT", url, body=dict(STATS, stats_polling_interval_s=0)), 409,
                 "stats_polling_interval_s", "cannot be disabled")
    # Firecracker's defaults for absent optional fields: statistics off.
    expect_error(c.request("PUT", url, body={"amount_mib": 4, "deflate_on_oom": True}), 409,
                 "stats_polling_interval_s")
    # Nothing changes when a later field is refused.
    expect_error(c.request("PUT", url, body=dict(STATS, amount_mib=20, stats_polling_interval_s=5,
                                                 free_page_reporting=True)), 409,
                 "free_page_reporting")
    check(balloon(withstats) == before, "refused PUTs changed the balloon: %r" % balloon(withstats))
    want = dict(STATS, amount_mib=6, stats_polling_interval_s=3)
    check(c.request("PUT", url, body=want, expect=200).json() == want, "PUT result")
    check(balloon(withstats) == want, "GET after PUT")
    url = "/vms/%d/balloon" % nostats
    expect_error(c.request("PUT", url, body={"amount_mib": 2, "deflate_on_oom": False,
                                             "free_page_reporting": True,
                                             "stats_polling_interval_s": 1}),
                 409, "stats_polling_interval_s", "cannot be enabled")
    c.request("PUT", url, body={"amount_mib": 2, "deflate_on_oom": False,
                                "free_page_reporting": True}, expect=200)


def test_numbers_beyond_their_type():
    """A number no integer field can take is a 400 naming the field, and one
    outside the field's range a 422, never a 500 (1e400 overflows a double)."""
    url = "/vms/%d/balloon" % withstats
    before = balloon(withstats)
    k = guest("hello")
    for body, field in ((b'{"amount_mib": 1e400}', "amount_mib"),
                        (b'{"amount_mib": -1e400}', "amount_mib"),
                        (b'{"amount_mib": 100000000000000000000}', "amount_mib"),
                        (b'{"amount_mib": 2.5}', "amount_mib"),
                        (b'{"amount_mib": 1e20}', "amount_mib")):
        expect_error(c.request("PATCH", url, raw=body, headers=H), 400, field)
    expect_error(c.request("PATCH", url + "/statistics", raw=b'{"stats_polling_interval_s": 1e400}',
                           headers=H), 400, "stats_polling_interval_s")
    expect_error(c.request("PATCH", url + "/statistics", body={"stats_polling_interval_s": 2.5}),
                 400, "stats_polling_interval_s")
    expect_error(c.request("PATCH", url + "/statistics", body={"stats_polling_interval_s": 2 ** 32}),
                 422, "stats_polling_interval_s", "[0, 86400]")
    expect_error(c.request("PUT", url, raw=b'{"amount_mib": 4, "deflate_on_oom": true, '
                           b'"stats_polling_interval_s": 1e400}', headers=H), 400,
                 "stats_polling_interval_s")
    raw = (b'{"kernel": "%s", "balloon": {"deflate_on_oom": false, "amount_mib": 1e400}}'
           % k.encode())
    expect_error(c.request("POST", "/vms", raw=raw, headers=H), 400, "balloon.amount_mib")
    expect_error(c.request("POST", "/vms", body={"kernel": k, "balloon": {"amount_mib": 2.5}}),
                 400, "balloon.amount_mib")
    expect_error(c.request("POST", "/vms", body={"kernel": k, "balloon": {"amount_mib": -1}}),
                 422, "balloon.amount_mib", "[0, 32]")
    check(balloon(withstats) == before, "refused requests changed the balloon")


def test_statistics():
    url = "/vms/%d/balloon/statistics" % withstats
    expect_error(c.request("PATCH", url, body={}), 400, "stats_polling_interval_s", "missing")
    for bad in ("1", 1.5, None, False):
        expect_error(c.request("PATCH", url, body={"stats_polling_interval_s": bad}), 400,
                     "stats_polling_interval_s")
    expect_error(c.request("PATCH", url, body={"stats_polling_interval_s": 86401}), 422,
                 "stats_polling_interval_s", "[0, 86400]")
    expect_error(c.request("PATCH", url, body={"stats_polling_interval_s": 0}), 409,
                 "stats_polling_interval_s", "cannot be disabled")
    expect_error(c.request("PATCH", url, body={"stats_polling_interval_s": 1, "amount_mib": 1}),
                 400, "amount_mib", "unknown field")
    c.request("PATCH", url, body={"stats_polling_interval_s": 1}, expect=200)
    c.get(url, expect=200)
    url = "/vms/%d/balloon/statistics" % nostats
    expect_error(c.get(url), 404, None, "disabled")
    expect_error(c.request("PATCH", url, body={"stats_polling_interval_s": 1}), 409,
                 "stats_polling_interval_s", "cannot be enabled")
    # 0 stays 0: a no-op, as in Firecracker.
    r = c.request("PATCH", url, body={"stats_polling_interval_s": 0}, expect=200).json()
    check(r["stats_polling_interval_s"] == 0, r)


def test_paused_and_finished_vms():
    c.request("PUT", "/vms/%d/state" % withstats, body={"state": "paused"}, expect=200)
    r = c.request("PATCH", "/vms/%d/balloon" % withstats, body={"amount_mib": 8}, expect=200)
    check(r.json()["amount_mib"] == 8, r)
    c.request("PUT", "/vms/%d/state" % withstats, body={"state": "running"}, expect=200)
    wait_until(lambda: c.get("/vms/%d/balloon/statistics" % withstats).json()["actual_mib"] == 8,
               10, what="the resumed guest to reach the target")
    vm = create({"amount_mib": 1}, name="hello")
    i = vm["id"]
    wait_until(lambda: c.get("/vms/%d" % i).json()["state"] == "exited", 10, what="hello")
    c.get("/vms/%d/balloon" % i, expect=200)
    expect_error(c.request("PATCH", "/vms/%d/balloon" % i, body={"amount_mib": 2}), 409, None,
                 "exited")
    expect_error(c.request("PUT", "/vms/%d/balloon" % i,
                           body={"amount_mib": 2, "deflate_on_oom": False}), 409, None, "exited")
    c.request("DELETE", "/vms/%d" % i, expect=204)
    expect_error(c.get("/vms/%d/balloon" % i), 404, "id")


def test_wrong_methods():
    for method, path, allowed in (("DELETE", "/balloon", "GET, PUT, PATCH"),
                                  ("POST", "/balloon", "GET, PUT, PATCH"),
                                  ("PUT", "/balloon/statistics", "GET, PATCH"),
                                  ("DELETE", "/balloon/statistics", "GET, PATCH")):
        r = c.request(method, "/vms/%d%s" % (withstats, path))
        expect_error(r, 405, None, "not allowed")
        check(r.headers.get("allow") == allowed, "%s %s Allow: %r" % (method, path, r.headers))


def test_still_healthy():
    check(d.proc.poll() is None, "the daemon died")
    for i in (withstats, nostats):
        check(c.get("/vms/%d" % i).json()["state"] == "running", "vm%d stopped" % i)
        check(not console_has(c, i, "MISMATCH"), "vm%d saw corrupted memory" % i)


def shutdown():
    c.close()
    d.stop()


run_tests([test_create_bad_balloon, test_unknown_vms, test_vm_without_balloon,
           test_malformed_bodies, test_patch_amount, test_put_features_are_fixed,
           test_numbers_beyond_their_type, test_statistics,
           test_paused_and_finished_vms, test_wrong_methods, test_still_healthy], finish=shutdown)
