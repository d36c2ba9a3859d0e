#include "overcommit_engine.hpp"

#include "bench_util.hpp"
#include "proc_stats.hpp"

#include "tools/bench_overcommit_config.h"
#include "vmm/boot/elf_loader.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <stdexcept>

namespace foldvm::bench {

namespace {

dedup::DedupConfig dedup_config() {
    dedup::DedupConfig cfg; // the engine's defaults; the governor paces it
    return cfg;
}

} // namespace

namespace {

OvercommitService::Logger stderr_logger() {
    return [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
}

// FOLDVM_BENCH_DEBUG=1: the governor's decisions, timestamped, on stderr.
OvercommitService::Logger debug_logger() {
    const char* on = std::getenv("FOLDVM_BENCH_DEBUG");
    if (!on || std::string(on) != "1") return {};
    auto t0 = std::chrono::steady_clock::now();
    return [t0](const std::string& line) {
        double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::fprintf(stderr, "%9.3f %s\n", t, line.c_str());
    };
}

} // namespace

bool overcommit_available() {
    return FOLDVM_BENCH_HAVE_OVERCOMMIT != 0;
}

OvercommitEngine::OvercommitEngine(const std::string& engine, uint64_t budget,
                                   const std::string& swap_dir, const std::string& overcommit_opts)
    : foldvm_(engine == "foldvm"),
      dedup_(host_, foldvm_ ? DedupMode::Builtin : DedupMode::Ksm, dedup_config()) {
    if (!foldvm_) return;
#if FOLDVM_BENCH_HAVE_OVERCOMMIT
    OvercommitConfig oc = foldvm::parse_overcommit_options(overcommit_opts);
    oc.budget_mib = budget >> 20;
    oc.swap_dir = swap_dir;
    overcommit_ = ServicePtr(
        std::make_unique<OvercommitService>(host_, dedup_, oc, stderr_logger(), debug_logger())
            .release(),
        [](OvercommitService* p) { std::default_delete<OvercommitService>()(p); });
#else
    (void)budget;
    (void)swap_dir;
    (void)overcommit_opts;
    throw std::runtime_error("this build has no OvercommitService implementation yet");
#endif
}

OvercommitEngine::~OvercommitEngine() {
    host_.stop_all();
    for (uint64_t id : ids_)
        host_.remove_vm(id);
#if FOLDVM_BENCH_HAVE_OVERCOMMIT
#endif
}

std::vector<uint64_t> OvercommitEngine::create_vms(int n, uint64_t mem,
                                                   const std::string& cmdline) {
    Blob image = std::make_shared<const std::vector<uint8_t>>(
        read_image_file(self_dir() + "/guest-kernels/memfill.elf", 64 << 20));
    std::vector<uint64_t> ids;
    for (int i = 0; i < n; ++i) {
        VmConfig c;
        c.image = image;
        c.mem_bytes = mem;
        c.cmdline = cmdline;
        c.index = uint64_t(ids_.size());
        dedup_.prepare(c);
        uint64_t id = host_.create_vm(c, console_.events());
        ids_.push_back(id);
        ids.push_back(id);
    }
    return ids;
}

void OvercommitEngine::start(const std::vector<uint64_t>& ids) {
    std::set<pid_t> before;
    for (auto& [tid, name] : own_threads())
        before.insert(tid);
    for (uint64_t id : ids)
        host_.vm(id)->start();
    for (auto& [tid, name] : own_threads())
        if (!before.count(tid) && name.rfind("foldvm-vcpu", 0) == 0) vcpu_tids_.push_back(tid);
}

uint64_t OvercommitEngine::index_of(uint64_t id) const {
    for (size_t i = 0; i < ids_.size(); ++i)
        if (ids_[i] == id) return i;
    throw std::out_of_range("unknown VM id");
}

uint64_t OvercommitEngine::dedup_saved_bytes() const {
    if (!foldvm_) {
        auto c = read_ksm_counters().values;
        return uint64_t(c["pages_sharing"] + c["ksm_zero_pages"]) * 4096;
    }
    auto s = *dedup_.stats();
    return (s.pages_sharing + s.zero_pages) * 4096;
}

double OvercommitEngine::process_cpu_s() const {
    return pid_cpu_seconds(::getpid());
}

double OvercommitEngine::vcpu_cpu_s() const {
    // A thread's figure stays readable only while it runs: keep the last
    // one seen, so a VM that finished still counts.
    double sum = 0;
    for (pid_t t : vcpu_tids_) {
        double now = thread_cpu_seconds(t);
        if (now >= 0) vcpu_seen_s_[t] = now;
        sum += vcpu_seen_s_[t];
    }
    return sum;
}

nlohmann::json OvercommitEngine::overcommit_json() const {
#if FOLDVM_BENCH_HAVE_OVERCOMMIT
    if (!overcommit_) return nlohmann::json::object();
    HostMemoryStats s = overcommit_->host_stats();
    auto tier = [](const TierStats& t) {
        return nlohmann::json{{"enabled", t.enabled},
                              {"pages", t.pages},
                              {"stored_bytes", t.stored_bytes},
                              {"allocated_bytes", t.allocated_bytes},
                              {"bytes_written", t.bytes_written},
                              {"write_errors", t.write_errors},
                              {"fragmentation", t.fragmentation}};
    };
    const GovernorCounters& g = s.governor;
    return {{"budget_bytes", s.budget_bytes},
            {"used_bytes", s.used_bytes},
            {"peak_used_bytes", s.peak_used_bytes},
            {"state", to_string(s.state)},
            {"compressed", tier(s.compressed)},
            {"swap", tier(s.swap)},
            {"governor",
             {{"ticks", g.ticks},
              {"state_changes", g.state_changes},
              {"dedup_speedups", g.dedup_speedups},
              {"balloon_inflations", g.balloon_inflations},
              {"pages_compressed", g.pages_compressed},
              {"pages_swapped", g.pages_swapped},
              {"pages_zero", g.pages_zero},
              {"throttles", g.throttles}}}};
#else
    return nlohmann::json::object();
#endif
}

} // namespace foldvm::bench
