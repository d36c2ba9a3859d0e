#!/bin/bash
# (b) virtio-blk: a marker written raw to /dev/vda survives a reboot of the VM
# (two foldvm runs on the same raw image), and lands in the image file.
# A second, read-only drive is /dev/vdb and refuses writes.
source "$(dirname "$0")/lib.sh"
need_linux_boot
"$FOLDVM" run --help 2>&1 | grep -q -- '--drive' || skip "this foldvm has no 'run --drive' (virtio-blk not merged)"

truncate -s 8M disk.img
marker="nested-marker-$RANDOM$RANDOM"
expect_rc write 0 foldvm_linux --mem 128M --dedup off --drive path=disk.img -- \
    "sh -c \"echo $marker | dd of=/dev/vda bs=512 conv=sync,fsync 2>/dev/null && echo written\""
expect_grep write write.out '^foldvm-init: disks: vda'
expect_grep write write.out '^written$'
if head -c 512 disk.img | grep -qa "^$marker"; then pass "marker is in disk.img"; else
    fail "marker missing from disk.img"; fi

cp disk.img ro.img
expect_rc read 0 foldvm_linux --mem 128M --dedup off --drive path=disk.img --drive path=ro.img,readonly=1 -- \
    "sh -c \"dd if=/dev/vda bs=512 count=1 2>/dev/null | tr -d '\\000' | sed -n 1p; if echo x | dd of=/dev/vdb conv=fsync 2>/dev/null; then echo ro-write-accepted; else echo ro-write-refused; fi\""
expect_grep read read.out "^$marker\$"
expect_grep read read.out '^foldvm-init: disks: vda vdb'
expect_grep read read.out '^ro-write-refused$'
if cmp -s disk.img ro.img; then pass "read-only image unchanged"; else fail "read-only image was modified"; fi
finish
