//! `snapplan apply`: the run. In order: take the plan's lock, recover what a
//! dead earlier run left, run check's pre-flight (nothing changes when it
//! fails), list the hooks and compile, walk the graph (`executor`), then
//! print the summary and keep the run record.
//!
//! The machine is behind [`crate::system::System`], so everything here except the
//! real adapters is tested with the in-memory fake.

pub mod died;
pub mod executor;
pub mod grower;
pub mod growth;
pub mod incremental;
pub mod protection;
pub mod recover;
pub mod shared_target;
pub mod signals;
pub mod summary;
mod thin_guard;
pub mod watchdog;

#[cfg(test)]
mod tests;

use std::sync::atomic::AtomicBool;

use crate::ExitCode;
use crate::check::CheckReport;
use crate::graph::{self, HookList, PhaseSet};
use crate::plan::Plan;
use crate::state::events::{self as journal_events, Event};
use crate::state::journal::Journal;
use crate::state::lock::{LockError, RunLock};
use crate::state::runs as history;

use crate::system::System;
pub use executor::{Ending, Options, Outcome};

/// What one `apply` did.
#[derive(Debug)]
pub struct Finished {
    pub exit: ExitCode,
    pub run_id: Option<String>,
    /// The end-of-run table, for stdout (absent when nothing ran).
    pub summary: Option<String>,
    pub outcome: Option<Outcome>,
    /// The pre-flight report when it failed and nothing ran: the caller
    /// shows it (library code prints nothing but its log).
    pub failed_preflight: Option<CheckReport>,
}

impl Finished {
    fn early(exit: ExitCode) -> Finished {
        Finished {
            exit,
            run_id: None,
            summary: None,
            outcome: None,
            failed_preflight: None,
        }
    }
}

