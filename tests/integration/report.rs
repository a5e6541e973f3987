//! `snapplan report` on run records written with the real types apply uses
//! (`snapplan::state::runs`), so a change of the record format breaks
//! these tests instead of the report in production.

use predicates::prelude::*;
use snapplan::state::runs::{RunRecord, VolumeResult, VolumeStatus, save_record};

use crate::support::Test;

const PLAN: &str = "\
version: 1
name: nightly
state_dir: {dir}/state
target:
  vg: backup
volumes:
  - lv: vg0/root
  - lv: vg0/home
";

/// A run of plan `plan` on day `day` of November 2026, 03:00 UTC.
fn run(plan: &str, day: u64, exit_code: u8, volumes: Vec<VolumeResult>) -> RunRecord {
    let started_at = 1_793_502_000 + (day - 1) * 86_400;
    RunRecord {
        run_id: format!("202611{day:02}T030000Z-{}", 1000 + day),
        plan: plan.into(),
        phases: vec!["backup".into()],
        started_at,
        finished_at: started_at + 600,
        exit_code: Some(exit_code),
        ending: "completed".into(),
        volumes,
        problems: vec![],
        recovery: None,
        notes: vec![],
    }
}

fn ok(name: &str) -> VolumeResult {
    let mut v = VolumeResult::new(name);
    v.status = VolumeStatus::Ok;
    v.size_bytes = 2 << 30;
    v.duration_seconds = 40.0;
    v.bytes_written = 100 << 20;
    v.snapshot_peak_percent = Some(3.5);
    v.verified = true;
    v
}

fn failed(name: &str, reason: &str) -> VolumeResult {
    let mut v = VolumeResult::new(name);
    v.status = VolumeStatus::Failed;
    v.size_bytes = 2 << 30;
    v.duration_seconds = 4.0;
    v.snapshot_peak_percent = Some(100.0);
    v.reason = Some(reason.into());
    v
}

fn save(t: &Test, record: &RunRecord) {
    let path = t
        .path("state")
        .join(&record.plan)
        .join("runs")
        .join(format!("{}.json", record.run_id));
    save_record(&path, record).unwrap();
}

fn stdout_of(t: &Test, args: &[&str], code: i32) -> String {
    let out = t.snapplan(args).assert().code(code).get_output().clone();
    String::from_utf8(out.stdout)
        .unwrap()
        .replace(&t.dir().display().to_string(), "[DIR]")
}

#[test]
fn last_runs_newest_first_failures_first() {
    let t = Test::new().file("plan.yaml", PLAN);
    save(&t, &run("nightly", 1, 0, vec![ok("root"), ok("home")]));
    save(
        &t,
        &run(
            "nightly",
            8,
            4,
            vec![
                ok("root"),
                failed("home", "snapshot vg0/home-snapplan became INVALID"),
            ],
        ),
    );
    save(&t, &run("nightly", 15, 1, vec![]));
    let text = stdout_of(&t, &["report", "plan.yaml", "--last", "2"], 0);
    insta::assert_snapshot!(text);
    assert!(!text.contains("20261101"), "only the last 2 runs: {text}");
}

#[test]
fn json_carries_the_records() {
    let t = Test::new().file("plan.yaml", PLAN);
    save(&t, &run("nightly", 1, 0, vec![ok("root"), ok("home")]));
    let text = stdout_of(&t, &["report", "plan.yaml", "--format", "json"], 0);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let record: RunRecord = serde_json::from_value(doc["plans"][0]["runs"][0].clone()).unwrap();
    assert_eq!(record, run("nightly", 1, 0, vec![ok("root"), ok("home")]));
}

#[test]
fn no_runs_yet_is_said_and_exits_0() {
    let t = Test::new().file("plan.yaml", PLAN);
    let text = stdout_of(&t, &["report", "plan.yaml"], 0);
    assert!(text.contains("plan nightly: no runs yet"), "{text}");
    let empty = stdout_of(&t, &["report", "--state-dir", "state"], 0);
    assert!(empty.contains("no plan has run yet"), "{empty}");
}

