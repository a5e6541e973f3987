//! Plans for unit tests, built directly as the validated model (the plan
//! language has its own tests).

use super::*;

pub fn pct(p: f64) -> SnapshotSize {
    SnapshotSize::PercentOfOrigin(p)
}

/// A plan named `nightly` backing `sources` up to VG `backup`.
pub fn plan(sources: &[(&str, SnapshotSize)]) -> Plan {
    Plan {
        name: "nightly".into(),
        state_dir: DEFAULT_STATE_DIR.into(),
        target_lock_dir: DEFAULT_TARGET_LOCK_DIR.into(),
        hooks: None,
        target: Target {
            vg: "backup".into(),
            iscsi: None,
            export: false,
            keep_previous: true,
            generations: None,
        },
        volumes: sources
            .iter()
            .map(|(path, size)| {
                let (vg, lv) = path.split_once('/').unwrap();
                Volume {
                    name: lv.into(),
                    source: LvPath {
                        vg: vg.into(),
                        lv: lv.into(),
                    },
                    target_lv: lv.into(),
                    snapshot_size: *size,
                    snapshot_size_set: false,
                    snapshot_size_max: None,
                    retain_base: true,
                    bandwidth: Bandwidth::Unlimited,
                    verify: true,
                    after: vec![],
                }
            })
            .collect(),
    }
}

/// `plan` backing up into thin-pool generations in `backup/gens`, keeping
/// the `keep_last` newest (the other rules off).
pub fn into_pool(plan: &mut Plan, keep_last: u32) {
    plan.target.keep_previous = false;
    plan.target.generations = Some(Generations {
        pool: "gens".into(),
        threshold_percent: DEFAULT_POOL_THRESHOLD,
        retention: Retention {
            keep_last,
            ..Retention::default()
        },
    });
}
