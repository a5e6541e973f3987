#!/bin/sh
# Lifecycle with iSCSI when the backup phase goes wrong: the run logged in
# and activated the backup VG, then (1) a suspend hook fails, and (2) a
# snapshot overflows so that its copy fails. Each time the VG is still
# deactivated and exported and the session logged out: no session, no
# device-mapper device of the backup VG, no snapshot left. Logged in again
# by hand, the VG is exported; in (2) the volume that did not overflow is
# backed up.
# (3) The login works but the plan's VG never shows up (a wrong disk):
# after the bounded wait (30 s) the run logs out and fails, no hook called.
# vm: iscsi ramdisk_mb=64 timeout=360

IQN=iqn.2026-11.org.snapplan:backup
PLAN=/etc/snapplan/offsite.yaml
HOOKS=/etc/snapplan/hooks.d

# after_the_run: what must hold whatever went wrong.
after_the_run() {
    assert_no_iscsi_session
    ! vgs backup >/dev/null 2>&1 || fail "VG backup still visible after the run"
    assert_eq "" "$(dmsetup ls | grep '^backup-' || true)" "device-mapper devices of VG backup"
    assert_eq 2 "$(lv_count vg0)" "LVs in vg0 (no snapshot left)"
}

# login_again: logs in by hand and waits for VG backup.
login_again() {
    iscsi_login_by_hand "$IQN" >/dev/null
    _n=0
    until vgs backup >/dev/null 2>&1; do
        _n=$((_n + 1))
        [ "$_n" -lt 50 ] || fail "VG backup did not appear after the login"
        sleep 0.2
    done
}

step "origins vg0/alpha (16 MiB), vg0/bravo (8 MiB); the backup VG on an iSCSI disk, exported, logged out"
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
assert_no_iscsi_session

mkdir -p "$HOOKS"
cat >"$PLAN" <<YAML
version: 1
name: offsite
state_dir: /var/lib/snapplan
hooks:
  dir: $HOOKS
  timeout: 30s
target:
  vg: backup
  iscsi:
    portal: $ISCSI_PORTAL
    iqn: $IQN
  export: true
volumes:
  - lv: vg0/alpha
    snapshot_size: 4MiB
  - lv: vg0/bravo
    snapshot_size: 50%
YAML

step "(1) the suspend hook fails: exit 1, logged out, VG deactivated and exported"
cat >"$HOOKS/10-db" <<'HOOK'
#!/bin/sh
echo "$1" >>/tmp/hook.log
[ "$1" = resume ]
HOOK
chmod +x "$HOOKS/10-db"
expect_exit 1 snapplan apply "$PLAN"
assert_eq "suspend resume" "$(tr '\n' ' ' </tmp/hook.log | sed 's/ $//')" "hook calls"
after_the_run
login_again
assert_vg_exported backup
iscsi_logout_by_hand "$IQN"

step "(2) alpha's snapshot overflows before its copy: exit 4, logged out, VG deactivated and exported"
# The resume hook writes 12 MiB into alpha, whose snapshot holds 4 MiB of
# changes: the kernel invalidates it before the copies start.
cat >"$HOOKS/10-db" <<'HOOK'
#!/bin/sh
echo "$1" >>/tmp/hook.log
if [ "$1" = suspend ]; then
    sha256sum </dev/vg0/bravo | cut -d' ' -f1 >/tmp/bravo.sum
else
    dd if=/dev/urandom of=/dev/vg0/alpha bs=1M count=12 conv=fsync 2>/dev/null
fi
HOOK
expect_exit 4 snapplan apply "$PLAN"
dmesg | grep -q 'Invalidating snapshot' || fail "alpha's snapshot did not overflow (no kernel message)"
after_the_run
login_again
assert_vg_exported backup
vgimport backup >/dev/null
vgchange -q -ay backup >/dev/null
assert_eq "$(cat /tmp/bravo.sum)" "$(sha256 /dev/backup/bravo)" "sha256 of backup/bravo vs vg0/bravo at snapshot time"
lv_field backup/alpha lv_tags | grep -q 'snapplan-state:incomplete' ||
    fail "backup/alpha is not tagged incomplete: $(lv_field backup/alpha lv_tags)"
vgchange -q -an backup >/dev/null
iscsi_logout_by_hand "$IQN"
assert_no_iscsi_session

step "(3) the VG never appears after the login: exit 1 after the wait, logged out, no hook called"
sed 's/^  vg: backup$/  vg: elsewhere/' "$PLAN" >/etc/snapplan/wrong-vg.yaml
grep -q '^  vg: elsewhere$' /etc/snapplan/wrong-vg.yaml || fail "plan for a VG that never appears not written"
: >/tmp/hook.log
expect_exit 1 snapplan apply /etc/snapplan/wrong-vg.yaml
assert_no_iscsi_session
assert_eq "" "$(cat /tmp/hook.log)" "hook calls"
assert_eq 2 "$(lv_count vg0)" "LVs in vg0 (no snapshot made)"
