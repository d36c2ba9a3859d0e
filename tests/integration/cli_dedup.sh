#!/usr/bin/env bash
# Dedup on real guests through the CLI: pages merge across VMs while the
# guests keep writing and verifying their memory, and no write is lost.
source "$(dirname "$0")/lib.sh"
if ! [ -e /dev/userfaultfd ] && [ "$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null)" != 1 ] && [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: userfaultfd unavailable"; exit 77
fi

expect_rc memfill-dedup 0 "$FOLDVM" run "$GUESTS/memfill.elf" --count 4 --mem 32M \
    --cmdline "shared=0.75 zero=0.05 churn=500 verify verify_ms=300 duration_ms=3000" \
    --dedup-opt volatile_passes=1 --dedup-opt sleep_millisecs=5 --stats-interval 0.5 --summary
expect_count memfill-dedup 'memfill: done writes=[0-9]+ mismatches=0$' 4
if grep -E 'MISMATCH|mismatches=[1-9]' "$TMP/memfill-dedup.out"; then fail "guest saw lost writes"; fi
sharing=$(grep -o '"pages_sharing":[0-9]*' "$TMP/memfill-dedup.out" | tail -1 | cut -d: -f2)
cow=$(grep -o '"cow_breaks":[0-9]*' "$TMP/memfill-dedup.out" | tail -1 | cut -d: -f2)
if [ "${sharing:-0}" -gt 10000 ]; then pass "pages_sharing=$sharing across 4 VMs"; else fail "pages_sharing=${sharing:-none}"; fi
if [ "${cow:-0}" -gt 0 ]; then pass "cow_breaks=$cow: guests wrote merged pages"; else fail "no cow breaks seen"; fi
expect_grep memfill-dedup 'dedup\(builtin\): pages_shared=[0-9]+'

# Stress: guests rewrite pages as fast as they can while the engine merges at
# full speed; every write is checked against a per-page checksum.
expect_rc guest-stress 0 "$FOLDVM" run "$GUESTS/memfill.elf" --count 4 --mem 32M \
    --cmdline "shared=0.75 zero=0.05 churn=100000 verify verify_ms=1000 duration_ms=15000 min_writes=250000" \
    --dedup-opt volatile_passes=0 --dedup-opt sleep_millisecs=0 --stats-interval 1
total=$(grep -o 'memfill: done writes=[0-9]*' "$TMP/guest-stress.out" | cut -d= -f2 | awk '{s += $1} END {print s + 0}')
cow=$(grep -o '"cow_breaks":[0-9]*' "$TMP/guest-stress.out" | tail -1 | cut -d: -f2)
expect_count guest-stress 'memfill: done writes=[0-9]+ mismatches=0$' 4
if [ "${total:-0}" -ge 1000000 ]; then pass "guest-stress: $total guest writes checked"; else fail "guest-stress: only ${total:-0} writes"; fi
if [ "${cow:-0}" -ge 1000 ]; then pass "guest-stress: $cow COW breaks raced with merges"; else fail "guest-stress: cow_breaks=${cow:-none}"; fi

# The same with KVM's dirty ring instead of the dirty bitmap: COW breaks are
# only seen if the ring really reports the guests' writes.
expect_rc dirty-ring 0 "$FOLDVM" run "$GUESTS/memfill.elf" --count 3 --mem 32M --dirty-log ring \
    --cmdline "shared=0.75 zero=0.05 churn=2000 verify verify_ms=500 duration_ms=3000" \
    --dedup-opt sleep_millisecs=5 --stats-interval 1 --summary
expect_count dirty-ring 'memfill: done writes=[0-9]+ mismatches=0$' 3
ring_cow=$(grep -o '"cow_breaks":[0-9]*' "$TMP/dirty-ring.out" | tail -1 | cut -d: -f2)
ring_sharing=$(grep -o '"pages_sharing":[0-9]*' "$TMP/dirty-ring.out" | tail -1 | cut -d: -f2)
if [ "${ring_cow:-0}" -gt 100 ]; then pass "dirty-ring: cow_breaks=$ring_cow"; else fail "dirty-ring: cow_breaks=${ring_cow:-none}"; fi
if [ "${ring_sharing:-0}" -gt 1000 ]; then pass "dirty-ring: pages_sharing=$ring_sharing"; else fail "dirty-ring: pages_sharing=${ring_sharing:-none}"; fi

expect_rc dedup-off 0 "$FOLDVM" run "$GUESTS/cowcheck.elf" --count 2 --dedup off
expect_count dedup-off 'cowcheck: ok' 2

# cowcheck under aggressive merging: rounds sleep so the engine merges pages
# between the guest's writes.
expect_rc cowcheck-merge 0 "$FOLDVM" run "$GUESTS/cowcheck.elf" --count 4 \
    --cmdline "pages=512 rounds=6 sleep_ms=100" --dedup-opt volatile_passes=0 \
    --dedup-opt sleep_millisecs=1 --summary
expect_count cowcheck-merge 'cowcheck: ok' 4
finish
