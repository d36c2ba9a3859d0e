// Whether eviction waits for dedup: shared between the pager and the engine.
#pragma once

namespace foldvm {

// Share before evict: a page the dedup engine has not visited since its last
// write may still merge for free, so a sweep that keeps memory in budget
// leaves it for that visit. A sweep that must shrink one VM (parked, or over
// its own limit) takes it anyway: the operator asked for that VM's memory,
// and the visit might not come before the next write.
enum class ShareFirst : bool { no = false, yes = true };

} // namespace foldvm
