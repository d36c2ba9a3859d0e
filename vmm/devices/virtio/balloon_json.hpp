// JSON views of the balloon with Firecracker's field names, for the REST API
// (GET /vms/{id}/balloon and GET /vms/{id}/balloon/statistics) and tools.
#pragma once

#include "balloon.hpp"
#include "balloon_config.hpp"

#include <nlohmann/json.hpp>

namespace foldvm {

// {"amount_mib", "deflate_on_oom", "stats_polling_interval_s",
//  "free_page_reporting"}
nlohmann::json to_json(const BalloonConfig& config);

// Firecracker's statistics object: target_pages, actual_pages, target_mib,
// actual_mib and the guest's numbers (swap_in, swap_out, major_faults,
// minor_faults, free_memory, total_memory, available_memory, disk_caches,
// hugetlb_allocations, hugetlb_failures, ...; only those the guest sent),
// plus foldvm's own under "host": inflated/deflated/reported/invalid page
// counters, stats_age_s, driver_ok, needs_reset, device_error.
nlohmann::json to_json(const BalloonStats& stats);

} // namespace foldvm
