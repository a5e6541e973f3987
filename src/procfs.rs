//! What /proc says about mounts and open files, read in one place: the
//! removal's "who holds it" message (`system/remove.rs`), restore's "is it
//! mounted" refusal and the lock's "who holds it" (`state/lock.rs`) all use
//! these, so an escaped mount point or a file opened through a link is read
//! the same way everywhere. A leaf (std only), so that `state/`, which must
//! not import `system/`, can use it too.

use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// The kernel's view of mounts for this process.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Mount points of the device `major:minor` in a mountinfo text (proc(5):
/// field 3 is `major:minor`, field 5 the mount point, with space, tab,
/// newline and backslash written as octal escapes such as `\040`), in the
/// order the kernel lists them.
pub fn mount_points(mountinfo: &str, major: u32, minor: u32) -> Vec<String> {
    let wanted = format!("{major}:{minor}");
    mountinfo
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let number = fields.nth(2)?;
            let mount_point = fields.nth(1)?;
            (number == wanted).then(|| unescape_octal(mount_point))
        })
        .collect()
}

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub major: u32,
    pub minor: u32,
    /// Unescaped.
    pub mount_point: String,
    /// The per-mount options (`ro,relatime`).
    pub options: String,
    pub fstype: String,
}

/// Every mount in a mountinfo text, in its order (a later mount on the
/// same point is on top of the earlier). Lines that do not parse are
/// skipped.
pub fn mounts(mountinfo: &str) -> Vec<MountEntry> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let (major, minor) = fields.get(2)?.split_once(':')?;
            let separator = fields.iter().position(|f| *f == "-")?;
            Some(MountEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                mount_point: unescape_octal(fields.get(4)?),
                options: fields.get(5)?.to_string(),
                fstype: fields.get(separator + 1)?.to_string(),
            })
        })
        .collect()
}

/// What is mounted on `mount_point` now (the topmost mount), if anything.
pub fn mounted_on(mountinfo: &str, mount_point: &str) -> Option<MountEntry> {
    mounts(mountinfo)
        .into_iter()
        .rev()
        .find(|m| m.mount_point == mount_point)
}

/// `\040` -> space, as the kernel escapes mount points.
fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value =
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What an open file descriptor is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenTarget {
    /// A block device, by its device number (`rdev`), whatever node or
    /// link it was opened through.
    BlockDevice(u64),
    /// A file, by the device and inode it lives on.
    File { dev: u64, ino: u64 },
}

impl OpenTarget {
    fn matches(self, meta: &Metadata) -> bool {
        match self {
            OpenTarget::BlockDevice(rdev) => {
                meta.file_type().is_block_device() && meta.rdev() == rdev
            }
            OpenTarget::File { dev, ino } => meta.dev() == dev && meta.ino() == ino,
        }
    }
}

