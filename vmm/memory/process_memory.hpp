// Memory figures of this process, for summaries, the API and benchmarks.
#pragma once

#include <cstdint>

namespace foldvm {

// Resident set size of this process in KiB (VmRSS).
uint64_t process_rss_kib();
// Private anonymous resident memory of this process in KiB (RssAnon). With
// sharing on, VmRSS counts a pool page once per mapping; RssAnon plus the
// pool's own size is the memory really in use.
uint64_t process_anon_rss_kib();
// RssAnon + RssFile in KiB: resident memory without the shared-memory
// mappings (the dedup pool's, counted once per mapping in VmRSS).
uint64_t process_private_rss_kib();

} // namespace foldvm
