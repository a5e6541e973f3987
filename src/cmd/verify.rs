//! `snapplan verify --manifest FILE [DEVICE]`: re-read a backup and compare
//! it with the manifest of the copy that wrote it, without the source.
//!
//! Apply will add `snapplan verify PLAN` here: the `what` group then holds
//! a PLAN positional beside `--manifest`.

use std::path::PathBuf;

use crate::ExitCode;
use crate::copy::progress::{self, ProgressMode};
use crate::copy::{CopyError, Manifest, verify};

const AFTER_HELP: &str = "\
Examples:
  snapplan verify --manifest /var/lib/snapplan/home-server/manifests/root.json
  snapplan verify --manifest backup.json /mnt/usb/disk.img

Exit codes: 0 every chunk matches, 1 a mismatch or an unreadable manifest or device.";

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["manifest"]))]
pub struct Args {
    /// Manifest written by `snapplan copy --manifest` (or by apply).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Device or file to check (default: the destination the manifest names).
    #[arg(value_name = "DEVICE", requires = "manifest")]
    pub device: Option<PathBuf>,
    /// Progress: a bar on a terminal, plain lines every ~10 s otherwise.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

pub fn run(args: Args) -> super::Result {
    let Some(manifest_path) = args.manifest else {
        return Err(miette::miette!("give --manifest FILE"));
    };
    let cancel = super::copy::stop_on_signals()?;
    let manifest = match Manifest::load(&manifest_path) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{:?}", miette::miette!("{e}"));
            return Ok(ExitCode::Failed);
        }
    };
    let device = args
        .device
        .unwrap_or_else(|| manifest.destination.path.clone());
    if std::path::absolute(&device).ok().as_ref() != Some(&manifest.destination.path) {
        eprintln!(
            "note: checking {} against a manifest of a copy to {}",
            device.display(),
            manifest.destination.path.display()
        );
    }
    let sink = progress::sink_for(args.progress);
    match verify::verify(&manifest, &device, &cancel, sink.as_ref()) {
        Ok(report) => {
            for note in &report.notes {
                eprintln!("note: {note}");
            }
            eprintln!("{}", report.summary());
            Ok(if report.mismatches.is_empty() {
                ExitCode::Success
            } else {
                ExitCode::Failed
            })
        }
        Err(CopyError::Interrupted { offset }) => {
            eprintln!(
                "verify interrupted at offset {offset}: {} not fully checked",
                device.display()
            );
            Ok(ExitCode::Interrupted)
        }
        Err(e) => {
            eprintln!("{:?}", miette::miette!("{e}"));
            Ok(ExitCode::Failed)
        }
    }
}
