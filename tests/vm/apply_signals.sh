#!/bin/sh
# Apply, interrupted: SIGTERM mid-copy rolls back and exits 130, and so does
# SIGTERM in the suspend window followed by a second one during the resume
# hooks (the second must not skip any resume). SIGKILL inside the suspend
# window (hook b blocking) leaves suspended hooks that `snapplan recover
# PLAN` resumes; the next apply, killed mid-copy, leaves a snapshot that a
# plain `snapplan apply` removes before it runs and succeeds. Every time: no
# snapshot left, every suspended hook resumed exactly once.
# vm: ramdisk_mb=64 share timeout=180

PLAN=/etc/snapplan/signals.yaml
BLOCK=$PWD/block-suspend
SLOW_RESUME=$PWD/slow-resume

has_snapshot() {
    [ -n "$(snapshot_lvs)" ]
}

# copying: the hooks are resumed and the snapshots exist: the copies run.
copying() {
    hook_called "resume a" && has_snapshot
}

assert_no_snapplan_process() {
    ! pidof snapplan >/dev/null || fail "snapplan processes still run: $(pidof snapplan)"
}

assert_all_backed_up() {
    assert_backed_up signals alpha bravo charlie
}

step "three origins; hooks a and b (b blocks its suspend while $BLOCK exists, resumes slowly while $SLOW_RESUME does)"
apply_system
write_apply_plan signals 60s <<YAML
  - lv: vg0/alpha
  - lv: vg0/bravo
  - lv: vg0/charlie
YAML
make_hook "$HOOKS" a
make_hook "$HOOKS" b "echo \$\$ >$PWD/b.pid; while [ -e $BLOCK ]; do sleep 0.1; done" \
    "[ ! -e $SLOW_RESUME ] || sleep 2"

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

step "SIGTERM inside the suspend window, a second one while resuming: every hook still resumed"
rm -f "$HOOK_LOG"
touch "$BLOCK" "$SLOW_RESUME"
start_bg "$PWD/term2" snapplan apply "$PLAN"
pid=$BG_PID
wait_for 60 hook_called "suspend b"
kill -TERM "$pid"
sleep 0.5
rm -f "$BLOCK"
wait_for 30 hook_called "resume b"
kill -TERM "$pid"
wait_bg "$pid" "$PWD/term2"
assert_eq 130 "$BG_STATUS" "exit status after two SIGTERMs"
assert_hook_calls "suspend a, suspend b, resume b, resume a"
assert_no_snapshot
assert_no_snapplan_process
rm -f "$SLOW_RESUME"

step "SIGKILL while hook b holds the suspend window open"
rm -f "$HOOK_LOG"
touch "$BLOCK"
start_bg "$PWD/kill1" snapplan apply "$PLAN"
pid=$BG_PID
wait_for 60 hook_called "suspend b"
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

step "the next apply runs; SIGKILL mid-copy (2 MiB/s) leaves a snapshot behind"
rm -f "$HOOK_LOG"
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
