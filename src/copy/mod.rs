//! The copy engine: read a snapshot from first byte to last, write it to the
//! backup device, and prove the copy right.
//!
//! [`run`] is the library entry point (`snapplan copy` and apply both use
//! it); [`verify::verify`] checks a destination against a manifest alone.
//! The pieces, in the order a copy uses them: [`device`] (O_DIRECT opens,
//! sizes), [`alias`] (what source, destination and manifest are
//! underneath: loop devices, device-mapper stacks, links), [`buffer`]
//! (aligned memory), [`throttle`], [`pipeline`] (reader, hasher and writer
//! threads), [`manifest`] (chunk hashes, atomic saves), [`verify`],
//! [`progress`] and [`report`].
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
//!     throttle: None,
//! };
//! match copy::run(&request, &control) {
//!     Ok(report) => println!("{}", report.summary()),
//!     Err(CopyError::Interrupted { offset }) => eprintln!("stopped at {offset}"),
//!     Err(e) => eprintln!("{e}"),
//! }
//! ```

pub mod alias;
pub mod buffer;
pub mod device;
pub mod error;
pub mod identity;
pub mod manifest;
pub mod pipeline;
pub mod progress;
pub mod ranges;
pub mod report;
pub mod throttle;
pub mod verify;

#[cfg(test)]
mod tests;

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use error::{CopyError, ManifestError};
pub use identity::Identity;
pub use manifest::{BaseRef, Manifest};
pub use pipeline::{ChunkRead, SourceCheck};
pub use progress::{NoProgress, ProgressSink, ProgressUpdate};
pub use ranges::ByteRange;
pub use report::{CopyReport, DeltaBasis, StageTimes, VerifyReport};

use alias::{DevNo, FileId, Footprint, Sysfs};
use buffer::AlignedBuf;
use device::Device;
use manifest::{ChunkHash, Chunking, FORMAT, MAX_CHUNKS, now_unix};
use pipeline::{CopyOptions, ReadEnd, ReadOptions};
use progress::Phase;

/// 4 MiB: large enough that per-chunk overhead vanishes, small enough that
/// a delta skips at a useful granularity and memory stays small.
pub const DEFAULT_CHUNK_SIZE: u64 = 4 << 20;

/// How many chunks of the destination a delta copy re-reads before it
/// trusts the previous manifest: the first, the last, and a random sample
/// of the rest. Bounded, so its cost does not grow with the device (at 4
/// MiB chunks, at most 128 MiB read).
pub const SPOT_CHECK_CHUNKS: u64 = 32;

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
    /// The destination was made by the caller as a snapshot of the device
    /// whose identity tag is this (apply: a new thin-pool generation, made
    /// as a thin snapshot of the newest complete one, whose LV UUID this
    /// is), and nothing has written to it since: it holds what that device
    /// held. A previous manifest (given by `previous_manifest`) that
    /// recorded this tag for its destination then stands for this
    /// destination too, although its path and tag differ, and it is not
    /// marked incomplete: this copy does not touch the device it describes.
    pub destination_snapshot_of: Option<String>,
    /// The caller made the destination just now as a device whose every
    /// block reads as zeros until written (a new thin LV): a chunk of zeros
    /// is then not written, so it takes no pool space. Only when no
    /// previous manifest is trusted (with one, the destination holds what
    /// it says instead, and a chunk that turned to zeros is written), and
    /// never with `destination_snapshot_of`.
    pub destination_zeroed: bool,
    /// Copy only the first `length` bytes of the source (`None`: all of
    /// it). A restore copies what the backup's manifest covers: the backup
    /// LV may be larger than the volume it holds (extent rounding, a grown
    /// LV), and the origin it goes back to only as large as the volume.
    pub length: Option<u64>,
    /// The thin snapshot being read, to record in the manifest: the next
    /// copy's changed ranges may be relative to it.
    pub base: Option<BaseRef>,
    /// What changed in the source since base `since.base` (which the
    /// previous manifest must record): only chunks these ranges touch are
    /// read; the others keep their hash and are neither read nor written.
    /// Ignored, with a note, unless the previous manifest is trusted and
    /// records that same base.
    pub changed: Option<ChangedSince>,
    /// The only byte ranges of the source that hold data (a thin snapshot's
    /// mapped blocks; the rest reads as zeros): chunks they do not touch are
    /// not read, hashed as zeros, and written as zeros unless the previous
    /// manifest has that hash for them. Ignored when `changed` applies.
    pub mapped: Option<Vec<ByteRange>>,
}

