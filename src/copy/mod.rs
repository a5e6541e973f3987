//! The copy engine: read a snapshot from first byte to last, write it to the
//! backup device, and prove the copy right.
//!
//! [`run`] is the library entry point (`snapplan copy` and apply both use
//! it); [`verify::verify`] checks a destination against a manifest alone.
//! The pieces, in the order a copy uses them: [`device`] (O_DIRECT opens,
//! sizes), [`buffer`] (aligned memory), [`throttle`], [`pipeline`] (reader,
//! hasher and writer threads), [`manifest`] (chunk hashes, atomic saves),
//! [`verify`], [`progress`] and [`report`].
//!
//! How apply drives a copy (cancel from its signal handler, stop when the
//! snapshot goes invalid, log progress its own way):
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use snapplan::copy::{self, ChunkRead, CopyControl, CopyError, CopyRequest, NoProgress};
//!
//! let cancel = AtomicBool::new(false);
//! let snapshot_still_valid = |_read: &ChunkRead| -> Result<(), String> { Ok(()) };
//! let mut request = CopyRequest::new("/dev/vg0/home-snap", "/dev/backup/home");
//! request.manifest = Some("/var/lib/snapplan/home.manifest.json".into());
//! request.bytes_per_second = Some(60 << 20);
//! request.verify = true;
//! request.destination_tag = Some("backup-lv-uuid".into());
//! let control = CopyControl {
//!     cancel: &cancel,
//!     progress: &NoProgress,
//!     source_check: Some(&snapshot_still_valid),
//! };
//! match copy::run(&request, &control) {
//!     Ok(report) => println!("{}", report.summary()),
//!     Err(CopyError::Interrupted { offset }) => eprintln!("stopped at {offset}"),
//!     Err(e) => eprintln!("{e}"),
//! }
//! ```

pub mod buffer;
pub mod device;
pub mod error;
pub mod identity;
pub mod manifest;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod throttle;
pub mod verify;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

pub use error::{CopyError, ManifestError};
pub use identity::Identity;
pub use manifest::Manifest;
pub use pipeline::{ChunkRead, SourceCheck};
pub use progress::{NoProgress, ProgressSink, ProgressUpdate};
pub use report::{CopyReport, DeltaBasis, StageTimes, VerifyReport};

use device::Device;
use manifest::{Chunking, FORMAT, now_unix};
use pipeline::{CopyOptions, ReadEnd, ReadOptions};
use progress::Phase;

/// 4 MiB: large enough that per-chunk overhead vanishes, small enough that
/// a delta skips at a useful granularity and memory stays small.
pub const DEFAULT_CHUNK_SIZE: u64 = 4 << 20;

/// What to copy where, and how.
#[derive(Debug, Clone)]
pub struct CopyRequest {
    pub source: PathBuf,
    pub destination: PathBuf,
    /// A multiple of 4 KiB between 64 KiB and 64 MiB.
    pub chunk_size: u64,
    /// Limit on bytes read per second; `None` for unlimited.
    pub bytes_per_second: Option<u64>,
    /// Re-read the destination afterwards and compare with the hashes.
    pub verify: bool,
    /// Where to keep the manifest. It is rewritten as incomplete before the
    /// destination is touched and as complete after the final fdatasync.
    /// Unless `previous_manifest` is given, the manifest found here (if
    /// any) is the basis for a delta.
    pub manifest: Option<PathBuf>,
    /// The manifest of the previous copy to this destination, when kept
    /// somewhere other than `manifest`. It is rewritten as incomplete
    /// before the destination is touched: from then on it no longer
    /// describes the destination.
    pub previous_manifest: Option<PathBuf>,
    /// An identity of the destination the caller knows (apply: the backup
    /// LV's UUID), recorded in the manifest; a previous manifest is only
    /// trusted if it recorded the same.
    pub destination_tag: Option<String>,
    /// Copy only the first `length` bytes of the source (`None`: all of
    /// it). A restore copies what the backup's manifest covers: the backup
    /// LV may be larger than the volume it holds (extent rounding, a grown
    /// LV), and the origin it goes back to only as large as the volume.
    pub length: Option<u64>,
}

