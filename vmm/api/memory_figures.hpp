// Every overcommit figure, declared once: its JSON key, its Prometheus
// metric (with a label value when several figures share one family) and
// its help text. GET /host/memory, GET /vms/{id}/memory, the --stats-interval
// lines and /metrics all walk these lists, so a figure cannot be in one view
// and missing from another (as dedup/stats.hpp does for dedup).
#pragma once

#include "dedup/stats.hpp"
#include "vmm/overcommit/memory_stats.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <span>
#include <variant>

namespace foldvm::api {

using dedup::MetricType;

template <class S>
using FigureMember = std::variant<bool S::*, uint32_t S::*, uint64_t S::*, double S::*>;

template <class S> struct Figure {
    const char* name; // JSON key
    FigureMember<S> member;
    const char* metric; // Prometheus family; figures of one family are adjacent
    MetricType type;
    const char* help;
    const char* label = "";       // label of this figure's sample within its family
    const char* label_value = ""; // ...and its value
    const char* group = "";       // JSON: nested under this key ("" = top level)
    double scale = 1;             // JSON unit -> metric unit (MiB -> bytes, us -> s)

    double value(const S& s) const {
        return std::visit([&](auto m) { return static_cast<double>(s.*m); }, member);
    }
    nlohmann::json json(const S& s) const {
        return std::visit([&](auto m) { return nlohmann::json(s.*m); }, member);
    }
};

// Host-level figures (numbers only: budget_source and state are written
// beside them).
std::span<const Figure<HostMemoryStats>> host_memory_figures();
// Per tier; metrics carry tier="compressed"|"swap".
std::span<const Figure<TierStats>> tier_figures();
// The governor's decisions, all counters.
std::span<const Figure<GovernorCounters>> governor_figures();
// Per VM; metrics carry vm="ID" ("state" is written beside them).
std::span<const Figure<VmMemoryStats>> vm_memory_figures();

// Writes each figure into `out` (under its group, if any).
template <class S>
void write_figures(nlohmann::json& out, std::span<const Figure<S>> figures, const S& s) {
    for (const auto& f : figures) {
        if (f.group[0])
            out[f.group][f.name] = f.json(s);
        else
            out[f.name] = f.json(s);
    }
}

} // namespace foldvm::api
