#!/bin/sh
# Lifecycle with iSCSI after a crash: a run is killed (SIGKILL) while its
# suspend hook holds the service suspended, with the backup VG logged in and
# activated; then, as after a reboot, the VG is deactivated and the session
# gone. The next `snapplan apply` recovers first (resumes the hook; the VG it
# cannot see and the session that is gone need nothing) and then runs:
# exit 0, backups equal the origins, no session left, VG exported.
# vm: iscsi ramdisk_mb=64 timeout=300

IQN=iqn.2026-11.org.snapplan:backup
PLAN=/etc/snapplan/offsite.yaml
HOOKS=/etc/snapplan/hooks.d

step "origins in vg0; the backup VG on an iSCSI disk, exported, logged out"
make_vg vg0 "$(ram_disk 0)" "$(ram_disk 1)"
make_lv vg0 alpha 16m
make_lv vg0 bravo 8m
fill /dev/vg0/alpha
fill /dev/vg0/bravo
iscsi_target_start "$(ram_disk 2)" "$IQN"
iscsid_start
make_vg backup "$(iscsi_login_by_hand "$IQN")"
vgchange -q -an backup >/dev/null
vgexport backup >/dev/null
iscsi_logout_by_hand "$IQN"

mkdir -p "$HOOKS"
cat >"$PLAN" <<YAML
version: 1
name: offsite
state_dir: /var/lib/snapplan
hooks:
  dir: $HOOKS
  timeout: 120s
target:
  vg: backup
  iscsi:
    portal: $ISCSI_PORTAL
    iqn: $IQN
  export: true
volumes:
  - lv: vg0/alpha
    snapshot_size: 50%
  - lv: vg0/bravo
    snapshot_size: 50%
YAML
# The first suspend blocks (until killed); later calls return at once.
cat >"$HOOKS/10-db" <<'HOOK'
#!/bin/sh
echo "$1" >>/tmp/hook.log
if [ "$1" = suspend ] && [ ! -e /tmp/hook.blocked ]; then
    echo $$ >/tmp/hook.blocked
    exec sleep 600
fi
HOOK
chmod +x "$HOOKS/10-db"

step "a run is killed with SIGKILL while the hook is suspended"
snapplan apply "$PLAN" >/tmp/dead-run.out 2>&1 &
dead=$!
n=0
until [ -s /tmp/hook.blocked ]; do
    n=$((n + 1))
    [ "$n" -lt 600 ] || fail "the suspend hook was not called within 60 s: $(cat /tmp/dead-run.out)"
    sleep 0.1
done
kill -9 "$dead"
kill -9 "$(cat /tmp/hook.blocked)" 2>/dev/null || true
wait "$dead" || true
assert_eq 1 "$(iscsi_session_count)" "iSCSI sessions the dead run left"
assert_vg_not_exported backup

step "as after a reboot: the VG inactive, the session gone"
vgchange -q -an backup >/dev/null
iscsi_logout_by_hand "$IQN"
assert_no_iscsi_session

step "the next apply recovers (resumes the hook), then backs up: exit 0"
run_ok snapplan apply "$PLAN"
assert_eq "suspend resume suspend resume" "$(tr '\n' ' ' </tmp/hook.log | sed 's/ $//')" "hook calls"
assert_no_iscsi_session
[ ! -e /var/lib/snapplan/offsite/journal.jsonl ] || fail "the dead run's journal is still open"
assert_eq 2 "$(lv_count vg0)" "LVs in vg0 (no snapshot left)"

step "logged in by hand: the VG is exported, the backups equal the origins"
iscsi_login_by_hand "$IQN" >/dev/null
n=0
until vgs backup >/dev/null 2>&1; do
    n=$((n + 1))
    [ "$n" -lt 50 ] || fail "VG backup did not appear after the login"
    sleep 0.2
done
assert_vg_exported backup
vgimport backup >/dev/null
vgchange -q -ay backup >/dev/null
assert_same_content /dev/vg0/alpha /dev/backup/alpha
assert_same_content /dev/vg0/bravo /dev/backup/bravo
vgchange -q -an backup >/dev/null
iscsi_logout_by_hand "$IQN"
