#include "overcommit_options.hpp"

#include "common/error.hpp"
#include "vmm/config/overcommit_json.hpp"
#include "vmm/config/vm_config.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace foldvm::cli {

namespace {

uint64_t budget_mib(const std::string& text) {
    if (text == "auto" || text == "0") return 0;
    uint64_t bytes;
    try {
        bytes = parse_size(text);
    } catch (const InvalidInput& e) {
        throw InvalidInput(std::string("--mem-budget: ") + e.what() + ", or auto");
    }
    if (bytes % (1ull << 20))
        throw InvalidInput("--mem-budget '" + text + "' is not a whole number of MiB");
    uint64_t mib = bytes >> 20;
    if (mib < kBudgetFloorBaseMib)
        throw InvalidInput("--mem-budget '" + text + "' is below the smallest budget, " +
                           std::to_string(kBudgetFloorBaseMib) +
                           " MiB (foldvm's own memory); give more, or auto");
    return mib;
}

// `flag` names where the directory came from: --swap-dir or the option.
void check_directory(const std::string& dir, const std::string& flag) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0)
        throw InvalidInput(flag + " '" + dir + "': " + std::strerror(errno) +
                           " (the directory must exist)");
    if (!S_ISDIR(st.st_mode)) throw InvalidInput(flag + " '" + dir + "' is not a directory");
}

} // namespace

void add_overcommit_options(CLI::App& c, OvercommitOptions& o) {
    c.add_option("--mem-budget", o.mem_budget,
                 "Host memory the VMs must fit in (e.g. 512M, 4G); auto or 0 = from "
                 "MemAvailable and /proc/pressure/memory");
    c.add_option("--swap-dir", o.swap_dir,
                 "Existing directory for the O_TMPFILE swap files (default /var/tmp)");
    c.add_option("--overcommit-opt", o.opts,
                 "Overcommit option KEY=VALUE (repeatable; see foldvm config-schema)");
    c.add_flag("--no-overcommit", o.off,
               "No pager and no governor: guest RAM is plain memory (= --overcommit-opt "
               "enabled=false)");
}

OvercommitConfig overcommit_config(const OvercommitOptions& o) {
    OvercommitConfig c;
    const auto& table = OvercommitConfig::fields();
    for (const auto& kv : o.opts) {
        auto eq = kv.find('=');
        std::string key = kv.substr(0, eq);
        try {
            if (eq == std::string::npos)
                throw InvalidInput(table.noun() + " '" + key + "' needs a value (KEY=VALUE)");
            table.set_text(c, key, kv.substr(eq + 1));
        } catch (const InvalidInput& e) {
            throw InvalidInput(std::string("--overcommit-opt: ") + e.what());
        }
    }
    if (!o.mem_budget.empty()) c.budget_mib = budget_mib(o.mem_budget);
    if (!o.swap_dir.empty()) c.swap_dir = o.swap_dir;
    if (o.off) c.enabled = false;
    try {
        c.validate();
    } catch (const model::FieldError& e) {
        throw InvalidInput(std::string("--overcommit-opt: ") + e.what());
    }
    if (c.enabled)
        check_directory(c.swap_dir,
                        o.swap_dir.empty() ? "--overcommit-opt swap_dir" : "--swap-dir");
    return c;
}

std::string overcommit_summary(const OvercommitService& service) {
    if (!service.enabled()) return "off";
    HostMemoryStats s = service.host_stats();
    return "budget " + std::to_string(s.budget_bytes >> 20) + " MiB (" + s.budget_source + ")";
}

OvercommitRegistration::OvercommitRegistration(Host& host, OvercommitService& service)
    : host_(host), service_(service) {}

OvercommitRegistration::~OvercommitRegistration() {
    host_.stop_all();
    for (auto& [id, vm] : host_.vms())
        host_.remove_vm(id);
}

} // namespace foldvm::cli
