#!/usr/bin/env bash
# Boots every guest through the CLI: output, exit status, crashes, bad
# hypercalls, hostile images, many VMs and timeouts.
source "$(dirname "$0")/lib.sh"

expect_rc hello 0 "$FOLDVM" run "$GUESTS/hello.elf" --cmdline "greeting"
expect_grep hello '^Hello from foldvm guest$'
expect_grep hello '^cmdline: greeting$'

expect_rc exit-status 3 "$FOLDVM" run "$GUESTS/hello.elf" --cmdline "exit=3"

expect_rc count50 0 "$FOLDVM" run "$GUESTS/hello.elf" --count 50 --mem 4M
expect_count count50 '^\[vm[0-9]+\] Hello from foldvm guest$' 50
expect_grep count50 '^\[vm49\] Hello'

expect_rc crash 70 "$FOLDVM" run "$GUESTS/crash.elf"
expect_grep crash 'crash: about to fault'
expect_grep crash 'triple fault'
expect_grep crash 'rip +=0000'

for mode in data argptr len; do
    expect_rc "badcall-$mode" 70 "$FOLDVM" run "$GUESTS/badcall.elf" --cmdline "mode=$mode"
    expect_grep "badcall-$mode" 'bad hypercall'
    if grep -q 'badcall: survived' "$TMP/badcall-$mode.out"; then fail "badcall-$mode survived"; fi
done

expect_rc cowcheck 0 "$FOLDVM" run "$GUESTS/cowcheck.elf" --count 3
expect_count cowcheck 'cowcheck: ok' 3

expect_rc cpl0 0 "$FOLDVM" run "$GUESTS/hello.elf" --guest-cpl 0
expect_grep cpl0 'Hello from foldvm guest'

printf 'abc' > "$TMP/initrd.bin"
expect_rc initrd 0 "$FOLDVM" run "$GUESTS/hello.elf" --initrd "$TMP/initrd.bin"

expect_rc timeout 124 "$FOLDVM" run "$GUESTS/memfill.elf" --mem 8M --timeout 0.5
expect_grep timeout 'timeout after'

# Hostile images: clear message, exit 2, no crash.
: > "$TMP/empty.elf"
expect_rc empty-image 2 "$FOLDVM" run "$TMP/empty.elf"
expect_grep empty-image 'is empty'
head -c 40 "$GUESTS/hello.elf" > "$TMP/trunc.elf"
expect_rc truncated-image 2 "$FOLDVM" run "$TMP/trunc.elf"
expect_grep truncated-image 'invalid ELF image: truncated'
cp "$GUESTS/hello.elf" "$TMP/machine.elf"
printf '\xb7\x00' | dd of="$TMP/machine.elf" bs=1 seek=18 conv=notrunc 2>/dev/null
expect_rc wrong-machine 2 "$FOLDVM" run "$TMP/machine.elf"
expect_grep wrong-machine 'wrong machine'
expect_rc missing-image 2 "$FOLDVM" run "$TMP/nope.elf"
expect_grep missing-image 'cannot open image'
expect_rc bad-mem 2 "$FOLDVM" run "$GUESTS/hello.elf" --mem 12Q
expect_grep bad-mem 'invalid size suffix'
expect_rc tiny-mem 2 "$FOLDVM" run "$GUESTS/hello.elf" --mem 1M
expect_grep tiny-mem 'mem must be'
expect_rc bad-knob 2 "$FOLDVM" run "$GUESTS/hello.elf" --dedup-opt pages_to_scan=0
expect_grep bad-knob 'must be in \[1, 10000000\]'

expect_rc version 0 "$FOLDVM" --version
expect_grep version '^foldvm [0-9]+\.[0-9]+\.[0-9]+'
expect_rc help 0 "$FOLDVM" run --help
expect_grep help '--dedup-opt'
finish
