//! Undoing what a dead run (SIGKILL, power loss) left behind. The journal
//! says which hooks were being suspended and whether the target was
//! activated; snapshots are found on the system by their tags, since a
//! crash may come between `lvcreate` returning and the journal hearing of it.
//!
//! Run under the plan's lock, so the journal's run is certainly dead.

use std::path::PathBuf;

use crate::graph::argv as commands;
use crate::plan::Plan;
use crate::state::events::{self as events, Event};
use crate::state::journal::{self, Journal};
use crate::state::runs as history;
use crate::state::target_lock::Resource;
use crate::system::{HookAction, LvKind, System};
use crate::tags;

/// What recovery found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The dead run's id, when a journal of one was found.
    pub dead_run: Option<String>,
    pub actions: Vec<String>,
    pub failures: Vec<String>,
    /// Volumes whose previous backup recovery merged back (the dead run's
    /// copy of them is gone).
    pub merged_back: Vec<String>,
}

impl Recovery {
    pub fn nothing_to_do(&self) -> bool {
        self.actions.is_empty() && self.failures.is_empty()
    }
}

/// Removes every generation of `plan` tagged incomplete, with its manifest.
fn remove_incomplete_generations(
    plan: &Plan,
    sys: &dyn System,
    report: &crate::system::SystemReport,
    out: &mut Recovery,
) {
    for volume in &plan.volumes {
        for g in crate::generations::pool_generations(plan, volume, &report.lvs) {
            if g.state != tags::GenerationState::Incomplete {
                continue;
            }
            tracing::warn!("recover: removing incomplete generation {}", g.lv);
            match sys.remove_lv(&g.lv, LvKind::Plain) {
                Ok(()) => {
                    out.actions
                        .push(format!("removed incomplete generation {}", g.lv));
                    history::drop_manifest(&history::generation_manifest_path(
                        plan,
                        &volume.name,
                        &g.id,
                    ));
                }
                Err(e) => out
                    .failures
                    .push(format!("cannot remove incomplete generation {}: {e}", g.lv)),
            }
        }
    }
}

/// What a journal says is still to undo.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Leftovers {
    /// Hooks suspended (or being suspended) and not resumed, in suspend order.
    pub suspended: Vec<PathBuf>,
    /// The backup VG was activated and not deactivated since.
    pub activated_vg: Option<String>,
    pub logged_in: bool,
}

pub fn leftovers(events: &[Event]) -> Leftovers {
    let mut left = Leftovers::default();
    for event in events {
        match event {
            Event::HookStarted { hook, action }
                if action == "suspend" && !left.suspended.contains(hook) =>
            {
                left.suspended.push(hook.clone());
            }
            Event::HookFinished {
                hook,
                action,
                ok: true,
            } if action == "resume" => left.suspended.retain(|h| h != hook),
            Event::StepStarted { step, .. } => {
                if let Some(vg) = step.strip_prefix("activate:") {
                    left.activated_vg = Some(vg.to_string());
                } else if step == "iscsi-login" {
                    left.logged_in = true;
                }
            }
            Event::StepFinished { step, ok: true, .. } => {
                if step.starts_with("deactivate:") {
                    left.activated_vg = None;
                } else if step == "iscsi-logout" {
                    left.logged_in = false;
                }
            }
            _ => {}
        }
    }
    left
}

