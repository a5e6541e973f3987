# Helpers for VM scenarios (busybox sh). /init sources this file, with
# `set -eu` in force, before each scenario: any failing command ends the
# scenario as failed. Assert on the real system (lvs JSON, device checksums),
# never on snapplan's messages.

set -o pipefail 2>/dev/null || true

# stdout and stderr of the last `expect_exit`/`run_ok` command.
VM_OUT=/tmp/vm-last-stdout
VM_ERR=/tmp/vm-last-stderr

VM_START=${VM_START:-$(date +%s)}

# step TEXT...: a heading in the console log, with seconds since the start.
step() {
    echo "== [$(($(date +%s) - VM_START))s] $*"
}

# fail MESSAGE...: ends the scenario as failed (/init then shows vm_context).
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# vm_context: LVs, VGs, device-mapper tables and the kernel's storage
# messages (device-mapper, I/O errors) since boot.
vm_context() {
    echo "--- lvs -a"
    lvs -a -o vg_name,lv_name,lv_attr,lv_size,origin,data_percent,lv_tags 2>&1 || true
    echo "--- vgs"
    vgs -o vg_name,vg_size,vg_free,vg_extent_count,vg_free_count,vg_tags 2>&1 || true
    echo "--- dmsetup table"
    dmsetup table 2>&1 || true
    echo "--- kernel storage messages"
    dmesg 2>/dev/null | grep -E 'device-mapper|I/O error|snapshot|EXT4|blk_update' |
        grep -vE 'uevent: version|ioctl: [0-9]|IMA' | tail -n 15 || true
}

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
    [ "$1" = "$2" ] || fail "${3:-value}: expected '$1', got '$2'"
}

# assert_ne UNEXPECTED ACTUAL [WHAT]
assert_ne() {
    [ "$1" != "$2" ] || fail "${3:-value}: expected anything but '$1'"
}

# expect_exit CODE COMMAND [ARG...]: runs COMMAND, shows its output, and
# fails unless it exits with CODE. Output is kept in $VM_OUT and $VM_ERR.
expect_exit() {
    _want=$1
    shift
    echo "\$ $*"
    "$@" >"$VM_OUT" 2>"$VM_ERR" && _got=0 || _got=$?
    cat "$VM_OUT"
    cat "$VM_ERR" >&2
    [ "$_got" = "$_want" ] || fail "expected exit status $_want from '$*', got $_got"
}

# run_ok COMMAND [ARG...]: expect_exit 0.
run_ok() {
    expect_exit 0 "$@"
}

# ram_disk N: the path of RAM disk N (size set by `# vm: ramdisk_mb=`).
ram_disk() {
    echo "/dev/ram$1"
}

# make_vg VG DEVICE...: a volume group on fresh PVs.
make_vg() {
    _vg=$1
    shift
    pvcreate -q -y "$@" >/dev/null || fail "pvcreate $* failed"
    vgcreate -q "$_vg" "$@" >/dev/null || fail "vgcreate $_vg failed"
}

# make_lv VG LV SIZE [lvcreate options...]: a linear LV, e.g. make_lv vg0 data 32m.
make_lv() {
    _vg=$1 _lv=$2 _size=$3
    shift 3
    lvcreate -q -y -L "$_size" -n "$_lv" "$@" "$_vg" >/dev/null || fail "lvcreate $_vg/$_lv $_size failed"
}

# make_snapshot VG/ORIGIN NAME SIZE: a classic (COW) snapshot.
make_snapshot() {
    lvcreate -q -y -s -L "$3" -n "$2" "$1" >/dev/null || fail "snapshot $2 of $1 failed"
}

# size_bytes DEVICE
size_bytes() {
    blockdev --getsize64 "$1"
}

# fill DEVICE: fills the whole device with random data (flushed to it).
fill() {
    _mib=$(($(size_bytes "$1") / 1048576))
    write_random "$1" "$_mib" 0
}

# write_random DEVICE MIB [OFFSET_MIB]: writes MIB MiB of random data.
write_random() {
    dd if=/dev/urandom of="$1" bs=1M count="$2" seek="${3:-0}" conv=fsync 2>/dev/null ||
        fail "writing $2 MiB to $1 failed"
}

# sha256 DEVICE_OR_FILE: its SHA-256, hex.
sha256() {
    sha256sum <"$1" | cut -d' ' -f1
}

