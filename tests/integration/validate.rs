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

/// The example for /etc/snapplan is plans/home-server.yaml with the
/// modeline of an installed plan: the schema where the package puts it.
#[test]
fn the_installed_example_differs_only_in_its_schema_path() {
    let in_repo = std::fs::read_to_string(repo_root().join("plans/home-server.yaml")).unwrap();
    let installed = std::fs::read_to_string(repo_root().join("examples/home-server.yaml")).unwrap();
    let (first, rest) = installed.split_once('\n').unwrap();
    assert_eq!(
        first,
        "# yaml-language-server: $schema=/usr/share/snapplan/plan.schema.json"
    );
    assert_eq!(Some(rest), in_repo.split_once('\n').map(|(_, r)| r));
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

/// The schema, checked by a real JSON Schema validator (the `jsonschema`
/// crate, draft-07) the way editors and check-jsonschema use it.
fn schema_validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("schemas/plan.schema.json")).unwrap(),
    )
    .unwrap();
    jsonschema::draft7::new(&schema).expect("the plan schema is a valid draft-07 schema")
}

/// The schema's complaints about a YAML text, or `None` when the text is
/// not one YAML document a schema could look at.
fn schema_errors(validator: &jsonschema::Validator, yaml: &str) -> Option<Vec<String>> {
    let value: serde_json::Value = serde_saphyr::from_str(yaml).ok()?;
    Some(
        validator
            .iter_errors(&value)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect(),
    )
}