/// The byte ranges of the source that may differ from `base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedSince {
    pub base: BaseRef,
    pub ranges: Vec<ByteRange>,
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
            destination_snapshot_of: None,
            destination_zeroed: false,
            length: None,
            base: None,
            changed: None,
            mapped: None,
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
    /// Lets another thread lift the throttle while the copy runs, and see
    /// how fast it reads unthrottled.
    pub throttle: Option<&'a throttle::ThrottleSwitch>,
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
/// source and destination different and not overlapping underneath (loop
/// devices, device-mapper stacks), nothing mounted over the destination's
/// backing file, manifest paths that are neither of them nor anything but
/// a regular file, destination at least as large.
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
    check_targets(request, &src, &dst, &Sysfs::default())?;
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
    if chunking.count() > MAX_CHUNKS {
        return Err(CopyError::TooManyChunks {
            size,
            chunk_size: request.chunk_size,
            count: chunking.count(),
        });
    }

    let mut notes = Vec::new();
    let (mut previous, mut delta) = previous_manifest(request, &destination, &mut notes)?;
    let mut spot = SpotCheck::default();
    if let Some(old) = &previous {
        let seed = now_nanos() ^ u64::from(std::process::id());
        spot = spot_check(&mut dst, old, chunking, seed, control.cancel)?;
        if let Some(reason) = &spot.mismatch {
            notes.push(format!("{reason}: copying every chunk"));
            delta = DeltaBasis::Full {
                reason: reason.clone(),
            };
            previous = None;
        }
    }
    // A destination that reads as zeros stands in for a previous copy of
    // nothing but zeros, when there is no trusted one (a spot check that
    // found the destination changed leaves its content unknown).
    let zeroed = request.destination_zeroed
        // A snapshot holds what its origin held, not zeros, even when the
        // manifest of that origin is not trusted.
        && request.destination_snapshot_of.is_none()
        && previous.is_none()
        && matches!(&delta, DeltaBasis::Full { .. })
        && spot.mismatch.is_none();
    if zeroed {
        notes.push("the destination reads as zeros: chunks of zeros are not written".to_string());
    }
    let superseded = superseded_manifest(request, &destination)?;
    let touched = changed_chunks(request, previous.as_ref(), chunking, &mut notes);
    let unmapped = match (&touched, &request.mapped) {
        (None, Some(mapped)) => {
            let unmapped: Vec<bool> = ranges::chunks_touched(mapped, chunking)
                .into_iter()
                .map(|touched| !touched)
                .collect();
            let zeros = unmapped.iter().filter(|&&z| z).count();
            notes.push(format!(
                "reading only the mapped blocks: {} of {}, {zeros} chunk(s) of zeros",
                crate::human::bytes(
                    chunking
                        .size
                        .saturating_sub(ranges::touched_bytes(&unmapped, chunking))
                ),
                crate::human::bytes(chunking.size)
            ));
            Some(unmapped)
        }
        _ => None,
    };

    let mut manifest = Manifest {
        format: FORMAT.to_string(),
        completed: false,
        source: src.identity().clone(),
        destination: destination.clone(),
        size: chunking.size,
        chunk_size: chunking.chunk_size,
        started_at: now_unix(),
        finished_at: None,
        base: request.base.clone(),
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
        bytes_unread: 0,
        chunks_unread: 0,
        bytes_unmapped: 0,
        chunks_unmapped: 0,
        chunks_spot_checked: spot.chunks,
        bytes_spot_checked: spot.bytes,
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
            switch: control.throttle,
        },
        previous: previous.as_ref(),
        zeroed,
        touched: touched.as_deref(),
        unmapped: unmapped.as_deref(),
    };
    let update = |report: &CopyReport| ProgressUpdate {
        phase: Phase::Copy,
        done: report.bytes_read + report.bytes_unread + report.bytes_unmapped,
        total: chunking.size,
        written: report.bytes_written,
        skipped: report.bytes_skipped,
        elapsed: started.elapsed(),
    };
    control.progress.update(&update(&report));
    let outcome = pipeline::copy(&mut src, &mut dst, &opts, |done| {
        manifest.chunks.push(done.hash);
        if done.read {
            report.bytes_read += done.len;
        } else if done.unmapped {
            report.bytes_unmapped += done.len;
            report.chunks_unmapped += 1;
        } else {
            report.bytes_unread += done.len;
            report.chunks_unread += 1;
        }
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
    report.stages.spot_check = spot.elapsed;
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

/// Per chunk, whether to read it: `None` (read every chunk) unless the
/// request has changed ranges relative to the very base the trusted
/// previous manifest was read from; then the chunks they touch, and any
/// the previous manifest has no hash for. Why not, in a note.
fn changed_chunks(
    request: &CopyRequest,
    previous: Option<&Manifest>,
    chunking: Chunking,
    notes: &mut Vec<String>,
) -> Option<Vec<bool>> {
    let changed = request.changed.as_ref()?;
    let Some(old) = previous else {
        notes.push(format!(
            "full read: no trusted previous copy to apply the changes since base {} to",
            changed.base
        ));
        return None;
    };
    match &old.base {
        Some(base) if *base == changed.base => {}
        Some(base) => {
            notes.push(format!(
                "full read: the previous copy was read from {base}, the changes are since {}",
                changed.base
            ));
            return None;
        }
        None => {
            notes.push(format!(
                "full read: the previous copy records no base, the changes are since {}",
                changed.base
            ));
            return None;
        }
    }
    let mut touched = ranges::chunks_touched(&changed.ranges, chunking);
    for (index, flag) in touched.iter_mut().enumerate() {
        if old.hash_for(chunking, index as u64).is_none() {
            *flag = true;
        }
    }
    notes.push(format!(
        "reading only what changed since base {}: {} of {}",
        changed.base,
        crate::human::bytes(ranges::touched_bytes(&touched, chunking)),
        crate::human::bytes(chunking.size)
    ));
    Some(touched)
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
    // It describes the device the destination is a snapshot of, which
    // this copy does not write.
    if request.destination_snapshot_of.is_some() {
        return Ok(None);
    }
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
    let untrusted = match &request.destination_snapshot_of {
        Some(origin) => manifest.untrusted_for_snapshot(destination, origin, request.chunk_size),
        None => manifest.untrusted_for(destination, request.chunk_size),
    };
    match untrusted {
        Some(reason) => full(format!("not trusting {}: {reason}", path.display())),
        None => Ok((Some(manifest), DeltaBasis::Previous { manifest: path })),
    }
}

/// Refuses a copy whose source and destination overlap underneath their
/// paths, whose destination's backing file is also behind a mounted or
/// held loop device, or whose manifest paths are (or are behind) either.
fn check_targets(
    request: &CopyRequest,
    src: &Device,
    dst: &Device,
    sys: &Sysfs,
) -> Result<(), CopyError> {
    let footprint = |device: &Device| {
        device
            .metadata()
            .map(|m| sys.footprint(device.path(), &m))
            .map_err(|source| CopyError::Open {
                path: device.path().to_path_buf(),
                source,
            })
    };
    let (source, destination) = (footprint(src)?, footprint(dst)?);
    if let Some(reason) = alias::aliased(&source, &destination) {
        return Err(CopyError::Aliased {
            source_path: request.source.clone(),
            destination: request.destination.clone(),
            reason,
        });
    }
    // A block destination is opened O_EXCL: the kernel refuses it while
    // mounted or held. Another loop device over the same bytes of its file
    // is not covered by that claim.
    for extent in destination.files.iter().filter(|e| e.direct) {
        for (name, dev) in sys.loops_over(extent, &destination.devices) {
            if let Some(why) = loop_in_use(&name, dev) {
                return Err(CopyError::DestinationBusy {
                    destination: request.destination.clone(),
                    reason: format!(
                        "its bytes in {} are also /dev/{name}, and {why}: \
                         unmount it and detach it (`losetup -d /dev/{name}`) first",
                        extent.path.display()
                    ),
                });
            }
        }
    }
    for path in [&request.manifest, &request.previous_manifest]
        .into_iter()
        .flatten()
    {
        check_manifest_path(path, &[("source", &source), ("destination", &destination)])?;
    }
    Ok(())
}

/// Why a loop device is in use (mounted, or held by device-mapper, swap or
/// an exclusive opener), if it is: the kernel refuses an exclusive open of
/// a claimed block device, the same test the copy's own exclusive open of
/// its destination makes. One that cannot be tested (no device node of its
/// number in /dev) counts as in use.
fn loop_in_use(name: &str, dev: DevNo) -> Option<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let node = Path::new("/dev").join(name);
    let is_node = std::fs::metadata(&node).is_ok_and(|m| {
        m.file_type().is_block_device()
            && rustix::fs::major(m.rdev()) == dev.major
            && rustix::fs::minor(m.rdev()) == dev.minor
    });
    if !is_node {
        return Some(format!(
            "there is no device node of its number ({dev}) to check whether it is in use"
        ));
    }
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::EXCL.bits() as i32)
        .open(&node)
    {
        Ok(_) => None,
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) => {
            Some(format!(
                "it is in use (mounted, swap, or held by device-mapper or a program; \
                 `findmnt {}` and `ls /sys/class/block/{name}/holders` show by what)",
                node.display()
            ))
        }
        Err(e) => Some(format!("cannot check whether it is in use: {e}")),
    }
}

