// /host: host RAM, guest RAM and the mapping budget.
#include "host_memory.hpp"
#include "json_output.hpp"
#include "router.hpp"
#include "routes.hpp"

#include "vmm/memory/process_memory.hpp"

#include <thread>

namespace foldvm::api {

namespace {

ApiResponse get_host(ApiContext& ctx, const ApiRequest&, const RouteParams&) {
    MemInfo mem = read_meminfo();
    uint64_t guest_configured = 0, guest_resident = 0, running = 0;
    auto vms = ctx.host.vms();
    for (auto& [id, vm] : vms) {
        guest_configured += vm->memory().size();
        guest_resident += resident_bytes(vm->memory().host_base(), vm->memory().size());
        running += vm->state() == VmState::Running || vm->state() == VmState::Paused;
    }
    uint64_t map_max = max_map_count();
    uint64_t limit = map_max, used = process_mapping_count();
    bool exhausted = false;
    if (ctx.dedup.builtin()) {
        auto cfg = ctx.dedup.config();
        if (cfg.mappings_limit) limit = cfg.mappings_limit;
        exhausted = ctx.dedup.stats()->mappings_exhausted;
    }
    nlohmann::json j = {
        {"cpus", std::thread::hardware_concurrency()},
        {"mem_total_bytes", mem.total_bytes},
        {"mem_free_bytes", mem.free_bytes},
        {"mem_available_bytes", mem.available_bytes},
        {"guest_mem_bytes", guest_configured},
        {"guest_resident_bytes", guest_resident},
        {"process_rss_bytes", process_rss_kib() << 10},
        {"vms", vms.size()},
        {"vms_active", running},
        {"dedup_mode", to_string(ctx.dedup.mode())},
        {"mapping_budget",
         {{"max_map_count", map_max}, {"limit", limit}, {"used", used}, {"exhausted", exhausted}}},
    };
    return json_response(200, j);
}

} // namespace

void register_host_routes(Router& r) {
    // Off the event loop: mincore() over all guest RAM, and the engine lock.
    r.add("GET", "/host", get_host, {.blocking = true});
}

} // namespace foldvm::api