impl CopyRequest {
    pub fn new(source: impl Into<PathBuf>, destination: impl Into<PathBuf>) -> Self {
        CopyRequest {
            source: source.into(),
            destination: destination.into(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            bytes_per_second: None,
            verify: false,
            manifest: None,
            previous_manifest: None,
            destination_tag: None,
            length: None,
        }
    }
}

/// How the caller steers a running copy.
pub struct CopyControl<'a> {
    /// Set it (from a signal handler, a watchdog) to stop at the next chunk
    /// boundary; the copy then returns [`CopyError::Interrupted`] and the
    /// manifest says incomplete.
    pub cancel: &'a AtomicBool,
    pub progress: &'a dyn ProgressSink,
    /// Called after every chunk is read, before it is written; an error
    /// stops the copy ([`CopyError::SourceCheck`]). Apply checks here that
    /// the snapshot is still valid: data read from an invalidated snapshot
    /// is garbage. For an empty source it is never called, so callers
    /// should check once more after [`run`] returns.
    pub source_check: Option<&'a SourceCheck<'a>>,
}

/// Checks a chunk size is one the engine accepts.
pub fn check_chunk_size(chunk_size: u64) -> Result<(), CopyError> {
    let ok = (64 << 10..=64 << 20).contains(&chunk_size)
        && chunk_size.is_multiple_of(buffer::ALIGN as u64);
    if ok {
        Ok(())
    } else {
        Err(CopyError::ChunkSize(chunk_size))
    }
}

/// Copies `request.source` to `request.destination`. Nothing is written
/// (not even the manifest) unless the request is sound: chunk size valid,
/// source and destination different, destination at least as large.
pub fn run(request: &CopyRequest, control: &CopyControl<'_>) -> Result<CopyReport, CopyError> {
    let started = Instant::now();
    check_chunk_size(request.chunk_size)?;
    let mut src = Device::open_read(&request.source)?;
    let mut dst = Device::open_write(&request.destination)?;
    if src.identity().same_object(dst.identity()) {
        return Err(CopyError::SameDevice {
            source_path: request.source.clone(),
            destination: request.destination.clone(),
        });
    }
    let size = match request.length {
        None => src.size(),
        Some(length) if length <= src.size() => length,
        Some(length) => {
            return Err(CopyError::UnexpectedEnd {
                path: request.source.clone(),
                offset: src.size(),
                expected: length,
            });
        }
    };
    if dst.size() < size {
        return Err(CopyError::DestinationTooSmall {
            source_path: request.source.clone(),
            source_size: size,
            destination: request.destination.clone(),
            destination_size: dst.size(),
        });
    }
    let mut destination = dst.identity().clone();
    destination.tag = request.destination_tag.clone();
    let chunking = Chunking {
        size,
        chunk_size: request.chunk_size,
    };

    let mut notes = Vec::new();
    let (previous, delta) = previous_manifest(request, &destination, &mut notes)?;
    let superseded = superseded_manifest(request, &destination)?;

    let mut manifest = Manifest {
        format: FORMAT.to_string(),
        completed: false,
        source: src.identity().clone(),
        destination: destination.clone(),
        size: chunking.size,
        chunk_size: chunking.chunk_size,
        started_at: now_unix(),
        finished_at: None,
        chunks: Vec::with_capacity(chunking.count() as usize),
    };
    // From here on the destination changes: first make sure no manifest
    // we know of still vouches for its old content.
    save(&manifest, request)?;
    if let Some((path, old)) = superseded {
        old.save(&path)?;
    }

    let mut report = CopyReport {
        source: src.identity().clone(),
        destination,
        chunk_size: chunking.chunk_size,
        bytes_read: 0,
        bytes_written: 0,
        bytes_skipped: 0,
        chunks_written: 0,
        chunks_skipped: 0,
        elapsed: Default::default(),
        stages: StageTimes::default(),
        delta,
        verify: None,
        notes,
    };
    let opts = CopyOptions {
        read: ReadOptions {
            chunking,
            bytes_per_second: request.bytes_per_second,
            cancel: control.cancel,
            check: control.source_check,
        },
        previous: previous.as_ref(),
    };
    let update = |report: &CopyReport| ProgressUpdate {
        phase: Phase::Copy,
        done: report.bytes_read,
        total: chunking.size,
        written: report.bytes_written,
        skipped: report.bytes_skipped,
        elapsed: started.elapsed(),
    };
    control.progress.update(&update(&report));
    let outcome = pipeline::copy(&mut src, &mut dst, &opts, |done| {
        manifest.chunks.push(done.hash);
        report.bytes_read += done.len;
        if done.written {
            report.bytes_written += done.len;
            report.chunks_written += 1;
        } else {
            report.bytes_skipped += done.len;
            report.chunks_skipped += 1;
        }
        control.progress.update(&update(&report));
    });
    control.progress.finish(&update(&report));
    report.notes.extend(src.note().map(str::to_string));
    report.notes.extend(dst.note().map(str::to_string));
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            // Best effort: the manifest already says incomplete.
            let _ = save(&manifest, request);
            return Err(e);
        }
    };
    report.stages = outcome.stages;
    if let ReadEnd::Cancelled { offset } = outcome.end {
        save(&manifest, request)?;
        return Err(CopyError::Interrupted { offset });
    }
    debug_assert_eq!(outcome.end, ReadEnd::Complete);

    let sync_start = Instant::now();
    dst.sync()?;
    report.stages.sync = sync_start.elapsed();
    drop(dst);
    manifest.completed = true;
    manifest.finished_at = Some(now_unix());
    save(&manifest, request)?;
    report.elapsed = started.elapsed();

    if request.verify {
        let verified = verify::verify(
            &manifest,
            &request.destination,
            control.cancel,
            control.progress,
        )?;
        report.elapsed = started.elapsed();
        let mismatches = verified.mismatches.clone();
        report.notes.extend(verified.notes.iter().cloned());
        report.verify = Some(verified);
        if !mismatches.is_empty() {
            // The destination does not hold what the hashes say: no delta
            // may trust them.
            manifest.completed = false;
            save(&manifest, request)?;
            return Err(CopyError::Mismatch {
                destination: request.destination.clone(),
                mismatches,
                report: Box::new(report),
            });
        }
    }
    Ok(report)
}

