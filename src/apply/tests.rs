//! Every failure path of apply against the in-memory machine. Each test
//! asserts on the machine's final state (snapshots present, hooks still
//! suspended, tags on the backups) and the exit code, not on log text.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::{Finished, Options, apply, recover};
use crate::ExitCode;
use crate::check::CheckReport;
use crate::graph::argv as commands;
use crate::graph::{Phase, PhaseSet};
use crate::plan::{Bandwidth, Hooks, Iscsi, LvPath, Plan, SnapshotSize, Target, Volume};
use crate::state::events::{self as events, Event};
use crate::state::journal::Journal;
use crate::state::runs::{self as history, VolumeStatus};
use crate::state::target_lock::{LastUser, Resource, TargetLock};
use crate::system::System;
use crate::system::fake::{CopyScript, Fake, MIB, lv};
use crate::tags;

struct Setup {
    _dir: tempfile::TempDir,
    plan: Plan,
    fake: Fake,
    interrupt: Arc<AtomicBool>,
}

fn volume(name: &str) -> Volume {
    Volume {
        name: name.into(),
        source: LvPath {
            vg: "vg0".into(),
            lv: name.into(),
        },
        target_lv: name.into(),
        snapshot_size: SnapshotSize::PercentOfOrigin(25.0),
        snapshot_size_set: false,
        snapshot_size_max: None,
        retain_base: true,
        bandwidth: Bandwidth::Unlimited,
        verify: true,
        after: vec![],
    }
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let plan = Plan {
        name: "nightly".into(),
        state_dir: dir.path().join("state"),
        target_lock_dir: dir.path().join("targets"),
        hooks: Some(Hooks {
            dir: "/hooks".into(),
            timeout: Duration::from_secs(1),
        }),
        target: Target {
            vg: "backup".into(),
            iscsi: None,
            export: false,
            keep_previous: false,
            generations: None,
        },
        volumes: vec![volume("a"), volume("b"), volume("c")],
    };
    let fake = Fake::new();
    let interrupt = Arc::new(AtomicBool::new(false));
    fake.state().signal = Some(Arc::clone(&interrupt));
    Setup {
        _dir: dir,
        plan,
        fake,
        interrupt,
    }
}

fn options() -> Options {
    Options {
        watchdog_interval: Duration::from_millis(1),
        vg_wait: Duration::from_millis(10),
        ..Options::default()
    }
}

fn run_phases(s: &Setup, phases: &[Phase]) -> Finished {
    let ok = |plan: &Plan| CheckReport::new(&plan.name, vec![]);
    apply(
        &s.plan,
        &PhaseSet::from_args(phases),
        &s.fake,
        &s.interrupt,
        options(),
        &ok,
    )
}

fn run(s: &Setup) -> Finished {
    run_phases(s, &[Phase::Backup])
}

fn statuses(f: &Finished) -> Vec<(String, VolumeStatus)> {
    f.outcome
        .as_ref()
        .unwrap()
        .volumes
        .iter()
        .map(|v| (v.volume.clone(), v.status))
        .collect()
}

fn has_tag(s: &Setup, lv: &str, tag: &str) -> bool {
    s.fake.tags_of("backup", lv).iter().any(|t| t == tag)
}

/// Nothing of the run left: no snapshot, every hook resumed exactly once.
fn assert_clean(s: &Setup) {
    assert_eq!(s.fake.snapshots(), Vec::<String>::new(), "snapshots left");
    assert_eq!(s.fake.unbalanced_hooks(), Vec::<String>::new(), "hooks");
    for (hook, n) in &s.fake.state().resumes {
        assert_eq!(*n, 1, "hook {hook} resumed {n} times");
    }
}

#[test]
fn a_clean_run_backs_up_every_volume_and_leaves_nothing() {
    let s = setup();
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    assert_clean(&s);
    assert_eq!(
        s.fake.hook_calls(),
        ["suspend 10-a", "suspend 20-b", "resume 20-b", "resume 10-a"]
    );
    // Snapshots all inside the suspend window.
    let log = s.fake.commands();
    let pos = |needle: &str| log.iter().position(|l| l.contains(needle)).unwrap();
    for v in ["a", "b", "c"] {
        let snap = pos(&format!("--name {v}-snapplan"));
        assert!(pos("hook suspend 20-b") < snap && snap < pos("hook resume 20-b"));
        assert!(has_tag(&s, v, commands::TAG_STATE_COMPLETE));
        assert!(!has_tag(&s, v, commands::TAG_STATE_INCOMPLETE));
        assert!(has_tag(&s, v, commands::TAG_ROLE_BACKUP));
    }
    let f_out = f.outcome.unwrap();
    assert!(
        f_out
            .volumes
            .iter()
            .all(|v| v.verified && v.status == VolumeStatus::Ok)
    );
    assert!(
        f_out
            .volumes
            .iter()
            .all(|v| v.snapshot_peak_percent.is_some())
    );
    // Run record and closed journal where docs/apply.md says.
    let run_id = f.run_id.unwrap();
    let record = history::run_record_path(&s.plan, &run_id);
    let record: history::RunRecord =
        serde_json::from_str(&std::fs::read_to_string(record).unwrap()).unwrap();
    assert_eq!(record.exit_code, Some(0));
    assert_eq!(record.volumes.len(), 3);
    let dir = history::plan_dir(&s.plan);
    assert!(!events::current_path(&dir).exists());
    assert!(events::archived_path(&dir, &run_id).exists());
}

#[test]
fn snapshot_commands_carry_the_plan_and_run_tags() {
    let s = setup();
    let f = run(&s);
    let run_id = f.run_id.unwrap();
    let log = s.fake.commands();
    let create = log
        .iter()
        .find(|l| l.starts_with("lvcreate --snapshot --name a-snapplan"))
        .unwrap();
    for tag in commands::snapshot_tags("nightly", &run_id) {
        assert!(create.contains(&format!("--addtag {tag}")), "{create}");
    }
    assert!(create.contains("--extents 25%ORIGIN"));
}

#[test]
fn a_failing_suspend_hook_resumes_the_earlier_ones_and_makes_no_snapshot() {
    let s = setup();
    s.fake.state().hook_fail.push("suspend:20-b".into());
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Failed);
    assert_clean(&s);
    // The failed (maybe half-suspended) hook is resumed first, then 10-a.
    assert_eq!(
        s.fake.hook_calls(),
        ["suspend 10-a", "suspend 20-b", "resume 20-b", "resume 10-a"]
    );
    assert!(!s.fake.commands().iter().any(|c| c.contains("--snapshot")));
    assert!(!s.fake.commands().iter().any(|c| c.starts_with("copy")));
}

#[test]
fn the_first_hook_timing_out_resumes_only_itself() {
    let s = setup();
    s.fake.state().hook_fail.push("suspend:10-a".into());
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Failed);
    assert_clean(&s);
    assert_eq!(s.fake.hook_calls(), ["suspend 10-a", "resume 10-a"]);
}

#[test]
fn a_failing_snapshot_removes_the_earlier_ones_and_resumes_the_hooks() {
    let s = setup();
    s.fake
        .state()
        .fail
        .push("lvcreate --snapshot --name c-snapplan".into());
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Failed);
    assert_clean(&s);
    let log = s.fake.commands();
    assert!(log.contains(&"remove vg0/a-snapplan".to_string()));
    assert!(log.contains(&"remove vg0/b-snapplan".to_string()));
    assert!(!log.iter().any(|c| c.starts_with("copy")));
    // The backup LVs created before the window say they hold no good copy.
    for v in ["a", "b", "c"] {
        assert!(has_tag(&s, v, commands::TAG_STATE_INCOMPLETE), "{v}");
    }
    // Resumed right after what stopped the snapshotting, before removals.
    let pos = |needle: &str| log.iter().position(|l| l == needle).unwrap();
    assert!(pos("hook resume 10-a") < pos("remove vg0/a-snapplan"));
}

#[test]
fn a_failing_copy_fails_that_volume_only() {
    let s = setup();
    s.fake
        .state()
        .copy_script
        .insert("b".into(), CopyScript::Fail);
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Partial);
    assert_clean(&s);
    assert_eq!(
        statuses(&f),
        [
            ("a".into(), VolumeStatus::Ok),
            ("b".into(), VolumeStatus::Failed),
            ("c".into(), VolumeStatus::Ok)
        ]
    );
    assert!(has_tag(&s, "b", commands::TAG_STATE_INCOMPLETE));
    assert!(!has_tag(&s, "b", commands::TAG_STATE_COMPLETE));
    assert!(has_tag(&s, "c", commands::TAG_STATE_COMPLETE));
}

#[test]
fn a_failing_verify_fails_that_volume_and_keeps_it_incomplete() {
    let s = setup();
    s.fake.state().verify_fail.push("backup/a".into());
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Partial);
    assert_clean(&s);
    assert!(has_tag(&s, "a", commands::TAG_STATE_INCOMPLETE));
    assert_eq!(statuses(&f)[0].1, VolumeStatus::Failed);
}

#[test]
fn every_copy_failing_is_total_failure() {
    let s = setup();
    for v in ["a", "b", "c"] {
        s.fake
            .state()
            .copy_script
            .insert(v.into(), CopyScript::Fail);
    }
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Failed);
    assert_clean(&s);
}

