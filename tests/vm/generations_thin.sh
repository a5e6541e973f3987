#!/bin/sh
# Thin-pool generations of a thin origin: both halves incremental. vg0/vm1
# is a 32 MiB thin LV holding 16 MiB of data; the target is the thin pool
# backup/gens. The first generation takes only the origin's mapped data in
# the target pool (unmapped blocks are zeros: neither read nor written);
# after 1 MiB is rewritten, the second run reads only the 4 MiB chunk the
# change fell in from the snapshot (its kept base makes the copy
# incremental) and writes it into a thin snapshot of the first generation.
# Both generations hold the origin's content at their snapshot times, and
# `--metrics` counts two generations and the pool's use.
# vm: ramdisk_mb=64 share timeout=240

PLAN=/etc/snapplan/thingens.yaml
SUMS=$PWD/sums

# sectors_read DM_NAME: sectors the kernel read from a device-mapper device.
sectors_read() {
    _minor=$(dmsetup info -c --noheadings -o minor "$1" | tr -d ' ')
    awk '{ print $3 }' "/sys/block/dm-$_minor/stat"
}

# used_bytes VG/LV: a thin LV's or pool's data in use, in bytes.
used_bytes() {
    lvs_json -o lv_size,data_percent "$1" |
        jq -r '.report[0].lv[0] | (.lv_size | tonumber) * (.data_percent | tonumber) / 100 | floor'
}

generations() {
    lvs_json -o lv_name backup | jq -r '.report[].lv[].lv_name
        | select(startswith("vm1.") and length == 20)' | sort
}

step "a thin origin holding 16 of its 32 MiB; a target VG with the pool gens"
make_vg vg0 "$(ram_disk 0)"
lvcreate -q -y --type thin-pool -L 48m -n pool vg0 >/dev/null
lvcreate -q -y --thin -V 32m -n vm1 vg0/pool >/dev/null
write_random /dev/vg0/vm1 16 0
make_vg backup "$(ram_disk 1)"
lvcreate -q -y --type thin-pool -L 48m -n gens backup >/dev/null
mkdir -p /etc/snapplan "$HOOKS"
cat >"$PLAN" <<PLAN
version: 1
name: thingens
state_dir: /var/lib/snapplan
hooks:
  dir: $HOOKS
  timeout: 30s
target:
  vg: backup
  pool: gens
volumes:
  - lv: vg0/vm1
PLAN
make_hook "$HOOKS" a "$(record_sums_sh "$SUMS" vg0 vm1)"

step "run 1: the first generation takes only the origin's 16 MiB of data"
run_ok snapplan apply "$PLAN"
activate_backup
g1=$(generations)
assert_eq "$(recorded_sum "$SUMS" vm1)" "$(sha256 "/dev/backup/$g1")" "sha256 of $g1"
sum1=$(recorded_sum "$SUMS" vm1)
used=$(used_bytes "backup/$g1")
echo "generation 1 maps $used bytes of its 32 MiB"
[ "$used" -le $((17 * 1048576)) ] || fail "$g1 maps $used bytes: the unmapped half was written"
assert_lv_exists vg0/vm1-snapplan-base

step "run 2 after 1 MiB rewritten: 4 MiB read from the snapshot, a snapshot of generation 1 written"
sleep 1
write_random /dev/vg0/vm1 1 5
pool_before=$(used_bytes backup/gens)
mkdir -p /tmp/textfile
run_ok snapplan apply "$PLAN" --metrics /tmp/textfile/thingens.prom
grep -qx 'snapplan_generations{plan="thingens",volume="vm1"} 2' /tmp/textfile/thingens.prom ||
    fail "no generation count of 2 in the metrics: $(cat /tmp/textfile/thingens.prom)"
grep -q '^snapplan_pool_data_ratio{plan="thingens",pool="backup/gens"} 0\.[0-9]' /tmp/textfile/thingens.prom ||
    fail "no pool data ratio in the metrics: $(cat /tmp/textfile/thingens.prom)"
rm -f /tmp/textfile/thingens.prom
activate_backup
g2=$(generations | tail -n 1)
assert_ne "$g1" "$g2" "a new generation"
assert_eq "$g1" "$(lv_field "backup/$g2" origin)" "origin of $g2"
assert_eq "$(recorded_sum "$SUMS" vm1)" "$(sha256 "/dev/backup/$g2")" "sha256 of $g2"
assert_eq "$sum1" "$(sha256 "/dev/backup/$g1")" "sha256 of $g1 after run 2"
read=$(sectors_read vg0-vm1--snapplan--base)
echo "run 2 read $read sectors from the snapshot (8192 = one 4 MiB chunk)"
[ "$read" -le 8192 ] || fail "run 2 read $read sectors from its snapshot: not incremental"
grew=$(($(used_bytes backup/gens) - pool_before))
echo "the target pool grew by $grew bytes"
[ "$grew" -le $((5 * 1048576)) ] || fail "the target pool grew by $grew bytes for a 1 MiB change"
assert_no_snapshot
