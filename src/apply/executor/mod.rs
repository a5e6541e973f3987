//! Walks the compiled graph and applies the failure policy. One file per
//! concern: `walk` (order and failure policy), `steps` (each kind of step),
//! `copy` (copy with the snapshot watchdog), `hooks`, `rollback`.
//!
//! - A step runs only if every step it *needs* succeeded; steps it runs
//!   *after* only have to be finished (the graph's execution order ensures it).
//! - A failing suspend hook or snapshot aborts: the rollback edges of every
//!   step that ran are followed (`CompiledPlan::rollback_plan`), so the
//!   snapshots made are removed and the hooks resumed.
//! - A failing copy or verify fails that volume only; its snapshot is still
//!   removed (the removal runs *after* the copy, it does not need it).
//! - A signal stops the walk at the next step (a copy at its next chunk) and
//!   rolls back; a panic is caught and rolled back too.
//! - Hooks are tracked one by one: whatever was (even half-) suspended is
//!   resumed exactly once, in reverse order, whatever happens.
//! - Finally, any snapshot still tagged with this run is removed.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::grower::{CopyState, Grower};
use super::growth::Policy;
use super::shared_target::{self, SharedTargets};
use super::watchdog::{self, Watch};
use crate::ExitCode;
use crate::copy::{ChunkRead, CopyControl, NoProgress, ProgressSink, ProgressUpdate};
use crate::graph::argv as commands;
use crate::graph::{Action, CompiledPlan, Condition, Hook, OnFailure, Step, StepIndex};
use crate::plan::{Bandwidth, LvPath};
use crate::state::events::{self as events, Event};
use crate::state::journal::Journal;
use crate::state::runs::{VolumeResult, VolumeStatus};
use crate::system::HookAction;
use crate::system::{CopyFailure, CopyJob, LvKind, System, SystemError, SystemReport, device_path};
use crate::tags;

mod copy;
mod generation;
mod hooks;
mod rollback;
mod span;
mod steps;
mod walk;

/// How the executor is told to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--bandwidth`: replaces every volume's own limit.
    pub bandwidth: Option<Bandwidth>,
    pub watchdog_interval: Duration,
    /// How long to wait for the backup VG after an iSCSI login.
    pub vg_wait: Duration,
    /// Copy progress on stderr.
    pub progress: bool,
    /// How long to wait for a backup target that another plan's run is
    /// deactivating.
    pub target_wait: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bandwidth: None,
            watchdog_interval: watchdog::DEFAULT_INTERVAL,
            vg_wait: Duration::from_secs(30),
            progress: false,
            target_wait: crate::apply::shared_target::DEFAULT_WAIT,
        }
    }
}

/// How the walk ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Completed,
    /// A suspend hook or a snapshot failed: rolled back.
    Aborted(String),
    Interrupted,
    /// A bug (panic), rolled back.
    Panicked(String),
}

impl Ending {
    pub fn word(&self) -> &'static str {
        match self {
            Ending::Completed => "completed",
            Ending::Aborted(_) => "aborted",
            Ending::Interrupted => "interrupted",
            Ending::Panicked(_) => "internal_error",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub ending: Ending,
    pub exit: ExitCode,
    pub volumes: Vec<VolumeResult>,
    /// Failures outside a volume, and everything rollback could not undo.
    pub problems: Vec<String>,
    /// What the run left on purpose: a target another plan still uses.
    pub notes: Vec<String>,
    pub cleanup_failed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Failed,
    Skipped,
}

#[derive(Debug)]
enum StepError {
    Failed(String),
    Interrupted,
}

impl From<String> for StepError {
    fn from(s: String) -> Self {
        StepError::Failed(s)
    }
}

impl From<SystemError> for StepError {
    fn from(e: SystemError) -> Self {
        StepError::Failed(e.to_string())
    }
}

pub struct Executor<'a> {
    compiled: &'a CompiledPlan,
    sys: &'a dyn System,
    journal: &'a mut Journal,
    run_id: String,
    interrupt: &'a AtomicBool,
    options: Options,
    manifest_for: Box<dyn Fn(&str) -> PathBuf + 'a>,
    status: HashMap<StepIndex, Status>,
    /// Steps that must not run, each with the failed step that blocks it
    /// (the first one, when several do): the union of
    /// [`CompiledPlan::blocked_by`] over every failure so far.
    blocked: HashMap<StepIndex, StepIndex>,
    /// Steps that succeeded, in the order they ran.
    ran: Vec<StepIndex>,
    /// Hooks whose suspend started and that were not resumed yet, in
    /// suspend order.
    suspended: Vec<PathBuf>,
    volumes: Vec<VolumeResult>,
    problems: Vec<String>,
    cleanup_failed: bool,
    report: Option<SystemReport>,
    rolling_back: bool,
    /// The run's hold on its backup target, shared with other plans' runs.
    targets: Option<&'a mut SharedTargets>,
    notes: Vec<String>,
    /// Watches and grows every snapshot of the run while the walk goes on.
    grower: std::sync::Arc<Grower>,
    /// The thin-pool generations this run made, by volume.
    generations: HashMap<String, generation::GenerationMade>,
}