#[test]
fn an_overflowing_snapshot_fails_its_volume_incomplete_and_is_removed() {
    let s = setup();
    s.fake
        .state()
        .copy_script
        .insert("a".into(), CopyScript::InvalidateAt(1));
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Partial);
    assert_clean(&s);
    let out = f.outcome.unwrap();
    assert_eq!(out.volumes[0].status, VolumeStatus::Failed);
    assert!(
        out.volumes[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("INVALID")
    );
    assert_eq!(out.volumes[0].snapshot_peak_percent, Some(100.0));
    assert!(has_tag(&s, "a", commands::TAG_STATE_INCOMPLETE));
    // Not verified, not marked complete, snapshot still removed.
    assert!(
        !s.fake
            .commands()
            .contains(&"verify /dev/backup/a".to_string())
    );
    assert!(
        s.fake
            .commands()
            .contains(&"remove vg0/a-snapplan".to_string())
    );
    assert_eq!(out.volumes[1].status, VolumeStatus::Ok);
}

#[test]
fn a_read_error_from_an_overflowed_snapshot_is_reported_as_the_overflow() {
    let s = setup();
    s.fake
        .state()
        .copy_script
        .insert("b".into(), CopyScript::OverflowReadError(2));
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Partial);
    assert_clean(&s);
    let out = f.outcome.unwrap();
    let reason = out.volumes[1].reason.as_deref().unwrap();
    assert!(
        reason.contains("INVALID") && reason.contains("Input/output error"),
        "{reason}"
    );
    assert!(has_tag(&s, "b", commands::TAG_STATE_INCOMPLETE));
    // The peak is known even though no poll came before the error.
    assert!(out.volumes[1].snapshot_peak_percent.is_some());
}

#[test]
fn a_signal_mid_copy_stops_the_copy_and_rolls_back() {
    let s = setup();
    s.fake
        .state()
        .copy_script
        .insert("a".into(), CopyScript::SignalAt(1));
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Interrupted);
    assert_clean(&s);
    let log = s.fake.commands();
    assert!(!log.contains(&"copy b".to_string()), "{log:#?}");
    assert!(has_tag(&s, "a", commands::TAG_STATE_INCOMPLETE));
    let out = f.outcome.as_ref().unwrap();
    // How far the stopped copy got: backup/a was touched.
    assert!(out.volumes[0].bytes_written > 0 && out.volumes[0].bytes_written < 16 * MIB);
    assert!(
        out.volumes[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("interrupted")
    );
    let st = statuses(&f);
    assert_eq!(st[0].1, VolumeStatus::Failed);
    assert_eq!(st[1].1, VolumeStatus::NotRun);
    assert_eq!(st[2].1, VolumeStatus::NotRun);
}

#[test]
fn a_signal_in_the_suspend_window_takes_no_snapshot_and_resumes_every_hook() {
    let s = setup();
    s.fake.state().signal_on_hook = Some("suspend:20-b".into());
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Interrupted);
    assert_clean(&s);
    assert!(!s.fake.commands().iter().any(|c| c.contains("--snapshot")));
    assert_eq!(
        s.fake.hook_calls(),
        ["suspend 10-a", "suspend 20-b", "resume 20-b", "resume 10-a"]
    );
}

#[test]
fn a_panic_inside_a_step_rolls_back_and_exits_70() {
    let s = setup();
    s.fake.state().panic_on = Some("lvchange --deltag snapplan-state:complete".into());
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Internal);
    assert_clean(&s);
}

#[test]
fn a_panic_inside_a_copy_rolls_back_too() {
    let s = setup();
    s.fake
        .state()
        .copy_script
        .insert("b".into(), CopyScript::PanicAt(2));
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Internal);
    assert_clean(&s);
}

#[test]
fn a_rollback_step_failing_is_exit_5_and_recover_finishes_the_job() {
    let s = setup();
    {
        let mut st = s.fake.state();
        st.fail.push("lvcreate --snapshot --name c-snapplan".into());
        st.fail.push("remove vg0/a-snapplan".into());
    }
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::CleanupIncomplete);
    // The hooks were resumed all the same; snapshot a is still there.
    assert_eq!(s.fake.unbalanced_hooks(), Vec::<String>::new());
    assert_eq!(s.fake.snapshots(), ["vg0/a-snapplan"]);
    // The journal stays open for recover.
    let dir = history::plan_dir(&s.plan);
    assert!(events::current_path(&dir).exists());

    s.fake.state().fail.clear();
    let r = recover::recover(&s.plan, &s.fake);
    assert!(r.failures.is_empty(), "{r:#?}");
    assert_eq!(s.fake.snapshots(), Vec::<String>::new());
    assert!(!events::current_path(&dir).exists());
    // Nothing resumed twice: the journal knew the hooks were resumed.
    assert_clean(&s);
}

#[test]
fn a_resume_hook_failing_is_cleanup_incomplete() {
    let s = setup();
    s.fake.state().hook_fail.push("resume:20-b".into());
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::CleanupIncomplete);
    assert_eq!(s.fake.snapshots(), Vec::<String>::new());
    // Called once, not retried in a loop.
    assert_eq!(s.fake.state().resumes["20-b"], 1);
}

fn write_journal(s: &Setup, events_: &[Event]) {
    let path = events::current_path(&history::plan_dir(&s.plan));
    let mut j = Journal::open(&path).unwrap();
    for e in events_ {
        j.append(e).unwrap();
    }
}

fn started(step: &str) -> Event {
    Event::StepStarted {
        step: step.into(),
        at: 0,
    }
}

fn finished(step: &str) -> Event {
    Event::StepFinished {
        step: step.into(),
        ok: true,
        detail: String::new(),
        at: 0,
    }
}

fn hook(name: &str, action: &str, done: Option<bool>) -> Event {
    let hook = PathBuf::from(format!("/hooks/{name}"));
    match done {
        None => Event::HookStarted {
            hook,
            action: action.into(),
        },
        Some(ok) => Event::HookFinished {
            hook,
            action: action.into(),
            ok,
        },
    }
}

fn tagged_snapshot(s: &Setup, origin: &str, run: &str) {
    let mut snap = lv("vg0", &format!("{origin}-snapplan"), 4 * MIB);
    snap.origin = origin.into();
    snap.lv_attr = "swi-a-s---".into();
    snap.lv_tags = commands::snapshot_tags(&s.plan.name, run);
    s.fake.add_lv(snap);
}

fn run_started() -> Event {
    Event::RunStarted {
        run_id: "dead-1".into(),
        plan: "nightly".into(),
        pid: 1,
        phases: vec!["backup".into()],
        at: 0,
    }
}

#[test]
fn recover_after_death_in_the_suspend_window() {
    let s = setup();
    write_journal(
        &s,
        &[
            run_started(),
            started("activate:backup"),
            finished("activate:backup"),
            started("suspend:10-a"),
            hook("10-a", "suspend", None),
            hook("10-a", "suspend", Some(true)),
            finished("suspend:10-a"),
            started("suspend:20-b"),
            hook("20-b", "suspend", None),
            hook("20-b", "suspend", Some(true)),
            finished("suspend:20-b"),
            started("snapshot:a"),
        ],
    );
    // The dead run had suspended both hooks and made snapshot a.
    {
        let mut st = s.fake.state();
        st.suspended.insert("10-a".into(), 1);
        st.suspended.insert("20-b".into(), 1);
    }
    tagged_snapshot(&s, "a", "dead-1");
    // An admin's own look-alike, untagged: never touched.
    let mut mine = lv("vg0", "b-snapplan", 4 * MIB);
    mine.origin = "b".into();
    s.fake.add_lv(mine);

    let r = recover::recover(&s.plan, &s.fake);
    assert!(r.failures.is_empty(), "{r:#?}");
    assert_eq!(r.dead_run.as_deref(), Some("dead-1"));
    assert_eq!(s.fake.hook_calls(), ["resume 20-b", "resume 10-a"]);
    assert_eq!(s.fake.unbalanced_hooks(), Vec::<String>::new());
    assert_eq!(s.fake.snapshots(), ["vg0/b-snapplan"]);
    assert!(s.fake.state().inactive_vgs.contains("backup"));
    let dir = history::plan_dir(&s.plan);
    assert!(!events::current_path(&dir).exists());
    assert!(events::archived_path(&dir, "dead-1").exists());
    // A second recover has nothing to do.
    let again = recover::recover(&s.plan, &s.fake);
    assert!(again.nothing_to_do(), "{again:#?}");
}

#[test]
fn recover_skips_deactivating_a_vg_gone_from_view_or_exported_and_still_logs_out() {
    for exported in [false, true] {
        let mut s = setup();
        s.plan.target.iscsi = Some(Iscsi {
            portal: "192.0.2.10:3260".into(),
            iqn: "iqn.2026-01.org.example:backup".into(),
        });
        s.plan.target.export = true;
        write_journal(
            &s,
            &[
                run_started(),
                started("iscsi-login"),
                finished("iscsi-login"),
                started("activate:backup"),
                finished("activate:backup"),
                started("deactivate:backup"),
            ],
        );
        {
            let mut st = s.fake.state();
            if exported {
                let vg = st.vgs.iter_mut().find(|v| v.vg_name == "backup");
                vg.unwrap().vg_exported = "exported".into();
            } else {
                // After a reboot: the session and with it the VG are gone.
                st.vgs.retain(|v| v.vg_name != "backup");
            }
            // What LVM answers for such a VG.
            st.fail.push("vgchange --activate n backup".into());
            st.fail.push("vgexport backup".into());
        }
        let r = recover::recover(&s.plan, &s.fake);
        assert!(r.failures.is_empty(), "{r:#?}");
        let log = s.fake.commands();
        assert!(!log.iter().any(|l| l.starts_with("vg")), "{log:#?}");
        assert!(log.iter().any(|l| l.ends_with("--logout")), "{log:#?}");
    }
}

