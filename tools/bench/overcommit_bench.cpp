// foldvm-bench overcommit: foldvm's overcommit against the kernel yardstick
// (KSM + a cgroup memory limit equal to the budget + a swap file + zswap) in
// three scenarios (density, cow-storm, park). The orchestrator puts itself in
// an outer memory cgroup (< 20 GiB) so an overshoot kills only the
// benchmark; each (scenario, engine) run is a child process
// (`foldvm-bench overcommit-run`) in its own cgroup. Every host setting is
// restored through the RestoreRegistry, also on failure and SIGINT/SIGTERM.
#include "bench_util.hpp"
#include "ksm_settings.hpp"
#include "memory_cgroup.hpp"
#include "overcommit_options.hpp"
#include "peak_sampler.hpp"
#include "proc_stats.hpp"
#include "swap_file.hpp"
#include "zswap_setting.hpp"

#include "common/procfs.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <optional>

namespace foldvm::bench {

namespace {

using json = nlohmann::json;

// The yardstick's host side for one run: swap file (room for all guest RAM),
// zswap, ksmd at a steady pace (1000 pages every 10 ms, like ksmtuned's boost).
struct KernelYardstick {
    KsmSettings ksm;
    std::optional<SwapFile> swap;
    std::optional<ZswapSetting> zswap;
    std::string zswap_compressor = "none";
    unsigned zswap_max_pool_percent = 0;

    // `pool_budget`: the budget that holds cgroup usage + zswap's pool, or 0.
    KernelYardstick(const OvercommitOptions& o, uint64_t nominal, uint64_t pool_budget) {
        ksm.set("run", 0);
        ksm.set("pages_to_scan", 1000);
        ksm.set("sleep_millisecs", 10);
        ksm.set("use_zero_pages", 1);
        swap.emplace(o.swap_dir, nominal + (256ull << 20));
        if (ZswapSetting::available()) {
            // Held to the budget, the pool may take a quarter of it (zswap's
            // limit is a whole percent of host RAM, at least 1); past that
            // zswap sends pages on to the swap file.
            unsigned percent = 20;
            if (pool_budget) {
                uint64_t total = procfs::meminfo_bytes("MemTotal");
                percent = total
                              ? unsigned(std::clamp<uint64_t>(pool_budget / 4 * 100 / total, 1, 20))
                              : 1;
            }
            zswap_max_pool_percent = percent;
            zswap.emplace(percent);
            zswap_compressor = zswap->compressor();
        }
        ksm.set("run", 1);
    }
};

struct Counters {
    std::map<std::string, uint64_t> vm;
    double ksmd = 0, kswapd = 0;
    static Counters now() {
        return {vmstat(), std::max(0.0, ksmd_cpu_seconds()),
                std::max(0.0, kernel_threads_cpu_seconds("kswapd"))};
    }
};

// Runs `overcommit-run` in `cg`; returns its JSON (or a status object).
json run_child(const OvercommitOptions& o, const std::string& scenario, const std::string& engine,
               MemoryCgroup& cg, double& child_cpu_s) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    std::string self = self_dir() + "/foldvm-bench";
    std::vector<std::string> args = {self,     "overcommit-run", "--scenario",
                                     scenario, "--engine",       engine};
    for (auto& a : o.to_args())
        args.push_back(a);
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string procs = cg.path() + "/cgroup.procs";
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        // In its cgroup before it allocates anything.
        std::string me = std::to_string(::getpid());
        int fd = ::open(procs.c_str(), O_WRONLY);
        if (fd < 0 || ::write(fd, me.data(), me.size()) != ssize_t(me.size())) ::_exit(125);
        ::close(fd);
        ::dup2(out[1], 1);
        ::execv(self.c_str(), argv.data());
        ::_exit(127);
    }
    ::close(out[1]);
    // Killed and reaped on SIGINT/SIGTERM, before the cgroup and the
    // settings it runs under are taken down (the registry runs newest first).
    Restorer kill_child("child " + std::to_string(pid), [pid] {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    });
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0) text.append(buf, size_t(n));
    ::close(out[0]);
    int status = 0;
    struct rusage ru {};
    ::wait4(pid, &status, 0, &ru);
    kill_child = Restorer(); // reaped: nothing left to kill
    child_cpu_s = double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                  double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    json r;
    // The child's last line is its JSON object.
    while (!text.empty() && text.back() == '\n')
        text.pop_back();
    auto nl = text.rfind('\n');
    try {
        if (!text.empty()) r = json::parse(text.substr(nl == std::string::npos ? 0 : nl + 1));
    } catch (...) {
    }
    if (!r.is_object()) r = json::object();
    if (WIFSIGNALED(status)) {
        r["status"] = "killed";
        r["signal"] = WTERMSIG(status);
    } else if (WEXITSTATUS(status) != 0) {
        r["status"] = "failed";
        r["exit_code"] = WEXITSTATUS(status);
    }
    return r;
}