# assert_same_content A B: two devices or files hold the same bytes.
assert_same_content() {
    [ "$(size_bytes "$1" 2>/dev/null || wc -c <"$1")" = "$(size_bytes "$2" 2>/dev/null || wc -c <"$2")" ] ||
        fail "$1 and $2 differ in size"
    assert_eq "$(sha256 "$1")" "$(sha256 "$2")" "sha256 of $2 (vs $1)"
}

# lvs_json [lvs args...]: `lvs -a` as JSON, sizes in bytes without suffix.
lvs_json() {
    lvs -a --reportformat json --units b --nosuffix "$@"
}

# lv_field VG/LV FIELD: one lvs field (e.g. lv_attr, lv_size, lv_tags,
# data_percent, lv_snapshot_invalid, origin) as lvs reports it in JSON.
lv_field() {
    _json=$(lvs --reportformat json --units b --nosuffix -o "$2" "$1" 2>/dev/null) ||
        fail "lvs cannot report $1"
    echo "$_json" | jq -er --arg f "$2" '.report[0].lv[0][$f]'
}

# vg_field VG FIELD: one vgs field (vg_free, vg_free_count, vg_extent_size, ...).
vg_field() {
    _json=$(vgs --reportformat json --units b --nosuffix -o "$2" "$1" 2>/dev/null) ||
        fail "vgs cannot report $1"
    echo "$_json" | jq -er --arg f "$2" '.report[0].vg[0][$f]'
}

# lv_exists VG/LV: true if the LV exists.
lv_exists() {
    lvs "$1" >/dev/null 2>&1
}

assert_lv_exists() {
    lv_exists "$1" || fail "expected LV $1 to exist"
}

assert_no_lv() {
    ! lv_exists "$1" || fail "expected no LV $1"
}

# lv_count [VG]: how many LVs (snapshots included) exist.
lv_count() {
    lvs_json -o lv_name ${1:+"$1"} | jq '[.report[].lv[]] | length'
}

# assert_snapshot_valid VG/LV and assert_snapshot_invalid VG/LV: the 5th
# lv_attr character is `I` and lv_snapshot_invalid is set once a classic
# snapshot overflowed.
assert_snapshot_valid() {
    _attr=$(lv_field "$1" lv_attr)
    case $_attr in s*) ;; *) fail "$1 is not a snapshot (lv_attr $_attr)" ;; esac
    assert_ne I "$(echo "$_attr" | cut -c5)" "5th lv_attr character of $1 ($_attr)"
    assert_eq "" "$(lv_field "$1" lv_snapshot_invalid)" "lv_snapshot_invalid of $1"
}

assert_snapshot_invalid() {
    _attr=$(lv_field "$1" lv_attr)
    assert_eq I "$(echo "$_attr" | cut -c5)" "5th lv_attr character of $1 ($_attr)"
    assert_ne "" "$(lv_field "$1" lv_snapshot_invalid)" "lv_snapshot_invalid of $1"
}

# lvm_state: everything LVM and device-mapper show, one stable text, to
# compare before and after a command that must change nothing.
lvm_state() {
    lvs -a --reportformat json --units b --nosuffix \
        -o vg_name,lv_name,lv_attr,lv_size,origin,lv_tags,data_percent,lv_active -O vg_name,lv_name
    vgs --reportformat json --units b --nosuffix \
        -o vg_name,vg_attr,vg_size,vg_free,vg_free_count,vg_tags,lv_count -O vg_name
    pvs --reportformat json --units b --nosuffix -o pv_name,vg_name,pv_size,pv_free -O pv_name
    dmsetup table | sort
}

# snapplan_has COMMAND: true if this snapplan build has the subcommand.
snapplan_has() {
    snapplan "$1" --help >/dev/null 2>&1
}

