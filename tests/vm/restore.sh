#!/bin/sh
# Restore: apply backs vg0/data up onto backup/data; the origin changes; the
# backup goes back onto the origin (unmounted) and onto another, larger LV,
# byte for byte (sha256 of the backup). Refused, with the destination left
# untouched: an inactive backup LV, no --yes without a terminal, a held
# destination (a device-mapper device on it), a destination smaller than the
# backup, a backup tagged snapplan-state:incomplete, an incomplete manifest,
# a backup that no longer matches its manifest.
# vm: ramdisk_mb=128 timeout=240

PLAN=/etc/snapplan/restore.yaml
MANIFEST=/var/lib/snapplan/restore/manifests/data.json
restore() {
    snapplan restore "$PLAN" data "$@"
}

# head_sha256 DEVICE BYTES: sha256 of the first BYTES bytes.
head_sha256() {
    head -c "$2" "$1" | sha256sum | cut -d' ' -f1
}

# refused WHAT ARGS...: restore exits 1 and the origin is unchanged.
refused() {
    _what=$1
    shift
    _before=$(sha256 /dev/vg0/data)
    expect_exit 1 restore "$@"
    assert_eq "$_before" "$(sha256 /dev/vg0/data)" "origin after a refused restore ($_what)"
}

step "vg0/data with random data, an empty backup VG, a plan"
make_vg vg0 "$(ram_disk 0)"
make_vg backup "$(ram_disk 1)"
make_lv vg0 data 24m
fill /dev/vg0/data
mkdir -p /etc/snapplan
cat >"$PLAN" <<PLAN
version: 1
name: restore
target:
  vg: backup
volumes:
  - lv: vg0/data
    snapshot_size: 8m
PLAN
size=$(size_bytes /dev/vg0/data)

step "apply: the backup"
run_ok snapplan apply "$PLAN"
assert_eq 0 "$(lvs_json -o lv_name,lv_attr vg0 | jq '[.report[].lv[] | select(.lv_attr | startswith("s"))] | length')" "snapshots left"

step "the origin changes after the backup"
original=$(sha256 /dev/vg0/data)
write_random /dev/vg0/data 4 8
assert_ne "$original" "$(sha256 /dev/vg0/data)" "origin after the change"

step "refused: the backup VG is inactive after apply"
refused "inactive backup" --to /dev/vg0/data --yes
vgchange -q -ay backup >/dev/null
backup_sum=$(head_sha256 /dev/backup/data "$size")
assert_eq "$original" "$backup_sum" "the backup holds the origin as it was"

step "refused: no --yes and no terminal"
before=$(sha256 /dev/vg0/data)
expect_exit 2 restore --to /dev/vg0/data </dev/null
assert_eq "$before" "$(sha256 /dev/vg0/data)" "origin without --yes"

step "refused: the destination is held (a device-mapper device on it)"
dmsetup create holder --table "0 $(blockdev --getsz /dev/vg0/data) linear /dev/vg0/data 0"
refused "held destination" --to /dev/vg0/data --yes
dmsetup remove holder

step "refused: a destination smaller than the backup"
make_lv vg0 small 8m
fill /dev/vg0/small
small_before=$(sha256 /dev/vg0/small)
expect_exit 1 restore --to /dev/vg0/small --yes
assert_eq "$small_before" "$(sha256 /dev/vg0/small)" "the small LV"

step "refused: the backup is tagged snapplan-state:incomplete"
lvchange -q --deltag snapplan-state:complete --addtag snapplan-state:incomplete backup/data >/dev/null
refused "incomplete tag" --to /dev/vg0/data --yes
lvchange -q --deltag snapplan-state:incomplete --addtag snapplan-state:complete backup/data >/dev/null

step "refused: the manifest says incomplete"
cp "$MANIFEST" /tmp/manifest.json
jq '.completed = false' /tmp/manifest.json >"$MANIFEST"
refused "incomplete manifest" --to /dev/vg0/data --yes
cp /tmp/manifest.json "$MANIFEST"

step "restore onto the origin (unmounted)"
run_ok restore --to /dev/vg0/data --yes
assert_eq "$backup_sum" "$(sha256 /dev/vg0/data)" "origin after the restore"

step "restore onto another, larger LV: the backup's bytes, the rest untouched"
make_lv vg0 other 32m
fill /dev/vg0/other
tail_before=$(tail -c +$((size + 1)) /dev/vg0/other | sha256sum | cut -d' ' -f1)
run_ok restore --to /dev/vg0/other --yes
assert_eq "$backup_sum" "$(head_sha256 /dev/vg0/other "$size")" "other LV after the restore"
assert_eq "$tail_before" "$(tail -c +$((size + 1)) /dev/vg0/other | sha256sum | cut -d' ' -f1)" "bytes past the backup"

step "refused: the backup no longer matches its manifest"
write_random /dev/vg0/data 1 0
write_random /dev/backup/data 1 16
refused "rotted backup" --to /dev/vg0/data --yes

step "the backup LV is still tagged complete; no snapshot anywhere"
lv_field backup/data lv_tags | grep -q 'snapplan-state:complete' || fail "backup/data lost its complete tag"
assert_eq 0 "$(lvs_json -o lv_name,lv_attr | jq '[.report[].lv[] | select(.lv_attr | startswith("s"))] | length')" "snapshots"
