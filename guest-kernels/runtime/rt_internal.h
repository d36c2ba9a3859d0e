/* Runtime-internal hooks called by rt_init; not for guests. */
#ifndef FOLDVM_RT_INTERNAL_H
#define FOLDVM_RT_INTERNAL_H

#include "rt.h"

void rt_cmdline_init(const char *cmdline);
void rt_alloc_init(const struct foldvm_boot_info *bi);

#endif
