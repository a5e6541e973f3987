//! What a source, a destination and a manifest really are underneath their
//! paths, so a copy never writes onto what it reads or keeps: a symlink, a
//! hard link or a bind mount shows up as the same inode or device number; a
//! loop device as the file behind it (with its byte range); a
//! device-mapper device as the devices it is built from (`slaves/`).
//!
//! Read from sysfs (`/sys/dev/block/MAJ:MIN/{loop/,slaves/,partition}`),
//! which the kernel keeps for every block device; nothing is opened.
//! What it cannot see: the ranges a device-mapper table maps (two LVs on
//! one loop-backed PV share its file, which is normal, so only a loop or
//! file seen directly is compared by range), and a loop whose backing
//! file was deleted (it cannot alias a path that still exists, except
//! through another hard link).

use std::fs::Metadata;
use std::ops::Range;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// A block device number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevNo {
    pub major: u32,
    pub minor: u32,
}

impl std::fmt::Display for DevNo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

/// A file by identity (`st_dev`, `st_ino`), whatever path reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// Bytes of a file that a device or path reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileExtent {
    pub file: FileId,
    /// The file's path as the kernel or the caller named it.
    pub path: PathBuf,
    pub range: Range<u64>,
    /// The loop device in between (`loop3`), if any.
    pub via: Option<String>,
    /// True when the range is exact: the file itself, or a loop device that
    /// is the endpoint (or a partition of it). A loop found under a
    /// device-mapper device stands for its whole range.
    pub direct: bool,
}

/// Everything one endpoint of a copy reads or writes underneath.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footprint {
    /// The endpoint's own device number (block devices).
    pub top: Option<DevNo>,
    /// The devices it is built from, itself included.
    pub devices: Vec<DevNo>,
    pub files: Vec<FileExtent>,
}

/// Where sysfs is (a test points it at a fake tree).
#[derive(Debug, Clone)]
pub struct Sysfs {
    root: PathBuf,
}

impl Default for Sysfs {
    fn default() -> Self {
        Sysfs {
            root: PathBuf::from("/sys"),
        }
    }
}

/// Devices deeper than this stack (or a sysfs loop) are not followed.
const MAX_DEVICES: usize = 64;

impl Sysfs {
    pub fn at(root: impl Into<PathBuf>) -> Sysfs {
        Sysfs { root: root.into() }
    }

    fn device_dir(&self, dev: DevNo) -> PathBuf {
        self.root.join(format!("dev/block/{dev}"))
    }

    /// A small sysfs attribute, trimmed; None when absent.
    fn read(dir: &Path, name: &str) -> Option<String> {
        use std::io::Read;
        let mut text = String::new();
        std::fs::File::open(dir.join(name))
            .ok()?
            .take(8192)
            .read_to_string(&mut text)
            .ok()?;
        Some(text.trim_end_matches('\n').to_string())
    }

    fn number(dir: &Path, name: &str) -> Option<u64> {
        Self::read(dir, name)?.trim().parse().ok()
    }

