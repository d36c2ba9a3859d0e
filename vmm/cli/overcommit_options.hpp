// The overcommit flags `foldvm run` and `foldvm serve` share: --mem-budget,
// --swap-dir, --overcommit-opt KEY=VALUE and --no-overcommit, read into an
// OvercommitConfig; and the service's registration with the Host.
#pragma once

#include "vmm/config/overcommit_config.hpp"
#include "vmm/machine/host.hpp"
#include "vmm/overcommit/overcommit_service.hpp"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace foldvm::cli {

struct OvercommitOptions {
    std::string mem_budget;        // SIZE, "auto" or 0; empty: the option's default
    std::string swap_dir;          // empty: the option's default
    std::vector<std::string> opts; // KEY=VALUE
    bool off = false;              // --no-overcommit
};

void add_overcommit_options(CLI::App& command, OvercommitOptions& options);

// The config the flags give. InvalidInput (exit 2) naming the flag: a size
// that does not parse, is not whole MiB or is below the 64 MiB floor; a
// swap directory that does not exist; an unknown key or a bad value.
OvercommitConfig overcommit_config(const OvercommitOptions& options);

// "off", or "budget 4096 MiB (auto)" for the start-up log line.
std::string overcommit_summary(const OvercommitService& service);

// Scope guard for a CLI's service: VMs' pagers live in the service (which
// observes the host itself), so on the way out every VM is stopped and
// removed while the service can still answer their faults.
class OvercommitRegistration {
  public:
    OvercommitRegistration(Host& host, OvercommitService& service);
    ~OvercommitRegistration();
    OvercommitRegistration(const OvercommitRegistration&) = delete;
    OvercommitRegistration& operator=(const OvercommitRegistration&) = delete;

  private:
    Host& host_;
    OvercommitService& service_;
};

} // namespace foldvm::cli
