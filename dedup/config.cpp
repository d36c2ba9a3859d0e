#include "config.hpp"

namespace foldvm::dedup {

const DedupConfig::Knobs& DedupConfig::knobs() {
    using C = DedupConfig;
    static const Knobs table(
        "dedup knob",
        {
            {.name = "run",
             .member = &C::run,
             .min = 0,
             .max = 2,
             .doc = "0 = stop, 1 = run, 2 = unmerge everything",
             .live = true},
            {.name = "pages_to_scan",
             .member = &C::pages_to_scan,
             .min = 1,
             .max = 10'000'000,
             .unit = "pages",
             .doc = "pages visited per wake-up",
             .live = true},
            {.name = "sleep_millisecs",
             .member = &C::sleep_millisecs,
             .min = 0,
             .max = 60'000,
             .unit = "ms",
             .doc = "sleep between wake-ups",
             .live = true},
            {.name = "max_page_sharing",
             .member = &C::max_page_sharing,
             .min = 2,
             .max = 1u << 20,
             .unit = "pages",
             .doc = "sharers per pool copy",
             .live = true},
            {.name = "use_zero_pages",
             .member = &C::use_zero_pages,
             .min = 0,
             .max = 1,
             .doc = "merge zero pages with MADV_DONTNEED",
             .live = true},
            {.name = "volatile_passes",
             .member = &C::volatile_passes,
             .min = 0,
             .max = 1000,
             .unit = "passes",
             .doc = "skip pages written within this many passes",
             .live = true},
            {.name = "max_cpu_percent",
             .member = &C::max_cpu_percent,
             .min = 1,
             .max = 100,
             .unit = "%",
             .doc = "CPU cap of the dedup thread",
             .live = true},
            {.name = "advisor_target_scan_time_s",
             .member = &C::advisor_target_scan_time_s,
             .min = 0,
             .max = 86400,
             .unit = "s",
             .doc = "target full-scan time; 0 = off",
             .live = true},
            {.name = "merge_batch_pages",
             .member = &C::merge_batch_pages,
             .min = 1,
             .max = 4096,
             .unit = "pages",
             .doc = "pages merged under one freeze",
             .live = true},
            {.name = "mappings_limit",
             .member = &C::mappings_limit,
             .min = 0,
             .max = 1ull << 32,
             .unit = "mappings",
             .doc = "mapping budget; 0 = vm.max_map_count",
             .live = true},
            {.name = "pause_freeze",
             .member = &C::pause_freeze,
             .min = 0,
             .max = 1,
             .doc = "1 = pause writers instead of the userfaultfd freeze (VMs created later)",
             .live = true},
        });
    return table;
}

void DedupConfig::set(const std::string& name, uint64_t value) {
    const auto& k = knobs().at(name);
    model::check_integer(k, value, knobs().label(k), k.name);
    k.set_integer(*this, value);
}

void DedupConfig::set(const std::string& name, const std::string& value) {
    knobs().set_text(*this, name, value);
}

uint64_t DedupConfig::get(const std::string& name) const {
    return knobs().at(name).get_integer(*this);
}

void DedupConfig::validate() const {
    knobs().validate(*this);
}

void apply_option(DedupConfig& config, const std::string& key_value) {
    auto eq = key_value.find('=');
    if (eq == std::string::npos || eq == 0)
        throw InvalidInput("dedup option '" + key_value + "' must look like KEY=VALUE");
    config.set(key_value.substr(0, eq), key_value.substr(eq + 1));
}

} // namespace foldvm::dedup
