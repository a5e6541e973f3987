//! `snapplan plan`: the review output, from the outside.

use std::collections::HashSet;

use crate::support::{Test, repo_root};

fn fixture() -> String {
    repo_root()
        .join("tests/fixtures/graph/home-server.yaml")
        .display()
        .to_string()
}

/// stdout of a successful `snapplan ARGS`.
fn run_ok(args: &[&str]) -> String {
    let out = Test::new()
        .snapplan(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).expect("utf-8 output")
}

#[test]
fn text_shows_every_step_with_commands_and_undo() {
    let text = run_ok(&["plan", &fixture()]);
    insta::assert_snapshot!("home_server_text", text);
}

#[test]
fn same_plan_gives_byte_identical_output() {
    for format in ["text", "json", "dot"] {
        let a = run_ok(&["plan", &fixture(), "--format", format]);
        let b = run_ok(&["plan", &fixture(), "--format", format]);
        assert_eq!(a, b, "{format} output differs between runs");
    }
}

#[test]
fn json_parses_and_its_references_resolve() {
    let json = run_ok(&["plan", &fixture(), "--format", "json"]);
    insta::assert_snapshot!("home_server_json", json);
    let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(value["format_version"], 2);
    assert_eq!(value["plan"], "home-server");
    // Values known only at run time are typed, never `<...>` inside argv.
    let mut placeholders = 0;
    for step in value["steps"].as_array().unwrap() {
        for action in step["actions"].as_array().unwrap() {
            let inner = action.as_object().unwrap().values().next().unwrap();
            for arg in inner["argv"].as_array().into_iter().flatten() {
                match arg.as_str() {
                    Some(text) => assert!(!text.contains('<'), "untyped placeholder {text}"),
                    None => {
                        placeholders += 1;
                        assert!(
                            arg["placeholder"].is_string() && arg["text"].is_string(),
                            "{arg}"
                        );
                    }
                }
            }
        }
    }
    assert!(placeholders >= 6, "only {placeholders} typed placeholders");
    let steps = value["steps"].as_array().expect("steps");
    let ids: HashSet<&str> = steps.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), steps.len(), "step ids are unique");
    for step in steps {
        for dep in step["depends_on"].as_array().unwrap() {
            assert!(ids.contains(dep["id"].as_str().unwrap()), "{dep}");
        }
        if let Some(undo) = step["rollback"].as_str() {
            assert!(ids.contains(undo), "rollback target {undo} exists");
        }
    }
    let rollback = |id: &str| {
        steps.iter().find(|s| s["id"] == id).unwrap()["rollback"]
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(
        rollback("snapshot:vcr").as_deref(),
        Some("remove-snapshot:vcr")
    );
    assert_eq!(
        rollback("activate:backup").as_deref(),
        Some("deactivate:backup")
    );
    assert_eq!(rollback("iscsi-login").as_deref(), Some("iscsi-logout"));
    assert_eq!(rollback("suspend:*").as_deref(), Some("resume:*"));
    let snapshot = steps.iter().find(|s| s["id"] == "snapshot:vcr").unwrap();
    let argv: Vec<&str> = snapshot["actions"][0]["run"]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().or(a["text"].as_str()).unwrap())
        .collect();
    assert_eq!(
        argv[..6],
        [
            "lvcreate",
            "--snapshot",
            "--name",
            "vcr-snapplan",
            "--size",
            "8589934592b"
        ]
    );
    assert_eq!(argv.last(), Some(&"vg0/vcr"));
}

#[test]
fn dot_is_a_digraph_with_dashed_rollback_edges() {
    let dot = run_ok(&["plan", &fixture(), "--format", "dot"]);
    insta::assert_snapshot!("home_server_dot", dot);
    let json: serde_json::Value =
        serde_json::from_str(&run_ok(&["plan", &fixture(), "--format", "json"])).unwrap();
    let steps = json["steps"].as_array().unwrap();
    assert!(dot.starts_with("digraph \"snapplan home-server\" {\n"));
    assert!(dot.ends_with("}\n"));
    assert_eq!(dot.matches("[label=").count(), steps.len());
    let rollbacks = steps.iter().filter(|s| !s["rollback"].is_null()).count();
    assert_eq!(dot.matches("[style=dashed, color=red").count(), rollbacks);
    for line in dot.lines().filter(|l| l.contains(" -> ")) {
        assert!(line.trim_end().ends_with(';'), "{line}");
    }
    // Rendered by Graphviz when it is installed (CI installs it).
    if which::which("dot").is_ok() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &dot).unwrap();
        let out = std::process::Command::new("dot")
            .arg("-Tsvg")
            .arg(file.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
    }
}

