#!/bin/sh
# Apply, a snapshot that cannot be made: apply's pre-flight passes, then the last
# suspend hook takes all of vg0's free space but one extent (as another
# program could between check and snapshot). alpha's snapshot is made, bravo's
# fails: the run removes alpha's snapshot, resumes the hooks, copies nothing
# and exits 1. vg0's metadata sequence number proves alpha's snapshot was
# really created (and removed) in between.
# vm: ramdisk_mb=64 share timeout=120

PLAN=/etc/snapplan/snapfail.yaml

step "three origins, one-extent snapshots; hook b fills vg0 but one extent"
apply_system
write_apply_plan snapfail 30s <<YAML
  - lv: vg0/alpha
    snapshot_size: 4MiB
  - lv: vg0/bravo
    snapshot_size: 4MiB
  - lv: vg0/charlie
    snapshot_size: 4MiB
YAML
make_hook "$HOOKS" a
make_hook "$HOOKS" b \
    'free=$(vgs --noheadings -o vg_free_count vg0 | tr -d " ")
lvcreate -q -y -l $((free - 1)) -n filler vg0 >/dev/null || exit 1'
assert_eq 4194304 "$(vg_field vg0 vg_extent_size)" "extent size (one snapshot = one extent)"
seqno_before=$(vg_field vg0 vg_seqno)

step "apply: bravo's snapshot fails for want of space"
expect_exit 1 snapplan apply "$PLAN"

step "rolled back: no snapshot, hooks resumed, nothing backed up"
assert_no_snapshot
assert_hook_calls "suspend a, suspend b, resume b, resume a"
assert_lv_exists vg0/filler
assert_eq 1 "$(vg_field vg0 vg_free_count)" "free extents in vg0 (alpha's snapshot given back)"
seqno_after=$(vg_field vg0 vg_seqno)
echo "vg0 metadata seqno $seqno_before -> $seqno_after"
# filler (+1), alpha's snapshot created (+1 at least) and removed (+1 at least)
[ $((seqno_after - seqno_before)) -ge 3 ] ||
    fail "vg0 changed $((seqno_after - seqno_before)) times: alpha's snapshot was never made, so its removal is not shown"
for lv in alpha bravo charlie; do assert_not_complete "backup/$lv"; done
assert_eq 4 "$(lv_count vg0)" "LVs in vg0 (3 origins + filler)"
