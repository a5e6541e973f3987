//! The copy as two threads joined by a bounded queue, so reading overlaps
//! hashing and writing:
//!
//! ```text
//! reader thread --chunk--> caller's thread: hash, compare, write, record
//!      ^                                 |
//!      +--------- free buffers ----------+
//! ```
//!
//! A fixed pool of aligned buffers circulates; the reader waits for a free
//! one, so memory stays bounded whatever the device size. A failing side
//! drops its queue ends and the other winds down on its own.
//!
//! Why not a third thread for hashing: xxh3 hashes a 4 MiB chunk in well
//! under a millisecond, less than a chunk's write, so it hides behind the
//! reader's next read anyway; a separate hasher measured no faster here and
//! caused ~5x more involuntary context switches on a busy 2-core machine
//! (see docs/performance.md).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use super::buffer::{AlignedBuf, round_up};
use super::device::Device;
use super::error::CopyError;
use super::manifest::{ChunkHash, Chunking, Manifest};
use super::report::StageTimes;
use super::throttle::{SystemClock, ThrottleSwitch, TokenBucket};

/// What the source check sees after each chunk is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRead {
    pub index: u64,
    pub offset: u64,
    pub len: u64,
    /// True for the last chunk: the check after it is the one that says the
    /// whole source was read while still valid.
    pub last: bool,
}

/// Called after each chunk is read; an `Err(reason)` stops the copy.
pub type SourceCheck<'a> = dyn Fn(&ChunkRead) -> Result<(), String> + Sync + 'a;

/// Memory in flight, whatever the chunk size (at least 3 buffers: one
/// being read, one being written, one queued).
const POOL_BYTES: u64 = 16 << 20;

pub fn pool_size(chunk_size: u64) -> usize {
    (POOL_BYTES / chunk_size).clamp(3, 8) as usize
}

/// One chunk travelling down the pipeline.
pub struct Chunk {
    pub index: u64,
    pub offset: u64,
    pub buf: AlignedBuf,
}

/// How the reader ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// Every chunk was read.
    Complete,
    /// The cancel flag was seen before reading the chunk at `offset`.
    Cancelled { offset: u64 },
    /// A later stage stopped taking chunks (it reports its own error).
    Downstream,
}

/// How the reader stage reads.
pub struct ReadOptions<'a> {
    pub chunking: Chunking,
    pub bytes_per_second: Option<u64>,
    pub cancel: &'a AtomicBool,
    pub check: Option<&'a SourceCheck<'a>>,
    /// Lifts the throttle at run time and measures the unthrottled rate.
    pub switch: Option<&'a ThrottleSwitch>,
}

pub struct ReadOutcome {
    pub end: ReadEnd,
    pub busy: Duration,
    pub throttled: Duration,
}

/// Reads every chunk in order into buffers from `free`, sending them to
/// `out`; with `skip`, not the chunks it says (unchanged since the previous
/// copy, or zeros in the source).
pub fn read_stage(
    device: &mut Device,
    opts: &ReadOptions<'_>,
    skip: Option<&(dyn Fn(u64) -> bool + Sync)>,
    free: Receiver<AlignedBuf>,
    out: SyncSender<Chunk>,
) -> Result<ReadOutcome, CopyError> {
    let chunking = opts.chunking;
    let mut throttle = opts
        .bytes_per_second
        .map(|rate| TokenBucket::new(SystemClock::new(), rate, chunking.chunk_size));
    let mut outcome = ReadOutcome {
        end: ReadEnd::Complete,
        busy: Duration::ZERO,
        throttled: Duration::ZERO,
    };
    let cancelled = || opts.cancel.load(Ordering::Relaxed);
    let lifted = || opts.switch.is_some_and(ThrottleSwitch::is_lifted);
    for index in 0..chunking.count() {
        if skip.is_some_and(|skip| skip(index)) {
            continue;
        }
        let (offset, len) = chunking.chunk(index);
        if lifted() {
            throttle = None;
        }
        if let Some(bucket) = throttle.as_mut() {
            let start = Instant::now();
            // A lift ends the wait at once: with 4 MiB chunks at a low rate
            // one wait is seconds, which a snapshot about to overflow has not.
            let allowed =
                bucket.acquire(len, Duration::from_millis(100), || cancelled() || lifted());
            outcome.throttled += start.elapsed();
            if !allowed && cancelled() {
                outcome.end = ReadEnd::Cancelled { offset };
                return Ok(outcome);
            }
            if !allowed {
                throttle = None;
            }
        }
        if cancelled() {
            outcome.end = ReadEnd::Cancelled { offset };
            return Ok(outcome);
        }
        let Ok(mut buf) = free.recv() else {
            outcome.end = ReadEnd::Downstream;
            return Ok(outcome);
        };
        let start = Instant::now();
        device.read_chunk(offset, len as usize, &mut buf)?;
        outcome.busy += start.elapsed();
        if let Some(switch) = opts.switch {
            switch.record(len, start.elapsed());
        }
        if let Some(check) = opts.check {
            let read = ChunkRead {
                index,
                offset,
                len,
                last: index + 1 == chunking.count(),
            };
            check(&read).map_err(|reason| CopyError::SourceCheck {
                path: device.path().to_path_buf(),
                offset: offset + len,
                reason,
            })?;
        }
        if out.send(Chunk { index, offset, buf }).is_err() {
            outcome.end = ReadEnd::Downstream;
            return Ok(outcome);
        }
    }
    Ok(outcome)
}

