//! Growing the run's snapshots while it is in progress (`snapshot_size_max`).
//!
//! One thread beside the whole walk looks at every classic snapshot this
//! run made and has not removed yet: the one being copied, and those still
//! waiting for their copy (they fill while earlier volumes are copied). Each
//! look measures the snapshot's copy-on-write use and fill rate, and asks
//! [`growth::decide`] whether to `lvextend` it: at 70% use, by a step or by
//! what the fill rate needs, never past its `snapshot_size_max`, never taking
//! the VG's free space below the reserve. What it measured (final size,
//! extensions, peak bytes, fill rate, window) goes into the run record.
//!
//! When a snapshot is over the threshold and cannot grow any more, and its
//! copy is throttled, the throttle is lifted if finishing at full speed beats
//! the overflow ([`growth::finish_beats_overflow`]); otherwise the copy's
//! own watchdog fails the volume when the snapshot overflows, as without
//! growth.
//!
//! An extension is not journalled: it needs no undo, removing the snapshot
//! removes it (and `recover` finds the snapshot by its tags, whatever its
//! size).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::copy::throttle::ThrottleSwitch;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::growth::{self, Decision, Limit, Policy, Race};
use crate::graph::argv as commands;
use crate::human;
use crate::plan::LvPath;
use crate::system::{System, Vg};

/// What a running copy shares with the grower: how far it got, and the
/// switch that lifts its throttle.
#[derive(Debug, Default)]
pub struct CopyState {
    /// The copy has a throttle at all.
    pub throttled: bool,
    /// Lifts the throttle; counts the bytes read and how fast.
    pub switch: ThrottleSwitch,
    /// Bytes to read in all (0 until the copy knows).
    pub total: AtomicU64,
}

impl CopyState {
    pub fn new(throttled: bool) -> CopyState {
        CopyState {
            throttled,
            ..CopyState::default()
        }
    }
}

/// What the grower measured of one snapshot, for the run record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub base_bytes: u64,
    pub final_bytes: u64,
    pub extensions: u32,
    pub peak_bytes: u64,
    /// Copy-on-write bytes per second from the snapshot to its last look
    /// as a valid snapshot.
    pub fill_rate: Option<f64>,
    /// Seconds from the snapshot to its removal (or last look).
    pub window_secs: f64,
    pub throttle_lifted: bool,
}

#[derive(Debug)]
struct Tracked {
    volume: String,
    snapshot: LvPath,
    /// `None`: no `snapshot_size_max`, measured only.
    max: Option<u64>,
    created: Instant,
    /// The size it was made with.
    base: u64,
    size: u64,
    last: Option<(Instant, u64)>,
    /// Bytes per second between the last two looks.
    rate: f64,
    /// Two looks were made: `rate` is a measurement, not a guess.
    rate_known: bool,
    peak: u64,
    seen_at: Option<Instant>,
    /// When the snapshot was handed over for removal: the end of its window.
    removed_at: Option<Instant>,
    extensions: u32,
    limit_logged: Option<Limit>,
    copy: Option<Arc<CopyState>>,
    throttle_lifted: bool,
    race_lost_logged: bool,
    /// No longer looked at (removed, thin, or gone).
    done: bool,
}

impl Tracked {
    fn measured(&self) -> Measured {
        let since = |t: Instant| t.duration_since(self.created).as_secs_f64();
        // The rate while the snapshot was seen valid; the window to its
        // removal (an overflowed one would have needed that rate so long).
        let valid = self.seen_at.map_or(0.0, since);
        let window = self.removed_at.or(self.seen_at).map_or(0.0, since);
        Measured {
            base_bytes: self.base,
            final_bytes: self.size,
            extensions: self.extensions,
            peak_bytes: self.peak,
            fill_rate: (valid > 0.0).then(|| self.peak as f64 / valid),
            window_secs: window,
            throttle_lifted: self.throttle_lifted,
        }
    }
}

/// The snapshots of one run and what was seen of them.
#[derive(Debug, Default)]
pub struct Grower {
    policy: Policy,
    /// Held for a whole look, extensions included: [`Grower::untrack`]
    /// waits for an `lvextend` in flight before the snapshot is removed.
    tracked: Mutex<Vec<Tracked>>,
}