    fn devno(dir: &Path) -> Option<DevNo> {
        let text = Self::read(dir, "dev")?;
        let (major, minor) = text.trim().split_once(':')?;
        Some(DevNo {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }

    /// The file behind a loop device (or a partition of one), if `dir` is
    /// one: the backing file, and the bytes of it the device covers.
    fn loop_extent(&self, dir: &Path, direct: bool) -> Option<FileExtent> {
        // A partition (loop0p1) has no loop/ of its own: its disk does.
        let (disk, start) = if dir.join("partition").exists() {
            (dir.join(".."), Self::number(dir, "start")? * 512)
        } else {
            (dir.to_path_buf(), 0)
        };
        let backing = Self::read(&disk.join("loop"), "backing_file")?;
        let offset = Self::number(&disk.join("loop"), "offset").unwrap_or(0);
        let size = Self::number(dir, "size")? * 512;
        let metadata = std::fs::metadata(&backing).ok()?;
        let name = std::fs::canonicalize(&disk)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
        let begin = offset.saturating_add(start);
        Some(FileExtent {
            file: FileId {
                dev: metadata.dev(),
                ino: metadata.ino(),
            },
            path: PathBuf::from(backing),
            range: begin..begin.saturating_add(size),
            via: name,
            direct,
        })
    }

    /// What a block device is built from, itself included.
    pub fn block_footprint(&self, top: DevNo) -> Footprint {
        let mut footprint = Footprint {
            top: Some(top),
            devices: Vec::new(),
            files: Vec::new(),
        };
        let mut todo = vec![(top, true)];
        while let Some((dev, direct)) = todo.pop() {
            if footprint.devices.contains(&dev) || footprint.devices.len() >= MAX_DEVICES {
                continue;
            }
            footprint.devices.push(dev);
            let dir = self.device_dir(dev);
            if let Some(extent) = self.loop_extent(&dir, direct) {
                footprint.files.push(extent);
            }
            // A partition is built from its disk.
            if dir.join("partition").exists()
                && let Some(disk) = Self::devno(&dir.join(".."))
            {
                todo.push((disk, direct));
            }
            let Ok(slaves) = std::fs::read_dir(dir.join("slaves")) else {
                continue;
            };
            for slave in slaves.flatten().take(MAX_DEVICES) {
                if let Some(lower) = Self::devno(&slave.path()) {
                    todo.push((lower, false));
                }
            }
        }
        footprint
    }

    /// The footprint of an opened source or destination.
    pub fn footprint(&self, path: &Path, metadata: &Metadata) -> Footprint {
        if metadata.file_type().is_block_device() {
            let rdev = metadata.rdev();
            self.block_footprint(DevNo {
                major: rustix::fs::major(rdev),
                minor: rustix::fs::minor(rdev),
            })
        } else {
            Footprint {
                top: None,
                devices: Vec::new(),
                files: vec![FileExtent {
                    file: FileId {
                        dev: metadata.dev(),
                        ino: metadata.ino(),
                    },
                    path: path.to_path_buf(),
                    range: 0..metadata.len(),
                    via: None,
                    direct: true,
                }],
            }
        }
    }

    /// The loop devices (and their partitions) other than `except` that
    /// cover bytes of `extent`'s file overlapping its range.
    pub fn loops_over(&self, extent: &FileExtent, except: &[DevNo]) -> Vec<(String, DevNo)> {
        let mut found = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.root.join("block")) else {
            return found;
        };
        for entry in entries.flatten().take(4096) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with("loop") {
                continue;
            }
            let disk = entry.path();
            let mut dirs = vec![(name.clone(), disk.clone())];
            if let Ok(parts) = std::fs::read_dir(&disk) {
                for part in parts.flatten().take(256) {
                    if part.path().join("partition").exists() {
                        let part_name = part.file_name().to_string_lossy().into_owned();
                        dirs.push((part_name, part.path()));
                    }
                }
            }
            for (name, dir) in dirs {
                let (Some(dev), Some(other)) = (Self::devno(&dir), self.loop_extent(&dir, true))
                else {
                    continue;
                };
                if !except.contains(&dev)
                    && other.file == extent.file
                    && overlaps(&other.range, &extent.range)
                {
                    found.push((name, dev));
                }
            }
        }
        found
    }
}

fn overlaps(a: &Range<u64>, b: &Range<u64>) -> bool {
    a.start < b.end && b.start < a.end
}

fn describe(extent: &FileExtent) -> String {
    match &extent.via {
        Some(via) => format!(
            "{} (through /dev/{via}, bytes {}..{})",
            extent.path.display(),
            extent.range.start,
            extent.range.end
        ),
        None => extent.path.display().to_string(),
    }
}

/// Why writing `destination` would change what `source` reads (or the
/// other way round), if it would.
pub fn aliased(source: &Footprint, destination: &Footprint) -> Option<String> {
    if let Some(top) = destination.top
        && source.devices.contains(&top)
    {
        return Some(format!(
            "the source is built on the destination (device {top})"
        ));
    }
    if let Some(top) = source.top
        && destination.devices.contains(&top)
    {
        return Some(format!(
            "the destination is built on the source (device {top})"
        ));
    }
    for a in &source.files {
        for b in &destination.files {
            if a.file == b.file && (a.direct || b.direct) && overlaps(&a.range, &b.range) {
                return Some(format!(
                    "both are the same file underneath: the source reads {} and the destination writes {}",
                    describe(a),
                    describe(b)
                ));
            }
        }
    }
    None
}

