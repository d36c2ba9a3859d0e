// One registration function per API resource, each in its own file.
#pragma once

namespace foldvm::api {

class Router;

void register_vm_routes(Router& router);          // resource_vms.cpp
void register_balloon_routes(Router& router);     // resource_balloon.cpp
void register_dedup_routes(Router& router);       // resource_dedup.cpp
void register_host_routes(Router& router);        // resource_host.cpp
void register_host_memory_routes(Router& router); // resource_host_memory.cpp
void register_vm_memory_routes(Router& router);   // resource_vm_memory.cpp
void register_metrics_routes(Router& router);     // resource_metrics.cpp
void register_meta_routes(Router& router);        // resource_meta.cpp (version, healthz)

} // namespace foldvm::api
