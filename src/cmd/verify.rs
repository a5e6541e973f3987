//! `snapplan verify --manifest FILE [DEVICE]`: re-read a backup and compare
//! it with the manifest of the copy that wrote it, without the source.
//! `snapplan verify PLAN [--volume NAME]`: the same for every backup LV of a
//! plan, against the manifests apply keeps, naming each volume that fails.

use std::path::PathBuf;

use crate::ExitCode;
use crate::copy::progress::{self, ProgressMode};
use crate::copy::{CopyError, Manifest, verify};
use crate::verify::Verdict;

const AFTER_HELP: &str = "\
Examples:
  snapplan verify /etc/snapplan/home-server.yaml
  snapplan verify /etc/snapplan/home-server.yaml --volume root
  snapplan verify --manifest /var/lib/snapplan/home-server/manifests/root.json
  snapplan verify --manifest backup.json /mnt/usb/disk.img";

#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit_code::command_help(AFTER_HELP, crate::exit_code::VERIFY))]
#[command(group = clap::ArgGroup::new("what").required(true).multiple(true).args(["manifest", "path"]))]
pub struct Args {
    /// Manifest written by `snapplan copy --manifest` (or by apply).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Without --manifest: the PLAN whose backups to check. With it: the
    /// DEVICE or file to check (default: the destination the manifest names).
    #[arg(value_name = "PLAN|DEVICE")]
    pub path: Option<PathBuf>,
    /// With PLAN: check only this volume (its name in the plan).
    #[arg(long, value_name = "NAME", conflicts_with = "manifest")]
    pub volume: Option<String>,
    /// Progress: a bar on a terminal, plain lines every ~10 s otherwise.
    #[arg(long, value_enum, default_value_t = super::ProgressArg::Auto)]
    pub progress: super::ProgressArg,
}

pub fn run(args: Args) -> super::Result {
    let Some(manifest_path) = args.manifest else {
        let Some(plan) = args.path else {
            return Err(super::ExpectedError::Usage(
                "give PLAN or --manifest FILE".into(),
            ));
        };
        return verify_plan(&plan, args.volume.as_deref(), args.progress.into());
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
        .path
        .unwrap_or_else(|| manifest.destination.path.clone());
    if std::path::absolute(&device).ok().as_ref() != Some(&manifest.destination.path) {
        eprintln!(
            "note: checking {} against a manifest of a copy to {}",
            device.display(),
            manifest.destination.path.display()
        );
    }
    let sink = progress::sink_for(args.progress.into());
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

/// One line per volume on stdout as it is checked; exit 1 if any fails.
fn verify_plan(path: &std::path::Path, only: Option<&str>, mode: ProgressMode) -> super::Result {
    let plan = super::load_plan(path)?;
    let cancel = super::copy::stop_on_signals()?;
    let sys = crate::system::RealSystem::new();
    let verified = match crate::verify::verify_plan(
        &plan,
        &sys,
        only,
        &cancel,
        &|| progress::sink_for(mode),
        &mut |volume, verdict| match verdict {
            Verdict::Ok { device } => {
                println!("{volume}: OK ({} matches its manifest)", device.display())
            }
            Verdict::Failed(why) => println!("{volume}: FAILED: {why}"),
            Verdict::Interrupted => println!("{volume}: interrupted"),
        },
    ) {
        Ok(verified) => verified,
        Err(unknown) => return Err(super::ExpectedError::Usage(unknown.to_string())),
    };
    for problem in &verified.restore_failures {
        eprintln!("error: could not put the backup VG back as it was: {problem}");
    }
    if verified.exit_code() == ExitCode::Failed {
        eprintln!("verify: FAILED for {}", verified.failed.join(", "));
    }
    Ok(verified.exit_code())
}
