//! The records of `snapplan mount`, host-wide under `/run/snapplan/mounts/`
//! (tmpfs: a reboot unmounts everything, and forgets the records with it):
//! one file per mount point saying exactly what `mount` did (VG imported?
//! LV activated? mounted what where, with which device number), so that
//! `snapplan unmount MOUNTPOINT` undoes exactly that and no more, and
//! `check`/`apply` of the plan see that its backup LV is mounted.
//!
//! A record is written atomically with mode 0600 in a directory of mode
//! 0700, and read back only after the directory passed [`super::trust`]'s
//! checks and the file is root's, not readable or writable by others, a
//! regular file reached without a symlink, and small: unmount acts on it as
//! root (it deactivates and exports what it names).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where the records live unless `SNAPPLAN_MOUNTS_DIR` says otherwise (the
/// integration tests, which do not run as the only root on the machine).
pub const DEFAULT_DIR: &str = "/run/snapplan/mounts";
pub const DIR_ENV: &str = "SNAPPLAN_MOUNTS_DIR";
/// A record is a few hundred bytes.
pub const MAX_RECORD_BYTES: u64 = 64 << 10;
pub const FORMAT_VERSION: u32 = 1;

/// The records directory of this host.
pub fn records_dir() -> PathBuf {
    std::env::var_os(DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
}

/// What one `snapplan mount` did, in the order it did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRecord {
    pub format_version: u32,
    /// The plan and volume whose backup is mounted.
    pub plan: String,
    pub volume: String,
    /// The generation mounted (`snapplan generations`).
    pub generation: String,
    /// The backup LV, `vg/lv`.
    pub lv: String,
    /// The VG `mount` imported (it was exported): `unmount` exports it again.
    pub imported_vg: Option<String>,
    /// The LV `mount` activated (it was inactive): `unmount` deactivates it.
    pub activated_lv: Option<String>,
    /// The device mounted and its number when it was mounted: `unmount`
    /// unmounts only when that device is what is mounted there.
    pub device: PathBuf,
    pub major: u32,
    pub minor: u32,
    /// The mount point (canonical, absolute).
    pub mountpoint: PathBuf,
    pub fstype: String,
    pub options: String,
    /// Unix seconds, and who mounted.
    pub mounted_at: u64,
    pub pid: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum MountRecordError {
    #[error("refusing the mount records directory: {0}")]
    Untrusted(#[from] super::trust::Untrusted),
    #[error(transparent)]
    File(#[from] super::files::StateFileError),
    #[error(
        "{path} is owned by uid {uid} or readable or writable by others (mode {mode:04o}): \
         not a record snapplan wrote; remove it"
    )]
    Loose { path: PathBuf, uid: u32, mode: u32 },
    #[error("{path} is not a mount record this snapplan reads: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The record file of `mountpoint`: named by a hash of the path (any path
/// fits in a file name); the record repeats the path and is checked.
pub fn record_path(dir: &Path, mountpoint: &Path) -> PathBuf {
    let hash = xxhash_rust::xxh3::xxh3_128(mountpoint.as_os_str().as_encoded_bytes());
    dir.join(format!("{hash:032x}.json"))
}

/// Writes `record` (atomically, mode 0600; the directory 0700).
pub fn save(dir: &Path, record: &MountRecord) -> Result<PathBuf, MountRecordError> {
    super::trust::check_dir(dir)?;
    let path = record_path(dir, &record.mountpoint);
    let text = serde_json::to_string_pretty(record).expect("a mount record serialises");
    // files::replace writes through a tempfile, which is created 0600.
    super::files::replace(&path, (text + "\n").as_bytes()).map_err(|source| {
        MountRecordError::Write {
            path: path.clone(),
            source,
        }
    })?;
    Ok(path)
}

/// The record of `mountpoint`, `None` when there is none.
pub fn load(dir: &Path, mountpoint: &Path) -> Result<Option<MountRecord>, MountRecordError> {
    super::trust::check_dir(dir)?;
    let path = record_path(dir, mountpoint);
    match read(&path) {
        Ok(record) if record.mountpoint == mountpoint => Ok(Some(record)),
        Ok(record) => Err(MountRecordError::Invalid {
            path,
            reason: format!(
                "it is the record of {}, not of {}",
                record.mountpoint.display(),
                mountpoint.display()
            ),
        }),
        Err(MountRecordError::File(e)) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every record in `dir` (none when it does not exist); a file that cannot
/// be trusted or read is returned as its error, not skipped.
pub fn list(dir: &Path) -> Vec<Result<MountRecord, MountRecordError>> {
    if let Err(e) = super::trust::check_dir(dir) {
        return vec![Err(e.into())];
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            return vec![Err(MountRecordError::File(
                super::files::StateFileError::io(dir, e),
            ))];
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths.iter().map(|p| read(p)).collect()
}

/// Removes the record of `mountpoint` (gone already is fine).
pub fn remove(dir: &Path, mountpoint: &Path) -> Result<(), MountRecordError> {
    let path = record_path(dir, mountpoint);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(MountRecordError::Write { path, source }),
    }
}

/// The mounts recorded of `plan`'s backup LVs: while one is mounted, apply
/// must not rewrite it (check's `mounted backup` row). A record that cannot
/// be read is returned as its error (it might be one of them).
pub fn of_plan(plan: &crate::plan::Plan, dir: &Path) -> Vec<Result<MountRecord, String>> {
    let backups: Vec<String> = plan
        .volumes
        .iter()
        .map(|v| format!("{}/{}", plan.target.vg, v.target_lv))
        .collect();
    list(dir)
        .into_iter()
        .filter_map(|r| match r {
            Ok(record) if backups.contains(&record.lv) => Some(Ok(record)),
            Ok(_) => None,
            Err(e) => Some(Err(e.to_string())),
        })
        .collect()
}

fn read(path: &Path) -> Result<MountRecord, MountRecordError> {
    let file = super::files::open_read(path)?;
    let meta = file
        .metadata()
        .map_err(|e| super::files::StateFileError::io(path, e))?;
    let mode = meta.mode() & 0o7777;
    if !super::trust::trusted_owner(meta.uid()) || mode & 0o077 != 0 {
        return Err(MountRecordError::Loose {
            path: path.to_path_buf(),
            uid: meta.uid(),
            mode,
        });
    }
    let bytes = super::files::read_file_bounded(path, file, MAX_RECORD_BYTES)?;
    let record: MountRecord =
        serde_json::from_slice(&bytes).map_err(|e| MountRecordError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if record.format_version != FORMAT_VERSION {
        return Err(MountRecordError::Invalid {
            path: path.to_path_buf(),
            reason: format!(
                "format_version {} (this snapplan reads {FORMAT_VERSION})",
                record.format_version
            ),
        });
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    pub fn record(mountpoint: &str) -> MountRecord {
        MountRecord {
            format_version: FORMAT_VERSION,
            plan: "nightly".into(),
            volume: "root".into(),
            generation: "20261202T031500Z".into(),
            lv: "backup/root".into(),
            imported_vg: Some("backup".into()),
            activated_lv: None,
            device: "/dev/backup/root".into(),
            major: 253,
            minor: 7,
            mountpoint: mountpoint.into(),
            fstype: "ext4".into(),
            options: "ro,noload".into(),
            mounted_at: 1,
            pid: 2,
        }
    }

    fn private() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        dir
    }

    #[test]
    fn a_record_round_trips_with_mode_0600_and_is_removed() {
        let dir = private();
        let records = dir.path().join("mounts");
        let path = save(&records, &record("/mnt/a b")).unwrap();
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(&records).unwrap().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert_eq!(
            load(&records, Path::new("/mnt/a b")).unwrap(),
            Some(record("/mnt/a b"))
        );
        assert_eq!(load(&records, Path::new("/mnt/other")).unwrap(), None);
        assert_eq!(list(&records).len(), 1);
        remove(&records, Path::new("/mnt/a b")).unwrap();
        assert_eq!(load(&records, Path::new("/mnt/a b")).unwrap(), None);
        assert!(list(&records).is_empty());
    }

    #[test]
    fn a_loose_a_symlinked_or_a_misplaced_record_is_refused() {
        let dir = private();
        let records = dir.path().join("mounts");
        let path = save(&records, &record("/mnt/a")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            load(&records, Path::new("/mnt/a")),
            Err(MountRecordError::Loose { .. })
        ));
        std::fs::remove_file(&path).unwrap();
        let elsewhere = dir.path().join("planted.json");
        std::fs::write(&elsewhere, "{}").unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert!(matches!(
            load(&records, Path::new("/mnt/a")),
            Err(MountRecordError::File(
                crate::state::files::StateFileError::Symlink { .. }
            ))
        ));
        std::fs::remove_file(&path).unwrap();
        // The record of another mount point under this one's name.
        let other = record("/mnt/b");
        let text = serde_json::to_string(&other).unwrap();
        crate::state::files::replace(&path, text.as_bytes()).unwrap();
        assert!(matches!(
            load(&records, Path::new("/mnt/a")),
            Err(MountRecordError::Invalid { .. })
        ));
    }

    #[test]
    fn a_records_dir_others_can_write_to_is_refused() {
        let dir = private();
        let records = dir.path().join("mounts");
        std::fs::create_dir(&records).unwrap();
        std::fs::set_permissions(&records, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            save(&records, &record("/mnt/a")),
            Err(MountRecordError::Untrusted(_))
        ));
        assert!(matches!(
            list(&records)[0],
            Err(MountRecordError::Untrusted(_))
        ));
    }
}
