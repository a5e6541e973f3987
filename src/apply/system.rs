//! The small interface the executor needs from the machine: LVM reports and
//! commands, LV removal, hooks, the copy engine and verification. The real
//! implementation sits on the adapters (`lvm`, `hooks`, `copy`); the unit
//! tests use an in-memory fake (`fake.rs`) so every failure path is tested
//! without LVM.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::copy::{self, CopyControl, CopyError, CopyRequest, Manifest};
use crate::hooks::{self, HookAction, HookCall, HookEnd};
use crate::lvm::{self, LvKind, Lvm, SystemLvm, SystemReport, tools};
use crate::plan::LvPath;

/// One copy the executor asks for.
#[derive(Debug, Clone)]
pub struct CopyJob {
    pub volume: String,
    pub source: PathBuf,
    pub destination: PathBuf,
    pub manifest: PathBuf,
    pub bytes_per_second: Option<u64>,
}

/// What a finished copy did.
#[derive(Debug, Clone, Default)]
pub struct CopyStats {
    pub size: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyFailure {
    /// The cancel flag stopped it (signal or watchdog).
    Cancelled,
    Failed(String),
}

/// How one hook call ended.
#[derive(Debug, Clone)]
pub struct HookResult {
    pub ok: bool,
    /// `exit status 1`, `timed out after 60s`, ...
    pub detail: String,
    pub output: Vec<String>,
}

pub trait System: Sync {
    fn report(&self) -> Result<SystemReport, String>;
    /// Runs a command line as the graph built it: `argv[0]` is an lvm2
    /// subcommand (`lvcreate`, `vgchange`, ...) or `iscsiadm`.
    fn run(&self, argv: &[String]) -> Result<(), String>;
    /// Removes an LV, surviving udev's "in use" races. The caller has
    /// checked its tags.
    fn remove_lv(&self, lv: &LvPath, kind: LvKind) -> Result<(), String>;
    /// The hook programs in `dir`, in suspend order.
    fn list_hooks(&self, dir: &Path) -> Result<Vec<PathBuf>, String>;
    fn hook(
        &self,
        path: &Path,
        action: HookAction,
        timeout: Duration,
        env: &[(String, String)],
    ) -> HookResult;
    /// Copies with the copy engine; `control.cancel` stops it at the next
    /// chunk, `control.source_check` runs after every chunk read.
    fn copy(&self, job: &CopyJob, control: &CopyControl<'_>) -> Result<CopyStats, CopyFailure>;
    /// Re-reads `device` and compares it with the manifest at `manifest`.
    fn verify(&self, manifest: &Path, device: &Path, cancel: &AtomicBool) -> Result<(), String>;
}

/// The machine itself. Without the `lvm` tool every LVM call fails with
/// the reason (the pre-flight says so first).
pub struct RealSystem {
    lvm: Result<SystemLvm, String>,
    /// Show copy progress (a bar on a terminal, plain lines otherwise).
    pub progress: bool,
}

impl RealSystem {
    pub fn new() -> RealSystem {
        RealSystem {
            lvm: SystemLvm::from_system().map_err(|e| e.to_string()),
            progress: true,
        }
    }

    pub fn lvm(&self) -> Option<&SystemLvm> {
        self.lvm.as_ref().ok()
    }

    fn lvm_or_err(&self) -> Result<&SystemLvm, String> {
        self.lvm.as_ref().map_err(Clone::clone)
    }
}

impl Default for RealSystem {
    fn default() -> Self {
        RealSystem::new()
    }
}

impl System for RealSystem {
    fn report(&self) -> Result<SystemReport, String> {
        self.lvm_or_err()?.report().map_err(|e| e.to_string())
    }

