#!/bin/sh
# Demo: a small system backed up by snapplan, shown live on the console
# (`cargo xtask demo`). Each part is a function: add one and call it below.
# A snapplan command that fails is shown and the demo goes on, but the demo
# then fails at the end.
# vm: ramdisk_mb=128 timeout=600

failed=""

# shown COMMAND...: runs a snapplan command for the audience; a failure is
# noted and fails the demo at the end.
shown() {
    echo "\$ $*"
    "$@" && return 0 || status=$?
    echo "(exit status $status)"
    failed="$failed
  $* (exit status $status)"
}

# shown_piped COMMAND...: as `shown`, with stderr through a pipe: without a
# terminal snapplan logs copy progress as plain lines, which the console log
# keeps (a progress bar's redraws never end a line, so the log loses them).
shown_piped() {
    echo "\$ $* 2>&1 | cat"
    "$@" 2>&1 | cat && return 0 || status=$?
    echo "(exit status $status)"
    failed="$failed
  $* (exit status $status)"
}

PLAN=/etc/snapplan/demo.yaml
HOOKS=/etc/snapplan/hooks
HOOK_LOG=/var/log/demo-hooks.log
SUMS=/var/log/demo-sums-at-snapshot

build_system() {
    step "The system: VG vg0 with three LVs holding data, VG backup for the copies"
    make_vg vg0 "$(ram_disk 0)" "$(ram_disk 1)"
    make_lv vg0 root 48m
    make_lv vg0 home 64m
    make_lv vg0 db 24m
    for lv in root home db; do fill "/dev/vg0/$lv"; done
    make_vg backup "$(ram_disk 2)" "$(ram_disk 3)"
    lvs -o vg_name,lv_name,lv_size,lv_attr
    vgs -o vg_name,vg_size,vg_free
}

write_hooks() {
    step "Two hooks that log when services are suspended and resumed; the database writes again once resumed"
    mkdir -p "$HOOKS"
    for hook in 10-database 20-webserver; do
        cat >"$HOOKS/$hook" <<HOOK
#!/bin/sh
echo "\$(date +%T) $hook \$1" >>$HOOK_LOG
HOOK
        chmod +x "$HOOKS/$hook"
    done
    cat >>"$HOOKS/10-database" <<HOOK
# Resumed after the snapshots, the database writes 1 MiB: no backup may see it.
if [ "\$1" = resume ]; then
    dd if=/dev/urandom of=/dev/vg0/db bs=1M count=1 seek=3 conv=fsync 2>/dev/null
fi
HOOK
    step "A third hook, for the demo's own check: checksums of the origins while suspended"
    cat >"$HOOKS/99-checksums" <<HOOK
#!/bin/sh
# Runs last on suspend: nothing writes now, so this is what the snapshots hold.
if [ "\$1" = suspend ]; then
    $(record_sums_sh "$SUMS" vg0 root home db)
fi
HOOK
    chmod +x "$HOOKS/99-checksums"
    ls -l "$HOOKS"
}

write_plan() {
    step "The plan ($PLAN)"
    cat >"$PLAN" <<PLAN
version: 1
name: demo
hooks:
  dir: $HOOKS
  timeout: 2m
target:
  vg: backup
defaults:
  snapshot_size: 25%
volumes:
  - lv: vg0/db
  - lv: vg0/root
  - lv: vg0/home
    bandwidth: 50M/s
    after: [db]
PLAN
    cat "$PLAN"
}

show_plan() {
    step "snapplan plan: what it would do"
    shown snapplan plan "$PLAN"
}

run_check() {
    step "snapplan check: pre-flight against this system"
    if snapplan_has check; then
        before=$(lvm_state)
        shown snapplan check "$PLAN"
        assert_eq "$before" "$(lvm_state)" "LVM state after check"
    else
        echo "skipped: this snapplan has no 'check' command yet"
    fi
}

run_apply() {
    step "snapplan apply: the backup run"
    if ! snapplan_has apply; then
        echo "skipped: this snapplan has no 'apply' command yet"
        return 0
    fi
    echo "(throttled to 4 MiB/s on the command line, so that the copy progress can be seen)"
    shown_piped snapplan apply "$PLAN" --bandwidth 4MiB/s
    step "Hook log"
    cat "$HOOK_LOG"
    step "Independent check: each backup LV holds its origin's bytes as they were at snapshot time"
    activate_backup
    for lv in root home db; do
        at_snapshot=$(recorded_sum "$SUMS" "$lv")
        backup=$(sha256 "/dev/backup/$lv")
        now=$(sha256 "/dev/vg0/$lv")
        echo "$lv: at snapshot $at_snapshot"
        echo "$lv: backup      $backup"
        echo "$lv: origin now  $now"
        assert_eq "$at_snapshot" "$backup" "sha256 of backup/$lv vs vg0/$lv at snapshot time"
    done
    assert_ne "$(recorded_sum "$SUMS" db)" "$(sha256 /dev/vg0/db)" "vg0/db now (written after the snapshot)"
    step "No snapshot left behind; the backups are tagged complete"
    lvs -a -o vg_name,lv_name,lv_attr,lv_size,lv_tags
    assert_no_snapshot
    for lv in root home db; do assert_backup "backup/$lv" demo complete; done
}

build_system
write_hooks
write_plan
show_plan
run_check
run_apply

[ -z "$failed" ] || fail "these snapplan commands failed:$failed"
