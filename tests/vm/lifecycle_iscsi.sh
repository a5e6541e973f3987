#!/bin/sh
# Lifecycle with iSCSI: the backup VG lives on an iSCSI disk (LIO target on
# loopback, served from RAM disk 2), exported and logged out, as a real
# off-site disk between runs. `snapplan apply` (all phases) logs in, waits
# for the VG, imports and activates it, backs up, deactivates, exports and
# logs out: afterwards no session is left and the VG is not visible; logged
# in again by hand, the VG is exported and its LVs hold the origins' bytes.
# Then: `--phase logout` with no session is a no-op, and `--phase login`
# followed by `all` reuses the session and logs it out.
# vm: iscsi ramdisk_mb=64 timeout=240

IQN=iqn.2026-11.org.snapplan:backup
PLAN=/etc/snapplan/offsite.yaml

step "origins vg0/alpha (16 MiB) and vg0/bravo (8 MiB) with random data"
make_vg vg0 "$(ram_disk 0)" "$(ram_disk 1)"
make_lv vg0 alpha 16m
make_lv vg0 bravo 8m
fill /dev/vg0/alpha
fill /dev/vg0/bravo

step "the backup VG on the iSCSI disk, made through a login by hand"
iscsi_target_start "$(ram_disk 2)" "$IQN"
iscsid_start
assert_no_iscsi_session
disk=$(iscsi_login_by_hand "$IQN")
echo "iSCSI disk: $disk"
make_vg backup "$disk"
vgchange -q -an backup >/dev/null
vgexport backup >/dev/null
iscsi_logout_by_hand "$IQN"
assert_no_iscsi_session
! vgs backup >/dev/null 2>&1 || fail "VG backup visible before the run's login"

mkdir -p /etc/snapplan
cat >"$PLAN" <<YAML
version: 1
name: offsite
state_dir: /var/lib/snapplan
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
alpha_sum=$(sha256 /dev/vg0/alpha)
bravo_sum=$(sha256 /dev/vg0/bravo)

step "snapplan apply (all phases): exit 0"
run_ok snapplan apply "$PLAN"

step "no iSCSI session left, the backup VG is gone from view, no snapshot left"
assert_no_iscsi_session
! vgs backup >/dev/null 2>&1 || fail "VG backup still visible after the run's logout"
assert_eq "" "$(dmsetup ls | grep '^backup-' || true)" "device-mapper devices of VG backup"
assert_eq 2 "$(lv_count vg0)" "LVs in vg0 (no snapshot left)"

step "logged in again by hand: the VG was exported; imported, its backups equal the origins"
disk=$(iscsi_login_by_hand "$IQN")
wait_s=0
until vgs backup >/dev/null 2>&1; do
    wait_s=$((wait_s + 1))
    [ "$wait_s" -lt 50 ] || fail "VG backup did not appear on $disk"
    sleep 0.2
done
assert_vg_exported backup
vgimport backup >/dev/null
vgchange -q -ay backup >/dev/null
assert_eq "$alpha_sum" "$(sha256 /dev/backup/alpha)" "sha256 of backup/alpha vs vg0/alpha"
assert_eq "$bravo_sum" "$(sha256 /dev/backup/bravo)" "sha256 of backup/bravo vs vg0/bravo"
for lv in alpha bravo; do
    lv_field "backup/$lv" lv_tags | grep -q 'snapplan-state:complete' ||
        fail "backup/$lv is not tagged snapplan-state:complete: $(lv_field "backup/$lv" lv_tags)"
done

step "clean up: deactivate, export, log out"
vgchange -q -an backup >/dev/null
vgexport backup >/dev/null
iscsi_logout_by_hand "$IQN"
assert_no_iscsi_session

step "--phase logout without a session: nothing to do, exit 0"
run_ok snapplan apply --phase logout "$PLAN"
assert_no_iscsi_session

step "--phase login, then all: the session the first run opened is reused and logged out at the end"
run_ok snapplan apply --phase login "$PLAN"
assert_eq 1 "$(iscsi_session_count)" "iSCSI sessions after --phase login"
assert_vg_exported backup
run_ok snapplan apply "$PLAN"
assert_no_iscsi_session
! vgs backup >/dev/null 2>&1 || fail "VG backup still visible after the run's logout"
