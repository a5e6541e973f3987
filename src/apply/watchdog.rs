//! The snapshot watchdog. A classic snapshot that runs out of copy-on-write
//! space becomes invalid, and every byte read from it afterwards is garbage:
//! a backup that silently is not one. While a volume is copied its snapshot's
//! usage is polled and logged; when it turns invalid the copy is cancelled
//! at once. The peak usage is kept: it is what the next snapshot size should
//! be based on.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::plan::LvPath;
use crate::system::System;

/// Usage levels that get a warning, once each per copy.
pub const WARN_AT: [f64; 3] = [50.0, 80.0, 95.0];

/// Default time between two polls; `SNAPPLAN_WATCHDOG_INTERVAL_MS` overrides it.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// What the watchdog found, shared with the copy's per-chunk check.
#[derive(Debug, Default)]
pub struct Watch {
    /// Set once the snapshot is invalid or gone; never cleared.
    pub invalid: AtomicBool,
    pub reason: Mutex<Option<String>>,
    pub peak: Mutex<Option<f64>>,
    pub(super) warned: Mutex<usize>,
    /// A thin-pool target the copy writes into, and the percentage of data
    /// or metadata use at which the copy stops (`target.pool_threshold`).
    pub target_pool: Option<(LvPath, f64)>,
}

