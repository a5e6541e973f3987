//! The machine-readable outputs as contracts: schemas/ is what `snapplan
//! schema KIND` prints, and real output of each command validates against
//! its schema (with the `jsonschema` crate, as a consumer would).

use crate::support::{Test, repo_root};

const KINDS: [(&str, &str); 6] = [
    ("plan", "plan.schema.json"),
    ("plan-output", "plan-output.schema.json"),
    ("check", "check.schema.json"),
    ("report", "report.schema.json"),
    ("run-record", "run-record.schema.json"),
    ("generations", "generations.schema.json"),
];

const PLAN: &str = "\
version: 1
name: nightly
state_dir: {dir}/state
target:
  vg: backup
volumes:
  - lv: vg0/home
";

fn stored(file: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(repo_root().join("schemas").join(file)).unwrap())
        .unwrap()
}

fn assert_valid(file: &str, document: &serde_json::Value) {
    let validator = jsonschema::draft7::new(&stored(file)).expect("a valid draft-07 schema");
    let errors: Vec<String> = validator
        .iter_errors(document)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert_eq!(errors, Vec::<String>::new(), "{file} rejects real output");
}

#[test]
fn every_schema_file_is_what_snapplan_schema_prints() {
    for (kind, file) in KINDS {
        let out = Test::new().snapplan(&["schema", kind]).assert().code(0);
        let printed = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        let on_disk =
            std::fs::read_to_string(repo_root().join("schemas").join(file)).unwrap_or_default();
        assert!(
            printed == on_disk,
            "schemas/{file} is out of date: run `cargo run -- schema {kind} > schemas/{file}`"
        );
    }
}

#[test]
fn plan_json_matches_its_schema() {
    let fixture = repo_root().join("tests/fixtures/graph/home-server.yaml");
    let out = Test::new()
        .snapplan(&["plan", fixture.to_str().unwrap(), "--format", "json"])
        .assert()
        .code(0);
    let document: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_valid("plan-output.schema.json", &document);
}

/// A pre-flight that fails (no LVM tools here) still writes every document:
/// check's report, a run record, and the report over it.
#[test]
fn check_report_and_run_record_match_their_schemas() {
    let t = Test::new().file("plan.yaml", PLAN);
    std::fs::create_dir_all(t.path("no-tools")).unwrap();
    let check = t
        .snapplan(&["check", "plan.yaml", "--format", "json"])
        .env("SNAPPLAN_TOOL_PATH", t.path("no-tools"))
        .assert()
        .code(1);
    let check: serde_json::Value = serde_json::from_slice(&check.get_output().stdout).unwrap();
    assert_eq!(check["format_version"], 1);
    assert_valid("check.schema.json", &check);

    t.snapplan(&["apply", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", t.path("no-tools"))
        .assert()
        .code(1);
    let records: Vec<_> = std::fs::read_dir(t.path("state/nightly/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(records.len(), 1);
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&records[0]).unwrap()).unwrap();
    assert_eq!(record["format_version"], 2);
    assert_valid("run-record.schema.json", &record);

    let report = t
        .snapplan(&["report", "plan.yaml", "--format", "json"])
        .assert()
        .code(0);
    let report: serde_json::Value = serde_json::from_slice(&report.get_output().stdout).unwrap();
    assert_eq!(report["format_version"], 2);
    assert_eq!(report["plans"][0]["runs"][0]["ending"], "preflight_failed");
    assert_valid("report.schema.json", &report);
}

/// A record from a newer snapplan is named and skipped, not misread.
#[test]
fn a_record_of_a_newer_format_is_skipped_with_its_reason() {
    let t = Test::new().file("plan.yaml", PLAN).file(
        "state/nightly/runs/20261201T030000Z-1.json",
        r#"{"format_version": 99, "run_id": "20261201T030000Z-1", "plan": "nightly",
            "phases": [], "started_at": 0, "finished_at": 0, "exit_code": 0,
            "ending": "completed", "volumes": [], "problems": []}"#,
    );
    t.snapplan(&["report", "plan.yaml"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("record format 99 is newer"));
}

/// The docs list every field of every output document.
#[test]
fn docs_list_every_top_level_field() {
    let docs = [
        ("plan-output.schema.json", "docs/plan.md"),
        ("check.schema.json", "docs/check.md"),
        ("report.schema.json", "docs/report.md"),
        ("run-record.schema.json", "docs/report.md"),
    ];
    for (file, doc) in docs {
        let text = std::fs::read_to_string(repo_root().join(doc)).unwrap();
        let schema = stored(file);
        for key in schema["properties"].as_object().unwrap().keys() {
            assert!(
                text.contains(&format!("| `{key}` |")),
                "{doc} lacks a row for `{key}` of {file}"
            );
        }
    }
}
