#!/bin/sh
# File-level restore (`snapplan mount`/`unmount`) on a thick target. An ext4
# filesystem on vg0/data, mounted on /srv/data, backed up by apply (LVM
# freezes a mounted filesystem while it takes the snapshot, so the backup's
# journal is clean) into a backup VG that apply exports; a file changes on the origin. `generations --format json` lists
# the one complete generation without importing anything. `mount` imports
# the VG, activates the backup and mounts it ro,noload beside the mounted
# origin (same UUID): the file reads its OLD content, the origin stays
# mounted and writable; check and apply fail while it is mounted and leave
# the backup alone. `unmount` leaves LVM exactly as before the mount (VG
# exported, backup inactive: pvs/vgs JSON) and removes its record; verify
# then passes (the read-only mount wrote nothing to the backup). Refused
# without a change: an unknown generation, a mount point that is a symlink
# or writable by everyone, a backup tagged incomplete.
# vm: ramdisk_mb=64 share timeout=240

PLAN=/etc/snapplan/mount.yaml
ON_EXIT='umount /mnt/backup 2>/dev/null || true; umount /srv/data 2>/dev/null || true'


step "vg0/data with ext4 and two files, mounted on /srv/data; an empty backup VG"
make_vg vg0 "$(ram_disk 0)"
make_vg backup "$(ram_disk 1)"
make_lv vg0 data 24m
/usr/sbin/mke2fs -q -F -t ext4 /dev/vg0/data
mkdir -p /srv/data
mount -t ext4 /dev/vg0/data /srv/data
echo "the letter as it was" >/srv/data/letter.txt
dd if=/dev/urandom of=/srv/data/blob bs=1M count=2 2>/dev/null
sync
old_letter=$(sha256 /srv/data/letter.txt)
blob=$(sha256 /srv/data/blob)
mkdir -p /etc/snapplan
cat >"$PLAN" <<PLAN
version: 1
name: mount
target:
  vg: backup
  export: true
volumes:
  - lv: vg0/data
    snapshot_size: 8m
PLAN

step "apply: the backup; the backup VG ends exported"
run_ok snapplan apply "$PLAN"
assert_eq exported "$(vg_field backup vg_exported)" "backup VG after apply"

step "the file changes on the origin"
echo "the letter rewritten after the backup" >/srv/data/letter.txt
sync
assert_ne "$old_letter" "$(sha256 /srv/data/letter.txt)" "letter on the origin"

step "generations --format json: one complete generation, listed from the exported VG"
before=$(backup_state)
run_ok snapplan generations "$PLAN" --format json
jq -e '.format_version == 1 and .plan == "mount" and (.volumes | length) == 1' "$VM_OUT" >/dev/null ||
    fail "generations document: $(cat "$VM_OUT")"
jq -e '.volumes[0].name == "data" and (.volumes[0].generations | length) == 1' "$VM_OUT" >/dev/null ||
    fail "one generation of data"
jq -e '.volumes[0].generations[0] | .lv == "backup/data" and .state == "complete" and .verified == true
        and (.id | test("^[0-9]{8}T[0-9]{6}Z$")) and (.time | test("^[0-9-]{10}T[0-9:]{8}Z$"))
        and .size_bytes == 25165824 and .written_bytes > 0' "$VM_OUT" >/dev/null ||
    fail "the generation's fields: $(cat "$VM_OUT")"
id=$(jq -r '.volumes[0].generations[0].id' "$VM_OUT")
assert_eq "$before" "$(backup_state)" "LVM after generations (nothing imported or activated)"

step "refused, nothing changed: an unknown generation, a symlink, a mount point anyone can write to"
mkdir -p /mnt && chmod 0755 /mnt
mkdir -m 0755 /mnt/backup
ln -s /mnt/backup /mnt/link
mkdir -m 1777 /mnt/open
expect_exit 2 snapplan mount "$PLAN" data /mnt/backup --generation 19990101T000000Z
grep -q "$id" "$VM_ERR" || fail "the refusal lists the generation there is"
expect_exit 1 snapplan mount "$PLAN" data /mnt/link
expect_exit 1 snapplan mount "$PLAN" data /mnt/open
assert_eq "" "$(mounted_on /mnt/backup)$(mounted_on /mnt/link)$(mounted_on /mnt/open)" "mounts"
assert_eq 0 "$(records)" "mount records"
assert_eq "$before" "$(backup_state)" "LVM after the refusals"

