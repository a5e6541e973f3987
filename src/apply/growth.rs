//! When and how far a classic snapshot is grown while a run is in progress.
//!
//! Pure arithmetic, no LVM: the watchdog feeds it one sample of a snapshot
//! and of its VG and acts on the answer. Kept apart so the two promises that
//! matter can be proven by property tests: a snapshot is never grown past
//! its `snapshot_size_max`, and an extension never takes the VG's free
//! space below the reserve (the room other snapshots and LVM's own metadata
//! need; a full VG is what turns one overflow into several).

/// The knobs of growth. The defaults are documented in docs/apply.md.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Grow once the snapshot's use reaches this share of its size (%).
    pub at_percent: f64,
    /// Grow by at least this share of the current size (%).
    pub step_percent: f64,
    /// Never take the VG's free space below this share of the VG's size (%).
    pub vg_reserve_percent: f64,
    /// How far ahead (seconds) the measured fill rate is projected: the
    /// extension must keep the snapshot under `at_percent` that long, so a
    /// fast writer does not need one extension per poll.
    pub horizon_secs: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            at_percent: 70.0,
            step_percent: 25.0,
            vg_reserve_percent: crate::sizing::VG_RESERVE_PERCENT,
            horizon_secs: 30.0,
        }
    }
}

/// One look at a snapshot and its VG, all in bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub size: u64,
    pub used: u64,
    /// The resolved `snapshot_size_max`; equal to `size` means no growth.
    pub max: u64,
    pub vg_free: u64,
    pub vg_size: u64,
    pub extent: u64,
    /// Copy-on-write bytes per second measured between the last two polls.
    pub fill_rate: f64,
}

/// Why a snapshot that needs room cannot get it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `snapshot_size_max` is reached.
    Max,
    /// Growing would take the VG's free space below the reserve.
    Reserve,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Under the threshold: nothing to do.
    Hold,
    /// Extend the snapshot to this many bytes (a whole number of extents).
    Grow { to: u64 },
    /// Over the threshold and no room left to grow into.
    AtLimit(Limit),
}

fn round_up(bytes: u64, extent: u64) -> u64 {
    let extent = extent.max(1);
    bytes.div_ceil(extent).saturating_mul(extent)
}

fn round_down(bytes: u64, extent: u64) -> u64 {
    let extent = extent.max(1);
    bytes / extent * extent
}

/// The bytes of the VG that growth may never touch.
pub fn reserve_bytes(policy: &Policy, vg_size: u64, extent: u64) -> u64 {
    let share = (vg_size as f64 * policy.vg_reserve_percent.clamp(0.0, 100.0) / 100.0).ceil();
    round_up(share as u64, extent).min(round_up(vg_size, extent))
}

/// Decides what to do with one snapshot given one sample.
pub fn decide(policy: &Policy, s: &Sample) -> Decision {
    let at = policy.at_percent.clamp(1.0, 100.0) / 100.0;
    if s.size == 0 || (s.used as f64) < s.size as f64 * at {
        return Decision::Hold;
    }
    let by_step = s.size as f64 * (1.0 + policy.step_percent.max(0.0) / 100.0);
    // The size at which, after the horizon at the measured rate, use is
    // back at the threshold.
    let projected = s.used as f64 + s.fill_rate.max(0.0) * policy.horizon_secs.max(0.0);
    let by_rate = projected / at;
    let wanted = round_up(by_step.max(by_rate).min(u64::MAX as f64) as u64, s.extent)
        .max(s.size.saturating_add(s.extent.max(1)));

    let (ceiling, limit) = ceiling(policy, s);
    if ceiling <= s.size {
        return Decision::AtLimit(limit);
    }
    Decision::Grow {
        to: wanted.min(ceiling),
    }
}