#[test]
fn recover_after_death_mid_suspend_resumes_the_half_suspended_hook() {
    let s = setup();
    write_journal(
        &s,
        &[
            run_started(),
            hook("10-a", "suspend", None),
            hook("10-a", "suspend", Some(true)),
            hook("20-b", "suspend", None),
        ],
    );
    let r = recover::recover(&s.plan, &s.fake);
    assert!(r.failures.is_empty());
    assert_eq!(s.fake.hook_calls(), ["resume 20-b", "resume 10-a"]);
    // No activate in the journal: the target is left as it was.
    assert!(s.fake.state().inactive_vgs.is_empty());
}

#[test]
fn the_next_apply_recovers_a_death_mid_copy_first_then_runs() {
    let s = setup();
    write_journal(
        &s,
        &[
            run_started(),
            hook("10-a", "suspend", None),
            hook("10-a", "suspend", Some(true)),
            hook("10-a", "resume", None),
            hook("10-a", "resume", Some(true)),
            started("copy:a"),
        ],
    );
    for v in ["a", "b", "c"] {
        tagged_snapshot(&s, v, "dead-1");
    }
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    // No hook resumed by the recovery (the dead run had resumed it).
    assert_eq!(
        s.fake.hook_calls(),
        ["suspend 10-a", "suspend 20-b", "resume 20-b", "resume 10-a"]
    );
    assert_clean(&s);
    let log = s.fake.commands();
    let pos = |needle: &str| log.iter().position(|l| l == needle).unwrap();
    assert!(pos("remove vg0/a-snapplan") < pos("hook suspend 10-a"));
}

#[test]
fn a_failed_recovery_stops_the_next_apply_before_anything_runs() {
    let s = setup();
    write_journal(&s, &[run_started(), hook("10-a", "suspend", None)]);
    s.fake.state().hook_fail.push("resume:10-a".into());
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::CleanupIncomplete);
    assert!(!s.fake.commands().iter().any(|c| c.contains("--snapshot")));
}

#[test]
fn a_failed_preflight_changes_nothing() {
    let s = setup();
    let failing = |plan: &Plan| {
        CheckReport::new(
            &plan.name,
            vec![crate::check::CheckResult::new(
                crate::check::CheckKind::Tool,
                "lvm",
                crate::check::Status::Fail,
                "not found",
            )],
        )
    };
    let f = apply(
        &s.plan,
        &PhaseSet::from_args(&[]),
        &s.fake,
        &s.interrupt,
        options(),
        &failing,
    );
    assert_eq!(f.exit, ExitCode::Failed);
    assert!(s.fake.commands().is_empty(), "{:?}", s.fake.commands());
}

#[test]
fn a_held_lock_exits_3_with_nothing_done() {
    let s = setup();
    let _held = crate::state::lock::RunLock::acquire(&s.plan.state_dir, &s.plan.name).unwrap();
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Locked);
    assert!(s.fake.commands().is_empty());
}

#[test]
fn backups_are_created_with_the_origin_size_and_extended_never_shrunk() {
    let s = setup();
    // b exists, smaller than its origin; c exists, larger.
    let mut b = lv("backup", "b", 8 * MIB);
    b.lv_tags = commands::backup_tags("nightly");
    s.fake.add_lv(b);
    s.fake.add_lv(lv("backup", "c", 64 * MIB));
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Success);
    let log = s.fake.commands();
    assert!(
        log.iter()
            .any(|c| c.starts_with("lvcreate --yes --name a --size 16777216b"))
    );
    assert!(log.contains(&"lvextend --size 16777216b backup/b".to_string()));
    assert!(
        !log.iter()
            .any(|c| c.contains("lvextend") && c.contains("backup/c"))
    );
    assert!(!log.iter().any(|c| c.starts_with("remove backup/")));
    let sizes: Vec<u64> = s
        .fake
        .state()
        .lvs
        .iter()
        .filter(|l| l.vg_name == "backup")
        .map(|l| l.lv_size)
        .collect();
    assert_eq!(sizes, [8 * MIB * 2, 64 * MIB, 16 * MIB]);
}

#[test]
fn bandwidth_from_the_command_line_overrides_the_plan() {
    let mut s = setup();
    s.plan.volumes[0].bandwidth = Bandwidth::BytesPerSecond(10 * MIB);
    s.plan.volumes[1].bandwidth = Bandwidth::BytesPerSecond(10 * MIB);
    let ok = |plan: &Plan| CheckReport::new(&plan.name, vec![]);
    let f = apply(
        &s.plan,
        &PhaseSet::from_args(&[Phase::Backup]),
        &s.fake,
        &s.interrupt,
        Options {
            bandwidth: Some(Bandwidth::BytesPerSecond(MIB)),
            ..options()
        },
        &ok,
    );
    assert_eq!(f.exit, ExitCode::Success);
    let jobs = s.fake.state().copy_jobs.clone();
    assert!(jobs.iter().all(|j| j.bytes_per_second == Some(MIB)));
    assert!(jobs[0].manifest.ends_with("nightly/manifests/a.json"));
}

#[test]
fn the_plan_bandwidth_applies_without_an_override() {
    let mut s = setup();
    s.plan.volumes[0].bandwidth = Bandwidth::BytesPerSecond(10 * MIB);
    run(&s);
    let jobs = s.fake.state().copy_jobs.clone();
    assert_eq!(jobs[0].bytes_per_second, Some(10 * MIB));
    assert_eq!(jobs[1].bytes_per_second, None);
}

#[test]
fn lifecycle_phases_run_the_iscsi_and_vg_commands_in_order() {
    let mut s = setup();
    s.plan.target.iscsi = Some(Iscsi {
        portal: "192.0.2.10:3260".into(),
        iqn: "iqn.2026-01.org.example:backup".into(),
    });
    s.plan.target.export = true;
    let f = run_phases(&s, &Phase::ALL);
    assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    let log = s.fake.commands();
    let pos = |prefix: &str| log.iter().position(|l| l.starts_with(prefix)).unwrap();
    assert!(
        pos("iscsiadm --mode discovery")
            < pos(
                "iscsiadm --mode node --targetname iqn.2026-01.org.example:backup --portal 192.0.2.10:3260 --login"
            )
    );
    assert!(pos("iscsiadm --mode node") < pos("vgchange --activate y backup"));
    assert!(pos("vgchange --activate y backup") < pos("lvcreate --yes --name a"));
    assert!(pos("remove vg0/c-snapplan") < pos("vgchange --activate n backup"));
    assert!(pos("vgchange --activate n backup") < pos("vgexport backup"));
    assert!(pos("vgexport backup") < log.iter().rposition(|l| l.contains("--logout")).unwrap());
    assert!(s.fake.state().inactive_vgs.contains("backup"));
}

fn vg_exported(s: &Setup, vg: &str) -> bool {
    let state = s.fake.state();
    state.vgs.iter().any(|v| v.vg_name == vg && v.is_exported())
}

#[test]
fn deactivate_twice_succeeds_and_leaves_the_vg_exported() {
    let mut s = setup();
    s.plan.target.export = true;
    let first = run_phases(&s, &[Phase::Deactivate]);
    assert_eq!(first.exit, ExitCode::Success, "{:#?}", first.outcome);
    assert_eq!(
        s.fake.commands(),
        ["vgchange --activate n backup", "vgexport backup"]
    );
    assert!(vg_exported(&s, "backup"));
    // On the exported VG, LVM refuses both commands (so does the fake):
    // nothing to do is success, not a failure.
    let second = run_phases(&s, &[Phase::Deactivate]);
    assert_eq!(second.exit, ExitCode::Success, "{:#?}", second.outcome);
    assert_eq!(s.fake.commands().len(), 2, "{:#?}", s.fake.commands());
    assert!(vg_exported(&s, "backup"));
    assert!(s.fake.state().inactive_vgs.contains("backup"));
}

#[test]
fn deactivate_without_export_twice_deactivates_twice() {
    let s = setup();
    for _ in 0..2 {
        let f = run_phases(&s, &[Phase::Deactivate]);
        assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    }
    assert_eq!(
        s.fake.commands(),
        [
            "vgchange --activate n backup",
            "vgchange --activate n backup"
        ]
    );
    assert!(!vg_exported(&s, "backup"));
}

#[test]
fn deactivate_of_a_vg_not_visible_fails_rather_than_passing_for_done() {
    let mut s = setup();
    s.plan.target.export = true;
    s.fake.state().vgs.retain(|v| v.vg_name != "backup");
    let f = run_phases(&s, &[Phase::Deactivate]);
    assert_ne!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    assert_eq!(s.fake.commands(), ["vgchange --activate n backup"]);
}