step "mount: the backup read-only beside the mounted origin"
run_ok snapplan mount "$PLAN" data /mnt/backup --generation "$id"
line=$(mounted_on /mnt/backup)
echo "$line"
assert_eq ext4 "$(echo "$line" | awk '{ print $3 }')" "filesystem type"
case $(echo "$line" | awk '{ print $4 }') in ro,*) ;; *) fail "not mounted read-only: $line" ;; esac
assert_eq "$old_letter" "$(sha256 /mnt/backup/letter.txt)" "the letter in the backup (its old content)"
assert_eq "$blob" "$(sha256 /mnt/backup/blob)" "the blob in the backup"
! touch /mnt/backup/new 2>/dev/null || fail "the backup mount is writable"
case $(mounted_on /srv/data | awk '{ print $4 }') in rw,*) ;; *) fail "origin not mounted rw" ;; esac
echo probe >/srv/data/probe && rm /srv/data/probe || fail "the origin is not writable"
assert_eq active "$(lv_field backup/data lv_active)" "backup LV while mounted"
assert_eq "" "$(vg_field backup vg_exported)" "backup VG while mounted"
assert_eq 1 "$(records)" "mount records"
assert_eq 600 "$(stat -c %a "$RECORDS"/*.json)" "mode of the record"
assert_eq 700 "$(stat -c %a "$RECORDS")" "mode of the records directory"

step "check and apply refuse while the backup is mounted; the backup is untouched"
backup_sum=$(sha256 /dev/backup/data)
expect_exit 1 snapplan check "$PLAN" --format json
jq -e '[.checks[] | select(.check == "mounted_backup" and .status == "fail")] | length == 1' "$VM_OUT" >/dev/null ||
    fail "no mounted_backup FAIL row"
expect_exit 1 snapplan apply "$PLAN"
grep -q "snapplan unmount /mnt/backup" "$VM_ERR" || fail "apply does not name the unmount"
assert_eq "$backup_sum" "$(sha256 /dev/backup/data)" "backup LV after the refused apply"
assert_eq "$old_letter" "$(sha256 /mnt/backup/letter.txt)" "the letter in the backup after the refused apply"

step "unmount: LVM exactly as before the mount, no record"
run_ok snapplan unmount /mnt/backup
assert_eq "" "$(mounted_on /mnt/backup)" "mount after unmount"
assert_eq "$before" "$(backup_state)" "LVM after unmount (VG exported, backup inactive)"
assert_eq exported "$(vg_field backup vg_exported)" "backup VG after unmount"
assert_eq 0 "$(records)" "mount records after unmount"
expect_exit 2 snapplan unmount /mnt/backup

step "the mount wrote nothing to the backup: verify against its manifest passes"
run_ok snapplan verify "$PLAN"
assert_eq "$before" "$(backup_state)" "LVM after verify"

step "refused: a backup tagged incomplete (nothing mounted, LVM as it was)"
vgimport backup >/dev/null
lvchange -q --deltag snapplan-state:complete --addtag snapplan-state:incomplete backup/data >/dev/null
incomplete=$(backup_state)
expect_exit 1 snapplan mount "$PLAN" data /mnt/backup
grep -q "incomplete" "$VM_ERR" || fail "the refusal does not say incomplete"
assert_eq "" "$(mounted_on /mnt/backup)" "mount of an incomplete backup"
assert_eq "$incomplete" "$(backup_state)" "LVM after the refusal"
assert_eq 0 "$(records)" "mount records"

step "the origin is still mounted and holds the new letter"
assert_ne "$old_letter" "$(sha256 /srv/data/letter.txt)" "letter on the origin"
umount /srv/data
