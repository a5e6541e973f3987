#!/bin/sh
# Report and metrics on the records of real runs: a good apply, then one
# whose suspend hook fails. `snapplan report --format json` gives back what
# the runs did; `apply --metrics` rewrites the textfile after each run and
# keeps the volume's last success across the failed run; unreadable records
# are skipped (exit 0) unless nothing else is readable (exit 1).
# vm: ramdisk_mb=64 share

PLAN=/etc/snapplan/nightly.yaml
RUNS=/var/lib/snapplan/nightly/runs
METRICS=/tmp/textfile/snapplan-nightly.prom

# metric NAME [VOLUME]: the value of one sample in the metrics file.
metric() {
    if [ -n "${2:-}" ]; then
        _line=$(grep "^$1{plan=\"nightly\",volume=\"$2\"} " "$METRICS") || fail "no $1 for $2 in $METRICS"
    else
        _line=$(grep "^$1{plan=\"nightly\"} " "$METRICS") || fail "no $1 in $METRICS"
    fi
    echo "${_line##* }"
}

# report_json JQ: a value from `snapplan report --last 5 --format json`.
report_json() {
    snapplan report "$PLAN" --last 5 --format json >/tmp/report.json || fail "report failed"
    jq -er "$1" /tmp/report.json
}

step "a volume, a backup VG, a hook whose suspend exits with the status in /tmp/hook-exit"
make_vg vg0 "$(ram_disk 0)"
make_vg backup "$(ram_disk 1)"
make_lv vg0 data 16m
fill /dev/vg0/data
mkdir -p /etc/snapplan/hooks.d /tmp/textfile
cat >/etc/snapplan/hooks.d/10-app <<'HOOK'
#!/bin/sh
[ "$1" = suspend ] && exit "$(cat /tmp/hook-exit)"
exit 0
HOOK
chmod +x /etc/snapplan/hooks.d/10-app
cat >"$PLAN" <<PLAN
version: 1
name: nightly
hooks:
  dir: /etc/snapplan/hooks.d
target:
  vg: backup
volumes:
  - lv: vg0/data
    snapshot_size: 8m
PLAN
size=$(size_bytes /dev/vg0/data)

step "report before any run: no runs, exit 0"
run_ok snapplan report "$PLAN"
[ ! -e "$RUNS" ] || fail "report created $RUNS"

step "a good run"
echo 0 >/tmp/hook-exit
run_ok snapplan apply "$PLAN" --metrics "$METRICS"
assert_eq 1 "$(report_json '.plans[0].runs | length')" "runs reported"
assert_eq 0 "$(report_json '.plans[0].runs[0].exit_code')" "exit code of run 1"
assert_eq ok "$(report_json '.plans[0].runs[0].volumes[0].status')" "volume status in run 1"
assert_eq true "$(report_json '.plans[0].runs[0].volumes[0].verified')" "verified in run 1"
assert_eq "$size" "$(report_json '.plans[0].runs[0].volumes[0].size_bytes')" "bytes read in run 1"
first_end=$(report_json '.plans[0].runs[0].finished_at')
assert_eq "$first_end" "$(metric snapplan_volume_last_success_timestamp_seconds data)" "last success after run 1"
assert_eq 1 "$(metric snapplan_volume_last_run_success data)" "last run success after run 1"
assert_eq "$size" "$(metric snapplan_volume_last_run_read_bytes data)" "bytes read metric"
assert_eq 0 "$(metric snapplan_last_run_exit_code)" "exit code metric after run 1"
assert_eq "$first_end" "$(metric snapplan_last_success_timestamp_seconds)" "plan last success after run 1"
assert_eq 0 "$(metric snapplan_last_failure_timestamp_seconds)" "plan last failure after run 1 (never)"
assert_eq 0 "$(metric snapplan_volume_last_failure_timestamp_seconds data)" "volume last failure after run 1 (never)"
grep -q '^snapplan_build_info{version="[0-9][^"]*"} 1$' "$METRICS" || fail "no snapplan_build_info in $METRICS"
! grep -q percent "$METRICS" || fail "a _percent metric in $METRICS"
# The peak is written when the watchdog measured one; a ratio, never a percentage.
if grep -q '^snapplan_volume_last_run_snapshot_peak_ratio' "$METRICS"; then
    peak=$(metric snapplan_volume_last_run_snapshot_peak_ratio data)
    awk -v p="$peak" 'BEGIN { exit !(p >= 0 && p < 1) }' || fail "snapshot peak ratio $peak not in [0, 1)"
fi
[ "$(stat -c %a "$METRICS")" = 644 ] || fail "metrics file mode $(stat -c %a "$METRICS")"

step "a run whose suspend hook fails: exit 1, the last success is kept"
sleep 1 # run ids are per second
echo 1 >/tmp/hook-exit
expect_exit 1 snapplan apply "$PLAN" --metrics "$METRICS"
assert_eq 2 "$(report_json '.plans[0].runs | length')" "runs reported"
assert_eq 1 "$(report_json '.plans[0].runs[0].exit_code')" "exit code of run 2 (newest first)"
assert_eq 0 "$(report_json '.plans[0].runs[1].exit_code')" "exit code of run 1"
second_end=$(report_json '.plans[0].runs[0].finished_at')
assert_eq 1 "$(metric snapplan_last_run_exit_code)" "exit code metric after run 2"
assert_eq "$second_end" "$(metric snapplan_last_run_timestamp_seconds)" "last run time after run 2"
assert_eq "$first_end" "$(metric snapplan_volume_last_success_timestamp_seconds data)" "last success after run 2"
assert_eq "$second_end" "$(metric snapplan_volume_last_failure_timestamp_seconds data)" "volume last failure after run 2"
assert_eq "$first_end" "$(metric snapplan_last_success_timestamp_seconds)" "plan last success after run 2"
assert_eq "$second_end" "$(metric snapplan_last_failure_timestamp_seconds)" "plan last failure after run 2"
[ -z "$(ls -A /tmp/textfile | grep -v '^snapplan-nightly.prom$')" ] || fail "temp files left: $(ls -A /tmp/textfile)"
run_ok snapplan report "$PLAN" --last 2

step "an unreadable record is skipped; when nothing is readable, exit 1"
echo '{ truncated' >"$RUNS/29990101T000000Z-1.json"
run_ok snapplan report "$PLAN"
assert_eq 1 "$(report_json '.plans[0].unreadable | length')" "unreadable records"
assert_eq 1 "$(report_json '.plans[0].runs[0].exit_code')" "newest readable run"
mkdir -p /var/lib/snapplan/broken/runs
echo '[]' >/var/lib/snapplan/broken/runs/20260101T000000Z-1.json
expect_exit 0 snapplan report # nightly is readable
rm "$RUNS"/*.json
echo '{ truncated' >"$RUNS/29990101T000000Z-1.json"
expect_exit 1 snapplan report
