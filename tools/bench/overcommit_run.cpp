// foldvm-bench overcommit-run --scenario S --engine E [flags]: one run of
// `foldvm-bench overcommit`, in the cgroup its parent placed it in. Prints
// one JSON object with what the guests and the engine measured; the parent
// adds the cgroup's and the kernel's figures.
#include "bench_util.hpp"
#include "memfill_report.hpp"
#include "memory_cgroup.hpp"
#include "overcommit_engine.hpp"
#include "overcommit_options.hpp"
#include "sysfs_knobs.hpp"

#include "common/procfs.hpp"
#include "tools/bench_overcommit_config.h"

#include <nlohmann/json.hpp>

#include <iostream>
#include <thread>

namespace foldvm::bench {

namespace {

using json = nlohmann::json;
using Clock = TimedConsole::Clock;

void log(const OvercommitOptions& o, const std::string& msg) {
    if (o.verbose)
        std::cerr << "overcommit-run " << o.scenario << "/" << o.engine << ": " << msg << "\n";
}

// Mailbox addresses of `ids` once each printed one.
std::vector<uint64_t> wait_mailboxes(OvercommitEngine& e, const std::vector<uint64_t>& ids,
                                     double timeout_s) {
    auto& con = e.console();
    std::vector<uint64_t> idx;
    for (uint64_t id : ids)
        idx.push_back(e.index_of(id));
    wait_until([&] { return con.count_vms(idx, "memfill: mailbox gpa=") == idx.size(); }, timeout_s,
               50);
    std::vector<uint64_t> gpas;
    for (uint64_t i : idx) {
        auto l = con.find(i, "memfill: mailbox gpa=");
        gpas.push_back(l ? line_field(l->text, "gpa").value_or(0) : 0);
    }
    return gpas;
}

struct Finish {
    int completed = 0, killed = 0;
    uint64_t mismatches = 0;
    std::vector<std::string> reports; // the guests' MISMATCH lines
};

// Sends stop to every VM that is still running and waits for its done line.
Finish stop_all(OvercommitEngine& e, const std::vector<uint64_t>& ids,
                const std::vector<uint64_t>& gpas, uint64_t req) {
    auto& con = e.console();
    for (size_t i = 0; i < ids.size(); ++i) {
        auto vm = e.host().vm(ids[i]);
        if (vm && gpas[i] && vm->state() == VmState::Running)
            send_mailbox(*vm, gpas[i], req, MailboxCmd::Stop);
    }
    std::vector<uint64_t> idx;
    for (uint64_t id : ids)
        idx.push_back(e.index_of(id));
    wait_until(
        [&] {
            for (size_t i = 0; i < ids.size(); ++i) {
                auto vm = e.host().vm(ids[i]);
                if (!con.find(idx[i], "memfill: done") && vm && vm->state() == VmState::Running)
                    return false;
            }
            return true;
        },
        300, 50);
    Finish f;
    for (size_t i = 0; i < ids.size(); ++i) {
        auto done = con.find(idx[i], "memfill: done");
        if (!done) {
            ++f.killed;
            continue;
        }
        uint64_t m = line_field(done->text, "mismatches").value_or(1);
        f.mismatches += m;
        if (m == 0) ++f.completed;
        for (auto& l : con.all(idx[i], "memfill: MISMATCH"))
            f.reports.push_back("vm " + std::to_string(ids[i]) + ": " + l);
    }
    return f;
}

json density(const OvercommitOptions& o, OvercommitEngine& e) {
    std::string cmdline =
        o.mix + " hot=" + o.hot + " cold_ops_ppm=" + std::to_string(o.cold_ops_ppm) + " mailbox";
    auto ids = e.create_vms(o.vms, o.mem, cmdline);
    auto t_start = Clock::now();
    e.start(ids);
    auto gpas = wait_mailboxes(e, ids, o.fill_timeout_s);
    std::vector<uint64_t> idx;
    for (uint64_t id : ids)
        idx.push_back(e.index_of(id));
    bool filled =
        wait_until([&] { return e.console().count_vms(idx, "memfill: hot pages=") == idx.size(); },
                   o.fill_timeout_s, 50);
    double fill_s = seconds_since(t_start);
    log(o, "filled in " + std::to_string(fill_s) + " s");
    std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup_s));
    double cpu0 = e.process_cpu_s(), vcpu0 = e.vcpu_cpu_s();
    for (size_t i = 0; i < ids.size(); ++i)
        if (gpas[i]) send_mailbox(*e.host().vm(ids[i]), gpas[i], 1, MailboxCmd::Reset);
    std::this_thread::sleep_for(std::chrono::duration<double>(o.duration_s));
    double cpu1 = e.process_cpu_s(), vcpu1 = e.vcpu_cpu_s();
    json oc = e.overcommit_json();
    Finish f = stop_all(e, ids, gpas, 2);

