#include "balloon_config.hpp"

namespace foldvm {

const model::FieldTable<BalloonConfig>& BalloonConfig::fields() {
    using C = BalloonConfig;
    static const model::FieldTable<C> table(
        "balloon option",
        {
            // The top of the range is the guest's RAM (validate()).
            {.name = "amount_mib",
             .member = &C::amount_mib,
             .min = 0,
             .max = UINT64_MAX,
             .unit = "MiB",
             .doc = "target size of the balloon (memory taken from the guest)",
             .live = true,
             .dynamic_max = true,
             .aliases = {"target_mib"}},
            {.name = "deflate_on_oom",
             .member = &C::deflate_on_oom,
             .doc = "VIRTIO_BALLOON_F_DEFLATE_ON_OOM"},
            // Live, but not between 0 and non-0: the statistics queue is
            // negotiated with the driver once.
            {.name = "stats_polling_interval_s",
             .member = &C::stats_polling_interval_s,
             .min = 0,
             .max = kMaxStatsPollingIntervalS,
             .unit = "s",
             .doc = "seconds between statistics requests; 0 = no statistics queue",
             .live = true},
            {.name = "free_page_reporting",
             .member = &C::free_page_reporting,
             .doc = "VIRTIO_BALLOON_F_PAGE_REPORTING"},
        });
    return table;
}

void BalloonConfig::validate(uint64_t guest_mem_bytes) const {
    fields().validate(*this);
    uint64_t guest_mib = guest_mem_bytes >> 20;
    if (amount_mib > guest_mib)
        throw model::FieldError(model::FieldProblem::OutOfRange, "amount_mib",
                                "balloon amount_mib " + std::to_string(amount_mib) +
                                    " exceeds guest memory of " + std::to_string(guest_mib) +
                                    " MiB: it must be in " + model::range_text(0, guest_mib));
}

BalloonConfig parse_balloon_options(const std::string& text) {
    BalloonConfig c;
    BalloonConfig::fields().parse_list(c, text);
    return c;
}

} // namespace foldvm
