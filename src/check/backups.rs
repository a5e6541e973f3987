//! Is each existing backup LV safe to write? A backup LV that is open
//! (mounted, or read by someone restoring from it) would be overwritten
//! under its user; a backup LV that is its own source would destroy the
//! data it should protect.

use super::outcome::{CheckKind, CheckResult, Status};
use crate::plan::{LvPath, Plan};
use crate::system::SystemReport;
use crate::tags;

/// Rows only for problems: the space row already says how many backup LVs
/// exist.
pub fn check(plan: &Plan, report: &SystemReport) -> Vec<CheckResult> {
    let mut rows = Vec::new();
    for volume in &plan.volumes {
        let path = LvPath {
            vg: plan.target.vg.clone(),
            lv: volume.target_lv.clone(),
        };
        let subject = path.to_string();
        if path == volume.source {
            rows.push(
                CheckResult::new(
                    CheckKind::BackupLv,
                    subject,
                    Status::Fail,
                    format!("volume {} would be backed up onto itself", volume.name),
                )
                .advice("set `target_lv:` (or `target.vg`) so the backup is another LV"),
            );
            continue;
        }
        let Some(lv) = report.lv(&path) else {
            continue;
        };
        if lv.is_snapshot() || lv.is_thin() || lv.is_internal() {
            rows.push(
                CheckResult::new(
                    CheckKind::BackupLv,
                    subject,
                    Status::Fail,
                    format!(
                        "is not a plain LV (lv_attr {}): a backup is written onto a plain LV",
                        lv.lv_attr
                    ),
                )
                .advice("choose another `target_lv:` for this volume"),
            );
        } else if lv
            .ownership()
            .is_some_and(|o| o.state.as_deref() == Some(tags::STATE_INCOMPLETE))
            && !lv.is_open()
        {
            rows.push(
                CheckResult::new(
                    CheckKind::BackupLv,
                    &subject,
                    Status::Warn,
                    "marked incomplete: an earlier run did not finish (or verify) this copy, so \
                     it is not a usable backup now",
                )
                .advice("the next apply rewrites it; until then, do not restore from it"),
            );
        } else if lv.is_open() {
            rows.push(
                CheckResult::new(
                    CheckKind::BackupLv,
                    &subject,
                    Status::Fail,
                    "is open (mounted, or in use by a process): apply would overwrite it under its user",
                )
                .advice(format!(
                    "unmount it or stop what uses it (`fuser -vm /dev/{subject}`, `findmnt /dev/{subject}`)"
                )),
            );
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::test_plans::*;
    use crate::system::fake::Fake;

    #[test]
    fn closed_plain_or_missing_backups_raise_nothing() {
        let report = Fake::builder()
            .lv("vg0", "a", 32, "-wi-ao----")
            .lv("vg0", "b", 32, "-wi-ao----")
            .lv("backup", "a", 32, "-wi-a-----")
            .report();
        assert!(
            check(
                &plan(&[("vg0/a", pct(20.0)), ("vg0/b", pct(20.0))]),
                &report
            )
            .is_empty()
        );
    }

    #[test]
    fn an_open_backup_lv_fails() {
        let report = Fake::builder()
            .lv("vg0", "a", 32, "-wi-ao----")
            .lv("backup", "a", 32, "-wi-ao----")
            .report();
        let rows = check(&plan(&[("vg0/a", pct(20.0))]), &report);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, Status::Fail);
        assert_eq!(rows[0].subject, "backup/a");
        assert!(rows[0].detail.contains("is open"));
    }

    #[test]
    fn an_incomplete_backup_warns() {
        let mut incomplete = tags::for_lv("nightly", "r1", tags::ROLE_BACKUP).to_vec();
        incomplete.push(format!("{}{}", tags::STATE_PREFIX, tags::STATE_INCOMPLETE));
        let report = Fake::builder()
            .lv("vg0", "a", 32, "-wi-ao----")
            .lv("backup", "a", 32, "-wi-a-----")
            .tags("backup", "a", &incomplete)
            .report();
        let rows = check(&plan(&[("vg0/a", pct(20.0))]), &report);
        assert_eq!(rows[0].status, Status::Warn);
        assert!(rows[0].detail.contains("marked incomplete"));
    }

    #[test]
    fn a_snapshot_as_backup_lv_fails() {
        let report = Fake::builder()
            .lv("vg0", "a", 32, "-wi-ao----")
            .lv("backup", "x", 32, "owi-a-s---")
            .snapshot("backup", "a", 8, "x", &[])
            .report();
        let rows = check(&plan(&[("vg0/a", pct(20.0))]), &report);
        assert!(rows[0].detail.contains("not a plain LV"));
    }

    #[test]
    fn a_volume_backed_up_onto_itself_fails() {
        let mut p = plan(&[("backup/a", pct(20.0))]);
        p.volumes[0].target_lv = "a".into();
        let report = Fake::builder().lv("backup", "a", 32, "-wi-a-----").report();
        let rows = check(&p, &report);
        assert_eq!(rows[0].status, Status::Fail);
        assert!(rows[0].detail.contains("onto itself"));
    }
}
