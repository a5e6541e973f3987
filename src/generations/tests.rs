use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;
use crate::copy::identity::{Identity, Kind};
use crate::copy::manifest::{ChunkHash, FORMAT};
use crate::plan::test_plans::plan as test_plan;
use crate::state::runs::{VolumeResult, save_record};
use crate::system::fake::{Fake, MIB};

const T: u64 = 1_796_181_300; // 2026-12-02 03:15:00 UTC

fn plan(dir: &Path) -> Plan {
    let mut plan = test_plan(&[
        ("vg0/root", crate::plan::test_plans::pct(10.0)),
        ("vg0/home", crate::plan::test_plans::pct(10.0)),
    ]);
    plan.state_dir = dir.join("state");
    plan
}

fn private_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn identity(path: &str) -> Identity {
    Identity {
        path: path.into(),
        kind: Kind::BlockDevice,
        size: MIB,
        device: Some("253:9".into()),
        inode: None,
        tag: None,
    }
}

fn write_manifest(plan: &Plan, volume: &str, started_at: u64, completed: bool) {
    let manifest = Manifest {
        format: FORMAT.into(),
        completed,
        source: identity("/dev/vg0/snap"),
        destination: identity(&format!("/dev/backup/{volume}")),
        size: MIB,
        chunk_size: MIB,
        started_at,
        finished_at: Some(started_at + 5),
        base: None,
        chunks: vec![ChunkHash::of(&[0; 16])],
    };
    let path = runs::manifest_path(plan, volume);
    crate::state::files::create_dir(path.parent().unwrap()).unwrap();
    manifest.save(&path).unwrap();
}

fn write_record(plan: &Plan, run_id: &str, started: u64, finished: u64, written: u64) {
    let mut root = VolumeResult::new("root");
    root.bytes_written = written;
    root.verified = true;
    root.status = VolumeStatus::Ok;
    let record = RunRecord {
        run_id: run_id.into(),
        plan: plan.name.clone(),
        phases: vec!["backup".into()],
        started_at: started,
        finished_at: finished,
        exit_code: Some(0),
        ending: "completed".into(),
        volumes: vec![root],
        problems: vec![],
        notes: vec![],
        recovery: None,
    };
    save_record(&runs::run_record_path(plan, run_id), &record).unwrap();
}

fn tags(state: &str) -> Vec<String> {
    let mut tags = crate::tags::backup_tags("nightly");
    tags.push(state.to_string());
    tags
}

#[test]
fn a_thick_backup_is_one_generation_from_its_manifest_and_the_run_that_wrote_it() {
    let dir = private_dir();
    let plan = plan(dir.path());
    write_manifest(&plan, "root", T, true);
    // No backup LV for home: no generation, even with a manifest.
    write_manifest(&plan, "home", T, true);
    // The run that wrote it, and an older one that did not.
    write_record(&plan, "20261202T031000Z-1", T - 300, T + 60, 3 * MIB);
    write_record(&plan, "20261201T031000Z-1", T - 86_700, T - 86_000, 7 * MIB);
    // Exported and inactive: listed from the report without activating.
    let fake = Fake::builder()
        .lv("backup", "root", 16, "-wi-------")
        .tags("backup", "root", &tags(TAG_STATE_COMPLETE))
        .exported("backup")
        .build();
    let listing = list(&plan, &fake, None).unwrap();
    assert!(fake.commands().is_empty(), "{:?}", fake.commands());
    assert_eq!(listing.notes, Vec::<String>::new());
    let doc = listing.document;
    assert_eq!(doc.format_version, 1);
    assert_eq!(doc.volumes.len(), 2);
    assert_eq!(
        doc.volumes[0].generations,
        vec![Generation {
            id: "20261202T031500Z".into(),
            lv: "backup/root".into(),
            time: Some("2026-12-02T03:15:00Z".into()),
            state: GenerationState::Complete,
            size_bytes: 16 * MIB,
            written_bytes: 3 * MIB,
            verified: true,
        }]
    );
    assert_eq!(doc.volumes[1].name, "home");
    assert!(doc.volumes[1].generations.is_empty());
    let text = render_text(&doc);
    assert!(text.contains("20261202T031500Z  backup/root"), "{text}");
    assert!(text.contains("home: no generation"), "{text}");
}