/// Pids (from `proc`, normally `/proc`) with `target` open on some file
/// descriptor, in ascending order. Processes that vanish or cannot be
/// looked into are skipped: this names holders, it proves nothing.
pub fn pids_with_open(proc: &Path, target: OpenTarget) -> Vec<u32> {
    let mut pids: Vec<u32> = std::fs::read_dir(proc)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let fds = std::fs::read_dir(entry.path().join("fd")).ok()?;
            fds.flatten()
                .any(|fd| std::fs::metadata(fd.path()).is_ok_and(|m| target.matches(&m)))
                .then_some(pid)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Whether process `pid` is there and running, not a zombie (exited, not
/// yet reaped: it holds no file any more) nor dead: the state letter after
/// the command name in `/proc/PID/stat` (`123 (snapplan) S ...`).
pub fn is_running(proc: &Path, pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(proc.join(pid.to_string()).join("stat")) else {
        return false;
    };
    // The name may hold spaces and parentheses: the state follows the last `)`.
    stat.rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().next())
        .is_some_and(|state| !matches!(state, "Z" | "X" | "x"))
}

/// A process's short name (`/proc/PID/comm`), "" when gone.
pub fn comm(proc: &Path, pid: u32) -> String {
    std::fs::read_to_string(proc.join(pid.to_string()).join("comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A process's command line with spaces between the arguments, "" when
/// gone (or a kernel thread).
pub fn cmdline(proc: &Path, pid: u32) -> String {
    let raw = std::fs::read(proc.join(pid.to_string()).join("cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw)
        .split('\0')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO_TEXT: &str = "\
22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/vg0-root rw
35 22 253:3 / /srv/my\\040data rw,relatime shared:20 - xfs /dev/mapper/vg0-data rw
36 22 253:3 / /mnt/tab\\011and\\134slash rw - xfs /dev/mapper/vg0-data rw
40 22 0:45 / /tmp rw - tmpfs tmpfs rw
";

    #[test]
    fn mount_points_are_found_by_device_number_and_unescaped() {
        assert_eq!(mount_points(MOUNTINFO_TEXT, 253, 0), vec!["/"]);
        let root = mounted_on(MOUNTINFO_TEXT, "/").unwrap();
        assert_eq!((root.major, root.minor), (253, 0));
        assert!(mounted_on(MOUNTINFO_TEXT, "/nowhere").is_none());
        assert!(!mounts(MOUNTINFO_TEXT).is_empty());
        assert_eq!(
            mount_points(MOUNTINFO_TEXT, 253, 3),
            vec!["/srv/my data", "/mnt/tab\tand\\slash"]
        );
        assert!(mount_points(MOUNTINFO_TEXT, 253, 30).is_empty());
        assert!(mount_points(MOUNTINFO_TEXT, 25, 3).is_empty());
        assert!(mount_points("garbage\n\n", 253, 0).is_empty());
    }

    #[test]
    fn this_process_runs_and_a_reaped_or_zombie_child_does_not() {
        let proc = Path::new("/proc");
        assert!(is_running(proc, std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Exited, not yet waited for: a zombie.
        let zombie = (0..500).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            !is_running(proc, pid)
        });
        assert!(zombie, "an exited child still counts as running");
        assert!(proc.join(pid.to_string()).exists(), "reaped too early");
        child.wait().unwrap();
        assert!(!is_running(proc, pid));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("7")).unwrap();
        std::fs::write(dir.path().join("7/stat"), "7 (a) b) Z 1 7\n").unwrap();
        assert!(
            !is_running(dir.path(), 7),
            "the state after the last parenthesis"
        );
        std::fs::write(dir.path().join("7/stat"), "7 (a (Z) b) S 1 7\n").unwrap();
        assert!(is_running(dir.path(), 7));
    }

    #[test]
    fn a_file_held_open_names_this_process_and_a_closed_one_nobody() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let meta = file.as_file().metadata().unwrap();
        let target = OpenTarget::File {
            dev: meta.dev(),
            ino: meta.ino(),
        };
        let me = std::process::id();
        assert!(pids_with_open(Path::new("/proc"), target).contains(&me));
        assert!(!cmdline(Path::new("/proc"), me).is_empty());
        let path = file.path().to_path_buf();
        let other = std::fs::File::create(path.with_extension("closed")).unwrap();
        let closed = other.metadata().unwrap();
        drop(other);
        let target = OpenTarget::File {
            dev: closed.dev(),
            ino: closed.ino(),
        };
        assert!(!pids_with_open(Path::new("/proc"), target).contains(&me));
        std::fs::remove_file(path.with_extension("closed")).unwrap();
    }

    /// A block device matches by device number only: the same file's
    /// inode as a plain file does not, and neither does a char device.
    #[test]
    fn a_block_device_target_ignores_files_and_char_devices() {
        let null = std::fs::File::open("/dev/null").unwrap();
        let rdev = null.metadata().unwrap().rdev();
        let me = std::process::id();
        assert!(!pids_with_open(Path::new("/proc"), OpenTarget::BlockDevice(rdev)).contains(&me));
    }
}
