//! The plan resolved against the live system: what "20%" means for this
//! origin in this VG today, for check (does it fit?) and apply (the
//! `lvcreate` size of a fractional percentage) alike. Pure: it reads a
//! [`SystemReport`], never LVM. (Whole percentages go to LVM as
//! `--extents N%ORIGIN`, which `graph` spells; their size is this one.)
//!
//! LVM allocates whole extents, so every size is rounded UP to the VG's
//! extent size; rounding down would promise space the snapshot won't get.

use serde::Serialize;

use crate::graph::RunValues;
use crate::graph::argv::SizeArg;
use crate::plan::{LvPath, Plan, SnapshotSize, Volume};
use crate::system::{SystemReport, Vg};

/// One volume with its snapshot size in bytes and extents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedVolume {
    pub name: String,
    pub source: LvPath,
    pub origin_bytes: u64,
    /// The source VG's extent size.
    pub extent_bytes: u64,
    /// Extents of the VG's free space the snapshot takes: none for a thin
    /// origin, whose snapshot lives in its pool.
    pub snapshot_extents: u64,
    /// The thin pool when the origin is a thin volume: its snapshot is a
    /// thin one, without a size, and fills this pool as the origin changes.
    pub thin_pool: Option<LvPath>,
}

impl ResolvedVolume {
    /// What `lvcreate -s -L <bytes>b` gets: whole extents.
    pub fn snapshot_bytes(&self) -> u64 {
        self.snapshot_extents * self.extent_bytes
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("volume {volume}: volume group {vg} does not exist")]
    VgMissing { volume: String, vg: String },
    #[error("volume {volume}: logical volume {lv} does not exist")]
    LvMissing { volume: String, lv: LvPath },
}

/// Snapshot space wanted before rounding to extents.
pub fn snapshot_bytes(size: SnapshotSize, origin_bytes: u64) -> u64 {
    match size {
        SnapshotSize::Bytes(bytes) => bytes,
        SnapshotSize::PercentOfOrigin(percent) => {
            // In millionths of a percent, integer from here on: f64 would
            // lose whole extents on multi-TiB origins. A percentage written
            // with up to six decimals is taken exactly; anything finer is
            // rounded up, never down.
            let scaled = percent.max(0.0) * 1e6;
            let nearest = scaled.round();
            let micro = if (scaled - nearest).abs() < 1e-3 {
                nearest
            } else {
                scaled.ceil()
            } as u128;
            (origin_bytes as u128 * micro).div_ceil(100_000_000) as u64
        }
    }
}

/// The snapshot of `size` on an origin of `origin_bytes` in `vg`, in whole
/// extents (rounded up; at least one).
pub fn snapshot_extents(size: SnapshotSize, origin_bytes: u64, vg: &Vg) -> u64 {
    vg.extents_for(snapshot_bytes(size, origin_bytes)).max(1)
}

/// How far `volume`'s snapshot may grow on an origin of `origin_bytes` in
/// `vg`, in bytes of whole extents, never below its own size; `None` when
/// the plan gives no `snapshot_size_max` (it keeps its size). Rounded
/// DOWN: growth must never pass the limit the admin wrote.
pub fn snapshot_max_bytes(volume: &Volume, origin_bytes: u64, vg: &Vg) -> Option<u64> {
    let max = volume.snapshot_size_max?;
    let base = snapshot_extents(volume.snapshot_size, origin_bytes, vg) * vg.vg_extent_size;
    let extent = vg.vg_extent_size.max(1);
    let max = snapshot_bytes(max, origin_bytes) / extent * extent;
    Some(max.max(base))
}

pub fn resolve_volume(
    volume: &Volume,
    report: &SystemReport,
) -> Result<ResolvedVolume, ResolveError> {
    let vg = report
        .vg(&volume.source.vg)
        .ok_or_else(|| ResolveError::VgMissing {
            volume: volume.name.clone(),
            vg: volume.source.vg.clone(),
        })?;
    let lv = report
        .lv(&volume.source)
        .ok_or_else(|| ResolveError::LvMissing {
            volume: volume.name.clone(),
            lv: volume.source.clone(),
        })?;
    let thin_pool = lv.thin_pool();
    Ok(ResolvedVolume {
        name: volume.name.clone(),
        source: volume.source.clone(),
        origin_bytes: lv.lv_size,
        extent_bytes: vg.vg_extent_size,
        snapshot_extents: match thin_pool {
            Some(_) => 0,
            None => snapshot_extents(volume.snapshot_size, lv.lv_size, vg),
        },
        thin_pool,
    })
}

