//! The walk through the graph in execution order, and what a failed step
//! means for the rest of the run ([`Step::on_failure`]). Which steps a
//! failure skips is one rule, [`CompiledPlan::blocked_by`], proven by the
//! graph's property tests.

use super::*;

impl Executor<'_> {
    pub(super) fn walk(&mut self) -> Result<(), Abort> {
        for &ix in self.compiled.execution_order() {
            if self.interrupt.load(Ordering::SeqCst) {
                return Err(Abort::Interrupted);
            }
            if let Some(&failed) = self.blocked.get(&ix) {
                let step = self.compiled.step(ix);
                let why = format!(
                    "blocked by {}, which failed",
                    self.compiled.step(failed).id()
                );
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
                    for blocked in self.compiled.blocked_by(ix) {
                        self.blocked.entry(blocked).or_insert(ix);
                    }
                    let step = self.compiled.step(ix).clone();
                    let what = format!("{}: {why}", step.id());
                    match step.on_failure() {
                        OnFailure::Abort => return Err(Abort::Failed(ix, why)),
                        OnFailure::FailVolume => {
                            let volume = step.volume().unwrap_or_default().to_string();
                            self.volume_failed(&volume, what);
                        }
                        OnFailure::CleanupIncomplete => {
                            self.cleanup_failed = true;
                            self.problems.push(what);
                        }
                        OnFailure::Continue => self.problems.push(what),
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs one step with its journal events and log lines.
    pub(super) fn run_logged(&mut self, ix: StepIndex) -> Result<(), StepError> {
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
}
