#!/bin/sh
# Apply, incremental copies of a thin origin: vm1 is a 32 MiB thin LV
# holding 24 MiB of data. The first run copies it and keeps its snapshot as
# vm1's base (tagged, one per origin). After 1 MiB of vm1 is rewritten, the
# second run reads at most the changed 4 MiB chunks from the pool's data
# device (sectors read in /sys/block/dm-N/stat of vg0-pool_tdata), against
# the 24 MiB a full read takes; the backup equals the origin (sha256) and no
# metadata snapshot is held. 100% rewritten: the incremental copy takes at
# most 1.05x a full one (both measured here, the ratio printed). A base
# removed by hand: a full read and a correct backup. SIGKILL while the
# metadata snapshot is reserved (thin_delta made slow by a wrapper), then
# recover: the metadata snapshot is released, at most one base, and the
# next run's backup equals the origin.
# vm: ramdisk_mb=64 timeout=240

PLAN=/etc/snapplan/incr.yaml
BASE=vg0/vm1-snapplan-base

# sectors_read DEV: the kernel's count of sectors read (field 3).
sectors_read() {
    _dev=$(basename "$(readlink -f "$1")")
    awk '{ print $3 }' "/sys/block/$_dev/stat"
}
TDATA=/dev/mapper/vg0-pool_tdata
# held_metadata_snap: field 7 of the pool's status ("-" when none is held).
held_metadata_snap() {
    dmsetup status vg0-pool-tpool | awk '{ print $7 }'
}
base_count() {
    lvs_json -o lv_name,lv_tags vg0 |
        jq '[.report[].lv[] | select(.lv_tags | split(",") | index("snapplan-role:base"))] | length'
}
# apply_measured: one apply; READ = MiB read from the pool's data device,
# COPY_S = the copy's own seconds (from its summary line).
apply_measured() {
    _before=$(sectors_read "$TDATA")
    run_ok snapplan apply "$PLAN" "$@"
    READ_SECTORS=$(($(sectors_read "$TDATA") - _before))
    COPY_S=$(sed -n 's/.*copied .* in \([0-9.]*\) s .*/\1/p' "$VM_ERR" | tail -n 1)
    echo "read from the pool's data device: $READ_SECTORS sectors; copy took $COPY_S s"
}
assert_backup_is_origin() {
    activate_backup
    assert_eq "$(sha256 /dev/vg0/vm1)" "$(sha256 /dev/backup/vm1)" "backup/vm1 equals vg0/vm1"
}

step "vg0: 80 MiB pool, vm1 32 MiB with 24 MiB written; VG backup"
make_vg vg0 "$(ram_disk 0)" "$(ram_disk 1)"
lvcreate -q -y --type thin-pool -L 80m -n pool vg0 >/dev/null
lvcreate -q -y -V 32m -T vg0/pool -n vm1 >/dev/null
write_random /dev/vg0/vm1 24
make_vg backup "$(ram_disk 2)"
mkdir -p /etc/snapplan
cat >"$PLAN" <<YAML
version: 1
name: incr
state_dir: /var/lib/snapplan
target:
  vg: backup
  keep_previous: false
volumes:
  - lv: vg0/vm1
YAML

step "first run: a full read of what is mapped, the snapshot kept as the base"
apply_measured
assert_backup_is_origin
assert_lv_exists "$BASE"
has_tag "$BASE" snapplan-role:base || fail "$BASE is not tagged as a base"
has_tag "$BASE" snapplan-plan:incr || fail "$BASE is not tagged with its plan"
assert_no_snapshot
assert_eq "-" "$(held_metadata_snap)" "metadata snapshot after the first run"
first_read=$READ_SECTORS

step "1 MiB rewritten: the second run reads only the changed chunks"
dd if=/dev/urandom of=/dev/vg0/vm1 bs=1M count=1 seek=9 conv=fsync 2>/dev/null
apply_measured
[ "$READ_SECTORS" -le $((8 * 2048)) ] ||
    fail "incremental run read $READ_SECTORS sectors from the pool, more than 8 MiB"
[ "$READ_SECTORS" -gt 0 ] || fail "incremental run read nothing: the change was not copied"
assert_backup_is_origin
assert_eq 1 "$(base_count)" "bases of vm1"
assert_eq "-" "$(held_metadata_snap)" "metadata snapshot after the second run"
assert_no_snapshot
echo "FIGURES: first run $first_read sectors, 1 MiB changed: $READ_SECTORS sectors"

step "100% rewritten: incremental against full, timed"
write_random /dev/vg0/vm1 24
apply_measured
incr_s=$COPY_S incr_read=$READ_SECTORS
assert_backup_is_origin
write_random /dev/vg0/vm1 24
lvremove -q -y "$BASE" >/dev/null
apply_measured
full_s=$COPY_S full_read=$READ_SECTORS
grep -q "full read: vg0/vm1 has no base" "$VM_ERR" || fail "no logged reason for the full read"
assert_backup_is_origin
ratio=$(awk -v i="$incr_s" -v f="$full_s" 'BEGIN { printf "%.3f", i / f }')
echo "FIGURES: 100% changed: incremental $incr_s s ($incr_read sectors), full $full_s s ($full_read sectors), ratio $ratio"
awk -v r="$ratio" 'BEGIN { exit !(r <= 1.05) }' || fail "incremental copy took ${ratio}x the full one"

step "base removed by hand: a full read, a correct backup"
lvremove -q -y "$BASE" >/dev/null
dd if=/dev/urandom of=/dev/vg0/vm1 bs=1M count=1 seek=2 conv=fsync 2>/dev/null
apply_measured
[ "$READ_SECTORS" -ge $((24 * 2048)) ] ||
    fail "without a base the run read only $READ_SECTORS sectors"
assert_backup_is_origin
assert_eq 1 "$(base_count)" "bases of vm1 after the full run"

step "SIGKILL between reserve and release of the metadata snapshot, then recover"
mkdir -p /tmp/slow
cat >/tmp/slow/thin_delta <<'SH'
#!/bin/sh
echo $$ >/tmp/slow/pid
sleep 60
exec /usr/sbin/thin_delta "$@"
SH
chmod +x /tmp/slow/thin_delta
dd if=/dev/urandom of=/dev/vg0/vm1 bs=1M count=1 seek=20 conv=fsync 2>/dev/null
start_bg "$PWD/kill" env SNAPPLAN_TOOL_PATH="/tmp/slow:/usr/sbin:/sbin:/usr/bin:/bin" \
    snapplan apply "$PLAN"
pid=$BG_PID
wait_for 60 test -s /tmp/slow/pid
assert_ne "-" "$(held_metadata_snap)" "metadata snapshot while thin_delta runs"
kill -KILL "$pid"
wait_bg "$pid" "$PWD/kill"
assert_eq 137 "$BG_STATUS" "exit status after SIGKILL"
kill -KILL "$(cat /tmp/slow/pid)" 2>/dev/null || true
run_ok snapplan recover "$PLAN"
assert_eq "-" "$(held_metadata_snap)" "metadata snapshot after recover"
[ "$(base_count)" -le 1 ] || fail "more than one base after recover"
assert_no_snapshot
apply_measured
assert_backup_is_origin
assert_eq 1 "$(base_count)" "bases of vm1 after the next run"
assert_eq "-" "$(held_metadata_snap)" "metadata snapshot after the next run"
