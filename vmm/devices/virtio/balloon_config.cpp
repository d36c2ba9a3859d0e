#include "balloon_config.hpp"

#include "common/error.hpp"

#include <sstream>

namespace foldvm {

namespace {

uint64_t parse_number(const std::string& key, const std::string& value) {
    size_t pos = 0;
    unsigned long long v = 0;
    try {
        if (value.empty() || value[0] == '-') throw std::invalid_argument("sign");
        v = std::stoull(value, &pos, 10);
    } catch (const std::exception&) {
        pos = 0;
    }
    if (pos == 0 || pos != value.size())
        throw InvalidInput("balloon option '" + key + "' needs a number, got '" + value + "'");
    return v;
}

bool parse_bool(const std::string& key, const std::string& value) {
    if (value == "1" || value == "true" || value == "on" || value == "yes") return true;
    if (value == "0" || value == "false" || value == "off" || value == "no") return false;
    throw InvalidInput("balloon option '" + key + "' needs 0 or 1, got '" + value + "'");
}

} // namespace

void BalloonConfig::validate(uint64_t guest_mem_bytes) const {
    if (amount_mib > guest_mem_bytes >> 20)
        throw InvalidInput("balloon amount_mib " + std::to_string(amount_mib) +
                           " exceeds guest memory of " + std::to_string(guest_mem_bytes >> 20) +
                           " MiB");
    if (stats_polling_interval_s > kMaxStatsPollingIntervalS)
        throw InvalidInput("balloon stats_polling_interval_s must be at most " +
                           std::to_string(kMaxStatsPollingIntervalS));
}

BalloonConfig parse_balloon_options(const std::string& text) {
    BalloonConfig c;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (item.empty()) continue;
        auto eq = item.find('=');
        std::string key = item.substr(0, eq);
        if (eq == std::string::npos)
            throw InvalidInput("balloon option '" + key + "' needs a value (key=value)");
        std::string value = item.substr(eq + 1);
        if (key == "target_mib" || key == "amount_mib") {
            c.amount_mib = parse_number(key, value);
        } else if (key == "deflate_on_oom") {
            c.deflate_on_oom = parse_bool(key, value);
        } else if (key == "stats_polling_interval_s") {
            uint64_t v = parse_number(key, value);
            if (v > kMaxStatsPollingIntervalS)
                throw InvalidInput("balloon stats_polling_interval_s must be at most " +
                                   std::to_string(kMaxStatsPollingIntervalS));
            c.stats_polling_interval_s = static_cast<uint32_t>(v);
        } else if (key == "free_page_reporting") {
            c.free_page_reporting = parse_bool(key, value);
        } else {
            throw InvalidInput("unknown balloon option '" + key +
                               "' (known: target_mib, deflate_on_oom, stats_polling_interval_s, "
                               "free_page_reporting)");
        }
    }
    return c;
}

} // namespace foldvm
