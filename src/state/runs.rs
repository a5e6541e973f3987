//! The run history under `<state_dir>/<plan>/`: a JSON record per run
//! (`runs/<run id>.json`, what `snapplan report` reads) and the copy
//! manifest per volume (`manifests/<volume>.json`, what a delta copy and
//! `snapplan verify PLAN` read).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plan::Plan;

/// Everything a run keeps about one plan.
pub fn plan_dir(plan: &Plan) -> PathBuf {
    plan.state_dir.join(&plan.name)
}

pub fn manifests_dir(plan: &Plan) -> PathBuf {
    plan_dir(plan).join("manifests")
}

pub fn manifest_path(plan: &Plan, volume: &str) -> PathBuf {
    manifests_dir(plan).join(format!("{volume}.json"))
}

/// The manifest of one thin-pool generation of `volume`:
/// `manifests/<volume>/<generation id>.json`, a directory
/// beside the thick backup's `manifests/<volume>.json`, so neither can
/// shadow the other.
pub fn generation_manifest_path(plan: &Plan, volume: &str, generation: &str) -> PathBuf {
    manifests_dir(plan)
        .join(volume)
        .join(format!("{generation}.json"))
}

/// Removes a manifest whose content is gone (its generation removed, or a
/// new backup LV at its path), so nothing takes a delta from it. Whether
/// there was one; a failure to remove it is logged, as before every caller
/// did, and not fatal: the copy engine trusts a manifest only for the
/// device identity it recorded.
pub fn drop_manifest(path: &Path) -> bool {
    match std::fs::remove_file(path) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => {
            tracing::warn!("cannot remove {}: {e}", path.display());
            false
        }
    }
}

pub fn run_record_path(plan: &Plan, run_id: &str) -> PathBuf {
    plan_dir(plan).join("runs").join(format!("{run_id}.json"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VolumeStatus {
    Ok,
    Failed,
    /// The run stopped (abort, signal) before this volume's copy.
    NotRun,
    /// The run died (SIGKILL, OOM killer, power loss) while this volume was
    /// being copied or verified; only in the record of a run that died.
    Interrupted,
}

/// One volume's line in the summary and the run record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VolumeResult {
    pub volume: String,
    pub size_bytes: u64,
    pub duration_seconds: f64,
    pub bytes_written: u64,
    /// Highest copy-on-write usage seen while the volume was copied.
    pub snapshot_peak_percent: Option<f64>,
    /// The classic snapshot's size as it was made, in bytes.
    #[serde(default)]
    pub snapshot_bytes: Option<u64>,
    /// The classic snapshot's size when it was removed (after any growth),
    /// in bytes.
    #[serde(default)]
    pub snapshot_final_bytes: Option<u64>,
    /// How often the watchdog extended the snapshot (`snapshot_size_max`).
    #[serde(default)]
    pub snapshot_extensions: u32,
    /// Highest copy-on-write use seen, in bytes (the percentage above is of
    /// a size that may have grown since).
    #[serde(default)]
    pub snapshot_peak_bytes: Option<u64>,
    /// Copy-on-write bytes per second from the snapshot to its last look:
    /// how fast the origin was rewritten while the volume waited and was
    /// copied.
    #[serde(default)]
    pub snapshot_fill_rate: Option<f64>,
    /// Seconds from the snapshot to its last look (its window).
    #[serde(default)]
    pub snapshot_window_seconds: Option<f64>,
    /// The copy's throttle was lifted so that it finished before the
    /// snapshot, which could not grow any more, overflowed.
    #[serde(default)]
    pub throttle_lifted: bool,
    /// A thin origin read incrementally: the bytes `thin_delta` found
    /// changed since its kept base, i.e. about what that base cost in its
    /// pool by the time of this run. `None` after a full read.
    #[serde(default)]
    pub thin_changed_bytes: Option<u64>,
    /// With `target.pool`: the generation this run made of the volume
    /// (`vg/<target_lv>.<id>`), whether it became complete or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<String>,
    /// The complete generation it was made a thin snapshot of; `None` for a
    /// first one (written in full), so check counts only deltas as the
    /// room a next run is expected to need.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_parent: Option<String>,
    /// With `target.pool`: the ids of the generations retention removed
    /// after this run's one was complete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generations_pruned: Vec<String>,
    /// With `target.pool`: the pool's data and metadata use, percent, once
    /// this volume's generation was complete and pruned (the target is
    /// put away at the end of a run, and an inactive pool tells no use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_data_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_metadata_percent: Option<f64>,
    pub verified: bool,
    pub status: VolumeStatus,
    pub reason: Option<String>,
}

impl VolumeResult {
    pub fn new(volume: &str) -> VolumeResult {
        VolumeResult {
            volume: volume.to_string(),
            size_bytes: 0,
            duration_seconds: 0.0,
            bytes_written: 0,
            snapshot_peak_percent: None,
            snapshot_bytes: None,
            snapshot_final_bytes: None,
            snapshot_extensions: 0,
            snapshot_peak_bytes: None,
            snapshot_fill_rate: None,
            snapshot_window_seconds: None,
            throttle_lifted: false,
            thin_changed_bytes: None,
            generation: None,
            generation_parent: None,
            generations_pruned: Vec::new(),
            pool_data_percent: None,
            pool_metadata_percent: None,
            verified: false,
            status: VolumeStatus::NotRun,
            reason: None,
        }
    }
}

/// The run record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunRecord {
    pub run_id: String,
    pub plan: String,
    pub phases: Vec<String>,
    pub started_at: u64,
    pub finished_at: u64,
    /// The exit code, or `null` when the run died (`ending` is `died`):
    /// killed by SIGKILL or the OOM killer, or the machine went down, so
    /// no exit code is known. A run that died is a failed run.
    pub exit_code: Option<u8>,
    /// `completed`, `aborted`, `interrupted`, `internal_error`,
    /// `preflight_failed` (nothing was changed; `problems` lists the
    /// checks), or `died` (the record was written by the recovery that
    /// followed; `recovery` says what it undid).
    pub ending: String,
    pub volumes: Vec<VolumeResult>,
    /// Failures outside a volume (a hook, a rollback step), in order.
    pub problems: Vec<String>,
    /// What the run left on purpose, e.g. `VG backup left active: plan c
    /// (pid 12) still uses it` (a target shared with another plan's run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Only in the record of a run that died: the recovery that wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovered>,
}

/// The `ending` of a run that died, written by the recovery after it.
pub const ENDING_DIED: &str = "died";

#[cfg(test)]
impl RunRecord {
    /// Run `r1` of plan `nightly`, finished with `exit_code`: the record
    /// the check and report tests judge.
    pub fn for_test(exit_code: u8, volumes: Vec<VolumeResult>) -> RunRecord {
        RunRecord {
            run_id: "r1".into(),
            plan: "nightly".into(),
            phases: vec![],
            started_at: 0,
            finished_at: 1,
            exit_code: Some(exit_code),
            ending: "completed".into(),
            volumes,
            problems: vec![],
            notes: vec![],
            recovery: None,
        }
    }
}

/// What the recovery of a dead run found and undid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Recovered {
    /// When the recovery ended (Unix seconds); the run's `finished_at` is
    /// its last journal event, the last sign of life.
    pub recovered_at: u64,
    /// The process that recovered (`snapplan recover`, or the `apply` that
    /// recovers first).
    pub by_pid: u32,
    /// What it undid, in order (hooks resumed, snapshots removed, previous
    /// backups merged back, the target deactivated).
    pub undone: Vec<String>,
    /// What it could not undo: the journal then stays open and the next
    /// recovery tries again (and adds to this record).
    pub not_undone: Vec<String>,
}

