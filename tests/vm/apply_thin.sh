#!/bin/sh
# Apply, a mixed plan: vm1 is a thin volume in pool vg0/pool, alpha a
# classic LV, both snapshotted in one suspend window. vm1's snapshot is a
# thin one (no size, attr V, in the pool, no VG extents taken) and alpha's
# a classic one; the resume hook then rewrites 2 MiB of each origin. Both
# backups hold the content at snapshot time, no snapshot is left (vm1's is
# kept as its base, vm1-snapplan-base, for the next incremental copy), and
# vg0's free space is as before. Then a run SIGKILLed while it
# copies vm1 (throttled) leaves the thin snapshot, which `snapplan recover`
# removes; the next apply backs vm1 up again.
# vm: ramdisk_mb=64 share timeout=120

PLAN=/etc/snapplan/thin.yaml
SUMS=$PWD/sums-at-snapshot
SEEN=$PWD/snapshots-seen

step "vg0: thin pool with vm1 (16 MiB, 12 MiB written), classic alpha (8 MiB)"
make_vg vg0 "$(ram_disk 0)" "$(ram_disk 1)"
lvcreate -q -y --type thin-pool -L 48m -n pool vg0 >/dev/null
lvcreate -q -y -V 16m -T vg0/pool -n vm1 >/dev/null
make_lv vg0 alpha 8m
write_random /dev/vg0/vm1 12
fill /dev/vg0/alpha
make_vg backup "$(ram_disk 2)"
free_before=$(vg_field vg0 vg_free)
write_apply_plan thin 30s <<YAML
  - lv: vg0/vm1
  - lv: vg0/alpha
    snapshot_size: 50%
YAML
make_hook "$HOOKS" a \
    "$(record_sums_sh "$SUMS" vg0 vm1 alpha)" \
    "lvs --reportformat json --units b --nosuffix -o lv_name,lv_attr,lv_size,segtype,origin,pool_lv,lv_active vg0/vm1-snapplan vg0/alpha-snapplan >$SEEN
echo \"vg_free \$(vgs --noheadings --units b --nosuffix -o vg_free vg0 | tr -d ' ')\" >>$SEEN.free
dd if=/dev/urandom of=/dev/vg0/vm1 bs=1M count=2 seek=3 conv=fsync 2>/dev/null
dd if=/dev/urandom of=/dev/vg0/alpha bs=1M count=2 seek=1 conv=fsync 2>/dev/null"

step "check: the pool has its own row and passes"
run_ok snapplan check --format json "$PLAN"
assert_eq pass "$(jq -r '.checks[] | select(.check == "thin_pool") | .status' "$VM_OUT")" "thin pool row"

step "apply: both volumes backed up"
run_ok snapplan apply "$PLAN"
assert_eq "Vwi-a-tz-k thin vm1 pool active" \
    "$(jq -r '.report[0].lv[] | select(.lv_name == "vm1-snapplan") | "\(.lv_attr) \(.segtype) \(.origin) \(.pool_lv) \(.lv_active)"' "$SEEN")" \
    "vm1's snapshot while the resume hook ran"
assert_eq "s" "$(jq -r '.report[0].lv[] | select(.lv_name == "alpha-snapplan") | .lv_attr[0:1]' "$SEEN")" \
    "alpha's snapshot is a classic one"
# Only alpha's classic snapshot took VG extents (its COW space).
alpha_cow=$(jq -r '.report[0].lv[] | select(.lv_name == "alpha-snapplan") | .lv_size' "$SEEN")
assert_eq "vg_free $((free_before - alpha_cow))" "$(cat "$SEEN.free")" "vg0 free space with both snapshots"

step "backups equal the snapshot-time content, nothing left behind"
assert_ne "$(recorded_sum "$SUMS" vm1)" "$(sha256 /dev/vg0/vm1)" "vm1 changed after its snapshot"
assert_backups_match "$SUMS" thin vm1 alpha
assert_no_snapshot
assert_eq "alpha pool vm1 vm1-snapplan-base" \
    "$(lvs --reportformat json -o lv_name -O lv_name vg0 | jq -r '[.report[0].lv[].lv_name] | join(" ")')" \
    "LVs in vg0"
assert_eq "$free_before" "$(vg_field vg0 vg_free)" "vg0 free space after the run"
pool_after=$(lv_field vg0/pool data_percent)

step "SIGKILL while vm1 is copied, then recover"
rm -f "$HOOKS/a"
start_bg "$PWD/kill" snapplan apply "$PLAN" --bandwidth 2MiB/s
pid=$BG_PID
wait_for 60 lv_exists vg0/alpha-snapplan
sleep 1
kill -KILL "$pid"
wait_bg "$pid" "$PWD/kill"
assert_eq 137 "$BG_STATUS" "exit status after SIGKILL"
assert_lv_exists vg0/vm1-snapplan
run_ok snapplan recover "$PLAN"
assert_no_snapshot
assert_eq "$pool_after" "$(lv_field vg0/pool data_percent)" "pool data use after recover"
run_ok snapplan apply "$PLAN"
assert_no_snapshot
assert_backed_up thin vm1 alpha
