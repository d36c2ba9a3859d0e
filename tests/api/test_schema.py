#!/usr/bin/env python3
"""Responses match vmm/api/openapi.yaml. The client validates every response
it receives against the document (all api tests do); this test makes sure
every documented operation is exercised, in every dedup mode, that the
server's routes and the document's paths agree, and that the document's
request bodies agree with the configuration models' field tables
(`foldvm config-schema`)."""
import json
import subprocess

from apitest import (FOLDVM, Daemon, check, console_has, create_vm, guest, require_kvm,
                     run_tests, spec, wait_until)

require_kvm()
S = spec()
METHODS = ("get", "put", "post", "delete", "patch")
exercised = set()


def call(c, method, path, **kw):
    r = c.request(method, path, **kw)  # validated against the document
    tmpl, _ = S.operation(method, path)
    exercised.add((method.lower(), tmpl, r.status))
    return r


def exercise_all(c, mode):
    call(c, "GET", "/healthz", expect=200)
    call(c, "GET", "/version", expect=200)
    call(c, "GET", "/host", expect=200)
    call(c, "GET", "/metrics", expect=200)
    call(c, "GET", "/dedup", expect=200)
    vm = create_vm(c)
    i = vm["id"]
    exercised.add(("post", "/vms", 201))
    wait_until(lambda: console_has(c, i, "memfill: filled"), 20, what="memfill")
    call(c, "GET", "/vms", expect=200)
    call(c, "GET", "/vms/%d" % i, expect=200)
    call(c, "GET", "/vms/%d/console?tail=3" % i, expect=200)
    call(c, "GET", "/vms/%d/console?tail=x" % i, expect=400)
    call(c, "GET", "/vms/%d/console?tail=1001" % i, expect=422)
    for st in ("paused", "running", "stopped"):
        call(c, "PUT", "/vms/%d/state" % i, body={"state": st}, expect=200)
    call(c, "PUT", "/vms/%d/state" % i, body={"state": "running"}, expect=409)
    call(c, "PUT", "/vms/%d/state" % i, body={"state": "sleeping"}, expect=422)
    call(c, "PUT", "/vms/%d/state" % i, body={"nope": 1}, expect=400)
    call(c, "GET", "/vms/%d" % i, expect=200)  # a finished VM
    call(c, "GET", "/vms", expect=200)
    call(c, "DELETE", "/vms/%d" % i, expect=204)
    for path in ("/vms/%d" % i, "/vms/%d/console" % i):
        call(c, "GET", path, expect=404)
    call(c, "DELETE", "/vms/%d" % i, expect=404)
    call(c, "PUT", "/vms/%d/state" % i, body={"state": "paused"}, expect=404)
    call(c, "GET", "/vms/1/console?tail=9999", expect=404)
    call(c, "POST", "/vms", body={"kernel": "/nonexistent"}, expect=422)
    call(c, "POST", "/vms", body={"kernel": 1}, expect=400)
    call(c, "POST", "/vms", raw=b"{}", headers={"Content-Type": "text/plain"}, expect=415)
    # The server answers 413 and drops the rest of the body the client sends.
    call(c, "POST", "/vms", raw=b"x" * (2 << 20), headers={"Content-Type": "application/json"},
         expect=413)
    if mode == "builtin":
        cfg = call(c, "GET", "/dedup", expect=200).json()["config"]
        call(c, "PATCH", "/dedup", body={"sleep_millisecs": cfg["sleep_millisecs"]}, expect=200)
        call(c, "PATCH", "/dedup", body={"run": 3}, expect=422)
        call(c, "PATCH", "/dedup", body={"nope": 3}, expect=400)
        call(c, "POST", "/dedup/actions", body={"action": "scan_now"}, expect=202)
        call(c, "POST", "/dedup/actions", body={"action": "unmerge_all"}, expect=200)
        call(c, "POST", "/dedup/actions", body={"action": "x"}, expect=422)
        call(c, "POST", "/dedup/actions", body={}, expect=400)
    else:
        call(c, "PATCH", "/dedup", body={"run": 1}, expect=409)
        call(c, "POST", "/dedup/actions", body={"action": "scan_now"}, expect=409)
    exercise_balloon(c)
    exercise_memory(c)
    # A VM that is running when listed, and a second one for the list.
    create_vm(c, mem_mib=16)
    call(c, "GET", "/vms", expect=200)
    call(c, "GET", "/host", expect=200)
    call(c, "GET", "/metrics", expect=200)


