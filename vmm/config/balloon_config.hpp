// Settings of a virtio balloon, with Firecracker's field names so its users
// feel at home: `amount_mib` is the balloon's target size (memory taken away
// from the guest), not the guest's memory. The field table below is the
// model for `foldvm run --balloon`, the REST API's balloon bodies, their
// JSON view and the device's own checks.
#pragma once

#include "common/field_table.hpp"

#include <cstdint>
#include <string>

namespace foldvm {

constexpr uint32_t kMaxStatsPollingIntervalS = 24 * 3600;

struct BalloonConfig {
    uint64_t amount_mib = 0;
    bool deflate_on_oom = false;
    // 0 = no statistics queue; otherwise seconds between statistics requests.
    uint32_t stats_polling_interval_s = 0;
    bool free_page_reporting = false;

    static const model::FieldTable<BalloonConfig>& fields();

    // Throws FieldError (an InvalidInput) when the target exceeds guest RAM
    // or a field is out of range.
    void validate(uint64_t guest_mem_bytes) const;
};

// Parses `foldvm run --balloon` options: comma-separated key=value with keys
// target_mib (alias amount_mib), deflate_on_oom, stats_polling_interval_s,
// free_page_reporting; booleans take 0/1/true/false. "" gives the defaults.
BalloonConfig parse_balloon_options(const std::string& text);

} // namespace foldvm
