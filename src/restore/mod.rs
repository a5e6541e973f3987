//! `snapplan restore`: a backup back onto a device, proven right.
//!
//! Nothing is written until every cheap refusal passed ([`prepare`]): the
//! backup is complete (LV tag and manifest), the destination is not mounted
//! or held and is large enough, and is not the backup itself. Then
//! ([`execute`]) the backup is re-read and compared with its manifest (a
//! backup that rotted is not restored), copied with the copy engine, and the
//! destination re-read and compared with the same manifest.

pub mod backup;
pub mod destination;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use crate::ExitCode;
use crate::copy::{self, CopyControl, CopyError, CopyRequest, Manifest, ProgressSink, verify};
use crate::plan::{LvPath, Plan};
use crate::state::runs as history;
use crate::system::System;
use crate::system::device_path;

/// Where the backup is read from.
pub enum Source<'a> {
    /// The plan's backup LV `/dev/<target vg>/<target_lv>`, its state
    /// checked through LVM.
    BackupLv(&'a dyn System),
    /// A copy of the backup elsewhere (`--from`: an image of the LV, the LV
    /// under another name). No LVM tags to check: the manifest alone vouches
    /// for it.
    Path(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The command line or plan does not name something restorable.
    #[error("{0}")]
    Usage(String),
    /// A safety check said no; nothing was written.
    #[error("{0}")]
    Refused(String),
    /// Something failed once writing had begun (or while checking the backup).
    #[error("{0}")]
    Failed(String),
    #[error("interrupted: {0}")]
    Interrupted(String),
}

impl RestoreError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            RestoreError::Usage(_) => ExitCode::Usage,
            RestoreError::Refused(_) | RestoreError::Failed(_) => ExitCode::Failed,
            RestoreError::Interrupted(_) => ExitCode::Interrupted,
        }
    }
}

/// A restore that passed the cheap checks.
#[derive(Debug)]
pub struct Prepared {
    pub volume: String,
    pub backup: PathBuf,
    pub manifest_path: PathBuf,
    pub manifest: Manifest,
    pub destination: PathBuf,
    pub destination_size: u64,
}

/// Every check that needs no long read. Writes nothing. `generation`: the
/// id `--generation` gave (`None`: the newest complete one); a thick
/// target has one, its backup's; of a pool target it picks the generation
/// LV and its manifest (`manifests/<volume>/<id>.json`), and an incomplete
/// one is refused.
pub fn prepare(
    plan: &Plan,
    volume: &str,
    generation: Option<&str>,
    destination: &Path,
    source: &Source<'_>,
) -> Result<Prepared, RestoreError> {
    let v = plan
        .volume(volume)
        .map_err(|e| RestoreError::Usage(e.to_string()))?;
    if plan.target.generations.is_some() {
        let (backup, manifest_path) = pool_backup(plan, v, generation, source)?;
        return prepare_from(volume, backup, manifest_path, destination);
    }
    crate::generations::check_thick(plan, volume, generation)
        .map_err(|e| RestoreError::Usage(e.to_string()))?;
    let backup = match source {
        Source::BackupLv(lvm) => {
            let lv = LvPath {
                vg: plan.target.vg.clone(),
                lv: v.target_lv.clone(),
            };
            let report = lvm
                .report()
                .map_err(|e| RestoreError::Refused(format!("cannot ask LVM about {lv}: {e}")))?;
            if let Some(why) = backup::refusal(&lv, &report.lvs) {
                return Err(RestoreError::Refused(why));
            }
            device_path(&lv)
        }
        Source::Path(path) => path.clone(),
    };
    let manifest_path = history::manifest_path(plan, volume);
    prepare_from(volume, backup, manifest_path, destination)
}

/// A pool plan's generation to restore and its manifest: the one
/// `generation` names, or the newest complete one; an incomplete one is
/// refused. From the plan's LVs and their tags, or with `--from` (no LVM)
/// from the generation manifests alone.
fn pool_backup(
    plan: &Plan,
    volume: &crate::plan::Volume,
    generation: Option<&str>,
    source: &Source<'_>,
) -> Result<(PathBuf, PathBuf), RestoreError> {
    use crate::generations::{PoolChoiceError, check_id, choose_pool, pool_generations};
    let manifest = |id: &str| history::generation_manifest_path(plan, &volume.name, id);
    match source {
        Source::BackupLv(lvm) => {
            let asking = |e: crate::system::SystemError| {
                RestoreError::Refused(format!(
                    "cannot ask LVM about the generations of {}: {e}",
                    volume.name
                ))
            };
            let report = lvm.report().map_err(asking)?;
            let lvs =
                crate::generations::backup_lvs(*lvm, &report, &plan.target.vg).map_err(asking)?;
            let found = pool_generations(plan, volume, &lvs);
            let chosen =
                choose_pool(plan, &volume.name, &found, generation).map_err(|e| match e {
                    PoolChoiceError::Unknown(_) => RestoreError::Usage(e.to_string()),
                    _ => RestoreError::Refused(format!("{e}; nothing was written")),
                })?;
            if let Some(why) = backup::refusal(&chosen.lv, &lvs) {
                return Err(RestoreError::Refused(why));
            }
            Ok((device_path(&chosen.lv), manifest(&chosen.id)))
        }
        Source::Path(path) => {
            let ids = history::generation_manifest_ids(plan, &volume.name);
            let id = match generation {
                Some(id) => {
                    check_id(&volume.name, id, &ids)
                        .map_err(|e| RestoreError::Usage(e.to_string()))?;
                    id.to_string()
                }
                None => ids
                    .iter()
                    .find(|id| Manifest::load(&manifest(id)).is_ok_and(|m| m.completed))
                    .cloned()
                    .ok_or_else(|| {
                        RestoreError::Refused(format!(
                            "volume {} has no generation with a completed manifest under {}; \
                             nothing was written",
                            volume.name,
                            history::manifests_dir(plan).join(&volume.name).display()
                        ))
                    })?,
            };
            Ok((path.clone(), manifest(&id)))
        }
    }
}

