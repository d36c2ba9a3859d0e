// `foldvm serve`: a daemon hosting VMs created through the REST API.
#pragma once

#include "overcommit_options.hpp"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace foldvm::cli {

struct ServeOptions {
    std::string api_sock;
    std::string dedup_mode = "builtin";
    std::vector<std::string> dedup_opts;
    unsigned api_threads = 0;
    size_t max_vms = 4096;
    OvercommitOptions overcommit;
};

// Registers `serve`; its exit status is stored in `result`.
void add_serve_command(CLI::App& app, ServeOptions& opts, int& result);
int serve_command(const ServeOptions& opts);

} // namespace foldvm::cli