json run_one(const OvercommitOptions& o, const std::string& scenario, const std::string& engine,
             MemoryCgroup& outer) {
    uint64_t budget = scenario == "cow-storm" ? o.storm_budget() : o.budget;
    uint64_t nominal = scenario == "density"     ? uint64_t(o.vms) * o.mem
                       : scenario == "cow-storm" ? uint64_t(o.storm_vms) * o.storm_mem
                                                 : o.park_mem;
    MemoryCgroup cg("run", &outer);
    // Park measures the park itself; there the pool stays as it was (with a
    // pool capped at 4 % of host RAM the kernel's park evicted nothing).
    bool hold_pool = engine == "kernel" && scenario != "park" && o.kernel_limit == "budget";
    std::optional<KernelYardstick> yard;
    if (engine == "kernel") {
        cg.set_limit(budget);
        yard.emplace(o, nominal, hold_pool ? budget : 0);
    }
    Counters c0 = Counters::now();
    auto t0 = std::chrono::steady_clock::now();
    double child_cpu = 0;
    PeakSampler sampler(cg, hold_pool ? budget : 0);
    json r = run_child(o, scenario, engine, cg, child_cpu);
    sampler.stop();
    double wall = seconds_since(t0);
    Counters c1 = Counters::now();
    auto delta = [&](const char* k) { return c1.vm[k] - c0.vm[k]; };
    r["engine"] = engine;
    r["wall_s"] = wall;
    r["child_cpu_s"] = child_cpu;
    r["budget_bytes"] = budget;
    r["cgroup"] = {{"limit_bytes", cg.limit()},
                   {"max_usage_bytes", cg.max_usage_bytes()},
                   {"memsw_max_usage_bytes", cg.memsw_max_usage_bytes()},
                   {"oom_kills", cg.oom_kills()}};
    // The cgroup's own peak is exact but misses zswap's pool; the sampled
    // sum sees the pool but may miss a peak between samples.
    uint64_t peak = std::max(cg.max_usage_bytes(), sampler.peak_with_zswap_bytes());
    r["zswap_pool_peak_bytes"] = sampler.peak_zswap_bytes();
    if (hold_pool) r["cgroup_min_limit_bytes"] = sampler.min_limit_bytes();
    if (engine == "foldvm" && r.contains("overcommit") &&
        r["overcommit"].contains("peak_used_bytes"))
        r["service_peak_used_bytes"] = r["overcommit"]["peak_used_bytes"];
    r["peak_memory_bytes"] = peak;
    r["peak_over_budget"] = double(peak) / double(budget);
    r["pswpout_bytes"] = delta("pswpout") * 4096;
    r["pswpin_bytes"] = delta("pswpin") * 4096;
    r["zswpout_pages"] = delta("zswpout");
    if (engine == "kernel") {
        r["bytes_written_to_disk"] = delta("pswpout") * 4096;
        r["engine_cpu_s"] = (c1.ksmd - c0.ksmd) + (c1.kswapd - c0.kswapd);
        r["engine_cpu_note"] = "ksmd + kswapd; direct reclaim and swap-in run in the vCPU threads "
                               "and are not separable";
        r["zswap_compressor"] = yard->zswap_compressor;
        r["zswap_max_pool_percent"] = yard->zswap_max_pool_percent;
        r["swap_file_bytes"] = yard->swap->size_bytes();
    } else {
        uint64_t written = 0;
        if (r.contains("overcommit") && r["overcommit"].contains("swap"))
            written = r["overcommit"]["swap"].value("bytes_written", uint64_t(0));
        r["bytes_written_to_disk"] = written;
        r["engine_cpu_s"] = child_cpu - r.value("vcpu_cpu_s", 0.0);
        r["engine_cpu_note"] = "process CPU minus the vCPU threads (dedup, pager, governor, VMM)";
    }
    if (r.value("status", "") == "killed" && !r.contains("vms_killed"))
        r["vms_killed"] = scenario == "density" ? o.vms : scenario == "cow-storm" ? o.storm_vms : 1;
    return r; // cg and yard restore here, child gone
}