impl Grower {
    pub fn new(policy: Policy) -> Grower {
        Grower {
            policy,
            tracked: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Tracked>> {
        self.tracked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A snapshot was made: watch it from now on. `size` is what it was
    /// created with, `max` its resolved `snapshot_size_max`.
    pub fn track(&self, volume: &str, snapshot: &LvPath, size: u64, max: Option<u64>) {
        let mut tracked = self.lock();
        tracked.retain(|t| t.volume != volume);
        tracked.push(Tracked {
            volume: volume.to_string(),
            snapshot: snapshot.clone(),
            max: max.filter(|&m| m > size),
            created: Instant::now(),
            base: size,
            size,
            last: None,
            rate: 0.0,
            rate_known: false,
            peak: 0,
            seen_at: None,
            removed_at: None,
            extensions: 0,
            limit_logged: None,
            copy: None,
            throttle_lifted: false,
            race_lost_logged: false,
            done: false,
        });
    }

    /// The snapshot is about to be removed: no more looks (returns once a
    /// look in progress, and its `lvextend`, is over).
    pub fn untrack(&self, volume: &str) {
        if let Some(t) = self.lock().iter_mut().find(|t| t.volume == volume) {
            t.done = true;
            t.copy = None;
            t.removed_at.get_or_insert_with(Instant::now);
        }
    }

    /// The volume's copy starts (`Some`) or ended (`None`).
    pub fn set_copy(&self, volume: &str, copy: Option<Arc<CopyState>>) {
        if let Some(t) = self.lock().iter_mut().find(|t| t.volume == volume) {
            t.copy = copy;
        }
    }

    pub fn measured(&self, volume: &str) -> Option<Measured> {
        self.lock()
            .iter()
            .find(|t| t.volume == volume)
            .map(Tracked::measured)
    }

    /// Looks every `interval` until `stop` is set.
    pub fn run(&self, sys: &dyn System, interval: Duration, stop: &AtomicBool) {
        let tick = interval.min(Duration::from_millis(50));
        let mut next = Instant::now() + interval;
        while !stop.load(Ordering::SeqCst) {
            if Instant::now() >= next {
                self.look(sys);
                next = Instant::now() + interval;
            }
            std::thread::sleep(tick);
        }
    }

    /// One look at every snapshot still watched.
    pub fn look(&self, sys: &dyn System) {
        let mut tracked = self.lock();
        // One VG report per look, and only when a snapshot needs room.
        let mut vgs: Option<Vec<Vg>> = None;
        for t in tracked.iter_mut().filter(|t| !t.done) {
            let lv = match sys.lv(&t.snapshot) {
                Ok(Some(lv)) => lv,
                Ok(None) => {
                    t.done = true;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(
                        volume = t.volume,
                        "cannot read snapshot {}: {e}",
                        t.snapshot
                    );
                    continue;
                }
            };
            if lv.thin_pool().is_some() {
                // Thin snapshots have no size of their own: their pool fills.
                t.done = true;
                continue;
            }
            if lv.is_invalid_snapshot() {
                // The copy's watchdog fails the volume; nothing to grow.
                t.done = true;
                continue;
            }
            let Some(percent) = lv.snapshot_usage_percent() else {
                continue;
            };
            let now = Instant::now();
            t.size = lv.lv_size;
            let used = (lv.lv_size as f64 * percent / 100.0) as u64;
            if let Some((then, before)) = t.last {
                let secs = now.duration_since(then).as_secs_f64();
                if secs > 0.0 {
                    t.rate = used.saturating_sub(before) as f64 / secs;
                    t.rate_known = true;
                }
            }
            t.last = Some((now, used));
            t.peak = t.peak.max(used);
            t.seen_at = Some(now);
            let Some(max) = t.max else { continue };
            if vgs.is_none() {
                vgs = match sys.report() {
                    Ok(r) => Some(r.vgs),
                    Err(e) => {
                        tracing::warn!("cannot read the volume groups to grow snapshots: {e}");
                        return;
                    }
                };
            }
            let Some(vg) = vgs
                .as_mut()
                .and_then(|v| v.iter_mut().find(|vg| vg.vg_name == t.snapshot.vg))
            else {
                continue;
            };
            let sample = growth::Sample {
                size: t.size,
                used,
                max,
                vg_free: vg.vg_free,
                vg_size: vg.vg_size,
                extent: vg.vg_extent_size,
                fill_rate: t.rate,
            };
            match growth::decide(&self.policy, &sample) {
                Decision::Hold => {}
                Decision::Grow { to } => {
                    let (ceiling, limit) = growth::ceiling(&self.policy, &sample);
                    let cap = match limit {
                        Limit::Max => format!("at most {} (snapshot_size_max)", human::bytes(max)),
                        Limit::Reserve => format!(
                            "at most {} now: the reserve of volume group {} is kept",
                            human::bytes(ceiling),
                            vg.vg_name
                        ),
                    };
                    let argv = commands::grow_snapshot(&t.snapshot, to);
                    tracing::info!(volume = t.volume, "run: {}", argv.join(" "));
                    match sys.run_lvm(&argv) {
                        Ok(()) => {
                            tracing::warn!(
                                volume = t.volume,
                                "snapshot {} was {percent:.1}% full: grown from {} to {} \
                                 (fill rate {}, {cap})",
                                t.snapshot,
                                human::bytes(t.size),
                                human::bytes(to),
                                human::rate(t.rate),
                            );
                            vg.vg_free = vg.vg_free.saturating_sub(to - t.size);
                            t.size = to;
                            t.extensions += 1;
                        }
                        Err(e) => tracing::error!(
                            volume = t.volume,
                            "cannot grow snapshot {}: {e}",
                            t.snapshot
                        ),
                    }
                }
                Decision::AtLimit(limit) => {
                    if t.limit_logged != Some(limit) {
                        let why = match limit {
                            Limit::Max => format!("its snapshot_size_max {}", human::bytes(max)),
                            Limit::Reserve => format!(
                                "the reserve of volume group {} ({} of {} free are kept)",
                                vg.vg_name,
                                human::bytes(growth::reserve_bytes(
                                    &self.policy,
                                    vg.vg_size,
                                    vg.vg_extent_size
                                )),
                                human::bytes(vg.vg_free)
                            ),
                        };
                        tracing::warn!(
                            volume = t.volume,
                            "snapshot {} is {percent:.1}% full and cannot grow past {}: {why}",
                            t.snapshot,
                            human::bytes(t.size)
                        );
                        t.limit_logged = Some(limit);
                    }
                    race(t, used);
                }
            }
        }
    }
}

/// A snapshot that cannot grow: lift its copy's throttle if finishing at
/// full speed beats the overflow.
fn race(t: &mut Tracked, used: u64) {
    let Some(copy) = t.copy.clone() else { return };
    if !copy.throttled || copy.switch.is_lifted() || !t.rate_known {
        return;
    }
    let full_rate = copy.switch.full_rate();
    let remaining = copy
        .total
        .load(Ordering::SeqCst)
        .saturating_sub(copy.switch.bytes_read());
    let room = t.size.saturating_sub(used);
    match growth::finish_beats_overflow(remaining, full_rate, t.rate, room) {
        Race::Lift => {
            copy.switch.lift();
            t.throttle_lifted = true;
            tracing::warn!(
                volume = t.volume,
                "lifting the copy's throttle: {} left at {} beats {} of snapshot room \
                 filling at {}",
                human::bytes(remaining),
                human::rate(full_rate),
                human::bytes(room),
                human::rate(t.rate)
            );
        }
        Race::Lose if !t.race_lost_logged => {
            t.race_lost_logged = true;
            tracing::warn!(
                volume = t.volume,
                "the throttle stays: even at full speed ({}) the {} left would not be read \
                 before {} of snapshot room fill at {}",
                human::rate(full_rate),
                human::bytes(remaining),
                human::bytes(room),
                human::rate(t.rate)
            );
        }
        Race::Lose => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::fake::{EXTENT, Fake, MIB, lv};

    const SNAP: &str = "a-snapplan";

    fn path() -> LvPath {
        LvPath {
            vg: "vg0".into(),
            lv: SNAP.into(),
        }
    }

    /// vg0: 1 GiB in 4 MiB extents, `free` MiB free; its snapshot of
    /// `size` MiB at `percent`.
    fn system(free: u64, size: u64, percent: f64) -> Fake {
        let fake = Fake::builder()
            .vg("vg0", 256, free / 4)
            .lv("vg0", "a", 64, "owi-a-s---")
            .build();
        let mut snap = lv("vg0", SNAP, size * MIB);
        snap.origin = "a".into();
        snap.lv_attr = "swi-a-s---".into();
        snap.data_percent = Some(percent);
        snap.lv_snapshot_invalid = String::new();
        fake.add_lv(snap);
        fake
    }

    fn set_percent(fake: &Fake, percent: f64) {
        let mut state = fake.state();
        let snap = state.lvs.iter_mut().find(|l| l.lv_name == SNAP).unwrap();
        snap.data_percent = Some(percent);
    }

    fn size_of(fake: &Fake) -> u64 {
        fake.state()
            .lvs
            .iter()
            .find(|l| l.lv_name == SNAP)
            .unwrap()
            .lv_size
    }

    #[test]
    fn a_snapshot_over_the_threshold_is_extended_up_to_its_max_and_no_further() {
        let fake = system(512, 4, 75.0);
        let grower = Grower::new(Policy::default());
        grower.track("a", &path(), 4 * MIB, Some(16 * MIB));
        grower.look(&fake);
        assert_eq!(size_of(&fake), 8 * MIB);
        assert!(
            fake.commands()
                .contains(&format!("lvextend --size {}b vg0/{SNAP}", 8 * MIB))
        );
        for _ in 0..5 {
            set_percent(&fake, 99.0);
            grower.look(&fake);
        }
        assert_eq!(size_of(&fake), 16 * MIB);
        let m = grower.measured("a").unwrap();
        assert_eq!(m.final_bytes, 16 * MIB);
        assert!(m.extensions >= 2, "{m:?}");
        assert!(m.peak_bytes >= 15 * MIB, "{m:?}");
        // The VG paid for it.
        assert_eq!(fake.state().vgs[0].vg_free, 512 * MIB - 12 * MIB);
    }

    #[test]
    fn a_snapshot_without_a_max_is_measured_but_never_extended() {
        let fake = system(512, 4, 90.0);
        let grower = Grower::new(Policy::default());
        grower.track("a", &path(), 4 * MIB, None);
        grower.look(&fake);
        assert_eq!(size_of(&fake), 4 * MIB);
        assert!(!fake.commands().iter().any(|c| c.starts_with("lvextend")));
        let m = grower.measured("a").unwrap();
        assert_eq!(m.extensions, 0);
        assert_eq!(m.peak_bytes, (4.0 * MIB as f64 * 0.9) as u64);
    }

    #[test]
    fn growth_keeps_the_vg_reserve() {
        // 1 GiB VG: the reserve is 52 MiB; with 60 MiB free, 8 MiB may go.
        let fake = system(60, 4, 99.0);
        let grower = Grower::new(Policy::default());
        grower.track("a", &path(), 4 * MIB, Some(512 * MIB));
        for _ in 0..4 {
            set_percent(&fake, 99.0);
            grower.look(&fake);
        }
        assert_eq!(size_of(&fake), 12 * MIB);
        assert_eq!(fake.state().vgs[0].vg_free, 52 * MIB);
    }

    #[test]
    fn an_untracked_snapshot_is_left_alone() {
        let fake = system(512, 4, 95.0);
        let grower = Grower::new(Policy::default());
        grower.track("a", &path(), 4 * MIB, Some(16 * MIB));
        grower.untrack("a");
        grower.look(&fake);
        assert_eq!(size_of(&fake), 4 * MIB);
    }

    /// A copy of 64 MiB, `done` MiB read, reading `full` MiB/s unthrottled.
    fn throttled_copy(done: u64, full: f64) -> Arc<CopyState> {
        let copy = Arc::new(CopyState::new(true));
        copy.total.store(64 * MIB, Ordering::SeqCst);
        // `done` MiB read in the time `full` MiB/s takes.
        copy.switch
            .record(done * MIB, Duration::from_secs_f64(done as f64 / full));
        copy
    }

    #[test]
    fn a_throttled_copy_is_lifted_when_finishing_beats_the_overflow() {
        // Grown to its max of 8 MiB already, 90% full, filling slowly.
        let fake = system(512, 8, 90.0);
        let grower = Grower::new(Policy::default());
        grower.track("a", &path(), 4 * MIB, Some(8 * MIB));
        let copy = throttled_copy(60, 400.0);
        grower.set_copy("a", Some(copy.clone()));
        grower.look(&fake);
        // One look measures no fill rate: nothing is decided on a guess.
        assert!(!copy.switch.is_lifted());
        std::thread::sleep(Duration::from_millis(50));
        set_percent(&fake, 90.1);
        grower.look(&fake);
        assert!(copy.switch.is_lifted());
        assert!(grower.measured("a").unwrap().throttle_lifted);
        assert_eq!(size_of(&fake), 8 * MIB);
    }

    #[test]
    fn a_throttled_copy_that_would_lose_anyway_keeps_its_throttle() {
        // 60 MiB left at 1 MiB/s cannot beat 0.4 MiB of room filling fast.
        let fake = system(512, 8, 90.0);
        let grower = Grower::new(Policy::default());
        grower.track("a", &path(), 4 * MIB, Some(8 * MIB));
        let slow = throttled_copy(4, 1.0);
        grower.set_copy("a", Some(slow.clone()));
        grower.look(&fake);
        std::thread::sleep(Duration::from_millis(20));
        set_percent(&fake, 95.0);
        grower.look(&fake);
        assert!(!slow.switch.is_lifted());
        assert!(!grower.measured("a").unwrap().throttle_lifted);
    }

    #[test]
    fn a_volume_without_growth_keeps_its_throttle() {
        let fake = system(512, 4, 95.0);
        let grower = Grower::new(Policy::default());
        grower.track("a", &path(), 4 * MIB, None);
        let copy = throttled_copy(60, 400.0);
        grower.set_copy("a", Some(copy.clone()));
        grower.look(&fake);
        std::thread::sleep(Duration::from_millis(20));
        grower.look(&fake);
        assert!(!copy.switch.is_lifted());
        assert_eq!(fake.state().vgs[0].vg_free, 512 * MIB);
        let _ = EXTENT;
    }
}
