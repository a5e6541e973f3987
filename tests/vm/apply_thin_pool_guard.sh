#!/bin/sh
# Apply, a thin pool near the guard's threshold (lowered to 45% for the
# test): vm1 (16 MiB, full) fills a third of a 48 MiB pool; its copy is
# throttled to 2 MiB/s, and the resume hook starts a writer that rewrites
# 12 MiB of vm1, which the thin snapshot makes take new pool blocks (past
# 45%). The guard abandons vm1's copy and removes its snapshot: vm1's backup
# is incomplete, alpha (classic) is backed up, the run exits 4, no snapshot
# is left, the pool is back under the threshold, and vm1 takes writes.
# vm: ramdisk_mb=64 share timeout=120

PLAN=/etc/snapplan/guard.yaml
SUMS=$PWD/sums-at-snapshot

step "vg0: 48 MiB pool, vm1 16 MiB full (33%), classic alpha"
make_vg vg0 "$(ram_disk 0)" "$(ram_disk 1)"
lvcreate -q -y --type thin-pool -L 48m -n pool vg0 >/dev/null
lvcreate -q -y -V 16m -T vg0/pool -n vm1 >/dev/null
make_lv vg0 alpha 8m
fill /dev/vg0/vm1
fill /dev/vg0/alpha
make_vg backup "$(ram_disk 2)"
write_apply_plan guard 30s <<YAML
  - lv: vg0/vm1
    bandwidth: 2MiB/s
  - lv: vg0/alpha
    snapshot_size: 50%
YAML
make_hook "$HOOKS" a \
    "$(record_sums_sh "$SUMS" vg0 vm1 alpha)" \
    "setsid sh -c 'echo \$\$ >$PWD/writer.pid; sleep 0.5; dd if=/dev/urandom of=/dev/vg0/vm1 bs=1M count=12 conv=fsync 2>/dev/null' </dev/null >/dev/null 2>&1 &
while [ ! -s $PWD/writer.pid ]; do sleep 0.05; done"
export SNAPPLAN_THIN_POOL_THRESHOLD=45 SNAPPLAN_WATCHDOG_INTERVAL_MS=200

step "check: below the guard, but too little headroom for a full rewrite: a warning"
run_ok snapplan check --format json "$PLAN"
assert_eq warn "$(jq -r '.checks[] | select(.check == "thin_pool") | .status' "$VM_OUT")" "thin pool row"

step "apply: exit 4, vm1 abandoned by the guard"
expect_exit 4 snapplan apply "$PLAN"
wait_for 30 test -s "$PWD/writer.pid"
wait_for 60 gone "$(cat "$PWD/writer.pid")"

step "vm1's backup is incomplete, alpha's complete and correct, no snapshot left"
assert_backup backup/vm1 guard incomplete
assert_backups_match "$SUMS" guard alpha
assert_no_snapshot
data=$(lv_field vg0/pool data_percent)
echo "pool data after the run: $data%"
[ "$(echo "$data" | cut -d. -f1)" -lt 45 ] || fail "pool still at $data% after the run"

step "the live thin volume takes writes"
dd if=/dev/urandom of="$PWD/four" bs=1M count=4 2>/dev/null
dd if="$PWD/four" of=/dev/vg0/vm1 bs=1M seek=8 conv=fsync 2>/dev/null || fail "cannot write to vm1"
assert_eq "$(sha256 "$PWD/four")" \
    "$(dd if=/dev/vg0/vm1 bs=1M count=4 skip=8 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)" \
    "vm1 reads back what was written"
