//! The snapshot size past runs say a volume needs.
//!
//! A snapshot must hold every block the origin rewrites between the
//! snapshot and the end of its copy. The peak a past run measured is that
//! amount for that run's window; the next run's window may be longer (the
//! volume is copied later in the plan, or at a lower bandwidth), so the
//! peak is scaled by the ratio of the windows, then given a margin, then
//! rounded up to whole extents. Pure arithmetic, documented in docs/check.md.

use serde::Serialize;

use crate::state::runs::VolumeResult;

/// An overflowed snapshot is taken to have needed this many times its size
/// (at least; the fill rate over its window may say more).
pub const OVERFLOW_FACTOR: u64 = 2;

/// LVM's default extent size: what `report` rounds suggestions to (it reads
/// run records, not the VG; `check` uses the VG's own extent size).
pub const DEFAULT_EXTENT: u64 = 4 << 20;

/// The share (%) of a VG that growing snapshots never take: the room other
/// snapshots and LVM's own metadata need (a full VG turns one overflow into
/// several). apply's growth policy and check's warning both use it.
pub const VG_RESERVE_PERCENT: f64 = 5.0;

/// The reserve of a VG of `vg_size` bytes, in whole `extent`s (rounded up).
pub fn reserve_extents(vg_size: u64, extent: u64) -> u64 {
    let extent = extent.max(1);
    let share = (vg_size as f64 * VG_RESERVE_PERCENT / 100.0).ceil() as u64;
    share.div_ceil(extent).min(vg_size.div_ceil(extent))
}

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

/// What one run's record says about a volume's snapshot, when the run
/// measured it (a classic snapshot that was looked at).
pub fn observed(v: &VolumeResult) -> Option<(Observed, u64)> {
    let base = v.snapshot_bytes?;
    // An overflowed snapshot was full: the copy's watchdog saw 100%.
    let overflowed = v.snapshot_peak_percent.is_some_and(|p| p >= 100.0);
    let peak = if overflowed {
        // How much more it needed is unknown (writes past the overflow are
        // not counted): at least twice what it had.
        let full = v.snapshot_final_bytes.unwrap_or(base);
        v.snapshot_peak_bytes
            .unwrap_or(0)
            .max(full.saturating_mul(OVERFLOW_FACTOR))
    } else {
        v.snapshot_peak_bytes?
    };
    Some((
        Observed {
            peak_bytes: peak,
            outgrown: overflowed || v.snapshot_extensions > 0,
            fill_rate: v.snapshot_fill_rate,
            window_secs: v.snapshot_window_seconds,
        },
        base,
    ))
}

/// What the last runs say about one volume's snapshot: shown by `check`
/// and `report`, and in `report --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Learned {
    pub volume: String,
    /// Runs that measured the snapshot.
    pub runs: usize,
    /// The highest copy-on-write use among them, in bytes...
    pub peak_bytes: u64,
    /// ...and as a share (%) of the snapshot's size in that run (over 100
    /// when it grew past its size).
    pub peak_percent: f64,
    /// The highest fill rate measured (bytes/s) while the volume waited and
    /// was copied.
    pub fill_rate: Option<f64>,
    /// Runs in which the snapshot overflowed, and in which it grew.
    pub overflowed: usize,
    pub grew: usize,
    /// `fine`, `too_small` or `wasteful`.
    pub verdict: &'static str,
    /// The `snapshot_size` that would have held every one of those runs
    /// without growing, with the margin; absent when the size is fine.
    pub suggested_bytes: Option<u64>,
}

/// Learns from `results` (one volume's, newest first) with suggestions in
/// `extent`-byte extents; `None` when no run measured the snapshot.
pub fn learn(volume: &str, results: &[&VolumeResult], extent: u64) -> Option<Learned> {
    let seen: Vec<(Observed, u64)> = results.iter().filter_map(|v| observed(v)).collect();
    let (peak_obs, peak_base) = seen.iter().max_by_key(|(o, _)| o.peak_bytes).copied()?;
    let suggestions: Vec<Suggestion> = seen
        .iter()
        .map(|(o, base)| suggest(o, *base, extent, 1.0))
        .collect();
    let too_small = suggestions.iter().any(|s| s.verdict == Verdict::TooSmall);
    let wasteful = suggestions.iter().all(|s| s.verdict == Verdict::Wasteful);
    let bytes = suggestions.iter().map(|s| s.bytes).max().unwrap_or(extent);
    let (verdict, suggested) = if too_small {
        ("too_small", Some(bytes))
    } else if wasteful {
        ("wasteful", Some(bytes))
    } else {
        ("fine", None)
    };
    Some(Learned {
        volume: volume.to_string(),
        runs: seen.len(),
        peak_bytes: peak_obs.peak_bytes,
        peak_percent: peak_obs.peak_bytes as f64 * 100.0 / peak_base.max(1) as f64,
        fill_rate: seen
            .iter()
            .filter_map(|(o, _)| o.fill_rate)
            .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r)))),
        overflowed: results
            .iter()
            .filter(|v| v.snapshot_peak_percent.is_some_and(|p| p >= 100.0))
            .count(),
        grew: results.iter().filter(|v| v.snapshot_extensions > 0).count(),
        verdict,
        suggested_bytes: suggested,
    })
}

