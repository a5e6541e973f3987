#!/bin/sh
# Thin-pool generations (target.pool). Origins alpha (16 MiB) and bravo
# (8 MiB) in vg0; a thin pool backup/gens (48 MiB); retention keep_last 2.
# check fails without the pool and says how to create it. Three runs with
# alpha changed in between: each run adds one complete generation per
# volume, a thin snapshot of the one before, holding the origin's content
# at its snapshot time (sha256 against checksums taken in the suspend
# hook); keep_last 2 leaves exactly the two newest; the pool holds them
# in under 1.5x one full set. SIGKILL mid-copy, then `snapplan recover`:
# no incomplete generation, no snapshot, every earlier generation
# byte-identical. The same after a failed verify (the new generation
# corrupted behind the copy) and after a snapshot overflow. A pool about to
# fill (an admin's thin LV in it, pool_threshold 80): the copies stop
# before the threshold, exit 1, the pool stays below 100%, the older
# generations and the admin's thin LV are intact. An older generation
# restored onto a spare LV is byte-identical to the origin at its time, and
# `verify --all` reads every complete generation.
# vm: ramdisk_mb=64 share timeout=420

PLAN=/etc/snapplan/gens.yaml
SUMS=$PWD/sums

# plan [THRESHOLD] [ALPHA_LINES]: the plan, both volumes.
plan() {
    mkdir -p /etc/snapplan "$HOOKS"
    cat >"$PLAN" <<PLAN
version: 1
name: gens
state_dir: /var/lib/snapplan
hooks:
  dir: $HOOKS
  timeout: 30s
target:
  vg: backup
  pool: gens
${1:+  pool_threshold: $1}
retention:
  keep_last: 2
volumes:
  - lv: vg0/alpha
${2:-}
  - lv: vg0/bravo
PLAN
}

# generations VOLUME: the volume's generation LVs in VG backup, oldest first.
generations() {
    lvs_json -o lv_name backup | jq -r --arg v "$1." '.report[].lv[].lv_name
        | select(startswith($v) and length == ($v | length) + 16)' | sort
}

# state_of VG/LV: complete, incomplete or "" from the LV's snapplan tags.
state_of() {
    case ",$(lv_tags "$1")," in
    *",snapplan-state:complete,"*) echo complete ;;
    *",snapplan-state:incomplete,"*) echo incomplete ;;
    esac
}

# assert_generation VG/LV SHA: tagged as a complete generation of plan
# gens, holding SHA.
assert_generation() {
    _tags=$(lv_tags "$1")
    for _t in snapplan snapplan-plan:gens snapplan-role:generation snapplan-state:complete; do
        case ",$_tags," in *",$_t,"*) ;; *) fail "generation $1 lacks tag $_t (tags: $_tags)" ;; esac
    done
    assert_eq "$2" "$(sha256 "/dev/$1")" "sha256 of generation $1"
}

# assert_no_incomplete: no generation of either volume is incomplete.
assert_no_incomplete() {
    for _v in alpha bravo; do
        for _g in $(generations $_v); do
            assert_eq complete "$(state_of "backup/$_g")" "state of backup/$_g"
        done
    done
}

# run_backup N: apply, then the checksums its suspend hook recorded are
# sums.N, and GEN_alpha/GEN_bravo name the newest generations.
run_backup() {
    run_ok snapplan apply "$PLAN"
    cp "$SUMS" "$SUMS.$1"
    activate_backup
}

newest() {
    generations "$1" | tail -n 1
}

# KEPT: "LV SHA" lines of the generations that must stay byte-identical.
remember_generations() {
    activate_backup
    KEPT=$PWD/kept
    : >"$KEPT"
    for _v in alpha bravo; do
        for _g in $(generations $_v); do
            echo "backup/$_g $(sha256 "/dev/backup/$_g")" >>"$KEPT"
        done
    done
}

assert_generations_kept() {
    activate_backup
    while read -r _lv _sum; do
        assert_lv_exists "$_lv"
        assert_generation "$_lv" "$_sum"
    done <"$KEPT"
    _now=$( (generations alpha; generations bravo) | wc -l)
    assert_eq "$(wc -l <"$KEPT")" "$_now" "number of generations"
}

step "the machine: vg0/alpha and vg0/bravo, VG backup without a pool yet"
apply_system
plan
make_hook "$HOOKS" a "$(record_sums_sh "$SUMS" vg0 alpha bravo)"

step "check fails without the pool and names the lvcreate line"
expect_exit 1 snapplan check "$PLAN" --format json
jq -e '.checks[] | select(.check == "generations_pool" and .status == "fail")
    | select(.advice | test("lvcreate --type thin-pool --size [0-9]+b --name gens backup"))' \
    "$VM_OUT" >/dev/null || fail "no failing generations_pool row with the lvcreate line"