# vm_reset: removes every VG, PV and device-mapper device and snapplan's
# state, so the next scenario of a shared boot starts from blank RAM disks.
vm_reset() {
    for _vg in $(vgs --noheadings -o vg_name 2>/dev/null); do
        vgchange -q -an "$_vg" >/dev/null 2>&1 || true
        vgremove -q -ff "$_vg" >/dev/null 2>&1 || true
    done
    dmsetup remove_all >/dev/null 2>&1 || true
    for _dev in /dev/ram*; do
        pvremove -q -ff -y "$_dev" >/dev/null 2>&1 || true
        dd if=/dev/zero of="$_dev" bs=1M count=1 conv=fsync 2>/dev/null || true
    done
    rm -rf /var/lib/snapplan /run/snapplan /etc/snapplan /tmp/work/* /tmp/textfile
}

# ---- apply scenarios -------------------------------------------------------
# Hooks that log each call, checksums taken at snapshot time, the snapplan
# tags, background runs: shared by tests/vm/apply_*.sh and demo.sh.

# wait_for SECONDS COMMAND [ARG...]: polls COMMAND every 0.1 s until it
# succeeds; fails the scenario after SECONDS.
wait_for() {
    _tries=$(($1 * 10))
    shift
    until "$@"; do
        _tries=$((_tries - 1))
        [ "$_tries" -gt 0 ] || fail "gave up waiting for: $*"
        sleep 0.1
    done
}

# alive PID: true while the process runs (a zombie counts as gone).
alive() {
    [ -r "/proc/$1/stat" ] || return 1
    _state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$_state" ] && [ "$_state" != Z ]
}

# gone PID: true once the process has ended.
gone() {
    ! alive "$1"
}

# BG_PIDS: processes started by `start_bg`; killed when the scenario ends,
# so that a failed scenario leaves nothing running into the next one. Then
# ON_EXIT (shell text) runs, e.g. to detach a loop device.
BG_PIDS=""
ON_EXIT=""
trap 'for _p in $BG_PIDS; do kill -9 "$_p" 2>/dev/null || true; done; eval "$ON_EXIT"' EXIT

# start_bg OUT COMMAND [ARG...]: runs COMMAND in the background, its stdout
# in OUT.out and stderr in OUT.err; its PID in $BG_PID.
start_bg() {
    _out=$1
    shift
    echo "\$ $* &"
    "$@" >"$_out.out" 2>"$_out.err" </dev/null &
    BG_PID=$!
    BG_PIDS="$BG_PIDS $BG_PID"
}

# wait_bg PID OUT: waits for a `start_bg` process, shows its output, and
# sets $BG_STATUS to its exit status.
wait_bg() {
    wait "$1" && BG_STATUS=0 || BG_STATUS=$?
    cat "$2.out"
    cat "$2.err" >&2
    echo "(exit status $BG_STATUS)"
}

# HOOK_LOG: the file hooks made by `make_hook` append "ACTION NAME" lines to.
HOOK_LOG=${HOOK_LOG:-$PWD/hooks.log}

# make_hook DIR NAME [SUSPEND_SH [RESUME_SH]]: an executable hook DIR/NAME
# that appends "$1 NAME" to $HOOK_LOG and its SNAPPLAN_* environment to
# $HOOK_LOG.env, then runs the shell text given for that action (its exit
# status is the hook's).
make_hook() {
    mkdir -p "$1"
    cat >"$1/$2" <<HOOK
#!/bin/sh
echo "\$1 $2" >>$HOOK_LOG
echo "\$1 $2 plan=\${SNAPPLAN_PLAN-} run=\${SNAPPLAN_RUN_ID-} phase=\${SNAPPLAN_PHASE-}" >>$HOOK_LOG.env
case \$1 in
suspend)
${3:-:}
;;
resume)
${4:-:}
;;
esac
HOOK
    chmod +x "$1/$2"
}

# hook_called "ACTION NAME": true once the hook log has that line.
hook_called() {
    grep -qsx "$1" "$HOOK_LOG"
}

# hook_calls: the hook log as one line, "suspend a, suspend b, ...".
hook_calls() {
    [ -e "$HOOK_LOG" ] || return 0
    awk '{ printf "%s%s", (NR > 1 ? ", " : ""), $0 } END { print "" }' "$HOOK_LOG"
}

# assert_hook_calls EXPECTED: the hook log, as `hook_calls` shows it.
assert_hook_calls() {
    assert_eq "$1" "$(hook_calls)" "hook calls"
}

# record_sums_sh FILE VG LV...: shell text for a hook body that writes
# "LV SHA256" lines of the given LVs into FILE; from the last suspend hook it
# records their content at snapshot time (nothing writes while suspended).
record_sums_sh() {
    _file=$1 _vg=$2
    shift 2
    echo "for lv in $*; do echo \"\$lv \$(sha256sum </dev/$_vg/\$lv | cut -d' ' -f1)\"; done >$_file"
}

# recorded_sum FILE LV: LV's checksum from a `record_sums_sh` file.
recorded_sum() {
    _sum=$(awk -v lv="$2" '$1 == lv { print $2 }' "$1")
    [ -n "$_sum" ] || fail "no checksum of $2 recorded in $1"
    echo "$_sum"
}

# snapshot_lvs: VG/LV of every snapshot (lv_attr s/S) and of every LV
# tagged as a snapplan snapshot, one per line.
snapshot_lvs() {
    lvs_json -o vg_name,lv_name,lv_attr,lv_tags | jq -r '.report[].lv[]
        | select((.lv_attr | test("^[sS]")) or (.lv_tags | split(",") | index("snapplan-role:snapshot")))
        | "\(.vg_name)/\(.lv_name)"'
}

# assert_no_snapshot: no snapshot LV and no snapshot device-mapper target.
assert_no_snapshot() {
    _snaps=$(snapshot_lvs)
    [ -z "$_snaps" ] || fail "snapshots left behind: $_snaps"
    _targets=$(dmsetup table | awk '$4 ~ /^snapshot/ { print $1 }')
    [ -z "$_targets" ] || fail "snapshot device-mapper targets left: $_targets"
}

# lv_tags VG/LV: the LV's tags, comma separated; empty if it does not exist.
# (One lvs call: each takes ~0.3 s under TCG.)
lv_tags() {
    lvs --reportformat json -o lv_tags "$1" 2>/dev/null | jq -r '.report[0].lv[0].lv_tags // ""'
}

# has_tag VG/LV TAG: true if the LV exists and carries TAG.
has_tag() {
    case ",$(lv_tags "$1")," in *",$2,"*) return 0 ;; esac
    return 1
}

# assert_backup VG/LV PLAN complete|incomplete: the backup LV exists with
# snapplan's tags for PLAN and that state, and not the other one.
assert_backup() {
    assert_lv_exists "$1"
    _tags=$(lv_tags "$1")
    for _t in snapplan "snapplan-plan:$2" snapplan-role:backup "snapplan-state:$3"; do
        case ",$_tags," in *",$_t,"*) ;; *) fail "backup $1 lacks tag $_t (tags: $_tags)" ;; esac
    done
    case $3 in complete) _other=incomplete ;; *) _other=complete ;; esac
    case ",$_tags," in *",snapplan-state:$_other,"*) fail "backup $1 is tagged both $3 and $_other ($_tags)" ;; esac
}

# assert_not_complete VG/LV: no backup LV, or one not tagged complete.
assert_not_complete() {
    _tags=$(lv_tags "$1")
    case ",$_tags," in *",snapplan-state:complete,"*) fail "backup $1 is tagged complete ($_tags)" ;; esac
}

# sectors_written DEVICE: sectors written to a block device since it was
# set up, as the kernel counts them (/sys/block/NAME/stat; RAM disks keep no
# such count, loop and device-mapper devices do).
sectors_written() {
    _dev=$(basename "$(readlink -f "$1")")
    awk '{ print $7 }' "/sys/block/$_dev/stat"
}

# activate_backup: activates VG backup (apply deactivates it when done) so
# that its LVs can be read.
activate_backup() {
    vgchange -q -ay backup >/dev/null || fail "cannot activate VG backup"
}

# apply_system [BACKUP_PV]: the machine most apply scenarios back up: VG vg0
# (RAM disks 0 and 1) with LVs alpha (16 MiB), bravo (8 MiB) and charlie
# (4 MiB) full of random data, and an empty VG backup (on RAM disk 2 by
# default). Small, because sha256sum reads only a few MiB/s under TCG.
apply_system() {
    make_vg vg0 "$(ram_disk 0)" "$(ram_disk 1)"
    make_lv vg0 alpha 16m
    make_lv vg0 bravo 8m
    make_lv vg0 charlie 4m
    for _lv in alpha bravo charlie; do fill "/dev/vg0/$_lv"; done
    make_vg backup "${1:-$(ram_disk 2)}"
}

# assert_backed_up PLAN LV...: each backup/LV is tagged complete for PLAN
# and holds its origin's current bytes (for runs where nothing wrote to the
# origins meanwhile).
assert_backed_up() {
    _plan=$1
    shift
    activate_backup
    for _lv in "$@"; do
        assert_backup "backup/$_lv" "$_plan" complete
        assert_same_content "/dev/vg0/$_lv" "/dev/backup/$_lv"
    done
}

# HOOKS: the hook directory of plans written by `write_apply_plan`.
HOOKS=/etc/snapplan/hooks.d

# write_apply_plan NAME HOOK_TIMEOUT < VOLUMES: /etc/snapplan/NAME.yaml with
# hooks in $HOOKS, state in /var/lib/snapplan, target VG backup, and the
# `volumes:` entries read from stdin (YAML list items, indented 2).
write_apply_plan() {
    mkdir -p /etc/snapplan "$HOOKS"
    {
        cat <<PLAN
version: 1
name: $1
state_dir: /var/lib/snapplan
hooks:
  dir: $HOOKS
  timeout: $2
target:
  vg: backup
volumes:
PLAN
        cat
    } >"/etc/snapplan/$1.yaml"
}

# assert_backups_match SUMS_FILE PLAN LV...: each backup/LV is tagged
# complete for PLAN, has its origin's size and the content recorded in
# SUMS_FILE (see record_sums_sh).
assert_backups_match() {
    _sums=$1 _plan=$2
    shift 2
    activate_backup
    for _lv in "$@"; do
        assert_backup "backup/$_lv" "$_plan" complete
        assert_eq "$(size_bytes "/dev/vg0/$_lv")" "$(size_bytes "/dev/backup/$_lv")" "size of backup/$_lv"
        assert_eq "$(recorded_sum "$_sums" "$_lv")" "$(sha256 "/dev/backup/$_lv")" \
            "sha256 of backup/$_lv vs vg0/$_lv at snapshot time"
    done
}

# ---- snapplan mount / unmount (tests/vm/mount*.sh) ----

# RECORDS: where `snapplan mount` keeps its records.
RECORDS=/run/snapplan/mounts

# mounted_on DIR: the /proc/mounts line of DIR (empty when nothing is mounted there).
mounted_on() {
    awk -v d="$1" '$2 == d' /proc/mounts
}

# records: how many mount records exist (in $RECORDS).
records() {
    ls "$RECORDS"/*.json 2>/dev/null | wc -l
}

# backup_state: the backup VG's and LV's state as LVM reports it (pvs
# --segments: lvs hides the LVs of an exported VG).
backup_state() {
    vgs --reportformat json -o vg_name,vg_attr,vg_exported backup
    pvs --segments --reportformat json -o vg_name,lv_name,lv_attr,lv_active,lv_tags -S vg_name=backup
}

# ---- iSCSI (scenarios whose header says `# vm: iscsi`) ----
# Both ends on loopback: the kernel's LIO target set up through configfs,
# and open-iscsi's iscsid/iscsiadm as the initiator.

ISCSI_PORTAL=127.0.0.1:3260

# iscsi_target_start DEVICE IQN: exports DEVICE (a RAM disk) as LUN 0 of
# target IQN on $ISCSI_PORTAL, without authentication, to any initiator.
# DEVICE is hidden from LVM (lvm.conf global_filter), which would otherwise
# see the same PV twice: on DEVICE and on the iSCSI disk.
iscsi_target_start() {
    _dev=$1 _iqn=$2
    for _m in iscsi_target_mod target_core_iblock iscsi_tcp sd_mod crc32c_generic; do
        modprobe "$_m" || fail "modprobe $_m failed"
    done
    grep -q ' /sys/kernel/config ' /proc/mounts || mount -t configfs none /sys/kernel/config
    ip link set lo up
    _core=/sys/kernel/config/target/core/iblock_0/$(basename "$_dev")
    mkdir -p "$_core"
    echo "udev_path=$_dev" >"$_core/control"
    echo 1 >"$_core/enable"
    _tpg=/sys/kernel/config/target/iscsi/$_iqn/tpgt_1
    mkdir -p "$_tpg/lun/lun_0"
    ln -s "$_core" "$_tpg/lun/lun_0/backstore"
    mkdir "$_tpg/np/$ISCSI_PORTAL"
    echo 0 >"$_tpg/attrib/authentication"
    echo 1 >"$_tpg/attrib/generate_node_acls"
    echo 1 >"$_tpg/attrib/cache_dynamic_acls"
    echo 0 >"$_tpg/attrib/demo_mode_write_protect"
    echo 1 >"$_tpg/enable"
    lvm_hide_device "$_dev"
    step "iSCSI target $_iqn on $ISCSI_PORTAL serves $_dev"
}

# lvm_hide_device DEVICE: adds DEVICE to lvm.conf's global_filter.
lvm_hide_device() {
    awk -v dev="$1" '{ print } /^devices \{/ { print "    global_filter = [ \"r|^" dev "$|\" ]" }' \
        /etc/lvm/lvm.conf >/tmp/lvm.conf.new
    mv /tmp/lvm.conf.new /etc/lvm/lvm.conf
}

# iscsid_start: starts iscsid (log in /tmp/iscsid.log) and waits until
# iscsiadm can talk to it.
iscsid_start() {
    mkdir -p /run/lock/iscsi /var/lib/iscsi /etc/iscsi/nodes /etc/iscsi/send_targets
    iscsid -f >/tmp/iscsid.log 2>&1 &
    _i=0
    while :; do
        iscsiadm -m session >/dev/null 2>&1 && _rc=0 || _rc=$?
        [ "$_rc" = 0 ] || [ "$_rc" = 21 ] && break
        _i=$((_i + 1))
        [ "$_i" -lt 100 ] || fail "iscsid did not answer within 10 s: $(cat /tmp/iscsid.log)"
        sleep 0.1
    done
}

# iscsi_session_count: how many iSCSI sessions are logged in (`iscsiadm -m
# session` exits 21 when there is none).
iscsi_session_count() {
    iscsiadm -m session >/tmp/iscsi-sessions 2>/dev/null && _rc=0 || _rc=$?
    case $_rc in
        0) grep -c . /tmp/iscsi-sessions ;;
        21) echo 0 ;;
        *) fail "iscsiadm -m session failed (exit $_rc)" ;;
    esac
}

# iscsi_disks: the block devices (sda, ...) of the logged-in iSCSI
# sessions, one a line.
iscsi_disks() {
    for _b in /sys/class/iscsi_session/session*/device/target*/*/block/*; do
        [ -e "$_b" ] && basename "$_b"
    done
    true
}

# iscsi_login_by_hand IQN: discovery and login as an admin would, then waits
# (up to 10 s) for the disk; prints its path.
iscsi_login_by_hand() {
    iscsiadm -m discovery -t sendtargets -p "$ISCSI_PORTAL" >/dev/null ||
        fail "iSCSI discovery on $ISCSI_PORTAL failed"
    iscsiadm -m node -T "$1" -p "$ISCSI_PORTAL" --login >/dev/null || fail "iSCSI login to $1 failed"
    _i=0
    while [ -z "$(iscsi_disks)" ]; do
        _i=$((_i + 1))
        [ "$_i" -lt 100 ] || fail "no disk appeared within 10 s of the login to $1"
        sleep 0.1
    done
    _disk=/dev/$(iscsi_disks | head -n 1)
    while [ ! -b "$_disk" ]; do sleep 0.1; done
    echo "$_disk"
}

# iscsi_logout_by_hand IQN
iscsi_logout_by_hand() {
    iscsiadm -m node -T "$1" -p "$ISCSI_PORTAL" --logout >/dev/null || fail "iSCSI logout from $1 failed"
}

# assert_no_iscsi_session
assert_no_iscsi_session() {
    assert_eq 0 "$(iscsi_session_count)" "iSCSI sessions"
}

# assert_vg_exported VG / assert_vg_not_exported VG: vg_attr's 3rd
# character is `x` once `vgexport`ed.
assert_vg_exported() {
    _attr=$(vg_field "$1" vg_attr)
    assert_eq x "$(echo "$_attr" | cut -c3)" "3rd vg_attr character of $1 ($_attr)"
}

assert_vg_not_exported() {
    _attr=$(vg_field "$1" vg_attr)
    assert_ne x "$(echo "$_attr" | cut -c3)" "3rd vg_attr character of $1 ($_attr)"
}

# active_lv_count VG: how many LVs of VG are active (lv_active "active").
active_lv_count() {
    lvs_json -o lv_name,lv_active "$1" | jq '[.report[].lv[] | select(.lv_active == "active")] | length'
}
