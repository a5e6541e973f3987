#!/bin/sh
# Apply, the normal run: three volumes backed up inside one suspend window.
# The last suspend hook records each origin's checksum (nothing writes while
# suspended: that is the content at snapshot time), the first resume hook
# changes an origin while the copies still have to run. Afterwards each
# backup LV holds its origin's bytes as they were at snapshot time, is tagged
# complete, no snapshot is left, and the hooks ran in nesting order.
# vm: ramdisk_mb=64 share timeout=120

PLAN=/etc/snapplan/basic.yaml
SUMS=$PWD/sums-at-snapshot

step "three origins with data in vg0, an empty backup VG"
apply_system
write_apply_plan basic 30s <<YAML
  - lv: vg0/alpha
    snapshot_size: 50%
  - lv: vg0/bravo
    snapshot_size: 50%
  - lv: vg0/charlie
    snapshot_size: 50%
YAML
make_hook "$HOOKS" a
make_hook "$HOOKS" b \
    "$(record_sums_sh "$SUMS" vg0 alpha bravo charlie)" \
    "dd if=/dev/urandom of=/dev/vg0/alpha bs=1M count=2 seek=4 conv=fsync 2>/dev/null"
cat "/etc/snapplan/basic.yaml"

step "apply succeeds"
run_ok snapplan apply "$PLAN"
assert_eq "" "$(lvs_json -o lv_active backup | jq -r '[.report[].lv[].lv_active] | unique | join(",")')" \
    "backup LVs active after the run (the deactivate phase)"

step "hooks nested: suspend a, suspend b, then resume in reverse"
assert_hook_calls "suspend a, suspend b, resume b, resume a"
step "hooks saw the plan, one run id (the snapplan-run tag's form) and their phase"
cat "$HOOK_LOG.env"
assert_eq "plan=basic" "$(awk '{ print $3 }' "$HOOK_LOG.env" | sort -u)" "SNAPPLAN_PLAN in hooks"
run_ids=$(awk '{ print $4 }' "$HOOK_LOG.env" | sort -u)
assert_eq 1 "$(echo "$run_ids" | wc -l)" "run ids the hooks saw (one run)"
case $run_ids in
    run=[0-9]*T[0-9]*Z-[0-9]*) ;;
    *) fail "SNAPPLAN_RUN_ID in hooks: expected one YYYYMMDDTHHMMSSZ-PID for all calls, got '$run_ids'" ;;
esac
assert_eq "" "$(awk '"phase=" $1 != $5' "$HOOK_LOG.env")" "hook calls whose SNAPPLAN_PHASE is not their argument"
run_record=/var/lib/snapplan/basic/runs/${run_ids#run=}.json
[ -s "$run_record" ] || fail "no run record $run_record for run ${run_ids#run=}"
assert_eq 0 "$(jq -r .exit_code "$run_record")" "exit_code in the run record"

step "each backup holds its origin's content at snapshot time"
cat "$SUMS"
assert_backups_match "$SUMS" basic alpha bravo charlie
assert_ne "$(recorded_sum "$SUMS" alpha)" "$(sha256 /dev/vg0/alpha)" \
    "vg0/alpha now (the resume hook changed it after the snapshot)"
for lv in bravo charlie; do
    assert_eq "$(recorded_sum "$SUMS" $lv)" "$(sha256 /dev/vg0/$lv)" "vg0/$lv now (unchanged)"
done

step "no snapshot left; vg0 holds just the origins, backup just the backups"
assert_no_snapshot
assert_eq 3 "$(lv_count vg0)" "LVs in vg0"
assert_eq 3 "$(lv_count backup)" "LVs in backup"
lvs -a -o vg_name,lv_name,lv_attr,lv_size,lv_tags
