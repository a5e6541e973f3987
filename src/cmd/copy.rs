//! `snapplan copy SRC DST`: the copy engine on its own, for a one-off copy
//! and for measuring it (`cargo xtask bench`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::ExitCode;
use crate::copy::progress;
use crate::copy::{self, CopyControl, CopyError, CopyRequest};
use crate::plan::{Bandwidth, units};

const AFTER_HELP: &str = "\
The first copy with --manifest writes every chunk; the next one to the same
DST reads that manifest and writes only the chunks whose hash changed. The
manifest is marked incomplete before DST is touched, so an interrupted copy
is never trusted by a later one.

Examples:
  snapplan copy /dev/vg0/home-snap /dev/backup/home --manifest /var/lib/snapplan/home.json --verify
  snapplan copy --bandwidth 60MiB/s disk.img /mnt/usb/disk.img";

/// A rate limit from the command line: `60MiB/s` or `unlimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(pub Option<u64>);

fn parse_rate(text: &str) -> Result<Rate, String> {
    match units::parse_rate(text).map_err(|e| e.to_string())? {
        Bandwidth::Unlimited => Ok(Rate(None)),
        Bandwidth::BytesPerSecond(n) => Ok(Rate(Some(n))),
    }
}

fn parse_chunk(text: &str) -> Result<u64, String> {
    let size = units::parse_byte_size(text).map_err(|e| e.to_string())?;
    copy::check_chunk_size(size).map_err(|e| e.to_string())?;
    Ok(size)
}

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// Block device or file to read (e.g. a snapshot).
    #[arg(value_name = "SRC")]
    pub source: PathBuf,
    /// Block device or file to write: it must exist and be at least as large as SRC.
    #[arg(value_name = "DST")]
    pub destination: PathBuf,
    /// Limit on bytes read per second, e.g. `60MiB/s`, or `unlimited`.
    #[arg(long, value_name = "RATE", default_value = "unlimited", value_parser = parse_rate)]
    pub bandwidth: Rate,
    /// Re-read DST afterwards (O_DIRECT) and compare every chunk with its hash.
    #[arg(long)]
    pub verify: bool,
    /// Manifest of chunk hashes: the previous one here (if complete and for
    /// this DST) makes this a delta copy; it is replaced atomically.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Take the previous copy's manifest from FILE instead of --manifest.
    #[arg(long, value_name = "FILE")]
    pub previous_manifest: Option<PathBuf>,
    /// Chunk size: the unit of hashing, skipping and verifying.
    #[arg(long, value_name = "SIZE", default_value = "4MiB", value_parser = parse_chunk)]
    pub chunk: u64,
    /// Progress: a bar on a terminal, plain lines every ~10 s otherwise.
    #[arg(long, value_enum, default_value_t = super::ProgressArg::Auto)]
    pub progress: super::ProgressArg,
}

pub fn run(args: Args) -> super::Result {
    let cancel = stop_on_signals()?;
    let request = CopyRequest {
        source: args.source,
        destination: args.destination,
        chunk_size: args.chunk,
        bytes_per_second: args.bandwidth.0,
        verify: args.verify,
        manifest: args.manifest,
        previous_manifest: args.previous_manifest,
        destination_tag: None,
        destination_snapshot_of: None,
        destination_zeroed: false,
        length: None,
        base: None,
        changed: None,
        mapped: None,
    };
    let sink = progress::sink_for(args.progress.into());
    let control = CopyControl {
        cancel: &cancel,
        progress: sink.as_ref(),
        source_check: None,
        throttle: None,
    };
    match copy::run(&request, &control) {
        Ok(report) => {
            for note in &report.notes {
                crate::errln!("note: {note}");
            }
            if let copy::DeltaBasis::Full { reason } = &report.delta
                && (request.manifest.is_some() || request.previous_manifest.is_some())
            {
                crate::errln!("full copy: {reason}");
            }
            crate::errln!("{}", report.summary());
            Ok(ExitCode::Success)
        }
        Err(error) => Ok(report_error(&error, request.manifest.as_deref())),
    }
}

/// Prints a failed copy and picks its exit code.
fn report_error(error: &CopyError, manifest: Option<&std::path::Path>) -> ExitCode {
    match error {
        CopyError::Interrupted { .. } => {
            let manifest = manifest.map_or_else(String::new, |m| {
                format!("; {} says incomplete", m.display())
            });
            crate::errln!("copy {error}{manifest}");
            ExitCode::Interrupted
        }
        CopyError::Mismatch { report, .. } => {
            if let Some(verify) = &report.verify {
                crate::errln!("{}", verify.summary());
            }
            crate::output::diagnostic(&miette::miette!("{error}"));
            ExitCode::Failed
        }
        _ => {
            crate::output::diagnostic(&miette::miette!("{error}"));
            if error.is_usage() {
                ExitCode::Usage
            } else {
                ExitCode::Failed
            }
        }
    }
}

/// A flag set by the first SIGINT or SIGTERM (the copy stops at the next
/// chunk boundary); a second one exits at once with 130 (the manifest
/// already says incomplete, so that is safe).
pub(crate) fn stop_on_signals() -> Result<Arc<AtomicBool>, super::ExpectedError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(
            signal,
            ExitCode::Interrupted.code().into(),
            Arc::clone(&flag),
        )
        .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&flag)))
        .map_err(super::ExpectedError::Signals)?;
    }
    Ok(flag)
}
