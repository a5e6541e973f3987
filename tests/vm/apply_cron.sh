#!/bin/sh
# Apply as cron runs it: empty environment but PATH=/usr/bin:/bin (lvm and
# dmsetup live in /usr/sbin here, so snapplan must find them itself), no
# controlling terminal, stdin closed, output to files. It exits 0 without
# terminal escapes in its output, the hooks get the plan's name in their
# environment, and the backups are right.
# vm: ramdisk_mb=64 share timeout=120

PLAN=/etc/snapplan/cron.yaml
SUMS=$PWD/sums-at-snapshot

step "lvm is not on cron's PATH"
for tool in lvm lvs lvcreate dmsetup; do
    for dir in /usr/bin /bin; do
        [ ! -e "$dir/$tool" ] || fail "$dir/$tool exists: the PATH-less lookup would not be tested"
    done
done
! env -i PATH=/usr/bin:/bin sh -c 'command -v lvm' >/dev/null || fail "lvm found on PATH=/usr/bin:/bin"
command -v lvm

step "three origins, a hook recording checksums at snapshot time"
apply_system
write_apply_plan cron 30s <<YAML
  - lv: vg0/alpha
  - lv: vg0/bravo
  - lv: vg0/charlie
YAML
make_hook "$HOOKS" a "$(record_sums_sh "$SUMS" vg0 alpha bravo charlie)" \
    "dd if=/dev/urandom of=/dev/vg0/bravo bs=1M count=1 conv=fsync 2>/dev/null"

step "env -i PATH=/usr/bin:/bin setsid snapplan apply PLAN </dev/null"
status=0
env -i PATH=/usr/bin:/bin setsid snapplan apply "$PLAN" </dev/null >"$PWD/cron.out" 2>"$PWD/cron.err" || status=$?
cat "$PWD/cron.out"
cat "$PWD/cron.err" >&2
assert_eq 0 "$status" "exit status"
esc=$(printf '\033')
! grep -q "$esc" "$PWD/cron.out" "$PWD/cron.err" || fail "terminal escape sequences in output without a terminal (cron mails them)"

step "hooks called with the plan's name; backups hold the content at snapshot time"
assert_hook_calls "suspend a, resume a"
assert_eq "plan=cron" "$(awk 'NR == 1 { print $3 }' "$HOOK_LOG.env")" "SNAPPLAN_PLAN in the hook"
assert_backups_match "$SUMS" cron alpha bravo charlie
assert_ne "$(recorded_sum "$SUMS" bravo)" "$(sha256 /dev/vg0/bravo)" "vg0/bravo changed after the snapshot"
assert_no_snapshot