/// One line for people: "peak 3.6 MiB (90.0% of its snapshot), fill rate
/// 1.2 MiB/s, grew in 1 of 3 runs; snapshot_size too small: suggested 12.0 MiB".
pub fn describe(l: &Learned) -> String {
    let mut text = format!(
        "peak {} ({:.1}% of its snapshot) in the last {} run{}",
        crate::human::bytes(l.peak_bytes),
        l.peak_percent,
        l.runs,
        if l.runs == 1 { "" } else { "s" }
    );
    if let Some(rate) = l.fill_rate {
        text.push_str(&format!(", fill rate {}", crate::human::rate(rate)));
    }
    if l.overflowed > 0 {
        text.push_str(&format!(", OVERFLOWED in {}", l.overflowed));
    }
    if l.grew > 0 {
        text.push_str(&format!(", grew in {}", l.grew));
    }
    match (l.verdict, l.suggested_bytes) {
        ("too_small", Some(b)) => text.push_str(&format!(
            "; snapshot_size too small: suggested snapshot_size: {}",
            crate::human::exact_bytes(b)
        )),
        ("wasteful", Some(b)) => text.push_str(&format!(
            "; snapshot_size wasteful (over {WASTEFUL_FACTOR}x the need): suggested \
             snapshot_size: {}",
            crate::human::exact_bytes(b)
        )),
        _ => {}
    }
    text
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

    fn result(base: u64, peak: u64, percent: f64, extensions: u32) -> VolumeResult {
        let mut v = VolumeResult::new("vcr");
        v.snapshot_bytes = Some(base);
        v.snapshot_final_bytes = Some(base + u64::from(extensions) * 4 * MIB);
        v.snapshot_peak_bytes = Some(peak);
        v.snapshot_peak_percent = Some(percent);
        v.snapshot_extensions = extensions;
        v.snapshot_fill_rate = Some(MIB as f64);
        v.snapshot_window_seconds = Some(4.0);
        v
    }

    #[test]
    fn a_volume_that_grew_is_told_the_size_that_would_have_held_it() {
        // 4 MiB snapshot grew to 16 MiB, peak 8.2 MiB.
        let grew = result(4 * MIB, 8 * MIB + MIB / 5, 51.0, 1);
        let l = learn("vcr", &[&grew], 4 * MIB).unwrap();
        assert_eq!(l.verdict, "too_small");
        // 8.2 MiB * 1.5 = 12.3 -> 16 MiB.
        assert_eq!(l.suggested_bytes, Some(16 * MIB));
        assert_eq!((l.grew, l.overflowed, l.runs), (1, 0, 1));
        assert!((l.peak_percent - 205.0).abs() < 0.1, "{l:?}");
        assert!(
            describe(&l).contains("suggested snapshot_size: 16 MiB"),
            "{}",
            describe(&l)
        );
    }

    #[test]
    fn an_overflowed_volume_counts_as_full_and_gets_more() {
        // Seen at 3 MiB before it overflowed its 4 MiB at 100%; 1 MiB/s for
        // a 10 s window.
        let mut v = result(4 * MIB, 3 * MIB, 100.0, 0);
        v.snapshot_window_seconds = Some(10.0);
        let l = learn("vcr", &[&v], 4 * MIB).unwrap();
        // Twice its size counted as the peak.
        assert_eq!(l.peak_bytes, 8 * MIB);
        assert_eq!(l.overflowed, 1);
        assert_eq!(l.suggested_bytes, Some(16 * MIB)); // 10 MiB * 1.5 = 15 -> 16
        // Never seen valid: twice its size with the margin, 12 MiB.
        v.snapshot_peak_bytes = None;
        v.snapshot_fill_rate = None;
        let l = learn("vcr", &[&v], 4 * MIB).unwrap();
        assert_eq!(l.suggested_bytes, Some(12 * MIB));
    }

    #[test]
    fn a_snapshot_that_held_with_room_is_fine_and_unmeasured_runs_say_nothing() {
        let ok = result(16 * MIB, 5 * MIB, 31.0, 0);
        let mut ok = ok;
        ok.snapshot_window_seconds = Some(1.0);
        let l = learn("vcr", &[&ok], 4 * MIB).unwrap();
        assert_eq!((l.verdict, l.suggested_bytes), ("fine", None));
        assert_eq!(learn("vcr", &[&VolumeResult::new("vcr")], 4 * MIB), None);
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
