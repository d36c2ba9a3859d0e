// /metrics: Prometheus text exposition format (version 0.0.4).
#include "host_memory.hpp"
#include "json_output.hpp"
#include "router.hpp"
#include "routes.hpp"

#include "vmm/devices/virtio/balloon.hpp"
#include "vmm/memory/process_memory.hpp"
#include "vmm/sharing/stats_json.hpp"
#include "vmm/version.hpp"

#include <charconv>
#include <map>

namespace foldvm::api {

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricsWriter {
  public:
    void family(const std::string& name, const char* type, const std::string& help) {
        out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    }
    template <typename T> void sample(const std::string& name, const Labels& labels, T value) {
        out_ += name;
        if (!labels.empty()) {
            out_ += '{';
            for (size_t i = 0; i < labels.size(); ++i) {
                if (i) out_ += ',';
                out_ += labels[i].first + "=\"" + escape(labels[i].second) + '"';
            }
            out_ += '}';
        }
        out_ += ' ';
        char buf[64];
        auto res = std::to_chars(buf, buf + sizeof buf, value);
        out_.append(buf, res.ptr);
        out_ += '\n';
    }
    template <typename T>
    void single(const std::string& name, const char* type, const std::string& help, T value) {
        family(name, type, help);
        sample(name, {}, value);
    }
    std::string take() { return std::move(out_); }

  private:
    static std::string escape(const std::string& v) {
        std::string o;
        for (char c : v) {
            if (c == '\\')
                o += "\\\\";
            else if (c == '"')
                o += "\\\"";
            else if (c == '\n')
                o += "\\n";
            else
                o += c;
        }
        return o;
    }
    std::string out_;
};

// How the statistics of GET /dedup ("stats") appear as metrics. A statistic
// missing here still gets exported, as a gauge foldvm_dedup_<name>.
struct StatInfo {
    std::string metric;
    const char* type;
    const char* help;
    double scale = 1;       // e.g. ms -> s
    const char* label = ""; // for object- or string-valued statistics
};

const std::map<std::string, StatInfo, std::less<>>& stat_info() {
    static const std::map<std::string, StatInfo, std::less<>> m = {
        {"pages_shared",
         {"foldvm_dedup_pages_shared", "gauge",
          "Pool pages in use (one copy of each merged content)."}},
        {"pages_sharing",
         {"foldvm_dedup_pages_sharing", "gauge",
          "Extra guest pages sharing a pool page (pages saved)."}},
        {"pages_unshared",
         {"foldvm_dedup_pages_unshared", "gauge",
          "Pages in the unstable tree: candidates not yet merged."}},
        {"pages_volatile",
         {"foldvm_dedup_pages_volatile", "gauge",
          "Pages skipped because they changed too recently."}},
        {"pages_scanned",
         {"foldvm_dedup_pages_scanned_total", "counter", "Pages visited by the scanner."}},
        {"pages_hashed",
         {"foldvm_dedup_pages_hashed_total", "counter", "Pages hashed by the scanner."}},
        {"full_scans",
         {"foldvm_dedup_full_scans_total", "counter", "Completed passes over all guest RAM."}},
        {"zero_pages",
         {"foldvm_dedup_zero_pages", "gauge", "Zero pages released with MADV_DONTNEED."}},
        {"general_profit",
         {"foldvm_dedup_general_profit_bytes", "gauge",
          "Bytes saved minus the engine's metadata bytes."}},
        {"stable_node_chains",
         {"foldvm_dedup_stable_node_chains", "gauge",
          "Stable-tree chains (contents over max_page_sharing)."}},
        {"stable_node_dups",
         {"foldvm_dedup_stable_node_dups", "gauge", "Duplicate stable nodes in chains."}},
        {"cow_breaks",
         {"foldvm_dedup_cow_breaks_total", "counter",
          "Shared pages a guest wrote to (copy on write)."}},
        {"mappings_used",
         {"foldvm_dedup_mappings_used", "gauge",
          "Memory mappings of this process (the mapping budget in use)."}},
        {"mappings_limit",
         {"foldvm_dedup_mappings_limit", "gauge", "Mapping budget of the engine."}},
        {"mappings_exhausted",
         {"foldvm_dedup_mappings_exhausted", "gauge",
          "1 if merging stopped because the mapping budget ran out."}},
        {"merge_batches",
         {"foldvm_dedup_merge_batches_total", "counter",
          "Merge batches executed under one freeze."}},
        {"merge_failures",
         {"foldvm_dedup_merge_failures_total", "counter",
          "Merge candidates whose bytes changed before the freeze."}},
        {"freeze_wait_us_p99",
         {"foldvm_dedup_freeze_wait_us_p99", "gauge",
          "99th percentile of freeze durations in microseconds."}},
        {"pool_slots_reused",
         {"foldvm_dedup_pool_slots_reused_total", "counter", "Pool slots freed and reused."}},
        {"metadata_bytes",
         {"foldvm_dedup_metadata_bytes", "gauge",
          "Bytes of engine metadata (page and stable-node records)."}},
        {"pool_bytes",
         {"foldvm_dedup_pool_bytes", "gauge", "Memory held by the pool's single copies."}},
        {"pages_tracked",
         {"foldvm_dedup_pages_tracked", "gauge", "Guest pages registered with the engine."}},
        {"pages_discarded",
         {"foldvm_dedup_pages_discarded_total", "counter",
          "Pages released by discards (balloon, free page reports)."}},
        {"engine_cpu_s",
         {"foldvm_dedup_engine_cpu_seconds_total", "counter",
          "CPU time of the dedup engine thread."}},
        {"phase_ms",
         {"foldvm_dedup_phase_seconds_total", "counter", "Wall time of the dedup engine per phase.",
          0.001, "phase"}},
        {"freeze_mode",
         {"foldvm_dedup_freeze_mode", "gauge",
          "How merges freeze guest pages; 1 for the current mode.", 1, "mode"}},
    };
    return m;
}

// Exports every statistic of the JSON view, so new statistics appear too.
void write_dedup_stats(MetricsWriter& w, const nlohmann::json& stats) {
    for (auto it = stats.begin(); it != stats.end(); ++it) {
        const std::string& key = it.key();
        if (key == "vms") continue; // per VM, below
        auto known = stat_info().find(key);
        StatInfo info = known != stat_info().end()
                            ? known->second
                            : StatInfo{"foldvm_dedup_" + key, "gauge",
                                       "Dedup statistic of GET /dedup (see stats)."};
        if (info.label[0] == 0) info.label = "name";
        const nlohmann::json& v = *it;
        if (v.is_number() || v.is_boolean()) {
            w.family(info.metric, info.type, info.help);
            w.sample(info.metric, {},
                     (v.is_boolean() ? (v.get<bool>() ? 1.0 : 0.0) : v.get<double>()) * info.scale);
        } else if (v.is_string()) {
            w.family(info.metric, info.type, info.help);
            w.sample(info.metric, {{info.label, v.get<std::string>()}}, 1);
        } else if (v.is_object()) {
            w.family(info.metric, info.type, info.help);
            for (auto e = v.begin(); e != v.end(); ++e)
                if (e->is_number())
                    w.sample(info.metric, {{info.label, e.key()}}, e->get<double>() * info.scale);
        }
    }
}

// Per-VM balloon figures, for VMs that have a balloon.
void write_balloon_metrics(MetricsWriter& w,
                           const std::vector<std::pair<uint64_t, std::shared_ptr<Vm>>>& vms) {
    std::vector<std::pair<std::string, BalloonStats>> balloons;
    for (auto& [id, vm] : vms)
        if (BalloonDevice* b = vm->balloon()) balloons.emplace_back(std::to_string(id), b->stats());
    w.family("foldvm_vm_balloon_target_pages", "gauge",
             "Pages the balloon device asks a VM's driver to hold (num_pages).");
    for (const auto& [vm, s] : balloons)
        w.sample("foldvm_vm_balloon_target_pages", {{"vm", vm}}, s.target_pages);
    w.family("foldvm_vm_balloon_actual_pages", "gauge",
             "Pages a VM's balloon driver reports it holds (actual).");
    for (const auto& [vm, s] : balloons)
        w.sample("foldvm_vm_balloon_actual_pages", {{"vm", vm}}, s.actual_pages);
    w.family("foldvm_vm_balloon_pages_discarded_total", "counter",
             "Guest pages released to the host by a VM's balloon, by source (inflate, "
             "free_page_reporting).");
    for (const auto& [vm, s] : balloons) {
        w.sample("foldvm_vm_balloon_pages_discarded_total", {{"vm", vm}, {"source", "inflate"}},
                 s.inflated_pages);
        w.sample("foldvm_vm_balloon_pages_discarded_total",
                 {{"vm", vm}, {"source", "free_page_reporting"}}, s.reported_pages);
    }
    w.family("foldvm_vm_balloon_pages_deflated_total", "counter",
             "Pages a VM's balloon driver took back (deflate).");
    for (const auto& [vm, s] : balloons)
        w.sample("foldvm_vm_balloon_pages_deflated_total", {{"vm", vm}}, s.deflated_pages);
}

const VmState kStates[] = {VmState::Created, VmState::Running, VmState::Paused,
                           VmState::Exited,  VmState::Crashed, VmState::Stopped};

ApiResponse metrics(ApiContext& ctx, const ApiRequest&, const RouteParams&) {
    MetricsWriter w;
    w.family("foldvm_build_info", "gauge", "Version of this foldvm; always 1.");
    w.sample("foldvm_build_info", {{"version", kVersion}}, 1);
    w.single("foldvm_uptime_seconds", "gauge", "Seconds since the API server started.",
             std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.started).count());

