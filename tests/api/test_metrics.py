#!/usr/bin/env python3
"""GET /metrics parsed by a real Prometheus text-format parser
(python3-prometheus-client; `promtool check metrics` too when installed):
foldvm_ prefix, HELP and TYPE for every family, VM counts by state, every dedup
statistic, the knobs, and per-VM resident memory."""
import re
import shutil
import subprocess

from apitest import (Daemon, check, console_has, create_vm, curl, require_kvm, run_tests, skip,
                     wait_until)

require_kvm()
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    skip("python3-prometheus-client is needed (tools/dev installs it)")

d = Daemon("--dedup-opt", "sleep_millisecs=20")
d.start()
c = d.client()
state = {}


def scrape():
    code, text = curl(d.sock, "GET", "/metrics")
    check(code == 200, "GET /metrics: %d" % code)
    return text


def parse(text):
    families = {}
    for fam in text_string_to_metric_families(text):
        families[fam.name] = fam
    return families


def samples(families, name):
    """All samples called `name` (counters keep their _total samples)."""
    out = []
    for fam in families.values():
        out += [s for s in fam.samples if s.name == name]
    return out


def value(families, name, **labels):
    for s in samples(families, name):
        if all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise AssertionError("no sample %s%s" % (name, labels))


def test_setup():
    ids = [create_vm(c)["id"] for _ in range(3)]
    for i in ids:
        wait_until(lambda: console_has(c, i, "memfill: filled"), 20, what="memfill")
    c.request("PUT", "/vms/%d/state" % ids[1], body={"state": "paused"}, expect=200)
    c.request("PUT", "/vms/%d/state" % ids[2], body={"state": "stopped"}, expect=200)
    h = create_vm(c, "hello")
    wait_until(lambda: c.get("/vms/%d" % h["id"]).json()["state"] == "exited", 10, what="exit")
    wait_until(lambda: c.get("/dedup").json()["stats"]["pages_sharing"] > 0, 20, what="merging")
    state["ids"] = ids + [h["id"]]


def test_format_and_names():
    text = scrape()
    headers = _headers(text)
    families = parse(text)
    check(len(families) > 30, "only %d families" % len(families))
    for name, fam in families.items():
        check(name.startswith("foldvm_"), "metric %s lacks the foldvm_ prefix" % name)
        check(fam.documentation, "%s has no HELP" % name)
        check(fam.type in ("gauge", "counter"), "%s has type %s" % (name, fam.type))
        for s in fam.samples:
            check(s.name.startswith("foldvm_"), s.name)
            if fam.type == "counter":
                check(s.name.endswith("_total"), "counter sample %s without _total" % s.name)
    # Every sample line belongs to a family announced with HELP and TYPE.
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
            check(name in headers["TYPE"] and name in headers["HELP"],
                  "sample %s has no HELP/TYPE lines" % name)
    check(text.endswith("\n"), "exposition must end with a newline")


def _headers(text):
    seen = {"HELP": set(), "TYPE": set()}
    for line in text.splitlines():
        m = re.match(r"# (HELP|TYPE) (\S+)", line)
        if m:
            check(m.group(2) not in seen[m.group(1)], "duplicate %s for %s" % m.groups())
            seen[m.group(1)].add(m.group(2))
    return seen


def test_vm_counts_by_state():
    families = parse(scrape())
    vms = c.get("/vms").json()["vms"]
    for st in ("created", "running", "paused", "exited", "crashed", "stopped"):
        want = sum(1 for v in vms if v["state"] == st)
        check(value(families, "foldvm_vms", state=st) == want,
              "foldvm_vms{state=%s}: want %d" % (st, want))
    check(value(families, "foldvm_vms", state="running") == 1, "one running VM")
    check(value(families, "foldvm_vms", state="paused") == 1, "one paused VM")


def test_every_dedup_stat_and_knob():
    families = parse(scrape())
    dd = c.get("/dedup").json()
    rename = {"general_profit": "foldvm_dedup_general_profit_bytes",
              "engine_cpu_s": "foldvm_dedup_engine_cpu_seconds_total",
              "phase_ms": "foldvm_dedup_phase_seconds_total"}
    for key, v in dd["stats"].items():
        if key == "vms":
            continue
        names = [rename.get(key, "foldvm_dedup_" + key), "foldvm_dedup_%s_total" % key]
        check(any(samples(families, n) for n in names),
              "dedup stat %s has no metric (looked for %s)" % (key, names))
    # Once missing from GET /dedup, and so from /metrics as well.
    check("pages_discarded" in dd["stats"], "GET /dedup stats lack pages_discarded")
    check(samples(families, "foldvm_dedup_pages_discarded_total"),
          "foldvm_dedup_pages_discarded_total is not emitted")
    check(value(families, "foldvm_dedup_freeze_mode", mode=dd["stats"]["freeze_mode"]) == 1,
          "freeze mode")
    check(value(families, "foldvm_dedup_pages_sharing") > 0, "pages_sharing")
    for knob, v in dd["config"].items():
        check(value(families, "foldvm_dedup_config", knob=knob) == v, "knob %s" % knob)
    check(value(families, "foldvm_dedup_mode", mode="builtin") == 1, "mode")


def test_per_vm_memory():
    families = parse(scrape())
    for i in state["ids"]:
        v = c.get("/vms/%d" % i).json()
        check(value(families, "foldvm_vm_memory_bytes", vm=str(i)) == 32 << 20, "memory of vm%d" % i)
        rss = value(families, "foldvm_vm_resident_bytes", vm=str(i))
        check(0 <= rss <= 32 << 20, "resident of vm%d: %d" % (i, rss))
        check(value(families, "foldvm_vm_state", vm=str(i), state=v["state"]) == 1, "state vm%d" % i)
    first = state["ids"][0]  # a filled, running memfill VM
    check(value(families, "foldvm_vm_resident_bytes", vm=str(first)) > 8 << 20,
          "memfill VM should have resident pages")
    check(value(families, "foldvm_vm_dedup_pages", vm=str(first)) == 8192, "tracked pages")
    host = c.get("/host").json()
    check(value(families, "foldvm_guest_memory_bytes") == host["guest_mem_bytes"], "guest memory")


def test_promtool_if_installed():
    promtool = shutil.which("promtool")
    if not promtool:
        print("  promtool not installed; python3-prometheus-client parsed the text")
        return
    p = subprocess.run([promtool, "check", "metrics"], input=scrape(), capture_output=True,
                       text=True)
    check(p.returncode == 0, "promtool check metrics:\n%s%s" % (p.stdout, p.stderr))


def test_content_type():
    r = c.get("/metrics", expect=200)
    check(r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers)


def shutdown():
    c.close()
    d.stop()  # exit 0, socket removed


run_tests([test_setup, test_format_and_names, test_vm_counts_by_state, test_every_dedup_stat_and_knob,
           test_per_vm_memory, test_promtool_if_installed, test_content_type], finish=shutdown)
