#!/bin/sh
# Demo: a small server backed up by snapplan onto an off-site iSCSI disk,
# shown live on the console (`cargo xtask demo`): validate, plan, check, the
# whole apply lifecycle (login, activate, hooks, snapshots, copies,
# deactivate/export, logout), an independent proof by hand, a second run
# that copies only what changed, a run killed mid-copy that `snapplan
# recover` undoes back to the last good backup, report, verify, the
# generations list, a file read from root's backup mounted read-only beside
# its original (`snapplan mount`/`unmount`), a restore, and a second plan
# keeping generations in a thin pool with retention. Each part is a
# function: add one and call it below. A snapplan command that fails is shown
# and the demo goes on, but the demo then fails at the end.
# vm: iscsi ramdisk_mb=64 timeout=900

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
IQN=iqn.2026-11.org.snapplan:offsite
VOLUMES="root home db"

build_system() {
    step "The server: VG vg0 with three LVs holding data, root an ext4 filesystem (and an empty LV 'spare' for the restore)"
    make_vg vg0 "$(ram_disk 0)" "$(ram_disk 1)"
    make_lv vg0 root 16m
    make_lv vg0 home 16m
    make_lv vg0 db 8m
    make_lv vg0 spare 16m
    for lv in home db; do fill "/dev/vg0/$lv"; done
    /usr/sbin/mke2fs -q -F -t ext4 -L root /dev/vg0/root
    mkdir -p /srv/root
    mount -t ext4 /dev/vg0/root /srv/root
    mkdir -p /srv/root/etc
    echo "listen = 8080   # as it was backed up" >/srv/root/etc/app.conf
    sync
    umount /srv/root
    lvs -o vg_name,lv_name,lv_size,lv_attr vg0
}

build_offsite_disk() {
    step "The off-site disk: an iSCSI target on loopback (the kernel's LIO, RAM disk 2)"
    iscsi_target_start "$(ram_disk 2)" "$IQN"
    iscsid_start
    step "VG backup made on it through a login by hand, then exported and logged out, as between runs"
    disk=$(iscsi_login_by_hand "$IQN")
    echo "iSCSI disk: $disk"
    make_vg backup "$disk"
    vgs -o vg_name,vg_size,vg_free,vg_attr backup
    vgchange -q -an backup >/dev/null
    vgexport backup
    iscsi_logout_by_hand "$IQN"
    assert_no_iscsi_session
    echo "iSCSI sessions: $(iscsi_session_count)"
    ! vgs backup >/dev/null 2>&1 || fail "VG backup visible while logged out"
    echo "VG backup is not visible now: the disk is logged out"
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
    step "A third hook, for the demo's own proof: checksums of the origins while suspended"
    cat >"$HOOKS/99-checksums" <<HOOK
#!/bin/sh
# Runs last on suspend: nothing writes now, so this is what the snapshots hold.
if [ "\$1" = suspend ]; then
    $(record_sums_sh "$SUMS" vg0 $VOLUMES)
fi
HOOK
    chmod +x "$HOOKS/99-checksums"
    ls -l "$HOOKS"
}

write_plan() {
    step "The plan ($PLAN): backups on VG backup, reached over iSCSI, exported between runs"
    cat >"$PLAN" <<PLAN
version: 1
name: demo
state_dir: /var/lib/snapplan
hooks:
  dir: $HOOKS
  timeout: 2m
target:
  vg: backup
  iscsi:
    portal: $ISCSI_PORTAL
    iqn: $IQN
  export: true
defaults:
  snapshot_size: 50%
volumes:
  - lv: vg0/db
  - lv: vg0/root
  - lv: vg0/home
    bandwidth: 50M/s
    after: [db]
PLAN
    cat "$PLAN"
}

validate_plan() {
    step "snapplan validate: the plan is well formed"
    shown snapplan validate "$PLAN"
}

show_plan() {
    step "snapplan plan: what a run would do, step by step"
    shown snapplan plan "$PLAN"
}

run_check() {
    step "snapplan check: pre-flight against this system (changes nothing)"
    before=$(lvm_state)
    shown snapplan check "$PLAN"
    assert_eq "$before" "$(lvm_state)" "LVM state after check"
    assert_no_iscsi_session
}

