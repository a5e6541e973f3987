#!/bin/sh
# Apply, the second run: after 4 MiB of one origin changed, only those chunks
# are written to the backups (the kernel's write counter of the backup VG's
# PV, a loop device, says so: not snapplan), the run record agrees, and every
# backup matches its origin again. Then a corrupted backup LV makes
# `snapplan verify PLAN` fail naming that volume, while the other volumes
# still verify with --volume, also when apply left VG backup inactive. With
# verify off for bravo, the next apply re-reads a sample of its backup before
# trusting the manifest, finds the corruption and rewrites bravo in full.
# vm: ramdisk_mb=64 share timeout=300

PLAN=/etc/snapplan/delta.yaml
LOOP=/dev/loop0

seen_records=""

# new_run_record: the run record the last apply wrote (not in $seen_records).
new_run_record() {
    for r in /var/lib/snapplan/delta/runs/*.json; do
        case $r in *.journal.json*) continue ;; esac
        case " $seen_records " in *" $r "*) continue ;; esac
        echo "$r"
    done
}

# record_bytes RECORD VOLUME: bytes_written of VOLUME in a run record.
record_bytes() {
    jq -er --arg v "$2" '.volumes[] | select(.volume == $v) | .bytes_written' "$1"
}

step "the backup VG on a loop device (RAM disks keep no I/O counters)"
truncate -s 64M "$PWD/backup.img"
losetup "$LOOP" "$PWD/backup.img"
ON_EXIT="vgremove -q -ff backup >/dev/null 2>&1; pvremove -q -ff -y $LOOP >/dev/null 2>&1; losetup -d $LOOP"
apply_system "$LOOP"

step "three origins, a first full backup"
write_apply_plan delta 30s <<YAML
  - lv: vg0/alpha
  - lv: vg0/bravo
  - lv: vg0/charlie
YAML
make_hook "$HOOKS" a
run_ok snapplan apply "$PLAN"
assert_backed_up delta alpha bravo charlie
seen_records=$(new_run_record)

step "4 MiB of vg0/alpha change (bytes 8-12 MiB); bravo and charlie stay"
write_random /dev/vg0/alpha 4 8
vgchange -q -an backup >/dev/null
before=$(sectors_written "$LOOP")

step "the second apply writes only what changed"
run_ok snapplan apply "$PLAN"
written=$(($(sectors_written "$LOOP") - before))
echo "sectors written to the backup PV: $written"
# The changed 4 MiB are 8192 sectors. keep_previous (the default) writes
# each of them twice: the previous content into the protection snapshot
# (copy-on-write), then the new one; the snapshot's exception table and
# LVM's metadata updates (tags) add a few thousand. Rewriting any other
# 4 MiB would add 16384 or more.
[ "$written" -ge 16384 ] || fail "$written sectors written to the backup PV, less than twice the 4 MiB that changed (new data and the protected previous data)"
[ "$written" -le 24576 ] || fail "$written sectors written to the backup PV for 4 MiB changed: not a delta copy"
record=$(new_run_record)
[ -n "$record" ] && [ "$(echo "$record" | wc -l)" = 1 ] || fail "expected one new run record, got '$record'"
assert_eq 4194304 "$(record_bytes "$record" alpha)" "bytes_written of alpha in $record"
assert_eq 0 "$(record_bytes "$record" bravo)" "bytes_written of bravo in $record"
assert_eq 0 "$(record_bytes "$record" charlie)" "bytes_written of charlie in $record"
assert_backed_up delta alpha bravo charlie
assert_no_snapshot
assert_hook_calls "suspend a, resume a, suspend a, resume a"

step "verify PLAN passes while the backups are intact"
run_ok snapplan verify "$PLAN"

step "4 bytes of backup/bravo corrupted: verify PLAN fails naming bravo"
activate_backup
printf 'XXXX' | dd of=/dev/backup/bravo bs=1 seek=5242880 conv=notrunc,fsync 2>/dev/null
assert_ne "$(sha256 /dev/vg0/bravo)" "$(sha256 /dev/backup/bravo)" "backup/bravo after corrupting it"
expect_exit 1 snapplan verify "$PLAN"
grep -qw bravo "$VM_OUT" "$VM_ERR" || fail "verify's output does not name the volume bravo"
expect_exit 1 snapplan verify "$PLAN" --volume bravo
run_ok snapplan verify "$PLAN" --volume alpha
run_ok snapplan verify "$PLAN" --volume charlie

step "verify PLAN works on VG backup inactive, as every apply leaves it (cron, then an admin's check)"
vgchange -q -an backup >/dev/null
run_ok snapplan verify "$PLAN" --volume alpha
assert_eq "" "$(lv_field backup/alpha lv_active)" "backup/alpha active after verify (left as found)"

step "backup/bravo changed behind snapplan's back (still corrupted), verify off: the delta's spot-check finds it and copies bravo in full"
write_apply_plan delta 30s <<YAML
  - lv: vg0/alpha
  - lv: vg0/bravo
    verify: false
  - lv: vg0/charlie
YAML
seen_records="$seen_records $record"
before=$(sectors_written "$LOOP")
run_ok snapplan apply "$PLAN"
written=$(($(sectors_written "$LOOP") - before))
bravo_bytes=$(size_bytes /dev/vg0/bravo)
echo "sectors written to the backup PV: $written (bravo is $bravo_bytes bytes)"
[ "$written" -ge $((bravo_bytes / 512)) ] || fail "$written sectors written: bravo was not copied in full"
# Twice bravo at most: backup/bravo is tagged complete, so its previous
# content is protected (copy-on-write) while it is rewritten.
[ "$written" -le $((2 * bravo_bytes / 512 + 8192)) ] || fail "$written sectors written: more than bravo was rewritten"
record=$(new_run_record)
assert_eq "$bravo_bytes" "$(record_bytes "$record" bravo)" "bytes_written of bravo in $record"
assert_eq 0 "$(record_bytes "$record" alpha)" "bytes_written of alpha in $record"
assert_eq 0 "$(record_bytes "$record" charlie)" "bytes_written of charlie in $record"
assert_backed_up delta alpha bravo charlie
run_ok snapplan verify "$PLAN"
