#include "overcommit_config.hpp"

namespace foldvm {

const model::FieldTable<OvercommitConfig>& OvercommitConfig::fields() {
    using C = OvercommitConfig;
    static const model::FieldTable<C> table(
        "overcommit option",
        {
            {.name = "enabled",
             .member = &C::enabled,
             .doc = "run the pager and the governor (off: guest RAM is plain memory)"},
            {.name = "budget_mib",
             .member = &C::budget_mib,
             .min = 0,
             .max = 1ull << 32,
             .unit = "MiB",
             .doc = "host memory the VMs must fit in; 0 = from MemAvailable and memory PSI",
             .live = true},
            {.name = "swap_dir",
             .member = &C::swap_dir,
             .min = 1,
             .max = 4096,
             .unit = "bytes",
             .doc = "directory of the O_TMPFILE swap files (gone when foldvm exits)"},
            {.name = "compressor",
             .member = &C::compressor,
             .min = 3,
             .max = 4,
             .unit = "bytes",
             .doc = "compressed tier codec: lz4 or zstd"},
            {.name = "compress_max_bytes",
             .member = &C::compress_max_bytes,
             .min = 256,
             .max = 4032,
             .unit = "bytes",
             .doc = "a page stays compressed only if it fits in this (ESX: 2 KiB)",
             .live = true},
            {.name = "compress_retry_zstd",
             .member = &C::compress_retry_zstd,
             .doc = "a page lz4 leaves above compress_max_bytes gets a second try with zstd"},
            {.name = "compressed_max_mib",
             .member = &C::compressed_max_mib,
             .min = 0,
             .max = 1ull << 32,
             .unit = "MiB",
             .doc = "cap of the compressed tier; 0 = a quarter of the budget",
             .live = true},
            {.name = "swap_max_mib",
             .member = &C::swap_max_mib,
             .min = 0,
             .max = 1ull << 40,
             .unit = "MiB",
             .doc = "cap of the swap files; 0 = unlimited",
             .live = true},
            {.name = "swap_encrypt",
             .member = &C::swap_encrypt,
             .doc = "encrypt swapped pages with a per-VM random key"},
            {.name = "cold_age_s",
             .member = &C::cold_age_s,
             .min = 1,
             .max = 3600,
             .unit = "s",
             .doc = "a page not accessed for this long is cold",
             .live = true},
            {.name = "high_free_pm",
             .member = &C::high_free_pm,
             .min = 1,
             .max = 500,
             .unit = "per mille",
             .doc = "free budget at or above which the state is high",
             .live = true},
            {.name = "soft_free_pm",
             .member = &C::soft_free_pm,
             .min = 1,
             .max = 500,
             .unit = "per mille",
             .doc = "free budget at or above which the state is soft (else hard or low)",
             .live = true},
            {.name = "hard_free_pm",
             .member = &C::hard_free_pm,
             .min = 1,
             .max = 500,
             .unit = "per mille",
             .doc = "free budget at or above which the state is hard (below: low)",
             .live = true},
            {.name = "fault_around_pages",
             .member = &C::fault_around_pages,
             .min = 1,
             .max = 256,
             .unit = "pages",
             .doc = "most pages one fault brings back (neighbours evicted together)",
             .live = true},
            {.name = "governor_interval_ms",
             .member = &C::governor_interval_ms,
             .min = 1,
             .max = 10000,
             .unit = "ms",
             .doc = "period of the governor's budget check",
             .live = true},
        });
    return table;
}

void OvercommitConfig::validate() const {
    fields().validate(*this);
    if (compressor != "lz4" && compressor != "zstd")
        throw model::FieldError(model::FieldProblem::OutOfRange, "compressor",
                                "compressor must be lz4 or zstd, got '" + compressor + "'");
    if (!(high_free_pm > soft_free_pm && soft_free_pm > hard_free_pm))
        throw model::FieldError(model::FieldProblem::Conflict, "soft_free_pm",
                                "thresholds must satisfy high_free_pm > soft_free_pm > "
                                "hard_free_pm, got " +
                                    std::to_string(high_free_pm) + " / " +
                                    std::to_string(soft_free_pm) + " / " +
                                    std::to_string(hard_free_pm));
}

OvercommitConfig parse_overcommit_options(const std::string& text) {
    OvercommitConfig c;
    OvercommitConfig::fields().parse_list(c, text);
    c.validate();
    return c;
}

} // namespace foldvm