    LatencyHistogram all;
    std::vector<double> p99s;
    double ops_per_s = 0;
    uint64_t ops = 0;
    for (uint64_t i : idx) {
        HotSummary s = read_hot_summary(e.console(), i);
        if (!s.found) continue;
        all.merge(s.hist);
        p99s.push_back(double(s.p99_ns));
        ops += s.ops;
        if (s.elapsed_ms) ops_per_s += double(s.ops) * 1000.0 / double(s.elapsed_ms);
    }
    return {{"vms", o.vms},
            {"mem_bytes", o.mem},
            {"nominal_bytes", uint64_t(o.vms) * o.mem},
            {"budget_bytes", o.budget},
            {"cmdline", cmdline},
            {"filled", filled},
            {"fill_s", fill_s},
            {"vms_completed", f.completed},
            {"vms_killed", f.killed},
            {"verify_mismatches", f.mismatches},
            {"mismatch_reports", f.reports},
            {"hot_ops", ops},
            {"hot_ops_per_s", ops_per_s},
            {"lat_p50_ns", all.percentile_ns(50)},
            {"lat_p99_ns", all.percentile_ns(99)},
            {"lat_max_ns", all.max_ns},
            {"lat_p99_ns_median_vm", percentile(p99s, 50)},
            {"lat_p99_ns_worst_vm", percentile(p99s, 100)},
            {"steady_cpu_s", cpu1 - cpu0},
            {"steady_vcpu_cpu_s", vcpu1 - vcpu0},
            {"steady_engine_cpu_s", (cpu1 - cpu0) - (vcpu1 - vcpu0)},
            {"dedup_saved_bytes", e.dedup_saved_bytes()},
            {"overcommit", oc}};
}

json cow_storm(const OvercommitOptions& o, OvercommitEngine& e) {
    auto ids = e.create_vms(o.storm_vms, o.storm_mem, "shared=0.9 zero=0.05 mailbox");
    uint64_t nominal = uint64_t(o.storm_vms) * o.storm_mem;
    auto t_start = Clock::now();
    e.start(ids);
    auto gpas = wait_mailboxes(e, ids, o.fill_timeout_s);
    double fill_s = seconds_since(t_start);
    // Converged: the engine saves >= 60% of nominal (resident <= 40%).
    auto t_conv = Clock::now();
    bool converged = wait_until([&] { return e.dedup_saved_bytes() >= nominal * 6 / 10; },
                                o.converge_timeout_s, 100);
    double converge_s = seconds_since(t_conv);
    uint64_t saved = e.dedup_saved_bytes();
    log(o, "converged=" + std::to_string(converged) + " saved=" + std::to_string(saved >> 20) +
               " MiB");
    std::vector<uint64_t> idx;
    for (uint64_t id : ids)
        idx.push_back(e.index_of(id));
    auto t_storm = Clock::now();
    for (size_t i = 0; i < ids.size(); ++i)
        if (gpas[i]) send_mailbox(*e.host().vm(ids[i]), gpas[i], 1, MailboxCmd::Storm);
    // Ridden out: every VM rewrote every page and its verify round after it passed.
    bool rode = wait_until(
        [&] {
            size_t n = 0;
            for (uint64_t i : idx)
                n += e.console().find(i, "memfill: verify round=", t_storm).has_value();
            return n == idx.size();
        },
        o.storm_timeout_s, 50);
    double ride_out_s = seconds_since(t_storm);
    uint64_t storm_mismatches = 0;
    for (uint64_t i : idx)
        if (auto l = e.console().find(i, "memfill: verify round=", t_storm))
            storm_mismatches += line_field(l->text, "mismatches").value_or(0);
    json oc = e.overcommit_json();
    Finish f = stop_all(e, ids, gpas, 2);
    return {{"vms", o.storm_vms},
            {"mem_bytes", o.storm_mem},
            {"nominal_bytes", nominal},
            {"budget_bytes", o.storm_budget()},
            {"fill_s", fill_s},
            {"converged", converged},
            {"converge_s", converge_s},
            {"saved_bytes_before_storm", saved},
            {"saved_fraction_before_storm", double(saved) / double(nominal)},
            {"rode_out", rode},
            {"ride_out_s", rode ? ride_out_s : -1.0},
            {"storm_verify_mismatches", storm_mismatches},
            {"vms_completed", f.completed},
            {"vms_killed", f.killed},
            {"verify_mismatches", f.mismatches},
            {"mismatch_reports", f.reports},
            {"overcommit", oc}};
}