first_apply() {
    step "snapplan apply: the first run, all phases (login, activate, backup, deactivate, logout)"
    echo "(throttled to 1 MiB/s on the command line, so that copies last long enough for the"
    echo " progress lines, logged every ~10 s when stderr is not a terminal, to be seen)"
    shown_piped snapplan apply "$PLAN" --bandwidth 1MiB/s
    step "Hook log"
    cat "$HOOK_LOG"
}

# login_and_import: as an admin would, without snapplan: log in, wait for the
# VG, check it was exported, import and activate it.
login_and_import() {
    disk=$(iscsi_login_by_hand "$IQN")
    echo "logged in by hand: iSCSI disk $disk"
    wait_s=0
    until vgs backup >/dev/null 2>&1; do
        wait_s=$((wait_s + 1))
        [ "$wait_s" -lt 50 ] || fail "VG backup did not appear on $disk"
        sleep 0.2
    done
    vgs -o vg_name,vg_attr backup
    assert_vg_exported backup
    echo "VG backup is exported (3rd vg_attr character x): vgimport, vgchange -ay"
    vgimport backup
    vgchange -q -ay backup >/dev/null
}

# export_and_logout: undoes login_and_import, leaving things as a run does.
export_and_logout() {
    vgchange -q -an backup >/dev/null
    vgexport backup
    iscsi_logout_by_hand "$IQN"
    assert_no_iscsi_session
    echo "VG backup deactivated and exported, iSCSI logged out"
}

# prove_backups: each backup LV holds its origin's bytes as recorded by the
# suspend hook, and is tagged complete.
prove_backups() {
    for lv in $VOLUMES; do
        at_snapshot=$(recorded_sum "$SUMS" "$lv")
        backup=$(sha256 "/dev/backup/$lv")
        printf '%-5s origin at snapshot %s\n' "$lv:" "$at_snapshot"
        printf '%-5s backup LV          %s\n' "$lv:" "$backup"
        assert_eq "$at_snapshot" "$backup" "sha256 of backup/$lv vs vg0/$lv at snapshot time"
        assert_backup "backup/$lv" demo complete
    done
}

independent_proof() {
    step "Independent proof, without snapplan: no iSCSI session left, no snapshot left"
    echo "iSCSI sessions: $(iscsi_session_count)"
    assert_no_iscsi_session
    ! vgs backup >/dev/null 2>&1 || fail "VG backup still visible after the run's logout"
    assert_no_snapshot
    lvs -o vg_name,lv_name,lv_size,lv_attr vg0
    step "Logged in by hand: the VG was exported; imported, each backup equals its origin at snapshot time"
    login_and_import
    lvs -o vg_name,lv_name,lv_size,lv_attr,lv_tags backup
    prove_backups
    now=$(sha256 /dev/vg0/db)
    printf '%-5s origin now         %s (the database wrote after its resume)\n' "db:" "$now"
    assert_ne "$(recorded_sum "$SUMS" db)" "$now" "vg0/db now (written after the snapshot)"
    step "Back as the run left it"
    export_and_logout
}

second_apply() {
    step "The server changes: 3 MiB of vg0/home rewritten"
    write_random /dev/vg0/home 3 4
    step "snapplan apply again: only the changed chunks are written (see 'written' in the summary)"
    echo "(copies go in 4 MiB chunks: home's 3 MiB and the 1 MiB the database wrote after the"
    echo " last snapshot are one chunk each; root did not change: nothing written)"
    shown_piped snapplan apply "$PLAN"
    assert_no_iscsi_session
    ! vgs backup >/dev/null 2>&1 || fail "VG backup still visible after the second run's logout"
}

# overwritten VG/PROTECTION: true once the protection snapshot holds data,
# i.e. the run has overwritten part of the backup it protects.
overwritten() {
    lv_exists "$1" || return 1
    _used=$(lv_field "$1" data_percent)
    [ -n "$_used" ] && [ "$_used" != "0.00" ]
}

