#!/bin/bash
# (e) Malformed bzImages are rejected before any guest runs: clear message
# on stderr, exit status 2, no crash.
source "$(dirname "$0")/lib.sh"
need_linux_boot

head -c 600 "$L2_KERNEL" > short.bzImage
head -c $((1024 * 1024)) "$L2_KERNEL" > truncated.bzImage
cp "$L2_KERNEL" magic.bzImage
printf 'XXXX' | dd of=magic.bzImage bs=1 seek=$((0x202)) conv=notrunc 2>/dev/null
cp "$L2_KERNEL" sects.bzImage
printf '\xff' | dd of=sects.bzImage bs=1 seek=$((0x1f1)) conv=notrunc 2>/dev/null
: > empty.bzImage

for img in short truncated magic sects empty; do
    expect_rc "$img" 2 timeout 30 "$FOLDVM" run --kernel "$img.bzImage" --initrd "$L2_INITRD" \
        --mem 128M --dedup off --cmdline "$L2_CMDLINE"
    expect_grep "$img" "$img.err" '^foldvm: error: .*(invalid bzImage|invalid ELF image|is empty|not a)'
    if grep -q 'foldvm-init' "$img.out"; then fail "$img: a guest ran"; fi
    sed -n 's/^foldvm: error: /info: '"$img"': /p' "$img.err"
done
expect_grep truncated truncated.err 'truncated'
expect_rc missing-initrd 2 timeout 30 "$FOLDVM" run --kernel "$L2_KERNEL" --initrd nope.cpio \
    --mem 128M --dedup off
finish
