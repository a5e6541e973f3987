//! The state directory from the outside: a journal that cannot be read is
//! seen by check, report and apply alike, and recover has a documented way
//! out (issue 10 item 5).

use predicates::prelude::*;

use crate::support::Test;

const PLAN: &str = "\
version: 1
name: nightly
state_dir: {dir}/state
target:
  vg: backup
volumes:
  - lv: vg0/home
";

fn without_tools(t: &Test) -> String {
    std::fs::create_dir_all(t.path("no-tools")).unwrap();
    t.path("no-tools").display().to_string()
}

fn journal_row(t: &Test, tools: &str) -> Option<serde_json::Value> {
    let out = t
        .snapplan(&["check", "plan.yaml", "--format", "json"])
        .env("SNAPPLAN_TOOL_PATH", tools)
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == "journal")
        .cloned()
}

#[test]
fn a_garbage_journal_fails_check_shows_in_report_and_recover_discard_journal_sets_it_aside() {
    let t = Test::new().file("plan.yaml", PLAN).file(
        "state/nightly/journal.jsonl",
        "{\"event\":\"run_started\"\ngarbage\n",
    );
    let tools = without_tools(&t);
    let row = journal_row(&t, &tools).expect("check reports the journal");
    assert_eq!(row["status"], "fail");
    assert!(
        row["advice"]
            .as_str()
            .unwrap()
            .contains("--discard-journal")
    );

    t.snapplan(&["report", "plan.yaml"])
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .stdout(predicate::str::contains("PROBLEM:"))
        .stdout(predicate::str::contains("line 1"));

    t.snapplan(&["apply", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", &tools)
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .code(5)
        .stderr(predicate::str::contains("--discard-journal"));

    t.snapplan(&["recover", "--discard-journal", "plan.yaml"])
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("garbage"))
        .stdout(predicate::str::contains("set aside as"));
    assert!(!t.path("state/nightly/journal.jsonl").exists());
    assert!(journal_row(&t, &tools).is_none(), "the journal row is gone");
}

#[test]
fn a_fifo_journal_does_not_hang_report_check_or_apply() {
    let t = Test::new().file("plan.yaml", PLAN);
    std::fs::create_dir_all(t.path("state/nightly")).unwrap();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        t.path("state/nightly/journal.jsonl"),
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let tools = without_tools(&t);
    let row = journal_row(&t, &tools).expect("check reports the journal");
    assert!(row["detail"].as_str().unwrap().contains("FIFO"), "{row}");
    t.snapplan(&["report", "plan.yaml"])
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .stdout(predicate::str::contains("FIFO"));
    t.snapplan(&["apply", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", &tools)
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .code(5);
}

#[test]
fn a_lock_file_symlinked_to_a_root_file_is_not_truncated() {
    let t = Test::new()
        .file("plan.yaml", PLAN)
        .file("precious", "root's data\n");
    std::fs::create_dir_all(t.path("state")).unwrap();
    std::os::unix::fs::symlink(t.path("precious"), t.path("state/nightly.lock")).unwrap();
    let tools = without_tools(&t);
    t.snapplan(&["apply", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", &tools)
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("symbolic link"));
    assert_eq!(
        std::fs::read_to_string(t.path("precious")).unwrap(),
        "root's data\n"
    );
}

/// issue 10 item 4: a 0777 hook, or one in a world-writable hooks
/// directory, ran as root and check said "pass".
#[test]
fn a_world_writable_hook_or_hooks_dir_fails_check_naming_the_file_and_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let plan = PLAN.replace("target:", "hooks:\n  dir: {dir}/hooks\ntarget:");
    let t = Test::new()
        .file("plan.yaml", &plan)
        .file("hooks/10-db", "#!/bin/sh\n");
    let hook = t.path("hooks/10-db");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o777)).unwrap();
    let tools = without_tools(&t);
    let rows = |t: &Test| -> Vec<serde_json::Value> {
        let out = t
            .snapplan(&["check", "plan.yaml", "--format", "json"])
            .env("SNAPPLAN_TOOL_PATH", &tools)
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["checks"].as_array().unwrap().clone()
    };
    let found = rows(&t);
    let bad = found
        .iter()
        .find(|c| c["check"] == "hooks" && c["status"] == "fail")
        .expect("a failing hooks row");
    assert!(
        bad["subject"].as_str().unwrap().ends_with("hooks/10-db"),
        "{bad}"
    );
    assert!(bad["advice"].as_str().unwrap().starts_with("chmod go-w "));

    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(t.path("hooks"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let found = rows(&t);
    let bad = found
        .iter()
        .find(|c| c["check"] == "hooks" && c["status"] == "fail")
        .expect("a failing hooks row for the directory");
    assert!(
        bad["detail"]
            .as_str()
            .unwrap()
            .contains("writable by everyone"),
        "{bad}"
    );
}
