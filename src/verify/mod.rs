//! Verify of a plan's backups: re-read each backup LV and compare it with
//! the manifest apply kept for it, making the backup readable for the
//! while ([`backup_access`]) and putting the backup VG back as it was.
//!
//! A library function, so `snapplan verify PLAN` is a thin command and the
//! logic is tested against the fake machine. It reads the state directory
//! through `state/` and never imports apply.

pub mod backup_access;

use std::sync::atomic::{AtomicBool, Ordering};

use crate::ExitCode;
use crate::copy::{CopyError, ProgressSink, verify};
use crate::plan::{LvPath, Plan};
use crate::state::runs;
use crate::system::{System, device_path};

/// How one volume's backup compared with its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every chunk matches; the device read.
    Ok { device: std::path::PathBuf },
    /// A mismatch, an unreadable manifest or device: why.
    Failed(String),
    /// Stopped by a signal before this volume was fully read.
    Interrupted,
}

/// What verifying a plan's backups came to.
#[derive(Debug, Default)]
pub struct PlanVerified {
    /// Volume names whose backup failed, in plan order.
    pub failed: Vec<String>,
    pub interrupted: bool,
    /// What could not be put back as it was (an LV left active, a VG left
    /// imported).
    pub restore_failures: Vec<String>,
}

impl PlanVerified {
    pub fn exit_code(&self) -> ExitCode {
        if !self.restore_failures.is_empty() {
            ExitCode::CleanupIncomplete
        } else if self.interrupted {
            ExitCode::Interrupted
        } else if self.failed.is_empty() {
            ExitCode::Success
        } else {
            ExitCode::Failed
        }
    }
}

/// `only` names a volume not in the plan.
/// What `verify PLAN` was asked that the plan does not have.
#[derive(Debug, thiserror::Error)]
pub enum VerifyUsage {
    #[error(transparent)]
    UnknownVolume(#[from] crate::plan::UnknownVolume),
    #[error(transparent)]
    UnknownGeneration(#[from] crate::generations::UnknownGeneration),
}

/// Which generations of each volume to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generations<'a> {
    /// The newest (the default).
    Newest,
    /// The one with this id (`--generation`).
    Id(&'a str),
    /// Every one (`--all`); a thick target has one per volume.
    All,
}

/// Checks the backup LV of every volume (or of `only`) against the manifest
/// apply kept for it. `on_volume` hears each verdict as soon as it is known
/// (a long verify shows its progress volume by volume); `sink` makes the
/// progress display of one device.
pub fn verify_plan(
    plan: &Plan,
    sys: &dyn System,
    only: Option<&str>,
    generations: Generations<'_>,
    cancel: &AtomicBool,
    sink: &dyn Fn() -> Box<dyn ProgressSink>,
    on_volume: &mut dyn FnMut(&str, &Verdict),
) -> Result<PlanVerified, VerifyUsage> {
    let volumes = plan.volumes_named(only)?;
    // A thick target's one generation per volume is both the newest and
    // all of them; an id must be that one's.
    if let Generations::Id(id) = generations {
        for volume in &volumes {
            crate::generations::check_thick(plan, &volume.name, Some(id))?;
        }
    }
    let mut result = PlanVerified::default();
    let fail = |result: &mut PlanVerified,
                on_volume: &mut dyn FnMut(&str, &Verdict),
                name: &str,
                why: String| {
        on_volume(name, &Verdict::Failed(why));
        result.failed.push(name.to_string());
    };
    // Manifests first: a volume never copied fails without touching LVM.
    let mut to_check = Vec::new();
    for volume in volumes {
        match crate::copy::Manifest::load(&runs::manifest_path(plan, &volume.name)) {
            Ok(manifest) => {
                let backup = LvPath {
                    vg: plan.target.vg.clone(),
                    lv: volume.target_lv.clone(),
                };
                to_check.push((volume, backup, manifest));
            }
            Err(e) => fail(&mut result, on_volume, &volume.name, e.to_string()),
        }
    }
    if to_check.is_empty() {
        return Ok(result);
    }
    let backups: Vec<_> = to_check.iter().map(|(_, b, _)| b.clone()).collect();
    let access = match backup_access::open(sys, plan, &backups) {
        Ok(access) => access,
        Err(e) => {
            for (volume, _, _) in &to_check {
                fail(
                    &mut result,
                    on_volume,
                    &volume.name,
                    format!("cannot read its backup: {e}"),
                );
            }
            return Ok(result);
        }
    };
    for (volume, backup, manifest) in &to_check {
        if cancel.load(Ordering::SeqCst) {
            result.interrupted = true;
            break;
        }
        let device = device_path(backup);
        let progress = sink();
        match verify::verify(manifest, &device, cancel, progress.as_ref()) {
            Ok(report) if report.mismatches.is_empty() => {
                on_volume(&volume.name, &Verdict::Ok { device });
            }
            Ok(report) => fail(&mut result, on_volume, &volume.name, report.summary()),
            Err(CopyError::Interrupted { .. }) => {
                on_volume(&volume.name, &Verdict::Interrupted);
                result.interrupted = true;
                break;
            }
            Err(e) => fail(&mut result, on_volume, &volume.name, e.to_string()),
        }
    }
    result.restore_failures = access.restore(sys);
    Ok(result)
}
