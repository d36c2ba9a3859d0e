#include "balloon_config.hpp"

#include "common/error.hpp"
#include "vmm/devices/device_options.hpp"

namespace foldvm {

namespace {

constexpr const char* kDevice = "balloon";

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
    for_each_device_option(text, kDevice, [&](const std::string& key, const std::string& value) {
        if (key == "target_mib" || key == "amount_mib") {
            c.amount_mib = parse_option_number(kDevice, key, value);
        } else if (key == "deflate_on_oom") {
            c.deflate_on_oom = parse_option_bool(kDevice, key, value);
        } else if (key == "stats_polling_interval_s") {
            uint64_t v = parse_option_number(kDevice, key, value);
            if (v > kMaxStatsPollingIntervalS)
                throw InvalidInput("balloon stats_polling_interval_s must be at most " +
                                   std::to_string(kMaxStatsPollingIntervalS));
            c.stats_polling_interval_s = static_cast<uint32_t>(v);
        } else if (key == "free_page_reporting") {
            c.free_page_reporting = parse_option_bool(kDevice, key, value);
        } else {
            throw InvalidInput("unknown balloon option '" + key +
                               "' (known: target_mib, deflate_on_oom, stats_polling_interval_s, "
                               "free_page_reporting)");
        }
    });
    return c;
}

} // namespace foldvm