/// The largest size the snapshot may grow to now, and which limit sets it:
/// `snapshot_size_max` (rounded down to extents) or the VG's reserve. On a
/// tie the max is named: growing the VG would not help.
pub fn ceiling(policy: &Policy, s: &Sample) -> (u64, Limit) {
    let max = round_down(s.max, s.extent);
    let spare = s
        .vg_free
        .saturating_sub(reserve_bytes(policy, s.vg_size, s.extent));
    let by_reserve = s.size.saturating_add(round_down(spare, s.extent));
    if max <= by_reserve {
        (max, Limit::Max)
    } else {
        (by_reserve, Limit::Reserve)
    }
}

/// What to do with a throttled copy whose snapshot cannot grow any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Race {
    /// Finishing at full speed beats the overflow: lift the throttle.
    Lift,
    /// Even at full speed the snapshot overflows first: fail the volume now.
    Lose,
}

/// Safety factor on the time to finish: a copy must be expected to end in
/// at most 80% of the time the snapshot has left.
pub const RACE_MARGIN: f64 = 1.25;

/// Whether lifting the throttle saves the copy: `remaining` bytes to read at
/// `full_rate` bytes/s, against `room` bytes left in the snapshot filling at
/// `fill_rate` bytes/s.
pub fn finish_beats_overflow(remaining: u64, full_rate: f64, fill_rate: f64, room: u64) -> Race {
    if remaining == 0 {
        return Race::Lift;
    }
    if full_rate <= 0.0 || !full_rate.is_finite() {
        return Race::Lose;
    }
    let finish = remaining as f64 / full_rate * RACE_MARGIN;
    if fill_rate <= 0.0 {
        return Race::Lift;
    }
    let overflow = room as f64 / fill_rate;
    if finish < overflow {
        Race::Lift
    } else {
        Race::Lose
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIB: u64 = 1 << 20;

    fn sample(size: u64, used: u64, max: u64, vg_free: u64) -> Sample {
        Sample {
            size,
            used,
            max,
            vg_free,
            vg_size: 1024 * MIB,
            extent: 4 * MIB,
            fill_rate: 0.0,
        }
    }

    #[test]
    fn a_snapshot_under_the_threshold_is_left_alone() {
        let d = decide(
            &Policy::default(),
            &sample(8 * MIB, 5 * MIB, 32 * MIB, 512 * MIB),
        );
        assert_eq!(d, Decision::Hold);
    }

    #[test]
    fn a_snapshot_over_the_threshold_grows_by_a_step_rounded_to_extents() {
        // 8 MiB * 1.25 = 10 MiB -> 12 MiB in 4 MiB extents.
        let d = decide(
            &Policy::default(),
            &sample(8 * MIB, 6 * MIB, 32 * MIB, 512 * MIB),
        );
        assert_eq!(d, Decision::Grow { to: 12 * MIB });
    }

    #[test]
    fn a_fast_writer_gets_the_room_its_fill_rate_needs() {
        let mut s = sample(8 * MIB, 6 * MIB, 256 * MIB, 512 * MIB);
        s.fill_rate = MIB as f64; // 30 s horizon: 36 MiB used -> 36/0.7 = 51.4 -> 52 MiB
        assert_eq!(
            decide(&Policy::default(), &s),
            Decision::Grow { to: 52 * MIB }
        );
    }

    #[test]
    fn growth_stops_at_the_max() {
        let d = decide(
            &Policy::default(),
            &sample(16 * MIB, 15 * MIB, 16 * MIB, 512 * MIB),
        );
        assert_eq!(d, Decision::AtLimit(Limit::Max));
        let d = decide(
            &Policy::default(),
            &sample(12 * MIB, 11 * MIB, 16 * MIB, 512 * MIB),
        );
        assert_eq!(d, Decision::Grow { to: 16 * MIB });
    }

    #[test]
    fn growth_stops_at_the_vg_reserve() {
        // 5% of 1 GiB = 51.2 MiB -> 52 MiB reserve; 52 MiB free leaves nothing.
        let d = decide(
            &Policy::default(),
            &sample(8 * MIB, 7 * MIB, 64 * MIB, 52 * MIB),
        );
        assert_eq!(d, Decision::AtLimit(Limit::Reserve));
        let d = decide(
            &Policy::default(),
            &sample(8 * MIB, 7 * MIB, 64 * MIB, 56 * MIB),
        );
        assert_eq!(d, Decision::Grow { to: 12 * MIB });
    }

    #[test]
    fn the_ceiling_names_the_limit_that_sets_it() {
        let policy = Policy::default();
        // 56 MiB free, 52 MiB reserve: 4 MiB may go, below the 64 MiB max.
        let s = sample(8 * MIB, 7 * MIB, 64 * MIB, 56 * MIB);
        assert_eq!(ceiling(&policy, &s), (12 * MIB, Limit::Reserve));
        // Plenty free: the max is what stops it.
        let s = sample(8 * MIB, 7 * MIB, 16 * MIB, 512 * MIB);
        assert_eq!(ceiling(&policy, &s), (16 * MIB, Limit::Max));
    }

    #[test]
    fn no_max_means_no_growth() {
        let d = decide(
            &Policy::default(),
            &sample(8 * MIB, 8 * MIB, 8 * MIB, 512 * MIB),
        );
        assert_eq!(d, Decision::AtLimit(Limit::Max));
    }

    #[test]
    fn lifting_the_throttle_wins_only_when_the_copy_ends_first() {
        // 4 MiB left at 100 MiB/s: 0.05 s; 1 MiB room at 1 MiB/s: 1 s.
        assert_eq!(
            finish_beats_overflow(4 * MIB, 100.0 * MIB as f64, MIB as f64, MIB),
            Race::Lift
        );
        // 400 MiB left at 10 MiB/s: 40 s; 8 MiB room at 1 MiB/s: 8 s.
        assert_eq!(
            finish_beats_overflow(400 * MIB, 10.0 * MIB as f64, MIB as f64, 8 * MIB),
            Race::Lose
        );
        assert_eq!(finish_beats_overflow(MIB, 0.0, 1.0, MIB), Race::Lose);
        assert_eq!(finish_beats_overflow(MIB, 1.0, 0.0, 0), Race::Lift);
    }

    proptest! {
        #[test]
        fn growth_never_exceeds_the_max_nor_eats_the_reserve(
            size_ext in 1u64..4096,
            used_pct in 0u32..=100,
            max_extra in 0u64..8192,
            vg_ext in 1u64..100_000,
            free_share in 0.0f64..=1.0,
            extent_pow in 20u32..27,
            fill in 0.0f64..1e10,
            at in 1.0f64..100.0,
            step in 0.0f64..200.0,
            reserve in 0.0f64..50.0,
        ) {
            let extent = 1u64 << extent_pow;
            let size = size_ext * extent;
            let vg_size = vg_ext * extent;
            let vg_free = round_down((vg_size as f64 * free_share) as u64, extent);
            let max = size + max_extra * extent / 3;
            let s = Sample {
                size,
                used: size / 100 * u64::from(used_pct),
                max,
                vg_free,
                vg_size,
                extent,
                fill_rate: fill,
            };
            let policy = Policy { at_percent: at, step_percent: step, vg_reserve_percent: reserve, horizon_secs: 30.0 };
            if let Decision::Grow { to } = decide(&policy, &s) {
                prop_assert!(to > size);
                prop_assert!(to <= max);
                prop_assert_eq!(to % extent, 0);
                let left = vg_free - (to - size);
                prop_assert!(left >= reserve_bytes(&policy, vg_size, extent));
            }
        }

        #[test]
        fn more_room_never_turns_a_lift_into_a_loss(
            remaining in 0u64..(1 << 40),
            full in 1.0f64..1e10,
            fill in 0.0f64..1e10,
            room in 0u64..(1 << 40),
            more in 0u64..(1 << 40),
        ) {
            if finish_beats_overflow(remaining, full, fill, room) == Race::Lift {
                prop_assert_eq!(finish_beats_overflow(remaining, full, fill, room + more), Race::Lift);
            }
        }
    }
}