lvcreate -q -y --type thin-pool -L 48m -n gens backup >/dev/null
run_ok snapplan check "$PLAN"

step "run 1: each volume's first generation is a thin LV in the pool with its content"
run_backup 1
g1a=$(newest alpha) g1b=$(newest bravo)
assert_eq gens "$(lv_field "backup/$g1a" pool_lv)" "pool of $g1a"
assert_eq "" "$(lv_field "backup/$g1a" origin)" "origin of the first generation"
assert_generation "backup/$g1a" "$(recorded_sum "$SUMS.1" alpha)"
assert_generation "backup/$g1b" "$(recorded_sum "$SUMS.1" bravo)"
assert_no_snapshot

step "run 2, alpha changed: a snapshot of generation 1; generation 1 unchanged"
sleep 1
write_random /dev/vg0/alpha 2 0
run_backup 2
g2a=$(newest alpha) g2b=$(newest bravo)
assert_ne "$g1a" "$g2a" "a new generation"
assert_eq "$g1a" "$(lv_field "backup/$g2a" origin)" "origin of $g2a"
assert_generation "backup/$g2a" "$(recorded_sum "$SUMS.2" alpha)"
assert_generation "backup/$g1a" "$(recorded_sum "$SUMS.1" alpha)"
assert_generation "backup/$g2b" "$(recorded_sum "$SUMS.2" bravo)"
assert_ne "$(recorded_sum "$SUMS.1" alpha)" "$(recorded_sum "$SUMS.2" alpha)" "alpha changed"

step "run 3: keep_last 2 leaves the two newest; the pool holds them in under 1.5x a full set"
sleep 1
write_random /dev/vg0/alpha 2 8
run_backup 3
g3a=$(newest alpha) g3b=$(newest bravo)
assert_eq "$(printf '%s\n%s' "$g2a" "$g3a")" "$(generations alpha)" "alpha's generations"
assert_eq "$(printf '%s\n%s' "$g2b" "$g3b")" "$(generations bravo)" "bravo's generations"
assert_generation "backup/$g3a" "$(recorded_sum "$SUMS.3" alpha)"
assert_generation "backup/$g2a" "$(recorded_sum "$SUMS.2" alpha)"
assert_generation "backup/$g3b" "$(recorded_sum "$SUMS.3" bravo)"
[ ! -e "/var/lib/snapplan/gens/manifests/alpha/${g1a#alpha.}.json" ] ||
    fail "the pruned generation's manifest is still there"
full=$(( (16 + 8) * 1048576 ))
used=$(lvs_json -o lv_size,data_percent backup/gens | jq -r '.report[0].lv[0] | (.lv_size | tonumber) * (.data_percent | tonumber) / 100 | floor')
echo "pool data used: $used bytes for 2 generations of a $full-byte set"
[ "$((used * 2))" -lt "$((full * 3))" ] || fail "the pool holds $used bytes: not under 1.5x $full"
assert_no_snapshot
remember_generations

step "SIGKILL mid-copy, then recover: no incomplete generation, no snapshot, earlier ones intact"
sleep 1
fill /dev/vg0/alpha
vgchange -q -an backup >/dev/null
start_bg "$PWD/kill" snapplan apply "$PLAN" --bandwidth 2MiB/s
pid=$BG_PID
incomplete_alpha() {
    _g=$(newest alpha)
    [ "$_g" != "$g3a" ] && [ "$(state_of "backup/$_g")" = incomplete ]
}
wait_for 90 incomplete_alpha
sleep 2
kill -KILL "$pid"
wait_bg "$pid" "$PWD/kill"
assert_eq 137 "$BG_STATUS" "exit status after SIGKILL"
killed=$(newest alpha)
[ "$killed" != "$g3a" ] || fail "the killed run left no generation: this case would prove nothing"
run_ok snapplan recover "$PLAN"
assert_no_lv "backup/$killed"
assert_no_incomplete
assert_no_snapshot
assert_generations_kept

