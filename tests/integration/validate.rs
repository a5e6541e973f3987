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

/// A small JSON Schema checker for the keywords the plan schema uses, so
/// that the schema itself is tested against real plans: it must accept
/// every plan in plans/ and refuse plans that snapplan refuses for their
/// shape.
fn schema_errors(
    schema: &serde_json::Value,
    root: &serde_json::Value,
    value: &serde_json::Value,
    at: &str,
) -> Vec<String> {
    use serde_json::Value;
    let mut errors = Vec::new();
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/definitions/");
        return schema_errors(&root["definitions"][name], root, value, at);
    }
    for sub in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        errors.extend(schema_errors(sub, root, value, at));
    }
    let type_ok = match schema.get("type").and_then(Value::as_str) {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("boolean") => value.is_boolean(),
        Some("integer") => value.is_i64() || value.is_u64(),
        _ => true,
    };
    if !type_ok {
        errors.push(format!("{at}: wrong type"));
        return errors;
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
        && let Some(text) = value.as_str()
        && !regex::Regex::new(pattern).unwrap().is_match(text)
    {
        errors.push(format!("{at}: {text:?} does not match {pattern}"));
    }
    if let Some(min) = schema.get("minimum").and_then(Value::as_u64)
        && value.as_u64().is_some_and(|n| n < min)
    {
        errors.push(format!("{at}: below minimum"));
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_u64)
        && value.as_u64().is_some_and(|n| n > max)
    {
        errors.push(format!("{at}: above maximum"));
    }
    if let Some(items) = value.as_array() {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            errors.push(format!("{at}: too few items"));
        }
        for (i, item) in items.iter().enumerate() {
            errors.extend(schema_errors(
                &schema["items"],
                root,
                item,
                &format!("{at}[{i}]"),
            ));
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !object.contains_key(required.as_str().unwrap()) {
                errors.push(format!("{at}: missing {required}"));
            }
        }
        for (key, item) in object {
            match properties.get(key) {
                Some(sub) => errors.extend(schema_errors(sub, root, item, &format!("{at}.{key}"))),
                None if schema["additionalProperties"] == Value::Bool(false) => {
                    errors.push(format!("{at}: unknown key {key}"))
                }
                None => {}
            }
        }
    }
    errors
}

#[test]
fn schema_accepts_the_example_plans_and_refuses_misshapen_ones() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("schemas/plan.schema.json")).unwrap(),
    )
    .unwrap();
    let check = |yaml: &str| {
        let value: serde_json::Value = serde_saphyr::from_str(yaml).unwrap();
        schema_errors(&schema, &schema, &value, "plan")
    };
    for plan in ["plans/home-server.yaml", "plans/minimal.yaml"] {
        let text = std::fs::read_to_string(repo_root().join(plan)).unwrap();
        assert_eq!(check(&text), Vec::<String>::new(), "{plan}");
    }
    for (file, expected) in [
        ("unknown-top-level-key.yaml", "unknown key volume"),
        ("misplaced-key.yaml", "unknown key snapshot_size"),
        ("unsupported-version.yaml", "above maximum"),
        ("size-without-unit.yaml", "wrong type"),
        ("rate-without-per-second.yaml", "does not match"),
        ("duration-combined-units.yaml", "does not match"),
        ("plan-name-path-trick.yaml", "does not match"),
        ("relative-directories.yaml", "does not match"),
        ("no-volumes.yaml", "too few items"),
        ("missing-keys.yaml", "missing \"name\""),
        ("wrong-types.yaml", "wrong type"),
    ] {
        let text =
            std::fs::read_to_string(repo_root().join("tests/invalid_plans").join(file)).unwrap();
        let errors = check(&text);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{file}: expected {expected:?}, got {errors:?}"
        );
    }
}
