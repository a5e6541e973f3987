#!/bin/sh
# Apply, snapshots that grow while they wait, and growth that stops at the
# VG's reserve. bravo (8 MiB) gets a 4 MiB snapshot and the resume hook
# starts a writer that rewrites all of it while the run goes on.
#  1. bravo waits while charlie is copied at 256 KiB/s: its snapshot grows
#     while it waits (lvs), and bravo's backup is right (sha256);
#  2. vg0 is filled so that bravo's snapshot may take one extent before the
#     5% reserve: it grows once, stops at the reserve (vgs during the run
#     never shows less free space than the reserve), overflows while it
#     waits and bravo fails cleanly (exit 4), its previous backup kept;
#     charlie succeeds; no snapshot left.
# One plan name for both runs: they share the backup LVs.
# vm: ramdisk_mb=64 share timeout=500

SUMS=$PWD/sums-at-snapshot
WATCH=$PWD/lvm-watch
export SNAPPLAN_WATCHDOG_INTERVAL_MS=200

# writer_hook [DEADLINE [FULL]]: the hook `a` records the checksums at snapshot
# time and, on resume, starts the writer into vg0/bravo in its own session:
# 3 MiB at once (75% of the 4 MiB snapshot), then 1 MiB at a time whenever
# lvs shows the snapshot with room for it; all the rest without waiting
# once the snapshot is FULL bytes big (as far as it can grow) or DEADLINE
# seconds (default 120; 0: at once) have passed: this VM's lvm commands
# take seconds, too slow to race a free-running writer, and a fixed
# deadline races the run on a fast machine.
writer_hook() {
    rm -f "$PWD/writer.pid" "$HOOK_LOG"
    cat >"$PWD/writer.sh" <<'WRITER'
dd if=/dev/urandom of=/dev/vg0/bravo bs=1M count=3 conv=fsync,notrunc 2>/dev/null
written=3
deadline=$(($(date +%s) + $(cat DEADLINE_FILE)))
full=$(cat FULL_FILE)
while [ $written -lt 8 ]; do
    size=
    [ "$(date +%s)" -ge $deadline ] ||
        size=$(lvs --noheadings --units b --nosuffix -o lv_size vg0/bravo-snapplan 2>/dev/null | tr -d ' ')
    # Time is up, or room for one more MiB and the exception table's share.
    if [ -z "$size" ] || [ "$size" -ge "$full" ] || [ $(((written + 2) * 1048576)) -le "$size" ]; then
        dd if=/dev/urandom of=/dev/vg0/bravo bs=1M count=1 seek=$written conv=fsync,notrunc 2>/dev/null
        written=$((written + 1))
    else
        sleep 0.2
    fi
done
WRITER
    sed -i "s|DEADLINE_FILE|$PWD/deadline|" "$PWD/writer.sh"
    echo "${1:-120}" >"$PWD/deadline"
    sed -i "s|FULL_FILE|$PWD/full|" "$PWD/writer.sh"
    echo "${2:-999999999999}" >"$PWD/full"
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

step "1. bravo waits while charlie is copied at 256 KiB/s; its snapshot grows meanwhile"
fill /dev/vg0/bravo
write_apply_plan grow 30s <<YAML
  - lv: vg0/charlie
    snapshot_size: 100%
    bandwidth: 256KiB/s
  - lv: vg0/bravo
    snapshot_size: 4MiB
    snapshot_size_max: 16MiB
    after: [charlie]
YAML
writer_hook
watch_lvm
run_ok snapplan apply /etc/snapplan/grow.yaml
stop_watch
wait_writer
grown=$(max_snapshot_size)
[ "$grown" -gt $((4 * MIB)) ] || fail "bravo's waiting snapshot never grew (largest seen: $grown bytes)"
assert_backups_match "$SUMS" grow charlie bravo
previous=$(recorded_sum "$SUMS" bravo)
assert_no_snapshot

step "2. vg0 filled up to one extent above the 5% reserve: growth stops there"
fill /dev/vg0/bravo
extent=$(vg_field vg0 vg_extent_size)
vg_size=$(vg_field vg0 vg_size)
reserve=$(( (vg_size * 5 / 100 + extent - 1) / extent * extent ))
free=$(vg_field vg0 vg_free)
# Snapshots: bravo 4 MiB, charlie 4 MiB; then reserve + one extent free.
filler=$((free - 8 * MIB - reserve - extent))
make_lv vg0 filler "${filler}b"
write_apply_plan grow 30s <<YAML
  - lv: vg0/charlie
    snapshot_size: 4MiB
    bandwidth: 256KiB/s
  - lv: vg0/bravo
    snapshot_size: 4MiB
    snapshot_size_max: 16MiB
    after: [charlie]
YAML
# The reserve, not the max, stops the growth at one extent more: then the
# writer overruns the snapshot while bravo waits.
writer_hook 120 $((4 * MIB + extent))
watch_lvm
expect_exit 4 snapplan apply /etc/snapplan/grow.yaml
stop_watch
wait_writer
assert_eq $((4 * MIB + extent)) "$(max_snapshot_size)" "bravo's largest snapshot: one extent more"
least=$(min_vg_free)
[ "$least" -ge "$reserve" ] || fail "vg0's free space went down to $least, below the reserve $reserve"
assert_eq "$reserve" "$least" "vg0's least free space during the run: the reserve"
assert_eq failed "$(report_json /etc/snapplan/grow.yaml '.plans[0].runs[0].volumes[] | select(.volume == "bravo") | .status')" "bravo's status"
assert_backups_match "$SUMS" grow charlie
# keep_previous: bravo's backup is still the one of run 2.
assert_eq "$previous" "$(sha256 /dev/backup/bravo)" "sha256 of backup/bravo vs the previous good backup"
assert_no_snapshot
lvremove -y vg0/filler >/dev/null
