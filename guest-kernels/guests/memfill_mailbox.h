/* A page the host writes requests into (GuestMemory::write) and memfill
 * polls: the host stores the command, then a new non-zero request number;
 * memfill answers each new number once on the console. Layout shared with
 * tools/bench/memfill_mailbox.hpp. */
#ifndef MEMFILL_MAILBOX_H
#define MEMFILL_MAILBOX_H

#include "rt.h"

enum mailbox_cmd {
    MB_PING = 0,  /* touch the hot set, answer `pong req=N touched_ms=T` */
    MB_RESET = 1, /* restart the hot-set statistics (the host's steady phase) */
    MB_STOP = 2,  /* end the run: summary, final verify, exit */
    MB_STORM = 3, /* rewrite every page with unique data, then verify */
};

struct mailbox {
    volatile uint64_t req; /* written last by the host */
    volatile uint64_t cmd;
};

/* The next unanswered request, or 0; *cmd set when one is returned. */
static inline uint64_t mailbox_poll(const struct mailbox *mb, uint64_t *last,
                                    uint64_t *cmd)
{
    uint64_t req = mb->req;
    if (req == 0 || req == *last)
        return 0;
    __asm__ volatile(
        "" ::
            : "memory"); /* read cmd after req (x86 keeps load order) */
    *cmd = mb->cmd;
    *last = req;
    return req;
}

#endif