step "a failed verify (the new generation corrupted after its copy passed): it is removed"
sleep 1
vgchange -q -an backup >/dev/null
start_bg "$PWD/verify" snapplan apply "$PLAN" --bandwidth 2MiB/s
pid=$BG_PID
wait_for 90 incomplete_alpha
# copied_past BYTES: the journal says alpha's copy has done that much (it
# journals its progress every 2 s). The first MiB is then written for
# good: the copy never writes it again, the verify that follows reads it.
copied_past() {
    grep '"copy_progress"' /var/lib/snapplan/gens/journal.jsonl 2>/dev/null |
        jq -se --argjson n "$1" 'any(.[]; .volume == "alpha" and .done >= $n)' >/dev/null
}
wait_for 90 copied_past 8388608
bad=$(newest alpha)
dd if=/dev/urandom of="/dev/backup/$bad" bs=1M count=1 oflag=direct conv=notrunc 2>/dev/null
wait_bg "$pid" "$PWD/verify"
assert_eq 4 "$BG_STATUS" "exit status with alpha's verify failed"
activate_backup
assert_no_lv "backup/$bad"
assert_eq "$(printf '%s\n%s' "$g2a" "$g3a")" "$(generations alpha)" "alpha's generations after the failed verify"
assert_generation "backup/$g3a" "$(recorded_sum "$SUMS.3" alpha)"
assert_no_incomplete
assert_no_snapshot

step "alpha's snapshot overflows mid-copy: its generation is removed, bravo's is made"
sleep 1
plan "" "    snapshot_size: 4MiB
    bandwidth: 2MiB/s"
make_hook "$HOOKS" a "$(record_sums_sh "$SUMS" vg0 alpha bravo)" \
    "setsid sh -c 'echo \$\$ >$PWD/writer.pid; sleep 0.5; dd if=/dev/urandom of=/dev/vg0/alpha bs=1M count=12 conv=fsync 2>/dev/null' </dev/null >/dev/null 2>&1 &
while [ ! -s $PWD/writer.pid ]; do sleep 0.05; done"
expect_exit 4 snapplan apply "$PLAN"
wait_for 60 gone "$(cat "$PWD/writer.pid")"
rm -f "$PWD/writer.pid"
activate_backup
assert_eq "$(printf '%s\n%s' "$g2a" "$g3a")" "$(generations alpha)" "alpha's generations after the overflow"
g4b=$(newest bravo)
assert_generation "backup/$g4b" "$(recorded_sum "$SUMS" bravo)"
assert_generation "backup/$g3a" "$(recorded_sum "$SUMS.3" alpha)"
assert_generation "backup/$g2a" "$(recorded_sum "$SUMS.2" alpha)"
assert_no_incomplete
assert_no_snapshot

step "restore the older generation of alpha onto a spare LV: the same bytes"
make_lv vg0 spare 16m
activate_backup
run_ok snapplan restore "$PLAN" alpha --generation "${g2a#alpha.}" --to /dev/vg0/spare --yes
assert_eq "$(recorded_sum "$SUMS.2" alpha)" "$(sha256 /dev/vg0/spare)" "sha256 of the restored generation $g2a"
run_ok snapplan verify "$PLAN" --all
vgchange -q -an backup >/dev/null

step "a pool about to fill: the copies stop below pool_threshold, exit 1, nothing lost"
sleep 1
plan 80
make_hook "$HOOKS" a "$(record_sums_sh "$SUMS" vg0 alpha bravo)"
# check expects a run to write what the last ones wrote (the full
# rewrites above: more than the room left), and would refuse the run: this
# step is about the guard during the copy, so the history goes.
rm -f /var/lib/snapplan/gens/runs/*.json
lvcreate -q -y --thin -V 16m -n admin backup/gens >/dev/null
write_random /dev/backup/admin 4 0
admin=$(sha256 /dev/backup/admin)
remember_generations
fill /dev/vg0/alpha
fill /dev/vg0/bravo
before=$(lv_field backup/gens data_percent)
echo "pool data before the run: $before%"
SNAPPLAN_WATCHDOG_INTERVAL_MS=100 expect_exit 1 snapplan apply "$PLAN" --bandwidth 4MiB/s
activate_backup
after=$(lv_field backup/gens data_percent)
echo "pool data after the run: $after%"
awk -v p="$after" 'BEGIN { exit !(p < 100) }' || fail "the pool is full: $after%"
# Not the pre-flight: the run made alpha's generation, the guard stopped
# its copy, and the generation was removed.
record=$(ls /var/lib/snapplan/gens/runs/*.json | sort | tail -n 1)
jq -e '.volumes[] | select(.volume == "alpha") | select(.status == "failed" and .generation != null)
    | select(.reason | test("pool_threshold"))' "$record" >/dev/null ||
    fail "the run record does not show alpha's copy stopped by the pool guard: $(cat "$record")"
assert_generations_kept
assert_eq "$admin" "$(sha256 /dev/backup/admin)" "the admin's thin LV in the pool"
assert_no_incomplete
assert_no_snapshot
lvremove -q -y backup/admin >/dev/null
