// foldctl vm balloon / vm balloon-stats: show and move a VM's virtio balloon
// through /vms/{id}/balloon.
#pragma once

#include "api_call.hpp"

#include <CLI/CLI.hpp>

#include <functional>

namespace foldctl {

// Adds the subcommands to `vm`; a parsed one sets `action`.
void add_balloon_commands(CLI::App& vm, const Globals& g, std::function<void()>& action);

} // namespace foldctl
