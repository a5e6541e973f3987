#!/bin/sh
# Apply, incremental copies of a thin origin, the fallbacks: after a first
# run kept vm1's base, the base removed by hand makes the next run read
# everything (logged with the reason) and its backup equals the origin.
# Then a run SIGKILLed while the metadata snapshot is reserved (thin_delta
# made slow by a wrapper in SNAPPLAN_TOOL_PATH), and `snapplan recover`:
# the metadata snapshot is released (the pool's status shows "-"), at most
# one base is left, and the next run's backup equals the origin; the same
# for a SIGKILL in the middle of an incremental copy. check
# names the kept base with what the last incremental run found changed;
# retain_base: false removes it and keeps none, and the runs read in full.
# vm: ramdisk_mb=64 timeout=420

PLAN=/etc/snapplan/incr.yaml
BASE=vg0/vm1-snapplan-base

# sectors_read DM_NAME: the kernel's count of sectors read (field 3) from
# device-mapper device DM_NAME (no udev here: /dev/mapper holds plain nodes).
sectors_read() {
    _minor=$(dmsetup info -c --noheadings -o minor "$1" | tr -d ' ')
    awk '{ print $3 }' "/sys/block/dm-$_minor/stat"
}
TDATA=vg0-pool_tdata
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
    # The engine's copy time plus what finding the delta took before it.
    _copy=$(sed -n 's/.* chunks) in \([0-9.]*\) s (.*/\1/p' "$VM_ERR" | tail -n 1)
    _basis=$(sed -n 's/.*ids and delta in \([0-9.]*\) s.*/\1/p' "$VM_ERR" | tail -n 1)
    COPY_S=$(awk -v c="$_copy" -v b="${_basis:-0}" 'BEGIN { printf "%.2f", c + b }')
    echo "read from the pool's data device: $READ_SECTORS sectors; delta $_basis s + copy $_copy s"
}
# assert_backup_is_origin: byte for byte (cmp: sha256 is slow under TCG).
assert_backup_is_origin() {
    activate_backup
    cmp /dev/vg0/vm1 /dev/backup/vm1 || fail "backup/vm1 differs from vg0/vm1"
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

step "base removed by hand: a full read, a correct backup"
lvremove -q -y "$BASE" >/dev/null
dd if=/dev/urandom of=/dev/vg0/vm1 bs=1M count=1 seek=2 conv=fsync 2>/dev/null
apply_measured
grep -q "full read: vg0/vm1 has no base" "$VM_ERR" || fail "no logged reason for the full read"
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

step "SIGKILL in the middle of an incremental copy, then recover: one base, and the next run is correct"
dd if=/dev/urandom of=/dev/vg0/vm1 bs=1M count=12 seek=4 conv=fsync 2>/dev/null
start_bg "$PWD/kill2" snapplan apply "$PLAN" --bandwidth 1MiB/s
pid=$BG_PID
wait_for 60 grep -q '"event":"copy_progress"' /var/lib/snapplan/incr/journal.jsonl
kill -KILL "$pid"
wait_bg "$pid" "$PWD/kill2"
assert_eq 137 "$BG_STATUS" "exit status after SIGKILL"
run_ok snapplan recover "$PLAN"
assert_eq "-" "$(held_metadata_snap)" "metadata snapshot after recover"
[ "$(base_count)" -le 1 ] || fail "more than one base after recover"
assert_no_snapshot
dd if=/dev/urandom of=/dev/vg0/vm1 bs=1M count=1 seek=1 conv=fsync 2>/dev/null
apply_measured
assert_backup_is_origin
assert_eq 1 "$(base_count)" "bases of vm1 after the next run"

step "check names the kept base, with what the last incremental run found changed"
expect_exit 0 snapplan check "$PLAN" --format json >/dev/null
jq -e '.checks[] | select(.check == "thin_pool") | .detail
    | test("kept bases.*vg0/vm1-snapplan-base \\(the last incremental run found [0-9.]+ [KMG]iB changed\\)")' \
    "$VM_OUT" >/dev/null || fail "the pool row does not name the base: $(cat "$VM_OUT")"

step "retain_base: false: the next run removes the base and keeps none; its backup is correct"
echo "    retain_base: false" >>"$PLAN"
dd if=/dev/urandom of=/dev/vg0/vm1 bs=1M count=1 seek=8 conv=fsync 2>/dev/null
run_ok snapplan check "$PLAN" --format json >/dev/null
jq -e '.checks[] | select(.check == "thin_pool") | .detail
    | test("which the next apply removes: vg0/vm1-snapplan-base")' \
    "$VM_OUT" >/dev/null || fail "the pool row does not name the stale base: $(cat "$VM_OUT")"
apply_measured
assert_backup_is_origin
assert_eq 0 "$(base_count)" "bases of vm1 with retain_base: false"
assert_no_snapshot
dd if=/dev/urandom of=/dev/vg0/vm1 bs=1M count=1 seek=12 conv=fsync 2>/dev/null
apply_measured
grep -q "full read: vg0/vm1 has no base" "$VM_ERR" || fail "no logged reason for the full read"
assert_backup_is_origin
assert_eq 0 "$(base_count)" "bases of vm1 after a second run with retain_base: false"
