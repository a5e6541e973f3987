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
    /// How far a volume's copy got, every [`PROGRESS_EVERY`] of copying:
    /// bytes read from the snapshot (`done` of `total`) and written to the
    /// backup. After a crash, the dead run's record says how far it got.
    CopyProgress {
        volume: String,
        done: u64,
        total: u64,
        written: u64,
        at: u64,
    },
    /// `recover` took over a dead run's journal.
    RecoveryStarted { by_pid: u32, at: u64 },
    /// The run (or the recovery of a dead one) is over: nothing to undo.
    RunClosed { exit_code: u8, at: u64 },
}

/// How often a copy journals its progress ([`Event::CopyProgress`]).
pub const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

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
        super::files::create_dir(parent)?;
    }
    std::fs::rename(current_path(plan_dir), to)
}

/// A journal set aside by `snapplan recover --discard-journal`: where it
/// went, and what it held as far as it could be read.
#[derive(Debug)]
pub struct Discarded {
    pub moved_to: std::path::PathBuf,
    /// Its text (at most [`SHOWN_BYTES`]), or why it could not be read (a
    /// FIFO, a symlink: moved, never opened).
    pub held: Result<String, String>,
}

/// How much of a discarded journal is shown.
pub const SHOWN_BYTES: u64 = 64 << 10;

/// Sets the plan's current journal aside without acting on anything in it:
/// the way out when it cannot be read (garbage, not a regular file), after
/// showing what it held. `None` when there is no journal. The entry itself
/// is moved (a symlink is not followed), to
/// `runs/discarded-<now>.journal.jsonl`.
pub fn discard(plan_dir: &Path) -> std::io::Result<Option<Discarded>> {
    let current = current_path(plan_dir);
    if std::fs::symlink_metadata(&current).is_err() {
        return Ok(None);
    }
    let held = match super::files::open_read(&current) {
        Ok(file) => {
            let mut bytes = Vec::new();
            use std::io::Read;
            file.take(SHOWN_BYTES)
                .read_to_end(&mut bytes)
                .map(|_| String::from_utf8_lossy(&bytes).into_owned())
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    super::files::create_dir(&plan_dir.join("runs"))?;
    let stamp = super::time::new_run_id();
    for n in 0u32.. {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        let moved_to = plan_dir
            .join("runs")
            .join(format!("discarded-{stamp}{suffix}.journal.jsonl"));
        // Never over an earlier discarded journal.
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            &current,
            rustix::fs::CWD,
            &moved_to,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => return Ok(Some(Discarded { moved_to, held })),
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    unreachable!("a free name among 2^32")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_garbage_journal_is_shown_and_set_aside_and_a_fifo_is_moved_unopened() {
        let dir = tempfile::tempdir().unwrap();
        assert!(discard(dir.path()).unwrap().is_none());
        std::fs::write(current_path(dir.path()), "garbage\n").unwrap();
        let d = discard(dir.path()).unwrap().unwrap();
        assert_eq!(d.held.as_deref(), Ok("garbage\n"));
        assert!(!current_path(dir.path()).exists());
        assert_eq!(std::fs::read_to_string(&d.moved_to).unwrap(), "garbage\n");

        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            current_path(dir.path()),
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        let d = discard(dir.path()).unwrap().unwrap();
        assert!(d.held.unwrap_err().contains("FIFO"));
        assert!(std::fs::symlink_metadata(current_path(dir.path())).is_err());
    }
}