#[test]
fn a_corrupt_record_is_named_and_skipped() {
    let t = Test::new().file("plan.yaml", PLAN).file(
        "state/nightly/runs/20261120T030000Z-1.json",
        "{\"run_id\": 3",
    );
    save(&t, &run("nightly", 8, 0, vec![ok("root")]));
    t.snapplan(&["report", "plan.yaml"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("run 20261108T030000Z-1008: OK"))
        .stdout(predicate::str::contains("skipped"))
        .stderr(predicate::str::contains("20261120T030000Z-1.json"));
}

#[test]
fn nothing_readable_exits_1() {
    let t = Test::new()
        .file("plan.yaml", PLAN)
        .file("state/nightly/runs/20261120T030000Z-1.json", "[]");
    t.snapplan(&["report", "plan.yaml"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("20261120T030000Z-1.json"));
}

#[test]
fn a_dead_run_without_record_is_shown() {
    let t = Test::new().file("plan.yaml", PLAN).file(
        "state/nightly/journal.jsonl",
        "{\"event\":\"run_started\",\"run_id\":\"20261122T030000Z-77\",\"plan\":\"nightly\",\"pid\":77,\"phases\":[\"backup\"],\"at\":1795316400}\n",
    );
    let text = stdout_of(&t, &["report", "plan.yaml"], 0);
    assert!(
        text.contains("run 20261122T030000Z-77 started 2026-11-22 03:00:00 UTC: DID NOT FINISH"),
        "{text}"
    );
}

#[test]
fn without_plan_every_plan_under_the_state_dir() {
    let t = Test::new();
    save(&t, &run("nightly", 1, 0, vec![ok("root")]));
    save(
        &t,
        &run("weekly", 2, 1, vec![failed("db", "copy failed: EIO")]),
    );
    let text = stdout_of(&t, &["report", "--state-dir", "state"], 0);
    let nightly = text.find("plan nightly:").expect("nightly shown");
    let weekly = text
        .find("plan weekly: last run FAILED")
        .expect("weekly shown");
    assert!(nightly < weekly, "{text}");
    assert!(text.contains("reason: copy failed: EIO"), "{text}");
}

#[test]
fn an_invalid_plan_exits_2() {
    let t = Test::new().file("plan.yaml", "version: 1\n");
    t.snapplan(&["report", "plan.yaml"]).assert().code(2);
}

/// `apply --metrics`: a run that fails its pre-flight (no lvm here) still
/// writes the metrics, with its exit code, and keeps each volume's last
/// success from the history.
#[test]
fn apply_writes_metrics_even_when_it_fails() {
    let t = Test::new().file("plan.yaml", PLAN);
    std::fs::create_dir_all(t.path("no-tools")).unwrap();
    std::fs::create_dir_all(t.path("textfile")).unwrap();
    let earlier = run("nightly", 1, 0, vec![ok("root"), ok("home")]);
    save(&t, &earlier);
    let metrics = t.path("textfile/snapplan-nightly.prom");
    t.snapplan(&["apply", "plan.yaml", "--metrics"])
        .arg(&metrics)
        .env("SNAPPLAN_TOOL_PATH", t.path("no-tools"))
        .assert()
        .code(1);
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.contains("snapplan_last_run_exit_code{plan=\"nightly\"} 1\n"),
        "{text}"
    );
    let success = format!(
        "snapplan_volume_last_success_timestamp_seconds{{plan=\"nightly\",volume=\"home\"}} {}\n",
        earlier.finished_at
    );
    assert!(text.contains(&success), "{text}");
    let files: Vec<_> = std::fs::read_dir(t.path("textfile"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, ["snapplan-nightly.prom"], "no temp file left");
}