#[test]
fn activate_twice_imports_once_and_succeeds_both_times() {
    let mut s = setup();
    s.plan.target.export = true;
    {
        let mut state = s.fake.state();
        let vg = state.vgs.iter_mut().find(|v| v.vg_name == "backup");
        let vg = vg.unwrap();
        vg.vg_exported = "exported".into();
        vg.vg_attr = "wzx-n-".into();
        state.inactive_vgs.insert("backup".into());
    }
    for _ in 0..2 {
        let f = run_phases(&s, &[Phase::Activate]);
        assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    }
    assert_eq!(
        s.fake.commands(),
        [
            "vgimport backup",
            "vgchange --activate y backup",
            "vgchange --activate y backup"
        ]
    );
    assert!(!vg_exported(&s, "backup"));
    assert!(!s.fake.state().inactive_vgs.contains("backup"));
}

#[test]
fn a_login_whose_vg_never_appears_logs_out_again() {
    let mut s = setup();
    s.plan.target.iscsi = Some(Iscsi {
        portal: "192.0.2.10:3260".into(),
        iqn: "iqn.2026-01.org.example:backup".into(),
    });
    s.fake.state().vgs.retain(|v| v.vg_name != "backup");
    let f = run_phases(&s, &Phase::ALL);
    assert_eq!(f.exit, ExitCode::Failed, "{:#?}", f.outcome);
    let log = s.fake.commands();
    let login = log.iter().position(|l| l.ends_with("--login")).unwrap();
    let logouts: Vec<usize> = (0..log.len())
        .filter(|&i| log[i].ends_with("--logout"))
        .collect();
    assert_eq!(logouts.len(), 1, "{log:#?}");
    assert!(login < logouts[0]);
    assert!(!log.iter().any(|l| l.starts_with("vgchange")), "{log:#?}");
    assert_clean(&s);
}

#[test]
fn a_target_that_does_not_come_up_suspends_no_hook_and_takes_no_snapshot() {
    let s = setup();
    s.fake.state().fail.push("vgchange --activate y".into());
    let f = run_phases(&s, &Phase::ALL);
    assert_eq!(f.exit, ExitCode::Failed, "{:#?}", f.outcome);
    assert_eq!(s.fake.hook_calls(), Vec::<String>::new());
    let log = s.fake.commands();
    assert!(!log.iter().any(|l| l.contains("--snapshot")), "{log:#?}");
    assert_clean(&s);
}

#[test]
fn a_failure_after_activate_deactivates_the_target_even_when_only_activate_was_asked() {
    let s = setup();
    s.fake.state().hook_fail.push("suspend:10-a".into());
    let f = run_phases(&s, &[Phase::Activate, Phase::Backup]);
    assert_eq!(f.exit, ExitCode::Failed);
    assert!(s.fake.state().inactive_vgs.contains("backup"));
    assert_clean(&s);
}

#[test]
fn the_remove_phase_removes_only_backups_tagged_for_this_plan() {
    let s = setup();
    let mut a = lv("backup", "a", 16 * MIB);
    a.lv_tags = commands::backup_tags("nightly");
    s.fake.add_lv(a);
    s.fake.add_lv(lv("backup", "b", 16 * MIB)); // not ours
    let f = run_phases(&s, &[Phase::Remove]);
    let log = s.fake.commands();
    assert!(log.contains(&"remove backup/a".to_string()));
    assert!(!log.contains(&"remove backup/b".to_string()));
    assert_eq!(f.exit, ExitCode::Failed);
    assert_eq!(
        s.fake
            .state()
            .lvs
            .iter()
            .filter(|l| l.vg_name == "backup")
            .count(),
        1
    );
}

#[test]
fn the_remove_phase_fails_on_an_exported_or_missing_vg_and_removes_nothing() {
    for exported in [true, false] {
        let s = setup();
        let mut a = lv("backup", "a", 16 * MIB);
        a.lv_tags = commands::backup_tags("nightly");
        s.fake.add_lv(a);
        if exported {
            let mut state = s.fake.state();
            let vg = state.vgs.iter_mut().find(|v| v.vg_name == "backup");
            vg.unwrap().vg_exported = "exported".into();
        } else {
            s.fake.state().vgs.retain(|v| v.vg_name != "backup");
        }
        let f = run_phases(&s, &[Phase::Remove]);
        assert_eq!(f.exit, ExitCode::Failed);
        let problems = f.outcome.unwrap().problems.join("\n");
        let why = if exported {
            "is exported"
        } else {
            "is not visible"
        };
        assert!(problems.contains(why), "{problems}");
        assert!(!s.fake.commands().iter().any(|l| l.starts_with("remove")));
        assert_eq!(
            s.fake.tags_of("backup", "a"),
            commands::backup_tags("nightly")
        );
    }
}

#[test]
fn a_fractional_percentage_becomes_whole_extents_in_bytes() {
    let mut s = setup();
    s.plan.volumes[0].snapshot_size = SnapshotSize::PercentOfOrigin(12.5);
    run(&s);
    let log = s.fake.commands();
    // 12.5% of 16 MiB = 2 MiB, rounded up to one 4 MiB extent.
    assert!(
        log.iter()
            .any(|l| l.starts_with("lvcreate --snapshot --name a-snapplan --size 4194304b")),
        "{log:#?}"
    );
}

#[test]
fn snapshot_role_tag_is_the_one_check_and_recover_look_for() {
    let tags_ = commands::snapshot_tags("p", "r");
    let owner = tags::ownership(&tags_).unwrap();
    assert_eq!(owner.role.as_deref(), Some(tags::ROLE_SNAPSHOT));
}

#[test]
fn run_ids_sort_by_time_and_are_valid_in_lvm_tags() {
    let id = super::new_run_id();
    let re = regex::Regex::new(r"^\d{8}T\d{6}Z-\d+$").unwrap();
    assert!(re.is_match(&id), "{id}");
    assert!(id.starts_with("20"));
}

#[test]
fn the_journal_tells_which_hooks_are_still_suspended() {
    let left = recover::leftovers(&[
        hook("10-a", "suspend", None),
        hook("10-a", "suspend", Some(true)),
        hook("20-b", "suspend", None),
        hook("20-b", "suspend", Some(false)),
        hook("20-b", "resume", None),
        hook("20-b", "resume", Some(true)),
        hook("10-a", "resume", None),
        started("activate:backup"),
        started("iscsi-login"),
        finished("iscsi-logout"),
    ]);
    assert_eq!(left.suspended, [PathBuf::from("/hooks/10-a")]);
    assert_eq!(left.activated_vg.as_deref(), Some("backup"));
    assert!(!left.logged_in);
}

#[test]
fn a_new_backup_lv_never_takes_a_delta_from_an_old_manifest() {
    let s = setup();
    let manifest = history::manifest_path(&s.plan, "a");
    std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
    std::fs::write(&manifest, "{}").unwrap();
    let kept = history::manifest_path(&s.plan, "b");
    std::fs::write(&kept, "{}").unwrap();
    let mut b = lv("backup", "b", 16 * MIB);
    b.lv_tags = commands::backup_tags("nightly");
    s.fake.add_lv(b);
    run(&s);
    // a's backup LV was created: its old manifest is gone (the fake copy
    // writes none); b's LV was there: its manifest stays for the delta.
    assert!(!manifest.exists());
    assert!(kept.exists());
}

#[test]
fn hooks_listed_only_at_run_time_are_suspended_and_resumed_one_by_one() {
    let s = setup();
    s.fake.state().unlistable = 1; // at compile time: one step for the directory
    s.fake.state().hook_fail.push("suspend:20-b".into());
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Failed);
    assert_clean(&s);
    assert_eq!(
        s.fake.hook_calls(),
        ["suspend 10-a", "suspend 20-b", "resume 20-b", "resume 10-a"]
    );
}

#[test]
fn hooks_listed_only_at_run_time_run_like_listed_ones() {
    let s = setup();
    s.fake.state().unlistable = 1;
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Success);
    assert_clean(&s);
    assert_eq!(
        s.fake.hook_calls(),
        ["suspend 10-a", "suspend 20-b", "resume 20-b", "resume 10-a"]
    );
}

#[test]
fn recover_on_a_forged_journal_runs_no_foreign_hook_and_leaves_other_vgs_alone() {
    // issue 10 item 1: the journal named /tmp/evil and an origin VG, and
    // recover ran the one as root and deactivated the other.
    let s = setup();
    write_journal(
        &s,
        &[
            run_started(),
            started("activate:vg0"),
            finished("activate:vg0"),
            Event::HookStarted {
                hook: "/tmp/evil".into(),
                action: "suspend".into(),
            },
            hook("99-not-a-hook", "suspend", None),
        ],
    );
    let r = recover::recover(&s.plan, &s.fake);
    assert_eq!(s.fake.hook_calls(), Vec::<String>::new(), "no hook ran");
    assert!(!s.fake.state().inactive_vgs.contains("vg0"));
    assert!(!s.fake.commands().iter().any(|c| c.contains("vg0")));
    let failures = r.failures.join("\n");
    assert!(
        failures.contains("/tmp/evil") && failures.contains("not in the plan's hooks directory")
    );
    assert!(failures.contains("99-not-a-hook") && failures.contains("not one of the plan's hooks"));
    assert!(failures.contains("VG vg0") && failures.contains("--discard-journal"));
    // The journal stays for the admin to look at.
    assert!(events::current_path(&history::plan_dir(&s.plan)).exists());
}

