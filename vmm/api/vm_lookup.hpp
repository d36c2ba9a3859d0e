// Resolving the {id} path parameter of /vms/{id}/... to a VM, shared by the
// resources under /vms.
#pragma once

#include "api_context.hpp"
#include "api_types.hpp"

#include <cstdint>
#include <memory>

namespace foldvm::api {

// The decimal VM id of the path; 404 (field "id") unless it is a canonical
// positive integer.
uint64_t parse_vm_id(const RouteParams& params);

// The VM named by the path; 404 (field "id") if there is none. The VM stays
// alive while the returned pointer is held.
std::shared_ptr<Vm> find_vm(ApiContext& ctx, const RouteParams& params, uint64_t& id);

} // namespace foldvm::api
