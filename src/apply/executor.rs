//! Walks the compiled graph and applies the failure policy.
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

use super::system::{CopyFailure, CopyJob, System, device_path};
use super::watchdog::{self, Watch};
use crate::ExitCode;
use crate::copy::{ChunkRead, CopyControl, NoProgress, ProgressSink, ProgressUpdate};
use crate::graph::argv::{self as commands, SizeArg};
use crate::graph::{Action, CompiledPlan, Condition, Dependency, Hook, RunValues, Step, StepIndex};
use crate::hooks::HookAction;
use crate::lvm::{LvKind, SystemReport};
use crate::plan::{Bandwidth, LvPath, SnapshotSize};
use crate::state::events::{self as events, Event};
use crate::state::journal::Journal;
use crate::state::runs::{VolumeResult, VolumeStatus};
use crate::tags;

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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bandwidth: None,
            watchdog_interval: watchdog::DEFAULT_INTERVAL,
            vg_wait: Duration::from_secs(30),
            progress: false,
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

pub struct Executor<'a> {
    compiled: &'a CompiledPlan,
    sys: &'a dyn System,
    journal: &'a mut Journal,
    run_id: String,
    interrupt: &'a AtomicBool,
    options: Options,
    manifest_for: Box<dyn Fn(&str) -> PathBuf + 'a>,
    status: HashMap<StepIndex, Status>,
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
            ran: Vec::new(),
            suspended: Vec::new(),
            volumes,
            problems: Vec::new(),
            cleanup_failed: false,
            report: None,
            rolling_back: false,
        }
    }

    /// Runs the graph to its end, or to an abort and its rollback.
    pub fn execute(mut self) -> Outcome {
        self.report = self.sys.report().ok();
        let walked = catch_unwind(AssertUnwindSafe(|| self.walk()));
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
            cleanup_failed: self.cleanup_failed,
        }
    }

    fn exit_code(&self, ending: &Ending) -> ExitCode {
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

    fn walk(&mut self) -> Result<(), Abort> {
        for &ix in self.compiled.execution_order() {
            if self.interrupt.load(Ordering::SeqCst) {
                return Err(Abort::Interrupted);
            }
            if let Some(why) = self.blocked(ix) {
                let step = self.compiled.step(ix);
                tracing::info!(step = %step.id(), "skipped: {why}");
                self.status.insert(ix, Status::Skipped);
                if let Step::Copy { volume, .. } = step {
                    self.volume_failed(volume, format!("not copied: {why}"));
                }
                continue;
            }
            match self.run_logged(ix) {
                Ok(()) => {}
                Err(StepError::Interrupted) => {
                    if let Step::Copy { volume, .. } | Step::Verify { volume, .. } =
                        self.compiled.step(ix)
                    {
                        let what = self.compiled.step(ix).kind();
                        self.volume_failed(volume, format!("interrupted during the {what}"));
                    }
                    return Err(Abort::Interrupted);
                }
                Err(StepError::Failed(why)) => {
                    let step = self.compiled.step(ix).clone();
                    match &step {
                        Step::Suspend(_) | Step::Snapshot { .. } => {
                            return Err(Abort::Failed(ix, why));
                        }
                        Step::Copy { volume, .. }
                        | Step::Verify { volume, .. }
                        | Step::EnsureBackupLv { volume, .. } => {
                            self.volume_failed(volume, format!("{}: {why}", step.id()));
                        }
                        Step::Resume(_)
                        | Step::RemoveSnapshot { .. }
                        | Step::TargetDeactivate { .. }
                        | Step::IscsiLogout { .. } => {
                            self.cleanup_failed = true;
                            self.problems.push(format!("{}: {why}", step.id()));
                        }
                        Step::IscsiLogin { .. }
                        | Step::TargetActivate { .. }
                        | Step::RemoveBackupLv { .. } => {
                            self.problems.push(format!("{}: {why}", step.id()));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Why `ix` must not run: a step it needs did not succeed, or it undoes
    /// a step that never ran.
    fn blocked(&self, ix: StepIndex) -> Option<String> {
        for (dep, kind) in self.compiled.dependencies(ix) {
            if kind == Dependency::Needs && self.status.get(&dep) != Some(&Status::Ok) {
                return Some(format!(
                    "needs {}, which did not succeed",
                    self.compiled.step(dep).id()
                ));
            }
        }
        if let Some(done) = self.compiled.undoes(ix)
            && !matches!(self.compiled.step(ix), Step::Resume(_))
            && matches!(self.status.get(&done), None | Some(Status::Skipped))
        {
            return Some(format!(
                "undoes {}, which did not run",
                self.compiled.step(done).id()
            ));
        }
        None
    }

    /// Runs one step with its journal events and log lines.
    fn run_logged(&mut self, ix: StepIndex) -> Result<(), StepError> {
        let step = self.compiled.step(ix).clone();
        let id = step.id();
        let started = Instant::now();
        tracing::info!(step = %id, "start");
        let journalled = events::append(
            self.journal,
            &Event::StepStarted {
                step: id.clone(),
                at: events::now(),
            },
        );
        let result = match journalled {
            // Nothing may change the system that the journal does not know of
            // (during rollback, undoing matters more than the journal).
            Err(e) if !self.rolling_back => Err(StepError::Failed(e.to_string())),
            _ => self.run_step(&step),
        };
        let (ok, detail) = match &result {
            Ok(()) => (true, String::new()),
            Err(StepError::Failed(why)) => (false, why.clone()),
            Err(StepError::Interrupted) => (false, "interrupted".to_string()),
        };
        events::append_best_effort(
            self.journal,
            &Event::StepFinished {
                step: id.clone(),
                ok,
                detail: detail.clone(),
                at: events::now(),
            },
        );
        let took = started.elapsed().as_secs_f64();
        if ok {
            tracing::info!(step = %id, "ok in {took:.1}s");
            self.status.insert(ix, Status::Ok);
            self.ran.push(ix);
        } else {
            tracing::error!(step = %id, "FAILED after {took:.1}s: {detail}");
            self.status.insert(ix, Status::Failed);
        }
        result
    }

    fn run_step(&mut self, step: &Step) -> Result<(), StepError> {
        match step {
            Step::Suspend(hook) => self.suspend(hook),
            Step::Resume(hook) => self.resume(hook),
            Step::RemoveSnapshot { snapshot, .. } => {
                self.remove_tagged(snapshot, tags::ROLE_SNAPSHOT, LvKind::Snapshot)
            }
            Step::RemoveBackupLv { volume, backup } => {
                // lvs lists no LV of an exported VG, nor of one not visible
                // (iSCSI logged out): "not there" would pass for "removed".
                let vg = &backup.vg;
                match self.sys.report()?.vg(vg) {
                    None => {
                        return Err(StepError::Failed(format!(
                            "volume group {vg} is not visible, so {backup} cannot be removed; \
                             add --phase login --phase activate"
                        )));
                    }
                    Some(found) if found.is_exported() => {
                        return Err(StepError::Failed(format!(
                            "volume group {vg} is exported, so its LVs cannot be listed and \
                             {backup} cannot be removed; add --phase activate"
                        )));
                    }
                    Some(_) => {}
                }
                self.remove_tagged(backup, tags::ROLE_BACKUP, LvKind::Plain)?;
                self.forget_manifest(volume);
                Ok(())
            }
            Step::EnsureBackupLv {
                volume,
                origin,
                backup,
            } => {
                self.refresh_report()?;
                if self.report.as_ref().and_then(|r| r.lv(backup)).is_none() {
                    // A new LV at the old path: the previous manifest describes
                    // content that is gone, and must not make the copy a delta.
                    self.forget_manifest(volume);
                }
                if let Some(lv) = self.report.as_ref().and_then(|r| r.lv(backup))
                    && lv.ownership().is_none()
                {
                    tracing::warn!(
                        "backup LV {backup} exists without snapplan's tags: writing over it \
                         as the plan says"
                    );
                }
                if self.report.as_ref().and_then(|r| r.lv(origin)).is_none() {
                    return Err(StepError::Failed(format!("origin {origin} does not exist")));
                }
                self.run_actions(step)?;
                // A backup LV always says whether it holds a good copy: a
                // new one is incomplete until its first copy is done.
                self.refresh_report()?;
                let unmarked = self
                    .report
                    .as_ref()
                    .and_then(|r| r.lv(backup))
                    .is_some_and(|lv| {
                        !lv.lv_tags.iter().any(|t| {
                            t == commands::TAG_STATE_COMPLETE || t == commands::TAG_STATE_INCOMPLETE
                        })
                    });
                if unmarked {
                    let argv = commands::mark_backup(backup, false);
                    tracing::info!(step = %step.id(), "run: {}", argv.join(" "));
                    self.sys.run(&argv)?;
                }
                Ok(())
            }
            Step::TargetActivate { .. } => {
                self.refresh_report()?;
                self.run_actions(step)
            }
            Step::TargetDeactivate { vg, .. } => {
                self.refresh_report()?;
                // The actions' conditions skip the commands; this says why
                // in one line an admin reading the cron mail understands.
                if self
                    .report
                    .as_ref()
                    .and_then(|r| r.vg(vg))
                    .is_some_and(|v| v.is_exported())
                {
                    tracing::info!(
                        step = %step.id(),
                        "volume group {vg} is already exported: nothing to deactivate"
                    );
                }
                self.run_actions(step)
            }
            _ => self.run_actions(step),
        }
    }

    /// Drops a volume's manifest, so its next copy writes every chunk.
    fn forget_manifest(&self, volume: &str) {
        let path = (self.manifest_for)(volume);
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!(
                "{} removed: the backup LV is new, its next copy is a full one",
                path.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
        }
    }

    fn refresh_report(&mut self) -> Result<(), String> {
        self.report = Some(self.sys.report()?);
        Ok(())
    }

    /// The step's actions as the graph built them (what `snapplan plan`
    /// showed), with run-time values filled in.
    fn run_actions(&mut self, step: &Step) -> Result<(), StepError> {
        let empty = SystemReport::default();
        let values = LiveValues {
            run_id: &self.run_id,
            report: self.report.as_ref().unwrap_or(&empty),
        };
        let actions = step.actions(&self.compiled.plan().name, &values);
        for action in actions {
            match action {
                Action::Run { argv, only_if } => {
                    if let Some(condition) = &only_if
                        && !holds(condition, self.report.as_ref().unwrap_or(&empty))
                    {
                        tracing::info!(step = %step.id(), "not needed ({condition}): {}", argv.join(" "));
                        continue;
                    }
                    let started = Instant::now();
                    tracing::info!(step = %step.id(), "run: {}", argv.join(" "));
                    self.sys.run(&argv).map_err(StepError::Failed)?;
                    tracing::info!(
                        step = %step.id(),
                        "done in {:.1}s: {}",
                        started.elapsed().as_secs_f64(),
                        argv[0]
                    );
                }
                Action::InProcess { .. } => self.in_process(step)?,
                Action::Hook { .. } | Action::EachHook { .. } => {
                    return Err(StepError::Failed(
                        "internal: hook action outside a hook step".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    fn in_process(&mut self, step: &Step) -> Result<(), StepError> {
        match step {
            Step::Copy {
                volume,
                snapshot,
                backup,
                bandwidth,
                verify,
            } => self.copy(volume, snapshot, backup, *bandwidth, *verify),
            Step::Verify { volume, backup, .. } => {
                let started = Instant::now();
                let manifest = (self.manifest_for)(volume);
                let cancel = AtomicBool::new(false);
                let done = AtomicBool::new(false);
                let result = std::thread::scope(|s| {
                    let interrupt = self.interrupt;
                    let forward = s.spawn(|| {
                        while !done.load(Ordering::SeqCst) {
                            if interrupt.load(Ordering::SeqCst) {
                                cancel.store(true, Ordering::SeqCst);
                            }
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    });
                    let r = self.sys.verify(&manifest, &device_path(backup), &cancel);
                    done.store(true, Ordering::SeqCst);
                    let _ = forward.join();
                    r
                });
                if self.interrupt.load(Ordering::SeqCst) {
                    return Err(StepError::Interrupted);
                }
                result.map_err(StepError::Failed)?;
                if let Some(v) = self.volume_mut(volume) {
                    v.verified = true;
                    v.status = VolumeStatus::Ok;
                    v.duration_seconds += started.elapsed().as_secs_f64();
                }
                Ok(())
            }
            Step::IscsiLogin { portal, iqn } => {
                let waited = self.wait_for_vg();
                if waited.is_err() {
                    self.logout_after_failed_login(portal, iqn);
                }
                waited
            }
            other => Err(StepError::Failed(format!(
                "internal: no in-process work for {}",
                other.id()
            ))),
        }
    }

    /// The login worked but its step failed (the VG did not appear, or a
    /// signal came while waiting). The logout step cannot clean up: it runs
    /// after the deactivate step, which is skipped now, and a rollback only
    /// undoes steps that succeeded. So the step logs out itself: a failed
    /// login leaves no session.
    fn logout_after_failed_login(&mut self, portal: &str, iqn: &str) {
        let argv = commands::iscsi_logout(portal, iqn);
        tracing::warn!(
            step = "iscsi-login",
            "logging out again: {}",
            argv.join(" ")
        );
        if let Err(e) = self.sys.run(&argv) {
            self.cleanup_failed = true;
            self.problems
                .push(format!("iscsi-login: cannot log out again: {e}"));
        }
    }

    fn wait_for_vg(&mut self) -> Result<(), StepError> {
        let vg = self.compiled.plan().target.vg.clone();
        let deadline = Instant::now() + self.options.vg_wait;
        loop {
            if let Ok(report) = self.sys.report()
                && report.vg(&vg).is_some()
            {
                self.report = Some(report);
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StepError::Failed(format!(
                    "volume group {vg} did not appear within {}s of the iSCSI login",
                    self.options.vg_wait.as_secs()
                )));
            }
            if self.interrupt.load(Ordering::SeqCst) {
                return Err(StepError::Interrupted);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn copy(
        &mut self,
        volume: &str,
        snapshot: &LvPath,
        backup: &LvPath,
        bandwidth: Bandwidth,
        verify: bool,
    ) -> Result<(), StepError> {
        let started = Instant::now();
        let limit = match self.options.bandwidth.unwrap_or(bandwidth) {
            Bandwidth::Unlimited => None,
            Bandwidth::BytesPerSecond(n) => Some(n),
        };
        let job = CopyJob {
            volume: volume.to_string(),
            source: device_path(snapshot),
            destination: device_path(backup),
            manifest: (self.manifest_for)(volume),
            bytes_per_second: limit,
        };
        if let Some(dir) = job.manifest.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let watch = Watch::default();
        let cancel = AtomicBool::new(false);
        let done = AtomicBool::new(false);
        let sys = self.sys;
        let interrupt = self.interrupt;
        let interval = self.options.watchdog_interval;
        let sink: Box<dyn ProgressSink> = if self.options.progress {
            crate::copy::progress::sink_for(crate::copy::progress::ProgressMode::Auto)
        } else {
            Box::new(NoProgress)
        };
        let recorder = Recorder {
            inner: sink.as_ref(),
            last: std::sync::Mutex::new(None),
        };
        // Per chunk: stop as soon as the watchdog saw the snapshot invalid;
        // after the last chunk, look once more: the hard gate.
        let check = |chunk: &ChunkRead| -> Result<(), String> {
            if watch.invalid.load(Ordering::SeqCst) {
                return Err(watch.reason().unwrap_or_else(|| "snapshot invalid".into()));
            }
            if chunk.last {
                watch.sample(sys, volume, snapshot)?;
            }
            Ok(())
        };
        let result = std::thread::scope(|s| {
            let _stop = SetOnDrop(&done);
            s.spawn(|| {
                watchdog::run(
                    sys, volume, snapshot, interval, &watch, interrupt, &cancel, &done,
                )
            });
            let control = CopyControl {
                cancel: &cancel,
                progress: &recorder,
                source_check: Some(&check),
            };
            sys.copy(&job, &control)
        });
        let checked = match result {
            Err(_) if watch.invalid.load(Ordering::SeqCst) => {
                Err(StepError::Failed(watch.reason().unwrap_or_default()))
            }
            Err(CopyFailure::Cancelled) => Err(StepError::Interrupted),
            Err(CopyFailure::Failed(_)) if self.interrupt.load(Ordering::SeqCst) => {
                Err(StepError::Interrupted)
            }
            Err(CopyFailure::Failed(why)) => {
                // An overflowed snapshot answers reads with I/O errors: say
                // what really happened when that is it.
                match watch.sample(sys, volume, snapshot) {
                    Err(_) if watch.invalid.load(Ordering::SeqCst) => Err(StepError::Failed(
                        format!("{} (the copy: {why})", watch.reason().unwrap_or_default()),
                    )),
                    _ => Err(StepError::Failed(why)),
                }
            }
            // The hard gate, once more after the copy returned (an empty
            // source never calls the per-chunk check).
            Ok(stats) => watch
                .sample(sys, volume, snapshot)
                .map(|()| stats)
                .map_err(StepError::Failed),
        };
        let progress = *recorder.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = self.volume_mut(volume) {
            v.snapshot_peak_percent = watch.peak();
            v.duration_seconds = started.elapsed().as_secs_f64();
            // What a stopped copy had done: the backup LV was touched.
            if let Some(p) = progress {
                v.size_bytes = p.total;
                v.bytes_written = p.written;
            }
        }
        let stats = checked?;
        if let Some(v) = self.volume_mut(volume) {
            v.size_bytes = stats.size;
            v.bytes_written = stats.bytes_written;
            v.snapshot_peak_percent = watch.peak();
            if !verify {
                v.status = VolumeStatus::Ok;
            }
        }
        tracing::info!(
            volume,
            "copied {} bytes ({} written), snapshot peak {}",
            stats.size,
            stats.bytes_written,
            watch
                .peak()
                .map(|p| format!("{p:.1}%"))
                .unwrap_or_else(|| "unknown".into())
        );
        Ok(())
    }

    fn suspend(&mut self, hook: &Hook) -> Result<(), StepError> {
        let (paths, timeout) = match hook {
            Hook::File { path, timeout } => (vec![path.clone()], *timeout),
            Hook::Directory { dir, timeout } => (self.sys.list_hooks(dir)?, *timeout),
        };
        for path in paths {
            self.call_hook(&path, HookAction::Suspend, timeout)?;
        }
        Ok(())
    }

    fn resume(&mut self, hook: &Hook) -> Result<(), StepError> {
        let (paths, timeout): (Vec<PathBuf>, Duration) = match hook {
            Hook::File { path, timeout } => (
                self.suspended
                    .iter()
                    .filter(|p| *p == path)
                    .cloned()
                    .collect(),
                *timeout,
            ),
            Hook::Directory { timeout, .. } => {
                (self.suspended.iter().rev().cloned().collect(), *timeout)
            }
        };
        let mut failures = Vec::new();
        for path in paths {
            // Resumed exactly once: off the list before the call.
            if let Some(pos) = self.suspended.iter().rposition(|p| *p == path) {
                self.suspended.remove(pos);
            } else {
                continue;
            }
            if let Err(StepError::Failed(why)) = self.call_hook(&path, HookAction::Resume, timeout)
            {
                failures.push(why);
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(StepError::Failed(failures.join("; ")))
        }
    }

    fn call_hook(
        &mut self,
        path: &std::path::Path,
        action: HookAction,
        timeout: Duration,
    ) -> Result<(), StepError> {
        let event = Event::HookStarted {
            hook: path.to_path_buf(),
            action: action.as_str().into(),
        };
        if action == HookAction::Suspend {
            events::append(self.journal, &event).map_err(|e| e.to_string())?;
            // From the moment it starts, a hook may have half-suspended its
            // service: it is resumed whatever happens next.
            self.suspended.push(path.to_path_buf());
        } else {
            events::append_best_effort(self.journal, &event);
        }
        let env = vec![
            (
                "SNAPPLAN_PLAN".to_string(),
                self.compiled.plan().name.clone(),
            ),
            ("SNAPPLAN_RUN_ID".to_string(), self.run_id.clone()),
        ];
        tracing::info!(
            "hook: {} {} (timeout {}s)",
            path.display(),
            action.as_str(),
            timeout.as_secs_f64()
        );
        let result = self.sys.hook(path, action, timeout, &env);
        for line in &result.output {
            tracing::info!(hook = %path.display(), "| {line}");
        }
        events::append_best_effort(
            self.journal,
            &Event::HookFinished {
                hook: path.to_path_buf(),
                action: action.as_str().into(),
                ok: result.ok,
            },
        );
        if result.ok {
            Ok(())
        } else {
            Err(StepError::Failed(format!(
                "hook {} {}: {}",
                path.display(),
                action.as_str(),
                result.detail
            )))
        }
    }

    /// Removes `lv` if it is there and tagged as this plan's `role`:
    /// never anything found by name alone.
    fn remove_tagged(&mut self, lv: &LvPath, role: &str, kind: LvKind) -> Result<(), StepError> {
        let report = self.sys.report()?;
        let Some(found) = report.lv(lv) else {
            tracing::info!("{lv} is not there: nothing to remove");
            return Ok(());
        };
        let plan = &self.compiled.plan().name;
        let ours = found
            .ownership()
            .is_some_and(|o| o.plan.as_deref() == Some(plan) && o.role.as_deref() == Some(role));
        if !ours {
            return Err(StepError::Failed(format!(
                "not removing {lv}: it is not tagged as plan {plan}'s {role}"
            )));
        }
        tracing::info!("remove: {lv}");
        self.sys.remove_lv(lv, kind).map_err(StepError::Failed)
    }

    /// Follows the rollback edges of everything that ran, then the safety
    /// nets. Never stopped by signals; a failure here is exit 5.
    fn rollback(&mut self, failed: Option<StepIndex>) {
        self.rolling_back = true;
        let mut completed = self.ran.clone();
        if let Some(ix) = failed
            && matches!(self.compiled.step(ix), Step::Suspend(_))
        {
            // A hook that failed or timed out while suspending may have
            // half-suspended: its resume runs too.
            completed.push(ix);
        }
        // Resumes first: "right after whatever stopped the snapshotting",
        // services must not stay down while snapshots are removed.
        let (resumes, others): (Vec<_>, Vec<_>) = self
            .compiled
            .rollback_plan(&completed)
            .into_iter()
            .partition(|&ix| matches!(self.compiled.step(ix), Step::Resume(_)));
        for ix in resumes.into_iter().chain(others) {
            if self.status.get(&ix) == Some(&Status::Ok) {
                continue;
            }
            let result = catch_unwind(AssertUnwindSafe(|| self.run_logged(ix)));
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    self.cleanup_failed = true;
                    let why = match e {
                        StepError::Failed(why) => why,
                        StepError::Interrupted => "interrupted".into(),
                    };
                    self.problems
                        .push(format!("rollback {}: {why}", self.compiled.step(ix).id()));
                }
                Err(panic) => {
                    self.cleanup_failed = true;
                    self.problems.push(format!(
                        "rollback {}: internal error: {}",
                        self.compiled.step(ix).id(),
                        panic_text(&*panic)
                    ));
                }
            }
        }
    }

    /// Whatever the path here: every hook still suspended is resumed (in
    /// reverse order), and every snapshot tagged with this run is removed.
    fn final_sweep(&mut self) {
        while let Some(path) = self.suspended.pop() {
            let timeout = self
                .compiled
                .plan()
                .hooks
                .as_ref()
                .map(|h| h.timeout)
                .unwrap_or(crate::plan::DEFAULT_HOOK_TIMEOUT);
            tracing::warn!("hook {} is still suspended: resuming it", path.display());
            if let Err(StepError::Failed(why)) = self.call_hook(&path, HookAction::Resume, timeout)
            {
                self.cleanup_failed = true;
                self.problems.push(why);
            }
        }
        let made_snapshots = self
            .ran
            .iter()
            .any(|&ix| matches!(self.compiled.step(ix), Step::Snapshot { .. }))
            || self
                .status
                .iter()
                .any(|(&ix, _)| matches!(self.compiled.step(ix), Step::Snapshot { .. }));
        if !made_snapshots {
            return;
        }
        let report = match self.sys.report() {
            Ok(r) => r,
            Err(e) => {
                self.cleanup_failed = true;
                self.problems.push(format!(
                    "cannot confirm that no snapshot of this run is left: {e}"
                ));
                return;
            }
        };
        let plan = self.compiled.plan().name.clone();
        for (lv, owner) in report.snapplan_lvs() {
            let this_run = owner.plan.as_deref() == Some(plan.as_str())
                && owner.run.as_deref() == Some(self.run_id.as_str())
                && owner.role.as_deref() == Some(tags::ROLE_SNAPSHOT);
            if !this_run {
                continue;
            }
            let path = lv.path();
            tracing::warn!("snapshot {path} of this run is still there: removing it");
            if let Err(e) = self.sys.remove_lv(&path, LvKind::Snapshot) {
                self.cleanup_failed = true;
                self.problems
                    .push(format!("cannot remove leftover snapshot {path}: {e}"));
            }
        }
    }

    fn volume_mut(&mut self, name: &str) -> Option<&mut VolumeResult> {
        self.volumes.iter_mut().find(|v| v.volume == name)
    }

    fn volume_failed(&mut self, name: &str, why: String) {
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

/// Passes progress on and keeps the last update: how far a copy got.
struct Recorder<'a> {
    inner: &'a dyn ProgressSink,
    last: std::sync::Mutex<Option<ProgressUpdate>>,
}

impl ProgressSink for Recorder<'_> {
    fn update(&self, update: &ProgressUpdate) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(*update);
        self.inner.update(update);
    }

    fn finish(&self, update: &ProgressUpdate) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(*update);
        self.inner.finish(update);
    }
}

struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// Whether a command's condition holds on the system now.
fn holds(condition: &Condition, report: &SystemReport) -> bool {
    match condition {
        Condition::VgExported { vg } => report.vg(vg).is_some_and(|v| v.is_exported()),
        Condition::VgNotExported { vg } => !report.vg(vg).is_some_and(|v| v.is_exported()),
        Condition::LvMissing { lv } => report.lv(lv).is_none(),
        Condition::LvSmallerThan { lv, origin } => match (report.lv(lv), report.lv(origin)) {
            (Some(lv), Some(origin)) => lv.lv_size < origin.lv_size,
            _ => false,
        },
    }
}

/// Run-time values for the graph's command lines, from the live system.
struct LiveValues<'a> {
    run_id: &'a str,
    report: &'a SystemReport,
}

impl RunValues for LiveValues<'_> {
    fn run_id(&self) -> String {
        self.run_id.to_string()
    }

    fn size_of(&self, origin: &LvPath) -> SizeArg {
        match self.report.lv(origin) {
            Some(lv) => SizeArg::Bytes(lv.lv_size),
            None => SizeArg::Deferred(format!("<size of missing {origin}>")),
        }
    }

    fn percent_of(&self, origin: &LvPath, percent: f64) -> SizeArg {
        match (self.report.lv(origin), self.report.vg(&origin.vg)) {
            (Some(lv), Some(vg)) => {
                let wanted = crate::resolve::snapshot_bytes(
                    SnapshotSize::PercentOfOrigin(percent),
                    lv.lv_size,
                );
                SizeArg::Bytes(vg.extents_for(wanted).max(1) * vg.vg_extent_size)
            }
            _ => SizeArg::Deferred(format!("<{percent}% of missing {origin}>")),
        }
    }
}
