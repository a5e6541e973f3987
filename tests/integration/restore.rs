//! `snapplan restore` where no LVM is needed: the backup is read `--from` a
//! file or loop device (the documented way to restore from a copy of the
//! backup LV), its manifest made by the real copy engine (`snapplan copy
//! --manifest` into the plan's manifest path). Real backup LVs, their tags
//! and the origin LV are proven by tests/vm/restore.sh.

use std::io::Write;
use std::process::Command;

use predicates::prelude::*;

use crate::copy::{Loop, random};
use crate::support::Test;

const MIB: u64 = 1 << 20;

const PLAN: &str = "\
version: 1
name: nightly
state_dir: {dir}/state
target:
  vg: backup
volumes:
  - lv: vg0/root
";

const MANIFEST: &str = "state/nightly/manifests/root.json";

/// A plan, an origin image, and a backup of it (`backup.img`) with its
/// manifest where apply keeps it; then the origin changes.
fn backed_up(size: u64) -> Test {
    let t = Test::new()
        .file("plan.yaml", PLAN)
        .backup_of(&random(size, 1), MANIFEST);
    std::fs::write(t.path("origin.img"), random(size, 2)).unwrap();
    t
}

fn restore(t: &Test, to: &str, extra: &[&str]) -> assert_cmd::assert::Assert {
    let mut args = vec![
        "restore",
        "plan.yaml",
        "root",
        "--from",
        "backup.img",
        "--to",
        to,
    ];
    args.extend_from_slice(extra);
    t.snapplan(&args).write_stdin("").assert()
}

fn same(t: &Test, a: &str, b: &str) -> bool {
    std::fs::read(t.path(a)).unwrap() == std::fs::read(t.path(b)).unwrap()
}

#[test]
fn restores_the_backup_and_verifies_it() {
    let t = backed_up(3 * MIB + 4096);
    assert!(!same(&t, "origin.img", "backup.img"));
    restore(&t, "origin.img", &["--yes"])
        .code(0)
        .stdout(predicate::str::contains("restored root onto"));
    assert!(same(&t, "origin.img", "backup.img"));
}

#[test]
fn without_yes_and_without_a_terminal_nothing_is_written() {
    let t = backed_up(MIB);
    let before = std::fs::read(t.path("origin.img")).unwrap();
    restore(&t, "origin.img", &[])
        .code(2)
        .stderr(predicate::str::contains("pass --yes"));
    assert_eq!(std::fs::read(t.path("origin.img")).unwrap(), before);
}

#[test]
fn an_incomplete_manifest_is_refused() {
    let t = backed_up(MIB);
    let path = t.path(MANIFEST);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("\"completed\": true", "\"completed\": false"),
    )
    .unwrap();
    let before = std::fs::read(t.path("origin.img")).unwrap();
    restore(&t, "origin.img", &["--yes"])
        .code(1)
        .stderr(predicate::str::contains("incomplete"));
    assert_eq!(std::fs::read(t.path("origin.img")).unwrap(), before);
}

#[test]
fn a_missing_manifest_is_refused() {
    let t = backed_up(MIB);
    std::fs::remove_file(t.path(MANIFEST)).unwrap();
    restore(&t, "origin.img", &["--yes"])
        .code(1)
        .stderr(predicate::str::contains("without its manifest"));
}

#[test]
fn a_backup_that_no_longer_matches_its_manifest_is_not_restored() {
    let t = backed_up(2 * MIB);
    let backup = std::fs::OpenOptions::new()
        .write(true)
        .open(t.path("backup.img"))
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&backup, b"rot", MIB + 7).unwrap();
    let before = std::fs::read(t.path("origin.img")).unwrap();
    restore(&t, "origin.img", &["--yes"])
        .code(1)
        .stderr(predicate::str::contains("no longer matches its manifest"));
    assert_eq!(std::fs::read(t.path("origin.img")).unwrap(), before);
}

#[test]
fn a_destination_smaller_than_the_backup_is_refused() {
    let t = backed_up(2 * MIB);
    std::fs::write(t.path("small.img"), vec![7u8; MIB as usize]).unwrap();
    restore(&t, "small.img", &["--yes"])
        .code(1)
        .stderr(predicate::str::contains("smaller than the backup"));
    assert_eq!(
        std::fs::read(t.path("small.img")).unwrap(),
        vec![7u8; MIB as usize]
    );
}