#[test]
fn an_incomplete_tag_or_manifest_makes_an_incomplete_generation() {
    let dir = private_dir();
    let plan = plan(dir.path());
    write_manifest(&plan, "root", T, true);
    let fake = Fake::builder()
        .lv("backup", "root", 16, "-wi-a-----")
        .tags("backup", "root", &tags(TAG_STATE_INCOMPLETE))
        .build();
    let doc = list(&plan, &fake, Some("root")).unwrap().document;
    assert_eq!(doc.volumes.len(), 1);
    let g = &doc.volumes[0].generations[0];
    assert_eq!(g.state, GenerationState::Incomplete);
    // No record of the run: nothing known of what it wrote.
    assert_eq!((g.written_bytes, g.verified), (0, false));

    write_manifest(&plan, "root", T, false);
    let fake = Fake::builder()
        .lv("backup", "root", 16, "-wi-a-----")
        .tags("backup", "root", &tags(TAG_STATE_COMPLETE))
        .build();
    let doc = list(&plan, &fake, Some("root")).unwrap().document;
    assert_eq!(
        doc.volumes[0].generations[0].state,
        GenerationState::Incomplete
    );
}

#[test]
fn a_backup_without_a_readable_manifest_is_unknown_and_named_in_a_note() {
    let dir = private_dir();
    let plan = plan(dir.path());
    let fake = Fake::builder()
        .lv("backup", "root", 16, "-wi-a-----")
        .tags("backup", "root", &tags(TAG_STATE_COMPLETE))
        .build();
    let listing = list(&plan, &fake, Some("root")).unwrap();
    let g = &listing.document.volumes[0].generations[0];
    assert_eq!((g.id.as_str(), g.time.as_deref()), (UNKNOWN_ID, None));
    assert_eq!(g.state, GenerationState::Incomplete);
    assert!(
        listing.notes[0].starts_with("root: "),
        "{:?}",
        listing.notes
    );
}

#[test]
fn an_unknown_volume_is_a_usage_error_and_an_invisible_vg_a_note() {
    let dir = private_dir();
    let plan = plan(dir.path());
    let fake = Fake::new();
    let err = list(&plan, &fake, Some("nope")).unwrap_err();
    assert_eq!(err.exit_code(), crate::ExitCode::Usage);
    assert!(err.to_string().contains("its volumes: root, home"), "{err}");
    fake.state().vgs.retain(|v| v.vg_name != "backup");
    let listing = list(&plan, &fake, None).unwrap();
    assert!(listing.notes[0].contains("backup VG backup is not visible"));
}

