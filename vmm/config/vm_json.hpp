// The VM resource's JSON: the body of POST /vms read straight into a
// VmConfig, and the "config" object of GET /vms/{id}, both from the VM's
// field table (plus the nested balloon model).
#pragma once

#include "vm_config.hpp"

#include <nlohmann/json.hpp>

namespace foldvm {

// Reads kernel, mem_mib, vcpus, cmdline, initrd, dedup_domain, guest_cpl
// and balloon (an object or null). Throws FieldError: 400 kinds for unknown
// fields, wrong types and a missing kernel, 422 for out-of-range values.
// Only the paths are set; loading the files is the caller's part.
VmConfig read_vm_config(const nlohmann::json& body);

nlohmann::json to_json(const VmConfig& config);

} // namespace foldvm
