#!/bin/busybox sh
# /init of the snapplan test VM (built by `cargo xtask vm-test`): mounts the
# kernel filesystems, loads the modules LVM needs, creates RAM disks, runs the
# scenarios named on the kernel command line, prints one result marker per
# scenario, and powers off.

/bin/busybox mkdir -p /proc /sys /dev /tmp /run
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LVM_SUPPRESS_FD_WARNINGS=1
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /run/lock/lvm /run/lvm /var/lock /var/log

run="" ramdisk_mb=64 ramdisks=4 timeout=600
for arg in $(cat /proc/cmdline); do
    case $arg in
        vm_run=*) run=$(echo "${arg#vm_run=}" | tr , ' ') ;;
        vm_ramdisk_mb=*) ramdisk_mb=${arg#vm_ramdisk_mb=} ;;
        vm_ramdisks=*) ramdisks=${arg#vm_ramdisks=} ;;
        vm_timeout=*) timeout=${arg#vm_timeout=} ;;
    esac
done

# The host kills qemu on timeout; this also ends a VM whose host side died.
(sleep "$timeout" && echo "vm: watchdog: still running after $timeout s, powering off" && poweroff -f) &

while read -r name path; do
    case $name in
        brd) insmod "$path" rd_nr="$ramdisks" rd_size=$((ramdisk_mb * 1024)) ;;
        *) insmod "$path" ;;
    esac || echo "vm: cannot load kernel module $name ($path)"
done < /vm/modules

first=yes
for scenario in $run; do
    if [ -z "$first" ]; then
        sh -c '. /vm/lib.sh; vm_reset' || echo "vm: vm_reset failed before $scenario"
    fi
    first=
    echo "vm: ---- scenario $scenario ----"
    start=$(date +%s)
    mkdir -p "/tmp/work/$scenario"
    if (cd "/tmp/work/$scenario" && exec sh -c 'set -eu; . /vm/lib.sh; . "/vm/$1.sh"' "$scenario" "$scenario"); then
        result=pass
    else
        result=fail
        echo "vm: scenario $scenario failed (exit status or an error above); system state:"
        sh -c '. /vm/lib.sh; vm_context' 2>&1
    fi
    # Built from parts so that no traced or echoed command line looks like it.
    printf '%s: %s %s %s\n' SNAPPLAN-VM-RESULT "$result" "$scenario" $(($(date +%s) - start))
done

sync
poweroff -f
