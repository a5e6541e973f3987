//! `snapplan validate` and `snapplan schema`, and the plan language's
//! diagnostics, seen from the outside.

use std::path::Path;

use predicates::prelude::*;
use predicates::str::contains;

use crate::support::{Test, repo_root};

const VALID: &str = "\
version: 1
name: home
target:
  vg: backup
volumes:
  - lv: vg0/root
  - lv: vg0/home
";

#[test]
fn valid_plans_exit_0_with_one_line_each() {
    Test::new()
        .file("a.yaml", VALID)
        .file("b.yaml", &VALID.replace("  - lv: vg0/home\n", ""))
        .snapplan(&["validate", "a.yaml", "b.yaml"])
        .assert()
        .code(0)
        .stdout("a.yaml: valid (2 volumes)\nb.yaml: valid (1 volume)\n")
        .stderr("");
}

#[test]
fn every_plan_in_plans_dir_is_valid() {
    let mut plans: Vec<_> = std::fs::read_dir(repo_root().join("plans"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    plans.sort();
    assert!(plans.len() >= 2, "plans/ should hold the example plans");
    for plan in &plans {
        if let Err(e) = snapplan::plan::load(plan) {
            panic!("{}", snapplan::plan::diagnostic::render_plain(&e));
        }
        let text = std::fs::read_to_string(plan).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schemas/plan.schema.json\n"),
            "{} lacks the $schema comment on its first line",
            plan.display()
        );
    }
    let mut args = vec!["validate".to_string()];
    args.extend(plans.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Test::new().snapplan(&args).assert().code(0);
}

#[test]
fn home_server_plan_says_what_the_original_tool_did() {
    let plan = snapplan::plan::load(&repo_root().join("plans/home-server.yaml")).unwrap();
    let names: Vec<_> = plan.volumes.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["vcr", "root", "home"], "fastest-changing first");
    assert_eq!(
        plan.volumes[0].snapshot_size,
        snapplan::plan::SnapshotSize::Bytes(8 << 30)
    );
    assert!(plan.target.iscsi.is_some() && plan.target.export && plan.hooks.is_some());
    assert!(
        plan.volumes
            .iter()
            .all(|v| v.bandwidth != snapplan::plan::Bandwidth::Unlimited),
        "throttled"
    );
}

#[test]
fn unknown_after_name_shows_file_line_column_and_suggestion() {
    Test::new()
        .file("home.yaml", &format!("{VALID}    after: [roots]\n"))
        .snapplan(&["validate", "home.yaml"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(contains("home.yaml:8:13"))
        .stderr(contains("`after:` names `roots`"))
        .stderr(contains("did you mean `root`?"));
}

#[test]
fn all_problems_of_a_file_are_reported_at_once() {
    let plan = "\
version: 3
name: Home
defaults:
  bandwith: 60MiB/s
target:
  vg: backup
volumes:
  - lv: vg0/root
    snapshot_size: 2GB
  - lv: vg0/home
    after: [nope]
";
    let assert = Test::new()
        .file("bad.yaml", plan)
        .snapplan(&["validate", "bad.yaml"])
        .assert()
        .code(2);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    for expected in [
        "5 problems",
        "bad.yaml:1:10",
        "plan version 3 is not supported",
        "bad.yaml:2:7",
        "bad.yaml:4:3",
        "did you mean `bandwidth`?",
        "bad.yaml:9:20",
        "bad.yaml:11:13",
    ] {
        assert!(
            stderr.contains(expected),
            "{expected:?} missing in:\n{stderr}"
        );
    }
}

#[test]
fn every_file_is_reported_not_only_the_first_bad_one() {
    Test::new()
        .file("bad1.yaml", "version: 1\n")
        .file("good.yaml", VALID)
        .file("bad2.yaml", &VALID.replace("vg0/home", "home"))
        .snapplan(&["validate", "bad1.yaml", "good.yaml", "bad2.yaml"])
        .assert()
        .code(2)
        .stdout("good.yaml: valid (2 volumes)\n")
        .stderr(contains("bad1.yaml is not a valid plan"))
        .stderr(contains("bad2.yaml:7:9"));
}

#[test]
fn unreadable_plans_are_clear_diagnostics() {
    let test = Test::new().file("dir/x", "");
    test.snapplan(&["validate", "missing.yaml"])
        .assert()
        .code(2)
        .stderr(contains("cannot read plan missing.yaml"))
        .stderr(contains("check the path"));
    test.snapplan(&["validate", "dir"])
        .assert()
        .code(2)
        .stderr(contains("it is a directory"));
}

#[test]
fn huge_files_are_refused_before_parsing() {
    let big = format!("{VALID}# {}\n", "x".repeat(2 << 20));
    Test::new()
        .file("big.yaml", &big)
        .snapplan(&["validate", "big.yaml"])
        .assert()
        .code(2)
        .stderr(contains("too large"));
}

#[test]
fn validate_needs_a_plan_and_has_examples() {
    Test::new().snapplan(&["validate"]).assert().code(2);
    Test::new()
        .snapplan(&["validate", "--help"])
        .assert()
        .code(0)
        .stdout(contains("Examples:").and(contains("snapplan validate plans/*.yaml")));
    Test::new()
        .snapplan(&["schema", "--help"])
        .assert()
        .code(0)
        .stdout(contains("Examples:"));
}

#[test]
fn schema_file_is_in_sync_with_snapplan_schema() {
    let output = Test::new().snapplan(&["schema"]).assert().code(0);
    let printed = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    let stored =
        std::fs::read_to_string(repo_root().join("schemas/plan.schema.json")).unwrap_or_default();
    assert!(
        printed == stored,
        "schemas/plan.schema.json is out of date: run `cargo run -- schema > schemas/plan.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
}

/// Every bad plan in tests/invalid_plans/ is refused with a diagnostic that
/// points into the file; the rendered diagnostics are snapshots.
#[test]
fn invalid_plans_have_located_diagnostics() {
    let dir = repo_root().join("tests/invalid_plans");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "only {} invalid plans", files.len());
    for file in &files {
        // Relative to the package root (cargo's working directory for
        // tests), so that snapshots do not depend on where the checkout is.
        let relative = format!("tests/invalid_plans/{file}");
        let error = match snapplan::plan::load(Path::new(&relative)) {
            Ok(_) => panic!("{relative} is accepted but should be refused"),
            Err(e) => e,
        };
        let rendered = snapplan::plan::diagnostic::render_plain(&error);
        assert!(
            rendered.contains(&format!("[{relative}:")),
            "{relative}: diagnostic names no line:column:\n{rendered}"
        );
        let stem = file.trim_end_matches(".yaml");
        insta::with_settings!({
            snapshot_suffix => stem,
            description => format!("snapplan validate {relative}"),
            omit_expression => true,
        }, {
            insta::assert_snapshot!("invalid_plan", rendered);
        });
    }
}