impl Watch {
    pub fn peak(&self) -> Option<f64> {
        *self.peak.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn fail(&self, why: String) {
        let mut reason = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if reason.is_none() {
            *reason = Some(why);
        }
        self.invalid.store(true, Ordering::SeqCst);
    }

    /// Reads the snapshot's state once: records its usage, warns at the
    /// thresholds, and returns an error when it is invalid or gone.
    pub fn sample(&self, sys: &dyn System, volume: &str, snapshot: &LvPath) -> Result<(), String> {
        if let Some((pool, threshold)) = &self.target_pool {
            super::thin_guard::sample_target(self, sys, volume, pool, *threshold)?;
        }
        // One LV, not a full report: this runs every few seconds.
        let found = sys.lv(snapshot).map_err(|e| e.to_string())?;
        let Some(lv) = found else {
            let why = format!("snapshot {snapshot} disappeared during the copy");
            self.fail(why.clone());
            return Err(why);
        };
        if let Some(pool) = lv.thin_pool() {
            // A thin snapshot has no COW space to overflow: its pool fills.
            let threshold = crate::system::thin::pool_threshold_percent();
            return super::thin_guard::sample(self, sys, volume, snapshot, &pool, threshold);
        }
        let usage = lv.snapshot_usage_percent();
        if let Some(p) = usage {
            let mut peak = self.peak.lock().unwrap_or_else(|e| e.into_inner());
            *peak = Some(peak.map_or(p, |old: f64| old.max(p)));
            let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
            let crossed = WARN_AT.iter().filter(|&&level| p >= level).count();
            if crossed > *warned {
                // One line for the highest level crossed since the last poll.
                tracing::warn!(
                    volume,
                    "snapshot {snapshot} is {p:.1}% full (over {}%): the copy must finish \
                     before it overflows",
                    WARN_AT[crossed - 1]
                );
                *warned = crossed;
            }
        }
        if lv.is_invalid_snapshot() {
            let why = format!(
                "snapshot {snapshot} became INVALID (overflowed{}): its data is garbage from \
                 that moment; give the volume a larger snapshot_size or copy it earlier",
                usage.map(|p| format!(" at {p:.1}%")).unwrap_or_default()
            );
            self.fail(why.clone());
            return Err(why);
        }
        tracing::debug!(
            volume,
            "snapshot {snapshot} {:.1}% used",
            usage.unwrap_or(0.0)
        );
        Ok(())
    }
}

/// Polls until `done` is set; sets `cancel` when the snapshot turns invalid
/// or when `interrupt` (a signal) is set, so the copy stops at the next chunk.
#[allow(clippy::too_many_arguments)]
pub fn run(
    sys: &dyn System,
    volume: &str,
    snapshot: &LvPath,
    interval: Duration,
    watch: &Watch,
    interrupt: &AtomicBool,
    cancel: &AtomicBool,
    done: &AtomicBool,
) {
    let tick = interval.min(Duration::from_millis(50));
    // The first look at once: a pool already at the guard, or a snapshot
    // already invalid, must not be read for a whole interval first.
    let mut next_poll = Instant::now();
    loop {
        if done.load(Ordering::SeqCst) {
            return;
        }
        if interrupt.load(Ordering::SeqCst) {
            cancel.store(true, Ordering::SeqCst);
        }
        if Instant::now() >= next_poll {
            match watch.sample(sys, volume, snapshot) {
                Ok(()) => {
                    if let Some(p) = watch.peak() {
                        tracing::info!(volume, "snapshot {snapshot}: peak usage so far {p:.1}%");
                    }
                }
                Err(why) if watch.invalid.load(Ordering::SeqCst) => {
                    tracing::error!(volume, "{why}; stopping the copy");
                    cancel.store(true, Ordering::SeqCst);
                    return;
                }
                Err(why) => tracing::warn!(volume, "cannot read the snapshot's usage: {why}"),
            }
            next_poll = Instant::now() + interval;
        }
        std::thread::sleep(tick);
    }
}

/// The poll interval: `SNAPPLAN_WATCHDOG_INTERVAL_MS` or the default.
pub fn interval_from_env() -> Duration {
    std::env::var("SNAPPLAN_WATCHDOG_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_INTERVAL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::fake::{Fake, MIB, lv};

    fn snapshot(fake: &Fake, percent: f64, invalid: bool) -> LvPath {
        let mut snap = lv("vg0", "a-snapplan", 4 * MIB);
        snap.origin = "a".into();
        snap.data_percent = Some(percent);
        snap.lv_snapshot_invalid = if invalid { "snapshot invalid" } else { "" }.into();
        fake.state().lvs.retain(|l| l.lv_name != "a-snapplan");
        fake.add_lv(snap);
        LvPath {
            vg: "vg0".into(),
            lv: "a-snapplan".into(),
        }
    }

    #[test]
    fn samples_keep_the_peak_and_flag_an_invalid_snapshot() {
        let fake = Fake::new();
        let watch = Watch::default();
        let path = snapshot(&fake, 42.0, false);
        watch.sample(&fake, "a", &path).unwrap();
        snapshot(&fake, 17.0, false);
        watch.sample(&fake, "a", &path).unwrap();
        assert_eq!(watch.peak(), Some(42.0));
        assert!(!watch.invalid.load(Ordering::SeqCst));
        snapshot(&fake, 100.0, true);
        let err = watch.sample(&fake, "a", &path).unwrap_err();
        assert!(err.contains("INVALID"), "{err}");
        assert!(watch.invalid.load(Ordering::SeqCst));
        assert_eq!(watch.peak(), Some(100.0));
    }

    #[test]
    fn a_vanished_snapshot_fails_the_copy() {
        let fake = Fake::new();
        let watch = Watch::default();
        let path = LvPath {
            vg: "vg0".into(),
            lv: "gone-snapplan".into(),
        };
        assert!(watch.sample(&fake, "a", &path).is_err());
        assert!(watch.invalid.load(Ordering::SeqCst));
    }

    /// Runs the watchdog as a copy would, until it cancels the copy.
    fn run_until_cancelled(fake: &Fake, path: &LvPath, watch: &Watch, interrupt: &AtomicBool) {
        let (cancel, done) = (AtomicBool::new(false), AtomicBool::new(false));
        std::thread::scope(|s| {
            s.spawn(|| {
                run(
                    fake,
                    "a",
                    path,
                    Duration::from_millis(1),
                    watch,
                    interrupt,
                    &cancel,
                    &done,
                )
            });
            while !cancel.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            done.store(true, Ordering::SeqCst);
        });
    }

    #[test]
    fn the_watchdog_cancels_the_copy_on_a_signal_and_on_an_overflow() {
        let fake = Fake::new();
        let path = snapshot(&fake, 1.0, false);
        let watch = Watch::default();
        run_until_cancelled(&fake, &path, &watch, &AtomicBool::new(true));
        snapshot(&fake, 100.0, true);
        run_until_cancelled(&fake, &path, &watch, &AtomicBool::new(false));
        assert!(watch.invalid.load(Ordering::SeqCst));
    }
}
