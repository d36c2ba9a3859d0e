// What the kernel reports about this process's address space: the mapping
// budget (vm.max_map_count), the mappings in use, and page residency.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace foldvm::procfs {

// vm.max_map_count (/proc/sys/vm/max_map_count), or the kernel default
// 65530 if it cannot be read.
uint64_t max_map_count();

// Memory mappings (VMAs) of this process: the lines of /proc/self/maps.
// O(mappings); callers on a hot path should cache it.
uint64_t mapping_count();

// Mappings of this process that overlap [base, base + size).
uint64_t mappings_overlapping(const void* base, size_t size);

// Pages of [base, base + size) with a present page-table entry (mincore()).
// Pages shared with the dedup pool, or mapping the kernel's zero page,
// count as resident. `base` must be page aligned. Throws SystemError if the
// range is not mapped.
uint64_t resident_pages(const void* base, size_t size);

// A /proc/meminfo field in bytes ("MemAvailable", "Zswap"), 0 if absent.
uint64_t meminfo_bytes(const std::string& field);

} // namespace foldvm::procfs