/// Runs `plan`. `preflight` is check's evaluation against the live system
/// (the caller's, so tests can pass their own).
pub fn apply(
    plan: &Plan,
    phases: &PhaseSet,
    sys: &dyn System,
    interrupt: &AtomicBool,
    options: Options,
    preflight: &dyn Fn(&Plan) -> CheckReport,
) -> Finished {
    // One id from the start, so that the `run` span of `snapplan apply`
    // carries it on every event, the lock's and the pre-flight's too.
    let run_id = new_run_id();
    tracing::Span::current().record("run_id", run_id.as_str());
    let _lock = match RunLock::acquire(&plan.state_dir, &plan.name) {
        Ok(lock) => lock,
        Err(e @ LockError::Held { .. }) => {
            tracing::error!("{e}; nothing was done");
            return Finished::early(ExitCode::Locked);
        }
        Err(e) => {
            tracing::error!("{e}; nothing was done");
            return Finished::early(ExitCode::Failed);
        }
    };

    let recovery = recover::recover(plan, sys);
    if !recovery.nothing_to_do() {
        tracing::warn!(
            "recovered what run {} left behind: {}",
            recovery.dead_run.as_deref().unwrap_or("(no journal)"),
            recovery.actions.join("; ")
        );
    }
    if !recovery.failures.is_empty() {
        for f in &recovery.failures {
            tracing::error!("recovery: {f}");
        }
        tracing::error!("not starting a new run until recovery succeeds; nothing else was done");
        return Finished::early(ExitCode::CleanupIncomplete);
    }

    // After recovery (which may need the target alone), before the
    // pre-flight looks at the target: other plans backing up into the same
    // target see this run from here on, and none deactivates it under this
    // run's copies.
    let mut targets = match shared_target::SharedTargets::acquire(plan, options.target_wait) {
        Ok(targets) => targets,
        Err(e) => {
            tracing::error!("{e}; nothing was done");
            return Finished::early(ExitCode::Failed);
        }
    };

    let report = preflight(plan);
    if !report.ok {
        tracing::error!("pre-flight failed: nothing was changed");
        // The run history shows the failed night too.
        let now = journal_events::now();
        let record = history::RunRecord {
            run_id: run_id.clone(),
            plan: plan.name.clone(),
            phases: phases.iter().map(|p| p.name().to_string()).collect(),
            started_at: now,
            finished_at: now,
            exit_code: Some(ExitCode::Failed.code()),
            ending: "preflight_failed".into(),
            volumes: Vec::new(),
            problems: report
                .checks
                .iter()
                .filter(|c| c.status == crate::check::Status::Fail)
                .map(|c| format!("{}: {}", c.subject, c.detail))
                .collect(),
            recovery: None,
            notes: Vec::new(),
        };
        if let Err(e) = history::save_record(&history::run_record_path(plan, &run_id), &record) {
            tracing::warn!("cannot write the run record: {e}");
        }
        return Finished {
            exit: ExitCode::Failed,
            run_id: Some(run_id),
            summary: None,
            outcome: None,
            failed_preflight: Some(report),
        };
    }
    if interrupt.load(std::sync::atomic::Ordering::SeqCst) {
        return Finished::early(ExitCode::Interrupted);
    }

    let hooks = match &plan.hooks {
        None => HookList::Found(Vec::new()),
        Some(h) => match sys.list_hooks(&h.dir) {
            Ok(list) => HookList::Found(list),
            Err(e) => {
                tracing::warn!("{e}: the hooks are listed again when they run");
                HookList::NotListed
            }
        },
    };
    let compiled = graph::compile_for_run(plan, &hooks, phases, &run_id);
    let plan_dir = history::plan_dir(plan);
    let mut journal = match Journal::open(&journal_events::current_path(&plan_dir)) {
        Ok(j) => j,
        Err(e) => {
            tracing::error!("{e}; nothing was done");
            return Finished::early(ExitCode::Failed);
        }
    };
    let phase_names: Vec<String> = phases.iter().map(|p| p.name().to_string()).collect();
    let started_at = journal_events::now();
    if let Err(e) = journal.append(&Event::RunStarted {
        run_id: run_id.clone(),
        plan: plan.name.clone(),
        pid: std::process::id(),
        phases: phase_names.clone(),
        at: started_at,
    }) {
        tracing::error!("{e}; nothing was done");
        return Finished::early(ExitCode::Failed);
    }
    tracing::info!(
        "run {run_id} of plan {}: phases {}",
        plan.name,
        phase_names.join(", ")
    );

    let outcome = executor::Executor::new(
        &compiled,
        sys,
        &mut journal,
        &run_id,
        interrupt,
        options,
        |volume| match (
            &plan.target.generations,
            crate::tags::generation_id_of_run(&run_id),
        ) {
            // Each generation has its own manifest; the parent's is read.
            (Some(_), Some(id)) => history::generation_manifest_path(plan, volume, id),
            _ => history::manifest_path(plan, volume),
        },
    )
    .sharing(&mut targets)
    .execute();

    let record = history::RunRecord {
        run_id: run_id.clone(),
        plan: plan.name.clone(),
        phases: phase_names,
        started_at,
        finished_at: journal_events::now(),
        exit_code: Some(outcome.exit.code()),
        ending: outcome.ending.word().to_string(),
        volumes: outcome.volumes.clone(),
        problems: outcome.problems.clone(),
        recovery: None,
        notes: outcome.notes.clone(),
    };
    let record_path = history::run_record_path(plan, &run_id);
    if let Err(e) = history::save_record(&record_path, &record) {
        tracing::error!("cannot write the run record {}: {e}", record_path.display());
    }
    // A run that could not clean up leaves its journal open: the next
    // apply (or `snapplan recover`) takes over from it.
    if !outcome.cleanup_failed {
        journal_events::append_best_effort(
            &mut journal,
            &Event::RunClosed {
                exit_code: outcome.exit.code(),
                at: journal_events::now(),
            },
        );
        drop(journal);
        if let Err(e) = journal_events::archive(&plan_dir, &run_id) {
            tracing::warn!("cannot move the closed journal aside: {e}");
        }
    }
    let summary = summary::table(&plan.name, &run_id, &outcome);
    Finished {
        exit: outcome.exit,
        run_id: Some(run_id),
        summary: Some(summary),
        outcome: Some(outcome),
        failed_preflight: None,
    }
}

pub use crate::state::time::new_run_id;
