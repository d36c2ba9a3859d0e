// Scheduling weight for the monitor's own service threads.
#pragma once

namespace foldvm {

// Gives the calling thread the nice value `nice` (negative = more CPU under
// contention). Best effort: false when not permitted (not root, no
// CAP_SYS_NICE), and the thread keeps its weight.
//
// Why: the overcommit governor and the fault server compete with every vCPU
// thread for the same cores. At equal weight, 20 filling vCPUs on 2 cores
// leave the governor a tenth of a core, too little to evict as fast as they
// allocate, and a faulting vCPU waits for its turn to be served.
bool set_thread_nice(int nice);

} // namespace foldvm
