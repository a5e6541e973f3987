//! Suspend and resume hooks: every hook suspended is resumed, whatever
//! happens after.

use super::*;

impl Executor<'_> {
    pub(super) fn suspend(&mut self, hook: &Hook) -> Result<(), StepError> {
        let (paths, timeout) = match hook {
            Hook::File { path, timeout } => (vec![path.clone()], *timeout),
            Hook::Directory { dir, timeout } => (self.sys.list_hooks(dir)?, *timeout),
        };
        for path in paths {
            self.call_hook(&path, HookAction::Suspend, timeout)?;
        }
        Ok(())
    }

    pub(super) fn resume(&mut self, hook: &Hook) -> Result<(), StepError> {
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

    pub(super) fn call_hook(
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
}
