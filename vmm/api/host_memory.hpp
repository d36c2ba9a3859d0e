// Memory figures for the host and per-VM views of the API.
#pragma once

#include <cstdint>

namespace foldvm::api {

// Bytes of [base, base+size) with a present page-table entry (mincore()).
// An approximation of a VM's resident memory: it counts pages shared with
// the dedup pool and pages mapping the kernel's zero page as resident.
uint64_t resident_bytes(const void* base, uint64_t size);

struct MemInfo {
    uint64_t total_bytes = 0;
    uint64_t free_bytes = 0;
    uint64_t available_bytes = 0;
};
MemInfo read_meminfo();

uint64_t max_map_count();         // /proc/sys/vm/max_map_count
uint64_t process_mapping_count(); // lines of /proc/self/maps

} // namespace foldvm::api
