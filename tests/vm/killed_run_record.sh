#!/bin/sh
# A run killed with SIGKILL mid-copy does not vanish from the history: after
# `snapplan recover --metrics`, `report --format json` lists it first,
# ending died, exit code null, the volume being copied interrupted with how
# far it got, the others not run, and what recovery undid; the metrics say
# the last run failed (exit code -1) and keep the earlier success. A second
# recover leaves the record alone.
# vm: ramdisk_mb=64 share timeout=240

PLAN=/etc/snapplan/killed.yaml
RUNS=/var/lib/snapplan/killed/runs
METRICS=/tmp/textfile/snapplan-killed.prom

# metric NAME: the value of the plan's sample in the metrics file.
metric() {
    _line=$(grep "^$1{plan=\"killed\"} " "$METRICS") || fail "no $1 in $METRICS"
    echo "${_line##* }"
}

# fresh_report: `snapplan report --last 5 --format json` into /tmp/report.json
# (each snapplan start is slow under TCG); report_json JQ: a value from it.
fresh_report() {
    snapplan report "$PLAN" --last 5 --format json >/tmp/report.json || fail "report failed"
}
report_json() {
    jq -er "$1" /tmp/report.json
}

copying() {
    hook_called "resume a" && [ -n "$(snapshot_lvs)" ]
}

step "three origins, hook a, a plan; a good run with metrics"
apply_system
write_apply_plan killed 60s <<YAML
  - lv: vg0/alpha
  - lv: vg0/bravo
  - lv: vg0/charlie
YAML
make_hook "$HOOKS" a
mkdir -p /tmp/textfile
run_ok snapplan apply "$PLAN" --metrics "$METRICS"
fresh_report
good_id=$(report_json '.plans[0].runs[0].run_id')
good_end=$(report_json '.plans[0].runs[0].finished_at')
assert_eq "$good_end" "$(metric snapplan_last_success_timestamp_seconds)" "last success after the good run"

step "the next run, SIGKILLed mid-copy (2 MiB/s, after a few seconds of copying)"
sleep 1 # run ids are per second
rm -f "$HOOK_LOG"
start_bg "$PWD/killed" snapplan apply "$PLAN" --bandwidth 2MiB/s --metrics "$METRICS"
pid=$BG_PID
wait_for 60 copying
# Until the copy journalled how far it got (every 2 s).
wait_for 60 grep -q '"event":"copy_progress"' /var/lib/snapplan/killed/journal.jsonl
kill -KILL "$pid"
wait_bg "$pid" "$PWD/killed"
assert_eq 137 "$BG_STATUS" "exit status after SIGKILL"
[ -n "$(snapshot_lvs)" ] || fail "the killed run left no snapshot: this case would prove nothing"
fresh_report
assert_eq "$good_id" "$(report_json '.plans[0].runs[0].run_id')" "newest record before recover (the dead run has none yet)"

step "recover writes the dead run's record and the metrics"
run_ok snapplan recover "$PLAN" --metrics "$METRICS"
assert_no_snapshot
fresh_report
cat /tmp/report.json
assert_eq 2 "$(report_json '.plans[0].runs | length')" "records after recover"
dead_id=$(report_json '.plans[0].runs[0].run_id')
assert_ne "$good_id" "$dead_id" "newest record after recover"
assert_eq died "$(report_json '.plans[0].runs[0].ending')" "ending of the killed run"
assert_eq true "$(report_json '.plans[0].runs[0].exit_code == null')" "exit code of the killed run is null"
assert_eq 0 "$(report_json '.plans[0].runs[1].exit_code')" "the good run comes second"
assert_eq 1 "$(report_json '[.plans[0].runs[0].volumes[] | select(.status == "interrupted")] | length')" "volumes interrupted"
vol=$(report_json '.plans[0].runs[0].volumes[] | select(.status == "interrupted") | .volume')
done_bytes=$(report_json ".plans[0].runs[0].volumes[] | select(.volume == \"$vol\") | .size_bytes")
total=$(size_bytes "/dev/vg0/$vol")
[ "$done_bytes" -gt 0 ] && [ "$done_bytes" -lt "$total" ] || fail "how far the copy of $vol got: $done_bytes of $total"
assert_eq 2 "$(report_json '[.plans[0].runs[0].volumes[] | select(.status == "ok" or .status == "not_run")] | length')" \
    "the other volumes: copied before, or not run"
assert_eq true "$(report_json '.plans[0].runs[0].recovery.undone | any(startswith("removed snapshot"))')" "recovery undid the snapshots"
assert_eq 0 "$(report_json '.plans[0].runs[0].recovery.not_undone | length')" "nothing left undone"
assert_eq true "$(report_json '.plans[0].runs[0].problems[0] | contains("during step copy:")')" "what the dead run was doing"
dead_end=$(report_json '.plans[0].runs[0].finished_at')
# keep_previous (the default): recovery merged the previous backup of the
# interrupted volume back, and the record says so; on the real system every
# backup is complete and holds its origin (unchanged since the good run).
assert_eq true "$(report_json '.plans[0].runs[0].recovery.undone | any(startswith("merged "))')" "recovery merged a previous backup back"
assert_eq true "$(report_json ".plans[0].runs[0].volumes[] | select(.volume == \"$vol\") | .reason | contains(\"merged the previous backup back\")")" "reason of $vol"
assert_backed_up killed alpha bravo charlie
snapplan report "$PLAN" >/tmp/report.txt
cat /tmp/report.txt
head -n 1 /tmp/report.txt | grep -q "^plan killed: last run DIED" || fail "report verdict: $(head -n 1 /tmp/report.txt)"

step "the metrics: the last run failed (-1), the last success is the good run's"
assert_eq -1 "$(metric snapplan_last_run_exit_code)" "exit code metric of the dead run"
assert_eq "$dead_end" "$(metric snapplan_last_run_timestamp_seconds)" "last run time"
assert_eq "$good_end" "$(metric snapplan_last_success_timestamp_seconds)" "last success kept"
assert_eq "$dead_end" "$(metric snapplan_last_failure_timestamp_seconds)" "last failure is the dead run"

step "a second recover leaves the record as it is"
sum=$(sha256sum "$RUNS/$dead_id.json")
run_ok snapplan recover "$PLAN"
assert_eq "$sum" "$(sha256sum "$RUNS/$dead_id.json")" "the dead run's record after a second recover"
assert_eq 2 "$(ls "$RUNS" | grep -c '\.json$')" "record files"
