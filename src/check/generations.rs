//! A thin-pool target (`target.pool`): does the pool exist, and does the
//! next run fit below its threshold? A full pool can damage every
//! generation in it, so check says how full it is, how much room the next
//! run needs (expected: the most the last runs wrote; worst case: every
//! origin rewritten), and how many complete generations each volume has.

use super::human;
use super::outcome::{CheckKind, CheckResult, Status};
use crate::generations::{VolumePoolSummary, volume_summaries};
use crate::plan::{Generations, LvPath, Plan};
use crate::state::runs::RunRecord;
use crate::system::SystemReport;

/// One row for the pool; nothing for a plan without `target.pool`.
pub fn check(plan: &Plan, report: &SystemReport, history: &[RunRecord]) -> Vec<CheckResult> {
    let Some(generations) = &plan.target.generations else {
        return Vec::new();
    };
    let pool = LvPath {
        vg: plan.target.vg.clone(),
        lv: generations.pool.clone(),
    };
    let worst: u64 = plan
        .volumes
        .iter()
        .filter_map(|v| report.lv(&v.source))
        .map(|lv| lv.lv_size)
        .sum();
    let Some(vg) = report.vg(&plan.target.vg) else {
        return vec![
            CheckResult::new(
                CheckKind::GenerationsPool,
                pool.to_string(),
                Status::Warn,
                format!(
                    "VG {} is not visible: its pool and generations cannot be checked",
                    plan.target.vg
                ),
            )
            .advice("apply logs in and activates it first; run check again once it is visible"),
        ];
    };
    if vg.is_exported() {
        return vec![CheckResult::new(
            CheckKind::GenerationsPool,
            pool.to_string(),
            Status::Warn,
            format!(
                "VG {} is exported: its pool's use cannot be read until apply imports it",
                vg.vg_name
            ),
        )];
    }
    let Some(found) = report.lv(&pool) else {
        // Room for a full set and the next run's rewrite of it.
        let suggested = worst.saturating_mul(2).max(1);
        return vec![
            CheckResult::new(
                CheckKind::GenerationsPool,
                pool.to_string(),
                Status::Fail,
                format!(
                    "thin pool {pool} (target.pool) does not exist; VG {} has {} free",
                    vg.vg_name,
                    human::bytes(vg.vg_free)
                ),
            )
            .advice(format!(
                "create it, e.g. for one full set of the volumes ({}) and a run that rewrites \
             all of them: {}",
                human::bytes(worst),
                crate::human::shell_join(&crate::graph::argv::create_thin_pool(&pool, suggested))
            )),
        ];
    };
    if !found.is_thin_pool() {
        return vec![
            CheckResult::new(
                CheckKind::GenerationsPool,
                pool.to_string(),
                Status::Fail,
                format!(
                    "{pool} (target.pool) is not a thin pool (lv_attr {})",
                    found.lv_attr
                ),
            )
            .advice("name a thin pool of the target VG in `target.pool`"),
        ];
    }
    let summaries = volume_summaries(plan, &report.lvs);
    let counts = generation_counts(&summaries);
    let Some(usage) = found.pool_use() else {
        return vec![CheckResult::new(
            CheckKind::GenerationsPool,
            pool.to_string(),
            Status::Warn,
            format!("{pool} reports no data or metadata use (inactive?); {counts}"),
        )];
    };
    let expected = expected_writes(plan, report, &summaries, history);
    let row = pool_row(
        &pool,
        found.lv_size,
        usage.data_percent,
        usage.metadata_percent,
        generations,
        worst,
        expected,
    );
    let detail = format!("{}; {counts}", row.detail);
    vec![CheckResult { detail, ..row }]
}

/// What the next run is expected to write: for a volume with a complete
/// generation, the most one of the last runs wrote into a generation that
/// was a snapshot of another (a delta); for one without, its whole size.
/// `None` when the last runs say nothing about any volume's deltas.
fn expected_writes(
    plan: &Plan,
    report: &SystemReport,
    summaries: &[VolumePoolSummary],
    history: &[RunRecord],
) -> Option<u64> {
    let mut known = false;
    let mut total = 0u64;
    for (v, summary) in plan.volumes.iter().zip(summaries) {
        if summary.newest_complete.is_none() {
            total += report.lv(&v.source).map_or(0, |lv| lv.lv_size);
            continue;
        }
        let deltas = history
            .iter()
            .flat_map(|r| r.volumes.iter())
            .filter(|r| r.volume == v.name && r.generation_parent.is_some())
            .map(|r| r.bytes_written)
            .max();
        if let Some(d) = deltas {
            known = true;
            total += d;
        }
    }
    known.then_some(total)
}