# killed_run: a run dies (SIGKILL, as the OOM killer or a power cut would)
# while it rewrites home's backup; the previous good backup survives.
killed_run() {
    step "A power cut mid-run: apply is SIGKILLed while it rewrites home's backup"
    echo "(target.keep_previous, the default: before a backup is overwritten, the run protects it"
    echo " with a copy-on-write snapshot, home-snapplan-keep; a run that dies is undone by"
    echo " 'snapplan recover' or by the next apply, which merge the protection back)"
    cp "$SUMS" "$SUMS.good"
    good=$(recorded_sum "$SUMS.good" home)
    write_random /dev/vg0/home 8 0
    start_bg "$PWD/killed" snapplan apply "$PLAN" --bandwidth 1MiB/s
    pid=$BG_PID
    # Killed once the copy has overwritten part of the backup: the protection
    # then holds the previous content of what was overwritten.
    wait_for 300 overwritten backup/home-snapplan-keep
    kill -KILL "$pid"
    wait_bg "$pid" "$PWD/killed"
    lvs -o vg_name,lv_name,lv_size,lv_attr,origin,lv_tags backup
    half=$(sha256 /dev/backup/home)
    printf '%-5s good backup        %s\n' "home:" "$good"
    printf '%-5s half rewritten     %s\n' "home:" "$half"
    assert_ne "$good" "$half" "sha256 of backup/home after the kill (the run must have overwritten some of it)"
    step "snapplan recover: merges the protection back, removes the snapshot, deactivates, exports, logs out"
    shown_piped snapplan recover "$PLAN"
    assert_no_iscsi_session
    assert_no_snapshot
    step "Proof by hand: backup/home is byte-identical to the last good backup again"
    login_and_import
    lvs -o vg_name,lv_name,lv_size,lv_attr,lv_tags backup
    now=$(sha256 /dev/backup/home)
    printf '%-5s backup LV now      %s\n' "home:" "$now"
    assert_eq "$good" "$now" "sha256 of backup/home after recover vs the last good backup"
    assert_backup backup/home demo complete
    assert_no_lv backup/home-snapplan-keep
    export_and_logout
    # What the restore below proves against: the last good backup's content.
    cp "$SUMS.good" "$SUMS"
}

show_report() {
    step "snapplan report: the last three runs, as a cron mail would show them; the killed one first"
    shown snapplan report --last 3 "$PLAN"
    # Recover wrote the dead run's record: a killed cron job never looks like success.
    ending=$(snapplan report --last 1 --format json "$PLAN" | jq -r '.plans[0].runs[0].ending')
    assert_eq died "$ending" "ending of the newest run in the report (the killed one)"
}

run_verify() {
    step "snapplan verify: re-read every backup against its manifest (login first: the disk is off-line)"
    shown snapplan apply --phase login "$PLAN"
    shown snapplan verify "$PLAN"
    assert_vg_exported backup
    echo "verify left VG backup as it found it: exported, $(active_lv_count backup) LVs active"
}

# mount_backup: file-level restore. root's origin is mounted and edited;
# its backup, a block-for-block clone with the same ext4 UUID, is mounted
# read-only beside it (ro,noload: no journal replay) and shows the file as
# it was backed up; unmount leaves the disk as mount found it.
mount_backup() {
    step "snapplan generations: each volume's backup, its id, time and state (the disk is still exported)"
    shown snapplan generations "$PLAN"
    step "snapplan mount: root's backup read-only beside the edited original, for one file"
    mkdir -p /srv/root /mnt/root-backup
    mount -t ext4 /dev/vg0/root /srv/root
    echo "listen = 9090   # edited after the backup" >/srv/root/etc/app.conf
    shown snapplan mount "$PLAN" root /mnt/root-backup
    grep " /mnt/root-backup " /proc/mounts
    echo "origin /srv/root/etc/app.conf:        $(cat /srv/root/etc/app.conf)"
    echo "backup /mnt/root-backup/etc/app.conf: $(cat /mnt/root-backup/etc/app.conf 2>&1)"
    assert_eq "listen = 8080   # as it was backed up" "$(cat /mnt/root-backup/etc/app.conf)" \
        "app.conf in root's mounted backup"
    grep -q " /mnt/root-backup ext4 ro," /proc/mounts || fail "root's backup is not mounted read-only"
    shown snapplan unmount /mnt/root-backup
    umount /srv/root
    ! grep -q " /mnt/root-backup " /proc/mounts || fail "root's backup is still mounted"
    assert_vg_exported backup
    echo "unmount left VG backup as mount found it: exported, $(active_lv_count backup) LVs active"
}