    auto vms = ctx.host.vms();
    std::map<VmState, uint64_t> by_state;
    for (auto& [id, vm] : vms)
        ++by_state[vm->state()];
    w.family("foldvm_vms", "gauge", "VMs by state.");
    for (VmState s : kStates)
        w.sample("foldvm_vms", {{"state", to_string(s)}}, by_state[s]);

    // Host and process memory.
    MemInfo mem = read_meminfo();
    w.single("foldvm_host_memory_total_bytes", "gauge", "Host RAM (MemTotal).", mem.total_bytes);
    w.single("foldvm_host_memory_free_bytes", "gauge", "Free host RAM (MemFree).", mem.free_bytes);
    w.single("foldvm_host_memory_available_bytes", "gauge", "Available host RAM (MemAvailable).",
             mem.available_bytes);
    w.single("foldvm_process_resident_bytes", "gauge", "Resident memory of this foldvm process.",
             process_rss_kib() << 10);
    w.single("foldvm_host_max_map_count", "gauge", "vm.max_map_count of the host.",
             max_map_count());

    // Per VM. Resident bytes come from mincore() over the VM's guest RAM.
    w.family("foldvm_vm_memory_bytes", "gauge", "Guest RAM size of a VM.");
    for (auto& [id, vm] : vms)
        w.sample("foldvm_vm_memory_bytes", {{"vm", std::to_string(id)}}, vm->memory().size());
    w.family("foldvm_vm_resident_bytes", "gauge",
             "Resident guest RAM of a VM (pages with a present mapping, mincore()); pages "
             "shared through dedup count in every sharer.");
    uint64_t guest_total = 0, guest_resident = 0;
    for (auto& [id, vm] : vms) {
        uint64_t r = resident_bytes(vm->memory().host_base(), vm->memory().size());
        guest_resident += r;
        guest_total += vm->memory().size();
        w.sample("foldvm_vm_resident_bytes", {{"vm", std::to_string(id)}}, r);
    }
    w.family("foldvm_vm_state", "gauge", "1 for the current state of a VM.");
    for (auto& [id, vm] : vms)
        w.sample("foldvm_vm_state", {{"vm", std::to_string(id)}, {"state", to_string(vm->state())}},
                 1);
    write_balloon_metrics(w, vms);
    w.single("foldvm_guest_memory_bytes", "gauge", "Guest RAM of all VMs.", guest_total);
    w.single("foldvm_guest_resident_bytes", "gauge", "Resident guest RAM of all VMs (mincore()).",
             guest_resident);