/// The checks of [`prepare`] once the backup and its manifest are known.
fn prepare_from(
    volume: &str,
    backup: PathBuf,
    manifest_path: PathBuf,
    destination: &Path,
) -> Result<Prepared, RestoreError> {
    let manifest = Manifest::load(&manifest_path).map_err(|e| {
        RestoreError::Refused(format!(
            "{e}: without its manifest the backup cannot be checked; nothing was written"
        ))
    })?;
    if let Some(why) = verify::unverifiable(&manifest) {
        return Err(RestoreError::Refused(format!(
            "{}: {why}; nothing was written",
            manifest_path.display()
        )));
    }
    let backup_dev = copy::device::Device::open_read(&backup)
        .map_err(|e| RestoreError::Refused(e.to_string()))?;
    if backup_dev.size() < manifest.size {
        return Err(RestoreError::Refused(format!(
            "{} ({} bytes) is smaller than the copy its manifest describes ({} bytes): not that backup",
            backup.display(),
            backup_dev.size(),
            manifest.size
        )));
    }
    destination::check_free(destination).map_err(|e| RestoreError::Refused(e.to_string()))?;
    let dest_dev = copy::device::Device::open_read(destination)
        .map_err(|e| RestoreError::Refused(e.to_string()))?;
    if dest_dev.identity().same_object(backup_dev.identity()) {
        return Err(RestoreError::Usage(format!(
            "{} is the backup itself: give the device to restore onto with --to",
            destination.display()
        )));
    }
    if dest_dev.size() < manifest.size {
        return Err(RestoreError::Refused(format!(
            "{} ({} bytes) is smaller than the backup of {volume} ({} bytes); nothing was written",
            destination.display(),
            dest_dev.size(),
            manifest.size
        )));
    }
    Ok(Prepared {
        volume: volume.to_string(),
        backup,
        manifest_path,
        manifest,
        destination: destination.to_path_buf(),
        destination_size: dest_dev.size(),
    })
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub bytes: u64,
    pub elapsed: std::time::Duration,
    pub notes: Vec<String>,
}

/// Check the backup, copy it, check the destination.
pub fn execute(
    prepared: &Prepared,
    cancel: &AtomicBool,
    progress: &dyn ProgressSink,
) -> Result<Restored, RestoreError> {
    let started = std::time::Instant::now();
    let stopped = |what: &str, e: CopyError| match e {
        CopyError::Interrupted { offset } => {
            RestoreError::Interrupted(format!("{what} stopped at offset {offset}"))
        }
        e => RestoreError::Failed(format!("{what}: {e}")),
    };
    let before = verify::verify(&prepared.manifest, &prepared.backup, cancel, progress)
        .map_err(|e| stopped("checking the backup against its manifest", e))
        .map_err(|e| match e {
            RestoreError::Failed(m) => RestoreError::Refused(format!("{m}; nothing was written")),
            other => other,
        })?;
    if !before.mismatches.is_empty() {
        return Err(RestoreError::Refused(format!(
            "the backup {} no longer matches its manifest {} ({}); nothing was written",
            prepared.backup.display(),
            prepared.manifest_path.display(),
            before.summary()
        )));
    }
    let mut request = CopyRequest::new(&prepared.backup, &prepared.destination);
    request.chunk_size = prepared.manifest.chunk_size;
    request.length = Some(prepared.manifest.size);
    let control = CopyControl {
        cancel,
        progress,
        source_check: None,
        throttle: None,
    };
    let copied = copy::run(&request, &control).map_err(|e| match e {
        CopyError::Interrupted { offset } => RestoreError::Interrupted(format!(
            "the copy stopped at offset {offset}: {} holds part of the backup only",
            prepared.destination.display()
        )),
        // Refused by the engine before it wrote anything (e.g. mounted
        // since the checks: the exclusive open fails).
        e @ (CopyError::Open { .. }
        | CopyError::NotADevice { .. }
        | CopyError::Size { .. }
        | CopyError::DestinationTooSmall { .. }
        | CopyError::SameDevice { .. }
        | CopyError::Aliased { .. }
        | CopyError::DestinationBusy { .. }
        | CopyError::ManifestPath { .. }
        | CopyError::TooManyChunks { .. }) => {
            RestoreError::Refused(format!("{e}; nothing was written"))
        }
        e => RestoreError::Failed(format!(
            "{e}: {} may hold part of the backup only",
            prepared.destination.display()
        )),
    })?;
    let after = verify::verify(&prepared.manifest, &prepared.destination, cancel, progress)
        .map_err(|e| stopped("checking the restored device", e))?;
    if !after.mismatches.is_empty() {
        return Err(RestoreError::Failed(format!(
            "{} does not match the manifest after the copy: {}",
            prepared.destination.display(),
            after.summary()
        )));
    }
    let mut notes = before.notes;
    notes.extend(copied.notes);
    notes.extend(after.notes);
    Ok(Restored {
        bytes: copied.bytes_read,
        elapsed: started.elapsed(),
        notes,
    })
}
