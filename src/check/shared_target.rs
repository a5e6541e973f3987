//! Which other plans use the same backup target now: one row per target
//! (the VG, and the iSCSI target when there is one), from the target locks
//! that every run holds while it uses it. Sharing a target is normal; the
//! row says who else is there and that the last run to finish puts the
//! target away.

use super::facts::TargetUsersFact;
use super::outcome::{CheckKind, CheckResult, Status};

pub fn check(facts: &[TargetUsersFact]) -> Vec<CheckResult> {
    facts.iter().map(row).collect()
}

fn row(fact: &TargetUsersFact) -> CheckResult {
    let new = |status, detail: String| {
        CheckResult::new(CheckKind::SharedTarget, fact.target.clone(), status, detail)
    };
    match &fact.users {
        Ok(users) if users.is_empty() => new(
            Status::Pass,
            "no run of another plan uses it now".to_string(),
        ),
        Ok(users) => new(
            Status::Pass,
            format!(
                "also used now by {}: the last run to finish deactivates it",
                users.join(", ")
            ),
        ),
        Err(error) => new(
            Status::Unknown,
            format!("cannot read its lock {}: {error}", fact.lock.display()),
        )
        .advice("run check as the user apply runs as (root)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(users: Result<Vec<String>, String>) -> TargetUsersFact {
        TargetUsersFact {
            target: "VG backup".into(),
            lock: "/run/snapplan/targets/vg-backup.lock".into(),
            users,
        }
    }

    #[test]
    fn other_plans_using_the_target_are_named_and_sharing_passes() {
        let rows = check(&[
            fact(Ok(vec![])),
            fact(Ok(vec![
                "plan nas (pid 812)".into(),
                "plan db (pid 90)".into(),
            ])),
            fact(Err("Permission denied".into())),
        ]);
        assert_eq!(rows[0].status, Status::Pass);
        assert_eq!(rows[0].detail, "no run of another plan uses it now");
        assert_eq!(rows[1].status, Status::Pass);
        assert!(
            rows[1]
                .detail
                .contains("plan nas (pid 812), plan db (pid 90)"),
            "{}",
            rows[1].detail
        );
        assert_eq!(rows[1].subject, "VG backup");
        assert_eq!(rows[2].status, Status::Unknown);
        assert!(rows[2].detail.contains("vg-backup.lock"));
    }
}
