// The host page size the VMM and the dedup engine work in. Guest RAM, the
// page pool and every dirty bitmap count in 4 KiB pages; x86-64 hosts have
// no other base page size, so this is a constant rather than sysconf().
#pragma once

#include <cstddef>

namespace foldvm {

inline constexpr size_t kPageSize = 4096;

} // namespace foldvm
