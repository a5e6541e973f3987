//! `snapplan check`: the read-only pre-flight. [`facts::gather`] reads the
//! system (and changes nothing); [`evaluate`] turns those facts into a
//! report, purely, so that every check is tested without LVM. apply runs the
//! same evaluation before it touches anything.

mod backups;
pub mod facts;
mod generations;
mod hooks;
pub mod human;
mod leftovers;
mod lock;
mod mounts;
pub mod outcome;
mod protection;
pub mod render;
mod shared_target;
mod sizes;
mod sources;
mod space;
mod state_dir;
mod thin;
mod tools;

pub use facts::{Facts, LvmUnavailable, gather};
pub use outcome::{CheckKind, CheckReport, CheckResult, Status};

use crate::plan::Plan;

/// Every check, in the order an admin fixes things: tools, LVM state,
/// sources, space, hooks, leftovers, state directory, lock.
pub fn evaluate(plan: &Plan, facts: &Facts) -> CheckReport {
    let mut rows = tools::check(&facts.tools);
    match &facts.lvm {
        Ok(report) => {
            rows.extend(sources::check(plan, report));
            rows.extend(space::snapshots(plan, report));
            rows.extend(sizes::check(plan, report, &facts.history));
            rows.extend(thin::check(
                plan,
                report,
                &facts.history,
                crate::system::thin::pool_threshold_percent(),
            ));
            if plan.target.generations.is_some() {
                // No backup LV to make or protect: generations in a pool.
                rows.extend(generations::check(plan, report, &facts.history));
            } else {
                let backup_row = space::backups(plan, report);
                let backups_needed = backup_row
                    .as_ref()
                    .and_then(|r| r.space.as_ref())
                    .map_or(0, |s| s.needed_extents);
                rows.extend(backup_row);
                rows.extend(protection::check(
                    plan,
                    report,
                    backups_needed,
                    &facts.history,
                ));
                rows.extend(backups::check(plan, report));
            }
            rows.extend(leftovers::check(plan, report));
        }
        Err(why) => {
            let detail = match why {
                LvmUnavailable::NoTool => "cannot read LVM state without the `lvm` tool".into(),
                LvmUnavailable::Failed(error) => format!("cannot read LVM state: {error}"),
            };
            rows.push(
                CheckResult::new(CheckKind::LvmState, "lvs/vgs", Status::Fail, detail).advice(
                    "source LVs, snapshot and backup space and leftovers are not checked until \
                     this works; run check as root on the machine that holds the volumes",
                ),
            );
        }
    }
    if let Some(hooks) = &facts.hooks {
        rows.extend(hooks::check(hooks));
    }
    rows.push(state_dir::check(&plan.state_dir, &facts.state_dir));
    rows.push(lock::check(&facts.lock));
    rows.extend(mounts::check(&facts.mounts));
    rows.extend(shared_target::check(&facts.target_users));
    CheckReport::new(&plan.name, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::facts::{LockFact, ToolFact};
    use crate::plan::test_plans::*;
    use crate::system::fake::Fake;

    fn facts(report: Result<crate::system::SystemReport, LvmUnavailable>) -> Facts {
        Facts {
            tools: vec![ToolFact {
                name: "lvm",
                need: facts::Need::Required,
                purpose: "reads and changes LVM",
                found: Some("/usr/sbin/lvm".into()),
            }],
            lvm: report,
            hooks: None,
            state_dir: Ok(()),
            lock: LockFact::NoLockFile {
                path: "/var/lib/snapplan/nightly.lock".into(),
            },
            target_users: vec![facts::TargetUsersFact {
                target: "VG backup".into(),
                lock: "/run/snapplan/targets/vg-backup.lock".into(),
                users: Ok(vec![]),
            }],
            history: vec![],
            mounts: vec![],
        }
    }

    #[test]
    fn a_system_where_everything_fits_is_ok() {
        let report = Fake::builder()
            .vg("vg0", 15, 7)
            .vg("backup", 15, 15)
            .lv("vg0", "a", 16, "-wi-ao----")
            .lv("vg0", "b", 16, "-wi-ao----")
            .report();
        let out = evaluate(
            &plan(&[("vg0/a", pct(25.0)), ("vg0/b", pct(25.0))]),
            &facts(Ok(report)),
        );
        assert!(out.ok, "{out:#?}");
        assert_eq!(out.counts.fail, 0);
        let kinds: Vec<_> = out.checks.iter().map(|c| c.check).collect();
        assert_eq!(
            kinds,
            vec![
                CheckKind::Tool,
                CheckKind::SourceLv,
                CheckKind::SourceLv,
                CheckKind::SnapshotSpace,
                CheckKind::BackupSpace,
                CheckKind::ProtectionSpace,
                CheckKind::Leftover,
                CheckKind::StateDir,
                CheckKind::Lock,
                CheckKind::SharedTarget
            ]
        );
    }

    #[test]
    fn without_lvm_state_one_row_fails_and_nothing_is_guessed() {
        let out = evaluate(
            &plan(&[("vg0/a", pct(25.0))]),
            &facts(Err(LvmUnavailable::Failed(
                "`lvm lvs` failed (exit status 5): /dev/mapper/control: open failed".into(),
            ))),
        );
        assert!(!out.ok);
        let lvm_row = out
            .checks
            .iter()
            .find(|c| c.check == CheckKind::LvmState)
            .unwrap();
        assert!(lvm_row.detail.contains("/dev/mapper/control"));
        assert!(!out.checks.iter().any(|c| c.check == CheckKind::SourceLv));
    }
}
