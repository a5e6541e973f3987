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
  snapplan verify /etc/snapplan/home-server.yaml --volume root --generation 20261202T031500Z
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
    /// With PLAN: check this generation (`snapplan generations PLAN` lists
    /// them; needs --volume). Default: the newest (of a pool target, the
    /// newest complete one).
    #[arg(long, value_name = "ID", requires = "volume", conflicts_with_all = ["manifest", "all"])]
    pub generation: Option<String>,
    /// With PLAN: check every generation (a thick target has one per
    /// volume; of a pool target, every complete one).
    #[arg(long, conflicts_with = "manifest")]
    pub all: bool,
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
        let generations = match (&args.generation, args.all) {
            (Some(id), _) => crate::verify::Generations::Id(id),
            (None, true) => crate::verify::Generations::All,
            (None, false) => crate::verify::Generations::Newest,
        };
        return verify_plan(
            &plan,
            args.volume.as_deref(),
            generations,
            args.progress.into(),
        );
    };
    let cancel = super::copy::stop_on_signals()?;
    let manifest = match Manifest::load(&manifest_path) {
        Ok(m) => m,
        Err(e) => {
            crate::output::diagnostic(&miette::miette!("{e}"));
            return Ok(ExitCode::Failed);
        }
    };
    let device = args
        .path
        .unwrap_or_else(|| manifest.destination.path.clone());
    if std::path::absolute(&device).ok().as_ref() != Some(&manifest.destination.path) {
        crate::errln!(
            "note: checking {} against a manifest of a copy to {}",
            device.display(),
            manifest.destination.path.display()
        );
    }
    let sink = progress::sink_for(args.progress.into());
    match verify::verify(&manifest, &device, &cancel, sink.as_ref()) {
        Ok(report) => {
            for note in &report.notes {
                crate::errln!("note: {note}");
            }
            crate::errln!("{}", report.summary());
            Ok(if report.mismatches.is_empty() {
                ExitCode::Success
            } else {
                ExitCode::Failed
            })
        }
        Err(CopyError::Interrupted { offset }) => {
            crate::errln!(
                "verify interrupted at offset {offset}: {} not fully checked",
                device.display()
            );
            Ok(ExitCode::Interrupted)
        }
        Err(e) => {
            crate::output::diagnostic(&miette::miette!("{e}"));
            Ok(ExitCode::Failed)
        }
    }
}

/// One line per volume on stdout as it is checked; exit 1 if any fails.
fn verify_plan(
    path: &std::path::Path,
    only: Option<&str>,
    generations: crate::verify::Generations<'_>,
    mode: ProgressMode,
) -> super::Result {
    let plan = super::load_plan(path)?;
    let cancel = super::copy::stop_on_signals()?;
    let sys = crate::system::RealSystem::new();
    let verified = match crate::verify::verify_plan(
        &plan,
        &sys,
        only,
        generations,
        &cancel,
        &|| progress::sink_for(mode),
        &mut |volume, verdict| match verdict {
            Verdict::Ok { device } => {
                crate::outln!("{volume}: OK ({} matches its manifest)", device.display())
            }
            Verdict::Failed(why) => crate::outln!("{volume}: FAILED: {why}"),
            Verdict::Interrupted => crate::outln!("{volume}: interrupted"),
        },
    ) {
        Ok(verified) => verified,
        Err(unknown) => return Err(super::ExpectedError::Usage(unknown.to_string())),
    };
    for problem in &verified.restore_failures {
        crate::errln!("error: could not put the backup VG back as it was: {problem}");
    }
    if verified.exit_code() == ExitCode::Failed {
        crate::errln!("verify: FAILED for {}", verified.failed.join(", "));
    }
    Ok(verified.exit_code())
}