def exercise_balloon(c):
    cfg = {"amount_mib": 2, "deflate_on_oom": False, "stats_polling_interval_s": 1,
           "free_page_reporting": False}
    vm = call(c, "POST", "/vms", body={"kernel": guest("balloon"), "mem_mib": 16,
                                       "balloon": cfg}, expect=201).json()
    b = "/vms/%d/balloon" % vm["id"]
    wait_until(lambda: call(c, "GET", b + "/statistics", expect=200).json()["actual_mib"] == 2,
               10, what="the balloon driver")
    call(c, "GET", "/vms", expect=200)  # a VM with a balloon in the list
    call(c, "GET", b, expect=200)
    call(c, "PUT", b, body=dict(cfg, amount_mib=3), expect=200)
    call(c, "PUT", b, body={"amount_mib": 3}, expect=400)
    call(c, "PUT", b, body=dict(cfg, deflate_on_oom=True), expect=409)
    call(c, "PUT", b, body=dict(cfg, amount_mib=17), expect=422)
    call(c, "PATCH", b, body={"amount_mib": 1}, expect=200)
    call(c, "PATCH", b, body={"amount_mib": "1"}, expect=400)
    call(c, "PATCH", b, body={"amount_mib": 17}, expect=422)
    call(c, "PATCH", b + "/statistics", body={"stats_polling_interval_s": 2}, expect=200)
    call(c, "PATCH", b + "/statistics", body={}, expect=400)
    call(c, "PATCH", b + "/statistics", body={"stats_polling_interval_s": 0}, expect=409)
    call(c, "PATCH", b + "/statistics", body={"stats_polling_interval_s": 86401}, expect=422)
    plain = create_vm(c, "hello")["id"]
    p = "/vms/%d/balloon" % plain
    call(c, "GET", p, expect=404)
    call(c, "GET", p + "/statistics", expect=404)
    call(c, "PUT", p, body=cfg, expect=409)
    call(c, "PATCH", p, body={"amount_mib": 1}, expect=409)
    call(c, "PATCH", p + "/statistics", body={"stats_polling_interval_s": 1}, expect=409)
    for i in (vm["id"], plain):
        call(c, "DELETE", "/vms/%d" % i, expect=204)
    call(c, "PUT", b, body=cfg, expect=404)
    call(c, "PATCH", b, body={"amount_mib": 1}, expect=404)
    call(c, "PATCH", b + "/statistics", body={"stats_polling_interval_s": 1}, expect=404)


def exercise_memory(c):
    m = call(c, "GET", "/host/memory", expect=200).json()
    call(c, "PATCH", "/host/memory", body={"cold_age_s": m["config"]["cold_age_s"]}, expect=200)
    call(c, "PATCH", "/host/memory", body={"nope": 1}, expect=400)
    call(c, "PATCH", "/host/memory", body={"swap_dir": "/"}, expect=409)
    call(c, "PATCH", "/host/memory", body={"budget_mib": 1}, expect=422)
    i = create_vm(c, mem_mib=16)["id"]
    wait_until(lambda: console_has(c, i, "memfill: filled"), 20, what="memfill")
    p = "/vms/%d/memory" % i
    call(c, "GET", p, expect=200)
    call(c, "PUT", p, body={"state": "parked"}, expect=200)
    call(c, "PUT", p, body={"state": "active", "priority": 60}, expect=200)
    call(c, "PUT", p, body={}, expect=400)
    call(c, "PUT", p, body={"priority": 101}, expect=422)
    call(c, "PUT", "/vms/%d/state" % i, body={"state": "stopped"}, expect=200)
    call(c, "PUT", p, body={"state": "parked"}, expect=409)  # finished
    call(c, "DELETE", "/vms/%d" % i, expect=204)
    call(c, "GET", p, expect=404)
    call(c, "PUT", p, body={"state": "parked"}, expect=404)


def exercise_memory_off(c):
    call(c, "GET", "/host/memory", expect=200)
    call(c, "PATCH", "/host/memory", body={"cold_age_s": 20}, expect=409)
    i = create_vm(c, mem_mib=16)["id"]
    call(c, "GET", "/vms/%d/memory" % i, expect=409)
    call(c, "PUT", "/vms/%d/memory" % i, body={"state": "parked"}, expect=409)
    call(c, "DELETE", "/vms/%d" % i, expect=204)


