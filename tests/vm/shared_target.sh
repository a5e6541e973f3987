#!/bin/sh
# Two plans share one backup VG: plan pa backs vg0/bravo up, plan pc
# vg0/charlie, both into VG backup with export: true. Started at the same
# moment and throttled so that their copies overlap, in both finishing
# orders: the first to finish leaves the VG active and imported (the other
# run is still copying into it, and its backup LV stays active), the last
# one deactivates and exports it. Both exit 0 and every backup equals its
# origin (sha256). The second round starts from the exported VG: both runs
# import/activate it at once.
# keep_previous is off (tests/vm/shared_target_kill.sh has it on): fewer LVM
# commands under TCG.
# vm: ramdisk_mb=64 share timeout=360

# The fast run copies in ~1 s, the slow one in ~16 s.
FAST=8MiB/s

step "origins vg0/bravo (8 MiB), vg0/charlie (4 MiB); VG backup; plans pa and pc"
make_vg vg0 "$(ram_disk 0)" "$(ram_disk 1)"
make_lv vg0 bravo 8m
make_lv vg0 charlie 4m
fill /dev/vg0/bravo
fill /dev/vg0/charlie
make_vg backup "$(ram_disk 2)"
mkdir -p /etc/snapplan
for p in pa:bravo pc:charlie; do
    cat >"/etc/snapplan/${p%%:*}.yaml" <<YAML
version: 1
name: ${p%%:*}
state_dir: /var/lib/snapplan
target:
  vg: backup
  export: true
  keep_previous: false
volumes:
  - lv: vg0/${p#*:}
    snapshot_size: 50%
YAML
done

# backup_dm: the device-mapper devices of VG backup (none when inactive).
backup_dm() {
    dmsetup ls | awk '$1 ~ /^backup-/ { print $1 }' | sort | tr '\n' ' '
}

# lv_active_state VG/LV: lvs's lv_active ("active" or "").
lv_active_state() {
    lv_field "$1" lv_active
}

# round FIRST_PLAN FIRST_LV LAST_PLAN LAST_LV SLOW_RATE: both started at
# once, FIRST fast and LAST at SLOW_RATE; checks the VG between the two
# endings and after.
round() {
    start_bg "$PWD/$1" snapplan apply "/etc/snapplan/$1.yaml" --bandwidth "$FAST"
    first=$BG_PID
    start_bg "$PWD/$3" snapplan apply "/etc/snapplan/$3.yaml" --bandwidth "$5"
    last=$BG_PID
    wait_bg "$first" "$PWD/$1"
    assert_eq 0 "$BG_STATUS" "exit status of $1"
    alive "$last" || fail "$3 ended before $1: the copies did not overlap, this proves nothing"
    step "$1 done while $3 still copies: VG backup active, not exported"
    assert_vg_not_exported backup
    assert_eq active "$(lv_active_state "backup/$4")" "lv_active of backup/$4 ($3 copies into it)"
    assert_ne "" "$(backup_dm)" "device-mapper devices of VG backup"
    wait_bg "$last" "$PWD/$3"
    assert_eq 0 "$BG_STATUS" "exit status of $3"
    step "$3 done: VG backup deactivated and exported"
    assert_vg_exported backup
    assert_eq "" "$(backup_dm)" "device-mapper devices of VG backup"
    assert_no_snapshot
    step "every backup equals its origin"
    vgimport backup >/dev/null
    activate_backup
    assert_backup backup/bravo pa complete
    assert_backup backup/charlie pc complete
    assert_same_content /dev/vg0/bravo /dev/backup/bravo
    assert_same_content /dev/vg0/charlie /dev/backup/charlie
    vgchange -q -an backup >/dev/null
    vgexport backup >/dev/null
}

step "round 1: pa fast, pc slow (pc is the last user)"
round pa bravo pc charlie 256KiB/s

step "round 2, from the exported VG, new data: pc fast, pa slow (pa is the last user)"
fill /dev/vg0/bravo
fill /dev/vg0/charlie
round pc charlie pa bravo 512KiB/s