/// Why a manifest kept at a file with identity `manifest` would overwrite
/// (or be overwritten by) what `footprint` reads or writes, if it would.
pub fn holds_file(footprint: &Footprint, manifest: FileId) -> Option<String> {
    footprint
        .files
        .iter()
        .find(|extent| extent.file == manifest)
        .map(describe)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake sysfs: loop devices over files, device-mapper devices over
    /// them, a partition.
    struct FakeSys {
        dir: tempfile::TempDir,
    }

    impl FakeSys {
        fn new() -> FakeSys {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join("dev/block")).unwrap();
            std::fs::create_dir_all(dir.path().join("block")).unwrap();
            std::fs::create_dir_all(dir.path().join("devices")).unwrap();
            FakeSys { dir }
        }
        fn sysfs(&self) -> Sysfs {
            Sysfs::at(self.dir.path())
        }
        fn device(&self, name: &str, dev: DevNo, sectors: u64) -> PathBuf {
            let path = self.dir.path().join("devices").join(name);
            std::fs::create_dir_all(path.join("slaves")).unwrap();
            std::fs::write(path.join("dev"), format!("{dev}\n")).unwrap();
            std::fs::write(path.join("size"), format!("{sectors}\n")).unwrap();
            std::os::unix::fs::symlink(&path, self.dir.path().join(format!("dev/block/{dev}")))
                .unwrap();
            std::os::unix::fs::symlink(&path, self.dir.path().join("block").join(name)).unwrap();
            path
        }
        fn loop_over(&self, name: &str, dev: DevNo, file: &Path, offset: u64, sectors: u64) {
            let path = self.device(name, dev, sectors);
            std::fs::create_dir_all(path.join("loop")).unwrap();
            std::fs::write(
                path.join("loop/backing_file"),
                format!("{}\n", file.display()),
            )
            .unwrap();
            std::fs::write(path.join("loop/offset"), format!("{offset}\n")).unwrap();
        }
        fn dm_over(&self, name: &str, dev: DevNo, lower: &[&str]) {
            let path = self.device(name, dev, 8);
            for l in lower {
                std::os::unix::fs::symlink(
                    self.dir.path().join("devices").join(l),
                    path.join("slaves").join(l),
                )
                .unwrap();
            }
        }
        fn file(&self, name: &str, len: u64) -> (PathBuf, Footprint) {
            let path = self.dir.path().join(name);
            std::fs::write(&path, vec![0; len as usize]).unwrap();
            let metadata = std::fs::metadata(&path).unwrap();
            let footprint = self.sysfs().footprint(&path, &metadata);
            (path, footprint)
        }
    }

    const fn dev(major: u32, minor: u32) -> DevNo {
        DevNo { major, minor }
    }

    #[test]
    fn two_loops_over_overlapping_ranges_of_one_file_alias() {
        let sys = FakeSys::new();
        let (image, _) = sys.file("disk.img", 8192);
        // loop0: bytes 0..4096; loop1: bytes 2048..6144; loop2: 4096..8192.
        sys.loop_over("loop0", dev(7, 0), &image, 0, 8);
        sys.loop_over("loop1", dev(7, 1), &image, 2048, 8);
        sys.loop_over("loop2", dev(7, 2), &image, 4096, 8);
        let s = sys.sysfs();
        let reason = aliased(&s.block_footprint(dev(7, 0)), &s.block_footprint(dev(7, 1))).unwrap();
        assert!(reason.contains("/dev/loop1, bytes 2048..6144"), "{reason}");
        // Disjoint ranges of one file are two devices.
        assert_eq!(
            aliased(&s.block_footprint(dev(7, 0)), &s.block_footprint(dev(7, 2))),
            None
        );
    }

    #[test]
    fn a_file_and_a_loop_over_it_alias_either_way() {
        let sys = FakeSys::new();
        let (image, file) = sys.file("disk.img", 8192);
        sys.loop_over("loop0", dev(7, 0), &image, 0, 16);
        let lo = sys.sysfs().block_footprint(dev(7, 0));
        assert!(aliased(&file, &lo).is_some());
        assert!(aliased(&lo, &file).is_some());
        let (_, other) = sys.file("other.img", 8192);
        assert_eq!(aliased(&other, &lo), None);
    }

    #[test]
    fn device_mapper_stacking_is_followed() {
        let sys = FakeSys::new();
        let (image, file) = sys.file("pv.img", 8192);
        let (image2, _) = sys.file("pv2.img", 8192);
        sys.loop_over("loop0", dev(7, 0), &image, 0, 16);
        sys.loop_over("loop1", dev(7, 1), &image2, 0, 16);
        sys.dm_over("dm-0", dev(253, 0), &["loop0"]);
        sys.dm_over("dm-1", dev(253, 1), &["loop0"]);
        sys.dm_over("dm-2", dev(253, 2), &["dm-0"]);
        sys.dm_over("dm-3", dev(253, 3), &["loop1"]);
        let s = sys.sysfs();
        // An LV onto its own PV, or a snapshot stacked on it.
        let reason = aliased(
            &s.block_footprint(dev(253, 2)),
            &s.block_footprint(dev(7, 0)),
        )
        .unwrap();
        assert!(reason.contains("built on the destination"), "{reason}");
        assert!(
            aliased(
                &s.block_footprint(dev(7, 0)),
                &s.block_footprint(dev(253, 2))
            )
            .unwrap()
            .contains("built on the source")
        );
        // The PV's backing file written directly under an LV on it.
        assert!(aliased(&s.block_footprint(dev(253, 0)), &file).is_some());
        // Two LVs on one PV are normal: the table decides, not us.
        assert_eq!(
            aliased(
                &s.block_footprint(dev(253, 0)),
                &s.block_footprint(dev(253, 1))
            ),
            None
        );
        assert_eq!(
            aliased(
                &s.block_footprint(dev(253, 0)),
                &s.block_footprint(dev(253, 3))
            ),
            None
        );
    }

    #[test]
    fn a_partition_of_a_loop_covers_its_slice_of_the_file() {
        let sys = FakeSys::new();
        let (image, _) = sys.file("disk.img", 1 << 20);
        sys.loop_over("loop0", dev(7, 0), &image, 0, 2048);
        let part = sys.dir.path().join("devices/loop0/loop0p1");
        std::fs::create_dir_all(&part).unwrap();
        std::fs::write(part.join("dev"), "259:0\n").unwrap();
        std::fs::write(part.join("size"), "1024\n").unwrap();
        std::fs::write(part.join("start"), "1024\n").unwrap();
        std::fs::write(part.join("partition"), "1\n").unwrap();
        std::os::unix::fs::symlink(&part, sys.dir.path().join("dev/block/259:0")).unwrap();
        let s = sys.sysfs();
        let footprint = s.block_footprint(dev(259, 0));
        assert_eq!(footprint.files[0].range, 512 * 1024..1 << 20);
        assert!(footprint.devices.contains(&dev(7, 0)));
        let extent = &footprint.files[0];
        assert_eq!(
            s.loops_over(extent, &[dev(259, 0)]),
            vec![("loop0".to_string(), dev(7, 0))]
        );
    }

    #[test]
    fn a_manifest_behind_a_loop_is_found() {
        let sys = FakeSys::new();
        let (image, file) = sys.file("m.json", 8192);
        sys.loop_over("loop0", dev(7, 0), &image, 0, 16);
        let id = file.files[0].file;
        assert!(holds_file(&sys.sysfs().block_footprint(dev(7, 0)), id).is_some());
        assert!(holds_file(&file, id).is_some());
        let (_, other) = sys.file("other", 1);
        assert_eq!(holds_file(&other, id), None);
    }
}