json park(const OvercommitOptions& o, OvercommitEngine& e) {
    std::string cmdline = o.mix + " hot=" + o.hot + " mailbox idle";
    auto ids = e.create_vms(1, o.park_mem, cmdline);
    uint64_t id = ids[0], idx = e.index_of(id);
    auto vm = e.host().vm(id);
    e.start(ids);
    auto gpas = wait_mailboxes(e, ids, o.fill_timeout_s);
    uint64_t gpa = gpas[0];
    auto& con = e.console();
    // Host ms from t0 to the answer and to the working set's end, and the
    // guest's own ms for touching its working set.
    struct Answer {
        double answer_host_ms = -1, working_set_host_ms = -1, working_set_guest_ms = -1;
    };
    auto ping = [&](uint64_t req, Clock::time_point t0) {
        send_mailbox(*vm, gpa, req, MailboxCmd::Ping);
        std::string r = "req=" + std::to_string(req);
        std::string pong = "memfill: pong " + r, touched = "memfill: touched " + r + " ";
        auto ms = [&](const auto& l) {
            return std::chrono::duration<double, std::milli>(l->t - t0).count();
        };
        Answer a;
        wait_until([&] { return con.find(idx, touched).has_value(); }, 60, 0);
        if (auto l = con.find(idx, pong)) a.answer_host_ms = ms(l);
        if (auto l = con.find(idx, touched)) {
            a.working_set_host_ms = ms(l);
            a.working_set_guest_ms = line_field_double(l->text, "ms").value_or(-1);
        }
        return a;
    };
    Answer warm = ping(1, Clock::now());

    GuestMemory& mem = vm->memory();
    auto guest_resident = [&] { return procfs::resident_pages(mem.host_base(), mem.size()); };
    uint64_t resident_before = guest_resident();
    json extra = json::object();
    auto t_park = Clock::now();
    std::string own_cg = MemoryCgroup::own_path();
    std::string old_limit;
    if (e.foldvm()) {
#if FOLDVM_BENCH_HAVE_OVERCOMMIT
        e.overcommit()->park(id);
#endif
    } else if (own_cg.find("/foldvm-bench-") == std::string::npos) {
        // Only ever squeeze a cgroup the orchestrator made for this run.
        extra["park_limit_error"] =
            "not in a foldvm-bench cgroup: run via `foldvm-bench overcommit`";
    } else {
        // No park in the kernel: squeeze the process's cgroup to its usage
        // without the guest RAM plus a little, so reclaim pushes the guest
        // out to zswap/swap; raising the limit back is the "unpark".
        old_limit = read_word(own_cg + "/memory.limit_in_bytes");
        uint64_t usage = std::stoull(read_word(own_cg + "/memory.usage_in_bytes"));
        uint64_t guest_bytes = resident_before * 4096;
        uint64_t limit = (usage > guest_bytes ? usage - guest_bytes : 0) + o.park_kernel_limit;
        extra["park_cgroup_limit_bytes"] = limit;
        try {
            write_text(own_cg + "/memory.limit_in_bytes", std::to_string(limit));
        } catch (const std::exception& err) {
            extra["park_limit_error"] = err.what();
        }
    }
    double park_call_s = seconds_since(t_park);
    // Settled: residency stops falling for 300 ms (or 10 s pass).
    uint64_t last = guest_resident();
    auto t_stable = Clock::now();
    while (seconds_since(t_park) < 10 + park_call_s) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        uint64_t now = guest_resident();
        if (now < last) {
            last = now;
            t_stable = Clock::now();
        } else if (seconds_since(t_stable) >= 0.3) {
            break;
        }
    }
    double park_settled_s = std::chrono::duration<double>(t_stable - t_park).count();
    uint64_t resident_after = guest_resident();
    json vm_stats = json::object();
