//! Thin origins. Their snapshots take no VG space but fill the origin's
//! pool as the origin changes, and a full pool stalls or errors every live
//! volume in it: one row per pool with its data and metadata use and the
//! headroom the run has below the guard's threshold (apply abandons a thin
//! volume's copy there, see `apply/thin_guard.rs`), and a warning for a
//! `snapshot_size` that has no effect. The row also names the bases kept
//! for incremental reads (`retain_base`): each holds in the pool what its
//! origin changed since its run, about what the last incremental run found
//! changed, and is already counted in the pool's use.

use std::collections::BTreeMap;

use super::human;
use super::outcome::{CheckKind, CheckResult, Status};
use crate::plan::{LvPath, Plan};
use crate::resolve::resolve_volume;
use crate::state::runs::RunRecord;
use crate::system::SystemReport;
use crate::tags;

/// A thin origin of the plan, as its pool's row shows it.
struct ThinOrigin {
    source: String,
    bytes: u64,
    base: Option<KeptBase>,
}

/// A base of this plan's in the report.
struct KeptBase {
    path: LvPath,
    /// The plan no longer keeps one for this volume: the next run drops it.
    stale: bool,
    /// What the newest incremental run of the volume found changed.
    last_changed: Option<u64>,
}

/// The rows, pools in name order, then the warnings in plan order.
/// `history`: the last run records, newest first.
pub fn check(
    plan: &Plan,
    report: &SystemReport,
    history: &[RunRecord],
    threshold: f64,
) -> Vec<CheckResult> {
    // Pool -> the plan's thin origins in it.
    let mut pools: BTreeMap<LvPath, Vec<ThinOrigin>> = BTreeMap::new();
    let mut warnings = Vec::new();
    for volume in &plan.volumes {
        let Ok(resolved) = resolve_volume(volume, report) else {
            continue; // the source rows say why
        };
        let Some(pool) = resolved.thin_pool else {
            continue;
        };
        let base_path = tags::base_path(&volume.source);
        let base = report
            .lv(&base_path)
            .filter(|lv| lv.is_plans(&plan.name, tags::ROLE_BASE))
            .map(|_| KeptBase {
                path: base_path,
                stale: !volume.retain_base,
                last_changed: history
                    .iter()
                    .flat_map(|r| r.volumes.iter())
                    .filter(|v| v.volume == volume.name)
                    .find_map(|v| v.thin_changed_bytes),
            });
        pools.entry(pool.clone()).or_default().push(ThinOrigin {
            source: volume.source.to_string(),
            bytes: resolved.origin_bytes,
            base,
        });
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
    origins: &[ThinOrigin],
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
    let worst_case: u64 = origins.iter().map(|o| o.bytes).sum();
    let headroom_percent = (threshold - usage.data_percent).max(0.0);
    let headroom = (lv.lv_size as f64 * headroom_percent / 100.0) as u64;
    let names: Vec<&str> = origins.iter().map(|o| o.source.as_str()).collect();
    let mut detail = format!(
        "data {:.1}%, metadata {:.1}% used; {} of data until the {threshold:.0}% guard; \
         snapshots of {} can take up to {} if every block is rewritten during the run",
        usage.data_percent,
        usage.metadata_percent,
        human::bytes(headroom),
        names.join(", "),
        human::bytes(worst_case),
    );
    detail.push_str(&bases_note(origins));
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

/// What the kept bases cost: counted in the use above already, as the
/// blocks their origins changed since their run.
fn bases_note(origins: &[ThinOrigin]) -> String {
    let mut kept = Vec::new();
    let mut stale = Vec::new();
    for origin in origins {
        let Some(base) = &origin.base else { continue };
        if base.stale {
            stale.push(base.path.to_string());
            continue;
        }
        kept.push(match base.last_changed {
            Some(bytes) => format!(
                "{} (the last incremental run found {} changed)",
                base.path,
                human::bytes(bytes)
            ),
            None => base.path.to_string(),
        });
    }
    let mut note = String::new();
    if !kept.is_empty() {
        note.push_str(&format!(
            "; kept bases, each holding what its origin changed since it was taken \
             (retain_base: false avoids that, and then every copy reads in full): {}",
            kept.join(", ")
        ));
    }
    if !stale.is_empty() {
        note.push_str(&format!(
            "; bases kept before retain_base was turned off, which the next apply removes: {}",
            stale.join(", ")
        ));
    }
    note
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
            &[],
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
        let rows = check(
            &plan_of(&["vg0/vm1", "vg0/vm2"]),
            &machine(50.0, 5.0),
            &[],
            90.0,
        );
        assert_eq!(rows[0].status, Status::Warn, "{rows:#?}");
        let rows = check(&plan_of(&["vg0/vm1"]), &machine(20.0, 91.0), &[], 90.0);
        assert_eq!(rows[0].status, Status::Fail, "{rows:#?}");
        assert!(
            rows[0]
                .advice
                .as_deref()
                .unwrap()
                .contains("poolmetadatasize")
        );
        let rows = check(&plan_of(&["vg0/vm1"]), &machine(20.0, 30.0), &[], 25.0);
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
        let rows = check(&p, &machine(10.0, 5.0), &[], 90.0);
        let warned: Vec<_> = rows
            .iter()
            .filter(|r| r.status == Status::Warn)
            .map(|r| r.subject.as_str())
            .collect();
        assert_eq!(warned, ["vg0/vm1"]);
        assert!(rows[1].detail.contains("no effect"));
    }

    fn with_bases() -> SystemReport {
        let base = |plan: &str| crate::tags::for_lv(plan, "r0", crate::tags::ROLE_BASE).to_vec();
        Fake::builder()
            .vg("vg0", 15, 2)
            .thin_pool("vg0", "pool", 48, 10.0, 5.0)
            .thin_lv("vg0", "vm1", 16, "pool")
            .thin_lv("vg0", "vm2", 16, "pool")
            .thin_lv("vg0", "vm1-snapplan-base", 16, "pool")
            .tags("vg0", "vm1-snapplan-base", &base("nightly"))
            .thin_lv("vg0", "vm2-snapplan-base", 16, "pool")
            .tags("vg0", "vm2-snapplan-base", &base("other"))
            .report()
    }

    fn run_that_changed(volume: &str, bytes: Option<u64>) -> RunRecord {
        let mut v = crate::state::runs::VolumeResult::new(volume);
        v.thin_changed_bytes = bytes;
        RunRecord::for_test(0, vec![v])
    }

    #[test]
    fn the_pool_row_names_this_plans_kept_base_with_what_the_last_incremental_run_found_changed() {
        let p = plan_of(&["vg0/vm1", "vg0/vm2"]);
        let history = [
            run_that_changed("vm1", None),
            run_that_changed("vm1", Some(3 << 20)),
        ];
        let rows = check(&p, &with_bases(), &history, 90.0);
        let detail = &rows[0].detail;
        assert!(
            detail.contains("kept bases")
                && detail.contains(
                    "vg0/vm1-snapplan-base (the last incremental run found 3.0 MiB changed)"
                ),
            "{detail}"
        );
        assert!(
            !detail.contains("vm2-snapplan-base"),
            "another plan's base is not ours to count: {detail}"
        );
    }

    #[test]
    fn a_base_left_from_before_retain_base_was_turned_off_is_named_as_going() {
        let mut p = plan_of(&["vg0/vm1"]);
        p.volumes[0].retain_base = false;
        let rows = check(&p, &with_bases(), &[], 90.0);
        assert!(
            rows[0]
                .detail
                .contains("which the next apply removes: vg0/vm1-snapplan-base"),
            "{}",
            rows[0].detail
        );
        assert!(
            !rows[0].detail.contains("kept bases,"),
            "{}",
            rows[0].detail
        );
    }

    #[test]
    fn classic_plans_get_no_thin_rows() {
        assert!(check(&plan_of(&["vg0/home"]), &machine(99.0, 99.0), &[], 90.0).is_empty());
    }
}
