#include "overcommit_options.hpp"

#include "vmm/config/vm_config.hpp" // parse_size

#include <sstream>
#include <stdexcept>

namespace foldvm::bench {

namespace {

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (auto& s : v)
        out += (out.empty() ? "" : ",") + s;
    return out;
}

} // namespace

void OvercommitOptions::quick() {
    vms = 8;
    mem = 64ull << 20;
    budget = 200ull << 20;
    duration_s = 5;
    warmup_s = 2;
    storm_vms = 8;
    storm_mem = 64ull << 20;
    park_mem = 64ull << 20;
    fill_timeout_s = 120;
    converge_timeout_s = 90;
    storm_timeout_s = 120;
}

std::vector<std::string> OvercommitOptions::to_args() const {
    std::vector<std::string> a = {"--vms",
                                  std::to_string(vms),
                                  "--mem",
                                  std::to_string(mem),
                                  "--budget",
                                  std::to_string(budget),
                                  "--duration",
                                  std::to_string(duration_s),
                                  "--warmup",
                                  std::to_string(warmup_s),
                                  "--mix",
                                  mix,
                                  "--hot",
                                  hot,
                                  "--cold-ops-ppm",
                                  std::to_string(cold_ops_ppm),
                                  "--storm-vms",
                                  std::to_string(storm_vms),
                                  "--storm-mem",
                                  std::to_string(storm_mem),
                                  "--park-mem",
                                  std::to_string(park_mem),
                                  "--park-kernel-limit",
                                  std::to_string(park_kernel_limit),
                                  "--fill-timeout",
                                  std::to_string(fill_timeout_s),
                                  "--converge-timeout",
                                  std::to_string(converge_timeout_s),
                                  "--storm-timeout",
                                  std::to_string(storm_timeout_s),
                                  "--swap-dir",
                                  swap_dir,
                                  "--overcommit-opt",
                                  overcommit_opts};
    if (verbose) a.push_back("--verbose");
    return a;
}

OvercommitOptions parse_overcommit_options(int argc, char** argv, bool child) {
    OvercommitOptions o;
    // --quick first, so explicit flags override its values wherever it sits.
    for (int i = 0; i < argc; ++i)
        if (std::string(argv[i]) == "--quick") o.quick();
    for (int i = 0; i < argc; ++i) {
        std::string k = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
            return argv[++i];
        };
        if (k == "--quick") continue;
        if (k == "--scenario") {
            std::string v = next();
            if (child)
                o.scenario = v;
            else
                o.scenarios = v == "all" ? OvercommitOptions{}.scenarios : split_list(v);
        } else if (k == "--engines" || k == "--engine") {
            std::string v = next();
            if (child)
                o.engine = v;
            else
                o.engines = split_list(v);
        } else if (k == "--vms")
            o.vms = std::stoi(next());
        else if (k == "--mem")
            o.mem = parse_size(next());
        else if (k == "--budget")
            o.budget = parse_size(next());
        else if (k == "--duration")
            o.duration_s = std::stod(next());
        else if (k == "--warmup")
            o.warmup_s = std::stod(next());
        else if (k == "--mix")
            o.mix = next();
        else if (k == "--hot")
            o.hot = next();
        else if (k == "--cold-ops-ppm")
            o.cold_ops_ppm = uint32_t(std::stoul(next()));
        else if (k == "--storm-vms")
            o.storm_vms = std::stoi(next());
        else if (k == "--storm-mem")
            o.storm_mem = parse_size(next());
        else if (k == "--park-mem")
            o.park_mem = parse_size(next());
        else if (k == "--park-kernel-limit")
            o.park_kernel_limit = parse_size(next());
        else if (k == "--kernel-limit") {
            o.kernel_limit = next();
            if (o.kernel_limit != "budget" && o.kernel_limit != "fixed")
                throw std::invalid_argument("--kernel-limit: budget|fixed, not " + o.kernel_limit);
        } else if (k == "--fill-timeout")
            o.fill_timeout_s = std::stod(next());
        else if (k == "--converge-timeout")
            o.converge_timeout_s = std::stod(next());
        else if (k == "--storm-timeout")
            o.storm_timeout_s = std::stod(next());
        else if (k == "--outer-limit")
            o.outer_limit = parse_size(next());
        else if (k == "--swap-dir")
            o.swap_dir = next();
        else if (k == "--overcommit-opt")
            o.overcommit_opts = next();
        else if (k == "--verbose")
            o.verbose = true;
        else
            throw std::invalid_argument("unknown option " + k);
    }
    for (auto& s : o.scenarios)
        if (s != "density" && s != "cow-storm" && s != "park")
            throw std::invalid_argument("--scenario: density|cow-storm|park|all, not " + s);
    for (auto& e : o.engines)
        if (e != "foldvm" && e != "kernel")
            throw std::invalid_argument("--engines: foldvm,kernel, not " + e);
    if (o.outer_limit >= 20ull << 30) throw std::invalid_argument("--outer-limit must be < 20G");
    (void)join;
    return o;
}

} // namespace foldvm::bench
