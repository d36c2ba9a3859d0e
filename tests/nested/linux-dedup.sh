#!/bin/bash
# (d) Two Linux guests from the same kernel and initramfs, one foldvm process,
# built-in dedup: pages_sharing becomes > 0 and keeps growing between samples.
source "$(dirname "$0")/lib.sh"
need_linux_boot

sock=$PWD/api.sock
foldvm_linux_bg run.out run.err --count 2 --mem 256M --dedup builtin --api-sock "$sock" -- 'sleep 300'
pid=$VMM_PID
for vm in 0 1; do
    wait_for run.out "^\[vm$vm\] foldvm-init: reached" 150 "$pid" ||
        { show run.out; show run.err; die "vm$vm did not reach init"; }
done
pass "both guests reached init"

sharing() {
    "$FOLDCTL" --sock "$sock" --json dedup show 2>/dev/null |
        grep -o '"pages_sharing": *[0-9]*' | sed -n '1s/.*[^0-9]//p'
}
# First sample with sharing, then a later larger one (60 s at most).
first="" last="" t0=$(now_ms)
while [ $(( $(now_ms) - t0 )) -lt 60000 ]; do
    kill -0 "$pid" 2>/dev/null || { show run.err; die "foldvm exited early"; }
    last=$(sharing || true)
    echo "info: pages_sharing=${last:-?} at $(( ($(now_ms) - t0) / 1000 )) s"
    if [ -n "$last" ] && [ "$last" -gt 0 ]; then
        if [ -z "$first" ]; then first=$last; elif [ "$last" -gt "$first" ]; then break; fi
    fi
    sleep 1
done
if [ -n "$first" ]; then pass "pages_sharing > 0 ($first)"; else fail "pages_sharing stayed 0"; fi
if [ -n "$first" ] && [ "${last:-0}" -gt "$first" ]; then pass "pages_sharing grew ($first -> $last)"; else
    fail "pages_sharing did not grow (${first:-0} -> ${last:-0})"; fi
"$FOLDCTL" --sock "$sock" dedup show 2>&1 | sed -n '/^STAT/,$s/^/    | /p'
kill "$pid" 2>/dev/null || true
finish
