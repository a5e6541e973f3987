//! Is the restore destination safe to overwrite? Not while a filesystem on
//! it is mounted (its page cache and journal would fight the restore and
//! corrupt both), and not while anything else holds it exclusively (an
//! active VG on it, swap, a device-mapper device built on it, a program
//! that opened it with O_EXCL). The first is named precisely from
//! `/proc/self/mountinfo`; the second is what the kernel says when we try
//! the exclusive open the copy engine will do anyway.

use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::procfs;

/// Why a destination is refused; the message says what to do.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Busy {
    #[error(
        "{device} is mounted on {mount_point}: stop what uses it and unmount it first (`umount {mount_point}`)"
    )]
    Mounted {
        device: PathBuf,
        mount_point: String,
    },
    #[error(
        "{device} is in use (the kernel refuses an exclusive open: a mounted filesystem, \
         swap, an active LVM PV or device-mapper device on it, or a program holding it): \
         free it first; `lsblk {device}` and `ls /sys/class/block/$(basename $(readlink -f {device}))/holders` show holders"
    )]
    InUse { device: PathBuf },
    #[error("cannot open {device}: {reason}")]
    Unusable { device: PathBuf, reason: String },
}

/// Refuses a block device that is mounted or held exclusively. Regular
/// files (an image restored to) pass: nothing mounts them by number.
pub fn check_free(device: &Path) -> Result<(), Busy> {
    let unusable = |reason: String| Busy::Unusable {
        device: device.to_path_buf(),
        reason,
    };
    let metadata = std::fs::metadata(device).map_err(|e| unusable(e.to_string()))?;
    if !metadata.file_type().is_block_device() {
        return Ok(());
    }
    let rdev = metadata.rdev();
    let (major, minor) = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
    let mountinfo = std::fs::read_to_string(procfs::MOUNTINFO)
        .map_err(|e| unusable(format!("cannot read {}: {e}", procfs::MOUNTINFO)))?;
    if let Some(mount_point) = mounted_at(&mountinfo, major, minor) {
        return Err(Busy::Mounted {
            device: device.to_path_buf(),
            mount_point,
        });
    }
    // O_EXCL without O_CREAT on a block device claims it: the kernel
    // refuses (EBUSY) while anyone else holds a claim. Released on close.
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::EXCL.bits() as i32)
        .open(device)
    {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) => {
            Err(Busy::InUse {
                device: device.to_path_buf(),
            })
        }
        Err(e) => Err(unusable(e.to_string())),
    }
}

/// The first mount point of the device `major:minor` in a mountinfo text.
pub fn mounted_at(mountinfo: &str, major: u32, minor: u32) -> Option<String> {
    procfs::mount_points(mountinfo, major, minor)
        .into_iter()
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/vg0-root rw
35 22 253:3 / /srv/my\\040data rw,relatime shared:20 - xfs /dev/mapper/vg0-data rw
40 22 0:45 / /tmp rw - tmpfs tmpfs rw
";

    #[test]
    fn finds_the_mount_point_by_device_number() {
        assert_eq!(mounted_at(MOUNTINFO, 253, 0).as_deref(), Some("/"));
        assert_eq!(
            mounted_at(MOUNTINFO, 253, 3).as_deref(),
            Some("/srv/my data")
        );
        assert_eq!(mounted_at(MOUNTINFO, 253, 30), None);
        assert_eq!(mounted_at(MOUNTINFO, 25, 3), None);
        assert_eq!(mounted_at("garbage\n\n", 253, 0), None);
    }

    #[test]
    fn regular_files_pass_and_missing_ones_are_named() {
        let file = tempfile::NamedTempFile::new().unwrap();
        assert_eq!(check_free(file.path()), Ok(()));
        let missing = file.path().with_extension("missing");
        assert!(matches!(check_free(&missing), Err(Busy::Unusable { .. })));
    }
}
