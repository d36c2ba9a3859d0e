// foldctl host memory [set KEY=VALUE...], vm memory ID, vm park|unpark ID:
// the overcommit budget, tiers and governor (/host/memory) and a VM's
// pages and faults (/vms/{id}/memory).
#pragma once

#include "api_call.hpp"

#include <CLI/CLI.hpp>

#include <functional>

namespace foldctl {

// Adds `memory` under `host` and `memory`, `park`, `unpark` under `vm`; a
// parsed one sets `action`. Returns host's `memory` subcommand, so host's
// own callback can tell it was given.
CLI::App* add_memory_commands(CLI::App& host, CLI::App& vm, Globals& g,
                              std::function<void()>& action);

} // namespace foldctl