#[test]
fn recover_resumes_no_hook_for_a_plan_without_hooks() {
    let mut s = setup();
    s.plan.hooks = None;
    write_journal(&s, &[run_started(), hook("10-a", "suspend", None)]);
    let r = recover::recover(&s.plan, &s.fake);
    assert_eq!(s.fake.hook_calls(), Vec::<String>::new());
    assert!(r.failures.join("\n").contains("the plan has no hooks"));
}

/// vg0/t is a thin volume in vg0/pool, next to the classic a, b, c.
fn thin_setup(pool_data_percent: f64) -> Setup {
    let mut s = setup();
    let pool = {
        let mut pool = lv("vg0", "pool", 64 * MIB);
        pool.lv_attr = "twi-aotz--".into();
        pool.segtype = "thin-pool".into();
        pool.data_percent = Some(pool_data_percent);
        pool.metadata_percent = Some(5.0);
        pool
    };
    let mut thin = lv("vg0", "t", 16 * MIB);
    thin.lv_attr = "Vwi-a-tz--".into();
    thin.segtype = "thin".into();
    thin.pool_lv = "pool".into();
    s.fake.add_lv(pool);
    s.fake.add_lv(thin);
    s.plan.volumes.insert(0, volume("t"));
    s
}

#[test]
fn a_thin_origin_gets_a_thin_snapshot_in_the_same_window_as_the_classic_ones() {
    let s = thin_setup(10.0);
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    assert_clean(&s);
    let log = s.fake.commands();
    let creates: Vec<&String> = log
        .iter()
        .filter(|l| l.starts_with("lvcreate --snapshot"))
        .collect();
    assert_eq!(creates.len(), 4, "one snapshot per volume: {creates:#?}");
    assert!(
        creates[0].starts_with("lvcreate --snapshot --name t-snapplan --ignoreactivationskip")
            && !creates[0].contains("--size")
            && !creates[0].contains("--extents"),
        "{}",
        creates[0]
    );
    assert!(
        creates[1..]
            .iter()
            .all(|c| c.contains("--extents 25%ORIGIN"))
    );
    let resume = log
        .iter()
        .position(|l| l.contains("hook resume 20-b"))
        .unwrap();
    let last_snapshot = log
        .iter()
        .rposition(|l| l.starts_with("lvcreate --snapshot"))
        .unwrap();
    assert!(
        last_snapshot < resume,
        "all snapshots before the resume hooks"
    );
    assert!(has_tag(&s, "t", commands::TAG_STATE_COMPLETE));
}

#[test]
fn a_pool_at_the_guard_fails_the_thin_volume_removes_its_snapshot_and_the_others_go_on() {
    let s = thin_setup(95.0);
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Partial, "{:#?}", f.outcome);
    assert_clean(&s);
    let outcome = f.outcome.as_ref().unwrap();
    let t = outcome.volumes.iter().find(|v| v.volume == "t").unwrap();
    assert_eq!(t.status, VolumeStatus::Failed);
    let reason = t.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("thin pool vg0/pool reached 95.0% data"),
        "{reason}"
    );
    assert!(!has_tag(&s, "t", commands::TAG_STATE_COMPLETE));
    assert!(
        s.fake
            .commands()
            .iter()
            .any(|l| l.contains("remove vg0/t-snapplan")),
        "{:#?}",
        s.fake.commands()
    );
    for v in ["a", "b", "c"] {
        assert!(has_tag(&s, v, commands::TAG_STATE_COMPLETE), "{v}");
    }
}

fn at(event: Event, t: u64) -> Event {
    match event {
        Event::StepStarted { step, .. } => Event::StepStarted { step, at: t },
        Event::StepFinished {
            step, ok, detail, ..
        } => Event::StepFinished {
            step,
            ok,
            detail,
            at: t,
        },
        other => other,
    }
}

/// A run that died copying volume b: a copied and verified, b a quarter
/// copied, c not started; its snapshots still there.
fn died_mid_copy_of_b(s: &Setup) {
    let mut journal = vec![Event::RunStarted {
        run_id: "dead-1".into(),
        plan: "nightly".into(),
        pid: 1,
        phases: vec!["backup".into()],
        at: 100,
    }];
    for v in ["a", "b", "c"] {
        journal.push(at(started(&format!("snapshot:{v}")), 101));
        journal.push(at(finished(&format!("snapshot:{v}")), 101));
    }
    journal.extend([
        at(started("copy:a"), 102),
        at(finished("copy:a"), 110),
        at(started("verify:a"), 110),
        at(finished("verify:a"), 112),
        at(started("remove-snapshot:a"), 112),
        at(finished("remove-snapshot:a"), 112),
        at(started("copy:b"), 113),
        Event::CopyProgress {
            volume: "b".into(),
            done: 2 * MIB,
            total: 8 * MIB,
            written: MIB,
            at: 115,
        },
    ]);
    write_journal(s, &journal);
    for v in ["b", "c"] {
        tagged_snapshot(s, v, "dead-1");
    }
}

fn dead_record(s: &Setup) -> history::RunRecord {
    history::load_record(&history::run_record_path(&s.plan, "dead-1")).unwrap()
}

#[test]
fn recover_records_a_run_killed_mid_copy_as_died_with_what_it_had_done_and_undone() {
    let s = setup();
    died_mid_copy_of_b(&s);
    let r = recover::recover(&s.plan, &s.fake);
    assert!(r.failures.is_empty(), "{r:#?}");
    let record = dead_record(&s);
    assert_eq!(record.exit_code, None);
    assert_eq!(record.ending, "died");
    assert!(!record.succeeded());
    assert_eq!((record.started_at, record.finished_at), (100, 115));
    assert_eq!(
        statuses_of(&record),
        [
            ("a".to_string(), VolumeStatus::Ok),
            ("b".to_string(), VolumeStatus::Interrupted),
            ("c".to_string(), VolumeStatus::NotRun),
        ]
    );
    assert!(record.volumes[0].verified);
    let b = &record.volumes[1];
    assert_eq!((b.size_bytes, b.bytes_written), (2 * MIB, MIB));
    let reason = b.reason.as_deref().unwrap();
    assert!(reason.contains("2.0 MiB of 8.0 MiB"), "{reason}");
    assert!(
        record.problems[0].contains("during step copy:b"),
        "{:?}",
        record.problems
    );
    let recovery = record.recovery.unwrap();
    assert!(recovery.not_undone.is_empty());
    assert!(
        recovery
            .undone
            .iter()
            .any(|a| a == "removed snapshot vg0/b-snapplan"),
        "{:?}",
        recovery.undone
    );
    assert_eq!(recovery.by_pid, std::process::id());
}

fn statuses_of(record: &history::RunRecord) -> Vec<(String, VolumeStatus)> {
    record
        .volumes
        .iter()
        .map(|v| (v.volume.clone(), v.status))
        .collect()
}

#[test]
fn a_second_recover_leaves_the_dead_runs_record_as_the_first_wrote_it() {
    let s = setup();
    died_mid_copy_of_b(&s);
    assert!(recover::recover(&s.plan, &s.fake).failures.is_empty());
    let path = history::run_record_path(&s.plan, "dead-1");
    let first = std::fs::read(&path).unwrap();
    let again = recover::recover(&s.plan, &s.fake);
    assert!(again.nothing_to_do(), "{again:#?}");
    assert_eq!(std::fs::read(&path).unwrap(), first);
    let records: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(records, ["dead-1.json"]);
}

#[test]
fn an_incomplete_recovery_records_what_it_could_not_undo_and_the_next_adds_to_it() {
    let s = setup();
    write_journal(
        &s,
        &[
            run_started(),
            hook("10-a", "suspend", None),
            hook("10-a", "suspend", Some(true)),
        ],
    );
    tagged_snapshot(&s, "a", "dead-1");
    s.fake.state().hook_fail.push("resume:10-a".into());
    let r = recover::recover(&s.plan, &s.fake);
    assert!(!r.failures.is_empty());
    let record = dead_record(&s);
    let recovery = record.recovery.clone().unwrap();
    assert_eq!(recovery.not_undone, r.failures);
    assert!(
        recovery
            .undone
            .contains(&"removed snapshot vg0/a-snapplan".to_string())
    );
    assert_eq!(statuses_of(&record)[0].1, VolumeStatus::NotRun);

    s.fake.state().hook_fail.clear();
    let r = recover::recover(&s.plan, &s.fake);
    assert!(r.failures.is_empty(), "{r:#?}");
    let recovery = dead_record(&s).recovery.unwrap();
    assert!(recovery.not_undone.is_empty());
    assert_eq!(
        recovery.undone,
        [
            "removed snapshot vg0/a-snapplan",
            "resumed hook /hooks/10-a"
        ]
    );
}

