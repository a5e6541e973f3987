//! `snapplan apply`: the run. In order: take the plan's lock, recover what a
//! dead earlier run left, run check's pre-flight (nothing changes when it
//! fails), list the hooks and compile, walk the graph (`executor`), then
//! print the summary and keep the run record.
//!
//! The machine is behind [`system::System`], so everything here except the
//! real adapters is tested with the in-memory fake.

pub mod backup_access;
pub mod executor;
pub mod history;
pub mod journal_events;
pub mod recover;
pub mod signals;
pub mod summary;
pub mod system;
pub mod watchdog;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use std::sync::atomic::AtomicBool;

use crate::ExitCode;
use crate::check::CheckReport;
use crate::graph::{self, HookList, PhaseSet};
use crate::journal::Journal;
use crate::lock::{LockError, RunLock};
use crate::plan::Plan;

pub use executor::{Ending, Options, Outcome};
use journal_events::Event;
use system::System;

/// What one `apply` did.
#[derive(Debug)]
pub struct Finished {
    pub exit: ExitCode,
    pub run_id: Option<String>,
    /// The end-of-run table, for stdout (absent when nothing ran).
    pub summary: Option<String>,
    pub outcome: Option<Outcome>,
}

impl Finished {
    fn early(exit: ExitCode) -> Finished {
        Finished {
            exit,
            run_id: None,
            summary: None,
            outcome: None,
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

    let report = preflight(plan);
    if !report.ok {
        log_preflight(&report, &plan.name);
        tracing::error!("pre-flight failed: nothing was changed");
        // The run history shows the failed night too.
        let now = journal_events::now();
        let record = history::RunRecord {
            run_id: run_id.clone(),
            plan: plan.name.clone(),
            phases: phases.iter().map(|p| p.name().to_string()).collect(),
            started_at: now,
            finished_at: now,
            exit_code: ExitCode::Failed.code(),
            ending: "preflight_failed".into(),
            volumes: Vec::new(),
            problems: report
                .checks
                .iter()
                .filter(|c| c.status == crate::check::Status::Fail)
                .map(|c| format!("{}: {}", c.subject, c.detail))
                .collect(),
        };
        if let Err(e) = history::save_record(&history::run_record_path(plan, &run_id), &record) {
            tracing::warn!("cannot write the run record: {e}");
        }
        return Finished {
            exit: ExitCode::Failed,
            run_id: Some(run_id),
            summary: None,
            outcome: None,
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
    let compiled = graph::compile(plan, &hooks, phases);
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
        |volume| history::manifest_path(plan, volume),
    )
    .execute();

    let record = history::RunRecord {
        run_id: run_id.clone(),
        plan: plan.name.clone(),
        phases: phase_names,
        started_at,
        finished_at: journal_events::now(),
        exit_code: outcome.exit.code(),
        ending: outcome.ending.word().to_string(),
        volumes: outcome.volumes.clone(),
        problems: outcome.problems.clone(),
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
    }
}

/// The failed pre-flight for the cron mail: check's table on stderr, or
/// with `--log-format json` one event per row that is not a pass (stderr
/// then holds only JSON lines).
fn log_preflight(report: &CheckReport, plan: &str) {
    use crate::check::Status;
    if !crate::output::json_log() {
        crate::err!(
            "{}",
            crate::check::render::text(report, &format!("plan {plan}"))
        );
        return;
    }
    for row in report.checks.iter().filter(|c| c.status != Status::Pass) {
        let check = serde_json::to_value(row.check)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let check = check.as_str();
        let status = serde_json::to_value(row.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let status = status.as_str();
        let subject = row.subject.as_str();
        let advice = row.advice.as_deref().unwrap_or_default();
        let detail = row.detail.as_str();
        if row.status == Status::Fail {
            tracing::error!(check, subject, status, advice, "{detail}");
        } else {
            tracing::warn!(check, subject, status, advice, "{detail}");
        }
    }
}

/// `YYYYMMDDTHHMMSSZ-<pid>`: sortable, unique per host, and made of
/// characters LVM allows in tags.
pub fn new_run_id() -> String {
    let secs = journal_events::now();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z-{}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        std::process::id()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
