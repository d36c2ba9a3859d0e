// `foldvm run`: launch one or more identical microVMs in this process.
#pragma once

#include "overcommit_options.hpp"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace foldvm::cli {

struct RunOptions {
    std::string guest;
    std::string mem = "32M";
    int vcpus = 1;
    std::string cmdline;
    std::string initrd;
    int count = 1;
    int guest_cpl = 3;
    double timeout_s = 0;
    std::string dedup_mode = "builtin";
    std::string dedup_domain = "default";
    std::vector<std::string> dedup_opts;
    double stats_interval_s = 0;
    std::string api_sock;
    std::string dirty_log = "bitmap";
    bool summary = false;
    bool balloon_enabled = false;           // --balloon given (its value may be empty)
    std::string balloon;                    // --balloon key=value,...
    std::string kernel_decompress = "host"; // Linux: host or guest
    std::vector<std::string> drives;        // --drive key=value,... (repeatable)
    OvercommitOptions overcommit;
};

// Registers `run`; the exit status of the run is stored in `result`.
void add_run_command(CLI::App& app, RunOptions& opts, int& result);
int run_command(const RunOptions& opts);

} // namespace foldvm::cli
