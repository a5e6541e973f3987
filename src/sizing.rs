//! The snapshot size past runs say a volume needs.
//!
//! A snapshot must hold every block the origin rewrites between the
//! snapshot and the end of its copy. The peak a past run measured is that
//! amount for that run's window; the next run's window may be longer (the
//! volume is copied later in the plan, or at a lower bandwidth), so the
//! peak is scaled by the ratio of the windows, then given a margin, then
//! rounded up to whole extents. Pure arithmetic, documented in docs/check.md.

/// Head-room over the (window-scaled) peak: writes vary from night to night.
pub const MARGIN: f64 = 1.5;

/// A peak above this share of the snapshot (%) means it was too small.
pub const TOO_FULL_PERCENT: f64 = 80.0;

/// A snapshot larger than this many times the suggestion is wasteful
/// (its copy-on-write space is reserved in the VG for nothing).
pub const WASTEFUL_FACTOR: f64 = 4.0;

/// What one past run measured for a volume's snapshot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observed {
    /// Highest copy-on-write use seen, in bytes.
    pub peak_bytes: u64,
    /// The snapshot overflowed or had to grow: the peak is a lower bound.
    pub outgrown: bool,
    /// Copy-on-write bytes per second measured while the volume waited and
    /// was copied, when known.
    pub fill_rate: Option<f64>,
    /// Seconds from the snapshot to the end of its copy in that run.
    pub window_secs: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Fine,
    TooSmall,
    Wasteful,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suggestion {
    pub verdict: Verdict,
    /// The `snapshot_size` that would have held the observed run with margin.
    pub bytes: u64,
}

/// The bytes the snapshot needs for a window `window_ratio` times the
/// observed one, before the margin.
fn needed(observed: &Observed, window_ratio: f64) -> f64 {
    let ratio = if window_ratio.is_finite() {
        window_ratio.max(1.0)
    } else {
        1.0
    };
    let mut need = observed.peak_bytes as f64;
    // An outgrown snapshot's peak is where it stopped, not what was written;
    // the fill rate over the whole window says what it would have needed.
    if let (Some(rate), Some(window)) = (observed.fill_rate, observed.window_secs)
        && rate.is_finite()
        && window.is_finite()
        && rate > 0.0
        && window > 0.0
    {
        need = need.max(rate * window);
    }
    need * ratio
}

/// The suggested size for a volume whose snapshot is `current` bytes in
/// `extent`-byte extents. `window_ratio` is how much longer the coming
/// run's window is expected to be (1.0: the same; values below 1 are
/// treated as 1: a shorter window never earns a smaller snapshot).
pub fn suggest(observed: &Observed, current: u64, extent: u64, window_ratio: f64) -> Suggestion {
    let extent = extent.max(1);
    let raw = (needed(observed, window_ratio) * MARGIN).ceil();
    let raw = if raw.is_finite() && raw < u64::MAX as f64 {
        raw as u64
    } else {
        u64::MAX
    };
    let bytes = raw.div_ceil(extent).saturating_mul(extent).max(extent);
    let peak_share = observed.peak_bytes as f64 * 100.0 / current.max(1) as f64;
    let verdict = if observed.outgrown || peak_share > TOO_FULL_PERCENT || bytes > current {
        Verdict::TooSmall
    } else if current as f64 > bytes as f64 * WASTEFUL_FACTOR {
        Verdict::Wasteful
    } else {
        Verdict::Fine
    };
    let bytes = if verdict == Verdict::TooSmall {
        bytes.max(current.saturating_add(extent))
    } else {
        bytes
    };
    Suggestion { verdict, bytes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIB: u64 = 1 << 20;

    fn seen(peak: u64) -> Observed {
        Observed {
            peak_bytes: peak,
            outgrown: false,
            fill_rate: None,
            window_secs: None,
        }
    }

    #[test]
    fn a_peak_of_ninety_percent_asks_for_a_bigger_snapshot() {
        let s = suggest(&seen(9 * MIB), 10 * MIB, 4 * MIB, 1.0);
        // 9 MiB * 1.5 = 13.5 -> 16 MiB.
        assert_eq!(
            s,
            Suggestion {
                verdict: Verdict::TooSmall,
                bytes: 16 * MIB
            }
        );
    }

    #[test]
    fn a_snapshot_ten_times_its_need_is_called_wasteful() {
        let s = suggest(&seen(4 * MIB), 400 * MIB, 4 * MIB, 1.0);
        assert_eq!(s.verdict, Verdict::Wasteful);
        assert_eq!(s.bytes, 8 * MIB);
    }

    #[test]
    fn an_overflowed_snapshot_gets_what_its_fill_rate_needed() {
        // The 4 MiB snapshot overflowed; 8 MiB were written in 8 s.
        let o = Observed {
            peak_bytes: 4 * MIB,
            outgrown: true,
            fill_rate: Some(MIB as f64),
            window_secs: Some(8.0),
        };
        let s = suggest(&o, 4 * MIB, 4 * MIB, 1.0);
        assert_eq!(s.verdict, Verdict::TooSmall);
        assert_eq!(s.bytes, 12 * MIB); // 8 MiB * 1.5
    }

    #[test]
    fn a_longer_window_needs_more_room() {
        let same = suggest(&seen(4 * MIB), 16 * MIB, 4 * MIB, 1.0);
        let later = suggest(&seen(4 * MIB), 16 * MIB, 4 * MIB, 3.0);
        assert_eq!(same.bytes, 8 * MIB);
        assert_eq!(later.bytes, 20 * MIB);
        assert_eq!(later.verdict, Verdict::TooSmall);
    }

    proptest! {
        #[test]
        fn suggestions_are_monotone_in_the_peak_and_whole_extents(
            a in 0u64..(1 << 42),
            b in 0u64..(1 << 42),
            current in 1u64..(1 << 42),
            extent_pow in 20u32..30,
            ratio in 0.1f64..10.0,
        ) {
            let extent = 1u64 << extent_pow;
            let (lo, hi) = (a.min(b), a.max(b));
            let s_lo = suggest(&seen(lo), current, extent, ratio);
            let s_hi = suggest(&seen(hi), current, extent, ratio);
            prop_assert!(s_lo.bytes <= s_hi.bytes);
            prop_assert_eq!(s_hi.bytes % extent, 0);
            prop_assert!(s_hi.bytes as f64 >= hi as f64 * MARGIN);
        }

        #[test]
        fn a_too_small_verdict_always_suggests_more_than_today(
            peak in 0u64..(1 << 42),
            current in 1u64..(1 << 42),
            extent_pow in 20u32..30,
        ) {
            let s = suggest(&seen(peak), current, 1u64 << extent_pow, 1.0);
            if s.verdict == Verdict::TooSmall {
                prop_assert!(s.bytes > current);
            }
        }
    }
}
