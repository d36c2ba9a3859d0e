/* Time via hypercalls: TIME for the clock, POLL to give the vCPU back to
 * the host while waiting (we cannot hlt at CPL 3). */
#include "rt.h"

uint64_t rt_now_ns(void)
{
    return hc_time();
}

void rt_sleep_ns(uint64_t ns)
{
    uint64_t deadline = rt_now_ns() + ns;
    for (;;) {
        uint64_t now = rt_now_ns();
        if (now >= deadline)
            return;
        /* The monitor caps each poll (1 s) and may return early on an
         * event, so loop until the deadline. */
        hc_poll(deadline - now);
    }
}
