#!/bin/bash
# (a) Linux boots to init under foldvm; the command after "--" runs, its
# output reaches foldvm's stdout and its status becomes foldvm's exit status
# (exit port 0x601); the boot marker (port 0x600) is reported; an i8042 reset
# (reboot -f, reboot=k) ends the VM with status 0.
source "$(dirname "$0")/lib.sh"
need_linux_boot

expect_rc boot 7 foldvm_linux --mem 256M --dedup off -- 'sh -c "echo hello-from-l2; exit 7"'
expect_grep boot boot.out '^foldvm-init: reached$'
expect_grep boot boot.out '^hello-from-l2$'
expect_grep boot boot.out '^foldvm-exit: 7$'
expect_grep boot boot.err '^foldvm: vm 0 boot marker 123 at [0-9]+(\.[0-9]+)? ms$'
ms=$(sed -n 's/^foldvm: vm 0 boot marker 123 at \([0-9.]*\) ms$/\1/p' boot.err)
echo "info: boot marker at ${ms:-?} ms (nested, TCG-emulated CPU)"

expect_rc reset 0 foldvm_linux --mem 128M --dedup off -- 'reboot -f'
expect_grep reset reset.out '^foldvm-init: reached$'
finish
