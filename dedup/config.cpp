#include "config.hpp"

#include "common/error.hpp"

namespace foldvm::dedup {

namespace {

template <typename F> auto with_field(DedupConfig& c, const std::string& name, F f) {
    if (name == "run") return f(c.run);
    if (name == "pages_to_scan") return f(c.pages_to_scan);
    if (name == "sleep_millisecs") return f(c.sleep_millisecs);
    if (name == "max_page_sharing") return f(c.max_page_sharing);
    if (name == "use_zero_pages") return f(c.use_zero_pages);
    if (name == "volatile_passes") return f(c.volatile_passes);
    if (name == "max_cpu_percent") return f(c.max_cpu_percent);
    if (name == "advisor_target_scan_time_s") return f(c.advisor_target_scan_time_s);
    if (name == "merge_batch_pages") return f(c.merge_batch_pages);
    if (name == "mappings_limit") return f(c.mappings_limit);
    if (name == "pause_freeze") return f(c.pause_freeze);
    throw InvalidInput("unknown dedup knob '" + name + "'");
}

const DedupConfig::Knob& find_knob(const std::string& name) {
    for (const auto& k : DedupConfig::knobs())
        if (name == k.name) return k;
    throw InvalidInput("unknown dedup knob '" + name + "'");
}

} // namespace

const std::vector<DedupConfig::Knob>& DedupConfig::knobs() {
    static const std::vector<Knob> list = {
        {"run", 0, 2, "0 = stop, 1 = run, 2 = unmerge everything"},
        {"pages_to_scan", 1, 10'000'000, "pages visited per wake-up"},
        {"sleep_millisecs", 0, 60'000, "sleep between wake-ups"},
        {"max_page_sharing", 2, 1u << 20, "sharers per pool copy"},
        {"use_zero_pages", 0, 1, "merge zero pages with MADV_DONTNEED"},
        {"volatile_passes", 0, 1000, "skip pages written within this many passes"},
        {"max_cpu_percent", 1, 100, "CPU cap for the dedup thread"},
        {"advisor_target_scan_time_s", 0, 86400, "target full-scan time; 0 = off"},
        {"merge_batch_pages", 1, 4096, "pages merged under one freeze"},
        {"mappings_limit", 0, 1ull << 32, "mapping budget; 0 = vm.max_map_count"},
        {"pause_freeze", 0, 1, "1 = pause writers instead of the userfaultfd freeze (new VMs)"},
    };
    return list;
}

void DedupConfig::set(const std::string& name, uint64_t value) {
    const Knob& k = find_knob(name);
    if (value < k.min || value > k.max)
        throw InvalidInput("dedup knob '" + name + "' must be in [" + std::to_string(k.min) +
                           ", " + std::to_string(k.max) + "], got " + std::to_string(value));
    with_field(*this, name, [&](auto& field) { field = static_cast<std::decay_t<decltype(field)>>(value); });
}

void DedupConfig::set(const std::string& name, const std::string& value) {
    find_knob(name);
    size_t pos = 0;
    unsigned long long v = 0;
    try {
        if (value.empty() || value[0] == '-') throw std::invalid_argument("negative");
        v = std::stoull(value, &pos, 10);
    } catch (const std::exception&) {
        pos = 0;
    }
    if (pos == 0 || pos != value.size())
        throw InvalidInput("dedup knob '" + name + "' needs a non-negative integer, got '" +
                           value + "'");
    set(name, static_cast<uint64_t>(v));
}

uint64_t DedupConfig::get(const std::string& name) const {
    auto& self = const_cast<DedupConfig&>(*this);
    return with_field(self, name, [](auto& field) { return static_cast<uint64_t>(field); });
}

void DedupConfig::validate() const {
    for (const auto& k : knobs()) {
        uint64_t v = get(k.name);
        if (v < k.min || v > k.max)
            throw InvalidInput("dedup knob '" + std::string(k.name) + "' must be in [" +
                               std::to_string(k.min) + ", " + std::to_string(k.max) + "]");
    }
}

void apply_option(DedupConfig& config, const std::string& key_value) {
    auto eq = key_value.find('=');
    if (eq == std::string::npos || eq == 0)
        throw InvalidInput("dedup option '" + key_value + "' must look like KEY=VALUE");
    config.set(key_value.substr(0, eq), key_value.substr(eq + 1));
}

} // namespace foldvm::dedup
