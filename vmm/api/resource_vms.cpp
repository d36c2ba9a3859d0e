// /vms: create, list, inspect, change state, remove, read the console.
#include "json_input.hpp"
#include "json_output.hpp"
#include "router.hpp"
#include "routes.hpp"
#include "vm_lookup.hpp"

#include "common/error.hpp"
#include "common/procfs.hpp"
#include "vmm/abi/foldvm_abi.h"
#include "vmm/boot/elf_loader.hpp"
#include "vmm/config/vm_json.hpp"
#include "vmm/sharing/stats_json.hpp"

#include <sys/stat.h>

#include <thread>

namespace foldvm::api {

namespace {

constexpr uint64_t kMaxImageBytes = 256ull << 20;
constexpr size_t kConsoleDefaultTail = 100, kConsoleMaxTail = 1000;
constexpr auto kStopTimeout = std::chrono::seconds(10);

Blob read_file_field(const std::string& path, const std::string& field) {
    if (path.empty() || path[0] != '/')
        throw ApiError(422, "field '" + field + "' must be an absolute path, got '" + path + "'",
                       field);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        throw ApiError(422,
                       "field '" + field + "': cannot open '" + path + "': " + std::strerror(errno),
                       field);
    // Checked before opening: opening a FIFO would block the worker.
    if (!S_ISREG(st.st_mode))
        throw ApiError(422, "field '" + field + "': '" + path + "' is not a regular file", field);
    try {
        return std::make_shared<const std::vector<uint8_t>>(read_image_file(path, kMaxImageBytes));
    } catch (const InvalidInput& e) {
        throw ApiError(422, "field '" + field + "': " + e.what(), field);
    }
}

// Waits until the VM has finished (its vCPU threads are leaving).
bool wait_finished(Vm& vm, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!vm.finished()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

ApiResponse create_vm(ApiContext& ctx, const ApiRequest& req, const RouteParams&) {
    // The body is read straight into the config; its field table decides
    // what is unknown (400), of the wrong type (400) or out of range (422).
    VmConfig cfg = read_vm_config(parse_json_object(req));
    cfg.image = read_file_field(cfg.kernel_path, "kernel");
    if (!cfg.initrd_path.empty()) cfg.initrd = read_file_field(cfg.initrd_path, "initrd");
    ctx.dedup.prepare(cfg);
    ctx.overcommit.prepare(cfg);
    cfg.validate();

    VmEvents events;
    events.diagnostic = [log = ctx.log](uint64_t index, const std::string& text) {
        if (log) log("vm index " + std::to_string(index) + " crashed: " + text);
    };

    uint64_t id;
    {
        std::lock_guard lock(ctx.create_mutex);
        if (ctx.host.vms().size() >= ctx.max_vms)
            throw ApiError(409, "VM limit reached (" + std::to_string(ctx.max_vms) +
                                    "); remove a VM first");
        cfg.index = ctx.next_index.fetch_add(1);
        try {
            id = ctx.host.create_vm(cfg, events);
        } catch (const InvalidInput& e) {
            // The image is parsed while the VM is built.
            throw ApiError(422, std::string("field 'kernel': ") + e.what(), "kernel");
        }
    }
    {
        std::lock_guard lock(ctx.meta_mutex);
        VmMeta meta;
        if (!cfg.initrd_path.empty()) meta.initrd_path = cfg.initrd_path;
        meta.created_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
        ctx.meta[id] = meta;
    }
    ctx.changed();
    auto vm = ctx.host.vm(id);
    if (!vm) throw ApiError(409, "VM " + std::to_string(id) + " was removed while starting");
    vm->start();
    ApiResponse r = json_response(201, vm_json(ctx, id, *vm, true));
    r.headers.emplace_back("Location", "/vms/" + std::to_string(id));
    return r;
}

ApiResponse list_vms(ApiContext& ctx, const ApiRequest&, const RouteParams&) {
    nlohmann::json list = nlohmann::json::array();
    for (auto& [id, vm] : ctx.host.vms())
        list.push_back(vm_json(ctx, id, *vm, false));
    return json_response(200, {{"vms", std::move(list)}});
}

ApiResponse show_vm(ApiContext& ctx, const ApiRequest&, const RouteParams& params) {
    uint64_t id;
    auto vm = find_vm(ctx, params, id);
    return json_response(200, vm_json(ctx, id, *vm, true));
}

ApiResponse set_state(ApiContext& ctx, const ApiRequest& req, const RouteParams& params) {
    uint64_t id;
    auto vm = find_vm(ctx, params, id);
    nlohmann::json body = parse_json_object(req);
    FieldReader f(body);
    auto target = f.string("state", 64);
    f.finish();
    if (!target) throw ApiError(400, "missing required field 'state'", "state");
    const std::string& want = *target;
    if (want != "running" && want != "paused" && want != "stopped")
        throw ApiError(422,
                       "field 'state' must be one of running, paused, stopped; got '" + want + "'",
                       "state");

    VmState now = vm->state();
    auto illegal = [&] {
        return ApiError(409,
                        "cannot change VM " + std::to_string(id) + " from " + to_string(now) +
                            " to " + want,
                        "state");
    };
    if (want == "running") {
        if (now == VmState::Created)
            vm->start();
        else if (now == VmState::Paused)
            vm->resume();
        else if (now != VmState::Running)
            throw illegal();
    } else if (want == "paused") {
        if (now == VmState::Running)
            vm->pause(); // returns once every vCPU is parked
        else if (now != VmState::Paused) {
            throw illegal();
        }
    } else { // stopped
        if (now == VmState::Exited || now == VmState::Crashed) throw illegal();
        if (now == VmState::Created) // no vCPU thread would finish it
            throw ApiError(409,
                           "VM " + std::to_string(id) +
                               " was never started; remove it with DELETE instead",
                           "state");
        if (now != VmState::Stopped) {
            vm->stop();
            if (!wait_finished(*vm, kStopTimeout))
                throw ApiError(500, "VM " + std::to_string(id) + " did not stop within 10 s");
        }
    }
    ctx.changed();
    return json_response(200, vm_json(ctx, id, *vm, false));
}

ApiResponse delete_vm(ApiContext& ctx, const ApiRequest&, const RouteParams& params) {
    uint64_t id = parse_vm_id(params);
    if (!ctx.host.remove_vm(id)) throw ApiError(404, "no VM with id " + std::to_string(id), "id");
    ctx.changed();
    {
        std::lock_guard lock(ctx.meta_mutex);
        ctx.meta.erase(id);
    }
    ApiResponse r;
    r.status = 204;
    r.content_type.clear();
    return r;
}

ApiResponse console(ApiContext& ctx, const ApiRequest&, const RouteParams& params) {
    uint64_t id;
    auto vm = find_vm(ctx, params, id);
    size_t tail = kConsoleDefaultTail;
    if (auto it = params.query.find("tail"); it != params.query.end())
        tail = query_integer(it->second, "tail", 0, kConsoleMaxTail);
    return json_response(200, {{"id", id}, {"lines", vm->console_tail(tail)}});
}

} // namespace

nlohmann::json vm_json(ApiContext& ctx, uint64_t id, Vm& vm, bool detail) {
    const VmConfig& c = vm.config();
    VmState state = vm.state();
    auto meta = ctx.vm_meta(id);
    nlohmann::json j = {
        {"id", id},
        {"state", to_string(state)},
        {"exit_code", nullptr},
        {"crash_reason", nullptr},
        {"guest", vm.is_linux() ? "linux" : "unikernel"},
        {"boot_marker_ms",
         vm.boot_marker_ms() < 0 ? nlohmann::json(nullptr) : nlohmann::json(vm.boot_marker_ms())},
        {"config", to_json(c)},
    };
    if (vm.finished()) {
        j["exit_code"] = vm.exit_code();
        if (state == VmState::Crashed) j["crash_reason"] = vm.crash_reason();
    }
    if (meta) j["created_unix_ms"] = meta->created_unix_ms;
    if (detail) {
        j["memory"] = {
            {"mem_bytes", vm.memory().size()},
            {"resident_bytes",
             procfs::resident_pages(vm.memory().host_base(), vm.memory().size()) * kPageSize}};
        auto rs = ctx.dedup.stats(id);
        j["dedup"] = rs ? to_json(*rs) : nlohmann::json(nullptr);
    }
    return j;
}

void register_vm_routes(Router& r) {
    r.add("POST", "/vms", create_vm, {.blocking = true});
    r.add("GET", "/vms", list_vms);
    r.add("GET", "/vms/{id}", show_vm, {.blocking = true}); // mincore(), engine lock
    r.add("PUT", "/vms/{id}/state", set_state, {.blocking = true});
    r.add("DELETE", "/vms/{id}", delete_vm, {.blocking = true});
    r.add("GET", "/vms/{id}/console", console, {.query = {"tail"}});
}

} // namespace foldvm::api
