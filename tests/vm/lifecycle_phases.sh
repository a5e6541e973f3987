#!/bin/sh
# Lifecycle phases one at a time, on a local backup VG (no iSCSI: no login
# or logout step runs, none is needed). The backup VG starts exported and
# holds an LV of someone else's ("keep"). `--phase activate` imports and
# activates it (a second time: nothing changes, exit 0); `--phase backup`
# writes the backups; `--phase deactivate` deactivates and exports it
# (export: true; a second time on the exported VG: exit 0, still exported,
# where vgchange and vgexport would refuse); `--phase remove` on the
# exported VG fails (its LVs cannot be listed); `--phase remove` without --yes
# and without a terminal is refused and deletes nothing; with --yes it
# deletes the plan's backup LVs and nothing else; `all` never removes (the
# backup LVs keep their UUIDs).
# vm: ramdisk_mb=64 share timeout=180

PLAN=/etc/snapplan/phases.yaml

# backup_lvs: the LV names in VG backup, sorted, comma-separated.
backup_lvs() {
    lvs_json -o lv_name backup | jq -r '[.report[].lv[].lv_name] | sort | join(",")'
}

step "origins vg0/alpha, vg0/bravo; VG backup with an unrelated LV keep, exported"
make_vg vg0 "$(ram_disk 0)" "$(ram_disk 1)"
make_lv vg0 alpha 16m
make_lv vg0 bravo 8m
fill /dev/vg0/alpha
fill /dev/vg0/bravo
make_vg backup "$(ram_disk 2)"
make_lv backup keep 4m
fill /dev/backup/keep
keep_sum=$(sha256 /dev/backup/keep)
vgchange -q -an backup >/dev/null
vgexport backup >/dev/null
assert_vg_exported backup

mkdir -p /etc/snapplan
cat >"$PLAN" <<YAML
version: 1
name: phases
state_dir: /var/lib/snapplan
target:
  vg: backup
  export: true
volumes:
  - lv: vg0/alpha
    snapshot_size: 50%
  - lv: vg0/bravo
    snapshot_size: 50%
YAML

step "--phase activate: imported and active"
run_ok snapplan apply --phase activate "$PLAN"
assert_vg_not_exported backup
assert_eq keep "$(backup_lvs)" "LVs in backup"
assert_eq 1 "$(active_lv_count backup)" "active LVs in backup"
assert_eq 2 "$(lv_count vg0)" "LVs in vg0 (no snapshot made)"

step "--phase activate again on the active, imported VG: exit 0, nothing changes"
before=$(lvm_state)
run_ok snapplan apply --phase activate "$PLAN"
assert_vg_not_exported backup
assert_eq "$before" "$(lvm_state)" "LVM state after the second activate"

step "--phase backup: the backups are written, the VG stays active"
run_ok snapplan apply --phase backup "$PLAN"
assert_eq "alpha,bravo,keep" "$(backup_lvs)" "LVs in backup"
assert_eq 3 "$(active_lv_count backup)" "active LVs in backup"
assert_same_content /dev/vg0/alpha /dev/backup/alpha
assert_same_content /dev/vg0/bravo /dev/backup/bravo
assert_eq 2 "$(lv_count vg0)" "LVs in vg0 (no snapshot left)"

step "--phase deactivate: inactive and exported"
run_ok snapplan apply --phase deactivate "$PLAN"
assert_vg_exported backup
assert_eq "" "$(dmsetup ls | grep '^backup-' || true)" "device-mapper devices of VG backup"

step "--phase deactivate again on the exported VG: exit 0, still exported"
before=$(lvm_state)
run_ok snapplan apply --phase deactivate "$PLAN"
assert_vg_exported backup
assert_eq "" "$(dmsetup ls | grep '^backup-' || true)" "device-mapper devices of VG backup"
assert_eq "$before" "$(lvm_state)" "LVM state after the second deactivate"

step "--phase remove --yes on the exported VG (its LVs cannot be listed): fails, deletes nothing"
expect_exit 1 snapplan apply --phase remove --yes "$PLAN" </dev/null
assert_vg_exported backup
vgimport backup >/dev/null
vgchange -q -ay backup >/dev/null
assert_eq "alpha,bravo,keep" "$(backup_lvs)" "LVs in backup"

step "--phase remove without --yes and without a terminal: refused, nothing changes"
before=$(lvm_state)
expect_exit 2 snapplan apply --phase remove "$PLAN" </dev/null
assert_eq "$before" "$(lvm_state)" "LVM state after the refused remove"

step "all (the default) never removes: the backup LVs keep their UUIDs"
alpha_uuid=$(lv_field backup/alpha lv_uuid)
bravo_uuid=$(lv_field backup/bravo lv_uuid)
run_ok snapplan apply "$PLAN" </dev/null
assert_vg_exported backup
vgimport backup >/dev/null
vgchange -q -ay backup >/dev/null
assert_eq "$alpha_uuid" "$(lv_field backup/alpha lv_uuid)" "UUID of backup/alpha after apply (all)"
assert_eq "$bravo_uuid" "$(lv_field backup/bravo lv_uuid)" "UUID of backup/bravo after apply (all)"

step "--phase remove --yes: the plan's backup LVs are gone, keep is untouched"
run_ok snapplan apply --phase remove --yes "$PLAN" </dev/null
assert_eq keep "$(backup_lvs)" "LVs in backup"
assert_eq "$keep_sum" "$(sha256 /dev/backup/keep)" "sha256 of backup/keep"
assert_eq 2 "$(lv_count vg0)" "LVs in vg0"
