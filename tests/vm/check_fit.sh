#!/bin/sh
# Check, where everything fits: `snapplan check` exits 0 and leaves LVM, the
# state dir and the lock exactly as it found them. Also: backup LVs that
# already exist at full size need no space; an exported backup VG (whose LVs
# lvs does not list) passes when even the worst case fits, and is "unknown"
# (exit 0, not a pass) when only the missing LV list could tell.
# vm: ramdisk_mb=64 share

# write_plan SNAPSHOT_SIZE: the plan at /etc/snapplan/nightly.yaml.
write_plan() {
    mkdir -p /etc/snapplan/hooks.d
    cat >/etc/snapplan/nightly.yaml <<PLAN
version: 1
name: nightly
state_dir: /var/lib/snapplan
hooks:
  dir: /etc/snapplan/hooks.d
target:
  vg: backup
volumes:
  - lv: vg0/a
    snapshot_size: $1
  - lv: vg0/b
    snapshot_size: $1
PLAN
}

# check_case EXIT [text]: runs check (the table too with `text`, then json),
# asserts the exit status each time and that nothing changed on the system.
check_case() {
    before=$(lvm_state)
    if [ "${2:-}" = text ]; then
        expect_exit "$1" snapplan check /etc/snapplan/nightly.yaml
    fi
    expect_exit "$1" snapplan check /etc/snapplan/nightly.yaml --format json
    cp "$VM_OUT" /tmp/check.json
    assert_eq "$before" "$(lvm_state)" "LVM state after check"
    [ ! -e /var/lib/snapplan ] || fail "check created /var/lib/snapplan"
}

# json_space CHECK SUBJECT FIELD: a figure from the last JSON report.
json_space() {
    jq -er --arg c "$1" --arg s "$2" --arg f "$3" \
        '.checks[] | select(.check == $c and .subject == $s) | .space[$f]' /tmp/check.json
}

# json_status CHECK SUBJECT: a row's status in the last JSON report.
json_status() {
    jq -er --arg c "$1" --arg s "$2" \
        '.checks[] | select(.check == $c and .subject == $s) | .status' /tmp/check.json
}

step "a source VG with two 16 MiB LVs (15 extents of 4 MiB) and a backup VG"
make_vg vg0 "$(ram_disk 0)"
make_vg backup "$(ram_disk 1)"
make_lv vg0 a 16m
make_lv vg0 b 16m
write_random /dev/vg0/a 16
write_random /dev/vg0/b 16
printf '#!/bin/sh\necho "$1"\n' >/etc/snapplan/hooks.d/10-db 2>/dev/null ||
    { mkdir -p /etc/snapplan/hooks.d && printf '#!/bin/sh\necho "$1"\n' >/etc/snapplan/hooks.d/10-db; }
chmod +x /etc/snapplan/hooks.d/10-db
sums="$(sha256 /dev/vg0/a) $(sha256 /dev/vg0/b)"

step "the fields snapplan asks lvs for exist in this lvm2"
lvs --reportformat json --units b --nosuffix \
    -o lv_name,vg_name,lv_size,lv_attr,segtype,origin,lv_tags,data_percent,snap_percent,lv_snapshot_invalid,lv_active,lv_device_open
vgs --reportformat json --units b --nosuffix \
    -o vg_name,vg_attr,vg_size,vg_free,vg_extent_size,vg_extent_count,vg_free_count,vg_exported,vg_tags

step "everything fits: 2 snapshots of 1 extent in 7 free, 8 backup extents in 15"
write_plan 25%
check_case 0 text
assert_eq 2 "$(json_space snapshot_space 'VG vg0' needed_extents)" "snapshot extents needed"
assert_eq 7 "$(json_space snapshot_space 'VG vg0' free_extents)" "free extents in vg0"
assert_eq "$(vg_field vg0 vg_free_count)" "$(json_space snapshot_space 'VG vg0' free_extents)" "free extents as vgs says"
assert_eq 8 "$(json_space backup_space 'VG backup' needed_extents)" "backup extents needed"

step "percentages round up to whole extents: 30% of 16 MiB = 4.8 MiB = 2 extents each"
write_plan 30%
check_case 0
assert_eq 4 "$(json_space snapshot_space 'VG vg0' needed_extents)" "snapshot extents needed"

step "backups that exist at full size need no room: backup VG full, still passes"
make_lv backup a 16m
make_lv backup b 16m
make_lv backup filler 28m
assert_eq 0 "$(vg_field backup vg_free_count)" "free extents in backup"
write_plan 25%
check_case 0
assert_eq 0 "$(json_space backup_space 'VG backup' needed_extents)" "backup extents needed"
lvremove -q -y backup/a backup/b backup/filler >/dev/null

step "an exported backup VG: LVs unknown, but the worst case (8 extents) fits in 15"
vgchange -q -an backup >/dev/null
vgexport backup >/dev/null
check_case 0
assert_eq pass "$(json_status backup_space 'VG backup')" "backup space, exported VG, worst case fits"
vgimport backup >/dev/null

step "an exported, full backup VG: lvs hides its LVs, so the space is unknown (not a pass, not a failure)"
make_lv backup a 16m
make_lv backup b 16m
make_lv backup filler 28m
vgchange -q -an backup >/dev/null
vgexport backup >/dev/null
check_case 0
assert_eq unknown "$(json_status backup_space 'VG backup')" "backup space, exported full VG"
vgimport backup >/dev/null
check_case 0
assert_eq pass "$(json_status backup_space 'VG backup')" "backup space once imported (backups exist)"
lvremove -q -y backup/a backup/b backup/filler >/dev/null

step "the source volumes were not touched"
assert_eq "$sums" "$(sha256 /dev/vg0/a) $(sha256 /dev/vg0/b)" "source checksums"
assert_eq 2 "$(lv_count vg0)" "LVs in vg0"
