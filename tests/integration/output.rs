//! Where output goes: a closed pipe, `--log-format json`, and the journal.

use std::process::{Command, Stdio};

use crate::support::Test;

const PLAN: &str = "\
version: 1
name: nightly
state_dir: {dir}/state
target:
  vg: backup
volumes:
  - lv: vg0/home
  - lv: vg0/root
";

fn snapplan(t: &Test, args: &[&str]) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("snapplan"));
    cmd.current_dir(t.dir())
        .env("NO_COLOR", "1")
        .env_remove("JOURNAL_STREAM")
        .env("SNAPPLAN_TOOL_PATH", t.path("no-tools"))
        .args(args);
    cmd
}

fn failed_night() -> Test {
    let t = Test::new().file("plan.yaml", PLAN);
    std::fs::create_dir_all(t.path("no-tools")).unwrap();
    t
}

/// `snapplan report --format json | head -1` and the like: the reader is
/// gone before snapplan writes (the pipe's read end is closed before it
/// starts), and snapplan ends with its usual status, without a panic.
#[test]
fn a_closed_stdout_ends_quietly_with_the_usual_status() {
    let t = failed_night();
    let status = snapplan(&t, &["apply", "plan.yaml"])
        .output()
        .unwrap()
        .status;
    assert_eq!(status.code(), Some(1), "a failed night to report on");
    for (args, code) in [
        (&["report", "plan.yaml", "--format", "json"][..], 0),
        (&["report", "plan.yaml"][..], 0),
        (&["plan", "plan.yaml", "--format", "json"][..], 0),
        (&["schema"][..], 0),
        (&["validate", "plan.yaml"][..], 0),
        (&["check", "plan.yaml", "--format", "json"][..], 1),
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = snapplan(&t, args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
}

/// With `--log-format json` every line of stderr is a JSON object with its
/// message at the top level: the pre-flight's findings and a bad plan's
/// diagnostics too, and every event of a run carries the `run` span with
/// the plan and the run id of the record it wrote.
#[test]
fn json_logs_hold_only_json_lines_each_in_the_run_span() {
    let t = failed_night();
    let out = snapplan(&t, &["--log-format", "json", "apply", "plan.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let record = std::fs::read_dir(t.path("state/nightly/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let run_id = record.file_stem().unwrap().to_str().unwrap().to_string();
    assert!(events.len() >= 3, "{stderr}");
    for event in &events {
        assert!(
            event["message"].is_string(),
            "message not at top level: {event}"
        );
        assert!(event.get("fields").is_none(), "{event}");
        assert_eq!(event["span"]["name"], "run", "{event}");
        assert_eq!(event["span"]["plan"], "nightly", "{event}");
        assert_eq!(event["span"]["run_id"], run_id.as_str(), "{event}");
    }
    // The pre-flight table became one event per finding.
    assert!(
        events
            .iter()
            .any(|e| e["check"] == "tool" && e["subject"] == "lvm" && e["status"] == "fail"),
        "{stderr}"
    );

    let bad = Test::new().file("bad.yaml", "version: 1\nname: Bad Name\n");
    let out = snapplan(&bad, &["--log-format", "json", "validate", "bad.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let name = events
        .iter()
        .find(|e| e["code"] == "plan::bad_name")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(name["at"], "bad.yaml:2:7");
    assert!(name["help"].is_string());
}

/// Under systemd (stderr is the stream `JOURNAL_STREAM` names) every log
/// line starts with its syslog priority and has no timestamp of its own;
/// the same variable inherited by a process whose stderr went elsewhere
/// changes nothing.
#[test]
fn journal_lines_carry_their_priority_and_no_timestamp() {
    use std::os::unix::fs::MetadataExt;
    let t = failed_night();
    let log = t.path("journal-stream");
    let file = std::fs::File::create(&log).unwrap();
    let meta = file.metadata().unwrap();
    let status = snapplan(&t, &["apply", "plan.yaml"])
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stderr(Stdio::from(file))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    let failed = text
        .lines()
        .find(|l| l.contains("pre-flight failed"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(failed.starts_with("<3>ERROR run{plan=nightly"), "{failed}");
    let timestamp = regex::Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:").unwrap();
    assert!(!timestamp.is_match(&text), "a timestamp in {text}");
    assert!(text.lines().any(|l| l.starts_with("<4> WARN")), "{text}");

    let elsewhere = snapplan(&t, &["apply", "plan.yaml"])
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .output()
        .unwrap();
    let stderr = String::from_utf8(elsewhere.stderr).unwrap();
    assert!(!stderr.contains("<3>"), "{stderr}");
    assert!(stderr.contains("ERROR"), "{stderr}");
}