#[test]
fn an_untrusted_state_dir_is_refused() {
    let dir = private_dir();
    let plan = plan(dir.path());
    std::fs::create_dir(&plan.state_dir).unwrap();
    std::fs::set_permissions(&plan.state_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = list(&plan, &Fake::new(), None).unwrap_err();
    assert!(matches!(err, GenerationsError::Untrusted(_)), "{err}");
    assert_eq!(err.exit_code(), crate::ExitCode::Failed);
}

#[test]
fn generation_ids_are_checked_against_the_manifest() {
    let dir = private_dir();
    let plan = plan(dir.path());
    assert_eq!(check_thick(&plan, "root", None), Ok(()));
    let none = check_thick(&plan, "root", Some("20261202T031500Z")).unwrap_err();
    assert!(none.to_string().contains("it has none"), "{none}");
    write_manifest(&plan, "root", T, true);
    assert_eq!(check_thick(&plan, "root", Some("20261202T031500Z")), Ok(()));
    let wrong = check_thick(&plan, "root", Some("20261101T000000Z")).unwrap_err();
    assert_eq!(
        wrong.to_string(),
        "volume root has no generation 20261101T000000Z; its generations: 20261202T031500Z"
    );
}

fn pool_plan(dir: &Path) -> Plan {
    let mut plan = plan(dir);
    crate::plan::test_plans::into_pool(&mut plan, 7);
    plan
}

fn write_generation_manifest(plan: &Plan, volume: &str, id: &str, completed: bool) {
    write_manifest(
        plan,
        volume,
        crate::state::time::parse_compact(id).unwrap(),
        completed,
    );
    let thick = runs::manifest_path(plan, volume);
    let path = runs::generation_manifest_path(plan, volume, id);
    crate::state::files::create_dir(path.parent().unwrap()).unwrap();
    std::fs::rename(thick, path).unwrap();
}

fn generation_tags(state: &str) -> Vec<String> {
    let mut tags = crate::tags::generation_tags("nightly", "20261202T031500Z-1");
    tags.retain(|t| t != TAG_STATE_INCOMPLETE);
    tags.push(state.to_string());
    tags
}

/// root: three generations (complete, complete with an incomplete
/// manifest, incomplete) and an LV named like one but not tagged; the
/// pool is exported with the VG.
fn pool_fake() -> Fake {
    let tagged = |b: crate::system::fake::FakeBuilder, name: &str, state: &str| {
        b.thin_lv("backup", name, 16, "gens")
            .tags("backup", name, &generation_tags(state))
    };
    let b = Fake::builder().thin_pool("backup", "gens", 64, 40.0, 10.0);
    let b = tagged(b, "root.20261201T031500Z", TAG_STATE_COMPLETE);
    let b = tagged(b, "root.20261202T031500Z", TAG_STATE_COMPLETE);
    let b = tagged(b, "root.20261203T031500Z", TAG_STATE_INCOMPLETE);
    b.thin_lv("backup", "root.20261204T031500Z", 16, "gens")
        .exported("backup")
        .build()
}

#[test]
fn pool_generations_are_listed_newest_first_with_the_record_of_the_run_that_made_each() {
    let dir = private_dir();
    let plan = pool_plan(dir.path());
    write_generation_manifest(&plan, "root", "20261201T031500Z", true);
    write_generation_manifest(&plan, "root", "20261202T031500Z", false);
    write_record(
        &plan,
        "20261201T031500Z-77",
        T - 86_400,
        T - 86_000,
        5 * MIB,
    );
    let fake = pool_fake();
    let listing = list(&plan, &fake, Some("root")).unwrap();
    assert!(fake.commands().is_empty(), "{:?}", fake.commands());
    let shown: Vec<(&str, &str, GenerationState, u64, bool)> = listing.document.volumes[0]
        .generations
        .iter()
        .map(|g| {
            (
                g.id.as_str(),
                g.lv.as_str(),
                g.state,
                g.written_bytes,
                g.verified,
            )
        })
        .collect();
    use GenerationState::{Complete, Incomplete};
    assert_eq!(
        shown,
        [
            (
                "20261203T031500Z",
                "backup/root.20261203T031500Z",
                Incomplete,
                0,
                false
            ),
            (
                "20261202T031500Z",
                "backup/root.20261202T031500Z",
                Incomplete,
                0,
                false
            ),
            (
                "20261201T031500Z",
                "backup/root.20261201T031500Z",
                Complete,
                5 * MIB,
                true
            ),
        ],
        "the untagged LV is not listed; a manifest that is not completed makes it incomplete"
    );
    let oldest = &listing.document.volumes[0].generations[2];
    assert_eq!(oldest.time.as_deref(), Some("2026-12-01T03:15:00Z"));
    assert_eq!(oldest.size_bytes, 16 * MIB);
    assert!(listing.notes.is_empty(), "{:?}", listing.notes);
}

#[test]
fn a_complete_pool_generation_without_its_manifest_is_incomplete_and_named_in_a_note() {
    let dir = private_dir();
    let plan = pool_plan(dir.path());
    let listing = list(&plan, &pool_fake(), Some("root")).unwrap();
    let g = &listing.document.volumes[0].generations;
    assert!(g.iter().all(|g| g.state == GenerationState::Incomplete));
    assert_eq!(listing.notes.len(), 2, "{:?}", listing.notes);
    assert!(listing.notes[0].starts_with("root: generation 20261202T031500Z: "));
}

#[test]
fn the_newest_complete_pool_generation_is_chosen_and_an_incomplete_one_refused() {
    let dir = private_dir();
    let plan = pool_plan(dir.path());
    let fake = pool_fake();
    let lvs = backup_lvs(&fake, &fake.report().unwrap(), "backup").unwrap();
    let found = pool_generations(&plan, &plan.volumes[0], &lvs);
    let chosen = choose_pool(&plan, "root", &found, None).unwrap();
    assert_eq!(chosen.id, "20261202T031500Z");
    let older = choose_pool(&plan, "root", &found, Some("20261201T031500Z")).unwrap();
    assert_eq!(older.lv.to_string(), "backup/root.20261201T031500Z");
    let incomplete = choose_pool(&plan, "root", &found, Some("20261203T031500Z")).unwrap_err();
    assert!(
        matches!(incomplete, PoolChoiceError::Incomplete { .. }),
        "{incomplete}"
    );
    assert!(incomplete.to_string().contains("is incomplete"));
    let unknown = choose_pool(&plan, "root", &found, Some("20260101T000000Z")).unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "volume root has no generation 20260101T000000Z; its generations: \
         20261203T031500Z, 20261202T031500Z, 20261201T031500Z"
    );
    let none = choose_pool(&plan, "root", &found[..1], None).unwrap_err();
    assert_eq!(
        none.to_string(),
        "volume root has no complete generation in the pool backup/gens \
         (incomplete ones: 20261203T031500Z)"
    );
}

/// `pool_fake` with its VG imported (visible, the pool active).
fn visible_pool_fake() -> Fake {
    let fake = pool_fake();
    for vg in &mut fake.state().vgs {
        vg.vg_exported.clear();
        vg.vg_attr = "wz--n-".into();
    }
    fake
}

