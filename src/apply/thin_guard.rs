//! The pool guard for thin snapshots. A thin snapshot cannot overflow: it
//! shares its origin's pool, and every block the origin rewrites while the
//! snapshot exists takes a new block of that pool. A pool that runs out of
//! data or metadata space stalls or errors every live thin volume in it, so
//! a backup must never be what fills it. While a thin volume is copied the
//! watchdog samples its pool here instead of a copy-on-write table; at the
//! threshold (`system::thin`, 90% by default) of data or metadata the copy
//! is abandoned, and the remove-snapshot step that follows every copy gives
//! the pool its blocks back. The volume is FAILED with the reason; the
//! others go on.

use crate::plan::LvPath;
use crate::system::{PoolUse, System};

use super::watchdog::Watch;

/// Reads `pool` once: logs its use, and fails the watch (and returns the
/// reason) at or over `threshold` percent of data or metadata, or when the
/// pool's use cannot be told (a guard that cannot see must not let the
/// copy run on).
pub fn sample(
    watch: &Watch,
    sys: &dyn System,
    volume: &str,
    snapshot: &LvPath,
    pool: &LvPath,
    threshold: f64,
) -> Result<(), String> {
    let usage = guard(watch, sys, pool, threshold, |usage| match usage {
        None => format!(
            "thin pool {pool} of snapshot {snapshot} reports no data or metadata use: cannot \
             guard it, so the copy is abandoned"
        ),
        Some(usage) => format!(
            "thin pool {pool} reached {:.1}% data, {:.1}% metadata (the guard is at \
             {threshold:.0}%): abandoned the copy and removing snapshot {snapshot} so the live \
             thin volumes keep working; grow the pool or copy this volume when it changes less",
            usage.data_percent, usage.metadata_percent
        ),
    })?;
    tracing::debug!(
        volume,
        "thin pool {pool}: data {:.1}%, metadata {:.1}% (guard at {threshold:.0}%)",
        usage.data_percent,
        usage.metadata_percent
    );
    Ok(())
}

/// Reads the thin pool a volume's new generation is written into (a
/// `target.pool`): the copy stops at or over `threshold` percent of data
/// or metadata, before the pool fills and damages every generation in it.
/// The generation it was writing is then removed (the discard step), the
/// older ones keep their blocks.
pub fn sample_target(
    watch: &Watch,
    sys: &dyn System,
    volume: &str,
    pool: &LvPath,
    threshold: f64,
) -> Result<(), String> {
    let usage = guard(watch, sys, pool, threshold, |usage| match usage {
        None => format!(
            "the generations' thin pool {pool} reports no data or metadata use: cannot guard \
             it, so the copy is abandoned"
        ),
        Some(usage) => format!(
            "the generations' thin pool {pool} reached {:.1}% data, {:.1}% metadata \
             (target.pool_threshold is {threshold:.0}%): the copy stopped before the pool \
             fills, this run's generation of {volume} is removed and the older ones are intact; \
             grow the pool (lvextend) or keep fewer generations",
            usage.data_percent, usage.metadata_percent
        ),
    })?;
    tracing::debug!(
        volume,
        "generations' pool {pool}: data {:.1}%, metadata {:.1}% (stops at {threshold:.0}%)",
        usage.data_percent,
        usage.metadata_percent
    );
    Ok(())
}

/// The one rule of both guards: a pool whose use cannot be read, or whose
/// data or metadata is at `threshold`, fails the watch with `why` (given
/// the use, `None` when unreadable).
fn guard(
    watch: &Watch,
    sys: &dyn System,
    pool: &LvPath,
    threshold: f64,
    why: impl FnOnce(Option<PoolUse>) -> String,
) -> Result<PoolUse, String> {
    let found = sys.lv(pool).map_err(|e| e.to_string())?;
    let usage = found.as_ref().and_then(|lv| lv.pool_use());
    match usage {
        Some(usage) if usage.worst_percent() < threshold => Ok(usage),
        _ => {
            let why = why(usage);
            watch.fail(why.clone());
            Err(why)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::system::fake::Fake;

    fn path(lv: &str) -> LvPath {
        LvPath {
            vg: "vg0".into(),
            lv: lv.into(),
        }
    }

    fn pool_at(data: f64, meta: f64) -> Fake {
        Fake::builder()
            .thin_pool("vg0", "pool", 48, data, meta)
            .thin_lv("vg0", "vm1", 16, "pool")
            .build()
    }

    #[test]
    fn a_pool_below_the_threshold_lets_the_copy_go_on() {
        let watch = Watch::default();
        let fake = pool_at(60.0, 30.0);
        sample(
            &watch,
            &fake,
            "vm1",
            &path("vm1-snapplan"),
            &path("pool"),
            90.0,
        )
        .unwrap();
        assert!(!watch.invalid.load(Ordering::SeqCst));
    }

    #[test]
    fn full_data_or_metadata_abandons_the_copy_with_the_reason() {
        for (data, meta) in [(90.0, 1.0), (10.0, 95.5)] {
            let watch = Watch::default();
            let fake = pool_at(data, meta);
            let why = sample(
                &watch,
                &fake,
                "vm1",
                &path("vm1-snapplan"),
                &path("pool"),
                90.0,
            )
            .unwrap_err();
            assert!(watch.invalid.load(Ordering::SeqCst));
            assert!(why.contains("thin pool vg0/pool reached"), "{why}");
            assert_eq!(watch.reason().as_deref(), Some(why.as_str()));
        }
    }

    #[test]
    fn the_watchdog_looks_at_the_pool_as_the_copy_starts_not_an_interval_later() {
        use std::sync::atomic::AtomicBool;
        use std::time::{Duration, Instant};

        let fake = pool_at(95.0, 1.0);
        let mut snap = crate::system::fake::lv("vg0", "vm1-snapplan", 16 << 20);
        snap.lv_attr = "Vwi-a-tz-k".into();
        snap.segtype = "thin".into();
        snap.origin = "vm1".into();
        snap.pool_lv = "pool".into();
        fake.add_lv(snap);
        let watch = Watch::default();
        let (cancel, done, interrupt) = (
            AtomicBool::new(false),
            AtomicBool::new(false),
            AtomicBool::new(false),
        );
        let started = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                super::super::watchdog::run(
                    &fake,
                    "vm1",
                    &path("vm1-snapplan"),
                    Duration::from_secs(3600),
                    &watch,
                    &interrupt,
                    &cancel,
                    &done,
                )
            });
            while !cancel.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(1));
            }
            done.store(true, Ordering::SeqCst);
        });
        assert!(cancel.load(Ordering::SeqCst), "the copy was not stopped");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            watch
                .reason()
                .unwrap_or_default()
                .contains("thin pool vg0/pool")
        );
    }

    #[test]
    fn a_pool_that_cannot_be_read_abandons_the_copy() {
        let watch = Watch::default();
        let fake = pool_at(10.0, 10.0);
        assert!(
            sample(
                &watch,
                &fake,
                "vm1",
                &path("vm1-snapplan"),
                &path("gone"),
                90.0
            )
            .is_err()
        );
        assert!(watch.invalid.load(Ordering::SeqCst));
    }
}