run_restore() {
    step "snapplan restore: vg0/home's backup onto the spare LV vg0/spare"
    shown_piped snapplan apply --phase activate "$PLAN"
    shown_piped snapplan restore "$PLAN" home --to /dev/vg0/spare --yes
    backup=$(sha256 /dev/backup/home)
    restored=$(sha256 /dev/vg0/spare)
    at_snapshot=$(recorded_sum "$SUMS" home)
    echo "home: origin at 2nd snapshot $at_snapshot"
    echo "home: backup LV             $backup"
    echo "spare: restored             $restored"
    assert_eq "$at_snapshot" "$backup" "sha256 of backup/home vs vg0/home at the second snapshot"
    assert_eq "$backup" "$restored" "sha256 of vg0/spare (restored) vs backup/home"
    step "Put the off-site disk away again: deactivate, export, log out"
    shown_piped snapplan apply --phase deactivate --phase logout "$PLAN"
    assert_no_iscsi_session
    ! vgs backup >/dev/null 2>&1 || fail "VG backup still visible after the logout"
    echo "iSCSI sessions: $(iscsi_session_count)"
}

# A second plan keeps generations of vg0/home in a thin pool on a local disk
# (RAM disk 3): three runs with 1 MiB of home changed in between, keep_last 2. Each
# generation holds home as it was at its snapshot; the pool holds the two
# kept in little more than one copy; prune --dry-run says which rule keeps
# each; the older one is restored onto the spare LV.
pool_generations() {
    step "Generations: a second plan keeps vg0/home in the thin pool vault/gens, keep_last 2"
    make_vg vault "$(ram_disk 3)"
    lvcreate -q -y --type thin-pool -L 40m -n gens vault >/dev/null
    GENS=/etc/snapplan/home-generations.yaml
    cat >"$GENS" <<YAML
version: 1
name: home-generations
state_dir: /var/lib/snapplan
hooks:
  dir: $HOOKS
  timeout: 30s
target:
  vg: vault
  pool: gens
retention:
  keep_last: 2
volumes:
  - lv: vg0/home
YAML
    cat "$GENS"
    for n in 1 2 3; do
        step "home-generations run $n"
        [ "$n" = 1 ] || { sleep 1; write_random /dev/vg0/home 1 $((n * 4)); }
        shown_piped snapplan apply "$GENS"
        cp "$SUMS" "$SUMS.gen$n"
    done
    step "snapplan generations: the two newest are kept; each a thin snapshot of the one before"
    shown snapplan generations "$GENS"
    vgchange -q -ay vault >/dev/null
    lvs -o lv_name,origin,pool_lv,data_percent,lv_tags vault
    older=$(lvs --noheadings -o lv_name -S 'lv_name=~^home\.' -O lv_name vault | sed -n 1p | tr -d ' ')
    newer=$(lvs --noheadings -o lv_name -S 'lv_name=~^home\.' -O lv_name vault | sed -n 2p | tr -d ' ')
    assert_eq "$(recorded_sum "$SUMS.gen2" home)" "$(sha256 "/dev/vault/$older")" "generation $older vs home at run 2"
    assert_eq "$(recorded_sum "$SUMS.gen3" home)" "$(sha256 "/dev/vault/$newer")" "generation $newer vs home at run 3"
    echo "pool vault/gens: $(lv_field vault/gens data_percent)% of 40 MiB for two 16 MiB generations that share all but one 4 MiB chunk"
    step "snapplan prune --dry-run: which rule keeps each generation"
    shown snapplan prune "$GENS" --dry-run
    step "snapplan restore --generation: the older generation onto the spare LV"
    shown_piped snapplan restore "$GENS" home --generation "${older#home.}" --to /dev/vg0/spare --yes
    assert_eq "$(sha256 "/dev/vault/$older")" "$(head -c 16777216 /dev/vg0/spare | sha256sum | cut -d' ' -f1)" \
        "vg0/spare vs generation $older"
    echo "vg0/spare holds home as it was at run 2"
    vgchange -q -an vault >/dev/null
}

build_system
build_offsite_disk
write_hooks
write_plan
validate_plan
show_plan
run_check
first_apply
independent_proof
second_apply
killed_run
show_report
run_verify
mount_backup
run_restore
pool_generations

step "Result"
if [ -n "$failed" ]; then
    echo "DEMO FAIL"
    fail "these snapplan commands failed:$failed"
fi
echo "DEMO PASS: validate, plan, check, apply over iSCSI, proof by hand, delta run, a killed run recovered to the last good backup, report, verify, generations, a file from a mounted backup, restore, thin-pool generations with retention"
