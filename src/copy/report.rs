//! What a copy or a verification did, for the summary line, for apply's
//! run history, and for the benchmark (per-stage busy times show where the
//! time goes).

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use super::identity::Identity;
use crate::human;

/// Time each pipeline stage spent working (not waiting on the others).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    /// In read calls on the source.
    pub read: Duration,
    /// Computing xxh3-128.
    pub hash: Duration,
    /// In write calls on the destination.
    pub write: Duration,
    /// In the final fdatasync.
    pub sync: Duration,
    /// Waiting for the throttle.
    pub throttle: Duration,
    /// Re-reading a sample of the destination before a delta.
    pub spot_check: Duration,
}

/// Whether the copy compared against a previous manifest, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaBasis {
    /// Every chunk was written.
    Full { reason: String },
    /// Chunks whose hash matched this manifest's were skipped.
    Previous { manifest: PathBuf },
}

#[derive(Debug, Clone)]
pub struct CopyReport {
    pub source: Identity,
    pub destination: Identity,
    pub chunk_size: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub bytes_skipped: u64,
    pub chunks_written: u64,
    pub chunks_skipped: u64,
    /// Chunks neither read nor written: outside what changed since the
    /// base the previous copy was read from.
    pub bytes_unread: u64,
    pub chunks_unread: u64,
    /// Chunks not read because the source holds no data there (unmapped
    /// in a thin snapshot): zeros, written unless already there.
    pub bytes_unmapped: u64,
    pub chunks_unmapped: u64,
    /// Chunks of the destination re-read and compared with the previous
    /// manifest before it was trusted for a delta.
    pub chunks_spot_checked: u64,
    pub bytes_spot_checked: u64,
    pub elapsed: Duration,
    pub stages: StageTimes,
    pub delta: DeltaBasis,
    /// Present when the copy was verified (re-read from the destination).
    pub verify: Option<VerifyReport>,
    /// Things the admin should know that did not stop the copy (e.g. a
    /// filesystem refusing O_DIRECT).
    pub notes: Vec<String>,
}

impl CopyReport {
    /// The one line a cron mail or log shows for a copy.
    pub fn summary(&self) -> String {
        let rate = self.bytes_read as f64 / self.elapsed.as_secs_f64().max(1e-9);
        let mut line = format!(
            "copied {} -> {}: read {}, wrote {} ({} chunks), skipped {} ({} chunks) in {:.2} s ({})",
            self.source.path.display(),
            self.destination.path.display(),
            human::bytes(self.bytes_read),
            human::bytes(self.bytes_written),
            self.chunks_written,
            human::bytes(self.bytes_skipped),
            self.chunks_skipped,
            self.elapsed.as_secs_f64(),
            human::rate(rate),
        );
        let s = &self.stages;
        line.push_str(&format!(
            "; busy: read {:.2} s, hash {:.2} s, write {:.2} s, sync {:.2} s",
            s.read.as_secs_f64(),
            s.hash.as_secs_f64(),
            s.write.as_secs_f64(),
            s.sync.as_secs_f64()
        ));
        if self.chunks_unread > 0 {
            line.push_str(&format!(
                "; not read (unchanged since the base): {} ({} chunks)",
                human::bytes(self.bytes_unread),
                self.chunks_unread
            ));
        }
        if self.chunks_unmapped > 0 {
            line.push_str(&format!(
                "; not read (unmapped in the thin snapshot: zeros): {} ({} chunks)",
                human::bytes(self.bytes_unmapped),
                self.chunks_unmapped
            ));
        }
        if self.chunks_spot_checked > 0 {
            line.push_str(&format!(
                "; spot-checked {} ({} chunks) of the destination in {:.2} s",
                human::bytes(self.bytes_spot_checked),
                self.chunks_spot_checked,
                s.spot_check.as_secs_f64()
            ));
        }
        if s.throttle > std::time::Duration::ZERO {
            line.push_str(&format!(", throttled {:.2} s", s.throttle.as_secs_f64()));
        }
        match &self.verify {
            Some(v) if v.mismatches.is_empty() => line.push_str(&format!(
                "; verified {} in {:.2} s (read {:.2} s, hash {:.2} s)",
                human::bytes(v.bytes_checked),
                v.elapsed.as_secs_f64(),
                v.read_busy.as_secs_f64(),
                v.hash_busy.as_secs_f64()
            )),
            Some(v) => line.push_str(&format!(
                "; VERIFY FAILED: {} mismatching range(s)",
                v.mismatches.len()
            )),
            None => {}
        }
        line
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct VerifyReport {
    pub device: PathBuf,
    pub bytes_checked: u64,
    /// Byte ranges whose content differs from the manifest, adjacent
    /// chunks merged.
    pub mismatches: Vec<Range<u64>>,
    pub elapsed: Duration,
    pub read_busy: Duration,
    pub hash_busy: Duration,
    pub notes: Vec<String>,
}

impl VerifyReport {
    pub fn summary(&self) -> String {
        if self.mismatches.is_empty() {
            format!(
                "verified {}: {} match the manifest ({:.1} s)",
                self.device.display(),
                human::bytes(self.bytes_checked),
                self.elapsed.as_secs_f64()
            )
        } else {
            let ranges: Vec<String> = self
                .mismatches
                .iter()
                .map(|r| {
                    format!(
                        "bytes {}..{} ({})",
                        r.start,
                        r.end,
                        human::bytes(r.end - r.start)
                    )
                })
                .collect();
            format!(
                "verify FAILED for {}: {} range(s) differ from the manifest: {}",
                self.device.display(),
                self.mismatches.len(),
                ranges.join(", ")
            )
        }
    }
}

/// Adds `range` to `ranges`, merging it with the last one when adjacent.
pub fn push_merged(ranges: &mut Vec<Range<u64>>, range: Range<u64>) {
    match ranges.last_mut() {
        Some(last) if last.end == range.start => last.end = range.end,
        _ => ranges.push(range),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_ranges_merge() {
        let mut ranges = Vec::new();
        push_merged(&mut ranges, 0..4);
        push_merged(&mut ranges, 4..8);
        push_merged(&mut ranges, 12..14);
        assert_eq!(ranges, vec![0..8, 12..14]);
    }
}
