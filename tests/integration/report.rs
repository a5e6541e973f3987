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

const POOL_PLAN: &str = "\
version: 1
name: nightly
state_dir: {dir}/state
target:
  vg: backup
  pool: gens
retention:
  keep_last: 2
volumes:
  - lv: vg0/root
  - lv: vg0/home
";

/// A pool plan whose VG backup (imported, visible) holds the pool gens
/// (`pool_use` as lvm2's data/metadata percent, `""` when inactive) and
/// root's generations `(id, state)`, answered by a stand-in `lvm` that
/// fails anything but a report. home has none.
fn pool(pool_use: (&str, &str), generations: &[(&str, &str)]) -> Test {
    use std::os::unix::fs::PermissionsExt;
    let t = Test::new().file("plan.yaml", POOL_PLAN);
    std::fs::create_dir_all(t.path("state")).unwrap();
    std::fs::set_permissions(t.path("state"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let (data, meta) = pool_use;
    let mut lvs = vec![format!(
        r#"{{"lv_name":"gens", "vg_name":"backup", "lv_size":"67108864", "lv_attr":"twi-aotz--", "segtype":"thin-pool", "origin":"", "pool_lv":"", "lv_tags":"", "data_percent":"{data}", "snap_percent":"", "metadata_percent":"{meta}", "lv_snapshot_invalid":"unknown", "lv_active":"active", "lv_device_open":""}}"#
    )];
    lvs.extend(generations.iter().map(|(id, state)| {
        format!(
            r#"{{"lv_name":"root.{id}", "vg_name":"backup", "lv_size":"4194304", "lv_attr":"Vwi---tz--", "segtype":"thin", "origin":"", "pool_lv":"gens", "lv_tags":"snapplan,snapplan-plan:nightly,snapplan-run:{id}-1,snapplan-role:generation,snapplan-state:{state}", "data_percent":"", "snap_percent":"", "metadata_percent":"", "lv_snapshot_invalid":"unknown", "lv_active":"", "lv_device_open":""}}"#
        )
    }));
    let vg = r#"{"vg_name":"backup", "vg_attr":"wz--n-", "vg_size":"62914560", "vg_free":"58720256", "vg_extent_size":"4194304", "vg_extent_count":"15", "vg_free_count":"14", "vg_exported":"", "vg_tags":""}"#;
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/calls\"\ncase $1 in\n lvs) echo '{{\"report\":[{{\"lv\":[{}]}}]}}' ;;\n pvs) echo '{{\"report\":[{{\"pvseg\":[]}}]}}' ;;\n vgs) echo '{{\"report\":[{{\"vg\":[{vg}]}}]}}' ;;\n *) exit 3 ;;\nesac\n",
        lvs.join(",")
    );
    let t = t.file("bin/lvm", &script);
    std::fs::set_permissions(t.path("bin/lvm"), std::fs::Permissions::from_mode(0o755)).unwrap();
    t
}

/// root: two complete generations, the newest of 2026-12-02 03:15:00
/// UTC. (An incomplete one would be removed by the recovery apply and
/// recover begin with, which the stand-in refuses.)
const ROOT_GENERATIONS: &[(&str, &str)] = &[
    ("20261201T031500Z", "complete"),
    ("20261202T031500Z", "complete"),
];
const NEWEST_COMPLETE_AT: u64 = 1_796_181_300;

fn metrics_of(t: &Test, command: &str, code: i32) -> String {
    let metrics = t.path("snapplan-nightly.prom");
    t.snapplan(&[command, "plan.yaml", "--metrics"])
        .arg(&metrics)
        .env("SNAPPLAN_TOOL_PATH", t.path("bin"))
        .assert()
        .code(code);
    std::fs::read_to_string(&metrics).unwrap()
}

/// The pre-flight fails (the stand-in has no origins), and still the
/// metrics read the generations and the pool from LVM.
#[test]
fn apply_metrics_of_a_pool_plan_have_each_volumes_generations_and_the_pools_use() {
    let t = pool(("45.50", "12.25"), ROOT_GENERATIONS);
    let text = metrics_of(&t, "apply", 1);
    for line in [
        "snapplan_generations{plan=\"nightly\",volume=\"root\"} 2\n".to_string(),
        "snapplan_generations{plan=\"nightly\",volume=\"home\"} 0\n".to_string(),
        format!(
            "snapplan_generation_newest_timestamp_seconds{{plan=\"nightly\",volume=\"root\"}} {NEWEST_COMPLETE_AT}\n"
        ),
        "snapplan_generation_newest_timestamp_seconds{plan=\"nightly\",volume=\"home\"} 0\n"
            .to_string(),
        "snapplan_pool_data_ratio{plan=\"nightly\",pool=\"backup/gens\"} 0.455\n".to_string(),
        "snapplan_pool_metadata_ratio{plan=\"nightly\",pool=\"backup/gens\"} 0.1225\n".to_string(),
        "snapplan_last_run_exit_code{plan=\"nightly\"} 1\n".to_string(),
    ] {
        assert!(text.contains(&line), "{line} missing in:\n{text}");
    }
}

#[test]
fn an_inactive_pool_has_no_ratio_and_lvm_failing_loses_no_other_metric() {
    let t = pool(("", ""), ROOT_GENERATIONS);
    save(&t, &run("nightly", 1, 0, vec![ok("root"), ok("home")]));
    let text = metrics_of(&t, "recover", 0);
    assert!(
        text.contains("snapplan_generations{plan=\"nightly\",volume=\"root\"} 2\n"),
        "{text}"
    );
    assert!(!text.contains("snapplan_pool_"), "{text}");

    // An lvm that fails every report.
    std::fs::write(t.path("bin/lvm"), "#!/bin/sh\necho broken >&2\nexit 5\n").unwrap();
    let text = metrics_of(&t, "recover", 0);
    assert!(!text.contains("snapplan_generation"), "{text}");
    assert!(
        text.contains("snapplan_last_run_exit_code{plan=\"nightly\"} 0\n"),
        "{text}"
    );
    assert!(
        text.contains("snapplan_volume_last_run_success{plan=\"nightly\",volume=\"home\"} 1\n"),
        "{text}"
    );
}

#[test]
fn report_of_a_pool_plan_shows_each_volumes_generations_the_pools_use_and_what_a_run_made() {
    let t = pool(("45.50", "12.25"), ROOT_GENERATIONS);
    let mut root = ok("root");
    root.generation = Some("backup/root.20261202T031500Z".into());
    root.generation_parent = Some("backup/root.20261201T031500Z".into());
    root.generations_pruned = vec!["20261125T031500Z".into()];
    save(&t, &run("nightly", 2, 0, vec![root, ok("home")]));
    let report = |extra: &[&str]| {
        let mut args = vec!["report", "plan.yaml"];
        args.extend_from_slice(extra);
        let out = t
            .snapplan(&args)
            .env("SNAPPLAN_TOOL_PATH", t.path("bin"))
            .assert()
            .code(0)
            .get_output()
            .clone();
        String::from_utf8(out.stdout).unwrap()
    };
    let text = report(&[]);
    assert!(
        text.contains(
            "  generations in pool backup/gens (data 45.5%, metadata 12.2%):\n    \
             root: 2 complete, newest 20261202T031500Z (2026-12-02 03:15:00 UTC)\n    \
             home: no complete generation\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("generation: backup/root.20261202T031500Z; pruned: 20261125T031500Z\n"),
        "{text}"
    );

    let doc: serde_json::Value = serde_json::from_str(&report(&["--format", "json"])).unwrap();
    assert_eq!(doc["format_version"], 2);
    let g = &doc["plans"][0]["generations"];
    assert_eq!(g["pool"], "backup/gens");
    assert_eq!(g["data_percent"], 45.5);
    assert_eq!(g["metadata_percent"], 12.25);
    assert_eq!(g["volumes"][0]["volume"], "root");
    assert_eq!(g["volumes"][0]["complete"], 2);
    assert_eq!(g["volumes"][0]["newest_complete"], "20261202T031500Z");
    assert_eq!(g["volumes"][0]["newest_complete_at"], NEWEST_COMPLETE_AT);
    assert_eq!(g["volumes"][1]["complete"], 0);
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::support::repo_root().join("schemas/report.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft7::new(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert_eq!(errors, Vec::<String>::new());
    // Only reports were asked for.
    let calls = std::fs::read_to_string(t.path("bin/calls")).unwrap();
    assert!(
        calls
            .lines()
            .all(|l| ["lvs ", "vgs ", "pvs "].iter().any(|r| l.starts_with(r))),
        "{calls}"
    );
}

#[test]
fn report_of_a_pool_plan_without_lvm_is_shown_with_a_note_and_exits_0() {
    let t = pool(("", ""), &[]);
    save(&t, &run("nightly", 2, 0, vec![ok("root"), ok("home")]));
    std::fs::create_dir_all(t.path("no-tools")).unwrap();
    let text = t
        .snapplan(&["report", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", t.path("no-tools"))
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("run 20261102T030000Z-1002: OK"), "{text}");
    assert!(
        text.contains(
            "  generations in pool backup/gens (use not readable):\n    note: cannot read the generations from LVM: "
        ),
        "{text}"
    );
}
