#include "thread_priority.hpp"

#include <sys/resource.h>
#include <unistd.h>

namespace foldvm {

bool set_thread_nice(int nice) {
    // On Linux, PRIO_PROCESS with a thread id sets that one thread's nice.
    return ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice) == 0;
}

} // namespace foldvm