/// A manifest is replaced by renaming a new file over its path: that path
/// must not be (a link to) the source, the destination, a device node or a
/// file behind one of them, or the rename would replace it.
fn check_manifest_path(path: &Path, endpoints: &[(&str, &Footprint)]) -> Result<(), CopyError> {
    let refuse = |reason: String| CopyError::ManifestPath {
        path: path.to_path_buf(),
        reason,
    };
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(refuse(format!("cannot inspect it: {e}"))),
    };
    if !metadata.is_file() {
        return Err(refuse(format!(
            "it is {}, and a manifest is only ever a regular file \
             (saving one replaces whatever is at its path)",
            manifest::file_type_name(&metadata.file_type())
        )));
    }
    let id = FileId {
        dev: metadata.dev(),
        ino: metadata.ino(),
    };
    for (role, footprint) in endpoints {
        if let Some(what) = alias::holds_file(footprint, id) {
            return Err(refuse(format!(
                "it is the {role}'s file {what}, and saving the manifest would replace it"
            )));
        }
    }
    Ok(())
}

/// What re-reading a sample of the destination found.
#[derive(Debug, Default)]
struct SpotCheck {
    chunks: u64,
    bytes: u64,
    elapsed: Duration,
    /// Why the previous manifest no longer describes the destination.
    mismatch: Option<String>,
}

