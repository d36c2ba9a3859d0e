// Host memory figures for the API. Per-process figures (mappings, mincore
// residency) are in common/procfs.hpp.
#pragma once

#include <cstdint>

namespace foldvm::api {

struct MemInfo {
    uint64_t total_bytes = 0;
    uint64_t free_bytes = 0;
    uint64_t available_bytes = 0;
};
MemInfo read_meminfo();

} // namespace foldvm::api
