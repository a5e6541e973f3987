//! The one in-memory machine of the unit tests (check, apply, recover,
//! restore, verify): LVs with tags and snapshot state, hooks that count how
//! often they are suspended, a copy that can be scripted to fail, overflow
//! its snapshot, receive a signal or panic half-way. Built with
//! [`Fake::builder`]; tests assert on this state, not on log text. (The
//! process runner and the real adapters have their own tests, on real
//! processes and in the VM.)

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::hooks::HookAction;
use super::runner::{Exit, RunError};
use super::{
    CopyFailure, CopyJob, CopyStats, HookResult, Lv, LvKind, System, SystemError, SystemReport,
    ToolMissing, VerifyFailure, Vg,
};
use crate::copy::{ChunkRead, CopyControl, CopyError};
use crate::plan::LvPath;

pub const MIB: u64 = 1 << 20;
pub const EXTENT: u64 = 4 * MIB;

#[derive(Debug, Clone)]
pub enum CopyScript {
    Fail,
    /// The snapshot turns invalid after this chunk is read.
    InvalidateAt(u64),
    /// SIGTERM arrives after this chunk.
    SignalAt(u64),
    PanicAt(u64),
    /// The snapshot overflows and the next read fails with an I/O error,
    /// before any check sees it (what the kernel does).
    OverflowReadError(u64),
}

#[derive(Debug, Default)]
pub struct State {
    pub lvs: Vec<Lv>,
    pub vgs: Vec<Vg>,
    /// Every command, removal and hook call, in order.
    pub log: Vec<String>,
    pub hooks: Vec<PathBuf>,
    /// Hook name -> times suspended minus times resumed.
    pub suspended: BTreeMap<String, i32>,
    pub resumes: BTreeMap<String, u32>,
    /// A command (as "argv joined" or "remove vg/lv") containing one of
    /// these fails.
    pub fail: Vec<String>,
    /// `suspend:NAME` / `resume:NAME` fails (after half-suspending).
    pub hook_fail: Vec<String>,
    pub panic_on: Option<String>,
    pub copy_script: HashMap<String, CopyScript>,
    pub verify_fail: Vec<String>,
    pub inactive_vgs: BTreeSet<String>,
    pub signal: Option<Arc<AtomicBool>>,
    pub copy_jobs: Vec<CopyJob>,
    /// `suspend:NAME`: SIGTERM arrives while that hook runs.
    pub signal_on_hook: Option<String>,
    /// The hooks directory cannot be listed this many times.
    pub unlistable: u32,
    /// Tools that are not installed (`find_tool` finds every other one in
    /// /usr/sbin); without `lvm` every LVM call fails as on such a system.
    pub missing_tools: BTreeSet<String>,
    /// `report` fails with this lvm2 stderr.
    pub report_error: Option<String>,
    /// How often a full report was read.
    pub reports: u32,
    /// Origin LV name -> the copy-on-write use (%) its new snapshots report.
    pub snapshot_use: HashMap<String, f64>,
    /// Thin LVs ("vg/lv") -> (UUID, thin id); thin snapshots get one when
    /// created, `lvrename` keeps it.
    pub thin_ids: BTreeMap<String, (String, u64)>,
    /// Pools ("vg/pool") holding a metadata snapshot.
    pub metadata_held: BTreeSet<String>,
    /// What `thin_delta` answers: changed ranges in 64 KiB blocks...
    pub thin_delta: Vec<(u64, u64)>,
    /// ...and, for a device against itself, its mapped ranges...
    pub thin_mapped: Vec<(u64, u64)>,
    /// ...or this error.
    pub thin_delta_error: Option<String>,
    /// What `probe_device` finds at a device path.
    pub devices: BTreeMap<PathBuf, super::DeviceInfo>,
    /// What is mounted (mount point, major, minor, fstype, options), in
    /// mount order: `mountinfo` prints it.
    pub mounted: Vec<(String, u32, u32, String, String)>,
}

#[derive(Default)]
pub struct Fake(pub Mutex<State>);

pub fn lv(vg: &str, name: &str, size: u64) -> Lv {
    Lv {
        lv_name: name.into(),
        vg_name: vg.into(),
        lv_size: size,
        lv_attr: "-wi-a-----".into(),
        segtype: "linear".into(),
        origin: String::new(),
        pool_lv: String::new(),
        lv_tags: vec![],
        data_percent: None,
        snap_percent: None,
        metadata_percent: None,
        lv_snapshot_invalid: "unknown".into(),
        lv_active: "active".into(),
        lv_device_open: String::new(),
    }
}