def test_overcommit_off():
    with Daemon("--no-overcommit") as d:
        c = d.client()
        exercise_memory_off(c)
        c.close()


def test_builtin():
    with Daemon() as d:
        c = d.client()
        exercise_all(c, "builtin")
        c.close()


def test_vm_limit():
    with Daemon("--max-vms", "1") as d:
        c = d.client()
        create_vm(c, "memfill")
        r = call(c, "POST", "/vms", body={"kernel": guest("hello")}, expect=409)
        check("VM limit reached (1)" in r.json()["error"], r)
        c.close()


def test_ksm_and_off():
    for mode in ("ksm", "off"):
        with Daemon("--dedup", mode) as d:
            c = d.client()
            exercise_all(c, mode)
            c.close()


def test_every_operation_exercised():
    missing = []
    for tmpl, item in S.doc["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            for status in item[method]["responses"]:
                if (method, tmpl, int(status)) not in exercised:
                    missing.append("%s %s -> %s" % (method.upper(), tmpl, status))
    check(not missing, "documented but never seen: %s" % missing)


def test_routes_match_document():
    with Daemon() as d:
        c = d.client()
        for tmpl, item in S.doc["paths"].items():
            path = tmpl.replace("{id}", "1")
            documented = sorted(m.upper() for m in METHODS if m in item)
            undocumented = [m for m in ("GET", "PUT", "POST", "DELETE", "PATCH")
                            if m not in documented]
            r = c.request(undocumented[0], path)
            check(r.status == 405, "%s %s: %r" % (undocumented[0], path, r))
            allow = sorted(x.strip() for x in r.headers["allow"].split(","))
            check(allow == documented, "%s: server allows %s, document says %s"
                  % (tmpl, allow, documented))
        c.close()


def model_mismatches(name, model, schema):
    """What differs between one model's field table and its OpenAPI schema."""
    props = schema["properties"]
    out = []
    if set(model) != set(props):
        out.append("%s: fields %s, document %s" % (name, sorted(model), sorted(props)))
    for field in sorted(set(model) & set(props)):
        m, p = model[field], props[field]
        if "model" in m:  # a nested model: checked on its own
            continue
        where = "%s.%s" % (name, field)
        types = p["type"] if isinstance(p["type"], list) else [p["type"]]
        if m["nullable"] != ("null" in types) or m["type"] not in types:
            out.append("%s: type %s (nullable %s), document %s"
                       % (where, m["type"], m["nullable"], types))
        keys = {"integer": ("minimum", "maximum", "enum"),
                "string": ("minLength", "maxLength")}.get(m["type"], ())
        for key in keys:
            want = m.get(key)
            if key == "minLength" and want == 0:
                want = None  # no lower bound
            if p.get(key) != want:
                out.append("%s: %s %r, document %r" % (where, key, want, p.get(key)))
        if "default" in p and p["default"] != m.get("default"):
            out.append("%s: default %r, document %r" % (where, m.get("default"), p["default"]))
    required = sorted(f for f, m in model.items() if m["required"])
    if name != "BalloonFields" and sorted(schema.get("required", [])) != required:
        out.append("%s: required %s, document %s" % (name, required, schema.get("required")))
    return out


def test_config_models_match_document():
    dump = json.loads(subprocess.run([FOLDVM, "config-schema"], check=True,
                                     capture_output=True, text=True).stdout)
    schemas = S.doc["components"]["schemas"]
    wrong = []
    for name in ("VmCreate", "BalloonFields", "DedupKnobs", "OvercommitConfig", "VmMemoryUpdate"):
        wrong += model_mismatches(name, dump["models"][name], schemas[name])
    modes = schemas["Dedup"]["properties"]["mode"]["enum"]
    if modes != dump["dedup_modes"]:
        wrong.append("dedup modes %s, document %s" % (dump["dedup_modes"], modes))
    check(not wrong, "the field tables and %s disagree:\n  %s"
          % ("vmm/api/openapi.yaml", "\n  ".join(wrong)))


run_tests([test_config_models_match_document, test_builtin, test_vm_limit, test_ksm_and_off,
           test_overcommit_off, test_every_operation_exercised, test_routes_match_document])
