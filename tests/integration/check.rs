//! `snapplan check` from the outside. Real LVM is proven in tests/vm/check_*;
//! here: what check does where there is no LVM to look at.

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

/// A directory with no tools in it: as if lvm2 were not installed.
fn without_tools(t: &Test) -> String {
    std::fs::create_dir_all(t.path("no-tools")).unwrap();
    t.path("no-tools").display().to_string()
}

#[test]
fn an_invalid_plan_exits_2() {
    let t = Test::new().file("plan.yaml", "version: 1\nname: [\n");
    t.snapplan(&["check", "plan.yaml"]).assert().code(2);
}

#[test]
fn a_missing_plan_file_exits_2_naming_it() {
    let t = Test::new();
    t.snapplan(&["check", "nope.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nope.yaml"));
}

#[test]
fn without_lvm_tools_check_fails_cleanly_naming_the_tool() {
    let t = Test::new().file("plan.yaml", PLAN).file("hooks/10-db", "");
    let tools = without_tools(&t);
    t.snapplan(&["check", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", &tools)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("`lvm` not found"))
        .stdout(predicate::str::contains("install lvm2"))
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn json_output_is_a_document_with_a_verdict_per_check() {
    let t = Test::new().file("plan.yaml", PLAN).file("hooks/10-db", "");
    let tools = without_tools(&t);
    let out = t
        .snapplan(&["check", "plan.yaml", "--format", "json"])
        .env("SNAPPLAN_TOOL_PATH", &tools)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).expect("JSON on stdout");
    assert_eq!(doc["ok"], false);
    let checks = doc["checks"].as_array().unwrap();
    let status_of = |check: &str, subject: &str| {
        checks
            .iter()
            .find(|c| c["check"] == check && c["subject"].as_str().unwrap().ends_with(subject))
            .map(|c| c["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status_of("tool", "lvm").as_deref(), Some("fail"));
    assert_eq!(status_of("lvm_state", "lvs/vgs").as_deref(), Some("fail"));
    // The hook exists but is not executable.
    assert_eq!(status_of("hooks", "10-db").as_deref(), Some("fail"));
    // No state dir: no run can hold the lock, and check creates nothing.
    assert_eq!(status_of("lock", "nightly.lock").as_deref(), Some("pass"));
    assert!(!t.path("state").exists());
}

#[test]
fn a_held_lock_fails_the_check_naming_the_holder() {
    let t = Test::new()
        .file("plan.yaml", PLAN)
        .file("state/nightly.lock", "");
    std::fs::create_dir_all(t.path("hooks")).unwrap();
    let tools = without_tools(&t);
    let lock = std::fs::File::open(t.path("state/nightly.lock")).unwrap();
    lock.lock().unwrap();
    t.snapplan(&["check", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", &tools)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "held by pid {}",
            std::process::id()
        )));
}

#[test]
fn a_fake_lvm_that_fails_is_reported_with_its_command_and_stderr() {
    use std::os::unix::fs::PermissionsExt;
    let t = Test::new().file("plan.yaml", PLAN).file(
        "bin/lvm",
        "#!/bin/sh\necho '  /dev/mapper/control: open failed: No such device' >&2\nexit 5\n",
    );
    std::fs::create_dir_all(t.path("hooks")).unwrap();
    std::fs::set_permissions(t.path("bin/lvm"), std::fs::Permissions::from_mode(0o755)).unwrap();
    t.snapplan(&["check", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", t.path("bin"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("lvm lvs --reportformat json"))
        .stdout(predicate::str::contains("exit status 5"))
        .stdout(predicate::str::contains("/dev/mapper/control: open failed"));
}

/// A stand-in `lvm` that answers `lvs` and `vgs` with JSON in lvm2's format
/// (as recorded in the VM): vg0 with a and b (16 MiB each) and FREE free
/// extents of 4 MiB, and an empty backup VG of 15 extents.
fn stand_in_lvm(t: &Test, vg0_free_extents: u64) -> String {
    use std::os::unix::fs::PermissionsExt;
    let lv = |name: &str, vg: &str| {
        format!(
            r#"{{"lv_name":"{name}", "vg_name":"{vg}", "lv_size":"16777216", "lv_attr":"-wi-ao----", "segtype":"linear", "origin":"", "lv_tags":"", "data_percent":"", "snap_percent":"", "lv_snapshot_invalid":"unknown", "lv_active":"active", "lv_device_open":"open"}}"#
        )
    };
    let vg = |name: &str, free: u64| {
        format!(
            r#"{{"vg_name":"{name}", "vg_attr":"wz--n-", "vg_size":"62914560", "vg_free":"{}", "vg_extent_size":"4194304", "vg_extent_count":"15", "vg_free_count":"{free}", "vg_exported":"", "vg_tags":""}}"#,
            free * 4194304
        )
    };
    let lvs = format!(
        r#"{{"report":[{{"lv":[{},{}]}}]}}"#,
        lv("a", "vg0"),
        lv("b", "vg0")
    );
    let vgs = format!(
        r#"{{"report":[{{"vg":[{},{}]}}]}}"#,
        vg("vg0", vg0_free_extents),
        vg("backup", 15)
    );
    let script = format!(
        "#!/bin/sh\ncase $1 in\n lvs) echo '{lvs}' ;;\n vgs) echo '{vgs}' ;;\n *) exit 3 ;;\nesac\n"
    );
    let path = t.path("bin/lvm");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    t.path("bin").display().to_string()
}

const TWO_VOLUMES: &str = "\
version: 1
name: nightly
state_dir: {dir}/state
target:
  vg: backup
volumes:
  - lv: vg0/a
    snapshot_size: 8m
  - lv: vg0/b
    snapshot_size: 8m
";

#[test]
fn snapshots_that_fit_together_pass_with_the_figures() {
    let t = Test::new().file("plan.yaml", TWO_VOLUMES);
    let tools = stand_in_lvm(&t, 4);
    t.snapplan(&["check", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", &tools)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "needs 16.0 MiB (4 extents) for 2 snapshots at once; 16.0 MiB (4 extents) free",
        ));
}

#[test]
fn snapshots_that_fit_alone_but_not_together_exit_1_naming_the_vg() {
    let t = Test::new().file("plan.yaml", TWO_VOLUMES);
    let tools = stand_in_lvm(&t, 3);
    t.snapplan(&["check", "plan.yaml"])
        .env("SNAPPLAN_TOOL_PATH", &tools)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("VG vg0"))
        .stdout(predicate::str::contains("short by 4.0 MiB (1 extent)"));
}

/// issue 10: `state_dir: /tmp` (or any state directory another user can
/// write to) validated and checked clean; apply then acted on what anyone
/// could have planted there.
#[test]
fn a_world_writable_state_dir_fails_check_and_apply_and_recover_refuse_it() {
    use std::os::unix::fs::PermissionsExt;
    let t = Test::new().file("plan.yaml", PLAN).file("hooks/10-db", "");
    std::fs::create_dir_all(t.path("state")).unwrap();
    std::fs::set_permissions(t.path("state"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let tools = without_tools(&t);
    let out = t
        .snapplan(&["check", "plan.yaml", "--format", "json"])
        .env("SNAPPLAN_TOOL_PATH", &tools)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let row = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "state_dir")
        .expect("a state_dir row")
        .clone();
    assert_eq!(row["status"], "fail");
    assert!(row["advice"].as_str().unwrap().starts_with("chmod go-w "));
    for command in ["apply", "recover"] {
        t.snapplan(&[command, "plan.yaml"])
            .env("SNAPPLAN_TOOL_PATH", &tools)
            .assert()
            .code(1)
            .stderr(predicate::str::contains("refusing the state directory"))
            .stderr(predicate::str::contains("writable by everyone"));
    }
    assert!(
        std::fs::read_dir(t.path("state")).unwrap().next().is_none(),
        "nothing was created in it"
    );
}
