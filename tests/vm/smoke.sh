#!/bin/sh
# Smoke: proves the bench. Real LVM on RAM disks: a classic snapshot keeps
# its content while the origin changes, an overflowing one is marked invalid
# by the kernel, and snapplan runs inside the VM.
# vm: ramdisk_mb=64

step "snapplan runs in the VM"
run_ok snapplan --version

step "a VG on two RAM disks with an LV full of data"
make_vg vg0 "$(ram_disk 0)" "$(ram_disk 1)"
make_lv vg0 data 16m
fill /dev/vg0/data
assert_eq $((16 * 1048576)) "$(lv_field vg0/data lv_size)" "size of vg0/data"
before=$(sha256 /dev/vg0/data)

step "a snapshot keeps the old content while the origin changes"
make_snapshot vg0/data snap 8m
assert_snapshot_valid vg0/snap
assert_eq vg0/data "vg0/$(lv_field vg0/snap origin)" "origin of vg0/snap"
write_random /dev/vg0/data 4
assert_ne "$before" "$(sha256 /dev/vg0/data)" "sha256 of the changed origin"
assert_eq "$before" "$(sha256 /dev/vg0/snap)" "sha256 of the snapshot"
assert_snapshot_valid vg0/snap
lvremove -q -y vg0/snap >/dev/null
assert_no_lv vg0/snap

step "a snapshot too small for the writes overflows and is invalid"
make_snapshot vg0/data small 4m
write_random /dev/vg0/data 8
assert_snapshot_invalid vg0/small
dmesg | grep -q "Invalidating snapshot" || fail "the kernel did not log the invalidation"
lvremove -q -y vg0/small >/dev/null
assert_eq 1 "$(lv_count vg0)" "LVs left in vg0"