fn step_ids(args: &[&str]) -> Vec<String> {
    let json = run_ok(&[&["plan", &fixture(), "--format", "json"], args].concat());
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn phases_select_steps_in_lifecycle_order_whatever_the_argument_order() {
    assert_eq!(
        step_ids(&["--phase", "activate", "--phase", "login"]),
        [
            "iscsi-login",
            "activate:backup",
            "deactivate:backup",
            "iscsi-logout"
        ]
    );
    let text = run_ok(&["plan", &fixture(), "--phase", "activate,login"]);
    assert_eq!(
        text,
        run_ok(&[
            "plan",
            &fixture(),
            "--phase",
            "login",
            "--phase",
            "activate"
        ])
    );
    assert!(text.contains("phases: login, activate\n"));
    // The undo steps of other phases appear only as on-failure steps.
    assert!(text.contains("On failure only"));
    assert_eq!(
        step_ids(&["--phase", "deactivate", "--phase", "logout"]),
        ["deactivate:backup", "iscsi-logout"]
    );
}

#[test]
fn remove_runs_only_when_named() {
    for args in [&[][..], &["--phase", "all"][..], &["--phase", "backup"][..]] {
        assert!(
            step_ids(args)
                .iter()
                .all(|id| !id.starts_with("remove-backup:")),
            "{args:?} must not remove backups"
        );
    }
    assert_eq!(
        step_ids(&["--phase", "remove"]),
        [
            "remove-backup:vcr",
            "remove-backup:root",
            "remove-backup:home"
        ]
    );
    let text = run_ok(&["plan", &fixture(), "--phase", "remove"]);
    assert!(text.contains("$ lvremove --yes backup/home_bk\n"));
    assert!(text.contains("DELETE backup LV backup/home_bk"));
    // Named together with all: removal comes before the backup recreates them.
    let ids = step_ids(&["--phase", "all,remove"]);
    let pos = |id: &str| ids.iter().position(|x| x == id).unwrap();
    assert!(pos("activate:backup") < pos("remove-backup:vcr"));
    assert!(pos("remove-backup:vcr") < pos("ensure-backup:vcr"));
}

#[test]
fn hooks_found_in_the_directory_become_steps_suspended_in_order_resumed_in_reverse() {
    let test = Test::new()
        .file("hooks.d/20-web", "#!/bin/sh\n")
        .file("hooks.d/10-db", "#!/bin/sh\n")
        .file("hooks.d/README", "not a hook\n");
    for hook in ["10-db", "20-web"] {
        use std::os::unix::fs::PermissionsExt;
        let path = test.path(&format!("hooks.d/{hook}"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let plan = std::fs::read_to_string(fixture()).unwrap().replace(
        "/etc/snapplan/hooks.d",
        &test.path("hooks.d").display().to_string(),
    );
    let test = test.file("plan.yaml", &plan);
    let out = test
        .snapplan(&["plan", "plan.yaml"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let dir = test.path("hooks.d").display().to_string();
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing"))
    };
    assert!(at(&format!("$ {dir}/10-db suspend")) < at(&format!("$ {dir}/20-web suspend")));
    assert!(at(&format!("$ {dir}/20-web suspend")) < at("[8] snapshot:vcr"));
    assert!(at("[10] snapshot:home") < at(&format!("$ {dir}/20-web resume")));
    assert!(at(&format!("$ {dir}/20-web resume")) < at(&format!("$ {dir}/10-db resume")));
    assert!(!text.contains("README"));
}

#[test]
fn invalid_plan_exits_2_with_a_diagnostic() {
    let test = Test::new().file(
        "bad.yaml",
        "version: 1\nname: bad\ntarget:\n  vg: backup\nvolumes:\n  - lv: vg0/root\n    snapshot_sise: 1GiB\n",
    );
    let out = test
        .snapplan(&["plan", "bad.yaml"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(out.stdout.is_empty(), "no plan output for an invalid plan");
    assert!(String::from_utf8_lossy(&out.stderr).contains("snapshot_sise"));
    test.snapplan(&["plan", "missing.yaml"]).assert().code(2);
}

#[test]
fn unknown_phase_is_a_usage_error() {
    Test::new()
        .snapplan(&["plan", &fixture(), "--phase", "everything"])
        .assert()
        .code(2);
}
