//! Booting the VM: qemu with TCG (KVM aborts on this kind of machine), the
//! console streamed to a log, a hard timeout, and the result markers read
//! from the console as they come.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::scenario::{Boot, Outcome, parse_result};

pub const QEMU: &str = "qemu-system-x86_64";

/// Time for the kernel and /init around the scenarios themselves.
pub const BOOT_OVERHEAD: Duration = Duration::from_secs(60);

/// The kernel command line: the console on the serial port, a panic ends the
/// VM at once, and what /init should run (it reads `vm_*` from /proc/cmdline).
/// `vm_timeout` arms a watchdog in the VM that powers it off a little after
/// the host would have killed it: a qemu orphaned by a killed xtask still ends.
pub fn kernel_cmdline(boot: &Boot) -> String {
    format!(
        "console=ttyS0 quiet panic=-1 vm_run={} vm_ramdisk_mb={} vm_ramdisks={} vm_timeout={}",
        boot.scenarios.join(","),
        boot.ramdisk_mb,
        boot.ramdisks,
        boot.timeout.as_secs() + 30
    )
}

pub fn args(kernel: &Path, initramfs: &Path, boot: &Boot) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-accel",
        "tcg",
        "-m",
        "1024",
        "-smp",
        "2",
        "-nographic",
        "-no-reboot",
        "-nic",
        "none",
        "-kernel",
    ]
    .map(OsString::from)
    .to_vec();
    args.push(kernel.into());
    args.push("-initrd".into());
    args.push(initramfs.into());
    args.push("-append".into());
    args.push(kernel_cmdline(boot).into());
    args
}

pub struct BootReport {
    pub outcomes: Vec<Outcome>,
    pub timed_out: bool,
    pub wall: Duration,
}

/// Boots and waits for the VM to power off, killing it after `timeout`.
/// Every console line goes to `log` (and to stdout too when `echo`).
pub fn run(
    args: &[OsString],
    log: &Path,
    echo: bool,
    timeout: Duration,
) -> Result<BootReport, String> {
    let file = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let stderr = file.try_clone().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = Command::new(QEMU)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start {QEMU}: {e}"))?;
    let console = child.stdout.take().expect("stdout is piped");
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let outcomes = Arc::clone(&outcomes);
        std::thread::spawn(move || stream(console, file, echo, &outcomes))
    };
    let mut timed_out = false;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > timeout => {
                timed_out = true;
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("waiting for {QEMU}: {e}")),
        }
    }
    let wall = started.elapsed();
    let _ = reader.join();
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(BootReport {
        outcomes,
        timed_out,
        wall,
    })
}

fn stream(console: impl std::io::Read, mut log: File, echo: bool, outcomes: &Mutex<Vec<Outcome>>) {
    let mut reader = BufReader::new(console);
    let mut buf = Vec::new();
    let stdout = std::io::stdout();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&buf);
        let line = without_escapes(text.trim_end_matches(['\n', '\r'])).replace('\r', "");
        let _ = writeln!(log, "{line}");
        if echo {
            let mut out = stdout.lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        if let Some(outcome) = parse_result(&line) {
            outcomes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(outcome);
        }
    }
}

/// `line` without terminal escape sequences (the firmware clears the screen),
/// so logs read cleanly in CI.
pub fn without_escapes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.next_if_eq(&'[').is_some() {
            // CSI: parameters and intermediates up to a final byte @..~.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot() -> Boot {
        Boot {
            scenarios: vec!["smoke".into(), "check_fit".into()],
            ramdisk_mb: 128,
            ramdisks: 4,
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn escapes_are_removed() {
        assert_eq!(
            without_escapes("\u{1b}c\u{1b}[?7l\u{1b}[2J\u{1b}[0mSeaBIOS (version 1)"),
            "SeaBIOS (version 1)"
        );
        assert_eq!(without_escapes("plain [ 1.0] text"), "plain [ 1.0] text");
    }

    #[test]
    fn cmdline_names_scenarios_and_ramdisks() {
        assert_eq!(
            kernel_cmdline(&boot()),
            "console=ttyS0 quiet panic=-1 vm_run=smoke,check_fit vm_ramdisk_mb=128 vm_ramdisks=4 \
             vm_timeout=40"
        );
    }

    #[test]
    fn qemu_uses_tcg_and_no_reboot() {
        let args = args(Path::new("/k"), Path::new("/i"), &boot());
        let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into()).collect();
        let joined = args.join(" ");
        assert!(joined.starts_with("-accel tcg -m 1024 -smp 2 -nographic -no-reboot"));
        assert!(joined.contains("-kernel /k -initrd /i -append console=ttyS0"));
        assert!(!joined.contains("kvm"));
    }
}