impl RunRecord {
    /// Whether the run succeeded: exit 0 (a run that died never did).
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }

    pub fn died(&self) -> bool {
        self.ending == ENDING_DIED
    }
}

/// The version of the run record files; it changes only when a field
/// changes meaning or goes away. Records written before it was (no
/// `format_version` key) are version 1. Version 2: `exit_code` may be
/// `null` (a run that died), volume status `interrupted`, `recovery`.
pub const RECORD_FORMAT_VERSION: u32 = 2;

/// A run record file, `runs/<run id>.json` (schemas/run-record.schema.json):
/// the record with its `format_version` first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(title = "snapplan run record")]
pub struct RunRecordFile {
    /// See [`RECORD_FORMAT_VERSION`].
    #[serde(default = "first_record_version")]
    pub format_version: u32,
    #[serde(flatten)]
    pub record: RunRecord,
}

fn first_record_version() -> u32 {
    1
}

/// Writes the record atomically and durably: an unpredictable `O_EXCL`
/// temporary, synced, renamed over the record, the directory synced.
pub fn save_record(path: &Path, record: &RunRecord) -> std::io::Result<()> {
    let file = RunRecordFile {
        format_version: RECORD_FORMAT_VERSION,
        record: record.clone(),
    };
    let text = serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?;
    super::files::replace(path, (text + "\n").as_bytes())
}

/// Reads a run record: a regular file, not through a symlink, bounded, of a
/// format this snapplan reads.
pub fn load_record(path: &Path) -> Result<RunRecord, String> {
    let bytes = super::files::read_bounded(path, super::files::MAX_RECORD_BYTES)
        .map_err(|e| format!("cannot read it: {e}"))?;
    let file: RunRecordFile = serde_json::from_slice(&bytes)
        .map_err(|e| format!("not a run record this snapplan reads: {e}"))?;
    if file.format_version > RECORD_FORMAT_VERSION {
        return Err(format!(
            "record format {} is newer than this snapplan reads ({RECORD_FORMAT_VERSION}); upgrade snapplan",
            file.format_version
        ));
    }
    Ok(file.record)
}

/// The ids of `volume`'s generation manifests
/// (`manifests/<volume>/<id>.json`), newest first: what `restore --from`
/// of a pool plan chooses among, with no LVM to list the generations.
pub fn generation_manifest_ids(plan: &Plan, volume: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(manifests_dir(plan).join(volume)) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let id = name.strip_suffix(".json")?;
            super::time::parse_compact(id).map(|_| id.to_string())
        })
        .collect();
    ids.sort_by(|a, b| b.cmp(a));
    ids
}

#[cfg(test)]
mod path_tests {
    use super::*;

    #[test]
    fn dropping_a_manifest_says_whether_there_was_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.json");
        std::fs::write(&path, "{}").unwrap();
        assert!(drop_manifest(&path));
        assert!(!path.exists());
        assert!(!drop_manifest(&path), "gone already");
    }

    #[test]
    fn a_generation_manifest_lives_beside_the_thick_manifest_and_never_is_it() {
        let plan = crate::plan::parse(
            "t.yaml",
            "version: 1\nname: home\nstate_dir: /s\ntarget:\n  vg: backup\nvolumes:\n  - lv: vg0/root\n",
        )
        .unwrap();
        let thick = manifest_path(&plan, "root");
        let generation = generation_manifest_path(&plan, "root", "20261202T031500Z");
        assert_eq!(thick, Path::new("/s/home/manifests/root.json"));
        assert_eq!(
            generation,
            Path::new("/s/home/manifests/root/20261202T031500Z.json")
        );
        assert_ne!(thick, generation);
    }
}
