//! `snapplan mount` and `unmount` from the outside, where no LVM is needed:
//! the refusals that come before LVM is asked, and check/apply refusing a
//! plan whose backup is mounted (a mount record planted where
//! `SNAPPLAN_MOUNTS_DIR` points). Real mounts are proven by tests/vm/mount.sh.

use std::os::unix::fs::PermissionsExt;

use predicates::prelude::*;

use crate::support::Test;

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

fn with_backup() -> Test {
    let t = Test::new()
        .file("plan.yaml", PLAN)
        .backup_of(&vec![3u8; 1 << 20], MANIFEST);
    std::fs::set_permissions(t.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(t.path("state"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::create_dir_all(t.path("no-tools")).unwrap();
    t
}

fn snapplan(t: &Test, args: &[&str]) -> assert_cmd::assert::Assert {
    t.snapplan(args)
        .env("SNAPPLAN_TOOL_PATH", t.path("no-tools"))
        .env("SNAPPLAN_MOUNTS_DIR", t.path("mounts"))
        .assert()
}

#[test]
fn unmount_of_a_path_without_a_record_is_a_usage_error() {
    let t = with_backup();
    std::fs::create_dir(t.path("mnt")).unwrap();
    snapplan(&t, &["unmount", "mnt"])
        .code(2)
        .stderr(predicate::str::contains("no snapplan mount record for"))
        .stderr(predicate::str::contains("nothing was done"));
}

#[test]
fn a_symlinked_or_a_full_mountpoint_is_refused_before_lvm_is_asked() {
    let t = with_backup();
    std::fs::create_dir(t.path("mnt")).unwrap();
    std::os::unix::fs::symlink(t.path("mnt"), t.path("link")).unwrap();
    snapplan(&t, &["mount", "plan.yaml", "root", "link"])
        .code(1)
        .stderr(predicate::str::contains("is a symbolic link"))
        .stderr(predicate::str::contains("nothing was mounted"));
    std::fs::write(t.path("mnt/file"), "").unwrap();
    snapplan(&t, &["mount", "plan.yaml", "root", "mnt"])
        .code(1)
        .stderr(predicate::str::contains("is not empty"));
    assert!(!t.path("mounts").exists(), "no record written");
}

#[test]
fn an_unknown_volume_or_generation_exits_2() {
    let t = with_backup();
    std::fs::create_dir(t.path("mnt")).unwrap();
    snapplan(&t, &["mount", "plan.yaml", "nope", "mnt"])
        .code(2)
        .stderr(predicate::str::contains("its volumes: root"));
    snapplan(
        &t,
        &["mount", "plan.yaml", "root", "mnt", "--generation", "1"],
    )
    .code(2)
    .stderr(predicate::str::contains(
        "volume root has no generation 1; its generations: ",
    ));
}

#[test]
fn check_and_apply_refuse_while_the_backup_is_mounted() {
    let t = with_backup();
    let record = serde_json::json!({
        "format_version": 1, "plan": "nightly", "volume": "root",
        "generation": "20261202T031500Z", "lv": "backup/root",
        "imported_vg": null, "activated_lv": "backup/root",
        "device": "/dev/backup/root", "major": 253, "minor": 4,
        "mountpoint": "/mnt/restore", "fstype": "ext4", "options": "ro,noload",
        "mounted_at": 0, "pid": 1
    });
    std::fs::create_dir(t.path("mounts")).unwrap();
    std::fs::set_permissions(t.path("mounts"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let file = t.path("mounts/planted.json");
    std::fs::write(&file, record.to_string()).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = snapplan(&t, &["check", "plan.yaml", "--format", "json"]).code(1);
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let row = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "mounted_backup")
        .expect("a mounted_backup row")
        .clone();
    assert_eq!(row["status"], "fail");
    assert_eq!(row["subject"], "backup/root");
    assert_eq!(
        row["advice"],
        "copy out what you need, then `snapplan unmount /mnt/restore`"
    );
    snapplan(&t, &["apply", "plan.yaml"])
        .code(1)
        .stderr(predicate::str::contains("snapplan unmount /mnt/restore"));
}
