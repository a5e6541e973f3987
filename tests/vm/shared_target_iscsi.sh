#!/bin/sh
# Two plans share one iSCSI target and the VG on it: pa backs vg0/bravo up,
# pc vg0/charlie, both logging in to the same target, export: true, started
# at the same moment, pa fast and pc slow. When pa finishes, the session is
# still there and VG backup active (pc still copies onto it); when pc
# finishes, the VG is exported and no session is left. Logged in again by
# hand, both backups equal their origins.
# vm: iscsi ramdisk_mb=64 timeout=420

IQN=iqn.2026-12.org.snapplan:shared

step "origins vg0/bravo (8 MiB), vg0/charlie (4 MiB); VG backup on an iSCSI disk, exported, logged out"
make_vg vg0 "$(ram_disk 0)" "$(ram_disk 1)"
make_lv vg0 bravo 8m
make_lv vg0 charlie 4m
fill /dev/vg0/bravo
fill /dev/vg0/charlie
iscsi_target_start "$(ram_disk 2)" "$IQN"
iscsid_start
disk=$(iscsi_login_by_hand "$IQN")
make_vg backup "$disk"
vgchange -q -an backup >/dev/null
vgexport backup >/dev/null
iscsi_logout_by_hand "$IQN"
assert_no_iscsi_session

mkdir -p /etc/snapplan
for p in pa:bravo pc:charlie; do
    cat >"/etc/snapplan/${p%%:*}.yaml" <<YAML
version: 1
name: ${p%%:*}
state_dir: /var/lib/snapplan
target:
  vg: backup
  iscsi:
    portal: $ISCSI_PORTAL
    iqn: $IQN
  export: true
  keep_previous: false
volumes:
  - lv: vg0/${p#*:}
    snapshot_size: 50%
YAML
done

step "pa (fast) and pc (slow) started at once"
start_bg "$PWD/pa" snapplan apply /etc/snapplan/pa.yaml --bandwidth 8MiB/s
pa=$BG_PID
start_bg "$PWD/pc" snapplan apply /etc/snapplan/pc.yaml --bandwidth 256KiB/s
pc=$BG_PID
wait_bg "$pa" "$PWD/pa"
assert_eq 0 "$BG_STATUS" "exit status of pa"
alive "$pc" || fail "pc ended before pa: the runs did not overlap, this proves nothing"

step "pa done while pc still copies: one session, VG backup active"
assert_eq 1 "$(iscsi_session_count)" "iSCSI sessions"
assert_vg_not_exported backup
assert_eq active "$(lv_field backup/charlie lv_active)" "lv_active of backup/charlie (pc copies into it)"

wait_bg "$pc" "$PWD/pc"
assert_eq 0 "$BG_STATUS" "exit status of pc"

step "pc done: no session left, the VG gone from view"
assert_no_iscsi_session
! vgs backup >/dev/null 2>&1 || fail "VG backup still visible after the last run's logout"
assert_eq "" "$(dmsetup ls | grep '^backup-' || true)" "device-mapper devices of VG backup"

step "logged in again by hand: the VG was exported; both backups equal their origins"
iscsi_login_by_hand "$IQN" >/dev/null
wait_for 10 vgs backup
assert_vg_exported backup
vgimport backup >/dev/null
activate_backup
assert_backup backup/bravo pa complete
assert_backup backup/charlie pc complete
assert_same_content /dev/vg0/bravo /dev/backup/bravo
assert_same_content /dev/vg0/charlie /dev/backup/charlie
vgchange -q -an backup >/dev/null
iscsi_logout_by_hand "$IQN"