#[test]
fn a_run_that_wrote_its_own_record_before_its_journal_was_recovered_keeps_it() {
    let s = setup();
    {
        let mut st = s.fake.state();
        st.fail.push("lvcreate --snapshot --name c-snapplan".into());
        st.fail.push("remove vg0/a-snapplan".into());
    }
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::CleanupIncomplete);
    let path = history::run_record_path(&s.plan, f.run_id.as_deref().unwrap());
    let own = std::fs::read(&path).unwrap();
    s.fake.state().fail.clear();
    assert!(recover::recover(&s.plan, &s.fake).failures.is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), own);
    assert_eq!(history::load_record(&path).unwrap().exit_code, Some(5));
}

#[test]
fn the_apply_that_recovers_first_leaves_the_dead_run_in_the_history_before_its_own() {
    let s = setup();
    died_mid_copy_of_b(&s);
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    assert!(dead_record(&s).died());
    let own = history::run_record_path(&s.plan, f.run_id.as_deref().unwrap());
    assert!(history::load_record(&own).unwrap().succeeded());
}

#[test]
fn a_copy_finished_but_not_released_whose_previous_backup_came_back_is_not_backed_up() {
    let s = setup();
    let events_ = [
        run_started(),
        started("protect:a"),
        finished("protect:a"),
        started("copy:a"),
        finished("copy:a"),
        started("verify:a"),
        finished("verify:a"),
        started("release:a"),
    ];
    let recovery = recover::Recovery {
        dead_run: Some("dead-1".into()),
        merged_back: vec!["a".into()],
        ..Default::default()
    };
    let record = super::died::record(&s.plan, &events_, &recovery, 9, 1).unwrap();
    assert_eq!(record.volumes[0].status, VolumeStatus::Failed);
    let reason = record.volumes[0].reason.as_deref().unwrap();
    assert!(
        reason.contains("merged the previous backup back into backup/a"),
        "{reason}"
    );
    assert!(record.problems[0].contains("during step release:a"));
    // Without the merge (no previous backup to protect) the copy stands.
    let record = super::died::record(&s.plan, &events_, &recover::Recovery::default(), 9, 1);
    assert_eq!(record.unwrap().volumes[0].status, VolumeStatus::Ok);
    // A journal that names no run gives no record.
    assert!(super::died::record(&s.plan, &events_[1..], &recovery, 9, 1).is_none());
}

#[test]
fn a_dead_runs_failures_outside_a_volume_are_its_problems_bounded() {
    let s = setup();
    let failed = |step: &str, detail: String| Event::StepFinished {
        step: step.into(),
        ok: false,
        detail,
        at: 7,
    };
    let mut events_ = vec![run_started(), started("suspend:20-b")];
    events_.push(failed("suspend:20-b", "x".repeat(10_000)));
    for n in 0..500 {
        events_.push(started(&format!("resume:{n}")));
        events_.push(failed(&format!("resume:{n}"), "exit 1".into()));
    }
    let record =
        super::died::record(&s.plan, &events_, &recover::Recovery::default(), 9, 1).unwrap();
    assert!(record.problems[1].starts_with("suspend:20-b: xxx"));
    assert!(
        record.problems[1].len() < 2100,
        "{}",
        record.problems[1].len()
    );
    assert_eq!(record.problems[2], "resume:0: exit 1");
    assert!(record.problems.len() <= 102, "{}", record.problems.len());
    assert_eq!(record.finished_at, 7);
}

/// Another plan's run holding the target shared, as its apply would.
fn other_plan_uses(s: &Setup, resource: Resource) -> TargetLock {
    TargetLock::acquire_shared(
        &s.plan.target_lock_dir,
        &resource,
        "other",
        Duration::from_millis(100),
    )
    .unwrap()
}

fn iscsi_setup() -> Setup {
    let mut s = setup();
    s.plan.target.iscsi = Some(Iscsi {
        portal: "192.0.2.10:3260".into(),
        iqn: "iqn.2026-01.org.example:backup".into(),
    });
    s.plan.target.export = true;
    s
}

#[test]
fn a_run_that_is_not_the_last_user_leaves_the_target_to_the_other_plan_and_says_so() {
    let s = iscsi_setup();
    let vg = other_plan_uses(&s, Resource::Vg("backup".into()));
    let iscsi = other_plan_uses(&s, Resource::Iscsi("iqn.2026-01.org.example:backup".into()));
    let f = run_phases(&s, &Phase::ALL);
    assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    let log = s.fake.commands();
    assert!(
        log.iter().any(|l| l == "vgchange --activate y backup"),
        "{log:#?}"
    );
    assert!(
        !log.iter().any(|l| l == "vgchange --activate n backup"),
        "{log:#?}"
    );
    assert!(!log.iter().any(|l| l == "vgexport backup"), "{log:#?}");
    assert!(!log.iter().any(|l| l.ends_with("--logout")), "{log:#?}");
    assert!(!s.fake.state().inactive_vgs.contains("backup"));
    let summary = f.summary.unwrap();
    assert!(
        summary.contains("note: VG backup left active:"),
        "{summary}"
    );
    assert!(
        summary.contains("note: iSCSI target iqn.2026-01.org.example:backup left logged in:"),
        "{summary}"
    );
    let record = history::load_record(&history::run_record_path(
        &s.plan,
        f.run_id.as_ref().unwrap(),
    ))
    .unwrap();
    assert_eq!(record.notes.len(), 2, "{record:#?}");
    // The run is done with the target: the other plan, at its own end,
    // is the last user.
    drop((vg, iscsi));
    let last = run_phases(&s, &[Phase::Deactivate, Phase::Logout]);
    assert_eq!(last.exit, ExitCode::Success, "{:#?}", last.outcome);
    let log = s.fake.commands();
    assert!(log.iter().any(|l| l == "vgexport backup"), "{log:#?}");
    assert!(log.iter().any(|l| l.ends_with("--logout")), "{log:#?}");
    assert!(last.outcome.unwrap().notes.is_empty());
}

#[test]
fn the_last_of_two_plans_to_reach_its_deactivate_does_it_and_the_first_does_not() {
    let s = setup();
    // The other plan is at its deactivate step too, but got there first
    // and found this run still using the VG: it holds nothing any more.
    let mut other = other_plan_uses(&s, Resource::Vg("backup".into()));
    let mine = other_plan_uses(&s, Resource::Vg("backup".into()));
    assert!(matches!(other.try_last_user().unwrap(), LastUser::No(_)));
    drop(mine);
    let f = run_phases(&s, &[Phase::Activate, Phase::Backup, Phase::Deactivate]);
    assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    assert!(s.fake.state().inactive_vgs.contains("backup"));
    assert!(f.outcome.unwrap().notes.is_empty());
}

#[test]
fn a_run_waits_for_a_target_being_deactivated_and_gives_up_changing_nothing() {
    let s = setup();
    let mut deactivating = other_plan_uses(&s, Resource::Vg("backup".into()));
    assert_eq!(deactivating.try_last_user().unwrap(), LastUser::Yes);
    let ok = |plan: &Plan| CheckReport::new(&plan.name, vec![]);
    let f = apply(
        &s.plan,
        &PhaseSet::from_args(&Phase::ALL),
        &s.fake,
        &s.interrupt,
        Options {
            target_wait: Duration::from_millis(300),
            ..options()
        },
        &ok,
    );
    assert_eq!(f.exit, ExitCode::Failed);
    assert!(s.fake.commands().is_empty(), "{:#?}", s.fake.commands());
}

#[test]
fn recover_leaves_a_target_another_plan_uses_and_deactivates_it_once_alone() {
    let s = iscsi_setup();
    let journal = [
        run_started(),
        started("iscsi-login"),
        finished("iscsi-login"),
        started("activate:backup"),
        finished("activate:backup"),
        started("copy:a"),
    ];
    write_journal(&s, &journal);
    let vg = other_plan_uses(&s, Resource::Vg("backup".into()));
    let iscsi = other_plan_uses(&s, Resource::Iscsi("iqn.2026-01.org.example:backup".into()));
    let r = recover::recover(&s.plan, &s.fake);
    assert!(r.failures.is_empty(), "{r:#?}");
    assert!(
        r.actions
            .iter()
            .any(|a| a.starts_with("VG backup left active")),
        "{r:#?}"
    );
    let log = s.fake.commands();
    assert!(
        !log.iter()
            .any(|l| l.starts_with("vg") || l.ends_with("--logout")),
        "{log:#?}"
    );
    // The other run finishes it; recovery's job is done.
    assert!(!events::current_path(&history::plan_dir(&s.plan)).exists());

    drop((vg, iscsi));
    write_journal(&s, &journal);
    let r = recover::recover(&s.plan, &s.fake);
    assert!(r.failures.is_empty(), "{r:#?}");
    let log = s.fake.commands();
    assert!(log.iter().any(|l| l == "vgexport backup"), "{log:#?}");
    assert!(log.iter().any(|l| l.ends_with("--logout")), "{log:#?}");
}

#[test]
fn a_failed_login_does_not_log_out_a_session_another_plan_uses() {
    let s = iscsi_setup();
    // The VG never appears after the login.
    s.fake.state().vgs.retain(|v| v.vg_name != "backup");
    let _other = other_plan_uses(&s, Resource::Iscsi("iqn.2026-01.org.example:backup".into()));
    let f = run_phases(&s, &[Phase::Login]);
    let log = s.fake.commands();
    assert!(log.iter().any(|l| l.ends_with("--login")), "{log:#?}");
    assert!(!log.iter().any(|l| l.ends_with("--logout")), "{log:#?}");
    let notes = f.outcome.unwrap().notes;
    assert!(
        notes.iter().any(|n| n.contains("left logged in")),
        "{notes:?}"
    );
}

