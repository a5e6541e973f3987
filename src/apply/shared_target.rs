//! The backup target as a resource several plans share (the locks are
//! `state::target_lock`): a run holds its target's locks shared from
//! before its first target step to its end, and deactivates, exports or
//! logs out only when it is the last user. Recovery of a dead run does the
//! dead run's deactivate only when nobody else uses the target.

use std::time::Duration;

use crate::plan::Plan;
use crate::state::target_lock::{self, LastUser, Resource, TargetLock, TargetLockError};

/// How long a run waits for a target that another run is deactivating.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(120);

/// This run's hold on its targets.
#[derive(Debug, Default)]
pub struct SharedTargets {
    locks: Vec<TargetLock>,
}

impl SharedTargets {
    /// Takes every target lock of `plan` shared.
    pub fn acquire(plan: &Plan, wait: Duration) -> Result<SharedTargets, TargetLockError> {
        let mut locks = Vec::new();
        for resource in target_lock::resources_of(plan) {
            locks.push(TargetLock::acquire_shared(
                &plan.target_lock_dir,
                &resource,
                &plan.name,
                wait,
            )?);
        }
        Ok(SharedTargets { locks })
    }

    /// At the deactivate/logout step: `Ok(None)` when this run is the
    /// last user (it then holds the target alone), `Ok(Some(words))` when
    /// others still use it (`plan c (pid 12)`). A target this run did not
    /// lock is its alone (no such run starts without the lock).
    pub fn claim_last(&mut self, resource: &Resource) -> Result<Option<String>, TargetLockError> {
        let Some(lock) = self.locks.iter_mut().find(|l| l.resource() == resource) else {
            return Ok(None);
        };
        Ok(match lock.try_last_user()? {
            LastUser::Yes => None,
            LastUser::No(users) => Some(target_lock::describe(&users)),
        })
    }

    /// Whether this run left `resource` to another run (which still uses
    /// it) at its deactivate or logout step.
    pub fn left_to_others(&self, resource: &Resource) -> bool {
        self.locks
            .iter()
            .any(|l| l.resource() == resource && l.left_to_others())
    }

    /// Lets go of `resource` without putting it away: another run is to.
    pub fn release(&mut self, resource: &Resource) {
        for lock in self.locks.iter_mut().filter(|l| l.resource() == resource) {
            lock.release();
        }
    }

    /// Whether this run holds `resource` alone, after [`Self::claim_last`].
    pub fn is_alone(&self, resource: &Resource) -> bool {
        self.locks
            .iter()
            .find(|l| l.resource() == resource)
            .is_none_or(|l| l.is_exclusive())
    }
}

/// The words a run (or recovery) that leaves a target to its other users
/// logs and reports: `VG backup left active: plan c (pid 12) still uses it`.
pub fn left_active(resource: &Resource, users: &str) -> String {
    let what = match resource {
        Resource::Vg(_) => "left active",
        Resource::Iscsi(_) => "left logged in",
    };
    format!("{resource} {what}: {users} still uses it")
}

/// For recovery: the exclusive lock on `resource`, to hold while the dead
/// run's deactivate (logout) is done; `None` when another run uses the
/// target (the note is in `actions`: that run does it at its end) or the
/// lock cannot be taken (in `failures`: the journal stays open).
pub fn claim_for_recovery(
    plan: &Plan,
    resource: &Resource,
    actions: &mut Vec<String>,
    failures: &mut Vec<String>,
) -> Option<TargetLock> {
    match target_lock::try_exclusive(&plan.target_lock_dir, resource, &plan.name) {
        Ok(Ok(lock)) => Some(lock),
        Ok(Err(users)) => {
            let note = left_active(resource, &target_lock::describe(&users));
            tracing::warn!("recover: {note}; that run finishes it when it ends");
            actions.push(note);
            None
        }
        Err(e) => {
            failures.push(format!("{e}; {resource} was left as it is"));
            None
        }
    }
}