/// Fills a pool of `count` buffers big enough for one chunk each.
pub fn buffer_pool(
    chunk_size: u64,
    count: usize,
) -> (SyncSender<AlignedBuf>, Receiver<AlignedBuf>) {
    let (tx, rx) = sync_channel(count);
    for _ in 0..count {
        tx.send(AlignedBuf::new(round_up(chunk_size as usize)))
            .expect("the pool has room for every buffer");
    }
    (tx, rx)
}

/// One chunk done: hashed, and written unless the previous manifest
/// already had this hash for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    pub index: u64,
    pub len: u64,
    pub hash: ChunkHash,
    pub written: bool,
    /// False for a chunk known unchanged (outside the changed ranges): its
    /// hash is the previous manifest's, and the source was not read.
    pub read: bool,
    /// A chunk the source holds no data in (unmapped in a thin snapshot):
    /// not read, hashed and written as zeros.
    pub unmapped: bool,
}

/// Why a chunk is not read from the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Unchanged since the copy the previous manifest describes.
    Kept(ChunkHash),
    /// It reads as zeros (unmapped blocks of a thin device).
    Zeros,
}

pub struct CopyOptions<'a> {
    pub read: ReadOptions<'a>,
    /// A trusted manifest of what the destination holds now.
    pub previous: Option<&'a Manifest>,
    /// No `previous`, and the destination reads as zeros where nothing was
    /// written (a new thin LV): a chunk of zeros is not written.
    pub zeroed: bool,
    /// Per chunk, whether it may have changed since the copy `previous`
    /// describes (`None`: every chunk may have). Chunks marked false keep
    /// their previous hash and are neither read nor written.
    pub touched: Option<&'a [bool]>,
    /// Per chunk, whether the source holds no data in it (a thin device's
    /// unmapped blocks read as zeros): such a chunk is not read, its hash is
    /// that of zeros, and it is written (as zeros) unless the previous
    /// manifest has that hash for it.
    pub unmapped: Option<&'a [bool]>,
}

impl CopyOptions<'_> {
    /// Whether, and why, the reader leaves chunk `index` alone.
    pub fn skip(&self, index: u64) -> Option<Skip> {
        if let Some(hash) = self.kept(index) {
            return Some(Skip::Kept(hash));
        }
        let unmapped = self.unmapped?;
        unmapped
            .get(index as usize)
            .copied()
            .unwrap_or(false)
            .then_some(Skip::Zeros)
    }

    /// Whether the destination already holds chunk `index` with `hash`:
    /// the previous manifest says so, or the destination reads as zeros
    /// and so does the chunk.
    fn holds(&self, index: u64, hash: ChunkHash, data: &[u8]) -> bool {
        match self.previous {
            Some(m) => m.hash_for(self.read.chunking, index) == Some(hash),
            None => self.zeroed && data.iter().all(|&b| b == 0),
        }
    }

    /// The previous hash of a chunk that is neither read nor written.
    pub fn kept(&self, index: u64) -> Option<ChunkHash> {
        let touched = self.touched?;
        if *touched.get(index as usize)? {
            return None;
        }
        self.previous?.hash_for(self.read.chunking, index)
    }
}

pub struct PipelineOutcome {
    pub end: ReadEnd,
    pub stages: StageTimes,
}