/// Recovers plan `plan`: resumes hooks, removes its tagged snapshots,
/// deactivates the target a dead run activated, closes the journal.
pub fn recover(plan: &Plan, sys: &dyn System) -> Recovery {
    let mut out = Recovery::default();
    let dir = history::plan_dir(plan);
    let path = events::current_path(&dir);
    let mut open: Option<(Journal, Vec<Event>)> = None;
    // A symlink or FIFO where the journal belongs is there too (and refused
    // by `journal::read`), even when `exists()` would not follow it.
    if std::fs::symlink_metadata(&path).is_ok() {
        match journal::read::<Event>(&path) {
            Ok(contents) => {
                if contents.torn_tail {
                    tracing::warn!(
                        "the journal's last line was torn by the crash; using what precedes it"
                    );
                }
                out.dead_run = events::run_id_of(&contents.events).map(str::to_string);
                if events::is_closed(&contents.events) {
                    archive(&dir, &mut out);
                } else {
                    match Journal::open(&path) {
                        Ok(j) => open = Some((j, contents.events)),
                        Err(e) => out.failures.push(e.to_string()),
                    }
                }
            }
            Err(e) => out.failures.push(format!(
                "{e}; only snapshots are recovered (by their tags): check the hooks by hand, \
                 then `snapplan recover --discard-journal PLAN` shows what the journal held \
                 and sets it aside"
            )),
        }
    }

    let mut left = open
        .as_ref()
        .map(|(_, events)| leftovers(events))
        .unwrap_or_default();
    if let Some((journal, _)) = open.as_mut() {
        events::append_best_effort(
            journal,
            &Event::RecoveryStarted {
                by_pid: std::process::id(),
                at: events::now(),
            },
        );
        tracing::warn!(
            "run {} of plan {} died without finishing: recovering",
            out.dead_run.as_deref().unwrap_or("?"),
            plan.name
        );
    }

    // Services first: they are down while suspended.
    let timeout = plan
        .hooks
        .as_ref()
        .map(|h| h.timeout)
        .unwrap_or(crate::plan::DEFAULT_HOOK_TIMEOUT);
    let env = vec![
        ("SNAPPLAN_PLAN".to_string(), plan.name.clone()),
        (
            "SNAPPLAN_RUN_ID".to_string(),
            out.dead_run.clone().unwrap_or_default(),
        ),
    ];
    // The journal names hooks by path, and anyone who could write it could
    // name any program: only what the plan itself would run is resumed.
    let runnable = match &plan.hooks {
        Some(h) if !left.suspended.is_empty() => sys.list_hooks(&h.dir).map_err(|e| e.to_string()),
        _ => Ok(Vec::new()),
    };
    for hook in left.suspended.iter().rev() {
        let refusal = match (&plan.hooks, &runnable) {
            (None, _) => Some("the plan has no hooks".to_string()),
            (Some(h), _) if hook.parent() != Some(h.dir.as_path()) => Some(format!(
                "it is not in the plan's hooks directory {}",
                h.dir.display()
            )),
            (Some(_), Err(e)) => Some(e.clone()),
            (Some(_), Ok(list)) if !list.contains(hook) => Some(
                "it is not one of the plan's hooks (not an executable, trusted hook file)".into(),
            ),
            _ => None,
        };
        if let Some(why) = refusal {
            tracing::error!("recover: NOT resuming {}: {why}", hook.display());
            out.failures.push(format!(
                "the journal names hook {} as suspended, not resumed: {why}; resume the service \
                 by hand if needed, then `snapplan recover --discard-journal PLAN`",
                hook.display()
            ));
            continue;
        }
        if let Some((journal, _)) = open.as_mut() {
            events::append_best_effort(
                journal,
                &Event::HookStarted {
                    hook: hook.clone(),
                    action: "resume".into(),
                },
            );
        }
        tracing::warn!("recover: resuming hook {}", hook.display());
        let result = sys.hook(hook, HookAction::Resume, timeout, &env);
        for line in &result.output {
            tracing::info!(hook = %hook.display(), "| {line}");
        }
        if let Some((journal, _)) = open.as_mut() {
            events::append_best_effort(
                journal,
                &Event::HookFinished {
                    hook: hook.clone(),
                    action: "resume".into(),
                    ok: result.ok,
                },
            );
        }
        if result.ok {
            out.actions.push(format!("resumed hook {}", hook.display()));
        } else {
            out.failures
                .push(format!("hook {} resume: {}", hook.display(), result.detail));
        }
    }

    // Snapshots: by tag, whatever the journal says.
    match sys.report() {
        Ok(report) => {
            for (lv, owner) in report.snapplan_lvs() {
                if owner.plan.as_deref() != Some(plan.name.as_str())
                    || owner.role.as_deref() != Some(tags::ROLE_SNAPSHOT)
                    || !lv.is_snapshot()
                {
                    continue;
                }
                let path = lv.path();
                tracing::warn!(
                    "recover: removing snapshot {path} left by run {}",
                    owner.run.as_deref().unwrap_or("?")
                );
                match sys.remove_lv(&path, LvKind::Snapshot) {
                    Ok(()) => out.actions.push(format!("removed snapshot {path}")),
                    Err(e) => out
                        .failures
                        .push(format!("cannot remove snapshot {path}: {e}")),
                }
            }
        }
        Err(e) => {
            if open.is_some() {
                out.failures
                    .push(format!("cannot look for leftover snapshots: {e}"));
            } else {
                tracing::warn!("cannot look for leftover snapshots: {e}");
            }
        }
    }

    // Thin-pool generations a dead run left incomplete: never a backup, and
    // the next generation must not be a snapshot of one. Under the lock no
    // run of this plan is alive, so every incomplete one is a dead run's.
    if plan.target.generations.is_some()
        && let Ok(report) = sys.report()
    {
        remove_incomplete_generations(plan, sys, &report, &mut out);
    }

    // A metadata snapshot the dead run reserved for thin_delta and never
    // released (a SIGKILL between the two) pins the pool's metadata.
    if open.is_some()
        && let Ok(report) = sys.report()
    {
        let origins: Vec<_> = plan.volumes.iter().map(|v| v.source.clone()).collect();
        super::incremental::release_leftover_metadata_snaps(
            sys,
            &origins,
            &report,
            &mut out.actions,
            &mut out.failures,
        );
    }

    // The previous backups, while the target is still active: the dead
    // run's copies never reached their release.
    if let Some((_, events)) = open.as_ref() {
        out.merged_back = super::protection::recover_protections(
            plan,
            sys,
            Some(events),
            out.dead_run.as_deref(),
            &mut out.actions,
            &mut out.failures,
        );
    }

    // The target, last: the dead run activated it and did not deactivate.
    // A VG gone from view (the machine rebooted, so the iSCSI session is
    // gone) or exported (the run died right after vgexport) has nothing
    // active, and vgchange would fail on it: this recovery, and with it
    // every later apply, would fail for good.
    let vg_state = |vg: &str| sys.report().ok().map(|r| r.vg(vg).map(|v| v.is_exported()));
    // Only the plan's own target is ever deactivated (or exported): a
    // journal naming another VG, an origin's included, is not obeyed.
    if let Some(vg) = left.activated_vg.take_if(|vg| *vg != plan.target.vg) {
        tracing::error!("recover: NOT deactivating VG {vg}: it is not the plan's target");
        out.failures.push(format!(
            "the journal says VG {vg} was activated, but the plan's target is {}: not touched; \
             then `snapplan recover --discard-journal PLAN`",
            plan.target.vg
        ));
    }
    if let Some(vg) = &left.activated_vg
        && let Some(state @ (None | Some(true))) = vg_state(vg)
    {
        let why = if state.is_none() {
            "is not visible"
        } else {
            "is exported"
        };
        tracing::info!("recover: volume group {vg} {why}: nothing to deactivate");
    } else if let Some(vg) = &left.activated_vg
        && let Some(_alone) = super::shared_target::claim_for_recovery(
            plan,
            &Resource::Vg(vg.clone()),
            &mut out.actions,
            &mut out.failures,
        )
    {
        let mut commands_to_run = vec![commands::activate_vg(vg, false)];
        if plan.target.export {
            commands_to_run.push(commands::export_vg(vg));
        }
        for argv in commands_to_run {
            tracing::warn!("recover: {}", argv.join(" "));
            match sys.run_lvm(&argv) {
                Ok(()) => out.actions.push(argv.join(" ")),
                Err(e) => out.failures.push(e.to_string()),
            }
        }
    }
    if left.logged_in
        && let Some(iscsi) = &plan.target.iscsi
        && let Some(_alone) = super::shared_target::claim_for_recovery(
            plan,
            &Resource::Iscsi(iscsi.iqn.clone()),
            &mut out.actions,
            &mut out.failures,
        )
    {
        let argv = commands::iscsi_logout(&iscsi.portal, &iscsi.iqn);
        tracing::warn!("recover: {}", argv.join(" "));
        match sys.iscsi_logout(&iscsi.portal, &iscsi.iqn) {
            Ok(()) => out.actions.push(argv.join(" ")),
            Err(e) => out.failures.push(e.to_string()),
        }
    }

    if let Some((mut journal, events)) = open {
        // Before the journal is closed: a crash in between leaves it open,
        // and the next recovery writes the record again.
        super::died::save(plan, &events, &out);
        if out.failures.is_empty() {
            events::append_best_effort(
                &mut journal,
                &Event::RunClosed {
                    exit_code: crate::ExitCode::Success.code(),
                    at: events::now(),
                },
            );
            drop(journal);
            archive(&dir, &mut out);
        } else {
            tracing::error!(
                "recovery incomplete: the journal stays open, so the next apply or recover \
                 tries again"
            );
        }
    }
    out
}

