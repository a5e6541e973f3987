//! `snapplan generations` and `--generation` on restore and verify, where
//! no LVM is needed: a stand-in `lvm` answers the report with a thick
//! backup LV (exported VG, inactive LV), its manifest made by the real copy
//! engine. Real LVM is proven by tests/vm/mount.sh.

use std::os::unix::fs::PermissionsExt;

use predicates::prelude::*;

use crate::support::{Test, repo_root};

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

const MANIFEST: &str = "state/nightly/manifests/root.json";
const MIB: usize = 1 << 20;

/// A plan whose root volume has a backup (`backup.img`, with its manifest
/// where apply keeps it) and whose home volume has none; `bin/lvm` reports
/// backup/root tagged `state` in the exported VG backup: as lvm2 does,
/// `lvs` hides it and `pvs --segments` shows it.
fn backed_up(state: &str) -> Test {
    let t = Test::new()
        .file("plan.yaml", PLAN)
        .backup_of(&vec![7u8; 2 * MIB], MANIFEST);
    std::fs::set_permissions(t.path("state"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let lv = format!(
        r#"{{"lv_name":"root", "vg_name":"backup", "lv_size":"4194304", "lv_attr":"-wi-------", "segtype":"linear", "origin":"", "lv_tags":"snapplan,snapplan-plan:nightly,snapplan-role:backup,snapplan-state:{state}", "data_percent":"", "snap_percent":"", "lv_snapshot_invalid":"unknown", "lv_active":"", "lv_device_open":""}}"#
    );
    let vg = r#"{"vg_name":"backup", "vg_attr":"wzx-n-", "vg_size":"62914560", "vg_free":"58720256", "vg_extent_size":"4194304", "vg_extent_count":"15", "vg_free_count":"14", "vg_exported":"exported", "vg_tags":""}"#;
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/calls\"\ncase $1 in\n lvs) echo '{{\"report\":[{{\"lv\":[]}}]}}' ;;\n pvs) echo '{{\"report\":[{{\"pvseg\":[{lv}]}}]}}' ;;\n vgs) echo '{{\"report\":[{{\"vg\":[{vg}]}}]}}' ;;\n *) exit 3 ;;\nesac\n"
    );
    let t = t.file("bin/lvm", &script);
    std::fs::set_permissions(t.path("bin/lvm"), std::fs::Permissions::from_mode(0o755)).unwrap();
    t
}

fn generations(t: &Test, extra: &[&str]) -> assert_cmd::assert::Assert {
    let mut args = vec!["generations", "plan.yaml"];
    args.extend_from_slice(extra);
    t.snapplan(&args)
        .env("SNAPPLAN_TOOL_PATH", t.path("bin"))
        .assert()
}

fn json(t: &Test, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    let out = generations(t, &args).code(0);
    serde_json::from_slice(&out.get_output().stdout).expect("JSON on stdout")
}

#[test]
fn a_thick_backup_is_listed_from_an_exported_vg_without_activating_it() {
    let t = backed_up("complete");
    let doc = json(&t, &[]);
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["plan"], "nightly");
    let g = &doc["volumes"][0]["generations"][0];
    assert_eq!(doc["volumes"][0]["name"], "root");
    let id = g["id"].as_str().unwrap();
    let id_form = regex::Regex::new(r"^\d{8}T\d{6}Z$").unwrap();
    assert!(id_form.is_match(id), "{id}");
    // The same second as the id, in RFC 3339.
    let time = g["time"].as_str().unwrap();
    assert_eq!(time.replace(['-', ':'], ""), id, "{time}");
    assert_eq!(g["lv"], "backup/root");
    assert_eq!(g["state"], "complete");
    assert_eq!(g["size_bytes"], 4194304);
    // No run record (the backup was made by `snapplan copy`).
    assert_eq!(g["written_bytes"], 0);
    assert_eq!(g["verified"], false);
    assert_eq!(doc["volumes"][1]["name"], "home");
    assert_eq!(doc["volumes"][1]["generations"], serde_json::json!([]));
    // Only reports were asked for: nothing imported or activated.
    let calls = std::fs::read_to_string(t.path("bin/calls")).unwrap();
    assert!(
        calls
            .lines()
            .all(|l| ["lvs ", "vgs ", "pvs "].iter().any(|r| l.starts_with(r))),
        "{calls}"
    );
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("schemas/generations.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft7::new(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert_eq!(errors, Vec::<String>::new());

    generations(&t, &["--volume", "root"])
        .code(0)
        .stdout(predicate::str::contains(format!(
            "  {id}  backup/root  {time}  complete"
        )))
        .stdout(predicate::str::contains("home").not());
}

#[test]
fn an_incomplete_backup_is_listed_as_such() {
    let t = backed_up("incomplete");
    let doc = json(&t, &["--volume", "root"]);
    assert_eq!(doc["volumes"][0]["generations"][0]["state"], "incomplete");
    generations(&t, &[])
        .code(0)
        .stdout(predicate::str::contains("INCOMPLETE"));
}

#[test]
fn an_unknown_volume_exits_2_naming_the_volumes() {
    let t = backed_up("complete");
    generations(&t, &["--volume", "nope"])
        .code(2)
        .stderr(predicate::str::contains("its volumes: root, home"));
}

#[test]
fn restore_and_verify_take_the_backups_id_and_refuse_another_listing_it() {
    let t = backed_up("complete");
    let doc = json(&t, &[]);
    let id = doc["volumes"][0]["generations"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let listed = format!("volume root has no generation 19990101T000000Z; its generations: {id}");
    let before = std::fs::read(t.path("origin.img")).unwrap();
    t.snapplan(&[
        "restore",
        "plan.yaml",
        "root",
        "--generation",
        "19990101T000000Z",
        "--from",
        "backup.img",
        "--to",
        "origin.img",
        "--yes",
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains(&listed));
    t.snapplan(&[
        "verify",
        "plan.yaml",
        "--volume",
        "root",
        "--generation",
        "19990101T000000Z",
    ])
    .env("SNAPPLAN_TOOL_PATH", t.path("bin"))
    .assert()
    .code(2)
    .stderr(predicate::str::contains(&listed));
    // A volume with no backup has no generation to name.
    t.snapplan(&[
        "verify",
        "plan.yaml",
        "--volume",
        "home",
        "--generation",
        &id,
    ])
    .env("SNAPPLAN_TOOL_PATH", t.path("bin"))
    .assert()
    .code(2)
    .stderr(predicate::str::contains("it has none"));
    assert_eq!(std::fs::read(t.path("origin.img")).unwrap(), before);
    // --generation needs --volume: ids are per volume.
    t.snapplan(&["verify", "plan.yaml", "--generation", &id])
        .assert()
        .code(2);
    // The backup's own id restores it.
    std::fs::write(t.path("origin.img"), vec![1u8; 2 * MIB]).unwrap();
    t.snapplan(&[
        "restore",
        "plan.yaml",
        "root",
        "--generation",
        &id,
        "--from",
        "backup.img",
        "--to",
        "origin.img",
        "--yes",
    ])
    .assert()
    .code(0);
    assert_eq!(
        std::fs::read(t.path("origin.img")).unwrap(),
        vec![7u8; 2 * MIB]
    );
}

const POOL_PLAN: &str = "\
version: 1
name: nightly
state_dir: {dir}/state
target:
  vg: backup
  pool: gens
retention:
  keep_last: 1
volumes:
  - lv: vg0/root
";

/// A pool plan whose root has generations `(id, state)` in the (imported,
/// visible) VG backup, answered by a stand-in `lvm` that logs its calls
/// and fails anything but a report.
fn pool(generations: &[(&str, &str)]) -> Test {
    let t = Test::new().file("plan.yaml", POOL_PLAN);
    std::fs::create_dir_all(t.path("state")).unwrap();
    std::fs::set_permissions(t.path("state"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let lvs: Vec<String> = generations
        .iter()
        .map(|(id, state)| {
            format!(
                r#"{{"lv_name":"root.{id}", "vg_name":"backup", "lv_size":"4194304", "lv_attr":"Vwi---tz--", "segtype":"thin", "origin":"", "pool_lv":"gens", "lv_tags":"snapplan,snapplan-plan:nightly,snapplan-run:{id}-1,snapplan-role:generation,snapplan-state:{state}", "data_percent":"", "snap_percent":"", "lv_snapshot_invalid":"unknown", "lv_active":"", "lv_device_open":""}}"#
            )
        })
        .collect();
    let vg = r#"{"vg_name":"backup", "vg_attr":"wz--n-", "vg_size":"62914560", "vg_free":"58720256", "vg_extent_size":"4194304", "vg_extent_count":"15", "vg_free_count":"14", "vg_exported":"", "vg_tags":""}"#;
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/calls\"\ncase $1 in\n lvs) echo '{{\"report\":[{{\"lv\":[{}]}}]}}' ;;\n pvs) echo '{{\"report\":[{{\"pvseg\":[]}}]}}' ;;\n vgs) echo '{{\"report\":[{{\"vg\":[{vg}]}}]}}' ;;\n *) exit 3 ;;\nesac\n",
        lvs.join(",")
    );
    let t = t.file("bin/lvm", &script);
    std::fs::set_permissions(t.path("bin/lvm"), std::fs::Permissions::from_mode(0o755)).unwrap();
    t
}

fn with_lvm(t: &Test, args: &[&str]) -> assert_cmd::assert::Assert {
    t.snapplan(args)
        .env("SNAPPLAN_TOOL_PATH", t.path("bin"))
        .env("SNAPPLAN_MOUNTS_DIR", t.path("mounts"))
        .assert()
}

#[test]
fn a_pool_plans_generations_are_listed_newest_first_from_their_thin_lvs() {
    let t = pool(&[
        ("20261201T031500Z", "complete"),
        ("20261203T031500Z", "incomplete"),
    ]);
    // The older one's manifest says completed (made by the copy engine).
    let t = t.backup_of(
        &vec![5u8; MIB],
        "state/nightly/manifests/root/20261201T031500Z.json",
    );
    let doc = json(&t, &[]);
    let g = &doc["volumes"][0]["generations"];
    assert_eq!(g[0]["id"], "20261203T031500Z");
    assert_eq!(g[0]["state"], "incomplete");
    assert_eq!(g[1]["id"], "20261201T031500Z");
    assert_eq!(g[1]["lv"], "backup/root.20261201T031500Z");
    assert_eq!(g[1]["time"], "2026-12-01T03:15:00Z");
    assert_eq!(g[1]["state"], "complete");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("schemas/generations.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft7::new(&schema).unwrap();
    assert!(validator.is_valid(&doc));
}

#[test]
fn prune_of_a_plan_without_a_pool_exits_2_and_does_nothing() {
    let t = backed_up("complete");
    with_lvm(&t, &["prune", "plan.yaml"])
        .code(2)
        .stderr(predicate::str::contains("has no `target.pool`"));
    assert!(!t.path("bin/calls").exists(), "LVM was not asked");
}

#[test]
fn prune_dry_run_shows_every_generation_with_its_verdict_and_removes_nothing() {
    let t = pool(&[
        ("20261201T031500Z", "complete"),
        ("20261202T031500Z", "complete"),
        ("20261203T031500Z", "incomplete"),
    ]);
    with_lvm(&t, &["prune", "plan.yaml", "--dry-run"])
        .code(0)
        .stdout(predicate::str::contains("plan nightly (dry run: nothing removed)"))
        .stdout(predicate::str::contains(
            "  20261203T031500Z  backup/root.20261203T031500Z  incomplete: incomplete: not counted",
        ))
        .stdout(predicate::str::contains(
            "  20261202T031500Z  backup/root.20261202T031500Z  keep: kept by newest, keep_last",
        ))
        .stdout(predicate::str::contains(
            "  20261201T031500Z  backup/root.20261201T031500Z  would remove: removed: no retention rule keeps it",
        ));
    let out = with_lvm(&t, &["prune", "plan.yaml", "--dry-run", "--format", "json"]).code(0);
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["volumes"][0]["generations"][2]["verdict"], "remove");
    assert_eq!(doc["volumes"][0]["generations"][2]["removed"], false);
    let calls = std::fs::read_to_string(t.path("bin/calls")).unwrap();
    assert!(
        calls
            .lines()
            .all(|l| ["lvs ", "vgs ", "pvs "].iter().any(|r| l.starts_with(r))),
        "{calls}"
    );
    with_lvm(&t, &["prune", "plan.yaml", "--volume", "nope"])
        .code(2)
        .stderr(predicate::str::contains("its volumes: root"));
}

#[test]
fn prune_while_a_run_holds_the_lock_exits_3_and_does_nothing() {
    let t = pool(&[("20261201T031500Z", "complete")]);
    let _held = snapplan::state::lock::RunLock::acquire(&t.path("state"), "nightly").unwrap();
    with_lvm(&t, &["prune", "plan.yaml"])
        .code(3)
        .stderr(predicate::str::contains("nothing was pruned"));
    assert!(!t.path("bin/calls").exists(), "LVM was not asked");
}

#[test]
fn restore_from_an_image_of_a_pool_plan_takes_the_newest_completed_generation_manifest() {
    let t = pool(&[]).backup_of(
        &vec![9u8; MIB],
        "state/nightly/manifests/root/20261202T031500Z.json",
    );
    std::fs::write(t.path("target.img"), vec![0u8; MIB]).unwrap();
    let restore = |extra: &[&str]| {
        let mut args = vec![
            "restore",
            "plan.yaml",
            "root",
            "--from",
            "backup.img",
            "--to",
            "target.img",
            "--yes",
        ];
        args.extend_from_slice(extra);
        t.snapplan(&args).assert()
    };
    restore(&["--generation", "20261101T000000Z"])
        .code(2)
        .stderr(predicate::str::contains(
            "volume root has no generation 20261101T000000Z; its generations: 20261202T031500Z",
        ));
    assert_eq!(std::fs::read(t.path("target.img")).unwrap(), vec![0u8; MIB]);
    restore(&[]).code(0);
    assert_eq!(std::fs::read(t.path("target.img")).unwrap(), vec![9u8; MIB]);
}
