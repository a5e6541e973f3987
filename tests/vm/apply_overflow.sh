#!/bin/sh
# Apply, a snapshot that overflows mid-copy: alpha's snapshot is one extent
# (4 MiB), its copy is throttled to 2 MiB/s (8 s for 16 MiB), and the resume
# hook starts a writer that puts 12 MiB into vg0/alpha (in its own session,
# and the hook waits until it is: snapplan kills a hook's process group when
# the hook ends). The kernel invalidates the snapshot; alpha's backup is
# tagged incomplete, bravo and charlie are backed up and complete, the run
# exits 4 (partial) and leaves no snapshot, the overflowed one included.
# vm: ramdisk_mb=64 share timeout=120

PLAN=/etc/snapplan/overflow.yaml
SUMS=$PWD/sums-at-snapshot

invalidations() {
    dmesg | grep -c 'Invalidating snapshot' || true
}

step "alpha: 4 MiB snapshot, 2 MiB/s; bravo and charlie: roomy, unthrottled"
apply_system
write_apply_plan overflow 30s <<YAML
  - lv: vg0/alpha
    snapshot_size: 4MiB
    bandwidth: 2MiB/s
  - lv: vg0/bravo
    snapshot_size: 50%
  - lv: vg0/charlie
    snapshot_size: 50%
YAML
make_hook "$HOOKS" a \
    "$(record_sums_sh "$SUMS" vg0 alpha bravo charlie)" \
    "setsid sh -c 'echo \$\$ >$PWD/writer.pid; sleep 0.5; dd if=/dev/urandom of=/dev/vg0/alpha bs=1M count=12 conv=fsync 2>/dev/null' </dev/null >/dev/null 2>&1 &
while [ ! -s $PWD/writer.pid ]; do sleep 0.05; done"
before=$(invalidations)

step "apply: exit 4, alpha failed"
expect_exit 4 snapplan apply "$PLAN"
wait_for 30 test -s "$PWD/writer.pid"
wait_for 60 gone "$(cat "$PWD/writer.pid")"
assert_eq $((before + 1)) "$(invalidations)" "kernel 'Invalidating snapshot' messages (alpha's overflow)"

step "alpha's backup is tagged incomplete, the others complete and correct"
assert_backup backup/alpha overflow incomplete
assert_backups_match "$SUMS" overflow bravo charlie
assert_hook_calls "suspend a, resume a"
assert_no_snapshot
assert_eq 3 "$(lv_count vg0)" "LVs in vg0"
