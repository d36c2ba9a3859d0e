#!/bin/bash
# Built-in dedup under L1's kernel (Debian 6.1, older than the build hosts'):
# unikernel guests with shared content merge across VMs, guests keep writing
# and verifying their memory, and no write is lost.
source "$(dirname "$0")/lib.sh"

expect_rc memfill 0 timeout 120 "$FOLDVM" run "$GUESTS/memfill.elf" --count 2 --mem 16M \
    --cmdline "shared=0.75 zero=0.05 churn=200 verify verify_ms=300 duration_ms=4000" \
    --dedup builtin --dedup-opt sleep_millisecs=5 --stats-interval 0.5 --summary
n=$(grep -cE 'memfill: done writes=[0-9]+ mismatches=0$' memfill.out || true)
if [ "$n" -eq 2 ]; then pass "both guests verified their memory"; else fail "$n of 2 guests verified"; fi
sharing=$(grep -o '"pages_sharing":[0-9]*' memfill.out memfill.err | tail -1 | cut -d: -f3)
if [ "${sharing:-0}" -gt 1000 ]; then pass "pages_sharing=$sharing"; else fail "pages_sharing=${sharing:-none}"; fi
finish
