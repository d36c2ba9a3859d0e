// A balloon's settings read from a request body, with Firecracker's field
// names; shared by POST /vms ("balloon") and PUT /vms/{id}/balloon.
#pragma once

#include "vmm/devices/virtio/balloon_config.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace foldvm::api {

// Reads {"amount_mib", "deflate_on_oom", "stats_polling_interval_s",
// "free_page_reporting"} from `object`. amount_mib must be in [0, guest RAM
// in MiB]. Errors (ApiError: 400 wrong type or unknown field, 422 out of
// range) name the field as prefix + name. Absent fields take the CLI's
// defaults (0, false, 0, false), unless `require_firecracker` asks for
// amount_mib and deflate_on_oom like Firecracker's PUT /balloon does.
BalloonConfig read_balloon_config(const nlohmann::json& object, uint64_t guest_mem_mib,
                                  const std::string& prefix, bool require_firecracker);

} // namespace foldvm::api
