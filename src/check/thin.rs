//! Thin origins. Their snapshots take no VG space but fill the origin's
//! pool as the origin changes, and a full pool stalls or errors every live
//! volume in it: one row per pool with its data and metadata use and the
//! headroom the run has below the guard's threshold (apply abandons a thin
//! volume's copy there, see `apply/thin_guard.rs`), and a warning for a
//! `snapshot_size` that has no effect.

use std::collections::BTreeMap;

use super::human;
use super::outcome::{CheckKind, CheckResult, Status};
use crate::plan::{LvPath, Plan};
use crate::resolve::resolve_volume;
use crate::system::SystemReport;

/// The rows, pools in name order, then the warnings in plan order.
pub fn check(plan: &Plan, report: &SystemReport, threshold: f64) -> Vec<CheckResult> {
    // Pool -> the plan's thin origins in it, with their sizes.
    let mut pools: BTreeMap<LvPath, Vec<(String, u64)>> = BTreeMap::new();
    let mut warnings = Vec::new();
    for volume in &plan.volumes {
        let Ok(resolved) = resolve_volume(volume, report) else {
            continue; // the source rows say why
        };
        let Some(pool) = resolved.thin_pool else {
            continue;
        };
        pools
            .entry(pool.clone())
            .or_default()
            .push((volume.source.to_string(), resolved.origin_bytes));
        if volume.snapshot_size_set {
            warnings.push(
                CheckResult::new(
                    CheckKind::ThinPool,
                    volume.source.to_string(),
                    Status::Warn,
                    format!(
                        "snapshot_size has no effect: {} is a thin volume, its snapshot is a \
                         thin one in pool {pool} without a size of its own",
                        volume.source
                    ),
                )
                .advice(format!(
                    "remove `snapshot_size` from volume {} in the plan",
                    volume.name
                )),
            );
        }
    }
    let mut rows: Vec<CheckResult> = pools
        .iter()
        .map(|(pool, origins)| pool_row(pool, origins, report, threshold))
        .collect();
    rows.extend(warnings);
    rows
}

fn pool_row(
    pool: &LvPath,
    origins: &[(String, u64)],
    report: &SystemReport,
    threshold: f64,
) -> CheckResult {
    let subject = format!("pool {pool}");
    let Some((lv, usage)) = report
        .lv(pool)
        .and_then(|lv| lv.pool_use().map(|u| (lv, u)))
    else {
        return CheckResult::new(
            CheckKind::ThinPool,
            subject,
            Status::Unknown,
            "lvs reports no data or metadata use for this pool (is it active?)",
        )
        .advice(format!(
            "activate it (`lvchange -ay {pool}`) and run check again"
        ));
    };
    let worst_case: u64 = origins.iter().map(|(_, bytes)| bytes).sum();
    let headroom_percent = (threshold - usage.data_percent).max(0.0);
    let headroom = (lv.lv_size as f64 * headroom_percent / 100.0) as u64;
    let names: Vec<&str> = origins.iter().map(|(n, _)| n.as_str()).collect();
    let detail = format!(
        "data {:.1}%, metadata {:.1}% used; {} of data until the {threshold:.0}% guard; \
         snapshots of {} can take up to {} if every block is rewritten during the run",
        usage.data_percent,
        usage.metadata_percent,
        human::bytes(headroom),
        names.join(", "),
        human::bytes(worst_case),
    );
    let grow = format!(
        "grow the pool (`lvextend -L +SIZE {pool}`, `lvextend --poolmetadatasize +SIZE {pool}`), \
         free space in it, or run the backup when the volumes change less"
    );
    if usage.worst_percent() >= threshold {
        CheckResult::new(
            CheckKind::ThinPool,
            subject,
            Status::Fail,
            format!("{detail}: already at the guard, apply would abandon these copies at once"),
        )
        .advice(grow)
    } else if headroom < worst_case {
        CheckResult::new(CheckKind::ThinPool, subject, Status::Warn, detail).advice(format!(
            "if the volumes change by more than the headroom during the run, apply abandons \
             their copies to protect the pool; {grow}"
        ))
    } else {
        CheckResult::new(CheckKind::ThinPool, subject, Status::Pass, detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::test_plans::*;
    use crate::system::fake::Fake;

    fn machine(data: f64, meta: f64) -> SystemReport {
        Fake::builder()
            .vg("vg0", 15, 2)
            .thin_pool("vg0", "pool", 48, data, meta)
            .thin_lv("vg0", "vm1", 16, "pool")
            .thin_lv("vg0", "vm2", 16, "pool")
            .lv("vg0", "home", 8, "-wi-ao----")
            .report()
    }

    fn plan_of(sources: &[&str]) -> Plan {
        let sized: Vec<_> = sources.iter().map(|s| (*s, pct(20.0))).collect();
        plan(&sized)
    }

    #[test]
    fn one_row_per_pool_with_its_use_and_headroom() {
        let rows = check(
            &plan_of(&["vg0/vm1", "vg0/vm2", "vg0/home"]),
            &machine(10.0, 5.0),
            90.0,
        );
        assert_eq!(rows.len(), 1, "{rows:#?}");
        assert_eq!(rows[0].subject, "pool vg0/pool");
        // 80% of 48 MiB headroom against 32 MiB of origins: a pass.
        assert_eq!(rows[0].status, Status::Pass);
        assert!(
            rows[0].detail.contains("data 10.0%, metadata 5.0%"),
            "{}",
            rows[0].detail
        );
        assert!(
            rows[0]
                .detail
                .contains("38.4 MiB of data until the 90% guard"),
            "{}",
            rows[0].detail
        );
    }

    #[test]
    fn too_little_headroom_warns_and_a_pool_at_the_guard_fails() {
        let rows = check(&plan_of(&["vg0/vm1", "vg0/vm2"]), &machine(50.0, 5.0), 90.0);
        assert_eq!(rows[0].status, Status::Warn, "{rows:#?}");
        let rows = check(&plan_of(&["vg0/vm1"]), &machine(20.0, 91.0), 90.0);
        assert_eq!(rows[0].status, Status::Fail, "{rows:#?}");
        assert!(
            rows[0]
                .advice
                .as_deref()
                .unwrap()
                .contains("poolmetadatasize")
        );
        let rows = check(&plan_of(&["vg0/vm1"]), &machine(20.0, 30.0), 25.0);
        assert_eq!(
            rows[0].status,
            Status::Fail,
            "a lower threshold applies: {rows:#?}"
        );
    }

    #[test]
    fn a_snapshot_size_named_on_a_thin_volume_warns_and_one_from_defaults_does_not() {
        let mut p = plan_of(&["vg0/vm1", "vg0/vm2", "vg0/home"]);
        p.volumes[0].snapshot_size_set = true;
        p.volumes[2].snapshot_size_set = true;
        let rows = check(&p, &machine(10.0, 5.0), 90.0);
        let warned: Vec<_> = rows
            .iter()
            .filter(|r| r.status == Status::Warn)
            .map(|r| r.subject.as_str())
            .collect();
        assert_eq!(warned, ["vg0/vm1"]);
        assert!(rows[1].detail.contains("no effect"));
    }

    #[test]
    fn classic_plans_get_no_thin_rows() {
        assert!(check(&plan_of(&["vg0/home"]), &machine(99.0, 99.0), 90.0).is_empty());
    }
}
