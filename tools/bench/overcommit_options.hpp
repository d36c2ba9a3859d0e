// Flags of `foldvm-bench overcommit` and of its per-run child mode
// (`overcommit-run`, same flags plus --scenario/--engine for one run).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace foldvm::bench {

struct OvercommitOptions {
    std::vector<std::string> scenarios{"density", "cow-storm", "park"};
    std::vector<std::string> engines{"foldvm", "kernel"};
    // density: nominal RAM >= 2.5x the budget.
    int vms = 40;
    uint64_t mem = 256ull << 20;
    uint64_t budget = 4ull << 30;
    double duration_s = 30; // measured steady phase
    double warmup_s = 5;    // after every VM filled, before the steady phase
    // The cold mix (the rest is random, incompressible); the first `hot` of
    // each VM's pages are its hot set.
    std::string mix = "shared=0.3 zero=0.1 text=0.3";
    std::string hot = "0.2";
    uint32_t cold_ops_ppm = 1000;
    // cow-storm: shared=0.9 guests converge to <= 40% of nominal, then all
    // rewrite every page; the budget is 50% of nominal.
    int storm_vms = 16;
    uint64_t storm_mem = 256ull << 20;
    // park: one VM, parked after filling.
    uint64_t park_mem = 256ull << 20;
    uint64_t park_kernel_limit = 8ull << 20; // kernel: cgroup headroom while "parked"
    // kernel, density and cow-storm: "budget" holds cgroup usage + zswap's
    // pool (cgroup v1 does not charge the pool) to the budget, as foldvm's
    // compressed tier counts in its budget; "fixed" is a cgroup limit equal to
    // the budget with the pool on top.
    std::string kernel_limit = "budget";
    double fill_timeout_s = 900;
    double converge_timeout_s = 300;
    double storm_timeout_s = 600;
    uint64_t outer_limit = 16ull << 30; // the whole benchmark's cgroup (< 20 GiB)
    std::string swap_dir = "/var/tmp";
    // foldvm's --overcommit-opt KEY=VALUE,... (budget and swap dir come from above).
    std::string overcommit_opts;
    bool verbose = false;
    // Child mode only.
    std::string scenario, engine;

    uint64_t storm_budget() const { return uint64_t(storm_vms) * storm_mem / 2; }
    void quick();                             // 8 VMs x 64 MiB in 200 MiB, short phases
    std::vector<std::string> to_args() const; // for the child's command line
};

// Parses argv (throws std::invalid_argument); `child` accepts --scenario and
// --engine as single values.
OvercommitOptions parse_overcommit_options(int argc, char** argv, bool child);

} // namespace foldvm::bench