    fn run(&self, argv: &[String]) -> Result<(), String> {
        let Some(program) = argv.first() else {
            return Err("empty command line".into());
        };
        if program == tools::ISCSIADM {
            let path = tools::find(tools::ISCSIADM)
                .ok_or_else(|| format!("`{}` not found; install open-iscsi", tools::ISCSIADM))?;
            let command = lvm::CommandLine::new(path).args(argv[1..].iter().cloned());
            use lvm::Runner;
            return iscsiadm_result(argv, lvm::ProcessRunner.run(&command).map(drop));
        }
        self.lvm_or_err()?
            .run(argv)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn remove_lv(&self, lv: &LvPath, kind: LvKind) -> Result<(), String> {
        self.lvm_or_err()?
            .remove(lv, kind)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn list_hooks(&self, dir: &Path) -> Result<Vec<PathBuf>, String> {
        hooks::list_hooks(dir)
            .map(|l| l.hooks)
            .map_err(|e| format!("cannot list hooks in {}: {e}", dir.display()))
    }

    fn hook(
        &self,
        path: &Path,
        action: HookAction,
        timeout: Duration,
        env: &[(String, String)],
    ) -> HookResult {
        let call = HookCall {
            path,
            action,
            timeout,
            env,
        };
        match hooks::run_hook(&call) {
            Ok(outcome) => HookResult {
                ok: outcome.succeeded(),
                detail: match outcome.ended {
                    HookEnd::Exited(code) => format!("exit status {code}"),
                    HookEnd::KilledBySignal(sig) => format!("killed by signal {sig}"),
                    HookEnd::TimedOut => {
                        format!(
                            "timed out after {}s, process group killed",
                            timeout.as_secs_f64()
                        )
                    }
                },
                output: outcome.output,
            },
            Err(e) => HookResult {
                ok: false,
                detail: e.to_string(),
                output: Vec::new(),
            },
        }
    }

    fn copy(&self, job: &CopyJob, control: &CopyControl<'_>) -> Result<CopyStats, CopyFailure> {
        let source = wait_for_device(&job.source);
        let destination = wait_for_device(&job.destination);
        let mut request = CopyRequest::new(source, destination);
        request.bytes_per_second = job.bytes_per_second;
        request.manifest = Some(job.manifest.clone());
        match copy::run(&request, control) {
            Ok(report) => {
                for note in &report.notes {
                    tracing::info!(volume = %job.volume, "copy: {note}");
                }
                tracing::info!(volume = %job.volume, "{}", report.summary());
                Ok(CopyStats {
                    size: report.bytes_read,
                    bytes_read: report.bytes_read,
                    bytes_written: report.bytes_written,
                })
            }
            Err(CopyError::Interrupted { .. }) => Err(CopyFailure::Cancelled),
            Err(e) => Err(CopyFailure::Failed(e.to_string())),
        }
    }

    fn verify(&self, manifest: &Path, device: &Path, cancel: &AtomicBool) -> Result<(), String> {
        let manifest = Manifest::load(manifest).map_err(|e| e.to_string())?;
        let sink = if self.progress {
            copy::progress::sink_for(copy::progress::ProgressMode::Auto)
        } else {
            Box::new(copy::NoProgress)
        };
        let device = wait_for_device(device);
        let report = copy::verify::verify(&manifest, &device, cancel, sink.as_ref())
            .map_err(|e| e.to_string())?;
        if report.mismatches.is_empty() {
            Ok(())
        } else {
            Err(report.summary())
        }
    }
}

/// iscsiadm's exit status when a session to log in to already exists
/// (ISCSI_ERR_SESS_EXISTS) and when there is none to log out of
/// (ISCSI_ERR_NO_OBJS_FOUND).
const ISCSI_SESSION_EXISTS: i32 = 15;
const ISCSI_NO_SESSION: i32 = 21;

/// A login to a target already logged in to, or a logout with no session,
/// finds the system as the step wants it: success. So `--phase login` run
/// before `all`, or a `recover` after a run that died before its login
/// worked, does not fail on it.
fn iscsiadm_result(argv: &[String], result: Result<(), lvm::RunError>) -> Result<(), String> {
    let already = match argv.last().map(String::as_str) {
        Some("--login") => ISCSI_SESSION_EXISTS,
        Some("--logout") => ISCSI_NO_SESSION,
        _ => return result.map_err(|e| e.to_string()),
    };
    match result {
        Err(lvm::RunError::Failed {
            exit: lvm::runner::Exit::Code(code),
            ..
        }) if code == already => {
            tracing::info!(
                "{}: nothing to do (iscsiadm exit status {code}: {})",
                argv.join(" "),
                if code == ISCSI_SESSION_EXISTS {
                    "already logged in"
                } else {
                    "no session"
                }
            );
            Ok(())
        }
        other => other.map_err(|e| e.to_string()),
    }
}

/// `/dev/<vg>/<lv>`: how udev (or lvm itself) names an active LV.
pub fn device_path(lv: &LvPath) -> PathBuf {
    PathBuf::from(format!("/dev/{}/{}", lv.vg, lv.lv))
}

/// A just-created LV's `/dev/<vg>/<lv>` link appears when udev gets to it:
/// wait for it a little, then fall back to the device-mapper node, which
/// exists as soon as lvcreate returns.
fn wait_for_device(path: &Path) -> PathBuf {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !path.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if path.exists() {
        return path.to_path_buf();
    }
    let mut parts = path
        .iter()
        .skip(2)
        .map(|p| p.to_string_lossy().into_owned());
    if let (Some(vg), Some(lv)) = (parts.next(), parts.next()) {
        let mapper = PathBuf::from("/dev/mapper").join(lvm::remove::dm_name(&LvPath { vg, lv }));
        if mapper.exists() {
            tracing::warn!(
                "{} did not appear: using {}",
                path.display(),
                mapper.display()
            );
            return mapper;
        }
    }
    path.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::argv as commands;
    use crate::lvm::runner::Exit;

    fn failed(code: i32) -> Result<(), lvm::RunError> {
        Err(lvm::RunError::Failed {
            command: "iscsiadm".into(),
            exit: Exit::Code(code),
            stderr: "iscsiadm: ...".into(),
        })
    }

    #[test]
    fn iscsiadm_login_to_an_existing_session_and_logout_without_one_succeed() {
        let login = commands::iscsi_login("192.0.2.10:3260", "iqn.2026-01.org.example:b");
        let logout = commands::iscsi_logout("192.0.2.10:3260", "iqn.2026-01.org.example:b");
        let discover = commands::iscsi_discover("192.0.2.10:3260");
        assert_eq!(iscsiadm_result(&login, failed(15)), Ok(()));
        assert_eq!(iscsiadm_result(&logout, failed(21)), Ok(()));
        assert!(iscsiadm_result(&login, failed(21)).is_err());
        assert!(iscsiadm_result(&logout, failed(15)).is_err());
        assert!(iscsiadm_result(&login, failed(8)).is_err());
        assert!(iscsiadm_result(&discover, failed(21)).is_err());
        assert_eq!(iscsiadm_result(&logout, Ok(())), Ok(()));
    }
}
