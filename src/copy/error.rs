//! What can go wrong in a copy or a verification. Every message names the
//! path, and the byte offset when there is one, so an admin reading a cron
//! mail knows which device failed where.

use std::io;
use std::ops::Range;
use std::path::PathBuf;

use super::report::CopyReport;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("cannot open {path}: {source}")]
    Open { path: PathBuf, source: io::Error },

    #[error("{path} is neither a block device nor a regular file")]
    NotADevice { path: PathBuf },

    #[error("cannot find the size of {path}: {source}")]
    Size { path: PathBuf, source: io::Error },

    #[error("cannot read {path} at offset {offset}: {source}")]
    Read {
        path: PathBuf,
        offset: u64,
        source: io::Error,
    },

    #[error("{path} ended at offset {offset}, before its size of {expected} bytes: did it shrink?")]
    UnexpectedEnd {
        path: PathBuf,
        offset: u64,
        expected: u64,
    },

    #[error("cannot write {path} at offset {offset}: {source}")]
    Write {
        path: PathBuf,
        offset: u64,
        source: io::Error,
    },

    #[error("cannot flush {path} to stable storage (fdatasync): {source}")]
    Sync { path: PathBuf, source: io::Error },

    #[error(
        "destination {} ({destination_size} bytes) is smaller than source {} \
         ({source_size} bytes); nothing was written: extend the destination first",
        destination.display(), source_path.display()
    )]
    DestinationTooSmall {
        source_path: PathBuf,
        source_size: u64,
        destination: PathBuf,
        destination_size: u64,
    },

    #[error(
        "source and destination are the same ({} and {}); nothing was written",
        source_path.display(), destination.display()
    )]
    SameDevice {
        source_path: PathBuf,
        destination: PathBuf,
    },

    #[error(
        "{} and {} overlap: {reason}; nothing was written",
        source_path.display(), destination.display()
    )]
    Aliased {
        source_path: PathBuf,
        destination: PathBuf,
        reason: String,
    },

    #[error("{}: {reason}; nothing was written", destination.display())]
    DestinationBusy {
        destination: PathBuf,
        reason: String,
    },

    #[error("refusing manifest path {}: {reason}; nothing was written", path.display())]
    ManifestPath { path: PathBuf, reason: String },

    #[error(
        "{size} bytes in chunks of {chunk_size} is {count} chunks, more than the {} a manifest \
         may hold: use a larger chunk size",
        super::manifest::MAX_CHUNKS
    )]
    TooManyChunks {
        size: u64,
        chunk_size: u64,
        count: u64,
    },

    #[error(
        "chunk size {0} is not allowed: use a multiple of 4KiB between 64KiB and 64MiB (e.g. 4MiB)"
    )]
    ChunkSize(u64),

    #[error("the source check failed after reading {path} up to offset {offset}: {reason}")]
    SourceCheck {
        path: PathBuf,
        offset: u64,
        reason: String,
    },

    #[error("interrupted at offset {offset}")]
    Interrupted { offset: u64 },

    #[error(
        "verification of {destination} found {} mismatching byte range(s), first at {}",
        mismatches.len(),
        fmt_range(mismatches.first())
    )]
    Mismatch {
        destination: PathBuf,
        mismatches: Vec<Range<u64>>,
        report: Box<CopyReport>,
    },

    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

fn fmt_range(range: Option<&Range<u64>>) -> String {
    range.map_or_else(String::new, |r| format!("{}..{}", r.start, r.end))
}

impl CopyError {
    /// True when the request itself was wrong and nothing was touched:
    /// the command line maps these to the usage exit code.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            CopyError::NotADevice { .. }
                | CopyError::DestinationTooSmall { .. }
                | CopyError::SameDevice { .. }
                | CopyError::Aliased { .. }
                | CopyError::ManifestPath { .. }
                | CopyError::TooManyChunks { .. }
                | CopyError::ChunkSize(_)
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}: {source}")]
    Read { path: PathBuf, source: io::Error },

    #[error("manifest {path} is not a snapplan copy manifest: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },

    #[error("manifest {path} is inconsistent: {reason}")]
    Invalid { path: PathBuf, reason: String },

    #[error(
        "manifest {path} is {what}, not a regular file: refusing to read it \
         (a manifest is only ever a regular file snapplan wrote; remove what is there)"
    )]
    NotRegular { path: PathBuf, what: String },

    #[error(
        "manifest {path} is {size} bytes, more than the {} a manifest may be: \
         it is not one snapplan wrote",
        super::manifest::MAX_MANIFEST_BYTES
    )]
    TooLarge { path: PathBuf, size: u64 },

    #[error("cannot write manifest {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}
