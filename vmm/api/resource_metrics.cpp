// /metrics: Prometheus text exposition format (version 0.0.4).
#include "host_memory.hpp"
#include "json_output.hpp"
#include "memory_figures.hpp"
#include "router.hpp"
#include "routes.hpp"

#include "common/procfs.hpp"
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

// Every engine statistic, named as dedup/stats.hpp declares it.
void write_dedup_stats(MetricsWriter& w, const dedup::DedupStats& stats) {
    dedup::for_each_stat(stats, [&](const dedup::StatInfo& s, const auto& v) {
        using T = std::decay_t<decltype(v)>;
        w.family(s.metric, to_string(s.type), s.help);
        if constexpr (std::is_same_v<T, std::string>) {
            w.sample(s.metric, {{s.label, v}}, 1);
        } else if constexpr (std::is_same_v<T, dedup::PhaseTimes>) {
            for (const auto& [key, value] : v)
                w.sample(s.metric, {{s.label, key}}, value * s.scale);
        } else {
            w.sample(s.metric, {}, static_cast<double>(v) * s.scale);
        }
    });
}

// Calls f(info, value) for each per-VM statistic /metrics exports: the
// numeric ones that have a metric name.
template <typename F> void for_each_vm_metric(const dedup::RegionStats& r, F&& f) {
    dedup::for_each_stat(r, [&](const dedup::StatInfo& s, const auto& v) {
        if constexpr (std::is_arithmetic_v<std::decay_t<decltype(v)>>)
            if (s.metric[0] != 0) f(s, v);
    });
}