#if FOLDVM_BENCH_HAVE_OVERCOMMIT
    if (e.overcommit())
        if (auto s = e.overcommit()->vm_stats(id))
            vm_stats = {{"state", s->state},
                        {"resident_pages", s->resident_pages},
                        {"compressed_pages", s->compressed_pages},
                        {"swapped_pages", s->swapped_pages},
                        {"zero_pages", s->zero_pages},
                        {"merged_pages", s->merged_pages}};
#endif
    std::this_thread::sleep_for(std::chrono::seconds(1)); // parked and idle a while
    uint64_t resident_idle = guest_resident();

    auto t_unpark = Clock::now();
    if (e.foldvm()) {
#if FOLDVM_BENCH_HAVE_OVERCOMMIT
        e.overcommit()->unpark(id);
#endif
    } else if (!old_limit.empty()) {
        write_text(own_cg + "/memory.limit_in_bytes", old_limit);
    }
    Answer cold = ping(2, t_unpark);
    json oc = e.overcommit_json();
    Finish f = stop_all(e, ids, gpas, 3);
    uint64_t pages = mem.size() / 4096;
    return {{"mem_bytes", o.park_mem},
            {"cmdline", cmdline},
            {"warm_answer_host_ms", warm.answer_host_ms},
            {"warm_working_set_guest_ms", warm.working_set_guest_ms},
            {"resident_pages_before", resident_before},
            {"resident_pages_after_park", resident_after},
            {"resident_pages_parked_idle_1s", resident_idle},
            {"resident_fraction_after_park", double(resident_after) / double(pages)},
            {"park_call_s", park_call_s},
            {"park_settled_s", park_settled_s},
            {"unpark_to_answer_host_ms", cold.answer_host_ms},
            {"unpark_to_working_set_host_ms", cold.working_set_host_ms},
            {"unpark_working_set_guest_ms", cold.working_set_guest_ms},
            {"vm_stats", vm_stats},
            {"vms_completed", f.completed},
            {"vms_killed", f.killed},
            {"verify_mismatches", f.mismatches},
            {"mismatch_reports", f.reports},
            {"overcommit", oc},
            {"kernel_park", extra}};
}

} // namespace

int run_overcommit_child(int argc, char** argv) {
    OvercommitOptions o = parse_overcommit_options(argc, argv, true);
    json out;
    if (o.engine == "foldvm" && !overcommit_available()) {
        out = {{"status", "unavailable"},
               {"reason", "this build has no OvercommitService implementation"}};
    } else {
        uint64_t budget = o.scenario == "cow-storm" ? o.storm_budget() : o.budget;
        OvercommitEngine e(o.engine, budget, o.swap_dir, o.overcommit_opts);
        if (o.scenario == "density")
            out = density(o, e);
        else if (o.scenario == "cow-storm")
            out = cow_storm(o, e);
        else if (o.scenario == "park")
            out = park(o, e);
        else
            throw std::invalid_argument("--scenario density|cow-storm|park");
        out["status"] = "ok";
        out["process_cpu_s"] = e.process_cpu_s();
        out["vcpu_cpu_s"] = e.vcpu_cpu_s();
    }
    std::cout << out.dump() << std::endl;
    return 0;
}

} // namespace foldvm::bench
