#!/bin/sh
# File-level restore from a thin-pool generation. An ext4 filesystem on
# vg0/data, mounted on /srv/data, backed up twice into the pool backup/gens
# of a VG that apply exports, a file changed in between. `generations`
# lists both generations from the exported VG; `mount --generation` of the
# OLDER one (the second run's generation is a thin snapshot of it, so the
# two share blocks and a UUID) beside the mounted origin reads the file's
# first content; `unmount` leaves LVM as before the mount (VG exported,
# pvs/vgs JSON) and removes its record; `prune --dry-run` shows what
# retention keeps and removes nothing; verify --all passes after it all.
# vm: ramdisk_mb=64 share timeout=240

PLAN=/etc/snapplan/mountgen.yaml
ON_EXIT='umount /mnt/gen 2>/dev/null || true; umount /srv/data 2>/dev/null || true'


step "vg0/data with ext4 mounted on /srv/data; VG backup with the thin pool gens"
make_vg vg0 "$(ram_disk 0)"
make_vg backup "$(ram_disk 1)"
make_lv vg0 data 24m
lvcreate -q -y --type thin-pool -L 40m -n gens backup >/dev/null
/usr/sbin/mke2fs -q -F -t ext4 /dev/vg0/data
mkdir -p /srv/data
mount -t ext4 /dev/vg0/data /srv/data
echo "the letter as it was" >/srv/data/letter.txt
sync
first=$(sha256 /srv/data/letter.txt)
mkdir -p /etc/snapplan
cat >"$PLAN" <<PLAN
version: 1
name: mountgen
target:
  vg: backup
  pool: gens
  export: true
retention:
  keep_last: 3
volumes:
  - lv: vg0/data
    snapshot_size: 8m
PLAN

step "two runs, the letter rewritten in between; the VG ends exported"
run_ok snapplan apply "$PLAN"
sleep 1
echo "the letter rewritten after the first backup" >/srv/data/letter.txt
sync
second=$(sha256 /srv/data/letter.txt)
assert_ne "$first" "$second" "letter on the origin"
run_ok snapplan apply "$PLAN"
assert_eq exported "$(vg_field backup vg_exported)" "backup VG after apply"

step "generations: two complete ones, newest first, read from the exported VG"
run_ok snapplan generations "$PLAN" --format json
jq -e '.volumes[0].generations | length == 2 and all(.state == "complete")
    and (.[0].id > .[1].id) and all(.lv | test("^backup/data\\.[0-9]{8}T[0-9]{6}Z$"))' \
    "$VM_OUT" >/dev/null || fail "generations document: $(cat "$VM_OUT")"
older=$(jq -r '.volumes[0].generations[1].id' "$VM_OUT")
assert_eq exported "$(vg_field backup vg_exported)" "generations imports nothing"

step "mount the older generation beside the mounted origin: the first letter"
before=$(backup_state)
mkdir -p /mnt/gen
run_ok snapplan mount "$PLAN" data /mnt/gen --generation "$older"
mounted_on /mnt/gen | grep -q " ro[, ]" || fail "/mnt/gen is not mounted read-only: $(mounted_on /mnt/gen)"
assert_eq "$first" "$(sha256 /mnt/gen/letter.txt)" "letter in generation $older"
assert_eq "$second" "$(sha256 /srv/data/letter.txt)" "letter on the origin"
echo "still writable" >/srv/data/other.txt
assert_eq 1 "$(records)" "mount records"

step "unmount: LVM as before the mount, no record"
run_ok snapplan unmount /mnt/gen
[ -z "$(mounted_on /mnt/gen)" ] || fail "/mnt/gen still mounted"
assert_eq 0 "$(records)" "mount records after unmount"
assert_eq "$before" "$(backup_state)" "backup VG after unmount"

step "prune --dry-run keeps both (keep_last 3) and removes nothing; verify --all passes"
run_ok snapplan prune "$PLAN" --dry-run
run_ok snapplan generations "$PLAN" --format json
jq -e '.volumes[0].generations | length == 2' "$VM_OUT" >/dev/null || fail "a generation went"
run_ok snapplan verify "$PLAN" --all
assert_eq exported "$(vg_field backup vg_exported)" "backup VG after verify"
umount /srv/data