impl<'a> Executor<'a> {
    pub fn new(
        compiled: &'a CompiledPlan,
        sys: &'a dyn System,
        journal: &'a mut Journal,
        run_id: &str,
        interrupt: &'a AtomicBool,
        options: Options,
        manifest_for: impl Fn(&str) -> PathBuf + 'a,
    ) -> Executor<'a> {
        let selected: Vec<&str> = compiled
            .execution_order()
            .iter()
            .filter_map(|&ix| match compiled.step(ix) {
                Step::Copy { volume, .. } => Some(volume.as_str()),
                _ => None,
            })
            .collect();
        let volumes = compiled
            .plan()
            .volumes
            .iter()
            .filter(|v| selected.contains(&v.name.as_str()))
            .map(|v| VolumeResult::new(&v.name))
            .collect();
        Executor {
            compiled,
            sys,
            journal,
            run_id: run_id.to_string(),
            interrupt,
            options,
            manifest_for: Box::new(manifest_for),
            status: HashMap::new(),
            blocked: HashMap::new(),
            ran: Vec::new(),
            suspended: Vec::new(),
            volumes,
            problems: Vec::new(),
            cleanup_failed: false,
            report: None,
            rolling_back: false,
            targets: None,
            notes: Vec::new(),
            grower: std::sync::Arc::new(Grower::new(Policy::default())),
            generations: HashMap::new(),
        }
    }

    /// The target locks this run holds: deactivate, export and logout are
    /// then done only when no other plan's run uses the target.
    pub fn sharing(mut self, targets: &'a mut SharedTargets) -> Executor<'a> {
        self.targets = Some(targets);
        self
    }

    /// Runs the graph to its end, or to an abort and its rollback.
    pub fn execute(mut self) -> Outcome {
        self.report = self.sys.report().ok();
        let grower = self.grower.clone();
        let sys = self.sys;
        let interval = self.options.watchdog_interval;
        let stop_growing = AtomicBool::new(false);
        // The grower looks at the run's snapshots for as long as the walk
        // goes; rollback and the final sweep remove them without it.
        let walked = std::thread::scope(|s| {
            span::spawn_in_span(s, || {
                let looked = catch_unwind(AssertUnwindSafe(|| {
                    grower.run(sys, interval, &stop_growing)
                }));
                if let Err(panic) = looked {
                    tracing::error!(
                        "internal error (a bug) in the snapshot grower: {}; snapshots are no \
                         longer grown in this run",
                        panic_text(&*panic)
                    );
                }
            });
            let walked = catch_unwind(AssertUnwindSafe(|| self.walk()));
            stop_growing.store(true, Ordering::SeqCst);
            walked
        });
        self.record_growth();
        let ending = match walked {
            Ok(Ok(())) => Ending::Completed,
            Ok(Err(Abort::Failed(ix, why))) => {
                let step = self.compiled.step(ix).id();
                tracing::error!("{step} failed: rolling back");
                self.rollback(Some(ix));
                Ending::Aborted(format!("{step}: {why}"))
            }
            Ok(Err(Abort::Interrupted)) => {
                tracing::warn!("interrupted: rolling back (further signals are ignored)");
                self.rollback(None);
                Ending::Interrupted
            }
            Err(panic) => {
                let what = panic_text(&*panic);
                tracing::error!("internal error (a bug): {what}; rolling back");
                self.rollback(None);
                Ending::Panicked(what)
            }
        };
        self.final_sweep();
        let exit = self.exit_code(&ending);
        if let Ending::Aborted(why) = &ending {
            self.problems.insert(0, why.clone());
        }
        for v in &mut self.volumes {
            if v.status == VolumeStatus::NotRun && v.reason.is_none() {
                v.reason = Some(format!("run {}", ending.word()));
            }
        }
        Outcome {
            ending,
            exit,
            volumes: self.volumes,
            problems: self.problems,
            notes: self.notes,
            cleanup_failed: self.cleanup_failed,
        }
    }

    pub(super) fn exit_code(&self, ending: &Ending) -> ExitCode {
        if self.cleanup_failed {
            return ExitCode::CleanupIncomplete;
        }
        match ending {
            Ending::Panicked(_) => ExitCode::Internal,
            Ending::Interrupted => ExitCode::Interrupted,
            Ending::Aborted(_) => ExitCode::Failed,
            Ending::Completed => {
                let ok = self
                    .volumes
                    .iter()
                    .filter(|v| v.status == VolumeStatus::Ok)
                    .count();
                let any_step_failed = self.status.values().any(|s| *s == Status::Failed);
                if self.volumes.is_empty() {
                    if any_step_failed {
                        ExitCode::Failed
                    } else {
                        ExitCode::Success
                    }
                } else if ok == self.volumes.len() && !any_step_failed {
                    ExitCode::Success
                } else if ok == 0 {
                    ExitCode::Failed
                } else {
                    ExitCode::Partial
                }
            }
        }
    }

    /// What the grower measured of each volume's snapshot, into its result.
    fn record_growth(&mut self) {
        let grower = self.grower.clone();
        for v in &mut self.volumes {
            if let Some(m) = grower.measured(&v.volume) {
                v.snapshot_bytes = Some(m.base_bytes);
                v.snapshot_final_bytes = Some(m.final_bytes);
                v.snapshot_extensions = m.extensions;
                v.snapshot_peak_bytes = m.fill_rate.is_some().then_some(m.peak_bytes);
                v.snapshot_fill_rate = m.fill_rate;
                v.snapshot_window_seconds = (m.window_secs > 0.0).then_some(m.window_secs);
                v.throttle_lifted = m.throttle_lifted;
            }
        }
    }

    pub(super) fn volume_mut(&mut self, name: &str) -> Option<&mut VolumeResult> {
        self.volumes.iter_mut().find(|v| v.volume == name)
    }

    pub(super) fn volume_failed(&mut self, name: &str, why: String) {
        if let Some(v) = self.volume_mut(name) {
            v.status = VolumeStatus::Failed;
            if v.reason.is_none() {
                v.reason = Some(why);
            }
        }
    }
}

enum Abort {
    Failed(StepIndex, String),
    Interrupted,
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}