fn save(manifest: &Manifest, request: &CopyRequest) -> Result<(), CopyError> {
    if let Some(path) = &request.manifest {
        manifest.save(path)?;
    }
    Ok(())
}

/// A `previous_manifest` kept apart from `manifest` that still says
/// complete for this destination: the copy is about to change the
/// destination, so it is rewritten as incomplete first (else, after a
/// crash, a later delta from it would skip chunks this copy overwrote).
fn superseded_manifest(
    request: &CopyRequest,
    destination: &Identity,
) -> Result<Option<(PathBuf, Manifest)>, CopyError> {
    let Some(path) = &request.previous_manifest else {
        return Ok(None);
    };
    if request.manifest.as_ref() == Some(path) {
        return Ok(None);
    }
    let mut old = Manifest::load(path)?;
    if !old.completed || old.destination.path != destination.path {
        return Ok(None);
    }
    old.completed = false;
    Ok(Some((path.clone(), old)))
}

/// The previous manifest to compare against, if there is one to trust.
fn previous_manifest(
    request: &CopyRequest,
    destination: &Identity,
    notes: &mut Vec<String>,
) -> Result<(Option<Manifest>, DeltaBasis), CopyError> {
    let full = |reason: String| Ok((None, DeltaBasis::Full { reason }));
    let path = match (&request.previous_manifest, &request.manifest) {
        // Asked for by name: it must be readable.
        (Some(path), _) => {
            let manifest = Manifest::load(path)?;
            (path.clone(), manifest)
        }
        (None, Some(path)) if path.exists() => match Manifest::load(path) {
            Ok(manifest) => (path.clone(), manifest),
            Err(e) => {
                notes.push(format!("{e}; copying every chunk and replacing it"));
                return full(format!("{} is unreadable", path.display()));
            }
        },
        (None, Some(path)) => return full(format!("no manifest at {} yet", path.display())),
        (None, None) => return full("no manifest given".to_string()),
    };
    let (path, manifest) = path;
    match manifest.untrusted_for(destination, request.chunk_size) {
        Some(reason) => full(format!("not trusting {}: {reason}", path.display())),
        None => Ok((Some(manifest), DeltaBasis::Previous { manifest: path })),
    }
}
