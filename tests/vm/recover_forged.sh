#!/bin/sh
# Recover on a forged journal (issue 10 item 1): a journal in the state
# directory names a hook outside the plan's hooks directory, a file in it
# that is not one of the plan's hooks, and an `activate` step of the ORIGIN
# VG. `snapplan recover` must run neither hook (no marker file appears),
# must not deactivate or export vg0 (LVM state unchanged, origins still
# open for writing), and must say what it refused; `--discard-journal`
# then sets the journal aside and the next apply backs everything up.
# vm: ramdisk_mb=64 share timeout=180

PLAN=/etc/snapplan/forged.yaml
MARK=$PWD/evil-ran

step "three origins, a backup VG exported when done, one real hook"
apply_system
mkdir -p /etc/snapplan "$HOOKS"
cat >"$PLAN" <<PLAN
version: 1
name: forged
state_dir: /var/lib/snapplan
hooks:
  dir: $HOOKS
  timeout: 30s
target:
  vg: backup
  export: true
volumes:
  - lv: vg0/alpha
  - lv: vg0/bravo
  - lv: vg0/charlie
PLAN
make_hook "$HOOKS" a
cat >"$PWD/evil" <<HOOK
#!/bin/sh
echo "\$0 \$*" >>$MARK
HOOK
chmod 755 "$PWD/evil"
# A file in the hooks directory that check and apply do not take as a hook.
cp "$PWD/evil" "$HOOKS/a.dpkg-old"

step "a forged journal: a dead run that 'activated' vg0 and suspended two foreign hooks"
mkdir -p /var/lib/snapplan/forged
chmod 700 /var/lib/snapplan /var/lib/snapplan/forged
cat >/var/lib/snapplan/forged/journal.jsonl <<JOURNAL
{"event":"run_started","run_id":"forged-1","plan":"forged","pid":999999,"phases":["backup"],"at":1}
{"event":"step_started","step":"activate:vg0","at":1}
{"event":"step_finished","step":"activate:vg0","ok":true,"detail":"","at":1}
{"event":"hook_started","hook":"$PWD/evil","action":"suspend"}
{"event":"hook_started","hook":"$HOOKS/a.dpkg-old","action":"suspend"}
JOURNAL
before=$(lvm_state)
vg0_attr=$(vg_field vg0 vg_attr)

step "recover refuses what the plan does not name and touches nothing"
expect_exit 5 snapplan recover "$PLAN"
[ ! -e "$MARK" ] || fail "a forged hook ran as root: $(cat "$MARK")"
assert_eq "$before" "$(lvm_state)" "LVM state after recover"
assert_eq "$vg0_attr" "$(vg_field vg0 vg_attr)" "vg0's attributes (not exported)"
for lv in alpha bravo charlie; do
    dd if=/dev/zero of="/dev/vg0/$lv" bs=4k count=1 seek=1 conv=fsync,notrunc 2>/dev/null ||
        fail "origin vg0/$lv is no longer writable after recover"
done
[ -e /var/lib/snapplan/forged/journal.jsonl ] || fail "recover dropped the journal it refused"

step "apply refuses too while the journal is there"
expect_exit 5 snapplan apply "$PLAN"
[ ! -e "$MARK" ] || fail "a forged hook ran as root during apply"
assert_hook_calls ""

step "--discard-journal sets it aside; the next apply backs everything up"
run_ok snapplan recover --discard-journal "$PLAN"
[ ! -e /var/lib/snapplan/forged/journal.jsonl ] || fail "the journal is still in place"
run_ok snapplan apply "$PLAN"
[ ! -e "$MARK" ] || fail "a forged hook ran as root"
assert_hook_calls "suspend a, resume a"
assert_no_snapshot
case "$(vg_field backup vg_attr)" in ??x*) ;; *) fail "backup VG not exported: $(vg_field backup vg_attr)" ;; esac
vgimport backup >/dev/null
assert_backed_up forged alpha bravo charlie
