#include "balloon_input.hpp"

#include "json_input.hpp"

namespace foldvm::api {

BalloonConfig read_balloon_config(const nlohmann::json& object, uint64_t guest_mem_mib,
                                  const std::string& prefix, bool require_firecracker) {
    FieldReader f(object, prefix);
    auto amount = f.integer("amount_mib", 0, guest_mem_mib);
    auto oom = f.boolean("deflate_on_oom");
    auto interval = f.integer("stats_polling_interval_s", 0, kMaxStatsPollingIntervalS);
    auto reporting = f.boolean("free_page_reporting");
    f.finish();
    if (require_firecracker) {
        for (auto [name, present] :
             {std::pair{"amount_mib", amount.has_value()}, {"deflate_on_oom", oom.has_value()}})
            if (!present)
                throw ApiError(400, "missing required field '" + f.path(name) + "'", f.path(name));
    }
    BalloonConfig c;
    c.amount_mib = amount.value_or(0);
    c.deflate_on_oom = oom.value_or(false);
    c.stats_polling_interval_s = static_cast<uint32_t>(interval.value_or(0));
    c.free_page_reporting = reporting.value_or(false);
    return c;
}

} // namespace foldvm::api