/// Builds a [`Fake`] (or just its [`SystemReport`], for the pure checks).
#[derive(Default)]
pub struct FakeBuilder(State);

impl FakeBuilder {
    /// A VG of `extents` 4 MiB extents, `free` of them free.
    pub fn vg(self, name: &str, extents: u64, free: u64) -> Self {
        self.vg_with_extent(name, EXTENT, extents, free)
    }

    pub fn vg_with_extent(mut self, name: &str, extent: u64, extents: u64, free: u64) -> Self {
        self.0.vgs.retain(|v| v.vg_name != name);
        self.0.vgs.push(Vg {
            vg_name: name.into(),
            vg_attr: "wz--n-".into(),
            vg_size: extents * extent,
            vg_free: free * extent,
            vg_extent_size: extent,
            vg_extent_count: extents,
            vg_free_count: free,
            vg_exported: String::new(),
            vg_tags: vec![],
        });
        self
    }

    pub fn exported(mut self, name: &str) -> Self {
        let vg = self.0.vgs.iter_mut().find(|v| v.vg_name == name).unwrap();
        vg.vg_exported = "exported".into();
        vg.vg_attr = "wzx-n-".into();
        self
    }

    /// An LV of `mib` MiB; its VG (15 extents, all free) appears if unknown.
    pub fn lv(self, vg: &str, name: &str, mib: u64, attr: &str) -> Self {
        self.lv_bytes(vg, name, mib << 20, attr)
    }

    pub fn lv_bytes(mut self, vg: &str, name: &str, bytes: u64, attr: &str) -> Self {
        if !self.0.vgs.iter().any(|v| v.vg_name == vg) {
            self = self.vg(vg, 15, 15);
        }
        let mut new = lv(vg, name, bytes);
        new.lv_attr = attr.into();
        self.0.lvs.push(new);
        self
    }

    pub fn snapshot(self, vg: &str, name: &str, mib: u64, origin: &str, tags: &[String]) -> Self {
        let mut this = self.lv(vg, name, mib, "swi-a-s---");
        let lv = this.0.lvs.last_mut().unwrap();
        lv.origin = origin.into();
        lv.lv_snapshot_invalid = String::new();
        lv.lv_tags = tags.to_vec();
        lv.data_percent = Some(3.5);
        this
    }

    /// A thin pool of `mib` MiB, `data_percent`/`metadata_percent` full.
    pub fn thin_pool(mut self, vg: &str, name: &str, mib: u64, data: f64, meta: f64) -> Self {
        self = self.lv(vg, name, mib, "twi-aotz--");
        let pool = self.0.lvs.last_mut().unwrap();
        pool.segtype = "thin-pool".into();
        pool.data_percent = Some(data);
        pool.metadata_percent = Some(meta);
        self
    }

    /// A thin volume of `mib` MiB in `pool`.
    pub fn thin_lv(mut self, vg: &str, name: &str, mib: u64, pool: &str) -> Self {
        self = self.lv(vg, name, mib, "Vwi-a-tz--");
        let thin = self.0.lvs.last_mut().unwrap();
        thin.segtype = "thin".into();
        thin.pool_lv = pool.into();
        thin.data_percent = Some(50.0);
        self
    }

    pub fn tags(mut self, vg: &str, name: &str, tags: &[String]) -> Self {
        let lv = self
            .0
            .lvs
            .iter_mut()
            .find(|l| l.vg_name == vg && l.lv_name == name)
            .unwrap();
        lv.lv_tags = tags.to_vec();
        self
    }

    /// The hook programs `list_hooks` finds.
    pub fn hooks(mut self, paths: &[&str]) -> Self {
        self.0.hooks = paths.iter().map(PathBuf::from).collect();
        self
    }

    /// `tool` is not installed.
    pub fn without_tool(mut self, tool: &str) -> Self {
        self.0.missing_tools.insert(tool.into());
        self
    }

    pub fn report(self) -> SystemReport {
        SystemReport {
            lvs: self.0.lvs,
            vgs: self.0.vgs,
        }
    }

    pub fn build(self) -> Fake {
        Fake(Mutex::new(self.0))
    }
}

impl Fake {
    /// An empty machine: no VG, no LV, no hook; every tool installed.
    pub fn builder() -> FakeBuilder {
        FakeBuilder::default()
    }

