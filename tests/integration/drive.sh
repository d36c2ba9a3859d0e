#!/usr/bin/env bash
# virtio-blk through the CLI (foldvm run --drive) with the blkcheck guest:
# I/O that lands in the image file, read-only drives, serials, aliases,
# several VMs, and option errors.
source "$(dirname "$0")/lib.sh"

# mkimg FILE SIZE NAME: an image whose first line is "FOLDVM DISK NAME".
mkimg() {
    truncate -s "$2" "$1"
    printf 'FOLDVM DISK %s\n' "$3" | dd of="$1" conv=notrunc status=none
}
# sector_has FILE SECTOR TEXT: the sector starts with TEXT.
sector_has() {
    [ "$(dd if="$1" bs=512 skip="$2" count=1 status=none | head -c ${#3})" = "$3" ]
}

mkimg "$TMP/a.img" 1M a
mkimg "$TMP/b.img" 64K b
cp "$TMP/b.img" "$TMP/b.orig"

expect_rc rw 0 "$FOLDVM" run "$GUESTS/blkcheck.elf" --drive "path=$TMP/a.img,id=disk-a" \
    --cmdline "write_sector=5 tag=t1"
expect_grep rw '^blkcheck: drive0 id=disk-a capacity=2048 ro=0$'
expect_grep rw '^blkcheck: drive0 first line: FOLDVM DISK a$'
expect_grep rw '^blkcheck: ok drives=1$'
if sector_has "$TMP/a.img" 5 "blkcheck wrote sector 5 tag=t1" &&
    sector_has "$TMP/a.img" 6 "blkcheck second sector tag=t1"; then
    pass "the guest's write is in the image file"
else
    fail "sectors 5-6 of a.img lack the guest's write"
fi
[ "$(stat -c %s "$TMP/a.img")" -eq 1048576 ] && pass "a.img kept its size" || fail "a.img size changed"

# A read-only second drive (Firecracker's names), after a balloon; default id.
expect_rc ro 0 "$FOLDVM" run "$GUESTS/blkcheck.elf" --balloon \
    --drive "path=$TMP/a.img" --drive "path_on_host=$TMP/b.img,is_read_only=1" \
    --cmdline "drives=2 write_sector=7 tag=t2"
expect_grep ro '^blkcheck: drive0 id=drive0 capacity=2048 ro=0$'
expect_grep ro '^blkcheck: drive1 id=drive1 capacity=128 ro=1$'
expect_grep ro '^blkcheck: drive1 first line: FOLDVM DISK b$'
expect_grep ro '^blkcheck: drive1 write refused status=1$'
expect_grep ro '^blkcheck: ok drives=2$'
cmp -s "$TMP/b.img" "$TMP/b.orig" && pass "read-only b.img unchanged" || fail "b.img changed"

# Many VMs may share a read-only image; a writable one has one owner.
expect_rc shared-ro 0 "$FOLDVM" run "$GUESTS/blkcheck.elf" --count 3 \
    --drive "path=$TMP/b.img,readonly=1,drive_id=rootfs"
expect_count shared-ro '^\[vm[0-9]\] blkcheck: drive0 id=rootfs capacity=128 ro=1$' 3
expect_rc shared-rw 2 "$FOLDVM" run "$GUESTS/blkcheck.elf" --count 2 --drive "path=$TMP/a.img"
expect_grep shared-rw 'in use by another drive'

# Guests without a driver ignore the device; the driver without one says so.
expect_rc hello 0 "$FOLDVM" run "$GUESTS/hello.elf" --drive "path=$TMP/a.img"
expect_rc no-device 2 "$FOLDVM" run "$GUESTS/blkcheck.elf"
expect_grep no-device 'blkcheck: no virtio-blk device 0'

# Bad input: a clear message and exit 2.
truncate -s 1000 "$TMP/odd.img"
expect_rc missing-file 2 "$FOLDVM" run "$GUESTS/hello.elf" --drive "path=$TMP/nope.img"
expect_grep missing-file "nope.img': cannot open .*No such file"
expect_rc odd-size 2 "$FOLDVM" run "$GUESTS/hello.elf" --drive "path=$TMP/odd.img"
expect_grep odd-size 'size 1000 bytes is not a multiple of 512'
expect_rc directory 2 "$FOLDVM" run "$GUESTS/hello.elf" --drive "path=$TMP,readonly=1"
expect_grep directory 'not a regular file or block device'
expect_rc unknown-key 2 "$FOLDVM" run "$GUESTS/hello.elf" --drive "path=$TMP/a.img,cache=none"
expect_grep unknown-key "unknown drive option 'cache'"
expect_rc no-path 2 "$FOLDVM" run "$GUESTS/hello.elf" --drive "readonly=1"
expect_grep no-path 'needs path=FILE'
expect_rc bad-bool 2 "$FOLDVM" run "$GUESTS/hello.elf" --drive "path=$TMP/a.img,readonly=maybe"
expect_grep bad-bool 'needs 0 or 1'
expect_rc bad-id 2 "$FOLDVM" run "$GUESTS/hello.elf" --drive "path=$TMP/a.img,id=a b"
expect_grep bad-id 'may only contain'
expect_rc dup-id 2 "$FOLDVM" run "$GUESTS/hello.elf" --drive "path=$TMP/a.img,id=x" \
    --drive "path=$TMP/b.img,readonly=1,id=x"
expect_grep dup-id "drive id 'x' is used twice"
many=()
for i in $(seq 9); do many+=(--drive "path=$TMP/b.img,readonly=1"); done
expect_rc too-many 2 "$FOLDVM" run "$GUESTS/hello.elf" "${many[@]}"
expect_grep too-many 'at most 8 drives'
finish
