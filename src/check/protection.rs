//! Is there room to keep the previous backups? With `target.keep_previous`
//! (the default) each volume's copy starts with a snapshot of its backup
//! LV, sized for the worst case (the whole LV overwritten, see
//! `graph::argv::PROTECTION_PERCENT`), in the backup VG. Volumes are copied
//! one at a time and each protection is released before the next copy, so
//! the VG needs room for the largest one, on top of what the backup row
//! counts (backup LVs to create or extend, snapshots taken there). The
//! row also says what the last runs really overwrote (their
//! `bytes_written`): the expected use, next to the worst case it reserves.

use super::human;
use super::outcome::{CheckKind, CheckResult, Space, Status};
use crate::graph::argv::PROTECTION_PERCENT;
use crate::plan::{LvPath, Plan, SnapshotSize};
use crate::resolve::snapshot_extents;
use crate::state::runs::{RunRecord, VolumeStatus};
use crate::system::SystemReport;
use crate::tags;

/// The target VG's protection row. `backups_needed` is the extent count
/// the backup space row found needed (0 when it has none); `history` the
/// last run records, newest first.
pub fn check(
    plan: &Plan,
    report: &SystemReport,
    backups_needed: u64,
    history: &[RunRecord],
) -> Option<CheckResult> {
    let name = &plan.target.vg;
    let subject = format!("VG {name}");
    if !plan.target.keep_previous {
        return Some(
            CheckResult::new(
                CheckKind::ProtectionSpace,
                subject,
                Status::Warn,
                "target.keep_previous is false: the previous backup is NOT protected; each copy \
                 overwrites its backup LV in place, and a failed or killed run leaves it neither \
                 the previous backup nor the new one"
                    .to_string(),
            )
            .advice(
                "remove `keep_previous: false` from the plan when the backup VG has room for a \
                 snapshot of the largest backup LV",
            ),
        );
    }
    let vg = report.vg(name)?; // the backup space row says why it is missing
    if vg.is_exported() {
        return None; // the backup row says its LVs cannot be listed
    }
    // Only a backup tagged complete gets a protection: a new or incomplete
    // one holds nothing worth keeping.
    let largest = plan
        .volumes
        .iter()
        .filter_map(|v| {
            let path = LvPath {
                vg: name.clone(),
                lv: v.target_lv.clone(),
            };
            let lv = report.lv(&path)?;
            let complete = lv.lv_tags.iter().any(|t| t == tags::TAG_STATE_COMPLETE);
            complete.then(|| {
                let size = SnapshotSize::PercentOfOrigin(PROTECTION_PERCENT);
                (snapshot_extents(size, lv.lv_size, vg), path)
            })
        })
        .max_by_key(|(extents, _)| *extents);
    let Some((protection, path)) = largest else {
        return Some(CheckResult::new(
            CheckKind::ProtectionSpace,
            subject,
            Status::Pass,
            "no backup LV holds a complete backup yet: nothing to protect".to_string(),
        ));
    };
    let extent = vg.vg_extent_size;
    let free = vg.vg_free_count;
    let needed = backups_needed.saturating_add(protection);
    let mut detail = format!(
        "needs {} to keep the previous backup while it is overwritten (one volume at a time; \
         the largest, {}, is {} for {path}: its whole size plus the copy-on-write table) on top \
         of {} for the backup LVs; {} free",
        human::space(needed, extent),
        tags::protection_path(&path),
        human::space(protection, extent),
        human::space(backups_needed, extent),
        human::space(free, extent),
    );
    detail.push_str(&expected_overwrites(plan, history));
    let status = if needed <= free {
        Status::Pass
    } else {
        detail.push_str(&format!(
            ": short by {}.",
            human::space(needed - free, extent)
        ));
        Status::Fail
    };
    let mut row =
        CheckResult::new(CheckKind::ProtectionSpace, subject, status, detail).space(Space {
            vg: name.clone(),
            extent_bytes: extent,
            needed_extents: needed,
            free_extents: free,
            needed_bytes: needed.saturating_mul(extent),
            free_bytes: free.saturating_mul(extent),
        });
    if status == Status::Fail {
        row = row.advice(format!(
            "add space to VG {name} (`vgextend {name} /dev/NEWPV`), or set \
             `target.keep_previous: false` to overwrite the backups in place (a failed run then \
             loses the previous backup)"
        ));
    }
    Some(row)
}

