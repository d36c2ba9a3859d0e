// The balloon resource's JSON, with Firecracker's field names: the body of
// POST /vms "balloon", PUT/PATCH /vms/{id}/balloon and its statistics,
// read straight into BalloonConfig through the model's field table.
#pragma once

#include "balloon_config.hpp"

#include "vmm/devices/virtio/balloon.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace foldvm {

// {"amount_mib", "deflate_on_oom", "stats_polling_interval_s",
//  "free_page_reporting"}
nlohmann::json to_json(const BalloonConfig& config);

// Reads the fields present in `object` over `base`; amount_mib must be in
// [0, guest RAM in MiB]. FieldErrors name the field as prefix + name.
// `only` limits the fields the body may carry (PATCH takes one), `required`
// names those it must (Firecracker's PUT wants amount_mib, deflate_on_oom).
BalloonConfig read_balloon_config(const nlohmann::json& object, uint64_t guest_mem_mib,
                                  BalloonConfig base, const std::string& prefix = "",
                                  const std::vector<std::string>& only = {},
                                  const std::vector<std::string>& required = {});

// Firecracker's statistics object: target_pages, actual_pages, target_mib,
// actual_mib and the guest's numbers (swap_in, swap_out, major_faults,
// minor_faults, free_memory, total_memory, available_memory, disk_caches,
// hugetlb_allocations, hugetlb_failures, ...; only those the guest sent),
// plus foldvm's own under "host": inflated/deflated/reported/invalid page
// counters, stats_age_s, driver_ok, needs_reset, device_error.
nlohmann::json to_json(const BalloonStats& stats);

} // namespace foldvm
