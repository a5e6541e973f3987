//! `snapplan mount PLAN VOLUME MOUNTPOINT` and `snapplan unmount
//! MOUNTPOINT`: file-level restore from a backup without copying the volume
//! back.
//!
//! mount makes the backup reachable the way verify does
//! (`verify::backup_access`: import an exported VG, activate the LV; an
//! iSCSI target must be logged in first), refuses an incomplete backup (tag
//! or manifest), and mounts the backup LV read-only with the options that
//! let a block-for-block clone of a mounted origin mount without writing to
//! it (ext4 `ro,noload`, XFS `ro,nouuid,norecovery`; btrfs refused while a
//! btrfs with its fsid is mounted). It records exactly what it did
//! (`state::mounts`), and unmount undoes exactly that, in reverse order.
//!
//! The mount point is a trust boundary: root must not mount over a path a
//! user controls (`check_mountpoint`).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::ExitCode;
use crate::copy::Manifest;
use crate::graph::argv;
use crate::plan::{LvPath, Plan};
use crate::state::mounts::{self, MountRecord};
use crate::system::{FsKind, System, device_path};
use crate::tags::{TAG_STATE_COMPLETE, TAG_STATE_INCOMPLETE};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The command line names something that is not there; nothing done.
    #[error("{0}")]
    Usage(String),
    /// A safety check said no, or a step failed and what was done before it
    /// was undone.
    #[error("{0}")]
    Refused(String),
    /// What was done could not all be undone: the message says what is left.
    #[error("{0}")]
    CleanupIncomplete(String),
}

impl MountError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            MountError::Usage(_) => ExitCode::Usage,
            MountError::Refused(_) => ExitCode::Failed,
            MountError::CleanupIncomplete(_) => ExitCode::CleanupIncomplete,
        }
    }
}

/// What `mount` is asked.
pub struct MountRequest<'a> {
    pub plan: &'a Plan,
    pub volume: &'a str,
    pub generation: Option<&'a str>,
    pub mountpoint: &'a Path,
    /// Where the mount records live (`state::mounts::records_dir`).
    pub records_dir: &'a Path,
}

/// The mount options for a filesystem, or why it is not mounted.
pub fn options_for(fs: &FsKind, device: &Path) -> Result<(&'static str, &'static str), String> {
    match fs {
        // noload: no journal replay, which would write to the backup even
        // on a read-only mount.
        FsKind::Ext => Ok(("ext4", "ro,noload")),
        // nouuid: the clone has the origin's UUID, which XFS refuses to
        // mount twice; norecovery: no log replay (a write).
        FsKind::Xfs => Ok(("xfs", "ro,nouuid,norecovery")),
        FsKind::Btrfs {
            fsid,
            fsid_mounted: true,
        } => Err(format!(
            "{} holds a btrfs with fsid {fsid}, and a btrfs with that fsid is mounted \
             (the origin, most likely): btrfs knows a filesystem by its fsid and cannot mount \
             two devices that carry the same one (the kernel would take the backup for a \
             device of the mounted filesystem); unmount the origin first, or restore the \
             backup onto another LV and give it a new fsid (`btrfstune -u`)",
            device.display()
        )),
        FsKind::Btrfs { .. } => Ok(("btrfs", "ro,rescue=nologreplay")),
        FsKind::Unknown => Err(format!(
            "{} holds no filesystem snapplan mounts (ext2/3/4, XFS, btrfs, by its superblock); \
             mount it by hand, read-only (`mount -o ro {} DIR`)",
            device.display(),
            device.display()
        )),
    }
}