/// The verdict on the pool's room, from its size and use.
fn pool_row(
    pool: &LvPath,
    size: u64,
    data: f64,
    metadata: f64,
    generations: &Generations,
    worst: u64,
    expected: Option<u64>,
) -> CheckResult {
    let threshold = f64::from(generations.threshold_percent);
    let room = ((threshold - data).max(0.0) / 100.0 * size as f64) as u64;
    let mut detail = format!(
        "data {data:.1}%, metadata {metadata:.1}% of {} (a copy stops at {threshold:.0}%): \
         {} of room; the next run needs at most {} (every origin rewritten)",
        human::bytes(size),
        human::bytes(room),
        human::bytes(worst)
    );
    if let Some(e) = expected {
        detail.push_str(&format!(", {} as the last runs wrote", human::bytes(e)));
    }
    let grow = format!(
        "grow the pool (lvextend --size +N {pool}) or keep fewer generations (`retention:`, \
         then `snapplan prune PLAN`)"
    );
    let subject = pool.to_string();
    if data.max(metadata) >= threshold || expected.is_some_and(|e| e > room) {
        CheckResult::new(CheckKind::GenerationsPool, subject, Status::Fail, detail).advice(grow)
    } else if worst > room {
        CheckResult::new(CheckKind::GenerationsPool, subject, Status::Warn, detail).advice(format!(
            "a run that rewrites every origin would stop at the threshold; {grow}"
        ))
    } else {
        CheckResult::new(CheckKind::GenerationsPool, subject, Status::Pass, detail)
    }
}

/// `root: 3 complete (newest 20261202T031500Z)`, per volume.
fn generation_counts(summaries: &[VolumePoolSummary]) -> String {
    let parts: Vec<String> = summaries
        .iter()
        .map(|v| match &v.newest_complete {
            Some(newest) => format!("{}: {} complete (newest {newest})", v.volume, v.complete),
            None => format!("{}: no complete generation yet", v.volume),
        })
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Retention;

    fn generations(threshold: u8) -> Generations {
        Generations {
            pool: "gens".into(),
            threshold_percent: threshold,
            retention: Retention::default(),
        }
    }

    fn pool() -> LvPath {
        LvPath {
            vg: "backup".into(),
            lv: "gens".into(),
        }
    }

    #[test]
    fn the_row_counts_each_volumes_complete_generations_and_names_the_newest() {
        use crate::system::System;
        let mut plan = crate::plan::test_plans::plan(&[
            ("vg0/root", crate::plan::test_plans::pct(10.0)),
            ("vg0/home", crate::plan::test_plans::pct(10.0)),
        ]);
        crate::plan::test_plans::into_pool(&mut plan, 7);
        let mut complete = crate::tags::generation_tags(&plan.name, "r1");
        complete.retain(|t| t != crate::tags::TAG_STATE_INCOMPLETE);
        complete.push(crate::tags::TAG_STATE_COMPLETE.into());
        let mut builder = crate::system::fake::Fake::builder()
            .vg("vg0", 64, 32)
            .vg("backup", 64, 16)
            .lv("vg0", "root", 16, "-wi-a-----")
            .lv("vg0", "home", 16, "-wi-a-----")
            .thin_pool("backup", "gens", 128, 20.0, 5.0);
        for id in ["20261201T000000Z", "20261202T000000Z"] {
            let name = crate::tags::generation_name("root", id);
            builder = builder
                .thin_lv("backup", &name, 16, "gens")
                .tags("backup", &name, &complete);
        }
        let report = builder.build().report().unwrap();
        let rows = check(&plan, &report, &[]);
        assert_eq!(rows.len(), 1);
        assert!(
            rows[0].detail.ends_with(
                "root: 2 complete (newest 20261202T000000Z), home: no complete generation yet"
            ),
            "{}",
            rows[0].detail
        );
    }

    #[test]
    fn a_pool_with_room_for_a_full_rewrite_passes() {
        let row = pool_row(
            &pool(),
            100 << 20,
            20.0,
            5.0,
            &generations(95),
            50 << 20,
            Some(4 << 20),
        );
        assert_eq!(row.status, Status::Pass, "{}", row.detail);
        assert!(row.detail.contains("75.0 MiB of room"), "{}", row.detail);
    }

    #[test]
    fn room_for_what_the_last_runs_wrote_but_not_a_full_rewrite_warns() {
        let row = pool_row(
            &pool(),
            100 << 20,
            60.0,
            5.0,
            &generations(95),
            50 << 20,
            Some(4 << 20),
        );
        assert_eq!(row.status, Status::Warn, "{}", row.detail);
    }

    #[test]
    fn no_room_for_what_the_last_runs_wrote_or_a_pool_at_its_threshold_fails() {
        let short = pool_row(
            &pool(),
            100 << 20,
            90.0,
            5.0,
            &generations(95),
            50 << 20,
            Some(8 << 20),
        );
        assert_eq!(short.status, Status::Fail, "{}", short.detail);
        let full = pool_row(&pool(), 100 << 20, 10.0, 96.0, &generations(95), 1, None);
        assert_eq!(full.status, Status::Fail, "{}", full.detail);
        assert!(full.advice.unwrap().contains("lvextend"));
    }
}
