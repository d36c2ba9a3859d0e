// Host memory overcommit: the budget foldvm keeps its VMs inside, the tiers
// it moves cold guest pages to (cheapest first: share -> balloon -> compress
// -> swap) and the governor's thresholds. One field table is the model for
// `--mem-budget`/`--swap-dir`/`--overcommit-opt`, PATCH /host/memory and the
// "config" object of GET /host/memory.
#pragma once

#include "common/field_table.hpp"

#include <cstdint>
#include <string>

namespace foldvm {

struct OvercommitConfig {
    // Off: no pager, no governor (guest memory is plain anonymous memory).
    bool enabled = true;
    // 0 = derived at start from MemAvailable and /proc/pressure/memory.
    uint64_t budget_mib = 0;
    std::string swap_dir = "/var/tmp";
    std::string compressor = "lz4"; // lz4 | zstd
    // ESX's rule: a page stays compressed only if it fits in this many bytes.
    uint32_t compress_max_bytes = 2048;
    // What lz4 leaves above compress_max_bytes gets a second try with zstd.
    // Off by default: on a 2-core host the second compression cost more CPU
    // than the swap I/O it saved (see the README's design notes).
    bool compress_retry_zstd = false;
    // Caps on the tiers (0 = a quarter of the budget / unlimited).
    uint64_t compressed_max_mib = 0;
    uint64_t swap_max_mib = 0;
    bool swap_encrypt = true;
    // A page not accessed for this long is cold (T).
    uint32_t cold_age_s = 10;
    // Governor states by free memory left in the budget, in per mille of the
    // budget: high >= high_free_pm > soft >= soft_free_pm > hard >=
    // hard_free_pm > low. Thresholds like ESX's 6/4/2/1 %.
    uint32_t high_free_pm = 60;
    uint32_t soft_free_pm = 40;
    uint32_t hard_free_pm = 20;
    // Pages brought back with one fault: the faulting page's neighbours that
    // were evicted with it.
    uint32_t fault_around_pages = 16;
    uint32_t governor_interval_ms = 20;

    static const model::FieldTable<OvercommitConfig>& fields();
    // Field ranges plus the thresholds' order; FieldError on the first
    // problem.
    void validate() const;
};

// `--overcommit-opt KEY=VALUE` list ("" gives the defaults).
OvercommitConfig parse_overcommit_options(const std::string& text);

} // namespace foldvm
