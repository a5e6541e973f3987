#!/bin/sh
# Keep the previous backup (target.keep_previous, the default) on a thick
# target. One origin, alpha (16 MiB). A good run protects the backup with a
# snapshot while it copies and removes it after verify; SIGTERM mid-copy
# (rollback), SIGKILL mid-copy (then `snapplan recover`) and a copy that
# fails on an overflowing source snapshot each leave backup/alpha
# byte-identical to the previous good backup, tagged complete, with no
# protection snapshot left; the next apply is a correct delta copy again
# (the manifest was put back too). check fails with figures when the
# backup VG has no room for the protection, and passes with
# keep_previous: false.
# vm: ramdisk_mb=64 share timeout=240

PLAN=/etc/snapplan/keep.yaml
PROTECTION=backup/alpha-snapplan-keep

# plan [VOLUME_LINES] [TARGET_LINE]: the plan, alpha only.
plan() {
    write_apply_plan keep 30s <<YAML
  - lv: vg0/alpha
${1:-}
YAML
    if [ -n "${2:-}" ]; then
        awk -v add="$2" '{ print } /^  vg: backup$/ { print add }' "$PLAN" >"$PLAN.new"
        mv "$PLAN.new" "$PLAN"
    fi
}

protected() {
    lv_exists "$PROTECTION" && [ "$(lv_field "$PROTECTION" origin)" = alpha ]
}

# overwritten: the protection holds data, i.e. the run has overwritten part
# of the backup it protects (a fixed sleep raced the copy's first chunk).
overwritten() {
    protected || return 1
    _used=$(lv_field "$PROTECTION" data_percent)
    [ -n "$_used" ] && [ "$_used" != "0.00" ]
}

assert_no_protection() {
    ! lv_exists "$PROTECTION" || fail "protection snapshot $PROTECTION left behind"
    assert_no_snapshot
}

# assert_previous_backup SUM: backup/alpha holds SUM again, tagged complete.
assert_previous_backup() {
    activate_backup
    assert_eq "$1" "$(sha256 /dev/backup/alpha)" "sha256 of backup/alpha vs the previous good backup"
    assert_backup backup/alpha keep complete
    assert_no_protection
}

step "first backup: no previous one, nothing to protect"
apply_system
plan
make_hook "$HOOKS" a
run_ok snapplan apply "$PLAN"
assert_backed_up keep alpha
assert_no_protection

step "alpha changes; the next run protects the backup while it copies, then removes the protection"
write_random /dev/vg0/alpha 6 0
vgchange -q -an backup >/dev/null
start_bg "$PWD/good" snapplan apply "$PLAN" --bandwidth 4MiB/s
pid=$BG_PID
wait_for 60 protected
wait_bg "$pid" "$PWD/good"
assert_eq 0 "$BG_STATUS" "exit status of the protected run"
assert_backed_up keep alpha
assert_no_protection
good=$(sha256 /dev/backup/alpha)

step "alpha changes; SIGTERM mid-copy: the rollback merges the previous backup back"
write_random /dev/vg0/alpha 12 0
vgchange -q -an backup >/dev/null
start_bg "$PWD/term" snapplan apply "$PLAN" --bandwidth 2MiB/s
pid=$BG_PID
wait_for 60 overwritten
activate_backup
assert_ne "$good" "$(sha256 /dev/backup/alpha)" "sha256 of backup/alpha mid-copy (the copy must have overwritten some)"
kill -TERM "$pid"
wait_bg "$pid" "$PWD/term"
assert_eq 130 "$BG_STATUS" "exit status after SIGTERM"
assert_previous_backup "$good"

step "SIGKILL mid-copy, then snapplan recover merges the previous backup back"
vgchange -q -an backup >/dev/null
start_bg "$PWD/kill" snapplan apply "$PLAN" --bandwidth 2MiB/s
pid=$BG_PID
wait_for 60 overwritten
kill -KILL "$pid"
wait_bg "$pid" "$PWD/kill"
assert_eq 137 "$BG_STATUS" "exit status after SIGKILL"
protected || fail "the killed run left no protection: this case would prove nothing"
assert_ne "$good" "$(sha256 /dev/backup/alpha)" "sha256 of backup/alpha after the kill"
run_ok snapplan recover "$PLAN"
assert_previous_backup "$good"

step "the next apply backs alpha up correctly (its manifest describes the previous backup again)"
run_ok snapplan apply "$PLAN"
assert_backed_up keep alpha
good=$(sha256 /dev/backup/alpha)

step "the copy fails (alpha's 4 MiB snapshot overflows): the previous backup is merged back"
plan "    snapshot_size: 4MiB
    bandwidth: 2MiB/s"
make_hook "$HOOKS" a "" \
    "setsid sh -c 'echo \$\$ >$PWD/writer.pid; sleep 0.5; dd if=/dev/urandom of=/dev/vg0/alpha bs=1M count=12 conv=fsync 2>/dev/null' </dev/null >/dev/null 2>&1 &
while [ ! -s $PWD/writer.pid ]; do sleep 0.05; done"
expect_exit 1 snapplan apply "$PLAN"
wait_for 60 gone "$(cat "$PWD/writer.pid")"
assert_previous_backup "$good"

step "check: no room for the protection in VG backup fails with figures"
plan
make_hook "$HOOKS" a
free=$(vg_field backup vg_free_count)
make_lv backup filler "$(((free - 2) * 4))M"
expect_exit 1 snapplan check "$PLAN" --format json >/dev/null
cp "$VM_OUT" "$PWD/check.json"
jq -e '.checks[] | select(.check == "protection_space" and .status == "fail")
    | select(.space.needed_extents > .space.free_extents and .space.free_extents == 2)' \
    "$PWD/check.json" >/dev/null || fail "no failing protection_space row with figures: $(cat "$PWD/check.json")"
# Next to the worst case, what the last good copies really overwrote.
jq -e '.checks[] | select(.check == "protection_space") | .detail
    | test("expected from the last [0-9]+ run\\(s\\): a copy overwrote at most alpha [0-9.]+ MiB")' \
    "$PWD/check.json" >/dev/null || fail "no expected overwrite in the protection_space row: $(cat "$PWD/check.json")"

step "check with keep_previous: false passes and says the previous backup is not protected"
plan "" "  keep_previous: false"
run_ok snapplan check "$PLAN" --format json >/dev/null
cp "$VM_OUT" "$PWD/check2.json"
jq -e '.checks[] | select(.check == "protection_space" and .status == "warn")' \
    "$PWD/check2.json" >/dev/null || fail "no protection_space warning: $(cat "$PWD/check2.json")"
lvremove -q -y backup/filler >/dev/null
