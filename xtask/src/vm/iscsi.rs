//! iSCSI in the VM, both ends on loopback: the kernel's LIO target (set up
//! through configfs by tests/vm/lib.sh) and open-iscsi's iscsid/iscsiadm as
//! the initiator. Packed only when a scenario's header says `# vm: iscsi`.
//!
//! open-iscsi comes from Debian's packages, fetched with `apt-get download`
//! and unpacked with `dpkg -x` into target/vm/iscsi/ rather than installed:
//! installing would start iscsid on the host.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::host::{self, cmd};

/// The packages iscsid and iscsiadm come from, and the libraries they
/// bring that the host does not have.
pub const PACKAGES: &[&str] = &["open-iscsi", "libisns0", "libopeniscsiusr"];

/// Kernel modules a scenario loads with `modprobe` (the target's backends
/// are also requested by the kernel itself, through /sbin/modprobe): the
/// LIO iSCSI target with its block backend, and the initiator's transport
/// with the SCSI disk driver. Their dependencies come along.
pub const MODULES: &[&str] = &[
    "iscsi_target_mod",
    "target_core_iblock",
    "iscsi_tcp",
    "sd_mod",
    "crc32c_generic",
];

/// The programs packed, relative to the unpacked packages' root (and the
/// VM's).
pub const BINARIES: &[&str] = &["sbin/iscsid", "sbin/iscsiadm"];

/// The initiator's name: iscsid refuses to start without one.
pub const INITIATOR_NAME: &str = "InitiatorName=iqn.2026-11.org.snapplan:vm-initiator\n";

/// Marks a fully unpacked cache: written last.
const COMPLETE: &str = ".complete";

/// The unpacked packages.
pub struct Tools {
    pub root: PathBuf,
}

impl Tools {
    /// Where the packages' own libraries are, for `ldd` on their programs.
    pub fn library_dir(&self) -> PathBuf {
        self.root.join("usr/lib/x86_64-linux-gnu")
    }

    /// `path` (from `ldd`) as a path inside the VM: the packages' own
    /// libraries move from under `root` to their place in the VM.
    pub fn vm_path<'a>(&self, path: &'a Path) -> &'a Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }
}

/// Fetches and unpacks the packages once into `cache` (target/vm/iscsi).
pub fn ensure(cache: &Path) -> Result<Tools, String> {
    let root = cache.join("root");
    if !cache.join(COMPLETE).exists() {
        let started = std::time::Instant::now();
        fetch(cache, &root)?;
        eprintln!(
            "xtask: fetched and unpacked {} in {:.1} s",
            PACKAGES.join(" "),
            started.elapsed().as_secs_f64()
        );
    }
    for bin in BINARIES {
        if !root.join(bin).is_file() {
            return Err(format!(
                "{} is missing from the unpacked open-iscsi; remove {} and run again",
                bin,
                cache.display()
            ));
        }
    }
    Ok(Tools { root })
}

fn fetch(cache: &Path, root: &Path) -> Result<(), String> {
    eprintln!(
        "xtask: fetching {} into {}",
        PACKAGES.join(" "),
        cache.display()
    );
    if cache.exists() {
        fs::remove_dir_all(cache).map_err(|e| format!("cannot clear {}: {e}", cache.display()))?;
    }
    let download = cache.join("download");
    fs::create_dir_all(&download).map_err(|e| format!("{}: {e}", download.display()))?;
    // apt downloads as the `_apt` user when it can write here (else it warns).
    let _ = fs::set_permissions(&download, fs::Permissions::from_mode(0o777));
    let get = || {
        let mut get = cmd("apt-get", ["download"]);
        get.args(PACKAGES).current_dir(&download);
        get
    };
    if host::run(get()).is_err() && host::is_root() {
        host::run(cmd("apt-get", ["update"]))?;
        host::run(get())?;
    }
    let mut debs: Vec<PathBuf> = fs::read_dir(&download)
        .map_err(|e| format!("{}: {e}", download.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    debs.sort();
    if debs.len() != PACKAGES.len() {
        return Err(format!(
            "apt-get download {} left {} .deb files in {}",
            PACKAGES.join(" "),
            debs.len(),
            download.display()
        ));
    }
    for deb in &debs {
        host::run(cmd(
            "dpkg",
            ["-x".as_ref(), deb.as_os_str(), root.as_os_str()],
        ))?;
    }
    let names: Vec<String> = debs
        .iter()
        .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    fs::remove_dir_all(&download).map_err(|e| format!("{}: {e}", download.display()))?;
    fs::write(cache.join(COMPLETE), names.join("\n"))
        .map_err(|e| format!("{}: {e}", cache.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_libraries_move_to_their_place_in_the_vm() {
        let tools = Tools {
            root: PathBuf::from("/t/vm/iscsi/root"),
        };
        assert_eq!(
            tools.vm_path(Path::new(
                "/t/vm/iscsi/root/usr/lib/x86_64-linux-gnu/libisns.so.0"
            )),
            Path::new("usr/lib/x86_64-linux-gnu/libisns.so.0")
        );
        assert_eq!(
            tools.vm_path(Path::new("/lib/x86_64-linux-gnu/libc.so.6")),
            Path::new("/lib/x86_64-linux-gnu/libc.so.6")
        );
    }
}