    /// The executor tests' machine: vg0 with origins a, b, c (16 MiB each);
    /// an empty VG `backup` (1 GiB each, half free); hooks /hooks/10-a and
    /// /hooks/20-b.
    pub fn new() -> Fake {
        Fake::builder()
            .vg("vg0", 256, 128)
            .vg("backup", 256, 128)
            .lv("vg0", "a", 16, "-wi-a-----")
            .lv("vg0", "b", 16, "-wi-a-----")
            .lv("vg0", "c", 16, "-wi-a-----")
            .hooks(&["/hooks/10-a", "/hooks/20-b"])
            .build()
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reports `snapshot` as lvm2 reports an overflowed one; `data_percent`,
    /// when given, is the use it then shows.
    fn invalidate(&self, snapshot: &LvPath, data_percent: Option<f64>) {
        let mut state = self.state();
        if let Some(lv) = state
            .lvs
            .iter_mut()
            .find(|l| l.vg_name == snapshot.vg && l.lv_name == snapshot.lv)
        {
            lv.lv_snapshot_invalid = "snapshot invalid".into();
            lv.lv_attr = "swi-I-s---".into();
            if data_percent.is_some() {
                lv.data_percent = data_percent;
            }
        }
    }

    pub fn snapshots(&self) -> Vec<String> {
        self.state()
            .lvs
            .iter()
            .filter(|l| !l.origin.is_empty())
            .filter(|l| !l.lv_tags.iter().any(|t| t == crate::tags::TAG_ROLE_BASE))
            // A generation is a thin snapshot of the one before: a backup.
            .filter(|l| {
                !l.lv_tags
                    .iter()
                    .any(|t| t == crate::tags::TAG_ROLE_GENERATION)
            })
            .map(|l| format!("{}/{}", l.vg_name, l.lv_name))
            .collect()
    }

    /// The LV `vg/name`; panics when there is none (tests only).
    pub fn lv_named(&self, vg: &str, name: &str) -> Lv {
        self.state()
            .lvs
            .iter()
            .find(|l| l.vg_name == vg && l.lv_name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no LV {vg}/{name}"))
    }

    /// Kept thin bases (tagged `snapplan-role:base`): not leftovers.
    pub fn bases(&self) -> Vec<String> {
        self.state()
            .lvs
            .iter()
            .filter(|l| l.lv_tags.iter().any(|t| t == crate::tags::TAG_ROLE_BASE))
            .map(|l| format!("{}/{}", l.vg_name, l.lv_name))
            .collect()
    }

    /// Hooks suspended more often than resumed (or the reverse).
    pub fn unbalanced_hooks(&self) -> Vec<String> {
        self.state()
            .suspended
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|(h, n)| format!("{h}:{n}"))
            .collect()
    }

    pub fn hook_calls(&self) -> Vec<String> {
        self.state()
            .log
            .iter()
            .filter_map(|l| l.strip_prefix("hook ").map(str::to_string))
            .collect()
    }

    pub fn commands(&self) -> Vec<String> {
        self.state().log.clone()
    }

    pub fn tags_of(&self, vg: &str, name: &str) -> Vec<String> {
        self.state()
            .lvs
            .iter()
            .find(|l| l.vg_name == vg && l.lv_name == name)
            .map(|l| l.lv_tags.clone())
            .unwrap_or_default()
    }

    pub fn add_lv(&self, lv: Lv) {
        self.state().lvs.push(lv);
    }

    fn lvm_installed(state: &State) -> Result<(), SystemError> {
        match state.missing_tools.contains("lvm") {
            true => Err(ToolMissing { tool: "lvm" }.into()),
            false => Ok(()),
        }
    }

    /// iscsiadm as the graph spells it, logged like every other command.
    fn iscsiadm(&self, argv: &[String]) -> Result<(), SystemError> {
        let text = argv.join(" ");
        let mut state = self.state();
        state.log.push(text.clone());
        if state.missing_tools.contains("iscsiadm") {
            return Err(ToolMissing { tool: "iscsiadm" }.into());
        }
        Fake::check_fail(&state, &text)
    }

    fn check_fail(state: &State, text: &str) -> Result<(), SystemError> {
        if let Some(p) = &state.panic_on
            && text.contains(p.as_str())
        {
            let p = p.clone();
            panic!("fake panic in `{p}`");
        }
        if state.fail.iter().any(|f| text.contains(f.as_str())) {
            return Err(failed(text, "scripted failure"));
        }
        Ok(())
    }
}

/// A command that failed as lvm2 fails: exit status 5, the reason on stderr.
fn failed(command: &str, stderr: &str) -> SystemError {
    SystemError::Run(RunError::Failed {
        command: command.into(),
        exit: Exit::Code(5),
        stderr: stderr.into(),
    })
}

fn io_error() -> std::io::Error {
    std::io::Error::other("Input/output error")
}

fn parse_path(text: &str) -> LvPath {
    let (vg, lv) = text.split_once('/').unwrap_or((text, ""));
    LvPath {
        vg: vg.into(),
        lv: lv.into(),
    }
}

fn arg_after<'a>(argv: &'a [String], flag: &str) -> Option<&'a str> {
    argv.iter()
        .position(|a| a == flag)
        .and_then(|i| argv.get(i + 1))
        .map(String::as_str)
}

