// The overcommit model's JSON, from OvercommitConfig's field table: the
// "config" object of GET /host/memory, the body of PATCH /host/memory, and
// the per-VM policy of PUT /vms/{id}/memory.
#pragma once

#include "overcommit_config.hpp"

#include "vmm/overcommit/overcommit_service.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>

namespace foldvm {

// Every OvercommitConfig field, in table order.
nlohmann::json to_json(const OvercommitConfig& config);

// Applies the fields present in `body` over `config`. FieldErrors: unknown
// field or wrong type (400), out of range (422). Live-ness and the
// thresholds' order are OvercommitService::update()'s and validate()'s.
void apply_overcommit_json(OvercommitConfig& config, const nlohmann::json& body);

// PUT /vms/{id}/memory's "limit_mib" and "priority" (ranges from VmConfig's
// mem_limit_mib and mem_priority). "state" is read by the caller.
const model::FieldTable<VmMemoryPolicy>& vm_memory_policy_fields();
void apply_vm_memory_policy_json(VmMemoryPolicy& policy, const nlohmann::json& body);

// The smallest budget PATCH /host/memory accepts besides 0 (auto): 64 MiB
// for foldvm itself plus what the pager cannot evict, the dedup pool and
// metadata (merged pages stay resident) and the compressed tier (it lives in
// memory). Rounded up to a MiB.
constexpr uint64_t kBudgetFloorBaseMib = 64;
uint64_t budget_floor_mib(uint64_t unevictable_bytes);
// Throws FieldError(OutOfRange, "budget_mib") for 0 < budget_mib < floor.
void check_budget_floor(uint64_t budget_mib, uint64_t floor_mib);

} // namespace foldvm