/// Checks the mount point: an existing, empty directory, reached through no
/// symlink, owned by root and writable by nobody else, in directories
/// nobody else can write to, and not a mount point already. Returns its
/// absolute path.
pub fn check_mountpoint(path: &Path, mountinfo: &str) -> Result<PathBuf, String> {
    let absolute = std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let meta = std::fs::symlink_metadata(&absolute)
        .map_err(|e| format!("mount point {}: {e}", absolute.display()))?;
    if meta.file_type().is_symlink() {
        return Err(format!(
            "mount point {} is a symbolic link: snapplan, running as root, mounts only on \
             a directory named by its real path (a link could be turned to point elsewhere)",
            absolute.display()
        ));
    }
    if !meta.is_dir() {
        return Err(format!(
            "mount point {} is not a directory",
            absolute.display()
        ));
    }
    let real = std::fs::canonicalize(&absolute)
        .map_err(|e| format!("mount point {}: {e}", absolute.display()))?;
    if real != absolute {
        return Err(format!(
            "mount point {} reaches through a symbolic link or `..`: give its real path, {}",
            absolute.display(),
            real.display()
        ));
    }
    let Some(text) = real.to_str() else {
        return Err(format!("mount point {} is not valid UTF-8", real.display()));
    };
    let mode = meta.mode() & 0o7777;
    if !crate::state::trust::trusted_owner(meta.uid()) {
        return Err(format!(
            "mount point {text} is owned by uid {}, not root: a root tool must not mount over \
             a directory another user controls; use a directory of root's \
             (`mkdir -m 0755 /mnt/restore`)",
            meta.uid()
        ));
    }
    if mode & 0o022 != 0 {
        return Err(format!(
            "mount point {text} is writable by others (mode {mode:04o}): a root tool must not \
             mount over a directory another user controls; use a directory of root's \
             (`mkdir -m 0755 /mnt/restore`)"
        ));
    }
    // The directories above it: root's and not writable by others, a
    // root-owned sticky one (/tmp) allowed, as for the state directory.
    crate::state::trust::check_dir(&real)
        .map_err(|e| format!("mount point {text} is in an untrusted directory: {e}"))?;
    let mut entries = std::fs::read_dir(&real).map_err(|e| format!("mount point {text}: {e}"))?;
    if entries.next().is_some() {
        return Err(format!(
            "mount point {text} is not empty: mounting there would hide what it holds"
        ));
    }
    if let Some(on) = crate::procfs::mounted_on(mountinfo, text) {
        return Err(format!(
            "{text} is a mount point already ({} {}:{}): pick an empty directory",
            on.fstype, on.major, on.minor
        ));
    }
    Ok(real)
}

/// Why nothing of the backup VG can be mounted, if it is not visible.
fn vg_refusal(report: &crate::system::SystemReport, plan: &Plan) -> Option<String> {
    report.vg(&plan.target.vg).is_none().then(|| {
        format!(
            "the backup VG {} is not visible on this machine{}",
            plan.target.vg,
            if plan.target.iscsi.is_some() {
                "; log in to its iSCSI target first: `snapplan apply PLAN --phase login` \
                 (mount imports and activates, it does not log in)"
            } else {
                ""
            }
        )
    })
}

/// A pool plan's generation to mount, from the LVM report: the one
/// `--generation` names or the newest complete one, never an incomplete one.
fn pool_backup(
    plan: &Plan,
    volume: &crate::plan::Volume,
    wanted: Option<&str>,
    sys: &dyn System,
) -> Result<crate::generations::PoolGeneration, MountError> {
    use crate::generations::{PoolChoiceError, choose_pool, pool_generations};
    let refused = |why: String| MountError::Refused(format!("{why}; nothing was mounted"));
    let asking = |e: crate::system::SystemError| {
        refused(format!(
            "cannot ask LVM about the generations of {}: {e}",
            volume.name
        ))
    };
    let report = sys.report().map_err(asking)?;
    if let Some(why) = vg_refusal(&report, plan) {
        return Err(refused(why));
    }
    let lvs = crate::generations::backup_lvs(sys, &report, &plan.target.vg).map_err(asking)?;
    let found = pool_generations(plan, volume, &lvs);
    choose_pool(plan, &volume.name, &found, wanted)
        .cloned()
        .map_err(|e| match e {
            PoolChoiceError::Unknown(_) => MountError::Usage(e.to_string()),
            _ => refused(e.to_string()),
        })
}

/// Why the backup LV is not one to mount, if it is not.
fn lv_refusal(
    backup: &LvPath,
    report: &crate::system::SystemReport,
    lvs: &[crate::system::Lv],
    plan: &Plan,
) -> Option<String> {
    if let Some(why) = vg_refusal(report, plan) {
        return Some(why);
    }
    let Some(lv) = lvs.iter().find(|l| l.path() == *backup) else {
        return Some(format!("there is no backup LV {backup}: nothing to mount"));
    };
    if lv.lv_tags.iter().any(|t| t == TAG_STATE_INCOMPLETE) {
        return Some(format!(
            "the backup {backup} is tagged {TAG_STATE_INCOMPLETE}: its last copy did not finish \
             (or failed its verification), so it holds no consistent filesystem"
        ));
    }
    if !lv.lv_tags.iter().any(|t| t == TAG_STATE_COMPLETE) {
        return Some(format!(
            "{backup} is not tagged {TAG_STATE_COMPLETE}: snapplan did not finish a backup on it"
        ));
    }
    None
}

