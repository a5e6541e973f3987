//! Finding system tools. cron runs jobs with `PATH=/usr/bin:/bin`, where
//! lvm2's tools are not, so the sbin directories are always searched too.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Searched after `$PATH`, in this order.
pub const SBIN_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/local/sbin"];

/// lvm2's multi-call binary: `lvm lvs`, `lvm lvcreate`, ... works even where
/// the per-command symlinks are missing (minimal systems, initramfs).
pub const LVM: &str = "lvm";
/// device-mapper's tool: open counts when a removal fails.
pub const DMSETUP: &str = "dmsetup";
/// udev's tool: `udevadm settle` before removing a device udev may scan.
pub const UDEVADM: &str = "udevadm";
/// open-iscsi's tool, needed only when the plan's target uses iSCSI.
pub const ISCSIADM: &str = "iscsiadm";
pub const THIN_DELTA: &str = "thin_delta";
/// mount(8) and umount(8), for `snapplan mount` and `unmount`.
pub const MOUNT: &str = "mount";
pub const UMOUNT: &str = "umount";

/// The package that provides a tool on Debian-like and RPM-based systems,
/// for the "install it" advice.
pub fn package_of(tool: &str) -> &'static str {
    match tool {
        LVM | DMSETUP => "lvm2 (dmsetup)",
        UDEVADM => "udev / systemd",
        ISCSIADM => "open-iscsi (iscsi-initiator-utils)",
        THIN_DELTA => "thin-provisioning-tools (device-mapper-persistent-data)",
        MOUNT | UMOUNT => "mount (util-linux)",
        _ => "the package providing it",
    }
}

/// The search path used: `$PATH` followed by the sbin directories.
pub fn search_path(env_path: Option<OsString>) -> OsString {
    let mut dirs: Vec<PathBuf> = env_path
        .as_deref()
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    for dir in SBIN_DIRS {
        if !dirs.iter().any(|d| d == Path::new(dir)) {
            dirs.push(PathBuf::from(dir));
        }
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// When set, the only places tools are searched (a `PATH`-like list): for
/// systems with lvm2 in an unusual place, and for tests.
pub const TOOL_PATH_ENV: &str = "SNAPPLAN_TOOL_PATH";

/// Where `tool` is, searching `$PATH` and the sbin directories (or only
/// `$SNAPPLAN_TOOL_PATH` when that is set).
pub fn find(tool: &str) -> Option<PathBuf> {
    let path =
        std::env::var_os(TOOL_PATH_ENV).unwrap_or_else(|| search_path(std::env::var_os("PATH")));
    find_in(tool, path)
}

pub fn find_in(tool: &str, search_path: OsString) -> Option<PathBuf> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    which::which_in(tool, Some(search_path), cwd).ok()
}

/// The tools the LVM adapter uses: lvm is required, the others improve
/// robustness and diagnostics when present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    pub lvm: PathBuf,
    pub dmsetup: Option<PathBuf>,
    pub udevadm: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{tool}` not found in $PATH or {}; install {}",
    SBIN_DIRS.join(", "),
    package_of(tool)
)]
pub struct ToolMissing {
    pub tool: &'static str,
}

impl Tools {
    pub fn find() -> Result<Tools, ToolMissing> {
        Ok(Tools {
            lvm: find(LVM).ok_or(ToolMissing { tool: LVM })?,
            dmsetup: find(DMSETUP),
            udevadm: find(UDEVADM),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbin_directories_are_searched_even_when_path_lacks_them() {
        let path = search_path(Some("/usr/bin:/bin".into()));
        let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        assert_eq!(dirs[0], PathBuf::from("/usr/bin"));
        for sbin in SBIN_DIRS {
            assert!(dirs.contains(&PathBuf::from(sbin)), "{sbin} missing");
        }
        let no_path = search_path(None);
        assert_eq!(std::env::split_paths(&no_path).count(), SBIN_DIRS.len());
    }

    #[test]
    fn finds_an_executable_in_an_extra_dir_and_not_a_plain_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("fake-lvm");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let plain = dir.path().join("not-executable");
        std::fs::write(&plain, "").unwrap();
        let path = dir.path().as_os_str().to_owned();
        assert_eq!(find_in("fake-lvm", path.clone()), Some(tool));
        assert_eq!(find_in("not-executable", path), None);
    }

    #[test]
    fn missing_tool_message_names_tool_and_package() {
        let text = ToolMissing { tool: LVM }.to_string();
        assert!(text.contains("`lvm` not found") && text.contains("/usr/sbin"));
        assert!(text.contains("lvm2"));
    }
}
