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

PLAN=/etc/snapplan/demo.yaml
HOOKS=/etc/snapplan/hooks
HOOK_LOG=/var/log/demo-hooks.log

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
    step "Two hooks that log when services are suspended and resumed"
    mkdir -p "$HOOKS"
    for hook in 10-database 20-webserver; do
        cat >"$HOOKS/$hook" <<HOOK
#!/bin/sh
echo "\$(date +%T) $hook \$1" >>$HOOK_LOG
HOOK
        chmod +x "$HOOKS/$hook"
    done
    ls -l "$HOOKS"
}

write_plan() {
    step "The plan ($PLAN)"
    cat >"$PLAN" <<PLAN
version: 1
name: demo
hooks:
  dir: $HOOKS
  timeout: 30s
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
    shown snapplan apply "$PLAN"
    step "Independent check: every backup LV holds its source's bytes"
    for lv in root home db; do
        assert_same_content "/dev/vg0/$lv" "/dev/backup/$lv"
        echo "vg0/$lv = backup/$lv  $(sha256 "/dev/backup/$lv")"
    done
    step "Hook log"
    cat "$HOOK_LOG"
    step "No snapshot left behind"
    lvs -a -o vg_name,lv_name,lv_attr,lv_size
}

build_system
write_hooks
write_plan
show_plan
run_check
run_apply

[ -z "$failed" ] || fail "these snapplan commands failed:$failed"
