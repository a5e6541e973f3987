//! The host side: packages the bench needs and running commands with errors
//! that name the command, so a failed CI log says what to fix.

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

/// Debian packages the bench uses on the host: qemu to boot, lvm2 for the
/// `lvm`/`dmsetup` binaries packed into the VM, a static busybox as the VM's
/// userland, cpio to pack it, kmod for depmod, jq for scenario assertions,
/// thin-provisioning-tools (pdata_tools: lvm's thin_check, snapplan's
/// thin_delta) for thin pools, e2fsprogs (mke2fs) for ext4 filesystems.
pub const PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "lvm2",
    "thin-provisioning-tools",
    "busybox-static",
    "cpio",
    "kmod",
    "jq",
    "e2fsprogs",
];

pub fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn is_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.stdout == b"install ok installed")
}

/// The exact `apt-get install` line for `packages`.
pub fn install_command(packages: &[&str]) -> Vec<String> {
    let mut cmd: Vec<String> = ["apt-get", "install", "-y", "--no-install-recommends"]
        .map(String::from)
        .to_vec();
    cmd.extend(packages.iter().map(|p| p.to_string()));
    cmd
}

/// Installs whatever of `packages` is missing when we are root (running
/// `apt-get update` once if the first attempt fails, as on a fresh machine);
/// otherwise fails with the command to run.
pub fn ensure_packages(packages: &[&str]) -> Result<(), String> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !is_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let cmd = install_command(&missing);
    if !is_root() {
        return Err(format!(
            "missing host packages: {}\nrun as root:\n  {}",
            missing.join(" "),
            cmd.join(" ")
        ));
    }
    eprintln!("xtask: installing host packages: {}", missing.join(" "));
    if run(apt(&cmd)).is_err() {
        eprintln!("xtask: apt-get install failed; running apt-get update and retrying");
        run(apt(&["apt-get".into(), "update".into()]))?;
        run(apt(&cmd))?;
    }
    Ok(())
}

fn apt(cmd: &[String]) -> Command {
    let mut c = Command::new(&cmd[0]);
    c.args(&cmd[1..])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null());
    c
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` with inherited output; an error names the command and status.
pub fn run(mut cmd: Command) -> Result<(), String> {
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run `{}`: {e}", describe(&cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(&cmd)))
    }
}

/// Runs `cmd` and returns its stdout; an error carries the stderr.
pub fn output(mut cmd: Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", describe(&cmd)))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{}` failed ({}): {}",
            describe(&cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

pub fn cmd<I, S>(program: &str, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut c = Command::new(program);
    c.args(args);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_command_is_non_interactive_and_lists_packages() {
        assert_eq!(
            install_command(&["cpio", "jq"]).join(" "),
            "apt-get install -y --no-install-recommends cpio jq"
        );
    }
}
