#!/bin/sh
# Apply, interrupted: SIGTERM mid-copy rolls back and exits 130; SIGKILL
# inside the suspend window (hook b blocking) leaves suspended hooks that
# `snapplan recover PLAN` resumes; SIGKILL mid-copy leaves a snapshot that
# the next plain `snapplan apply` removes before it runs. Every time: no
# snapshot left, every suspended hook resumed exactly once, and the next
# apply backs everything up.
# vm: ramdisk_mb=64 share timeout=180

PLAN=/etc/snapplan/signals.yaml
BLOCK=$PWD/block-suspend

has_snapshot() {
    [ -n "$(snapshot_lvs)" ]
}

# copying: the hooks are resumed and the snapshots exist: the copies run.
copying() {
    grep -q "resume a" "$HOOK_LOG" 2>/dev/null && has_snapshot
}

assert_no_snapplan_process() {
    ! pidof snapplan >/dev/null || fail "snapplan processes still run: $(pidof snapplan)"
}

assert_all_backed_up() {
    assert_backed_up signals alpha bravo charlie
}

step "three origins; hooks a and b (b blocks its suspend while $BLOCK exists)"
apply_system
write_apply_plan signals 60s <<YAML
  - lv: vg0/alpha
  - lv: vg0/bravo
  - lv: vg0/charlie
YAML
make_hook "$HOOKS" a
make_hook "$HOOKS" b "echo \$\$ >$PWD/b.pid; while [ -e $BLOCK ]; do sleep 0.1; done"

step "SIGTERM mid-copy (2 MiB/s): exit 130, rolled back"
start_bg "$PWD/term" snapplan apply "$PLAN" --bandwidth 2MiB/s
pid=$BG_PID
wait_for 60 copying
sleep 1
kill -TERM "$pid"
wait_bg "$pid" "$PWD/term"
assert_eq 130 "$BG_STATUS" "exit status after SIGTERM"
assert_no_snapshot
assert_hook_calls "suspend a, suspend b, resume b, resume a"
for lv in alpha bravo charlie; do assert_not_complete "backup/$lv"; done
assert_no_snapplan_process

step "SIGKILL while hook b holds the suspend window open"
rm -f "$HOOK_LOG"
touch "$BLOCK"
start_bg "$PWD/kill1" snapplan apply "$PLAN"
pid=$BG_PID
wait_for 60 grep -q "suspend b" "$HOOK_LOG"
kill -KILL "$pid"
wait_bg "$pid" "$PWD/kill1"
assert_eq 137 "$BG_STATUS" "exit status after SIGKILL"
hook_pid=$(cat "$PWD/b.pid")
alive "$hook_pid" || fail "hook b (pid $hook_pid) should still block"
assert_hook_calls "suspend a, suspend b"

step "snapplan recover resumes b and a (b's suspend still hangs: the lock is free anyway)"
run_ok snapplan recover "$PLAN"
assert_hook_calls "suspend a, suspend b, resume b, resume a"
assert_no_snapshot
rm -f "$BLOCK"
wait_for 10 gone "$hook_pid"

step "the next apply succeeds"
rm -f "$HOOK_LOG"
run_ok snapplan apply "$PLAN"
assert_hook_calls "suspend a, suspend b, resume b, resume a"
assert_no_snapshot
assert_all_backed_up

step "SIGKILL mid-copy (alpha rewritten, 2 MiB/s): a snapshot is left behind"
rm -f "$HOOK_LOG"
fill /dev/vg0/alpha
start_bg "$PWD/kill2" snapplan apply "$PLAN" --bandwidth 2MiB/s
pid=$BG_PID
wait_for 60 copying
sleep 1
kill -KILL "$pid"
wait_bg "$pid" "$PWD/kill2"
assert_eq 137 "$BG_STATUS" "exit status after SIGKILL"
has_snapshot || fail "the killed run left no snapshot: this case would prove nothing"
snapshot_lvs
assert_not_complete backup/alpha

step "a plain apply recovers first (no second resume), then backs everything up"
run_ok snapplan apply "$PLAN"
assert_hook_calls "suspend a, suspend b, resume b, resume a, suspend a, suspend b, resume b, resume a"
assert_no_snapshot
assert_all_backed_up
assert_no_snapplan_process
