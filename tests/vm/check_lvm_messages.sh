#!/bin/sh
# The lvm2 behaviour src/lvm/remove.rs relies on, pinned on the real tools so
# a new lvm2 that changes it fails here rather than in a 3 a.m. cleanup:
# an open snapshot's lvremove says "in use"; a missing LV's says "Failed to
# find logical volume"; `lvchange -an` on a snapshot acts on its ORIGIN (why
# snapplan never deactivates a snapshot before removing it); dmsetup reports
# the open count snapplan names when a removal fails for good.
# vm: ramdisk_mb=64 share

make_vg vg0 "$(ram_disk 0)"
make_lv vg0 a 16m
make_snapshot vg0/a s 4m

step "lvremove of an open snapshot fails with 'in use', and dmsetup counts the opener"
exec 7</dev/vg0/s
expect_exit 5 lvm lvremove -f vg0/s
grep -q "in use" "$VM_ERR" || fail "lvremove's message lacks 'in use'"
assert_eq 1 "$(dmsetup info -c --noheadings -o open vg0-s | tr -d ' ')" "open count of vg0-s"
assert_eq o "$(lv_field vg0/s lv_attr | cut -c6)" "6th lv_attr character of an open LV"
assert_eq open "$(lv_field vg0/s lv_device_open)" "lv_device_open of an open LV"
assert_lv_exists vg0/s

step "lvchange -an on a snapshot is about its origin (answered no: nothing changes)"
before=$(lvm_state)
lvm lvchange -an vg0/s </dev/null >"$VM_OUT" 2>&1 || true
cat "$VM_OUT"
grep -q "origin" "$VM_OUT" || fail "lvchange -an on a snapshot did not speak of its origin"
assert_eq "$before" "$(lvm_state)" "LVM state after the refused lvchange"
assert_eq a "$(lv_field vg0/a lv_attr | cut -c5)" "origin still active"

step "closed, the snapshot goes with lvremove -f alone"
exec 7<&-
run_ok lvm lvremove -f vg0/s
assert_no_lv vg0/s
assert_eq 0 "$(dmsetup info -c --noheadings -o open vg0-a | tr -d ' ')" "open count of the origin"

step "a second removal finds nothing: 'Failed to find logical volume'"
expect_exit 5 lvm lvremove -f vg0/s
grep -q "Failed to find logical volume" "$VM_ERR" || fail "unexpected message for a missing LV"
