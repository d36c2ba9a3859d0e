// foldvm-bench MODE [options]: benchmarks that print one JSON object.
#include <cstring>
#include <exception>
#include <iostream>
#include <string>

namespace foldvm::bench {
int run_boot_bench(int argc, char** argv);
int run_dedup_bench(int argc, char** argv);
int run_api_bench(int argc, char** argv);
int run_balloon_bench(int argc, char** argv);
int run_linux_boot_bench(int argc, char** argv);
int run_overcommit_bench(int argc, char** argv);
int run_overcommit_child(int argc, char** argv);
int run_pager_idle_bench(int argc, char** argv);
} // namespace foldvm::bench

int main(int argc, char** argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    try {
        if (mode == "boot") return foldvm::bench::run_boot_bench(argc - 2, argv + 2);
        if (mode == "dedup") return foldvm::bench::run_dedup_bench(argc - 2, argv + 2);
        if (mode == "api") return foldvm::bench::run_api_bench(argc - 2, argv + 2);
        if (mode == "balloon") return foldvm::bench::run_balloon_bench(argc - 2, argv + 2);
        if (mode == "linux-boot") return foldvm::bench::run_linux_boot_bench(argc - 2, argv + 2);
        if (mode == "overcommit") return foldvm::bench::run_overcommit_bench(argc - 2, argv + 2);
        if (mode == "pager-idle") return foldvm::bench::run_pager_idle_bench(argc - 2, argv + 2);
        // Hidden: one (scenario, engine) run, started by `overcommit`.
        if (mode == "overcommit-run")
            return foldvm::bench::run_overcommit_child(argc - 2, argv + 2);
    } catch (const std::exception& e) {
        std::cerr << "foldvm-bench " << mode << ": error: " << e.what() << "\n";
        return 1;
    }
    std::cerr
        << "usage: foldvm-bench boot|dedup|api|balloon|linux-boot|overcommit|pager-idle [options]\n"
           "  boot  [--vms N] [--execs N] [--idle N]\n"
           "  dedup [--vms N] [--mem SIZE] [--shared R] [--zero Z] [--churn W]\n"
           "        [--engine builtin|ksm] [--compare] [--timeout S] [--settle S]\n"
           "  api     (see tools/bench/api_bench.cpp)\n"
           "  balloon (see tools/bench/balloon_bench.cpp)\n"
           "  linux-boot [--boots N] [--vmms foldvm,qemu-microvm,qemu-pc] [--kernel F]\n"
           "        [--initrd F] [--mem SIZE] [--dedup MODE] [--cmdline S] [--timeout S]\n"
           "        [--verbose]   (in the nested tier: tools/nested bench)\n"
           "  overcommit [--quick] [--scenario density|cow-storm|park|all]\n"
           "        [--engines foldvm,kernel] [--vms N] [--mem SIZE] [--budget SIZE]\n"
           "        [--duration S] [--warmup S] [--mix 'shared=R zero=R text=R'] [--hot R]\n"
           "        [--cold-ops-ppm N] [--storm-vms N] [--storm-mem SIZE] [--park-mem SIZE]\n"
           "        [--swap-dir DIR] [--overcommit-opt KEY=VALUE,...] [--outer-limit SIZE]\n"
           "        [--kernel-limit budget|fixed] [--verbose]\n"
           "  pager-idle [--rounds N] [--mem MIB]   (boot and fill, pager on vs off)\n";
    return mode == "--help" || mode == "-h" ? 0 : 2;
}
