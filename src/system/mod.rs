//! The machine, behind one trait. Everything snapplan asks of the system it
//! runs on (LVM reports and commands, iSCSI sessions, hooks, the copy engine
//! on real devices, procfs) goes through [`System`], so check, apply,
//! recover and restore are unit-tested against one in-memory fake
//! (`fake.rs`) and proven against real lvm2 in the VM scenarios.
//!
//! Errors are typed and keep what an admin needs at 3 a.m.: the command
//! line, its exit status and stderr ([`RunError`]), and why.

#[cfg(test)]
pub mod fake;
pub mod hooks;
pub mod iscsi;
pub mod lvm;
pub mod mount;
pub mod real;
pub mod remove;
pub mod report;
pub mod runner;
pub mod thin;
pub mod thin_delta;
pub mod tools;
pub mod vg_metadata;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::copy::{CopyControl, CopyError, ManifestError};
use crate::plan::LvPath;

pub use hooks::HookAction;
pub use mount::{DeviceInfo, FsKind};
pub use real::{RealSystem, device_path};
pub use remove::{LvKind, RemoveError, RemovePolicy, Removed};
pub use report::{Lv, PoolUse, Pv, SystemReport, Vg};
pub use runner::{CommandLine, Output, ProcessRunner, RunError, Runner};
pub use thin_delta::{ThinDelta, ThinDeltaError, ThinDevice};
pub use tools::{ToolMissing, Tools};

