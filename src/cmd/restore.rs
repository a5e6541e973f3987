//! `snapplan restore PLAN VOLUME --to DEVICE [--yes]`: copy a complete
//! backup back, checked against its manifest before and after (see
//! docs/restore.md and `crate::restore`).

use std::path::PathBuf;

use crate::ExitCode;
use crate::copy::progress;
use crate::human;
use crate::restore::{self, Source};
use crate::system::RealSystem;

const AFTER_HELP: &str = "\
DEVICE is overwritten from its first byte on. Stop what uses it and unmount
it first; restore refuses a mounted or otherwise held DEVICE, an incomplete
backup, and a DEVICE smaller than the backup. Then fsck the filesystem.

Examples:
  snapplan restore /etc/snapplan/home-server.yaml home --to /dev/vg0/home
  snapplan restore /etc/snapplan/home-server.yaml home --to /dev/vg0/home-test --yes
  snapplan restore /etc/snapplan/home-server.yaml home --generation 20261202T031500Z --to /dev/vg0/home";

#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit_code::command_help(AFTER_HELP, crate::exit_code::RESTORE))]
pub struct Args {
    /// The plan that made the backup.
    pub plan: PathBuf,
    /// The volume to restore (its name in the plan).
    pub volume: String,
    /// The block device (or file) to restore onto: the origin LV or another.
    #[arg(long, value_name = "DEVICE")]
    pub to: PathBuf,
    /// Read the backup from PATH instead of the plan's backup LV (an image
    /// of it, or the LV under another name). The LVM state tags are not
    /// checked then; the manifest check still is.
    #[arg(long, value_name = "PATH")]
    pub from: Option<PathBuf>,
    /// The generation to restore (`snapplan generations PLAN` lists them);
    /// default: the newest complete one. A thick target has one.
    #[arg(long, value_name = "ID")]
    pub generation: Option<String>,
    /// Overwrite DEVICE without asking (needed when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Progress: a bar on a terminal, plain lines every ~10 s otherwise.
    #[arg(long, value_enum, default_value_t = super::ProgressArg::Auto)]
    pub progress: super::ProgressArg,
}

pub fn run(args: Args) -> super::Result {
    let plan = super::load_plan(&args.plan)?;
    // A run of the plan rewrites the backup: not while it is read.
    let _lock = super::lock(&plan, "wait for it to end; nothing was done")?;
    let sys;
    let source = match &args.from {
        Some(path) => Source::Path(path.clone()),
        None => {
            sys = RealSystem::new();
            if let Err(e) = sys.lvm() {
                return Err(super::ExpectedError::Failed(format!(
                    "{e}: cannot check the backup LV's state; nothing was done"
                )));
            }
            Source::BackupLv(&sys)
        }
    };
    let prepared = restore::prepare(
        &plan,
        &args.volume,
        args.generation.as_deref(),
        &args.to,
        &source,
    )?;
    crate::errln!(
        "restore volume {} of plan {}: {} -> {} ({} of {}), backup of {}",
        prepared.volume,
        plan.name,
        prepared.backup.display(),
        prepared.destination.display(),
        human::bytes(prepared.manifest.size),
        human::bytes(prepared.destination_size),
        crate::state::time::utc(
            prepared
                .manifest
                .finished_at
                .unwrap_or(prepared.manifest.started_at)
        ),
    );
    if !args.yes {
        super::confirm(
            &format!(
                "restore OVERWRITES everything on {}",
                prepared.destination.display()
            ),
            "nothing was written",
        )?;
    }
    let cancel = super::copy::stop_on_signals()?;
    let sink = progress::sink_for(args.progress.into());
    let done = restore::execute(&prepared, &cancel, sink.as_ref())?;
    for note in &done.notes {
        crate::errln!("note: {note}");
    }
    crate::outln!(
        "restored {} onto {}: {} in {}, verified against {}",
        prepared.volume,
        prepared.destination.display(),
        human::bytes(done.bytes),
        progress::format_duration(done.elapsed),
        prepared.manifest_path.display()
    );
    Ok(ExitCode::Success)
}
