#!/bin/bash
# foldvm's unikernel guests on L1's /dev/kvm (kvm-amd under TCG's SVM): output,
# exit status, several VMs, a crash. Proves the tier runs foldvm at all.
# Dedup is off here: l1-dedup covers it on L1's older (6.1) kernel.
source "$(dirname "$0")/lib.sh"

expect_rc hello 0 timeout 60 "$FOLDVM" run "$GUESTS/hello.elf" --cmdline greeting --dedup off
expect_grep hello hello.out '^Hello from foldvm guest$'
expect_grep hello hello.out '^cmdline: greeting$'
expect_rc exit-status 3 timeout 60 "$FOLDVM" run "$GUESTS/hello.elf" --cmdline exit=3 --dedup off
expect_rc count4 0 timeout 60 "$FOLDVM" run "$GUESTS/hello.elf" --count 4 --mem 4M --dedup off
expect_grep count4 count4.out '^\[vm3\] Hello from foldvm guest$'
expect_rc crash 70 timeout 60 "$FOLDVM" run "$GUESTS/crash.elf" --dedup off
finish