/// Copies `src` to `dst` chunk by chunk, calling `on_done` in the caller's
/// thread, in chunk order, as chunks complete.
pub fn copy(
    src: &mut Device,
    dst: &mut Device,
    opts: &CopyOptions<'_>,
    mut on_done: impl FnMut(Done),
) -> Result<PipelineOutcome, CopyError> {
    let chunking = opts.read.chunking;
    let buffers = pool_size(chunking.chunk_size);
    let (free_tx, free_rx) = buffer_pool(chunking.chunk_size, buffers);
    let (read_tx, read_rx) = sync_channel::<Chunk>(buffers);
    let skip_fn = |index| opts.skip(index).is_some();
    let skip: Option<&(dyn Fn(u64) -> bool + Sync)> = (opts.touched.is_some()
        || opts.unmapped.is_some())
    .then_some(&skip_fn as &(dyn Fn(u64) -> bool + Sync));
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_stage(src, &opts.read, skip, free_rx, read_tx));
        // Consumes (and so, returning early, drops) the queue ends: a
        // failed write stops the reader instead of leaving it blocked.
        let written = hash_and_write(dst, opts, read_rx, free_tx, &mut on_done);
        let read = join(reader)?;
        let (hash, write) = written?;
        Ok(PipelineOutcome {
            end: read.end,
            stages: StageTimes {
                read: read.busy,
                hash,
                write,
                sync: Duration::ZERO,
                throttle: read.throttled,
                spot_check: Duration::ZERO,
            },
        })
    })
}

/// The caller's side: hash each chunk, write it unless the previous
/// manifest has the same hash for it, hand the buffer back, report it.
/// Returns the time spent hashing and writing.
fn hash_and_write(
    dst: &mut Device,
    opts: &CopyOptions<'_>,
    chunks: Receiver<Chunk>,
    free: SyncSender<AlignedBuf>,
    on_done: &mut impl FnMut(Done),
) -> Result<(Duration, Duration), CopyError> {
    let chunking = opts.read.chunking;
    let (mut hash_busy, mut write_busy) = (Duration::ZERO, Duration::ZERO);
    let mut chunks = chunks.into_iter();
    let mut next = 0;
    // Written where the source holds zeros; made at the first such chunk.
    let mut zeros: Option<AlignedBuf> = None;
    loop {
        // The chunks the reader skips, in their place in the order.
        while let Some(skip) = opts.skip(next) {
            let (offset, len) = chunking.chunk(next);
            let done = match skip {
                Skip::Kept(hash) => Done {
                    index: next,
                    len,
                    hash,
                    written: false,
                    read: false,
                    unmapped: false,
                },
                Skip::Zeros => {
                    let buf = zeros.get_or_insert_with(|| {
                        let mut buf = AlignedBuf::new(round_up(chunking.chunk_size as usize));
                        buf.set_len(chunking.chunk_size as usize);
                        buf
                    });
                    let data = &buf.as_slice()[..len as usize];
                    let start = Instant::now();
                    let hash = ChunkHash::of(data);
                    hash_busy += start.elapsed();
                    let unchanged = opts.holds(next, hash, data);
                    if !unchanged {
                        let start = Instant::now();
                        dst.write_chunk(offset, data)?;
                        write_busy += start.elapsed();
                    }
                    Done {
                        index: next,
                        len,
                        hash,
                        written: !unchanged,
                        read: false,
                        unmapped: true,
                    }
                }
            };
            on_done(done);
            next += 1;
        }
        let Some(chunk) = chunks.next() else {
            break;
        };
        next = chunk.index + 1;
        let start = Instant::now();
        let hash = ChunkHash::of(chunk.buf.as_slice());
        hash_busy += start.elapsed();
        let unchanged = opts.holds(chunk.index, hash, chunk.buf.as_slice());
        if !unchanged {
            let start = Instant::now();
            dst.write_chunk(chunk.offset, chunk.buf.as_slice())?;
            write_busy += start.elapsed();
        }
        let done = Done {
            index: chunk.index,
            len: chunk.buf.as_slice().len() as u64,
            hash,
            written: !unchanged,
            read: true,
            unmapped: false,
        };
        let _ = free.send(chunk.buf);
        on_done(done);
    }
    Ok((hash_busy, write_busy))
}

/// Joins a stage, passing a panic on to the caller.
pub fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
