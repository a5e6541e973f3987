#!/bin/sh
# Apply, a snapshot that grows instead of overflowing (snapshot_size_max).
# bravo (8 MiB) gets a 4 MiB snapshot and the resume hook starts a writer
# that rewrites all of it while the run goes on. bravo is copied first at
# 1 MiB/s with snapshot_size_max 16MiB: the snapshot is extended (seen in lvs
# during the run, never past 16 MiB), the run exits 0, the backup is bravo
# as it was at snapshot time (sha256), no snapshot is left, and the report
# shows the final size, the extensions and the fill rate. Without
# snapshot_size_max the same run fails bravo (exit 4) and `check` then
# suggests a snapshot_size that would have held it. Then alpha's snapshot
# grows to its max while a steady writer would overflow it before the
# throttled copy ends: the throttle is lifted (report: throttle_lifted), the
# copy ends well before the throttled time, and the backup is alpha as it
# was at snapshot time.
# vm: ramdisk_mb=64 share timeout=500

SUMS=$PWD/sums-at-snapshot
WATCH=$PWD/lvm-watch
export SNAPPLAN_WATCHDOG_INTERVAL_MS=200

# writer_hook [DEADLINE]: the hook `a` records the checksums at snapshot time and, on
# resume, starts the writer into vg0/bravo in its own session: 3 MiB at
# once (75% of the 4 MiB snapshot), then 1 MiB at a time whenever lvs shows
# the snapshot with room for it, or without waiting once DEADLINE seconds
# (default 120; 0: at once) have passed: this VM's lvm
# commands take seconds, too slow to race a free-running writer.
writer_hook() {
    rm -f "$PWD/writer.pid" "$HOOK_LOG"
    cat >"$PWD/writer.sh" <<'WRITER'
dd if=/dev/urandom of=/dev/vg0/bravo bs=1M count=3 conv=fsync,notrunc 2>/dev/null
written=3
deadline=$(($(date +%s) + $(cat DEADLINE_FILE)))
while [ $written -lt 8 ]; do
    size=
    [ "$(date +%s)" -ge $deadline ] ||
        size=$(lvs --noheadings --units b --nosuffix -o lv_size vg0/bravo-snapplan 2>/dev/null | tr -d ' ')
    # Time is up, or room for one more MiB and the exception table's share.
    if [ -z "$size" ] || [ $(((written + 2) * 1048576)) -le "$size" ]; then
        dd if=/dev/urandom of=/dev/vg0/bravo bs=1M count=1 seek=$written conv=fsync,notrunc 2>/dev/null
        written=$((written + 1))
    else
        sleep 0.2
    fi
done
WRITER
    sed -i "s|DEADLINE_FILE|$PWD/deadline|" "$PWD/writer.sh"
    echo "${1:-120}" >"$PWD/deadline"
    make_hook "$HOOKS" a \
        "$(record_sums_sh "$SUMS" vg0 alpha bravo charlie)" \
        "setsid sh -c 'echo \$\$ >$PWD/writer.pid; exec sh $PWD/writer.sh' </dev/null >/dev/null 2>&1 &
while [ ! -s $PWD/writer.pid ]; do sleep 0.05; done"
}

# watch_lvm: in the background, every 0.1 s, the size of bravo's snapshot
# (when there is one) and vg0's free bytes, one "SIZE FREE" line each.
watch_lvm() {
    rm -f "$WATCH"
    (
        while :; do
            size=$(lvs_json -o lv_name,lv_size,origin vg0 | jq -r '.report[].lv[] | select(.origin == "bravo") | .lv_size')
            echo "${size:-0} $(vg_field vg0 vg_free)" >>"$WATCH"
            sleep 0.1
        done
    ) &
    WATCH_PID=$!
}

stop_watch() {
    kill "$WATCH_PID"
    wait "$WATCH_PID" 2>/dev/null || true
}

# report_json PLAN JQ: a value from the newest run's JSON report.
report_json() {
    snapplan report "$1" --format json >"$PWD/report.json" || fail "report failed"
    jq -er "$2" "$PWD/report.json"
}

wait_writer() {
    wait_for 30 test -s "$PWD/writer.pid"
    wait_for 60 gone "$(cat "$PWD/writer.pid")"
}

max_snapshot_size() { awk '$1 > m { m = $1 } END { print m + 0 }' "$WATCH"; }
min_vg_free() { awk 'NR == 1 || $2 < m { m = $2 } END { print m + 0 }' "$WATCH"; }

MIB=1048576
apply_system

step "1. bravo first at 1 MiB/s, 4 MiB snapshot, snapshot_size_max 16MiB"
write_apply_plan grow 30s <<YAML
  - lv: vg0/bravo
    snapshot_size: 4MiB
    snapshot_size_max: 16MiB
    bandwidth: 1MiB/s
  - lv: vg0/charlie
    snapshot_size: 100%