fn tags_in(argv: &[String], flag: &str) -> Vec<String> {
    argv.windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].clone())
        .collect()
}

fn size_in(argv: &[String], origin: Option<&Lv>) -> u64 {
    if let Some(s) = arg_after(argv, "--size") {
        return s.trim_end_matches('b').parse().unwrap_or(EXTENT);
    }
    if let Some(e) = arg_after(argv, "--extents") {
        let p: u64 = e.trim_end_matches("%ORIGIN").parse().unwrap_or(100);
        let bytes = origin.map_or(0, |o| o.lv_size) * p / 100;
        return bytes.div_ceil(EXTENT).max(1) * EXTENT;
    }
    EXTENT
}

impl System for Fake {
    fn exported_lvs(&self, vg: &str) -> Result<Vec<Lv>, SystemError> {
        let state = self.state();
        Fake::lvm_installed(&state)?;
        let exported = state.vgs.iter().any(|v| v.vg_name == vg && v.is_exported());
        Ok(state
            .lvs
            .iter()
            .filter(|l| exported && l.vg_name == vg)
            .cloned()
            .collect())
    }

    fn run_mount(&self, argv: &[String]) -> Result<(), SystemError> {
        let text = argv.join(" ");
        let mut state = self.state();
        state.log.push(text.clone());
        Fake::check_fail(&state, &text)?;
        match argv[0].as_str() {
            "mount" => {
                let fstype = arg_after(argv, "-t").unwrap_or("?").to_string();
                let options = arg_after(argv, "-o").unwrap_or("").to_string();
                let (device, point) = (&argv[argv.len() - 2], &argv[argv.len() - 1]);
                let info = state
                    .devices
                    .get(Path::new(device))
                    .cloned()
                    .ok_or_else(|| failed(&text, "special device does not exist"))?;
                state
                    .mounted
                    .push((point.clone(), info.major, info.minor, fstype, options));
                Ok(())
            }
            _ => {
                let point = argv.last().unwrap();
                let at = state
                    .mounted
                    .iter()
                    .rposition(|m| &m.0 == point)
                    .ok_or_else(|| failed(&text, "not mounted"))?;
                state.mounted.remove(at);
                Ok(())
            }
        }
    }

