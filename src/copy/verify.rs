//! Verification: re-read a destination with O_DIRECT (so the page cache
//! cannot answer for the disk) and compare every chunk's hash with the
//! manifest. Needs only the manifest, not the source: a backup stays
//! checkable after the snapshot is gone.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use super::device::Device;
use super::error::CopyError;
use super::manifest::{ChunkHash, Manifest};
use super::pipeline::{self, Chunk, ReadEnd, ReadOptions};
use super::progress::{Phase, ProgressSink, ProgressUpdate};
use super::report::{VerifyReport, push_merged};

/// Why a manifest cannot be verified against at all.
pub fn unverifiable(manifest: &Manifest) -> Option<String> {
    (!manifest.completed).then(|| {
        format!(
            "the manifest is incomplete (the copy to {} did not finish): there is nothing to verify against",
            manifest.destination.path.display()
        )
    })
}

/// Re-reads `device` and compares it chunk by chunk with `manifest`.
/// Mismatches are reported, not returned as errors; an incomplete
/// manifest or a device smaller than the copy is an error.
pub fn verify(
    manifest: &Manifest,
    device: &Path,
    cancel: &AtomicBool,
    progress: &dyn ProgressSink,
) -> Result<VerifyReport, CopyError> {
    if let Some(reason) = unverifiable(manifest) {
        return Err(CopyError::Manifest(super::error::ManifestError::Invalid {
            path: device.to_path_buf(),
            reason,
        }));
    }
    let mut dev = Device::open_read(device)?;
    let chunking = manifest.chunking();
    if dev.size() < manifest.size {
        return Err(CopyError::UnexpectedEnd {
            path: device.to_path_buf(),
            offset: dev.size(),
            expected: manifest.size,
        });
    }
    let started = Instant::now();
    let buffers = pipeline::pool_size(chunking.chunk_size);
    let (free_tx, free_rx) = pipeline::buffer_pool(chunking.chunk_size, buffers);
    let (read_tx, read_rx) = sync_channel::<Chunk>(buffers);
    let opts = ReadOptions {
        chunking,
        bytes_per_second: None,
        cancel,
        check: None,
        switch: None,
    };
    let mut report = VerifyReport {
        device: device.to_path_buf(),
        bytes_checked: 0,
        mismatches: Vec::new(),
        elapsed: Duration::ZERO,
        read_busy: Duration::ZERO,
        hash_busy: Duration::ZERO,
        notes: Vec::new(),
    };
    let outcome = std::thread::scope(|scope| {
        let reader = scope.spawn(|| pipeline::read_stage(&mut dev, &opts, None, free_rx, read_tx));
        for chunk in read_rx {
            let start = Instant::now();
            let hash = ChunkHash::of(chunk.buf.as_slice());
            report.hash_busy += start.elapsed();
            let len = chunk.buf.as_slice().len() as u64;
            if manifest.chunks[chunk.index as usize] != hash {
                push_merged(&mut report.mismatches, chunk.offset..chunk.offset + len);
            }
            report.bytes_checked += len;
            let _ = free_tx.send(chunk.buf);
            progress.update(&ProgressUpdate {
                phase: Phase::Verify,
                done: report.bytes_checked,
                total: manifest.size,
                written: 0,
                skipped: 0,
                elapsed: started.elapsed(),
            });
        }
        pipeline::join(reader)
    })?;
    report.read_busy = outcome.busy;
    report.elapsed = started.elapsed();
    report.notes.extend(dev.note().map(str::to_string));
    progress.finish(&ProgressUpdate {
        phase: Phase::Verify,
        done: report.bytes_checked,
        total: manifest.size,
        written: 0,
        skipped: 0,
        elapsed: report.elapsed,
    });
    match outcome.end {
        ReadEnd::Complete => Ok(report),
        ReadEnd::Cancelled { .. } | ReadEnd::Downstream => Err(CopyError::Interrupted {
            offset: report.bytes_checked,
        }),
    }
}
