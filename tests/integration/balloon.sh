#!/usr/bin/env bash
# The virtio balloon through the CLI (foldvm run --balloon) with the balloon
# and balloonfuzz guests: inflate at boot, deflate on OOM, free page
# reporting, a hostile driver, several VMs, and option errors.
source "$(dirname "$0")/lib.sh"

in_use() { sed -nE 's/.*memory in use ([0-9]+) MiB.*/\1/p' "$TMP/$1.out"; }

# A 128 MiB guest touches all its memory; without inflating it keeps it.
expect_rc baseline 0 "$FOLDVM" run "$GUESTS/balloon.elf" --mem 128M --dedup off \
    --balloon --cmdline "touch keep=8M duration_ms=300" --summary
# Inflated at boot to 75% of RAM: the memory in use drops by >= 70% of RAM.
expect_rc inflate 0 "$FOLDVM" run "$GUESTS/balloon.elf" --mem 128M --dedup off \
    --balloon target_mib=96 --cmdline "touch keep=8M exit_at_target" --summary
expect_grep inflate 'balloon: done \(at target\) pages=24576 .*mismatches=0$'
base=$(in_use baseline)
now=$(in_use inflate)
if [ -n "$base" ] && [ -n "$now" ] && [ $((base - now)) -ge 90 ]; then
    pass "memory in use ${base} -> ${now} MiB (>= 70% of 128 MiB given back)"
else
    fail "memory in use ${base:-?} -> ${now:-?} MiB, expected a drop of >= 90 MiB"
fi

# Deflate on OOM: the guest asks for more than is free and gets it.
expect_rc oom 0 "$FOLDVM" run "$GUESTS/balloon.elf" --mem 64M \
    --balloon target_mib=40,deflate_on_oom=1 --cmdline "oom_mib=8 keep=4M"
expect_grep oom 'balloon: done \(oom\) .*oom_deflated=[1-9][0-9]* .*mismatches=0$'
# Without the feature the allocation fails (exit 5) and nothing is lost.
expect_rc oom-off 5 "$FOLDVM" run "$GUESTS/balloon.elf" --mem 64M \
    --balloon target_mib=40 --cmdline "oom_mib=8 keep=4M"

# Free page reporting (with statistics on): freed memory goes back without
# inflating.
expect_rc reporting 0 "$FOLDVM" run "$GUESTS/balloon.elf" --mem 128M --dedup off \
    --balloon free_page_reporting=1,stats_polling_interval_s=1 \
    --cmdline "touch keep=8M duration_ms=1500" --summary
expect_grep reporting 'balloon: done \(duration\) pages=0 .*reported=[1-9][0-9]* .*mismatches=0$'
now=$(in_use reporting)
if [ -n "$base" ] && [ -n "$now" ] && [ $((base - now)) -ge 90 ]; then
    pass "free page reporting: memory in use ${base} -> ${now} MiB"
else
    fail "free page reporting: memory in use ${base:-?} -> ${now:-?} MiB"
fi

# A hostile driver breaks only its own device; the monitor carries on.
expect_rc fuzz 0 "$FOLDVM" run "$GUESTS/balloonfuzz.elf" --mem 32M \
    --balloon stats_polling_interval_s=1,free_page_reporting=1,deflate_on_oom=1 \
    --cmdline "rounds=300"
expect_grep fuzz 'balloonfuzz: ok rounds=300 needs_reset=[0-9]+ failures=0$'

# Several VMs with balloons under the built-in dedup engine.
expect_rc multi 0 "$FOLDVM" run "$GUESTS/balloon.elf" --count 3 --mem 64M \
    --balloon target_mib=32 --cmdline "touch keep=4M exit_at_target" --summary
expect_count multi 'balloon: done \(at target\) pages=8192 .*mismatches=0$' 3

# Guests without a balloon driver ignore the device; the balloon guest
# without a device says so.
expect_rc hello 0 "$FOLDVM" run "$GUESTS/hello.elf" --balloon target_mib=2
expect_rc no-device 2 "$FOLDVM" run "$GUESTS/balloon.elf"
expect_grep no-device 'balloon: no balloon device'

# Option errors are reported before anything runs.
expect_rc too-big 2 "$FOLDVM" run "$GUESTS/hello.elf" --mem 32M --balloon target_mib=33
expect_grep too-big 'exceeds guest memory'
expect_rc bad-key 2 "$FOLDVM" run "$GUESTS/hello.elf" --balloon bogus=1
expect_grep bad-key 'unknown balloon option'
finish
