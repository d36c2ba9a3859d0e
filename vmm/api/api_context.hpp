// What every API handler can reach: the Host, the dedup and overcommit
// services and the API's own bookkeeping (metadata of VMs created through it, counters).
#pragma once

#include "vmm/machine/host.hpp"
#include "vmm/overcommit/overcommit_service.hpp"
#include "vmm/sharing/dedup_service.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace foldvm::api {

// Facts about a VM that VmConfig does not keep (known for VMs created
// through the API).
struct VmMeta {
    std::optional<std::string> initrd_path;
    int64_t created_unix_ms = 0;
};

struct ApiContext {
    ApiContext(Host& h, DedupService& d, OvercommitService& o) : host(h), dedup(d), overcommit(o) {}

    Host& host;
    DedupService& dedup;
    OvercommitService& overcommit;
    std::function<void(const std::string&)> log; // diagnostics for the operator
    size_t max_vms = 4096;

    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

    // Serializes VM creation so the VM limit holds.
    std::mutex create_mutex;
    std::atomic<uint64_t> next_index{0};

    mutable std::mutex meta_mutex;
    std::map<uint64_t, VmMeta> meta;

    std::optional<VmMeta> vm_meta(uint64_t id) const {
        std::lock_guard lock(meta_mutex);
        auto it = meta.find(id);
        if (it == meta.end()) return std::nullopt;
        return it->second;
    }

    // Bumped by every change made through the API (knobs, actions, VMs), so
    // cached views built before it are not served after it.
    std::atomic<uint64_t> generation{0};
    void changed() { generation.fetch_add(1, std::memory_order_acq_rel); }

    // GET /dedup answers from a body at most kDedupCacheTtl old: under many
    // polling clients the engine is asked for its stats ~1000 times a second
    // instead of once per request.
    static constexpr auto kDedupCacheTtl = std::chrono::milliseconds(1);
    std::mutex dedup_cache_mutex;
    std::string dedup_cache_body;
    std::chrono::steady_clock::time_point dedup_cache_time{};
    uint64_t dedup_cache_generation = ~0ull;

    // Requests answered, by status code class (index = status / 100).
    std::array<std::atomic<uint64_t>, 6> responses{};
    std::atomic<uint64_t> connections_open{0};
    std::atomic<uint64_t> connections_total{0};
    std::atomic<uint64_t> connections_rejected{0};
};

} // namespace foldvm::api
