#!/bin/sh
# Check refuses what would break a run, with exit 1 and the system left as it
# was: snapshots that fit one by one but not together, a backup VG too small,
# an open backup LV, a missing source LV, a snapshot as source, a hook that is
# not executable, an LV holding the snapshot's name, a snapplan-tagged
# leftover snapshot (valid or overflowed), a held lock. Each failure is undone and check passes again, so each case
# proves its own cause.
# vm: ramdisk_mb=64 share

write_plan() { # SNAPSHOT_SIZE [SOURCE_B]
    mkdir -p /etc/snapplan/hooks.d
    cat >/etc/snapplan/nightly.yaml <<PLAN
version: 1
name: nightly
state_dir: /var/lib/snapplan
hooks:
  dir: /etc/snapplan/hooks.d
target:
  vg: backup
volumes:
  - lv: vg0/a
    snapshot_size: $1
  - lv: ${2:-vg0/b}
    snapshot_size: $1
PLAN
}

# check_case EXIT [text]: runs check (the table too with `text`, then json),
# asserts the exit status and that nothing
# changed; the JSON report is kept in /tmp/check.json.
check_case() {
    before=$(lvm_state)
    if [ "${2:-}" = text ]; then
        expect_exit "$1" snapplan check /etc/snapplan/nightly.yaml
    fi
    expect_exit "$1" snapplan check /etc/snapplan/nightly.yaml --format json
    cp "$VM_OUT" /tmp/check.json
    assert_eq "$before" "$(lvm_state)" "LVM state after check"
}

# failed_subjects: "check:subject" of every failed row, one per line.
failed_subjects() {
    jq -r '.checks[] | select(.status == "fail") | "\(.check):\(.subject)"' /tmp/check.json
}

# assert_only_failure CHECK:SUBJECT: that is the one failed row.
assert_only_failure() {
    assert_eq "$1" "$(failed_subjects)" "failed checks"
}

step "a source VG with two 16 MiB LVs (7 of 15 extents free), a backup VG, a hook"
make_vg vg0 "$(ram_disk 0)"
make_vg backup "$(ram_disk 1)"
make_lv vg0 a 16m
make_lv vg0 b 16m
mkdir -p /etc/snapplan/hooks.d
printf '#!/bin/sh\n' >/etc/snapplan/hooks.d/10-db
chmod +x /etc/snapplan/hooks.d/10-db
write_plan 25%
check_case 0

step "snapshots that fit one by one (4 of 7 extents) but not together (8): exit 1, naming vg0"
write_plan 16m
check_case 1 text
assert_only_failure "snapshot_space:VG vg0"
assert_eq 8 "$(jq -r '.checks[] | select(.check == "snapshot_space") | .space.needed_extents' /tmp/check.json)" "needed"
assert_eq 7 "$(jq -r '.checks[] | select(.check == "snapshot_space") | .space.free_extents' /tmp/check.json)" "free"
jq -e '.checks[] | select(.check == "snapshot_space") | .detail | test("short by")' /tmp/check.json >/dev/null ||
    fail "the shortfall is not named"
write_plan 25%
check_case 0

step "backup VG too small: 8 extents needed, 7 free"
make_lv backup filler 32m
check_case 1 text
assert_only_failure "backup_space:VG backup"
lvremove -q -y backup/filler >/dev/null
check_case 0

step "an open backup LV (mounted, or read by someone) would be overwritten under its user"
make_lv backup a 16m
exec 8</dev/backup/a
check_case 1
assert_only_failure "backup_lv:backup/a"
exec 8<&-
check_case 0
lvremove -q -y backup/a >/dev/null

step "a missing source LV is named"
write_plan 25% vg0/nope
check_case 1 text
assert_only_failure "source_lv:vg0/nope"
write_plan 25%

step "a snapshot as source"
make_snapshot vg0/a asnap 4m
write_plan 4m vg0/asnap
check_case 1
assert_only_failure "source_lv:vg0/asnap"
lvremove -q -y vg0/asnap >/dev/null
write_plan 25%
check_case 0

step "a hook that is not executable"
printf '#!/bin/sh\n' >/etc/snapplan/hooks.d/20-web
check_case 1 text
assert_only_failure "hooks:/etc/snapplan/hooks.d/20-web"
chmod +x /etc/snapplan/hooks.d/20-web
check_case 0

step "an admin's own snapshot is not a leftover: leftovers are found by tag"
make_snapshot vg0/a a-mine 4m
check_case 0
lvremove -q -y vg0/a-mine >/dev/null

step "an untagged LV with the name apply gives a's snapshot: a failure, not a leftover"
make_snapshot vg0/a a-snapplan 4m
check_case 1 text
assert_only_failure "snapshot_name:vg0/a-snapplan"
lvremove -q -y vg0/a-snapplan >/dev/null
check_case 0

step "a snapplan-tagged leftover snapshot of this plan"
lvcreate -q -y -s -L 4m -n a-snap-r1 --addtag snapplan --addtag snapplan-plan:nightly \
    --addtag snapplan-run:r1 --addtag snapplan-role:snapshot vg0/a >/dev/null
check_case 1 text
assert_only_failure "leftover:vg0/a-snap-r1"
jq -e '.checks[] | select(.check == "leftover") | .advice | test("lvremove vg0/a-snap-r1")' /tmp/check.json >/dev/null ||
    fail "no recovery advice"
assert_lv_exists vg0/a-snap-r1

step "the leftover overflows: still named, now as INVALID"
write_random /dev/vg0/a 8
assert_snapshot_invalid vg0/a-snap-r1
check_case 1
assert_only_failure "leftover:vg0/a-snap-r1"
jq -e '.checks[] | select(.check == "leftover") | .detail | test("INVALID")' /tmp/check.json >/dev/null ||
    fail "the overflowed leftover is not shown as invalid"
lvremove -q -y vg0/a-snap-r1 >/dev/null
check_case 0

step "a held lock (a run in progress): a failed check naming the holder"
# This shell takes the lock on fd 9, as apply would hold it.
mkdir -p /var/lib/snapplan
exec 9>/var/lib/snapplan/nightly.lock
flock -x 9
check_case 1 text
assert_only_failure "lock:/var/lib/snapplan/nightly.lock"
jq -e --arg pid "pid $$" '.checks[] | select(.check == "lock") | .detail | contains($pid)' /tmp/check.json >/dev/null ||
    fail "the lock holder (pid $$) is not named"
exec 9>&-
check_case 0
