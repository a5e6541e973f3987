#!/bin/sh
# Two plans share VG backup (pa: vg0/bravo, pc: vg0/charlie, export: true)
# and the last user is SIGKILLed. When pa has finished (leaving the VG to
# pc) and pc is killed mid-copy, nobody deactivates the VG: it stays active
# until `snapplan recover pc` deactivates and exports it. When pc is killed
# while pa still copies, `snapplan recover pc` leaves the VG active and
# imported (pa's backup LV stays active and pa exits 0); pa, the last user
# now, deactivates and exports it. Each backup equals its origin at the end
# (pc's previous backup is merged back by keep_previous).
# vm: ramdisk_mb=64 share timeout=420

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
volumes:
  - lv: vg0/${p#*:}
    snapshot_size: 50%
YAML
done

backup_dm() {
    dmsetup ls | awk '$1 ~ /^backup-/ { print $1 }' | sort | tr '\n' ' '
}

assert_vg_left_active() {
    assert_vg_not_exported backup
    assert_ne "" "$(backup_dm)" "device-mapper devices of VG backup"
}

assert_vg_put_away() {
    assert_vg_exported backup
    assert_eq "" "$(backup_dm)" "device-mapper devices of VG backup"
}

# backups_equal_origins: imports and activates VG backup, compares, puts
# it away again.
backups_equal_origins() {
    vgimport backup >/dev/null
    activate_backup
    assert_backup backup/bravo pa complete
    assert_backup backup/charlie pc complete
    assert_same_content /dev/vg0/bravo /dev/backup/bravo
    assert_same_content /dev/vg0/charlie /dev/backup/charlie
    vgchange -q -an backup >/dev/null
    vgexport backup >/dev/null
}

copying() {
    lv_exists "vg0/$1-snapplan"
}

step "a good backup of each plan, one after the other"
run_ok snapplan apply /etc/snapplan/pa.yaml
run_ok snapplan apply /etc/snapplan/pc.yaml
assert_vg_put_away
backups_equal_origins

step "pa finishes first; pc, the last user, is SIGKILLed mid-copy"
start_bg "$PWD/pa1" snapplan apply /etc/snapplan/pa.yaml --bandwidth 8MiB/s
pa=$BG_PID
start_bg "$PWD/pc1" snapplan apply /etc/snapplan/pc.yaml --bandwidth 256KiB/s
pc=$BG_PID
wait_bg "$pa" "$PWD/pa1"
assert_eq 0 "$BG_STATUS" "exit status of pa"
alive "$pc" || fail "pc ended before pa: this proves nothing"
assert_vg_left_active
wait_for 60 copying charlie
kill -KILL "$pc"
wait_bg "$pc" "$PWD/pc1"
assert_eq 137 "$BG_STATUS" "exit status of pc after SIGKILL"
step "nobody deactivated the VG; snapplan recover pc does, and exports it"
assert_vg_left_active
run_ok snapplan recover /etc/snapplan/pc.yaml
assert_vg_put_away
assert_no_snapshot
backups_equal_origins

step "pc SIGKILLed while pa still copies: recover pc leaves the VG to pa"
start_bg "$PWD/pa2" snapplan apply /etc/snapplan/pa.yaml --bandwidth 256KiB/s
pa=$BG_PID
start_bg "$PWD/pc2" snapplan apply /etc/snapplan/pc.yaml --bandwidth 512KiB/s
pc=$BG_PID
wait_for 60 copying charlie
wait_for 60 copying bravo
sleep 1
kill -KILL "$pc"
wait_bg "$pc" "$PWD/pc2"
assert_eq 137 "$BG_STATUS" "exit status of pc after SIGKILL"
alive "$pa" || fail "pa ended before pc was recovered: this proves nothing"
run_ok snapplan recover /etc/snapplan/pc.yaml
alive "$pa" || fail "pa ended during the recovery of pc: this proves nothing"
assert_vg_left_active
assert_eq active "$(lv_field backup/bravo lv_active)" "lv_active of backup/bravo (pa copies into it)"
assert_no_lv vg0/charlie-snapplan
wait_bg "$pa" "$PWD/pa2"
assert_eq 0 "$BG_STATUS" "exit status of pa"
step "pa, the last user, deactivated and exported the VG"
assert_vg_put_away
assert_no_snapshot
backups_equal_origins