#[test]
fn a_session_stays_while_another_plan_without_iscsi_uses_the_vg_on_it() {
    let s = iscsi_setup();
    // The other plan backs up into the same VG but logs in to nothing.
    let _vg = other_plan_uses(&s, Resource::Vg("backup".into()));
    let f = run_phases(&s, &Phase::ALL);
    assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    let log = s.fake.commands();
    assert!(!log.iter().any(|l| l.ends_with("--logout")), "{log:#?}");
    let notes = f.outcome.unwrap().notes;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("left logged in: VG backup")),
        "{notes:?}"
    );
}

#[test]
fn a_filling_snapshot_with_room_to_grow_is_extended_and_the_record_says_so() {
    let mut s = setup();
    s.plan.volumes[1].snapshot_size_max = Some(SnapshotSize::Bytes(64 * MIB));
    // Every snapshot is 90% full once made (and the fake copy adds 10% a
    // chunk).
    for v in ["a", "b", "c"] {
        s.fake.state().snapshot_use.insert(v.into(), 90.0);
    }
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Success);
    let extended: Vec<String> = s
        .fake
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("lvextend"))
        .collect();
    // Only b has a snapshot_size_max: only b's snapshot grows.
    assert!(!extended.is_empty());
    assert!(
        extended.iter().all(|c| c.ends_with(" vg0/b-snapplan")),
        "{extended:?}"
    );
    let volumes = &f.outcome.as_ref().unwrap().volumes;
    let b = volumes.iter().find(|v| v.volume == "b").unwrap();
    assert_eq!(b.snapshot_extensions as usize, extended.len());
    let final_size = b.snapshot_final_bytes.unwrap();
    assert!(final_size > 4 * MIB && final_size <= 64 * MIB, "{b:?}");
    assert!(
        extended
            .last()
            .unwrap()
            .contains(&format!(" {final_size}b "))
    );
    let a = volumes.iter().find(|v| v.volume == "a").unwrap();
    assert_eq!(a.snapshot_extensions, 0);
    assert!(a.snapshot_peak_bytes.is_some(), "{a:?}");
    assert_clean(&s);
    // The run record keeps it.
    let record = history::load_record(&history::run_record_path(
        &s.plan,
        f.run_id.as_deref().unwrap(),
    ))
    .unwrap();
    assert_eq!(record.volumes[1], *b);
}

fn copy_job(s: &Setup, volume: &str) -> crate::system::CopyJob {
    s.fake
        .state()
        .copy_jobs
        .iter()
        .rev()
        .find(|j| j.volume == volume)
        .cloned()
        .unwrap()
}

fn position(log: &[String], what: &str) -> usize {
    log.iter()
        .position(|l| l.contains(what))
        .unwrap_or_else(|| panic!("{what} not in {log:#?}"))
}

#[test]
fn a_good_run_keeps_the_thin_snapshot_as_the_one_base_and_the_next_reads_only_the_delta() {
    let s = thin_setup(10.0);
    s.fake.state().thin_mapped = vec![(0, 16), (40, 8)];
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    assert_clean(&s);
    assert_eq!(s.fake.bases(), ["vg0/t-snapplan-base"]);
    let first = copy_job(&s, "t");
    let first_base = first.base.clone().expect("the thin snapshot is recorded");
    assert_eq!(first.changed, None, "no base yet: a full read...");
    assert_eq!(
        first.mapped,
        Some(vec![
            crate::copy::ByteRange {
                offset: 0,
                len: MIB
            },
            crate::copy::ByteRange {
                offset: 40 * 64 * 1024,
                len: 512 * 1024
            }
        ]),
        "...of what the snapshot maps"
    );
    let log = s.fake.commands();
    let own = format!("thin_delta vg0/pool {id} {id}", id = first_base.thin_id);
    assert!(
        position(&log, "reserve_metadata_snap vg0/pool") < position(&log, &own)
            && position(&log, &own) < position(&log, "release_metadata_snap vg0/pool"),
        "{log:#?}"
    );
    assert!(s.fake.state().metadata_held.is_empty());
    assert_eq!(copy_job(&s, "a").base, None, "classic origins: nothing");
    assert_eq!(copy_job(&s, "a").mapped, None);

    s.fake.state().thin_delta = vec![(16, 16)];
    s.fake.state().log.clear();
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    assert_eq!(s.fake.snapshots(), Vec::<String>::new(), "snapshots left");
    let second = copy_job(&s, "t");
    let changed = second.changed.expect("a delta against the base");
    assert_eq!(changed.base, first_base);
    assert_eq!(
        changed.ranges,
        [crate::copy::ByteRange {
            offset: MIB,
            len: MIB
        }]
    );
    assert_ne!(second.base, Some(first_base));
    let log = s.fake.commands();
    let reserve = position(&log, "reserve_metadata_snap vg0/pool");
    let delta = position(&log, "thin_delta vg0/pool");
    let release = position(&log, "release_metadata_snap vg0/pool");
    assert!(reserve < delta && delta < release && release < position(&log, "copy t"));
    assert!(position(&log, "remove vg0/t-snapplan-base") < position(&log, "lvrename"));
    assert!(s.fake.state().metadata_held.is_empty());
    assert_eq!(
        s.fake.bases(),
        ["vg0/t-snapplan-base"],
        "one base per origin"
    );
    let ids = s.fake.state().thin_ids.get("vg0/t-snapplan-base").cloned();
    assert_eq!(
        ids.map(|(uuid, id)| crate::copy::BaseRef {
            lv_uuid: uuid,
            thin_id: id
        }),
        second.base,
        "the base is the snapshot just copied"
    );
}

#[test]
fn an_incremental_run_records_what_changed_since_the_base_and_a_full_read_records_nothing() {
    let s = thin_setup(10.0);
    let changed = |f: &Finished| {
        let record = history::load_record(&history::run_record_path(
            &s.plan,
            f.run_id.as_deref().unwrap(),
        ))
        .unwrap();
        record
            .volumes
            .iter()
            .find(|v| v.volume == "t")
            .unwrap()
            .thin_changed_bytes
    };
    let f = run(&s);
    assert_eq!(changed(&f), None, "the first copy reads everything");
    s.fake.state().thin_delta = vec![(16, 16)];
    std::thread::sleep(std::time::Duration::from_millis(1100)); // run ids are per second
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    assert_eq!(changed(&f), Some(MIB));
}

#[test]
fn retain_base_turned_off_removes_the_base_an_earlier_run_kept_and_keeps_none() {
    let mut s = thin_setup(10.0);
    assert_eq!(run(&s).exit, ExitCode::Success);
    assert_eq!(s.fake.bases(), ["vg0/t-snapplan-base"]);
    s.plan.volumes[0].retain_base = false;
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    assert_eq!(
        s.fake.bases(),
        Vec::<String>::new(),
        "the stale base is gone"
    );
    assert_eq!(s.fake.snapshots(), Vec::<String>::new(), "snapshots left");
    // (That run could still read against the base; from now on every copy
    // reads in full, and there is nothing left to drop.)
    s.fake.state().log.clear();
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    assert_eq!(copy_job(&s, "t").changed, None, "no base: a full read");
    assert!(
        !s.fake
            .commands()
            .iter()
            .any(|l| l.contains("snapplan-base")),
        "nothing to drop: {:#?}",
        s.fake.commands()
    );
}

#[test]
fn a_thin_origin_with_an_external_origin_reads_its_unmapped_blocks_too() {
    // Its unmapped blocks come from the read-only LV it was made from, not
    // zeros: reading only the mapped ones would back up holes.
    let s = thin_setup(10.0);
    let mut external = lv("vg0", "golden", 16 * MIB);
    external.lv_attr = "ori-------".into();
    s.fake.add_lv(external);
    s.fake
        .state()
        .lvs
        .iter_mut()
        .find(|l| l.lv_name == "t")
        .unwrap()
        .origin = "golden".into();
    s.fake.state().thin_mapped = vec![(0, 16)];
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    let job = copy_job(&s, "t");
    assert!(job.base.is_some());
    assert_eq!(job.mapped, None, "every block is read");
}

#[test]
fn a_failing_thin_delta_releases_the_metadata_snapshot_and_reads_everything() {
    let s = thin_setup(10.0);
    assert_eq!(run(&s).exit, ExitCode::Success);
    s.fake.state().thin_delta_error = Some("bad superblock".into());
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    assert_eq!(copy_job(&s, "t").changed, None);
    assert!(s.fake.state().metadata_held.is_empty(), "released");
    assert_eq!(s.fake.bases(), ["vg0/t-snapplan-base"]);
}

#[test]
fn a_removed_base_makes_a_full_read_and_the_run_keeps_a_new_one() {
    let s = thin_setup(10.0);
    assert_eq!(run(&s).exit, ExitCode::Success);
    s.fake
        .state()
        .lvs
        .retain(|l| l.lv_name != "t-snapplan-base");
    s.fake.state().log.clear();
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    assert_eq!(copy_job(&s, "t").changed, None);
    assert_eq!(
        copy_job(&s, "t").mapped,
        Some(vec![]),
        "the full read reads only what is mapped (here: nothing)"
    );
    assert!(s.fake.state().metadata_held.is_empty());
    assert_eq!(s.fake.bases(), ["vg0/t-snapplan-base"]);
}

