//! `snapplan check` from the outside. Real LVM is proven in tests/vm/check_*;
//! here: what check does where there is no LVM to look at.

use predicates::prelude::*;

use crate::support::Test;

const PLAN: &str = "\
version: 1
name: nightly
state_dir: {dir}/state
hooks:
  dir: {dir}/hooks
target:
  vg: backup
volumes:
  - lv: vg0/home
";

/// A directory with no tools in it: as if lvm2 were not installed.
fn without_tools(t: &Test) -> String {
    std::fs::create_dir_all(t.path("no-tools")).unwrap();
    t.path("no-tools").display().to_string()
}

#[test]
fn an_invalid_plan_exits_2() {
    let t = Test::new().file("plan.yaml", "version: 1\nname: [\n");
    t.snapplan(&["check", "plan.yaml"]).assert().code(2);
}

#[test]
fn a_missing_plan_file_exits_2_naming_it() {
    let t = Test::new();
    t.snapplan(&["check", "nope.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nope.yaml"));
}

#[test]
fn without_lvm_tools_check_fails_cleanly_naming_the_tool() {
    let t = Test::new().file("plan.yaml", PLAN).file("hooks/10-db", "");
    let tools = without_tools(&t);
    t.snapplan(&["check", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", &tools)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("`lvm` not found"))
        .stdout(predicate::str::contains("install lvm2"))
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn json_output_is_a_document_with_a_verdict_per_check() {
    let t = Test::new().file("plan.yaml", PLAN).file("hooks/10-db", "");
    let tools = without_tools(&t);
    let out = t
        .snapplan(&["check", "plan.yaml", "--format", "json"])
        .env("SNAPPLAN_TOOL_PATH", &tools)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).expect("JSON on stdout");
    assert_eq!(doc["ok"], false);
    let checks = doc["checks"].as_array().unwrap();
    let status_of = |check: &str, subject: &str| {
        checks
            .iter()
            .find(|c| c["check"] == check && c["subject"].as_str().unwrap().ends_with(subject))
            .map(|c| c["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status_of("tool", "lvm").as_deref(), Some("fail"));
    assert_eq!(status_of("lvm_state", "lvs/vgs").as_deref(), Some("fail"));
    // The hook exists but is not executable.
    assert_eq!(status_of("hooks", "10-db").as_deref(), Some("fail"));
    // No state dir: no run can hold the lock, and check creates nothing.
    assert_eq!(status_of("lock", "nightly.lock").as_deref(), Some("pass"));
    assert!(!t.path("state").exists());
}

#[test]
fn a_held_lock_fails_the_check_naming_the_holder() {
    let t = Test::new()
        .file("plan.yaml", PLAN)
        .file("state/nightly.lock", "");
    std::fs::create_dir_all(t.path("hooks")).unwrap();
    let tools = without_tools(&t);
    let lock = std::fs::File::open(t.path("state/nightly.lock")).unwrap();
    lock.lock().unwrap();
    t.snapplan(&["check", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", &tools)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "held by pid {}",
            std::process::id()
        )));
}

#[test]
fn a_fake_lvm_that_fails_is_reported_with_its_command_and_stderr() {
    use std::os::unix::fs::PermissionsExt;
    let t = Test::new().file("plan.yaml", PLAN).file(
        "bin/lvm",
        "#!/bin/sh\necho '  /dev/mapper/control: open failed: No such device' >&2\nexit 5\n",
    );
    std::fs::create_dir_all(t.path("hooks")).unwrap();
    std::fs::set_permissions(t.path("bin/lvm"), std::fs::Permissions::from_mode(0o755)).unwrap();
    t.snapplan(&["check", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", t.path("bin"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("lvm lvs --reportformat json"))
        .stdout(predicate::str::contains("exit status 5"))
        .stdout(predicate::str::contains("/dev/mapper/control: open failed"));
}
