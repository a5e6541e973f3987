#!/bin/sh
# Apply, one run per plan: while a first run is held in a blocking suspend
# hook, a second apply of the same plan exits 3 at once without calling a
# hook or touching LVM; the first then completes normally.
# vm: ramdisk_mb=64 share timeout=120

PLAN=/etc/snapplan/lock.yaml
BLOCK=$PWD/block-suspend

step "three origins; hook a blocks its suspend while $BLOCK exists"
apply_system
write_apply_plan lock 60s <<YAML
  - lv: vg0/alpha
  - lv: vg0/bravo
  - lv: vg0/charlie
YAML
make_hook "$HOOKS" a "while [ -e $BLOCK ]; do sleep 0.1; done"
touch "$BLOCK"

step "the first apply holds the lock, waiting in hook a"
start_bg "$PWD/first" snapplan apply "$PLAN"
first=$BG_PID
wait_for 60 hook_called "suspend a"
state=$(lvm_state)

step "a second apply of the same plan exits 3, changing nothing"
expect_exit 3 snapplan apply "$PLAN"
assert_hook_calls "suspend a"
assert_eq "$state" "$(lvm_state)" "LVM state after the refused run"
alive "$first" || fail "the first run ended early"

step "released, the first run completes"
rm -f "$BLOCK"
wait_bg "$first" "$PWD/first"
assert_eq 0 "$BG_STATUS" "exit status of the first run"
assert_hook_calls "suspend a, resume a"
assert_no_snapshot
assert_backed_up lock alpha bravo charlie
