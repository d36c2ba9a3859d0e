# shellcheck shell=bash
# Shared helpers of the nested tests (bash, run inside L1 by run-tests, in a
# fresh temporary working directory). Environment from /opt/nested/env:
# FOLDVM FOLDCTL FOLDVM_BENCH GUESTS L2_KERNEL L2_INITRD QEMU.
set -euo pipefail
: "${FOLDVM:?run inside L1 (tools/nested test)}"
TEST_NAME=$(basename "$0" .sh)
failures=0

# The L2 kernel command line before "--" (see guest-kernels/linux/init).
L2_CMDLINE="console=ttyS0 reboot=k panic=-1 pci=off i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd quiet"

pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
skip() { echo "SKIP: $TEST_NAME: $*"; exit 77; }
# finish: the test's verdict line and exit status.
finish() {
    if [ "$failures" -eq 0 ]; then echo "PASS: $TEST_NAME"; exit 0; fi
    echo "FAIL: $TEST_NAME ($failures failed checks)"
    exit 1
}
# die MSG: a failed precondition ends the test at once.
die() { fail "$*"; finish; }

# Background processes started with bg_start are killed (by pid) on exit.
BG_PIDS=()
bg_start() { "$@" & BG_PIDS+=($!); }
cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

now_ms() { local t=$EPOCHREALTIME; echo $(( ${t/./} / 1000 )); }

# show FILE [N]: the last N lines of FILE, indented, for failure reports.
show() { tail -n "${2:-25}" "$1" | cut -c1-240 | sed 's/^/    | /'; }

# expect_rc NAME WANT CMD...: runs CMD (stdout NAME.out, stderr NAME.err).
expect_rc() {
    local name=$1 want=$2 rc=0
    shift 2
    "$@" >"$name.out" 2>"$name.err" || rc=$?
    if [ "$rc" -eq "$want" ]; then
        pass "$name: exit $rc"
    else
        fail "$name: exit $rc, expected $want"
        echo "    stdout:"; show "$name.out"
        echo "    stderr:"; show "$name.err"
    fi
}

# expect_grep NAME FILE ERE
expect_grep() {
    if grep -qE -- "$3" "$2"; then pass "$1: has /$3/"; else
        fail "$1: lacks /$3/ in $2"; show "$2"; fi
}

# wait_for FILE ERE SECONDS [PID]: waits until FILE has a line matching ERE;
# fails early when PID (the producer) has exited.
wait_for() {
    local file=$1 re=$2 limit=$3 pid=${4:-} t0
    t0=$(now_ms)
    while ! grep -qE -- "$re" "$file" 2>/dev/null; do
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            grep -qE -- "$re" "$file" 2>/dev/null && return 0
            return 1
        fi
        [ $(( $(now_ms) - t0 )) -lt $((limit * 1000)) ] || return 1
        sleep 0.1
    done
}

# rss_kib PID: resident set size of PID in KiB.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# need_linux_boot: skip unless this foldvm can boot a bzImage (--kernel).
need_linux_boot() {
    "$FOLDVM" run --help 2>&1 | grep -q -- '--kernel' ||
        skip "this foldvm has no 'run --kernel' (Linux boot support not merged)"
}

# linux_args ARGS... -- CMDLINE-TAIL: sets LINUX_ARGS to the arguments of a
# foldvm run of the L2 kernel and initramfs with $L2_CMDLINE (plus $L2_EXTRA)
# and CMDLINE-TAIL after "--" (kernel quoting: double quotes only), e.g.
# 'sh -c "echo hi; exit 7"'.
linux_args() {
    local args=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    LINUX_ARGS=(run --kernel "$L2_KERNEL" --initrd "$L2_INITRD"
                --cmdline "$L2_CMDLINE${L2_EXTRA:+ $L2_EXTRA} -- $*" "${args[@]}")
}

# foldvm_linux ARGS... -- CMDLINE-TAIL: runs it (see linux_args) under a
# $FOLDVM_TIMEOUT (90 s) guard.
foldvm_linux() {
    linux_args "$@"
    timeout -k 5 "${FOLDVM_TIMEOUT:-90}" "$FOLDVM" "${LINUX_ARGS[@]}"
}

# foldvm_linux_bg OUT ERR ARGS... -- CMDLINE-TAIL: starts it in the background
# with foldvm's own --timeout ($FOLDVM_TIMEOUT, 300 s); VMM_PID is foldvm's pid.
foldvm_linux_bg() {
    local out=$1 err=$2
    shift 2
    linux_args "$@"
    "$FOLDVM" "${LINUX_ARGS[@]}" --timeout "${FOLDVM_TIMEOUT:-300}" >"$out" 2>"$err" &
    VMM_PID=$!
    BG_PIDS+=("$VMM_PID")
}

# qemu_l2 microvm|pc [QEMU-ARGS...] -- CMDLINE-TAIL: boots the same L2 kernel
# and initramfs under QEMU -enable-kvm (the yardstick), 60 s at most
# ($QEMU_TIMEOUT). CMDLINE-TAIL goes verbatim after "--" on the kernel command
# line (kernel quoting: double quotes only), e.g. 'sh -c "echo hi; exit 7"'.
# microvm resets by triple fault (it has no i8042), pc by the keyboard
# controller; -no-reboot then ends QEMU.
qemu_l2() {
    local machine=$1 args=() cmdline
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    case $machine in
    # microvm's CMOS RTC is not described to the guest; probing it costs ~5 s.
    microvm) cmdline="${L2_CMDLINE/reboot=k/reboot=t} initcall_blacklist=add_rtc_cmos" ;;
    pc) cmdline="${L2_CMDLINE/ pci=off/}" ;;
    *) echo "qemu_l2: unknown machine $machine" >&2; return 2 ;;
    esac
    timeout -k 5 "${QEMU_TIMEOUT:-60}" "$QEMU" -M "$machine" -enable-kvm -cpu host -m 256M -smp 1 -nodefaults -no-user-config \
        -display none -monitor none -serial stdio -no-reboot \
        -kernel "$L2_KERNEL" -initrd "$L2_INITRD" \
        -append "$cmdline${L2_EXTRA:+ $L2_EXTRA} -- $*" "${args[@]}" </dev/null
}
