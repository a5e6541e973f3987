//! Mounting a backup for `snapplan mount`: what filesystem a device holds
//! (read from its superblock: a bounded read of the first 68 KiB, the same
//! magic numbers blkid looks at, so no blkid is needed), its device number,
//! and mount(8)/umount(8) run as `graph/argv.rs` built them.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::SystemError;
use super::runner::{CommandLine, ProcessRunner, Runner};
use super::tools::{self, ToolMissing};

/// What a block device is, for mounting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub major: u32,
    pub minor: u32,
    pub fs: FsKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsKind {
    /// ext2, ext3 or ext4 (the ext4 driver mounts all three).
    Ext,
    Xfs,
    /// `fsid` as /sys/fs/btrfs/ names it; `fsid_mounted`: a btrfs with that
    /// fsid is mounted now (the origin, usually).
    Btrfs {
        fsid: String,
        fsid_mounted: bool,
    },
    /// None of the above (or no filesystem at all).
    Unknown,
}

/// The bytes [`fs_of`] needs: btrfs's superblock sits at 64 KiB.
pub const PROBE_BYTES: usize = 0x10000 + 0x1000;

/// The filesystem whose superblock `head` (the device's first bytes) holds.
/// `btrfs_mounted` says whether a btrfs of a given fsid is mounted.
pub fn fs_of(head: &[u8], btrfs_mounted: &dyn Fn(&str) -> bool) -> FsKind {
    // btrfs: magic "_BHRfS_M" at 64 KiB + 0x40, fsid at 64 KiB + 0x20.
    if head.len() >= 0x10048 && &head[0x10040..0x10048] == b"_BHRfS_M" {
        let fsid = uuid(&head[0x10020..0x10030]);
        let fsid_mounted = btrfs_mounted(&fsid);
        return FsKind::Btrfs { fsid, fsid_mounted };
    }
    // XFS: "XFSB" at 0.
    if head.len() >= 4 && &head[0..4] == b"XFSB" {
        return FsKind::Xfs;
    }
    // ext2/3/4: s_magic 0xEF53 (little-endian) at 1024 + 0x38.
    if head.len() >= 1082 && head[1080] == 0x53 && head[1081] == 0xEF {
        return FsKind::Ext;
    }
    FsKind::Unknown
}

fn uuid(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Reads the device's number and superblock.
pub fn probe(device: &Path) -> Result<DeviceInfo, SystemError> {
    let io = |source: std::io::Error| SystemError::Device {
        path: device.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(device).map_err(io)?;
    if !meta.file_type().is_block_device() {
        return Err(io(std::io::Error::other("not a block device")));
    }
    let mut head = Vec::with_capacity(PROBE_BYTES);
    std::fs::File::open(device)
        .map_err(io)?
        .take(PROBE_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(io)?;
    let rdev = meta.rdev();
    Ok(DeviceInfo {
        major: rustix::fs::major(rdev),
        minor: rustix::fs::minor(rdev),
        fs: fs_of(&head, &|fsid| {
            Path::new("/sys/fs/btrfs").join(fsid).is_dir()
        }),
    })
}

/// Runs `mount ...` or `umount ...` as built by `graph::argv`.
pub fn run(argv: &[String]) -> Result<(), SystemError> {
    let tool = match argv[0].as_str() {
        "mount" => tools::MOUNT,
        _ => tools::UMOUNT,
    };
    let path = tools::find(tool).ok_or(ToolMissing { tool })?;
    ProcessRunner.run(&CommandLine::new(path).args(argv[1..].iter().cloned()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superblock_magics_name_the_filesystem() {
        let never = |_: &str| false;
        let mut head = vec![0u8; PROBE_BYTES];
        assert_eq!(fs_of(&head, &never), FsKind::Unknown);
        head[1080] = 0x53;
        head[1081] = 0xEF;
        assert_eq!(fs_of(&head, &never), FsKind::Ext);
        head[0..4].copy_from_slice(b"XFSB");
        assert_eq!(fs_of(&head, &never), FsKind::Xfs);
        head[0x10040..0x10048].copy_from_slice(b"_BHRfS_M");
        head[0x10020..0x10030].copy_from_slice(&[0xab; 16]);
        let fsid = "abababab-abab-abab-abab-abababababab";
        assert_eq!(
            fs_of(&head, &|id| id == fsid),
            FsKind::Btrfs {
                fsid: fsid.into(),
                fsid_mounted: true
            }
        );
        // A device too short for the btrfs superblock is not misread as one.
        let mut short = vec![0u8; 0x10044];
        short[0x10040..0x10044].copy_from_slice(b"_BHR");
        assert_eq!(fs_of(&short, &never), FsKind::Unknown);
    }
}
