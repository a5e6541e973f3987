//! `snapplan apply`, `recover` and `verify PLAN` from the outside, where no
//! LVM is needed. Real LVM is proven by tests/vm/apply_*.sh.

use std::io::Write;
use std::process::{Command, Stdio};

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

/// A hook that leaves a marker when it is called at all.
const HOOK: &str = "#!/bin/sh\necho \"$1 $SNAPPLAN_PLAN\" >> \"$(dirname \"$0\")/../called\"\n";

fn with_hook() -> Test {
    let t = Test::new()
        .file("plan.yaml", PLAN)
        .file("hooks/10-db", HOOK);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        t.path("hooks/10-db"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::create_dir_all(t.path("no-tools")).unwrap();
    t
}

#[test]
fn an_invalid_plan_exits_2_and_runs_nothing() {
    let t = Test::new().file("plan.yaml", "version: 1\nname: [\n");
    t.snapplan(&["apply", "plan.yaml"]).assert().code(2);
    t.snapplan(&["recover", "plan.yaml"]).assert().code(2);
}

#[test]
fn without_lvm_tools_the_preflight_fails_and_no_hook_is_called() {
    let t = with_hook();
    t.snapplan(&["apply", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", t.path("no-tools"))
        .write_stdin("")
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("`lvm` not found"))
        .stderr(predicate::str::contains("nothing was changed"))
        .stderr(predicate::str::contains("panicked").not());
    assert!(!t.path("called").exists(), "a hook ran");
    assert!(!t.path("state/nightly/journal.jsonl").exists());
    // The failed night is in the run history, with the failing checks.
    let runs: Vec<_> = std::fs::read_dir(t.path("state/nightly/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1);
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&runs[0]).unwrap()).unwrap();
    assert_eq!(record["ending"], "preflight_failed");
    assert_eq!(record["exit_code"], 1);
    assert!(record["problems"][0].as_str().unwrap().contains("lvm"));
}

#[test]
fn json_logs_are_one_object_per_line() {
    let t = with_hook();
    let out = t
        .snapplan(&["--log-format", "json", "apply", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", t.path("no-tools"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let json_lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(json_lines.iter().any(|v| v["level"] == "ERROR"), "{stderr}");
}

#[test]
fn a_held_lock_exits_3_naming_the_holder() {
    let t = with_hook();
    std::fs::create_dir_all(t.path("state")).unwrap();
    let lock = t.path("state/nightly.lock");
    std::fs::write(&lock, "").unwrap();
    // Held by a process that is not snapplan: flock(1), which writes its
    // shell's PID into the file the way apply does.
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args([
            "sh",
            "-c",
            "echo $$ > \"$0\"; read line",
            lock.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("flock(1)");
    let mut pid = String::new();
    for _ in 0..200 {
        pid = std::fs::read_to_string(&lock).unwrap().trim().to_string();
        if !pid.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!pid.is_empty());
    // The kernel's holder is flock(1) itself (its child sh wrote its own
    // PID): /proc/locks comes first.
    let pid = holder.id();
    t.snapplan(&["apply", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", t.path("no-tools"))
        .assert()
        .code(3)
        .stderr(predicate::str::contains(format!("process {pid}: flock")));
    t.snapplan(&["recover", "plan.yaml"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(format!("process {pid}: flock")));
    assert!(!t.path("called").exists());
    holder.stdin.take().unwrap().write_all(b"done\n").unwrap();
    holder.wait().unwrap();
}

#[test]
fn the_remove_phase_without_a_terminal_needs_yes() {
    let t = with_hook();
    t.snapplan(&["apply", "--phase", "remove", "plan.yaml"])
        .write_stdin("")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--yes"));
    assert!(!t.path("state").exists());
}

#[test]
fn recover_with_nothing_left_exits_0() {
    let t = with_hook();
    t.snapplan(&["recover", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", t.path("no-tools"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("nothing to recover"));
}

#[test]
fn verify_plan_names_an_unknown_volume_and_a_missing_manifest() {
    let t = with_hook();
    t.snapplan(&["verify", "plan.yaml", "--volume", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("home"));
    t.snapplan(&["verify", "plan.yaml"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("home: FAILED"));
}

#[test]
fn check_reports_the_journal_of_a_dead_run() {
    let t = with_hook().file(
        "state/nightly/journal.jsonl",
        "{\"event\":\"run_started\",\"run_id\":\"20261127T030000Z-42\",\"plan\":\"nightly\",\"pid\":42,\"phases\":[\"backup\"],\"at\":0}\n\
         {\"event\":\"hook_started\",\"hook\":\"{dir}/hooks/10-db\",\"action\":\"suspend\"}\n",
    );
    t.snapplan(&["check", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", t.path("no-tools"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "20261127T030000Z-42 did not finish",
        ))
        .stdout(predicate::str::contains("10-db"))
        .stdout(predicate::str::contains("snapplan recover"));
}

#[test]
fn recover_resumes_the_hook_a_dead_run_left_suspended() {
    let t = with_hook().file(
        "state/nightly/journal.jsonl",
        "{\"event\":\"run_started\",\"run_id\":\"20261127T030000Z-42\",\"plan\":\"nightly\",\"pid\":42,\"phases\":[\"backup\"],\"at\":0}\n\
         {\"event\":\"hook_started\",\"hook\":\"{dir}/hooks/10-db\",\"action\":\"suspend\"}\n",
    );
    // No lvm here: the hook is resumed all the same; the snapshots cannot
    // be looked for, so recovery is incomplete (exit 5) and says so.
    t.snapplan(&["recover", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", t.path("no-tools"))
        .assert()
        .code(5)
        .stdout(predicate::str::contains("resumed hook"))
        .stdout(predicate::str::contains("NOT recovered"));
    assert_eq!(
        std::fs::read_to_string(t.path("called")).unwrap(),
        "resume nightly\n"
    );
    // The journal stays open for the next try.
    assert!(t.path("state/nightly/journal.jsonl").exists());
}

/// Two applies started at the same moment: the one locked out names the
/// PID of the one that holds the lock, even when it looks before the
/// winner wrote its PID into the lock file. The winner holds the lock
/// while it resumes a hook a dead run left suspended (the hook sleeps).
#[test]
fn of_two_applies_started_together_the_loser_names_the_winners_pid() {
    use std::os::unix::fs::PermissionsExt;
    const SLOW_HOOK: &str = "#!/bin/sh\nsleep 0.3\n";
    let t = Test::new()
        .file("plan.yaml", PLAN)
        .file("hooks/10-db", SLOW_HOOK);
    std::fs::set_permissions(
        t.path("hooks/10-db"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::create_dir_all(t.path("no-tools")).unwrap();
    let dead_journal = format!(
        "{{\"event\":\"run_started\",\"run_id\":\"20261127T030000Z-42\",\"plan\":\"nightly\",\"pid\":42,\"phases\":[\"backup\"],\"at\":0}}\n\
         {{\"event\":\"hook_started\",\"hook\":\"{}\",\"action\":\"suspend\"}}\n",
        t.path("hooks/10-db").display()
    );
    let bin = assert_cmd::cargo::cargo_bin("snapplan");
    let mut locked_out = 0;
    for round in 0..15 {
        std::fs::create_dir_all(t.path("state/nightly")).unwrap();
        std::fs::write(t.path("state/nightly/journal.jsonl"), &dead_journal).unwrap();
        let start = || {
            Command::new(&bin)
                .current_dir(t.dir())
                .args(["apply", "plan.yaml"])
                .env("SNAPPLAN_TOOL_PATH", t.path("no-tools"))
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("snapplan")
        };
        let (a, b) = (start(), start());
        let (a_pid, b_pid) = (a.id(), b.id());
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        for (loser, winner_pid) in [(&a, b_pid), (&b, a_pid)] {
            if loser.status.code() == Some(3) {
                locked_out += 1;
                let stderr = String::from_utf8_lossy(&loser.stderr);
                assert!(
                    stderr.contains(&format!("process {winner_pid}")),
                    "round {round}: the locked-out run does not name pid {winner_pid}: {stderr}"
                );
            }
        }
    }
    assert!(locked_out > 0, "no round had one apply locked out");
}
