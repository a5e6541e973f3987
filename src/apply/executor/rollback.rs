//! Undoing what ran: the rollback edges of every step that succeeded, then
//! the safety nets (no hook left suspended, no snapshot of this run left).

use super::*;

impl Executor<'_> {
    /// Follows the rollback edges of everything that ran, then the safety
    /// nets. Never stopped by signals; a failure here is exit 5.
    pub(super) fn rollback(&mut self, failed: Option<StepIndex>) {
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
    pub(super) fn final_sweep(&mut self) {
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
}