YAML
writer_hook
watch_lvm
run_ok snapplan apply /etc/snapplan/grow.yaml
stop_watch
wait_writer
grown=$(max_snapshot_size)
[ "$grown" -gt $((4 * MIB)) ] || fail "bravo's snapshot never grew in lvs (largest seen: $grown bytes)"
[ "$grown" -le $((16 * MIB)) ] || fail "bravo's snapshot grew past its max: $grown bytes"
assert_backups_match "$SUMS" grow bravo charlie
assert_no_snapshot
assert_eq "$grown" "$(report_json /etc/snapplan/grow.yaml '.plans[0].runs[0].volumes[0].snapshot_final_bytes')" \
    "bravo's final snapshot size in the report vs the largest lvs saw"
ext=$(report_json /etc/snapplan/grow.yaml '.plans[0].runs[0].volumes[0].snapshot_extensions')
[ "$ext" -ge 1 ] || fail "report shows $ext extensions"
rate=$(report_json /etc/snapplan/grow.yaml '.plans[0].runs[0].volumes[0].snapshot_fill_rate | floor')
[ "$rate" -gt 0 ] || fail "report shows no fill rate"


step "without snapshot_size_max the same run fails bravo, and check suggests a size"
fill /dev/vg0/bravo
write_apply_plan grow 30s <<YAML
  - lv: vg0/bravo
    snapshot_size: 4MiB
    bandwidth: 1MiB/s
  - lv: vg0/charlie
    snapshot_size: 100%
YAML
writer_hook 0
expect_exit 4 snapplan apply /etc/snapplan/grow.yaml
wait_writer
assert_eq failed "$(report_json /etc/snapplan/grow.yaml '.plans[0].runs[0].volumes[0].status')" "bravo's status"
assert_eq 0 "$(report_json /etc/snapplan/grow.yaml '.plans[0].runs[0].volumes[0].snapshot_extensions')" "extensions without a max"
assert_no_snapshot
# check judges the last runs: the overflow and the growth before it.
snapplan check /etc/snapplan/grow.yaml --format json >"$PWD/check.json" || true
suggested=$(report_json /etc/snapplan/grow.yaml '.plans[0].sizes[] | select(.volume == "bravo") | .suggested_bytes')
[ "$suggested" -ge $((12 * MIB)) ] || fail "suggested snapshot_size $suggested cannot hold the 8 MiB written"
assert_eq warn "$(jq -r '.checks[] | select(.check == "snapshot_size" and .subject == "bravo") | .status' "$PWD/check.json")" "check's snapshot size row for bravo"
echo "check's advice: $(jq -r '.checks[] | select(.check == "snapshot_size") | .advice' "$PWD/check.json")"

step "3. alpha's snapshot grows to its max and can grow no more: the throttle is lifted and the copy beats the overflow"
# A steady writer: 1 MiB of alpha every 2.5 s, 9 MiB in all, more than the
# 8 MiB snapshot holds (it would overflow after about 20 s), while the copy
# of alpha's 16 MiB at 512 KiB/s would take 32 s.
fill /dev/vg0/alpha
write_apply_plan grow 30s <<YAML
  - lv: vg0/alpha
    snapshot_size: 4MiB
    snapshot_size_max: 8MiB
    bandwidth: 512KiB/s
YAML
rm -f "$PWD/writer.pid"
cat >"$PWD/steady.sh" <<'WRITER'
i=0
while [ $i -lt 9 ]; do
    dd if=/dev/urandom of=/dev/vg0/alpha bs=1M count=1 seek=$i conv=fsync,notrunc 2>/dev/null
    i=$((i + 1))
    sleep 2.5
done
WRITER
make_hook "$HOOKS" a \
    "$(record_sums_sh "$SUMS" vg0 alpha bravo charlie)" \
    "setsid sh -c 'echo \$\$ >$PWD/writer.pid; exec sh $PWD/steady.sh' </dev/null >/dev/null 2>&1 &
while [ ! -s $PWD/writer.pid ]; do sleep 0.05; done"
run_ok snapplan apply /etc/snapplan/grow.yaml
grep "lifting the copy's throttle" "$VM_ERR" || true
wait_writer
assert_backups_match "$SUMS" grow alpha
assert_no_snapshot
assert_eq true "$(report_json /etc/snapplan/grow.yaml '.plans[0].runs[0].volumes[0].throttle_lifted')" "alpha's throttle lifted"
assert_eq $((8 * MIB)) "$(report_json /etc/snapplan/grow.yaml '.plans[0].runs[0].volumes[0].snapshot_final_bytes')" \
    "alpha's snapshot at its max"
took=$(report_json /etc/snapplan/grow.yaml '.plans[0].runs[0].volumes[0].duration_seconds | floor')
[ "$took" -lt 28 ] || fail "alpha's copy took $took s: the throttle (32 s for 16 MiB) was not lifted in time"
