// Memory figures of this process, for summaries, the API and benchmarks.
#pragma once

#include <cstdint>

namespace foldvm {

// Resident set size of this process in KiB (VmRSS).
uint64_t process_rss_kib();

} // namespace foldvm