    // Dedup.
    w.family("foldvm_dedup_mode", "gauge", "Page-sharing mode; 1 for the active one.");
    for (const auto& [mode, name] : kDedupModes)
        w.sample("foldvm_dedup_mode", {{"mode", name}}, ctx.dedup.mode() == mode ? 1 : 0);
    if (ctx.dedup.builtin()) {
        dedup::DedupConfig cfg = ctx.dedup.config();
        dedup::DedupStats stats = *ctx.dedup.stats();
        w.family("foldvm_dedup_config", "gauge", "Current value of each dedup knob.");
        for (const auto& k : dedup::DedupConfig::knobs())
            w.sample("foldvm_dedup_config", {{"knob", k.name}}, cfg.get(k.name));
        write_dedup_stats(w, to_json(stats, false));

        std::map<std::string, const dedup::RegionStats*> regions;
        for (const auto& r : stats.regions)
            regions[r.name] = &r;
        struct PerVm {
            const char* metric;
            const char* type;
            const char* help;
            uint64_t dedup::RegionStats::*field;
        };
        const PerVm per_vm[] = {
            {"foldvm_vm_dedup_pages", "gauge", "Guest pages of a VM tracked by dedup.",
             &dedup::RegionStats::pages},
            {"foldvm_vm_dedup_pages_merged", "gauge", "Pages of a VM mapped to a pool copy.",
             &dedup::RegionStats::pages_merged},
            {"foldvm_vm_dedup_pages_unshared", "gauge", "Pages of a VM in the unstable tree.",
             &dedup::RegionStats::pages_unshared},
            {"foldvm_vm_dedup_pages_volatile", "gauge", "Recently written pages of a VM.",
             &dedup::RegionStats::pages_volatile},
            {"foldvm_vm_dedup_zero_pages", "gauge", "Zero pages of a VM released by dedup.",
             &dedup::RegionStats::zero_pages},
            {"foldvm_vm_dedup_cow_breaks_total", "counter", "Copy-on-write breaks in a VM.",
             &dedup::RegionStats::cow_breaks},
        };
        for (const auto& p : per_vm) {
            w.family(p.metric, p.type, p.help);
            for (auto& [id, vm] : vms) {
                auto it = regions.find("vm" + std::to_string(id));
                if (it != regions.end())
                    w.sample(p.metric, {{"vm", std::to_string(id)}}, it->second->*p.field);
            }
        }
    } else if (ctx.dedup.mode() == DedupMode::Ksm) {
        for (const auto& [name, value] : read_ksm_counters().values) {
            bool counter = name == "full_scans" || name == "pages_scanned";
            std::string metric = "foldvm_ksm_" + name + (counter ? "_total" : "");
            w.single(metric, counter ? "counter" : "gauge",
                     "Host KSM /sys/kernel/mm/ksm/" + name + ".", value);
        }
    }

    // The API itself.
    w.family("foldvm_api_responses_total", "counter", "API responses by status class.");
    for (size_t c = 1; c < ctx.responses.size(); ++c)
        w.sample("foldvm_api_responses_total", {{"code", std::to_string(c) + "xx"}},
                 ctx.responses[c].load(std::memory_order_relaxed));
    w.single("foldvm_api_connections", "gauge", "Open API connections.",
             ctx.connections_open.load());
    w.single("foldvm_api_connections_total", "counter", "API connections accepted.",
             ctx.connections_total.load());
    w.single("foldvm_api_connections_rejected_total", "counter",
             "API connections refused because of the connection limit.",
             ctx.connections_rejected.load());

    ApiResponse r;
    r.status = 200;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = w.take();
    return r;
}

} // namespace

void register_metrics_routes(Router& r) {
    // Off the event loop: mincore() over all guest RAM, and the engine lock.
    r.add("GET", "/metrics", metrics, {.blocking = true});
}

} // namespace foldvm::api
