#!/bin/bash
# The L2 guest (Debian cloud kernel + guest-kernels/linux initramfs) under
# QEMU -enable-kvm inside L1: init runs the command from the kernel command
# line and reports its status; the virtio modules find a virtio-mmio disk
# described by ACPI (LNRO0005, as foldvm describes its devices) and data
# written to it survives a second boot. Validates the initramfs and the
# yardstick independently of foldvm.
source "$(dirname "$0")/lib.sh"

for m in microvm pc; do
    expect_rc "$m-boot" 0 qemu_l2 "$m" -- 'sh -c "echo hello-from-l2; exit 7"'
    expect_grep "$m-boot" "$m-boot.out" '^foldvm-init: reached'
    expect_grep "$m-boot" "$m-boot.out" '^hello-from-l2'
    expect_grep "$m-boot" "$m-boot.out" '^foldvm-exit: 7'
done

# virtio-blk over virtio-mmio with ACPI (microvm), raw marker, two boots.
truncate -s 4M disk.img
marker="nested-marker-$RANDOM$RANDOM"
disk=(-drive "id=d0,file=disk.img,format=raw,if=none" -device "virtio-blk-device,drive=d0")
expect_rc blk-write 0 qemu_l2 microvm "${disk[@]}" -- \
    "sh -c \"echo $marker | dd of=/dev/vda bs=512 conv=sync,fsync 2>/dev/null && echo written\""
expect_grep blk-write blk-write.out '^foldvm-init: disks: vda'
expect_grep blk-write blk-write.out '^written'
expect_rc blk-read 0 qemu_l2 microvm "${disk[@]}" -- \
    "sh -c \"dd if=/dev/vda bs=512 count=1 2>/dev/null | tr -d '\\000' | sed -n 1p\""
expect_grep blk-read blk-read.out "^$marker"
if head -c 512 disk.img | grep -qa "$marker"; then pass "marker is in the image file"; else
    fail "marker missing from disk.img"; fi
finish