/// The chunks a delta re-reads: all of them when there are at most
/// [`SPOT_CHECK_CHUNKS`], else the first, the last and a random sample of
/// the rest; sorted, distinct.
pub fn spot_check_sample(count: u64, seed: u64) -> Vec<u64> {
    if count <= SPOT_CHECK_CHUNKS {
        return (0..count).collect();
    }
    let mut picked = std::collections::BTreeSet::from([0, count - 1]);
    let mut x = seed | 1;
    while (picked.len() as u64) < SPOT_CHECK_CHUNKS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        picked.insert(x % count);
    }
    picked.into_iter().collect()
}

/// Re-reads a sample of the chunks the previous manifest vouches for and
/// compares them with its hashes: a destination changed behind snapplan's
/// back (written to, restored from elsewhere, half-overwritten by a
/// mistaken `dd`) must not make a delta skip what it no longer holds.
fn spot_check(
    dst: &mut Device,
    previous: &Manifest,
    chunking: Chunking,
    seed: u64,
    cancel: &AtomicBool,
) -> Result<SpotCheck, CopyError> {
    let started = Instant::now();
    let mut found = SpotCheck::default();
    // The chunks a delta could skip: a prefix, the last one only when the
    // old and new copies cut it alike.
    let mut trusted = (previous.chunks.len() as u64).min(chunking.count());
    if trusted > 0 && previous.hash_for(chunking, trusted - 1).is_none() {
        trusted -= 1;
    }
    let mut buf = AlignedBuf::new(chunking.chunk_size as usize);
    for index in spot_check_sample(trusted, seed) {
        // Stopped: the pipeline sees the flag before its first read and
        // ends the copy as interrupted, having written nothing.
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let (offset, len) = chunking.chunk(index);
        dst.read_chunk(offset, len as usize, &mut buf)?;
        found.chunks += 1;
        found.bytes += len;
        if Some(ChunkHash::of(buf.as_slice())) != previous.hash_for(chunking, index) {
            found.mismatch = Some(format!(
                "the destination changed since the previous copy: chunk {index} \
                 (bytes {offset}..{}) no longer holds what the manifest says",
                offset + len
            ));
            break;
        }
    }
    found.elapsed = started.elapsed();
    Ok(found)
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