fn archive(dir: &std::path::Path, out: &mut Recovery) {
    let id = out.dead_run.clone().unwrap_or_else(|| "unknown".into());
    if let Err(e) = events::archive(dir, &id) {
        out.failures
            .push(format!("cannot move the closed journal aside: {e}"));
    }
}

/// For `snapplan check`: a journal of a run that did not finish, when no
/// run holds the lock (a live run's journal is open on purpose).
pub fn journal_finding(plan: &Plan) -> Option<crate::check::CheckResult> {
    use crate::check::{CheckKind, CheckResult, Status};
    let path = events::current_path(&history::plan_dir(plan));
    let contents = match journal::read::<Event>(&path) {
        Ok(contents) => contents,
        Err(journal::JournalError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return None;
        }
        // apply and recover stop on it: check must not pass.
        Err(e) => {
            return Some(
                CheckResult::new(
                    CheckKind::Leftover,
                    "journal",
                    Status::Fail,
                    format!("{e}: apply and recover refuse to go on"),
                )
                .advice(
                    "`snapplan recover --discard-journal PLAN` shows what it held and sets it \
                     aside; then check for suspended services and `lvs @snapplan`",
                ),
            );
        }
    };
    if events::is_closed(&contents.events) {
        return None;
    }
    let left = leftovers(&contents.events);
    let mut detail = format!(
        "run {} did not finish or could not clean up (its journal {} is open)",
        events::run_id_of(&contents.events).unwrap_or("?"),
        path.display()
    );
    if !left.suspended.is_empty() {
        let names: Vec<_> = left
            .suspended
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        detail.push_str(&format!(
            "; hooks maybe still suspended: {}",
            names.join(", ")
        ));
    }
    if let Some(vg) = &left.activated_vg {
        detail.push_str(&format!("; it activated VG {vg}"));
    }
    Some(
        CheckResult::new(CheckKind::Leftover, "journal", Status::Fail, detail)
            .advice("run `snapplan recover PLAN` (the next apply does it first on its own)"),
    )
}