// Per-VM engine statistics: one family per statistic, one sample per VM.
void write_region_stats(MetricsWriter& w,
                        const std::vector<std::pair<uint64_t, std::shared_ptr<Vm>>>& vms,
                        const std::vector<dedup::RegionStats>& regions) {
    struct Family {
        dedup::StatInfo info;
        std::vector<std::pair<std::string, uint64_t>> samples; // vm id, value
    };
    std::vector<Family> families;
    for_each_vm_metric(dedup::RegionStats{}, [&](const dedup::StatInfo& s, uint64_t) {
        families.push_back({s, {}});
    });
    std::map<std::string, const dedup::RegionStats*> by_name;
    for (const auto& r : regions)
        by_name[r.name] = &r;
    for (auto& [id, vm] : vms) {
        auto it = by_name.find("vm" + std::to_string(id));
        if (it == by_name.end()) continue;
        std::string vm_id = std::to_string(id); // clang < 16 cannot capture a binding
        size_t k = 0;
        for_each_vm_metric(*it->second, [&](const dedup::StatInfo&, uint64_t v) {
            families[k++].samples.emplace_back(vm_id, v);
        });
    }
    for (const auto& f : families) {
        w.family(f.info.metric, to_string(f.info.type), f.info.help);
        for (const auto& [vm, value] : f.samples)
            w.sample(f.info.metric, {{"vm", vm}}, value);
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

// Figures of one struct as metrics: one family per metric name (figures of
// a family are adjacent in their list), one sample per (subject, figure).
// `subjects` pairs each subject's labels with its stats.
template <class S>
void write_figure_metrics(MetricsWriter& w, std::span<const Figure<S>> figures,
                          const std::vector<std::pair<Labels, const S*>>& subjects) {
    for (size_t i = 0; i < figures.size();) {
        size_t end = i;
        while (end < figures.size() && std::string_view(figures[end].metric) == figures[i].metric)
            ++end;
        w.family(figures[i].metric, to_string(figures[i].type), figures[i].help);
        for (const auto& [labels, stats] : subjects)
            for (size_t k = i; k < end; ++k) {
                Labels l = labels;
                if (figures[k].label[0]) l.emplace_back(figures[k].label, figures[k].label_value);
                w.sample(figures[k].metric, l, figures[k].value(*stats) * figures[k].scale);
            }
        i = end;
    }
}

const MemoryState kMemoryStates[] = {MemoryState::High, MemoryState::Soft, MemoryState::Hard,
                                     MemoryState::Low};

// The overcommit figures (vmm/api/memory_figures.hpp): host, tiers,
// governor and per VM. Nothing but foldvm_memory_enabled with overcommit off.
void write_memory_metrics(MetricsWriter& w, ApiContext& ctx,
                          const std::vector<std::pair<uint64_t, std::shared_ptr<Vm>>>& vms) {
    bool on = ctx.overcommit.enabled();
    w.single("foldvm_memory_enabled", "gauge", "1 while the pager and the governor run.",
             on ? 1 : 0);
    if (!on) return;
    HostMemoryStats host = ctx.overcommit.host_stats();
    OvercommitConfig cfg = ctx.overcommit.config();
    w.family("foldvm_memory_state", "gauge",
             "Governor state by free budget (high, soft, hard, low); 1 for the current one.");
    for (MemoryState s : kMemoryStates)
        w.sample("foldvm_memory_state", {{"state", to_string(s)}}, host.state == s ? 1 : 0);
    w.family("foldvm_memory_config", "gauge", "Current value of each numeric overcommit option.");
    for (const auto& f : OvercommitConfig::fields())
        if (f.type() != model::FieldType::String)
            w.sample("foldvm_memory_config", {{"option", f.name}},
                     f.type() == model::FieldType::Boolean ? uint64_t{f.get_bool(cfg)}
                                                           : f.get_integer(cfg));
    write_figure_metrics<HostMemoryStats>(w, host_memory_figures(), {{{}, &host}});
    write_figure_metrics<TierStats>(
        w, tier_figures(),
        {{{{"tier", "compressed"}}, &host.compressed}, {{{"tier", "swap"}}, &host.swap}});
    write_figure_metrics<GovernorCounters>(w, governor_figures(), {{{}, &host.governor}});

    std::vector<VmMemoryStats> stats;
    std::vector<std::string> ids;
    stats.reserve(vms.size());
    for (const auto& [id, vm] : vms)
        if (auto s = ctx.overcommit.vm_stats(id)) {
            stats.push_back(*s);
            ids.push_back(std::to_string(id));
        }
    std::vector<std::pair<Labels, const VmMemoryStats*>> subjects;
    for (size_t i = 0; i < stats.size(); ++i)
        subjects.push_back({{{"vm", ids[i]}}, &stats[i]});
    w.family("foldvm_vm_memory_parked", "gauge", "1 for a parked VM.");
    for (size_t i = 0; i < stats.size(); ++i)
        w.sample("foldvm_vm_memory_parked", {{"vm", ids[i]}}, stats[i].state == "parked" ? 1 : 0);
    write_figure_metrics<VmMemoryStats>(w, vm_memory_figures(), subjects);
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
             procfs::max_map_count());

    // Per VM. Resident bytes come from mincore() over the VM's guest RAM.
    w.family("foldvm_vm_memory_bytes", "gauge", "Guest RAM size of a VM.");
    for (auto& [id, vm] : vms)
        w.sample("foldvm_vm_memory_bytes", {{"vm", std::to_string(id)}}, vm->memory().size());
    w.family("foldvm_vm_resident_bytes", "gauge",
             "Resident guest RAM of a VM (pages with a present mapping, mincore()); pages "
             "shared through dedup count in every sharer.");
    uint64_t guest_total = 0, guest_resident = 0;
    for (auto& [id, vm] : vms) {
        uint64_t r =
            procfs::resident_pages(vm->memory().host_base(), vm->memory().size()) * kPageSize;
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
        write_dedup_stats(w, stats);
        write_region_stats(w, vms, stats.regions);
    } else if (ctx.dedup.mode() == DedupMode::Ksm) {
        for (const auto& [name, value] : read_ksm_counters().values) {
            bool counter = name == "full_scans" || name == "pages_scanned";
            std::string metric = "foldvm_ksm_" + name + (counter ? "_total" : "");
            w.single(metric, counter ? "counter" : "gauge",
                     "Host KSM /sys/kernel/mm/ksm/" + name + ".", value);
        }
    }

    write_memory_metrics(w, ctx, vms);

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
