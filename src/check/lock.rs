//! Is a run of this plan in progress? Check reports a held lock as a failed
//! check; only apply exits 3 for it.

use super::facts::LockFact;
use super::outcome::{CheckKind, CheckResult, Status};

pub fn check(lock: &LockFact) -> CheckResult {
    match lock {
        LockFact::Free { path } => CheckResult::new(
            CheckKind::Lock,
            path.display().to_string(),
            Status::Pass,
            "free",
        ),
        LockFact::NoLockFile { path } => CheckResult::new(
            CheckKind::Lock,
            path.display().to_string(),
            Status::Pass,
            "free (no lock file yet: no run holds it)",
        ),
        LockFact::Held { path, holder } => CheckResult::new(
            CheckKind::Lock,
            path.display().to_string(),
            Status::Fail,
            format!(
                "held by {}: a run of this plan is in progress",
                holder.as_deref().unwrap_or("another process")
            ),
        )
        .advice(
            "wait for that run to finish; if it hangs, look at that process before anything else",
        ),
        LockFact::HeldByThisRun { path } => CheckResult::new(
            CheckKind::Lock,
            path.display().to_string(),
            Status::Pass,
            "held by this run",
        ),
        LockFact::Unreadable { path, error } => CheckResult::new(
            CheckKind::Lock,
            path.display().to_string(),
            Status::Unknown,
            format!("cannot open the lock file: {error}"),
        )
        .advice("run check as the user apply runs as (root)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_and_absent_locks_pass_held_fails_naming_the_holder() {
        let path = std::path::PathBuf::from("/var/lib/snapplan/nightly.lock");
        assert_eq!(
            check(&LockFact::Free { path: path.clone() }).status,
            Status::Pass
        );
        assert_eq!(
            check(&LockFact::NoLockFile { path: path.clone() }).status,
            Status::Pass
        );
        let held = check(&LockFact::Held {
            path: path.clone(),
            holder: Some("pid 42 (snapplan apply nightly.yaml)".into()),
        });
        assert_eq!(held.status, Status::Fail);
        assert!(held.detail.contains("pid 42 (snapplan apply"));
        let ours = check(&LockFact::HeldByThisRun { path: path.clone() });
        assert_eq!(ours.status, Status::Pass);
        let odd = check(&LockFact::Unreadable {
            path,
            error: "Permission denied".into(),
        });
        assert_eq!(odd.status, Status::Unknown);
    }
}
