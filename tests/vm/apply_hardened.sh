#!/bin/sh
# Apply inside the sandbox of the packaged snapplan@.service, as far as it
# can be rebuilt without systemd (the VM's init is busybox): a private
# mount namespace with /usr read-only (ProtectSystem=true), /root and /home
# read-only (ProtectHome=read-only), fresh /tmp and /var/tmp
# (PrivateTmp), /dev/kmsg hidden (the file half of ProtectKernelLogs),
# /sys/fs/cgroup read-only (ProtectControlGroups), umask 0077 (UMask=) and
# no_new_privs (NoNewPrivileges, via setpriv). The seccomp-based settings
# (SystemCallArchitectures, LockPersonality, RestrictSUIDSGID,
# RestrictRealtime, ProtectClock, ProtectHostname) are not rebuilt here;
# docs/systemd.md says so. The run backs up both volumes, leaves no
# snapshot, and its state files are root's alone.
# vm: ramdisk_mb=64 share timeout=120

PLAN=/etc/snapplan/hardened.yaml

step "two origins in vg0, an empty backup VG, no hooks"
apply_system
write_apply_plan hardened 30s <<YAML
  - lv: vg0/alpha
    snapshot_size: 50%
  - lv: vg0/bravo
    snapshot_size: 50%
YAML
mkdir -p /home /var/tmp /sys/fs/cgroup

# sandboxed CMD...: CMD in the unit's sandbox (see the header).
sandboxed() {
    unshare -m sh -c '
        set -e
        mount --make-rprivate / 2>/dev/null || true
        for d in /usr /root /home /sys/fs/cgroup; do
            mount -o bind "$d" "$d"
            mount -o remount,bind,ro "$d"
        done
        mount -t tmpfs -o mode=1777 tmpfs /tmp
        mount -t tmpfs -o mode=1777 tmpfs /var/tmp
        [ ! -e /dev/kmsg ] || mount -o bind /dev/null /dev/kmsg
        umask 0077
        exec setpriv --no-new-privs "$@"' sandboxed "$@"
}

step "the sandbox is in force: /usr and /root refuse writes, no_new_privs is set"
expect_exit 1 sandboxed sh -c 'touch /usr/sbin/.probe'
expect_exit 1 sandboxed sh -c 'touch /root/.probe'
assert_eq 1 "$(sandboxed sh -c "awk '/^NoNewPrivs:/ { print \$2 }' /proc/self/status")" "NoNewPrivs inside"
assert_eq 077 "$(sandboxed sh -c umask | sed 's/^0*\(...\)$/\1/')" "umask inside"

step "apply in the sandbox succeeds"
run_ok sandboxed snapplan apply "$PLAN"
assert_backed_up hardened alpha bravo
assert_no_snapshot

step "state written with the unit's umask: run records are root's alone"
record=$(ls /var/lib/snapplan/hardened/runs/*.json | head -n 1)
[ -s "$record" ] || fail "no run record"
assert_eq 0 "$(jq -r .exit_code "$record")" "exit_code in the run record"
case $(stat -c %a "$record") in
    600 | 400) ;;
    *) fail "run record mode $(stat -c %a "$record")" ;;
esac
