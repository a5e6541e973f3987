//! What a run writes to its journal ([`super::journal`]): enough for
//! `recover` to undo a dead run without trusting anything else. Hooks are
//! journalled one call at a time (a directory step runs several), steps by
//! their stable id (`activate:backup`, `snapshot:root`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state::journal::{Journal, JournalError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        plan: String,
        pid: u32,
        phases: Vec<String>,
        at: u64,
    },
    /// Written (and synced) before the step changes anything.
    StepStarted { step: String, at: u64 },
    StepFinished {
        step: String,
        ok: bool,
        detail: String,
        at: u64,
    },
    /// Before a hook runs: from here on it may be (half-)suspended.
    HookStarted { hook: PathBuf, action: String },
    HookFinished {
        hook: PathBuf,
        action: String,
        ok: bool,
    },
    /// `recover` took over a dead run's journal.
    RecoveryStarted { by_pid: u32, at: u64 },
    /// The run (or the recovery of a dead one) is over: nothing to undo.
    RunClosed { exit_code: u8, at: u64 },
}

/// Events are stamped with seconds since the epoch.
pub use super::time::now;

/// The journal of the run in progress (or of a dead one).
pub fn current_path(plan_dir: &Path) -> PathBuf {
    plan_dir.join("journal.jsonl")
}

/// Where a closed journal is kept, beside its run record.
pub fn archived_path(plan_dir: &Path, run_id: &str) -> PathBuf {
    plan_dir
        .join("runs")
        .join(format!("{run_id}.journal.jsonl"))
}

/// Appends, logging instead of failing: used where the run must go on
/// (rollback) even if the disk is full.
pub fn append_best_effort(journal: &mut Journal, event: &Event) {
    if let Err(e) = journal.append(event) {
        tracing::error!("{e}");
    }
}

pub fn append(journal: &mut Journal, event: &Event) -> Result<(), JournalError> {
    journal.append(event)
}

/// The run id a journal belongs to.
pub fn run_id_of(events: &[Event]) -> Option<&str> {
    events.iter().find_map(|e| match e {
        Event::RunStarted { run_id, .. } => Some(run_id.as_str()),
        _ => None,
    })
}

pub fn is_closed(events: &[Event]) -> bool {
    matches!(events.last(), Some(Event::RunClosed { .. }))
}

/// Moves a closed journal out of the way, next to its run record.
pub fn archive(plan_dir: &Path, run_id: &str) -> std::io::Result<()> {
    let to = archived_path(plan_dir, run_id);
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::rename(current_path(plan_dir), to)
}