/// Every plan snapplan accepts that the repository shows people: plans/,
/// the graph fixtures, and every ```yaml block of the docs and the README
/// that snapplan loads as a plan.
fn valid_plans() -> Vec<(String, String)> {
    let root = repo_root();
    let mut plans = Vec::new();
    for dir in ["plans", "tests/fixtures/graph", "examples"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let text = std::fs::read_to_string(&path).unwrap();
                plans.push((path.display().to_string(), text));
            }
        }
    }
    let mut docs = vec![root.join("README.md")];
    docs.extend(
        std::fs::read_dir(root.join("docs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    let scratch = tempfile::tempdir().unwrap();
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap();
        for (n, block) in text.split("```yaml\n").skip(1).enumerate() {
            let block = block.split("```").next().unwrap();
            let file = scratch.path().join("plan.yaml");
            std::fs::write(&file, block).unwrap();
            if snapplan::plan::load(&file).is_ok() {
                plans.push((format!("{} block {}", doc.display(), n + 1), block.into()));
            }
        }
    }
    plans
}

#[test]
fn the_schema_accepts_every_valid_plan() {
    let validator = schema_validator();
    let plans = valid_plans();
    assert!(plans.len() >= 5, "only {} valid plans found", plans.len());
    for (name, text) in plans {
        assert_eq!(
            schema_errors(&validator, &text),
            Some(Vec::new()),
            "the schema rejects {name}, a plan snapplan accepts"
        );
    }
}

/// tests/invalid_plans/ that the schema must reject: their fault is one of
/// shape (keys, types, required keys), pattern, range or length.
const SCHEMA_REJECTS: &[&str] = &[
    "duration-combined-units.yaml",
    "empty-plan.yaml",
    "hooks-zero-timeout.yaml",
    "iscsi-bad-portal-and-iqn.yaml",
    "lv-invalid-characters.yaml",
    "many-problems.yaml",
    "misplaced-key.yaml",
    "missing-key-and-bad-values.yaml",
    "missing-keys.yaml",
    "no-volumes.yaml",
    "null-value.yaml",
    "percent-out-of-range.yaml",
    "plan-name-path-trick.yaml",
    "rate-without-per-second.yaml",
    "relative-directories.yaml",
    "retention-keep-last-zero.yaml",
    "size-without-unit.yaml",
    "unknown-top-level-key.yaml",
    "unsupported-version.yaml",
    "version-not-a-number.yaml",
    "volume-as-string.yaml",
    "wrong-types.yaml",
];

/// tests/invalid_plans/ whose fault a JSON Schema cannot express, and why:
/// only snapplan's own checks find these (the schema may still refuse a
/// file for a second fault, as deep-nesting.yaml lacks `target`).
const OUT_OF_SCOPE: &[(&str, &str)] = &[
    (
        "retention-without-pool.yaml",
        "`retention:` without `target.pool` is a rule across two keys",
    ),
    (
        "after-cycle.yaml",
        "a cycle through `after:` is a cross-reference",
    ),
    (
        "after-self.yaml",
        "`after:` naming its own volume is a cross-reference",
    ),
    (
        "after-unknown-name.yaml",
        "`after:` naming no volume is a cross-reference",
    ),
    (
        "backup-over-origin.yaml",
        "the backup LV being an origin compares two keys",
    ),
    (
        "duplicate-source.yaml",
        "the same LV twice compares entries",
    ),
    (
        "duplicate-volume-name.yaml",
        "unique names across entries are a cross-reference",
    ),
    (
        "same-target-lv.yaml",
        "colliding backup LVs compare entries",
    ),
    (
        "size-overflow.yaml",
        "a size past 16 EiB is arithmetic, not a pattern",
    ),
    (
        "lv-reserved-names.yaml",
        "LVM's reserved LV names and parts (snapshot, _tmeta...) need negative look-ahead",
    ),
    (
        "alias-bomb.yaml",
        "YAML aliases are expanded before a schema sees a value",
    ),
    (
        "deep-nesting.yaml",
        "nesting depth is YAML's, refused before any schema",
    ),
    (
        "duplicate-key.yaml",
        "a YAML parser keeps one of two equal keys; the schema never sees both",
    ),
    ("not-utf8.yaml", "not text: no YAML document"),
    (
        "two-documents.yaml",
        "two YAML documents: a schema checks one",
    ),
    (
        "unknown-tag.yaml",
        "a YAML tag is gone once the document is JSON",
    ),
    ("yaml-syntax.yaml", "not YAML: no document"),
];

#[test]
fn the_schema_rejects_every_invalid_plan_whose_fault_it_can_express() {
    let validator = schema_validator();
    let dir = repo_root().join("tests/invalid_plans");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    for file in &files {
        let rejects = SCHEMA_REJECTS.contains(&file.as_str());
        let out_of_scope = OUT_OF_SCOPE.iter().any(|(f, _)| f == file);
        assert!(
            rejects != out_of_scope,
            "{file}: list it in exactly one of SCHEMA_REJECTS and OUT_OF_SCOPE"
        );
        let text = String::from_utf8_lossy(&std::fs::read(dir.join(file)).unwrap()).into_owned();
        let errors = schema_errors(&validator, &text);
        if rejects {
            let errors = errors.unwrap_or_else(|| panic!("{file} is not one YAML document"));
            assert!(!errors.is_empty(), "the schema accepts {file}");
        }
    }
    for listed in SCHEMA_REJECTS
        .iter()
        .chain(OUT_OF_SCOPE.iter().map(|(f, _)| f))
    {
        assert!(
            files.contains(&listed.to_string()),
            "{listed} does not exist"
        );
    }
}

/// What editors show for a bad value is the sentence, not the regex.
#[test]
fn pattern_errors_have_messages_for_editors() {
    let schema = std::fs::read_to_string(repo_root().join("schemas/plan.schema.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&schema).unwrap();
    let mut without = Vec::new();
    fn walk(v: &serde_json::Value, at: &str, without: &mut Vec<String>) {
        if let Some(object) = v.as_object() {
            if object.contains_key("pattern") && !object.contains_key("patternErrorMessage") {
                without.push(at.to_string());
            }
            for (k, v) in object {
                walk(v, &format!("{at}/{k}"), without);
            }
        }
    }
    walk(&schema, "", &mut without);
    // Items of `after:` are volume names; the list's own description says so.
    without.retain(|p| !p.ends_with("/after/items"));
    assert_eq!(
        without,
        Vec::<String>::new(),
        "patterns without patternErrorMessage"
    );
    let size = &schema["definitions"]["Defaults"]["properties"]["snapshot_size"];
    assert!(
        size["patternErrorMessage"]
            .as_str()
            .unwrap()
            .contains("a size like 2GiB or 20%")
    );
}