/// Why the machine could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    /// The tool is not installed; the message says which package has it.
    #[error(transparent)]
    ToolMissing(#[from] ToolMissing),
    /// The tool ran and failed: command line, exit status and stderr.
    #[error(transparent)]
    Run(#[from] RunError),
    /// lvm2 printed a report this version of snapplan cannot read.
    #[error(transparent)]
    Report(#[from] report::ParseError),
    #[error(transparent)]
    Remove(#[from] RemoveError),
    /// thin_delta, dmsetup status or the thin_id report printed something
    /// snapplan cannot read.
    #[error(transparent)]
    ThinDelta(#[from] ThinDeltaError),
    /// `vgcfgbackup` wrote metadata snapplan cannot read.
    #[error(transparent)]
    Metadata(#[from] vg_metadata::MetadataError),
    /// A device to mount could not be looked at.
    #[error("cannot read {}: {source}", path.display())]
    Device {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", crate::procfs::MOUNTINFO)]
    Mountinfo {
        #[source]
        source: std::io::Error,
    },
    #[error("cannot list hooks in {}: {source}", dir.display())]
    Hooks {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One copy the executor asks for.
#[derive(Debug, Clone)]
pub struct CopyJob {
    pub volume: String,
    pub source: PathBuf,
    pub destination: PathBuf,
    pub manifest: PathBuf,
    pub bytes_per_second: Option<u64>,
    /// The thin snapshot read, to record in the manifest as the base the
    /// next copy's changes are relative to.
    pub base: Option<crate::copy::BaseRef>,
    /// What changed since the base the previous copy was read from.
    pub changed: Option<crate::copy::ChangedSince>,
    /// A thin snapshot read without a base: the only ranges holding data.
    pub mapped: Option<Vec<crate::copy::ByteRange>>,
    /// The manifest of the device `destination_snapshot_of` names (a
    /// thin-pool generation's parent), to compare against instead of
    /// `manifest`.
    pub previous_manifest: Option<PathBuf>,
    /// The destination's identity to record (a generation's LV UUID).
    pub destination_tag: Option<String>,
    /// See `CopyRequest::destination_snapshot_of`.
    pub destination_snapshot_of: Option<String>,
    /// See `CopyRequest::destination_zeroed`.
    pub destination_zeroed: bool,
}

/// What a finished copy did.
#[derive(Debug, Clone, Default)]
pub struct CopyStats {
    pub size: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyFailure {
    /// The cancel flag stopped it (signal or watchdog).
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Failed(CopyError),
}

/// Why a backup did not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyFailure {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The device could not be read to the end.
    #[error(transparent)]
    Read(#[from] CopyError),
    /// It was read to the end and differs: the summary names the ranges.
    #[error("{0}")]
    Mismatch(String),
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
    /// Every LV and VG: one `lvs` and one `vgs` call, however many volumes
    /// the plan has.
    fn report(&self) -> Result<SystemReport, SystemError>;
    /// The LVs of the exported VG `vg` (which the report's `lvs` hides),
    /// read without importing it (`pvs --segments`, and its text metadata
    /// for thin LVs).
    fn exported_lvs(&self, vg: &str) -> Result<Vec<Lv>, SystemError>;
    /// One LV, `None` when it does not exist: what the watchdog polls while
    /// a snapshot is copied, where a full report each interval is waste.
    fn lv(&self, path: &LvPath) -> Result<Option<Lv>, SystemError>;
    /// Runs an lvm2 command as the graph built it: `argv[0]` is the
    /// subcommand (`lvcreate`, `vgchange`, ...).
    fn run_lvm(&self, argv: &[String]) -> Result<(), SystemError>;
    /// Removes an LV, surviving udev's "in use" races. The caller has
    /// checked its tags.
    fn remove_lv(&self, lv: &LvPath, kind: LvKind) -> Result<(), SystemError>;
    /// Where a system tool is (`$PATH` and the sbin directories), for
    /// check's tool rows.
    fn find_tool(&self, tool: &str) -> Option<PathBuf>;
    /// Records the portal's targets (sendtargets discovery).
    fn iscsi_discover(&self, portal: &str) -> Result<(), SystemError>;
    /// Logs in; a session that already exists is success.
    fn iscsi_login(&self, portal: &str, iqn: &str) -> Result<(), SystemError>;
    /// Logs out; no session to log out of is success.
    fn iscsi_logout(&self, portal: &str, iqn: &str) -> Result<(), SystemError>;
    /// The hook programs in `dir`, in suspend order (see [`hooks::scan`]).
    fn list_hooks(&self, dir: &Path) -> Result<Vec<PathBuf>, SystemError>;
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
    /// Thin LVs' UUIDs and device ids in `pool`, with the pool's block
    /// size (one `lvs -o lv_uuid,thin_id,chunk_size`); `None` for one that
    /// is gone.
    fn thin_devices(
        &self,
        lvs: &[LvPath],
        pool: &LvPath,
    ) -> Result<Vec<Option<ThinDevice>>, SystemError>;
    /// Reserves (or releases) the pool's metadata snapshot, which
    /// `thin_delta -m` reads.
    fn metadata_snap(&self, pool: &LvPath, reserve: bool) -> Result<(), SystemError>;
    /// Whether the pool holds a metadata snapshot (`dmsetup status`).
    fn metadata_snap_held(&self, pool: &LvPath) -> Result<bool, SystemError>;
    /// The mapping differences between two thin devices of `pool`, read
    /// from its reserved metadata snapshot.
    fn thin_delta(
        &self,
        pool: &LvPath,
        base_id: u64,
        new_id: u64,
    ) -> Result<ThinDelta, SystemError>;
    /// Runs mount(8) or umount(8) as `graph::argv::mount`/`umount` built it.
    fn run_mount(&self, argv: &[String]) -> Result<(), SystemError>;
    /// A block device's number and the filesystem its superblock names.
    fn probe_device(&self, device: &Path) -> Result<DeviceInfo, SystemError>;
    /// `/proc/self/mountinfo` (parsed by `procfs` only).
    fn mountinfo(&self) -> Result<String, SystemError>;
    /// Re-reads `device` and compares it with the manifest at `manifest`.
    fn verify(
        &self,
        manifest: &Path,
        device: &Path,
        cancel: &AtomicBool,
    ) -> Result<(), VerifyFailure>;
}