#[test]
fn a_failed_copy_keeps_no_new_base_and_leaves_the_old_one() {
    let s = thin_setup(10.0);
    assert_eq!(run(&s).exit, ExitCode::Success);
    let old = s.fake.state().thin_ids.get("vg0/t-snapplan-base").cloned();
    s.fake
        .state()
        .copy_script
        .insert("t".into(), CopyScript::Fail);
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Partial, "{:#?}", f.outcome);
    assert_eq!(s.fake.snapshots(), Vec::<String>::new(), "snapshots left");
    assert_eq!(s.fake.bases(), ["vg0/t-snapplan-base"]);
    assert_eq!(
        s.fake.state().thin_ids.get("vg0/t-snapplan-base").cloned(),
        old
    );
}

#[test]
fn recover_releases_a_metadata_snapshot_a_dead_run_held() {
    let s = thin_setup(10.0);
    write_journal(&s, &[run_started(), started("copy:t")]);
    s.fake.state().metadata_held.insert("vg0/pool".into());
    let r = recover::recover(&s.plan, &s.fake);
    assert!(r.failures.is_empty(), "{r:#?}");
    assert!(
        r.actions
            .iter()
            .any(|a| a == "released the metadata snapshot of pool vg0/pool"),
        "{r:#?}"
    );
    assert!(s.fake.state().metadata_held.is_empty());
}

/// `setup()` with `target.pool: gens` (keep_last 2) and a thin pool there.
fn pool_setup() -> Setup {
    let mut s = setup();
    crate::plan::test_plans::into_pool(&mut s.plan, 2);
    s.fake = Fake::builder()
        .vg("vg0", 256, 128)
        .vg("backup", 256, 128)
        .lv("vg0", "a", 16, "-wi-a-----")
        .lv("vg0", "b", 16, "-wi-a-----")
        .lv("vg0", "c", 16, "-wi-a-----")
        .thin_pool("backup", "gens", 128, 10.0, 5.0)
        .hooks(&["/hooks/10-a", "/hooks/20-b"])
        .build();
    s.fake.state().signal = Some(Arc::clone(&s.interrupt));
    s
}

/// The generations of `volume` in VG backup: (name, complete).
fn generations_of(s: &Setup, volume: &str) -> Vec<(String, bool)> {
    let mut found: Vec<(String, bool)> = s
        .fake
        .state()
        .lvs
        .iter()
        .filter(|l| l.vg_name == "backup" && tags::generation_id(volume, &l.lv_name).is_some())
        .map(|l| {
            let state = tags::generation_state(&l.lv_tags, "nightly");
            (
                l.lv_name.clone(),
                state == Some(tags::GenerationState::Complete),
            )
        })
        .collect();
    found.sort();
    found
}

/// Generation names come from the run's start second: a run in the
/// same second as the previous one would find its name taken.
fn next_second() {
    std::thread::sleep(Duration::from_millis(1100));
}

#[test]
fn a_pool_plans_first_run_makes_each_volume_a_complete_thin_generation_of_zeros() {
    let s = pool_setup();
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
    assert_clean(&s);
    let id = tags::generation_id_of_run(f.run_id.as_deref().unwrap())
        .unwrap()
        .to_string();
    for v in ["a", "b", "c"] {
        assert_eq!(generations_of(&s, v), [(format!("{v}.{id}"), true)]);
        let lv = s.fake.lv_named("backup", &format!("{v}.{id}"));
        assert_eq!(lv.pool_lv, "gens");
        assert!(lv.origin.is_empty(), "the first is no snapshot");
    }
    assert!(
        s.fake
            .state()
            .lvs
            .iter()
            .all(|l| l.vg_name != "backup" || l.lv_name != "a"),
        "no thick backup LV"
    );
    let jobs = s.fake.state().copy_jobs.clone();
    assert!(
        jobs.iter()
            .all(|j| j.destination_zeroed && j.destination_snapshot_of.is_none())
    );
    assert!(jobs.iter().all(|j| j.destination_tag.is_some()));
    assert!(
        jobs[0].manifest.ends_with(format!("manifests/a/{id}.json")),
        "{:?}",
        jobs[0].manifest
    );
}

#[test]
fn the_next_generation_is_a_snapshot_of_the_newest_complete_one_and_retention_keeps_two() {
    let s = pool_setup();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let f = run(&s);
        assert_eq!(f.exit, ExitCode::Success, "{:#?}", f.outcome);
        ids.push(
            tags::generation_id_of_run(f.run_id.as_deref().unwrap())
                .unwrap()
                .to_string(),
        );
        next_second();
    }
    assert_eq!(s.fake.snapshots(), Vec::<String>::new(), "snapshots left");
    for v in ["a", "b", "c"] {
        assert_eq!(
            generations_of(&s, v),
            [
                (format!("{v}.{}", ids[1]), true),
                (format!("{v}.{}", ids[2]), true)
            ],
            "keep_last 2 removed the oldest"
        );
        let newest = s.fake.lv_named("backup", &format!("{v}.{}", ids[2]));
        assert_eq!(newest.origin, format!("{v}.{}", ids[1]));
    }
    let jobs = s.fake.state().copy_jobs.clone();
    let last = jobs.last().unwrap();
    assert!(!last.destination_zeroed);
    assert!(last.destination_snapshot_of.is_some());
    assert_ne!(last.destination_snapshot_of, last.destination_tag);
}

#[test]
fn a_failed_copy_into_a_generation_removes_it_and_leaves_the_older_one_as_it_was() {
    let s = pool_setup();
    assert_eq!(run(&s).exit, ExitCode::Success);
    let before = generations_of(&s, "b");
    let tags_before = s.fake.tags_of("backup", &before[0].0);
    next_second();
    s.fake
        .state()
        .copy_script
        .insert("b".into(), CopyScript::Fail);
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Partial, "{:#?}", f.outcome);
    assert_eq!(s.fake.snapshots(), Vec::<String>::new(), "snapshots left");
    assert_eq!(
        generations_of(&s, "b"),
        before,
        "no incomplete generation left"
    );
    assert_eq!(s.fake.tags_of("backup", &before[0].0), tags_before);
    assert_eq!(generations_of(&s, "a").len(), 2);
    let b = &f.outcome.unwrap().volumes[1];
    assert_eq!(b.status, VolumeStatus::Failed);
    assert!(
        b.reason
            .as_deref()
            .unwrap()
            .contains("incomplete generation"),
        "{:?}",
        b.reason
    );
}

#[test]
fn a_failed_verify_of_a_generation_removes_it() {
    let s = pool_setup();
    assert_eq!(run(&s).exit, ExitCode::Success);
    next_second();
    s.fake.state().verify_fail.push("c.*".into());
    let f = run(&s);
    // Every generation of c fails verify: this run's one is the one verified.
    assert_eq!(f.exit, ExitCode::Partial, "{:#?}", f.outcome);
    assert_eq!(generations_of(&s, "c").len(), 1);
    assert!(generations_of(&s, "c")[0].1);
}

#[test]
fn a_pool_past_its_threshold_stops_the_copy_and_removes_that_generation() {
    let s = pool_setup();
    s.fake
        .state()
        .lvs
        .iter_mut()
        .find(|l| l.lv_name == "gens")
        .unwrap()
        .data_percent = Some(96.0);
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Failed, "{:#?}", f.outcome);
    assert_clean(&s);
    for v in ["a", "b", "c"] {
        assert_eq!(generations_of(&s, v), Vec::<(String, bool)>::new());
    }
    let out = f.outcome.unwrap();
    assert!(
        out.volumes[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("target.pool_threshold"),
        "{:?}",
        out.volumes[0].reason
    );
}

#[test]
fn a_missing_pool_fails_every_volume_before_anything_is_written() {
    let mut s = pool_setup();
    s.plan.target.generations.as_mut().unwrap().pool = "nope".into();
    let f = run(&s);
    assert_eq!(f.exit, ExitCode::Failed);
    assert_clean(&s);
    assert!(!s.fake.commands().iter().any(|c| c.starts_with("copy")));
    let out = f.outcome.unwrap();
    assert!(
        out.volumes[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("does not exist")
    );
}

#[test]
fn recover_removes_a_dead_runs_incomplete_generation_and_no_complete_one() {
    let s = pool_setup();
    assert_eq!(run(&s).exit, ExitCode::Success);
    let kept = generations_of(&s, "a");
    // What a SIGKILL mid-copy leaves: an incomplete generation.
    let dead = "20991231T235959Z-1";
    let name = tags::generation_name("a", "20991231T235959Z");
    s.fake
        .run_lvm(&commands::create_generation_snapshot(
            &LvPath {
                vg: "backup".into(),
                lv: kept[0].0.clone(),
            },
            &name,
            &tags::generation_tags("nightly", dead),
        ))
        .unwrap();
    assert_eq!(generations_of(&s, "a").len(), 2);
    let r = recover::recover(&s.plan, &s.fake);
    assert!(
        r.actions.iter().any(|a| a.contains(&name)),
        "{:?}",
        r.actions
    );
    assert_eq!(generations_of(&s, "a"), kept);
}