#[test]
fn an_unknown_volume_or_the_backup_itself_is_a_usage_error() {
    let t = backed_up(MIB);
    t.snapplan(&[
        "restore",
        "plan.yaml",
        "home",
        "--from",
        "backup.img",
        "--to",
        "origin.img",
        "--yes",
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("its volumes: root"));
    restore(&t, "backup.img", &["--yes"])
        .code(2)
        .stderr(predicate::str::contains("is the backup itself"));
}

#[test]
fn without_lvm_the_backup_lv_cannot_be_checked() {
    let t = backed_up(MIB);
    std::fs::create_dir_all(t.path("no-tools")).unwrap();
    t.snapplan(&[
        "restore",
        "plan.yaml",
        "root",
        "--to",
        "origin.img",
        "--yes",
    ])
    .env("SNAPPLAN_TOOL_PATH", t.path("no-tools"))
    .assert()
    .code(1)
    .stderr(predicate::str::contains("nothing was done"));
}

#[test]
fn a_run_holding_the_lock_stops_the_restore() {
    let t = backed_up(MIB);
    let _lock = snapplan::state::lock::RunLock::acquire(&t.path("state"), "nightly").unwrap();
    restore(&t, "origin.img", &["--yes"]).code(3);
}

/// On block devices: a loop device as the backup and one as the origin.
#[test]
fn onto_a_loop_device_and_never_onto_a_held_or_mounted_one() {
    let t = Test::new().file("plan.yaml", PLAN);
    let size = 4 * MIB;
    let Some(origin) = Loop::new(&t, "origin.img", &random(size, 1)) else {
        return;
    };
    let Some(backup) = Loop::new(&t, "backup.img", &vec![0; size as usize]) else {
        return;
    };
    std::fs::create_dir_all(t.path("state/nightly/manifests")).unwrap();
    t.snapplan(&["copy", origin.path(), backup.path(), "--manifest", MANIFEST])
        .assert()
        .code(0);
    let run = |expect: i32| {
        t.snapplan(&[
            "restore",
            "plan.yaml",
            "root",
            "--from",
            backup.path(),
            "--to",
            origin.path(),
            "--yes",
        ])
        .assert()
        .code(expect)
    };

    // Held: something has it open exclusively (as a mount or an active VG
    // would); O_EXCL without O_CREAT claims a block device (open(2)). The
    // claim is held by a child process, never by this test process: a
    // descriptor here is copied into every child another test thread forks
    // until that child execs, so the claim could outlive its drop and make
    // the mkfs below fail as "in use" when the machine is loaded.
    match hold_exclusively(origin.path()) {
        Some(holder) => {
            run(1).stderr(predicate::str::contains("is in use"));
            drop(holder);
        }
        None => eprintln!("SKIPPED: the held case (perl is unavailable)"),
    }

    // Mounted.
    let mounted = Command::new("mkfs.ext4")
        .args(["-q", "-F", origin.path()])
        .status()
        .is_ok_and(|s| s.success())
        && {
            std::fs::create_dir_all(t.path("mnt")).unwrap();
            Command::new("mount")
                .arg(origin.path())
                .arg(t.path("mnt"))
                .status()
                .is_ok_and(|s| s.success())
        };
    if mounted {
        run(1).stderr(predicate::str::contains("is mounted on"));
        let _ = Command::new("umount").arg(t.path("mnt")).status();
    } else {
        eprintln!("SKIPPED: the mounted case (mkfs.ext4 or mount unavailable)");
    }

    // Free: restored, byte for byte. The origin must differ from the backup
    // first whether or not mkfs ran (the free case must not depend on it).
    if origin.contents() == backup.contents() {
        let mut device = std::fs::OpenOptions::new()
            .write(true)
            .open(origin.path())
            .unwrap();
        device.write_all(&random(size, 2)).unwrap();
        device.sync_all().unwrap();
    }
    assert_ne!(origin.contents(), backup.contents());
    run(0);
    assert_eq!(origin.contents(), backup.contents());
}

/// A process holding a device open with O_EXCL; dropping it ends the
/// process and waits for it, so the claim is gone when the drop returns.
struct Holder(std::process::Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process that holds `device` open with O_EXCL, once it has it (it says
/// so on stdout); None when perl (Essential in Debian) is missing.
fn hold_exclusively(device: &str) -> Option<Holder> {
    use std::io::BufRead;
    let child = Command::new("perl")
        .args([
            "-MFcntl",
            "-e",
            "sysopen(my $f, $ARGV[0], O_RDONLY | O_EXCL) or die \"$ARGV[0]: $!\\n\"; \
             $| = 1; print \"held\\n\"; sleep 600",
            device,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let mut holder = Holder(child);
    let mut line = String::new();
    std::io::BufReader::new(holder.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "held\n", "perl could not claim {device}");
    Some(holder)
}
