//! The machine itself: lvm2 through [`SystemLvm`], iscsiadm, hook
//! processes, and the copy engine on real devices.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::hooks::{self, HookAction, HookCall, HookEnd};
use super::lvm::SystemLvm;
use super::remove::{self, LvKind};
use super::report::{Lv, SystemReport};
use super::runner::{CommandLine, Output, ProcessRunner, Runner};
use super::thin_delta::{self, ThinDelta, ThinDevice};
use super::tools::{self, ToolMissing};
use super::{
    CopyFailure, CopyJob, CopyStats, HookResult, System, SystemError, VerifyFailure, iscsi,
};
use crate::copy::{self, CopyControl, CopyError, CopyRequest, Manifest};
use crate::graph::argv;
use crate::plan::LvPath;

/// The machine itself. Without the `lvm` tool every LVM call fails with
/// the reason (the pre-flight says so first).
pub struct RealSystem {
    lvm: Result<SystemLvm, ToolMissing>,
    /// Show copy progress (a bar on a terminal, plain lines otherwise).
    pub progress: bool,
}

impl RealSystem {
    pub fn new() -> RealSystem {
        RealSystem {
            lvm: SystemLvm::from_system(),
            progress: true,
        }
    }

    /// lvm2's tools, or which one is missing.
    pub fn lvm(&self) -> Result<&SystemLvm, &ToolMissing> {
        self.lvm.as_ref()
    }

    fn lvm_or_err(&self) -> Result<&SystemLvm, SystemError> {
        self.lvm.as_ref().map_err(|e| e.clone().into())
    }
}

impl Default for RealSystem {
    fn default() -> Self {
        RealSystem::new()
    }
}

impl System for RealSystem {
    fn report(&self) -> Result<SystemReport, SystemError> {
        self.lvm_or_err()?.report()
    }

    fn exported_lvs(&self, vg: &str) -> Result<Vec<Lv>, SystemError> {
        self.lvm_or_err()?.exported_lvs(vg)
    }

    fn run_mount(&self, argv: &[String]) -> Result<(), SystemError> {
        super::mount::run(argv)
    }

    fn probe_device(&self, device: &Path) -> Result<super::DeviceInfo, SystemError> {
        super::mount::probe(device)
    }

    fn mountinfo(&self) -> Result<String, SystemError> {
        std::fs::read_to_string(crate::procfs::MOUNTINFO)
            .map_err(|source| SystemError::Mountinfo { source })
    }

    fn lv(&self, path: &LvPath) -> Result<Option<Lv>, SystemError> {
        self.lvm_or_err()?.lv(path)
    }

    fn run_lvm(&self, argv: &[String]) -> Result<(), SystemError> {
        self.lvm_or_err()?.run(argv)?;
        Ok(())
    }

    fn remove_lv(&self, lv: &LvPath, kind: LvKind) -> Result<(), SystemError> {
        self.lvm_or_err()?.remove(lv, kind)?;
        Ok(())
    }

    fn find_tool(&self, tool: &str) -> Option<PathBuf> {
        tools::find(tool)
    }

    fn iscsi_discover(&self, portal: &str) -> Result<(), SystemError> {
        iscsi::discover(portal)
    }

    fn iscsi_login(&self, portal: &str, iqn: &str) -> Result<(), SystemError> {
        iscsi::login(portal, iqn)
    }

    fn iscsi_logout(&self, portal: &str, iqn: &str) -> Result<(), SystemError> {
        iscsi::logout(portal, iqn)
    }

    fn list_hooks(&self, dir: &Path) -> Result<Vec<PathBuf>, SystemError> {
        hooks::list_hooks(dir)
            .map(|l| l.hooks)
            .map_err(|source| SystemError::Hooks {
                dir: dir.to_path_buf(),
                source,
            })
    }

    fn hook(
        &self,
        path: &Path,
        action: HookAction,
        timeout: Duration,
        env: &[(String, String)],
    ) -> HookResult {
        // Checked again right before it runs: the listing may be minutes old.
        let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Err(untrusted) = crate::state::trust::check_file(&target) {
            return HookResult {
                ok: false,
                detail: format!("not run: {untrusted}"),
                output: Vec::new(),
            };
        }
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
        request.base = job.base.clone();
        request.changed = job.changed.clone();
        request.mapped = job.mapped.clone();
        request.previous_manifest = job.previous_manifest.clone();
        request.destination_tag = job.destination_tag.clone();
        request.destination_snapshot_of = job.destination_snapshot_of.clone();
        request.destination_zeroed = job.destination_zeroed;
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
            Err(e) => Err(CopyFailure::Failed(e)),
        }
    }

    fn thin_devices(
        &self,
        lvs: &[LvPath],
        pool: &LvPath,
    ) -> Result<Vec<Option<ThinDevice>>, SystemError> {
        let out = self.lvm_or_err()?.run(&argv::thin_ids(lvs, pool))?;
        let names: Vec<&str> = lvs.iter().map(|lv| lv.lv.as_str()).collect();
        Ok(thin_delta::parse_thin_ids(&out.stdout, &names, &pool.lv)?)
    }

    fn metadata_snap(&self, pool: &LvPath, reserve: bool) -> Result<(), SystemError> {
        run_tool(tools::DMSETUP, &argv::metadata_snap(pool, reserve))?;
        Ok(())
    }

    fn metadata_snap_held(&self, pool: &LvPath) -> Result<bool, SystemError> {
        let out = run_tool(tools::DMSETUP, &argv::pool_status(pool))?;
        Ok(thin_delta::metadata_snap_held(&String::from_utf8_lossy(
            &out.stdout,
        ))?)
    }

    fn thin_delta(
        &self,
        pool: &LvPath,
        base_id: u64,
        new_id: u64,
    ) -> Result<ThinDelta, SystemError> {
        let out = run_tool(tools::THIN_DELTA, &argv::thin_delta(pool, base_id, new_id))?;
        Ok(thin_delta::parse(&out.stdout)?)
    }

    fn verify(
        &self,
        manifest: &Path,
        device: &Path,
        cancel: &AtomicBool,
    ) -> Result<(), VerifyFailure> {
        let manifest = Manifest::load(manifest)?;
        let sink = if self.progress {
            copy::progress::sink_for(copy::progress::ProgressMode::Auto)
        } else {
            Box::new(copy::NoProgress)
        };
        let device = wait_for_device(device);
        let report = copy::verify::verify(&manifest, &device, cancel, sink.as_ref())?;
        if report.mismatches.is_empty() {
            Ok(())
        } else {
            Err(VerifyFailure::Mismatch(report.summary()))
        }
    }
}

/// Runs a tool other than lvm (argv as `graph/argv.rs` built it, `argv[0]`
/// the tool's name), found where cron's PATH may not look.
fn run_tool(tool: &'static str, argv: &[String]) -> Result<Output, SystemError> {
    let program = tools::find(tool).ok_or(ToolMissing { tool })?;
    Ok(ProcessRunner.run(&CommandLine::new(program).args(argv[1..].iter().cloned()))?)
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
        let mapper = PathBuf::from("/dev/mapper").join(remove::dm_name(&LvPath { vg, lv }));
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
