//! `snapplan verify --manifest FILE [DEVICE]`: re-read a backup and compare
//! it with the manifest of the copy that wrote it, without the source.
//! `snapplan verify PLAN [--volume NAME]`: the same for every backup LV of a
//! plan, against the manifests apply keeps, naming each volume that fails.

use std::path::PathBuf;

use crate::ExitCode;
use crate::copy::progress::{self, ProgressMode};
use crate::copy::{CopyError, Manifest, verify};

const AFTER_HELP: &str = "\
Examples:
  snapplan verify /etc/snapplan/home-server.yaml
  snapplan verify /etc/snapplan/home-server.yaml --volume root
  snapplan verify --manifest /var/lib/snapplan/home-server/manifests/root.json
  snapplan verify --manifest backup.json /mnt/usb/disk.img

Exit codes: 0 every chunk matches (every volume OK), 1 a mismatch or an unreadable
manifest or device (the failing volume is named).";

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
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
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

pub fn run(args: Args) -> super::Result {
    let Some(manifest_path) = args.manifest else {
        let Some(plan) = args.path else {
            return Err(miette::miette!("give PLAN or --manifest FILE"));
        };
        return verify_plan(&plan, args.volume.as_deref(), args.progress);
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
    let sink = progress::sink_for(args.progress);
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

/// Checks the backup LV of every volume (or of `only`) against the manifest
/// apply kept for it. One line per volume on stdout; exit 1 if any fails.
fn verify_plan(path: &std::path::Path, only: Option<&str>, mode: ProgressMode) -> super::Result {
    use crate::apply::backup_access;
    use crate::apply::history;
    use crate::apply::system::{RealSystem, device_path};
    let Some(plan) = super::load_plan(path) else {
        return Ok(ExitCode::Usage);
    };
    let volumes: Vec<_> = plan
        .volumes
        .iter()
        .filter(|v| only.is_none_or(|name| v.name == name))
        .collect();
    if volumes.is_empty() {
        let names: Vec<_> = plan.volumes.iter().map(|v| v.name.as_str()).collect();
        crate::errln!(
            "error: plan {} has no volume {}; its volumes: {}",
            plan.name,
            only.unwrap_or("?"),
            names.join(", ")
        );
        return Ok(ExitCode::Usage);
    }
    let cancel = super::copy::stop_on_signals()?;
    let mut failed = Vec::new();
    // Manifests first: a volume never copied fails without touching LVM.
    let mut to_check = Vec::new();
    for volume in volumes {
        let manifest_path = history::manifest_path(&plan, &volume.name);
        match Manifest::load(&manifest_path) {
            Ok(manifest) => {
                let backup = crate::plan::LvPath {
                    vg: plan.target.vg.clone(),
                    lv: volume.target_lv.clone(),
                };
                to_check.push((volume, backup, manifest));
            }
            Err(e) => {
                crate::outln!("{}: FAILED: {e}", volume.name);
                failed.push(volume.name.clone());
            }
        }
    }
    let mut interrupted = false;
    let mut restore_failed = false;
    if !to_check.is_empty() {
        let sys = RealSystem::new();
        let backups: Vec<_> = to_check.iter().map(|(_, b, _)| b.clone()).collect();
        match backup_access::open(&sys, &plan, &backups) {
            Err(e) => {
                for (volume, _, _) in &to_check {
                    crate::outln!("{}: FAILED: cannot read its backup: {e}", volume.name);
                    failed.push(volume.name.clone());
                }
            }
            Ok(access) => {
                for (volume, backup, manifest) in &to_check {
                    if cancel.load(std::sync::atomic::Ordering::SeqCst) {
                        interrupted = true;
                        break;
                    }
                    let device = device_path(backup);
                    let sink = progress::sink_for(mode);
                    match verify::verify(manifest, &device, &cancel, sink.as_ref()) {
                        Ok(report) if report.mismatches.is_empty() => {
                            crate::outln!(
                                "{}: OK ({} matches its manifest)",
                                volume.name,
                                device.display()
                            );
                        }
                        Ok(report) => {
                            crate::outln!("{}: FAILED: {}", volume.name, report.summary());
                            failed.push(volume.name.clone());
                        }
                        Err(CopyError::Interrupted { .. }) => {
                            crate::outln!("{}: interrupted", volume.name);
                            interrupted = true;
                            break;
                        }
                        Err(e) => {
                            crate::outln!("{}: FAILED: {e}", volume.name);
                            failed.push(volume.name.clone());
                        }
                    }
                }
                for problem in access.restore(&sys) {
                    crate::errln!("error: could not put the backup VG back as it was: {problem}");
                    restore_failed = true;
                }
            }
        }
    }
    if restore_failed {
        return Ok(ExitCode::CleanupIncomplete);
    }
    if interrupted {
        return Ok(ExitCode::Interrupted);
    }
    if failed.is_empty() {
        Ok(ExitCode::Success)
    } else {
        crate::errln!("verify: FAILED for {}", failed.join(", "));
        Ok(ExitCode::Failed)
    }
}