/// Every volume of the plan, or every reason some could not be resolved.
pub fn resolve(
    plan: &Plan,
    report: &SystemReport,
) -> Result<Vec<ResolvedVolume>, Vec<ResolveError>> {
    let (ok, errors): (Vec<_>, Vec<_>) = plan
        .volumes
        .iter()
        .map(|v| resolve_volume(v, report))
        .partition(Result::is_ok);
    if errors.is_empty() {
        Ok(ok.into_iter().map(Result::unwrap).collect())
    } else {
        Err(errors.into_iter().map(Result::unwrap_err).collect())
    }
}

/// The values of a plan's command lines known only at run time, from the
/// run and the live report: what apply puts where `snapplan plan` showed
/// `<...>` placeholders.
pub struct LiveValues<'a> {
    pub run_id: &'a str,
    pub report: &'a SystemReport,
}

impl RunValues for LiveValues<'_> {
    fn run_id(&self) -> String {
        self.run_id.to_string()
    }

    fn size_of(&self, origin: &LvPath) -> SizeArg {
        match self.report.lv(origin) {
            Some(lv) => SizeArg::Bytes(lv.lv_size),
            None => SizeArg::Deferred(format!("<size of missing {origin}>")),
        }
    }

    fn percent_of(&self, origin: &LvPath, percent: f64) -> SizeArg {
        match (self.report.lv(origin), self.report.vg(&origin.vg)) {
            (Some(lv), Some(vg)) => {
                let size = SnapshotSize::PercentOfOrigin(percent);
                SizeArg::Bytes(snapshot_extents(size, lv.lv_size, vg) * vg.vg_extent_size)
            }
            _ => SizeArg::Deferred(format!("<{percent}% of missing {origin}>")),
        }
    }

    fn newest_generation(&self, plan: &str, series: &LvPath) -> LvPath {
        LvPath {
            vg: series.vg.clone(),
            lv: self
                .report
                .newest_complete_generation(plan, series)
                .map_or_else(
                    || format!("<no complete generation of {series}>"),
                    str::to_string,
                ),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::plan::Bandwidth;
    use crate::system::fake::Fake;

    const MIB: u64 = 1 << 20;

    fn report(origin_bytes: u64, extent: u64) -> SystemReport {
        Fake::builder()
            .vg_with_extent("vg0", extent, (1 << 40) / extent, 0)
            .lv_bytes("vg0", "home", origin_bytes, "-wi-a-----")
            .report()
    }

    fn volume(lv: &str, size: SnapshotSize) -> Volume {
        Volume {
            name: lv.into(),
            source: LvPath {
                vg: "vg0".into(),
                lv: lv.into(),
            },
            target_lv: lv.into(),
            snapshot_size: size,
            snapshot_size_set: false,
            snapshot_size_max: None,
            retain_base: true,
            bandwidth: Bandwidth::Unlimited,
            verify: true,
            after: vec![],
        }
    }

    #[test]
    fn the_max_size_rounds_down_to_extents_and_never_below_the_size() {
        let r = report(32 * MIB, 4 * MIB);
        let vg = r.vg("vg0").unwrap();
        let mut v = volume("home", SnapshotSize::Bytes(4 * MIB));
        assert_eq!(snapshot_max_bytes(&v, 32 * MIB, vg), None);
        // 30% of 32 MiB = 9.6 MiB -> 8 MiB: never past what the plan says.
        v.snapshot_size_max = Some(SnapshotSize::PercentOfOrigin(30.0));
        assert_eq!(snapshot_max_bytes(&v, 32 * MIB, vg), Some(8 * MIB));
        // A max below the size (a mix of bytes and %) is the size: no growth.
        v.snapshot_size = SnapshotSize::Bytes(16 * MIB);
        assert_eq!(snapshot_max_bytes(&v, 32 * MIB, vg), Some(16 * MIB));
    }

    #[test]
    fn percent_of_origin_rounds_up_to_whole_extents() {
        // 20% of 32 MiB = 6.4 MiB -> two 4 MiB extents.
        let r = resolve_volume(
            &volume("home", SnapshotSize::PercentOfOrigin(20.0)),
            &report(32 * MIB, 4 * MIB),
        )
        .unwrap();
        assert_eq!(r.snapshot_extents, 2);
        assert_eq!(r.snapshot_bytes(), 8 * MIB);
        assert_eq!(r.origin_bytes, 32 * MIB);
    }

    #[test]
    fn byte_sizes_round_up_too_and_exact_fits_do_not() {
        let rep = report(32 * MIB, 4 * MIB);
        let one_more = volume("home", SnapshotSize::Bytes(4 * MIB + 1));
        assert_eq!(resolve_volume(&one_more, &rep).unwrap().snapshot_extents, 2);
        let exact = volume("home", SnapshotSize::Bytes(8 * MIB));
        assert_eq!(resolve_volume(&exact, &rep).unwrap().snapshot_extents, 2);
        let tiny = volume("home", SnapshotSize::Bytes(0));
        assert_eq!(resolve_volume(&tiny, &rep).unwrap().snapshot_extents, 1);
    }

    #[test]
    fn percentages_are_exact_on_huge_origins() {
        // 10% of 10 TiB is exactly 1 TiB: no stray extent from float error.
        let tib = 1u64 << 40;
        assert_eq!(
            snapshot_bytes(SnapshotSize::PercentOfOrigin(10.0), 10 * tib),
            tib
        );
        assert_eq!(snapshot_bytes(SnapshotSize::PercentOfOrigin(0.5), 200), 1);
        assert_eq!(snapshot_bytes(SnapshotSize::PercentOfOrigin(0.5), 201), 2);
    }

    #[test]
    fn a_thin_origin_takes_no_extents_and_names_its_pool() {
        let rep = Fake::builder()
            .vg("vg0", 15, 15)
            .thin_pool("vg0", "pool", 32, 10.0, 5.0)
            .thin_lv("vg0", "vm1", 16, "pool")
            .report();
        let r = resolve_volume(&volume("vm1", SnapshotSize::PercentOfOrigin(20.0)), &rep).unwrap();
        assert_eq!(r.snapshot_extents, 0);
        assert_eq!(
            r.thin_pool,
            Some(LvPath {
                vg: "vg0".into(),
                lv: "pool".into()
            })
        );
        let classic = resolve_volume(
            &volume("home", SnapshotSize::Bytes(MIB)),
            &report(32 * MIB, 4 * MIB),
        )
        .unwrap();
        assert_eq!(classic.thin_pool, None);
    }

    #[test]
    fn missing_lv_and_vg_are_named() {
        let rep = report(32 * MIB, 4 * MIB);
        let mut plan_vol = volume("gone", SnapshotSize::Bytes(MIB));
        let err = resolve_volume(&plan_vol, &rep).unwrap_err();
        assert_eq!(
            err.to_string(),
            "volume gone: logical volume vg0/gone does not exist"
        );
        plan_vol.source.vg = "vg9".into();
        let err = resolve_volume(&plan_vol, &rep).unwrap_err();
        assert!(err.to_string().contains("volume group vg9 does not exist"));
    }

    /// check's "does it fit" and apply's `lvcreate --size` are one number.
    #[test]
    fn apply_creates_the_snapshot_size_check_counted() {
        let rep = report(32 * MIB, 4 * MIB);
        let resolved =
            resolve_volume(&volume("home", SnapshotSize::PercentOfOrigin(12.5)), &rep).unwrap();
        let live = LiveValues {
            run_id: "r",
            report: &rep,
        };
        let home = volume("home", SnapshotSize::Bytes(0)).source;
        assert_eq!(
            live.percent_of(&home, 12.5),
            SizeArg::Bytes(resolved.snapshot_bytes())
        );
        assert_eq!(resolved.snapshot_bytes(), 4 * MIB);
    }

    proptest! {
        #[test]
        fn resolved_snapshot_is_never_smaller_than_asked_and_at_most_an_extent_more(
            origin in 1u64..(1 << 44),
            percent in 0.01f64..100.0,
            extent_pow in 20u32..30,
        ) {
            let extent = 1u64 << extent_pow;
            let r = resolve_volume(
                &volume("home", SnapshotSize::PercentOfOrigin(percent)),
                &report(origin, extent),
            ).unwrap();
            let exact = origin as f64 * percent / 100.0;
            prop_assert!(r.snapshot_bytes() as f64 >= exact * (1.0 - 1e-9));
            // At most one extent more, plus the up-rounding of a percentage
            // finer than a millionth (1e-8 of the origin).
            let slack = extent as f64 + origin as f64 / 1e8 + 1.0;
            prop_assert!((r.snapshot_bytes() as f64) < exact + slack);
        }
    }
}