/// Mounts the backup of `request.volume` read-only on `request.mountpoint`
/// and records what it did. On any failure, what it did is undone.
pub fn mount(request: &MountRequest<'_>, sys: &dyn System) -> Result<MountRecord, MountError> {
    let plan = request.plan;
    let volume = plan
        .volume(request.volume)
        .map_err(|e| MountError::Usage(e.to_string()))?;
    let pool = match &plan.target.generations {
        None => {
            crate::generations::check_thick(plan, &volume.name, request.generation)
                .map_err(|e| MountError::Usage(e.to_string()))?;
            None
        }
        Some(_) => Some(pool_backup(plan, volume, request.generation, sys)?),
    };
    let refused = |why: String| MountError::Refused(format!("{why}; nothing was mounted"));
    let manifest_path = match &pool {
        None => crate::state::runs::manifest_path(plan, &volume.name),
        Some(g) => crate::state::runs::generation_manifest_path(plan, &volume.name, &g.id),
    };
    let manifest = Manifest::load(&manifest_path).map_err(|e| {
        refused(format!(
            "{e}: without its manifest the backup is not trusted"
        ))
    })?;
    if !manifest.completed {
        return Err(refused(format!(
            "{} says the copy is incomplete: the backup holds no consistent filesystem",
            manifest_path.display()
        )));
    }
    let generation = match &pool {
        None => crate::generations::thick_id(&manifest),
        Some(g) => g.id.clone(),
    };
    let mountinfo = sys.mountinfo().map_err(|e| refused(e.to_string()))?;
    let mountpoint = check_mountpoint(request.mountpoint, &mountinfo).map_err(refused)?;
    match mounts::load(request.records_dir, &mountpoint) {
        Ok(None) => {}
        Ok(Some(record)) => {
            return Err(refused(format!(
                "{} has a mount record already ({} of plan {}): `snapplan unmount {}` first",
                mountpoint.display(),
                record.lv,
                record.plan,
                mountpoint.display()
            )));
        }
        Err(e) => return Err(refused(e.to_string())),
    }
    let backup = match &pool {
        None => LvPath {
            vg: plan.target.vg.clone(),
            lv: volume.target_lv.clone(),
        },
        Some(g) => g.lv.clone(),
    };
    let report = sys
        .report()
        .map_err(|e| refused(format!("cannot ask LVM about {backup}: {e}")))?;
    let lvs = crate::generations::backup_lvs(sys, &report, &plan.target.vg)
        .map_err(|e| refused(format!("cannot ask LVM about {backup}: {e}")))?;
    if let Some(why) = lv_refusal(&backup, &report, &lvs, plan) {
        return Err(refused(why));
    }
    let access = crate::verify::backup_access::open(sys, plan, std::slice::from_ref(&backup))
        .map_err(refused)?;
    let undo = |access: crate::verify::backup_access::Access, why: String| {
        let left = access.restore(sys);
        if left.is_empty() {
            MountError::Refused(format!(
                "{why}; nothing was mounted, and the backup VG was put back as it was"
            ))
        } else {
            MountError::CleanupIncomplete(format!(
                "{why}; nothing was mounted, but the backup VG could not be put back as it was: {}",
                left.join("; ")
            ))
        }
    };
    let device = device_path(&backup);
    let info = match sys.probe_device(&device) {
        Ok(info) => info,
        Err(e) => return Err(undo(access, e.to_string())),
    };
    let (fstype, options) = match options_for(&info.fs, &device) {
        Ok(found) => found,
        Err(why) => return Err(undo(access, why)),
    };
    if let Some(at) = crate::procfs::mount_points(&mountinfo, info.major, info.minor).first() {
        return Err(undo(
            access,
            format!("{} is mounted already, on {at}", device.display()),
        ));
    }
    let (device_text, point_text) = (
        device.to_string_lossy().into_owned(),
        mountpoint.to_string_lossy().into_owned(),
    );
    if let Err(e) = sys.run_mount(&argv::mount(&device_text, &point_text, fstype, options)) {
        return Err(undo(access, e.to_string()));
    }
    let record = MountRecord {
        format_version: mounts::FORMAT_VERSION,
        plan: plan.name.clone(),
        volume: volume.name.clone(),
        generation,
        lv: backup.to_string(),
        imported_vg: access.imported_vg().map(str::to_string),
        activated_lv: access.activated().first().map(|l| l.to_string()),
        device: device.clone(),
        major: info.major,
        minor: info.minor,
        mountpoint: mountpoint.clone(),
        fstype: fstype.to_string(),
        options: options.to_string(),
        mounted_at: crate::state::time::now(),
        pid: std::process::id(),
    };
    if let Err(e) = mounts::save(request.records_dir, &record) {
        let why = format!("cannot record the mount: {e}");
        return Err(match sys.run_mount(&argv::umount(&point_text)) {
            Ok(()) => undo(access, format!("{why} (unmounted again)")),
            Err(u) => MountError::CleanupIncomplete(format!(
                "{why}, and unmounting {point_text} again failed ({u}): unmount it by hand, \
                 then `lvchange -an {backup}`"
            )),
        });
    }
    Ok(record)
}