/// What the last runs' good copies overwrote, per volume: the most any
/// wrote, which is what a protection held for them (the worst case, the
/// whole LV, is what is reserved).
fn expected_overwrites(plan: &Plan, history: &[RunRecord]) -> String {
    let most: Vec<String> = plan
        .volumes
        .iter()
        .filter_map(|v| {
            let written = history
                .iter()
                .flat_map(|r| r.volumes.iter())
                .filter(|r| r.volume == v.name && r.status == VolumeStatus::Ok)
                .map(|r| r.bytes_written)
                .max()?;
            Some(format!("{} {}", v.name, human::bytes(written)))
        })
        .collect();
    if most.is_empty() {
        return String::new();
    }
    format!(
        "; expected from the last {} run(s): a copy overwrote at most {}",
        history.len(),
        most.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::test_plans::*;
    use crate::system::fake::Fake;

    const MIB: u64 = 1 << 20;

    fn complete() -> Vec<String> {
        vec![tags::TAG_STATE_COMPLETE.to_string()]
    }

    #[test]
    fn the_largest_complete_backup_counts_once_on_top_of_the_backup_lvs() {
        // a: 32 MiB complete -> 101.5625% = 32.5 MiB -> 9 extents; b: 16
        // MiB complete -> 5 extents; only the larger counts.
        let p = plan(&[("vg0/a", pct(20.0)), ("vg0/b", pct(20.0))]);
        let report = Fake::builder()
            .vg("backup", 15, 9)
            .lv("backup", "a", 32, "-wi-a-----")
            .tags("backup", "a", &complete())
            .lv("backup", "b", 16, "-wi-a-----")
            .tags("backup", "b", &complete())
            .report();
        let row = check(&p, &report, 0, &[]).unwrap();
        assert_eq!(row.status, Status::Pass, "{}", row.detail);
        assert_eq!(row.space.as_ref().unwrap().needed_extents, 9);
        assert!(
            row.detail.contains("backup/a-snapplan-keep"),
            "{}",
            row.detail
        );
        let short = check(&p, &report, 1, &[]).unwrap();
        assert_eq!(short.status, Status::Fail);
        assert!(
            short.detail.contains("short by 4.0 MiB (1 extent)"),
            "{}",
            short.detail
        );
        assert!(short.advice.unwrap().contains("keep_previous: false"));
    }

    #[test]
    fn the_row_says_what_the_last_good_copies_overwrote_next_to_the_worst_case() {
        let p = plan(&[("vg0/a", pct(20.0)), ("vg0/b", pct(20.0))]);
        let report = Fake::builder()
            .vg("backup", 15, 9)
            .lv("backup", "a", 32, "-wi-a-----")
            .tags("backup", "a", &complete())
            .report();
        let volume = |name: &str, written: u64, status: VolumeStatus| {
            let mut v = crate::state::runs::VolumeResult::new(name);
            v.bytes_written = written;
            v.status = status;
            v
        };
        let run = |volumes| RunRecord::for_test(0, volumes);
        let history = [
            run(vec![volume("a", 3 * MIB, VolumeStatus::Ok)]),
            // A failed copy's bytes are not what a good one overwrites.
            run(vec![volume("a", 30 * MIB, VolumeStatus::Failed)]),
            run(vec![volume("a", 5 * MIB, VolumeStatus::Ok)]),
        ];
        let row = check(&p, &report, 0, &history).unwrap();
        assert!(
            row.detail
                .ends_with("; expected from the last 3 run(s): a copy overwrote at most a 5.0 MiB"),
            "{}",
            row.detail
        );
        assert_eq!(
            row.space.unwrap().needed_extents,
            9,
            "the worst case is still what is reserved"
        );
    }

    #[test]
    fn a_backup_that_is_not_complete_needs_no_protection() {
        let p = plan(&[("vg0/a", pct(20.0))]);
        let report = Fake::builder()
            .vg("backup", 15, 0)
            .lv("backup", "a", 32, "-wi-a-----")
            .report();
        let row = check(&p, &report, 0, &[]).unwrap();
        assert_eq!(row.status, Status::Pass);
        assert!(row.detail.contains("nothing to protect"));
        let _ = MIB;
    }

    #[test]
    fn opting_out_warns_that_the_previous_backup_is_not_protected() {
        let mut p = plan(&[("vg0/a", pct(20.0))]);
        p.target.keep_previous = false;
        let report = Fake::builder().vg("backup", 15, 0).report();
        let row = check(&p, &report, 0, &[]).unwrap();
        assert_eq!(row.status, Status::Warn);
        assert!(row.detail.contains("NOT protected"), "{}", row.detail);
    }
}
