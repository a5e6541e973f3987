#!/bin/sh
# Apply, hooks that fail: a suspend hook exiting 1, then one that hangs past
# hooks.timeout (with a child of its own). Either way the run stops before
# any snapshot, resumes every hook whose suspend started (b too: docs/apply.md)
# in reverse, never calls
# the later hooks, kills the hung hook's whole process group, leaves no
# snapshot and tags no backup complete.
# vm: ramdisk_mb=64 share timeout=120

PLAN=/etc/snapplan/hookfail.yaml

# no_backup_complete: none of the three backups is tagged complete.
no_backup_complete() {
    for lv in alpha bravo charlie; do assert_not_complete "backup/$lv"; done
}

# assert_rolled_back: a and b (whose suspend was started) resumed once each
# in reverse order, c never called, nothing left in LVM.
assert_rolled_back() {
    assert_hook_calls "suspend a, suspend b, resume b, resume a"
    assert_no_snapshot
    assert_eq "$vg0_state" "$(lvs_json -o lv_name,lv_attr,lv_size,lv_tags vg0)" "vg0 after the failed run"
    no_backup_complete
}

step "three origins; hooks a, b, c; hooks.timeout 2s"
apply_system
write_apply_plan hookfail 2s <<YAML
  - lv: vg0/alpha
  - lv: vg0/bravo
  - lv: vg0/charlie
YAML
make_hook "$HOOKS" a
make_hook "$HOOKS" c
vg0_state=$(lvs_json -o lv_name,lv_attr,lv_size,lv_tags vg0)

step "b's suspend exits 1: a resumed, c never called, no snapshot, exit non-zero"
make_hook "$HOOKS" b "exit 1"
expect_exit 1 snapplan apply "$PLAN"
assert_rolled_back

step "b's suspend hangs (and forks a child) past the 2 s timeout: same, and both processes killed"
rm -f "$HOOK_LOG"
make_hook "$HOOKS" b "sleep 300 & echo \$! >$PWD/b-child.pid; echo \$\$ >$PWD/b.pid; wait"
expect_exit 1 snapplan apply "$PLAN"
assert_rolled_back
for f in b.pid b-child.pid; do
    [ -s "$f" ] || fail "hook b did not record $f"
    ! alive "$(cat "$f")" || fail "hook b's process $(cat "$f") ($f) still runs after the timeout"
done
