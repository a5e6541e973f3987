//! Debian's kernel for the VM, fetched once with apt and cached under
//! target/vm/kernel/<package>/ (vmlinuz + lib/modules/<version>/). The host
//! kernel has no device-mapper, so the VM brings its own.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::host::{self, cmd};

pub struct Kernel {
    pub vmlinuz: PathBuf,
    /// `lib/modules/<version>` of the unpacked package, with modules.dep.
    pub modules: PathBuf,
    pub version: String,
}

/// Marks a fully unpacked cache entry: written last, so an interrupted fetch
/// is redone rather than used half-done.
const COMPLETE: &str = ".complete";

/// The versioned package `linux-image-amd64` depends on, from
/// `apt-cache depends` output.
pub fn versioned_package(apt_cache_depends: &str) -> Option<String> {
    apt_cache_depends
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-") && !p.starts_with('<'))
        .map(String::from)
}

pub fn ensure(cache_root: &Path) -> Result<Kernel, String> {
    let package = match host::output(cmd("apt-cache", ["depends", "linux-image-amd64"]))
        .ok()
        .and_then(|o| versioned_package(&o))
    {
        Some(p) => p,
        None => {
            if host::is_root() {
                host::run(cmd("apt-get", ["update"]))?;
            }
            let out = host::output(cmd("apt-cache", ["depends", "linux-image-amd64"]))?;
            versioned_package(&out).ok_or_else(|| {
                format!("apt-cache depends linux-image-amd64 names no kernel package:\n{out}")
            })?
        }
    };
    let dir = cache_root.join(&package);
    if !dir.join(COMPLETE).exists() {
        let started = std::time::Instant::now();
        fetch(&package, &dir)?;
        remove_other_kernels(cache_root, &package);
        eprintln!(
            "xtask: fetched and unpacked {package} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    load(&dir)
}

fn fetch(package: &str, dir: &Path) -> Result<(), String> {
    eprintln!("xtask: fetching kernel {package} into {}", dir.display());
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    let download = dir.join("download");
    let root = dir.join("root");
    fs::create_dir_all(&download).map_err(|e| format!("{}: {e}", download.display()))?;
    // apt downloads as the `_apt` user when it can write here (else it warns).
    let _ = fs::set_permissions(&download, fs::Permissions::from_mode(0o777));
    let mut get = cmd("apt-get", ["download", package]);
    get.current_dir(&download);
    if host::run(get).is_err() && host::is_root() {
        host::run(cmd("apt-get", ["update"]))?;
        let mut get = cmd("apt-get", ["download", package]);
        get.current_dir(&download);
        host::run(get)?;
    }
    let deb = fs::read_dir(&download)
        .map_err(|e| format!("{}: {e}", download.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| format!("apt-get download {package} left no .deb"))?;
    host::run(cmd(
        "dpkg",
        ["-x".as_ref(), deb.as_os_str(), root.as_os_str()],
    ))?;
    let version = only_entry(&root.join("lib/modules"))?;
    let boot = root.join("boot").join(format!("vmlinuz-{version}"));
    fs::rename(&boot, dir.join("vmlinuz")).map_err(|e| format!("{}: {e}", boot.display()))?;
    host::run(cmd(
        "depmod",
        ["-b".as_ref(), root.as_os_str(), version.as_ref()],
    ))?;
    fs::remove_dir_all(&download).map_err(|e| format!("{}: {e}", download.display()))?;
    fs::write(dir.join(COMPLETE), package).map_err(|e| format!("{}: {e}", dir.display()))
}

/// Kernels cached before Debian moved on are ~400 MB each: keep only the
/// current one.
fn remove_other_kernels(cache_root: &Path, current: &str) {
    let Ok(entries) = fs::read_dir(cache_root) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name() != current && entry.path().is_dir() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn load(dir: &Path) -> Result<Kernel, String> {
    let root = dir.join("root");
    let version = only_entry(&root.join("lib/modules"))?;
    Ok(Kernel {
        vmlinuz: dir.join("vmlinuz"),
        modules: root.join("lib/modules").join(&version),
        version,
    })
}

fn only_entry(dir: &Path) -> Result<String, String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    match names.len() {
        1 => Ok(names.remove(0)),
        n => Err(format!(
            "expected one kernel version in {}, found {n}",
            dir.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_versioned_package() {
        let out = "linux-image-amd64\n  Depends: linux-image-6.1.0-48-amd64\n";
        assert_eq!(
            versioned_package(out).as_deref(),
            Some("linux-image-6.1.0-48-amd64")
        );
    }

    #[test]
    fn no_package_when_apt_knows_none() {
        assert_eq!(versioned_package("linux-image-amd64\n"), None);
        assert_eq!(
            versioned_package("x\n  Depends: <linux-image-virtual>\n"),
            None
        );
    }
}