#[test]
fn the_pool_summary_counts_complete_generations_names_the_newest_and_reads_the_pools_use() {
    let dir = private_dir();
    let plan = pool_plan(dir.path());
    let fake = visible_pool_fake();
    let summary = pool_summary(&plan, &fake).unwrap().expect("a pool plan");
    assert!(fake.commands().is_empty(), "{:?}", fake.commands());
    assert_eq!(summary.pool, "backup/gens");
    assert_eq!(summary.data_percent, Some(40.0));
    assert_eq!(summary.metadata_percent, Some(10.0));
    assert!(summary.notes.is_empty(), "{:?}", summary.notes);
    assert_eq!(
        summary.volumes,
        [
            VolumePoolSummary {
                volume: "root".into(),
                complete: 2,
                incomplete: 1,
                newest_complete: Some("20261202T031500Z".into()),
                newest_complete_at: Some(T),
            },
            VolumePoolSummary {
                volume: "home".into(),
                complete: 0,
                incomplete: 0,
                newest_complete: None,
                newest_complete_at: None,
            },
        ],
        "the untagged LV is no generation; home has none yet"
    );
}

#[test]
fn an_inactive_pool_has_no_use_but_its_generations_are_still_counted() {
    let dir = private_dir();
    let plan = pool_plan(dir.path());
    let fake = visible_pool_fake();
    for lv in fake.state().lvs.iter_mut().filter(|l| l.lv_name == "gens") {
        lv.data_percent = None;
        lv.metadata_percent = None;
    }
    let summary = pool_summary(&plan, &fake).unwrap().unwrap();
    assert_eq!(
        (summary.data_percent, summary.metadata_percent),
        (None, None)
    );
    assert_eq!(
        summary.notes,
        ["the pool's use cannot be read: it is inactive or missing"]
    );
    assert_eq!(summary.volumes[0].complete, 2);
}

#[test]
fn an_inactive_pool_shows_the_use_the_last_run_measured_and_says_so() {
    let dir = private_dir();
    let plan = pool_plan(dir.path());
    let fake = visible_pool_fake();
    for lv in fake.state().lvs.iter_mut().filter(|l| l.lv_name == "gens") {
        lv.data_percent = None;
        lv.metadata_percent = None;
    }
    for (run, started, data) in [("r1", T, 30.0), ("r2", T + 86_400, 40.0)] {
        let mut root = VolumeResult::new("root");
        root.pool_data_percent = Some(data);
        root.pool_metadata_percent = Some(data / 4.0);
        let mut record = RunRecord::for_test(0, vec![root]);
        record.run_id = run.into();
        record.started_at = started;
        record.finished_at = started + 60;
        save_record(&runs::run_record_path(&plan, run), &record).unwrap();
    }
    let summary = pool_summary(&plan, &fake).unwrap().unwrap();
    assert_eq!(
        (summary.data_percent, summary.metadata_percent),
        (Some(40.0), Some(10.0)),
        "the newest run's figures"
    );
    assert_eq!(
        summary.notes,
        ["the pool's use is as run r2 measured it (it is inactive or missing now)"]
    );
}

#[test]
fn an_exported_target_vg_is_read_through_its_segments() {
    let dir = private_dir();
    let plan = pool_plan(dir.path());
    let fake = pool_fake();
    let summary = pool_summary(&plan, &fake).unwrap().unwrap();
    assert_eq!(summary.volumes[0].complete, 2);
    assert_eq!(
        summary.volumes[0].newest_complete.as_deref(),
        Some("20261202T031500Z")
    );
}

#[test]
fn a_target_vg_not_visible_is_a_note_and_no_figures() {
    let dir = private_dir();
    let plan = pool_plan(dir.path());
    let fake = Fake::builder().vg("vg0", 15, 15).build();
    let summary = pool_summary(&plan, &fake).unwrap().unwrap();
    assert!(summary.volumes.is_empty());
    assert_eq!(summary.data_percent, None);
    assert_eq!(summary.notes.len(), 1);
    assert!(
        summary.notes[0].starts_with("the backup VG backup is not visible on this machine"),
        "{:?}",
        summary.notes
    );
}

#[test]
fn a_plan_without_a_pool_has_no_summary_and_lvm_is_not_asked() {
    let dir = private_dir();
    let plan = plan(dir.path());
    let fake = Fake::builder().without_tool("lvm").build();
    assert_eq!(pool_summary(&plan, &fake).unwrap(), None);
    let pool = pool_plan(dir.path());
    let err = pool_summary(&pool, &fake).unwrap_err();
    assert!(err.to_string().contains("lvm"), "{err}");
}
