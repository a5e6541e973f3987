//! Snapshot sizes learned from the last runs: per classic volume, the peak
//! copy-on-write use the run records hold (bytes and % of the snapshot),
//! the fill rate measured while it waited and was copied, and a suggested
//! `snapshot_size` when it was too small (it overflowed, grew, or peaked
//! over 80%) or wasteful (over 4x its need). The arithmetic is
//! [`crate::sizing`]'s; this only picks each volume's results.

use super::outcome::{CheckKind, CheckResult, Status};
use crate::plan::Plan;
use crate::resolve::resolve_volume;
use crate::sizing;
use crate::state::runs::{RunRecord, VolumeResult};
use crate::system::SystemReport;

/// One row per volume that the last runs measured.
pub fn check(plan: &Plan, report: &SystemReport, history: &[RunRecord]) -> Vec<CheckResult> {
    let mut rows = Vec::new();
    for volume in &plan.volumes {
        let Ok(resolved) = resolve_volume(volume, report) else {
            continue;
        };
        if resolved.thin_pool.is_some() {
            continue;
        }
        let results: Vec<&VolumeResult> = history
            .iter()
            .flat_map(|r| &r.volumes)
            .filter(|v| v.volume == volume.name)
            .collect();
        let Some(learned) = sizing::learn(&volume.name, &results, resolved.extent_bytes) else {
            continue;
        };
        let status = match learned.verdict {
            "fine" => Status::Pass,
            _ => Status::Warn,
        };
        let mut row = CheckResult::new(
            CheckKind::SnapshotSize,
            volume.name.clone(),
            status,
            sizing::describe(&learned),
        );
        if let Some(bytes) = learned.suggested_bytes {
            row = row.advice(format!(
                "set `snapshot_size: {}` on volume {} in the plan{}",
                crate::human::exact_bytes(bytes),
                volume.name,
                if learned.verdict == "too_small" {
                    " (or a `snapshot_size_max` at least that large, so that it grows)"
                } else {
                    ""
                }
            ));
        }
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::test_plans::*;
    use crate::system::fake::{Fake, MIB};

    fn record(volumes: Vec<VolumeResult>) -> RunRecord {
        RunRecord::for_test(4, volumes)
    }

    #[test]
    fn an_overflowed_volume_is_told_a_size_that_would_have_held_it() {
        let plan = plan(&[("vg0/a", crate::plan::SnapshotSize::Bytes(4 * MIB))]);
        let report = Fake::builder()
            .vg("vg0", 64, 32)
            .lv("vg0", "a", 16, "-wi-ao----")
            .report();
        let mut a = VolumeResult::new(&plan.volumes[0].name);
        a.snapshot_bytes = Some(4 * MIB);
        a.snapshot_final_bytes = Some(4 * MIB);
        a.snapshot_peak_bytes = Some(3 * MIB);
        a.snapshot_peak_percent = Some(100.0);
        a.snapshot_fill_rate = Some(MIB as f64);
        a.snapshot_window_seconds = Some(10.0);
        let rows = check(&plan, &report, &[record(vec![a])]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, Status::Warn);
        assert!(rows[0].detail.contains("OVERFLOWED"), "{}", rows[0].detail);
        // 1 MiB/s over 10 s, with the margin: 15 MiB -> 16 MiB.
        assert!(
            rows[0]
                .advice
                .as_deref()
                .unwrap()
                .contains("snapshot_size: 16 MiB"),
            "{:?}",
            rows[0].advice
        );
        // No history, no row.
        assert!(check(&plan, &report, &[]).is_empty());
    }
}