/// What `unmount` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unmounted {
    /// In order: `umount /mnt/x`, `lvchange --activate n backup/root`, ...
    pub done: Vec<String>,
    /// What it found and left, with why.
    pub notes: Vec<String>,
}

/// Undoes what the `mount` recorded for `mountpoint` did, in reverse order,
/// and removes its record. Without a record nothing is done.
pub fn unmount(
    mountpoint: &Path,
    records_dir: &Path,
    sys: &dyn System,
) -> Result<Unmounted, MountError> {
    let absolute = std::fs::canonicalize(mountpoint)
        .or_else(|_| std::path::absolute(mountpoint))
        .map_err(|e| MountError::Usage(format!("{}: {e}", mountpoint.display())))?;
    let record = match mounts::load(records_dir, &absolute) {
        Ok(Some(record)) => record,
        Ok(None) => {
            return Err(MountError::Usage(format!(
                "no snapplan mount record for {} (in {}): it was not mounted by `snapplan \
                 mount`, or is unmounted already; nothing was done",
                absolute.display(),
                records_dir.display()
            )));
        }
        Err(e) => return Err(MountError::Refused(format!("{e}; nothing was done"))),
    };
    let point = absolute.to_string_lossy().into_owned();
    let mut done = Unmounted::default();
    let mountinfo = sys
        .mountinfo()
        .map_err(|e| MountError::Refused(format!("{e}; nothing was done")))?;
    match crate::procfs::mounted_on(&mountinfo, &point) {
        Some(on) if (on.major, on.minor) == (record.major, record.minor) => {
            let umount = argv::umount(&point);
            sys.run_mount(&umount).map_err(|e| {
                MountError::Refused(format!(
                    "{e}: is something using it? (`fuser -vm {point}`); nothing else was done"
                ))
            })?;
            done.done.push(umount.join(" "));
        }
        Some(on) => {
            return Err(MountError::Refused(format!(
                "{point} has another device mounted on it now ({}:{}, {}), not the backup \
                 {} ({}:{}) snapplan mounted: nothing was done",
                on.major, on.minor, on.fstype, record.lv, record.major, record.minor
            )));
        }
        None => done.notes.push(format!("{point} was not mounted any more")),
    }
    let mut left = Vec::new();
    let report = sys.report().map_err(|e| {
        MountError::CleanupIncomplete(format!(
            "unmounted, but cannot ask LVM about {}: {e}; run `snapplan unmount {point}` again",
            record.lv
        ))
    })?;
    if let Some(lv) = &record.activated_lv
        && let Some((vg, name)) = lv.split_once('/')
    {
        let path = LvPath {
            vg: vg.into(),
            lv: name.into(),
        };
        if report.lv(&path).is_some_and(|l| l.is_active()) {
            let argv = argv::activate_lv(&path, false);
            match sys.run_lvm(&argv) {
                Ok(()) => done.done.push(argv.join(" ")),
                Err(e) => left.push(e.to_string()),
            }
        }
    }
    if let Some(vg) = &record.imported_vg
        && left.is_empty()
        && report.vg(vg).is_some_and(|v| !v.is_exported())
    {
        // Another snapplan mount of the same VG still needs it imported:
        // that one's unmount exports it.
        let others: Vec<MountRecord> = mounts::list(records_dir)
            .into_iter()
            .flatten()
            .filter(|r| r.mountpoint != record.mountpoint && r.lv.split('/').next() == Some(vg))
            .collect();
        if let Some(other) = others.first() {
            let mut heir = other.clone();
            heir.imported_vg = Some(vg.clone());
            match mounts::save(records_dir, &heir) {
                Ok(_) => done.notes.push(format!(
                    "VG {vg} left imported: {} is mounted on {} from it; its unmount exports it",
                    heir.lv,
                    heir.mountpoint.display()
                )),
                Err(e) => left.push(e.to_string()),
            }
        } else {
            let argv = argv::export_vg(vg);
            match sys.run_lvm(&argv) {
                Ok(()) => done.done.push(argv.join(" ")),
                Err(e) => left.push(e.to_string()),
            }
        }
    }
    if !left.is_empty() {
        return Err(MountError::CleanupIncomplete(format!(
            "{}could not put the backup VG back as it was: {}; the record stays, run \
             `snapplan unmount {point}` again",
            if done.done.is_empty() {
                String::new()
            } else {
                format!("did: {}; but ", done.done.join(", "))
            },
            left.join("; ")
        )));
    }
    mounts::remove(records_dir, &record.mountpoint)
        .map_err(|e| MountError::CleanupIncomplete(format!("unmounted, but {e}")))?;
    Ok(done)
}

#[cfg(test)]
mod tests;