    fn probe_device(&self, device: &Path) -> Result<super::DeviceInfo, SystemError> {
        self.state()
            .devices
            .get(device)
            .cloned()
            .ok_or_else(|| SystemError::Device {
                path: device.to_path_buf(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            })
    }

    fn mountinfo(&self) -> Result<String, SystemError> {
        let state = self.state();
        Ok(state
            .mounted
            .iter()
            .enumerate()
            .map(|(i, (point, major, minor, fstype, options))| {
                format!(
                    "{} 1 {major}:{minor} / {} {options} - {fstype} /dev/x {options}\n",
                    100 + i,
                    point.replace(' ', "\\040")
                )
            })
            .collect())
    }

    fn report(&self) -> Result<SystemReport, SystemError> {
        let mut state = self.state();
        state.reports += 1;
        Fake::lvm_installed(&state)?;
        if let Some(stderr) = &state.report_error {
            return Err(failed("lvm lvs", stderr));
        }
        Fake::check_fail(&state, "report")?;
        Ok(SystemReport {
            lvs: state.lvs.clone(),
            vgs: state.vgs.clone(),
        })
    }

    fn lv(&self, path: &LvPath) -> Result<Option<Lv>, SystemError> {
        let state = self.state();
        Fake::lvm_installed(&state)?;
        Fake::check_fail(&state, &format!("lvs {path}"))?;
        Ok(state
            .lvs
            .iter()
            .find(|l| l.vg_name == path.vg && l.lv_name == path.lv)
            .cloned())
    }

    fn run_lvm(&self, argv: &[String]) -> Result<(), SystemError> {
        let text = argv.join(" ");
        let mut state = self.state();
        state.log.push(text.clone());
        Fake::lvm_installed(&state)?;
        Fake::check_fail(&state, &text)?;
        let fail = |why: String| failed(&text, &why);
        let last = argv.last().cloned().unwrap_or_default();
        match argv[0].as_str() {
            "lvcreate" if argv.iter().any(|a| a == "--snapshot") => {
                let origin = parse_path(&last);
                let name = arg_after(argv, "--name").unwrap_or("?").to_string();
                let found = state
                    .lvs
                    .iter()
                    .find(|l| l.vg_name == origin.vg && l.lv_name == origin.lv)
                    .cloned()
                    .ok_or_else(|| fail(format!("origin {last} not found")))?;
                if state
                    .lvs
                    .iter()
                    .any(|l| l.vg_name == origin.vg && l.lv_name == name)
                {
                    return Err(fail(format!("{name} already exists")));
                }
                let mut snap = lv(&origin.vg, &name, size_in(argv, Some(&found)));
                snap.lv_attr = "swi-a-s---".into();
                if found.is_thin() {
                    // A thin snapshot: no size of its own, it lives in the
                    // origin's pool (activated, as with -K).
                    if arg_after(argv, "--size").is_some() || arg_after(argv, "--extents").is_some()
                    {
                        return Err(fail("a size makes a classic snapshot".into()));
                    }
                    snap.lv_size = found.lv_size;
                    snap.lv_attr = "Vwi-a-tz-k".into();
                    snap.segtype = "thin".into();
                    snap.pool_lv = found.pool_lv.clone();
                    let id = state.thin_ids.len() as u64 + 100;
                    state
                        .thin_ids
                        .insert(format!("{}/{name}", origin.vg), (format!("uuid-{id}"), id));
                }
                snap.origin = origin.lv.clone();
                snap.lv_tags = tags_in(argv, "--addtag");
                snap.data_percent =
                    Some(state.snapshot_use.get(&origin.lv).copied().unwrap_or(0.0));
                snap.lv_snapshot_invalid = String::new();
                state.lvs.push(snap);
            }
            "lvcreate" if argv.iter().any(|a| a == "--thin") => {
                // A new thin LV in vg/pool, `--virtualsize <bytes>b`.
                let pool = parse_path(&last);
                let name = arg_after(argv, "--name").unwrap_or("?").to_string();
                let size = arg_after(argv, "--virtualsize")
                    .and_then(|s| s.trim_end_matches('b').parse().ok())
                    .ok_or_else(|| fail("no --virtualsize in bytes".into()))?;
                if !state
                    .lvs
                    .iter()
                    .any(|l| l.path() == pool && l.is_thin_pool())
                {
                    return Err(fail(format!("thin pool {last} not found")));
                }
                if state
                    .lvs
                    .iter()
                    .any(|l| l.vg_name == pool.vg && l.lv_name == name)
                {
                    return Err(fail(format!("{name} already exists")));
                }
                let mut new = lv(&pool.vg, &name, size);
                new.lv_attr = "Vwi-a-tz--".into();
                new.segtype = "thin".into();
                new.pool_lv = pool.lv.clone();
                new.lv_tags = tags_in(argv, "--addtag");
                let id = state.thin_ids.len() as u64 + 100;
                state
                    .thin_ids
                    .insert(format!("{}/{name}", pool.vg), (format!("uuid-{id}"), id));
                state.lvs.push(new);
            }
            "lvcreate" => {
                let name = arg_after(argv, "--name").unwrap_or("?").to_string();
                let mut new = lv(&last, &name, size_in(argv, None));
                new.lv_tags = tags_in(argv, "--addtag");
                state.lvs.push(new);
            }
            "lvextend" => {
                let path = parse_path(&last);
                let size = size_in(argv, None);
                let state = &mut *state;
                let lv = state
                    .lvs
                    .iter_mut()
                    .find(|l| l.vg_name == path.vg && l.lv_name == path.lv)
                    .ok_or_else(|| fail("no such LV".into()))?;
                if size < lv.lv_size {
                    return Err(fail("New size is smaller than the current one".into()));
                }
                let grown = size - lv.lv_size;
                // As LVM: the extension comes out of the VG's free space.
                if let Some(vg) = state.vgs.iter_mut().find(|v| v.vg_name == path.vg) {
                    if grown > vg.vg_free {
                        return Err(fail("Insufficient free space".into()));
                    }
                    vg.vg_free -= grown;
                    vg.vg_free_count = vg.vg_free / vg.vg_extent_size.max(1);
                }
                // A snapshot's use is of its size: the same bytes, more room.
                if let Some(p) = lv.data_percent.filter(|_| lv.is_snapshot()) {
                    lv.data_percent = Some(p * lv.lv_size as f64 / size.max(1) as f64);
                }
                lv.lv_size = size;
            }
            "lvchange" if arg_after(argv, "--activate").is_some() => {
                let path = parse_path(&last);
                let on = arg_after(argv, "--activate") == Some("y");
                let lv = state
                    .lvs
                    .iter_mut()
                    .find(|l| l.vg_name == path.vg && l.lv_name == path.lv)
                    .ok_or_else(|| fail("no such LV".into()))?;
                let mut attr: Vec<char> = lv.lv_attr.chars().collect();
                attr[4] = if on { 'a' } else { '-' };
                lv.lv_attr = attr.into_iter().collect();
            }
            "lvrename" => {
                let path = parse_path(&argv[1]);
                let to = last.clone();
                if state
                    .lvs
                    .iter()
                    .any(|l| l.vg_name == path.vg && l.lv_name == to)
                {
                    return Err(fail(format!("{to} already exists")));
                }
                let lv = state
                    .lvs
                    .iter_mut()
                    .find(|l| l.vg_name == path.vg && l.lv_name == path.lv)
                    .ok_or_else(|| fail("no such LV".into()))?;
                lv.lv_name = to.clone();
                if let Some(ids) = state.thin_ids.remove(&path.to_string()) {
                    state.thin_ids.insert(format!("{}/{to}", path.vg), ids);
                }
            }
            "vgimport" | "vgexport" => {
                let export = argv[0] == "vgexport";
                let vg = state
                    .vgs
                    .iter_mut()
                    .find(|v| v.vg_name == last)
                    .ok_or_else(|| fail(format!("Volume group \"{last}\" not found")))?;
                // As LVM: neither exports twice nor imports what is not exported.
                if vg.is_exported() == export {
                    let state = if export { "already" } else { "not" };
                    return Err(fail(format!("Volume group \"{last}\" is {state} exported")));
                }
                vg.vg_exported = if export {
                    "exported".into()
                } else {
                    String::new()
                };
                vg.vg_attr = if export { "wzx-n-" } else { "wz--n-" }.into();
            }
            "lvchange" => {
                let path = parse_path(&last);
                let del = tags_in(argv, "--deltag");
                let add = tags_in(argv, "--addtag");
                let lv = state
                    .lvs
                    .iter_mut()
                    .find(|l| l.vg_name == path.vg && l.lv_name == path.lv)
                    .ok_or_else(|| fail("no such LV".into()))?;
                lv.lv_tags.retain(|t| !del.contains(t));
                for t in add {
                    if !lv.lv_tags.contains(&t) {
                        lv.lv_tags.push(t);
                    }
                }
            }
            "vgchange" => {
                // As LVM: an exported VG is neither activated nor deactivated.
                match state.vgs.iter().find(|v| v.vg_name == last) {
                    None => return Err(fail(format!("Volume group \"{last}\" not found"))),
                    Some(vg) if vg.is_exported() => {
                        return Err(fail(format!("Volume group \"{last}\" is exported")));
                    }
                    Some(_) => {}
                }
                if arg_after(argv, "--activate") == Some("n") {
                    state.inactive_vgs.insert(last);
                } else {
                    state.inactive_vgs.remove(&last);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn remove_lv(&self, lv: &LvPath, _kind: LvKind) -> Result<(), SystemError> {
        let text = format!("remove {lv}");
        let mut state = self.state();
        state.log.push(text.clone());
        Fake::check_fail(&state, &text)?;
        state
            .lvs
            .retain(|l| !(l.vg_name == lv.vg && l.lv_name == lv.lv));
        state.thin_ids.remove(&lv.to_string());
        Ok(())
    }

    fn thin_devices(
        &self,
        lvs: &[LvPath],
        _pool: &LvPath,
    ) -> Result<Vec<Option<super::ThinDevice>>, SystemError> {
        let mut state = self.state();
        let names: Vec<String> = lvs.iter().map(LvPath::to_string).collect();
        let text = format!("thin_id {}", names.join(" "));
        state.log.push(text.clone());
        Fake::check_fail(&state, &text)?;
        Ok(names
            .iter()
            .map(|lv| {
                state.thin_ids.get(lv).map(|(uuid, id)| super::ThinDevice {
                    lv_uuid: uuid.clone(),
                    thin_id: *id,
                    pool_block_bytes: Some(64 << 10),
                })
            })
            .collect())
    }

    fn metadata_snap(&self, pool: &LvPath, reserve: bool) -> Result<(), SystemError> {
        let text = if reserve { "reserve" } else { "release" };
        let text = format!("{text}_metadata_snap {pool}");
        let mut state = self.state();
        state.log.push(text.clone());
        Fake::check_fail(&state, &text)?;
        let held = state.metadata_held.contains(&pool.to_string());
        if reserve == held {
            return Err(failed(
                &text,
                "device-mapper: message ioctl failed: Invalid argument",
            ));
        }
        if reserve {
            state.metadata_held.insert(pool.to_string());
        } else {
            state.metadata_held.remove(&pool.to_string());
        }
        Ok(())
    }

    fn metadata_snap_held(&self, pool: &LvPath) -> Result<bool, SystemError> {
        Ok(self.state().metadata_held.contains(&pool.to_string()))
    }

    fn thin_delta(
        &self,
        pool: &LvPath,
        base_id: u64,
        new_id: u64,
    ) -> Result<super::ThinDelta, SystemError> {
        let text = format!("thin_delta {pool} {base_id} {new_id}");
        let mut state = self.state();
        state.log.push(text.clone());
        if !state.metadata_held.contains(&pool.to_string()) {
            return Err(failed(&text, "no metadata snapshot"));
        }
        match &state.thin_delta_error {
            None if base_id == new_id => Ok(super::ThinDelta {
                data_block_sectors: Some(128),
                changed: Vec::new(),
                same: state.thin_mapped.clone(),
                right_changed: Vec::new(),
            }),
            None => Ok(super::ThinDelta {
                data_block_sectors: Some(128),
                changed: state.thin_delta.clone(),
                same: state.thin_mapped.clone(),
                right_changed: state.thin_delta.clone(),
            }),
            Some(why) => Err(failed(&text, why)),
        }
    }

    fn find_tool(&self, tool: &str) -> Option<PathBuf> {
        let state = self.state();
        (!state.missing_tools.contains(tool)).then(|| Path::new("/usr/sbin").join(tool))
    }

    fn iscsi_discover(&self, portal: &str) -> Result<(), SystemError> {
        self.iscsiadm(&crate::graph::argv::iscsi_discover(portal))
    }

    fn iscsi_login(&self, portal: &str, iqn: &str) -> Result<(), SystemError> {
        self.iscsiadm(&crate::graph::argv::iscsi_login(portal, iqn))
    }

    fn iscsi_logout(&self, portal: &str, iqn: &str) -> Result<(), SystemError> {
        self.iscsiadm(&crate::graph::argv::iscsi_logout(portal, iqn))
    }

    fn list_hooks(&self, dir: &Path) -> Result<Vec<PathBuf>, SystemError> {
        let mut state = self.state();
        if state.unlistable > 0 {
            state.unlistable -= 1;
            return Err(SystemError::Hooks {
                dir: dir.to_path_buf(),
                source: std::io::Error::other("busy"),
            });
        }
        Ok(state.hooks.clone())
    }

    fn hook(
        &self,
        path: &Path,
        action: HookAction,
        _timeout: Duration,
        env: &[(String, String)],
    ) -> HookResult {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut state = self.state();
        state.log.push(format!("hook {} {name}", action.as_str()));
        assert!(env.iter().any(|(k, _)| k == "SNAPPLAN_PLAN"));
        assert!(env.iter().any(|(k, _)| k == "SNAPPLAN_RUN_ID"));
        match action {
            HookAction::Suspend => *state.suspended.entry(name.clone()).or_default() += 1,
            HookAction::Resume => {
                *state.suspended.entry(name.clone()).or_default() -= 1;
                *state.resumes.entry(name.clone()).or_default() += 1;
            }
        }
        let key = format!("{}:{name}", action.as_str());
        if state.signal_on_hook.as_deref() == Some(key.as_str())
            && let Some(signal) = &state.signal
        {
            signal.store(true, Ordering::SeqCst);
        }
        let ok = !state.hook_fail.contains(&key);
        HookResult {
            ok,
            detail: if ok {
                "exit status 0".into()
            } else {
                "timed out after 1s, process group killed".into()
            },
            output: vec![format!("{name} says {}", action.as_str())],
        }
    }

    fn copy(&self, job: &CopyJob, control: &CopyControl<'_>) -> Result<CopyStats, CopyFailure> {
        let (script, size, signal) = {
            let mut state = self.state();
            state.log.push(format!("copy {}", job.volume));
            state.copy_jobs.push(job.clone());
            let src = job.source.strip_prefix("/dev").unwrap().to_string_lossy();
            let path = parse_path(&src);
            let size = state
                .lvs
                .iter()
                .find(|l| l.vg_name == path.vg && l.lv_name == path.lv)
                .map(|l| l.lv_size)
                .ok_or_else(|| {
                    CopyFailure::Failed(CopyError::Open {
                        path: job.source.clone(),
                        source: std::io::Error::other("no such LV"),
                    })
                })?;
            (
                state.copy_script.get(&job.volume).cloned(),
                size,
                state.signal.clone(),
            )
        };
        let snapshot = job.source.strip_prefix("/dev/").unwrap().to_string_lossy();
        let snapshot = parse_path(&snapshot);
        let chunks = 4;
        let chunk = size / chunks;
        for index in 0..chunks {
            if control.cancel.load(Ordering::SeqCst) {
                return Err(CopyFailure::Cancelled);
            }
            match &script {
                Some(CopyScript::Fail) if index == 1 => {
                    return Err(CopyFailure::Failed(CopyError::Write {
                        path: job.destination.clone(),
                        offset: index * chunk,
                        source: io_error(),
                    }));
                }
                Some(CopyScript::InvalidateAt(at)) if *at == index => {
                    self.invalidate(&snapshot, Some(100.0));
                }
                Some(CopyScript::SignalAt(at)) if *at == index => {
                    if let Some(s) = &signal {
                        s.store(true, Ordering::SeqCst);
                    }
                    // A long copy: the watchdog must pass the signal on.
                    for _ in 0..400 {
                        if control.cancel.load(Ordering::SeqCst) {
                            return Err(CopyFailure::Cancelled);
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                Some(CopyScript::PanicAt(at)) if *at == index => panic!("fake panic in copy"),
                Some(CopyScript::OverflowReadError(at)) if *at == index => {
                    self.invalidate(&snapshot, None);
                    return Err(CopyFailure::Failed(CopyError::Read {
                        path: job.source.clone(),
                        offset: index * chunk,
                        source: io_error(),
                    }));
                }
                _ => {}
            }
            {
                // Writes to the origin fill the snapshot a little.
                let mut state = self.state();
                if let Some(lv) = state
                    .lvs
                    .iter_mut()
                    .find(|l| l.vg_name == snapshot.vg && l.lv_name == snapshot.lv)
                    && lv.lv_snapshot_invalid.is_empty()
                {
                    lv.data_percent = Some(lv.data_percent.unwrap_or(0.0) + 10.0);
                }
            }
            if let Some(check) = control.source_check {
                check(&ChunkRead {
                    index,
                    offset: index * chunk,
                    len: chunk,
                    last: index + 1 == chunks,
                })
                .map_err(|reason| {
                    CopyFailure::Failed(CopyError::SourceCheck {
                        path: job.source.clone(),
                        offset: (index + 1) * chunk,
                        reason,
                    })
                })?;
            }
            control.progress.update(&crate::copy::ProgressUpdate {
                phase: crate::copy::progress::Phase::Copy,
                done: (index + 1) * chunk,
                total: size,
                written: (index + 1) * chunk,
                skipped: 0,
                elapsed: Duration::from_millis(3 * (index + 1)),
            });
            std::thread::sleep(Duration::from_millis(3));
            // The engine stops at the next chunk boundary once cancelled.
            if control.cancel.load(Ordering::SeqCst) && index + 1 < chunks {
                return Err(CopyFailure::Cancelled);
            }
        }
        Ok(CopyStats {
            size,
            bytes_read: size,
            bytes_written: size,
        })
    }

    fn verify(
        &self,
        _manifest: &Path,
        device: &Path,
        _cancel: &AtomicBool,
    ) -> Result<(), VerifyFailure> {
        let mut state = self.state();
        let text = format!("verify {}", device.display());
        state.log.push(text.clone());
        // `name` fails the device of that name; `prefix*` every device
        // whose name starts so (a volume's generations: `c.*`).
        let name = device.file_name().map(|n| n.to_string_lossy().into_owned());
        if state.verify_fail.iter().any(|v| match v.strip_suffix('*') {
            Some(prefix) => name.as_deref().is_some_and(|n| n.starts_with(prefix)),
            None => device.ends_with(v.as_str()),
        }) {
            return Err(VerifyFailure::Mismatch(format!(
                "{text}: 1 chunk differs (bytes 0..4194304)"
            )));
        }
        Ok(())
    }
}
