// JSON responses and the JSON views shared by several resources.
#pragma once

#include "api_context.hpp"
#include "api_types.hpp"

#include <nlohmann/json.hpp>

namespace foldvm::api {

// Serializes with invalid UTF-8 (guest console bytes) replaced, not thrown.
ApiResponse json_response(int status, const nlohmann::json& body);

// The VM object of GET /vms/{id}; `detail` adds memory and dedup figures.
nlohmann::json vm_json(ApiContext& ctx, uint64_t id, Vm& vm, bool detail);

} // namespace foldvm::api