double ratio(const json& a, const json& b, const char* key) {
    if (!a.contains(key) || !b.contains(key)) return -1;
    double x = a[key].get<double>(), y = b[key].get<double>();
    return y > 0 ? x / y : -1;
}

json ratios(const std::string& scenario, const json& f, const json& k) {
    if (scenario == "density")
        return {{"hot_ops_per_s_foldvm_over_kernel", ratio(f, k, "hot_ops_per_s")},
                {"lat_p99_foldvm_over_kernel", ratio(f, k, "lat_p99_ns")},
                {"peak_memory_foldvm_over_kernel", ratio(f, k, "peak_memory_bytes")}};
    if (scenario == "cow-storm")
        return {{"ride_out_s_foldvm_over_kernel", ratio(f, k, "ride_out_s")}};
    return {
        {"unpark_to_answer_foldvm_over_kernel", ratio(f, k, "unpark_to_answer_host_ms")},
        {"unpark_to_working_set_foldvm_over_kernel", ratio(f, k, "unpark_to_working_set_host_ms")},
        {"resident_after_park_foldvm_over_kernel", ratio(f, k, "resident_pages_after_park")}};
}

} // namespace

int run_overcommit_child(int argc, char** argv);

int run_overcommit_bench(int argc, char** argv) {
    OvercommitOptions o = parse_overcommit_options(argc, argv, false);
    if (::geteuid() != 0 || !MemoryCgroup::available())
        throw std::runtime_error("needs root and the cgroup v1 memory controller");
    MemoryCgroup outer("foldvm-bench");
    outer.set_limit(o.outer_limit);
    outer.add(::getpid());
    json out = {
        {"bench", "overcommit"},
        {"outer_cgroup_limit_bytes", o.outer_limit},
        {"notes",
         {{"hot_ops_per_s", "sum over VMs of guest-measured ops/elapsed, steady phase "
                            "(after every VM filled + warmup, between mailbox reset and stop)"},
          {"latency", "guest TSC per operation (read+check a page, rewrite a cache line); "
                      "p50/p99 of all VMs' merged histograms; *_vm fields per-VM p99s"},
          {"peak_memory", "max of the run cgroup's max_usage and sampled (every 50 ms) usage "
                          "+ zswap's pool (/proc/meminfo Zswap), which cgroup v1 does not "
                          "charge to the cgroup; zswap_pool_peak_bytes is the pool alone"},
          {"kernel_park", "no park in the kernel: the run's cgroup limit drops to its "
                          "non-guest usage + park_kernel_limit, then goes back up"}}}};
    for (auto& scenario : o.scenarios) {
        json s = json::object();
        for (auto& engine : o.engines) {
            if (o.verbose) std::cerr << "overcommit: " << scenario << " / " << engine << "\n";
            try {
                s[engine] = run_one(o, scenario, engine, outer);
            } catch (const std::exception& e) {
                s[engine] = {{"status", "error"}, {"error", e.what()}};
            }
        }
        if (s.contains("foldvm") && s.contains("kernel"))
            s["ratios"] = ratios(scenario, s["foldvm"], s["kernel"]);
        out["scenarios"][scenario] = s;
    }
    std::cout << out.dump() << std::endl;
    return 0;
}

} // namespace foldvm::bench
