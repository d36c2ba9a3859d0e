#!/bin/bash
# (d) Two Linux guests from the same kernel and initramfs, one foldvm process,
# built-in dedup. The engine starts stopped (run=0), so the baseline is taken
# before any scan; once started over the API, pages_sharing must rise above it
# by at least the kernel and initramfs the guests were loaded with (identical
# in both). Comparing two samples taken while the engine runs would race its
# convergence.
source "$(dirname "$0")/lib.sh"
need_linux_boot

sock=$PWD/api.sock
foldvm_linux_bg run.out run.err --count 2 --mem 256M --dedup builtin --dedup-opt run=0 \
    --api-sock "$sock" -- 'sleep 300'
pid=$VMM_PID
for vm in 0 1; do
    wait_for run.out "^\[vm$vm\] foldvm-init: reached" 150 "$pid" ||
        { show run.out; show run.err; die "vm$vm did not reach init"; }
done
pass "both guests reached init"

# dedup_stat NAME: the first value of "NAME" in GET /dedup (the engine-wide stats).
dedup_stat() {
    "$FOLDCTL" --sock "$sock" --json dedup show 2>/dev/null |
        grep -o "\"$1\": *\"\{0,1\}[^,\"}]*" | sed -n '1s/.*[:"] *//p'
}
baseline=$(dedup_stat pages_sharing || true)
if [ "$baseline" = 0 ]; then pass "nothing shared before dedup starts"; else
    fail "pages_sharing is '${baseline:-?}' before dedup starts (run=0)"; fi
# Lower bound of what two identical guests share: their kernel image (its
# decompressed text and data are larger than the compressed bzImage) and the
# initramfs (loaded once, unpacked once, in each guest).
kernel_bytes=$(wc -c <"$L2_KERNEL")
initrd_bytes=$(wc -c <"$L2_INITRD")
want=$(( (kernel_bytes + initrd_bytes) / 4096 ))

"$FOLDCTL" --sock "$sock" dedup set run=1 >set.out 2>&1 || { show set.out; die "dedup set run=1 failed"; }
last="" t0=$(now_ms)
while [ $(( $(now_ms) - t0 )) -lt 90000 ]; do
    kill -0 "$pid" 2>/dev/null || { show run.err; die "foldvm exited early"; }
    last=$(dedup_stat pages_sharing || true)
    echo "info: pages_sharing=${last:-?} at $(( ($(now_ms) - t0) / 1000 )) s (want >= ${baseline:-0} + $want)"
    [ -n "$last" ] && [ "$last" -ge $(( ${baseline:-0} + want )) ] && break
    sleep 1
done
if [ -n "$last" ] && [ "$last" -ge $(( ${baseline:-0} + want )) ]; then
    pass "pages_sharing rose from ${baseline:-0} to $last (>= kernel + initramfs, $want pages)"
else
    fail "pages_sharing rose from ${baseline:-0} only to ${last:-?} (want >= kernel + initramfs, $want pages)"
fi
echo "info: freeze_mode=$(dedup_stat freeze_mode || true) freeze_wait_us_p99=$(dedup_stat freeze_wait_us_p99 || true)"
grep 'dedup:' run.err | sed 's/^/info: /' || true
"$FOLDCTL" --sock "$sock" dedup show 2>&1 | sed -n '/^STAT/,$s/^/    | /p'
kill "$pid" 2>/dev/null || true
finish
