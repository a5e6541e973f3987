//! `snapplan generations PLAN`: each volume's backup generations, newest
//! first, read from LVM (the backup LVs and their state tags, through the
//! report, so an inactive or exported target VG is listed without being
//! activated) and from the state directory (manifests and run records,
//! through `state/`). A reader: it never imports apply/.
//!
//! A thick target (no `target.pool`) keeps one generation per volume: its
//! backup LV `<target vg>/<target_lv>`. Its id is the UTC time its copy
//! began reading the volume's snapshot (the manifest's `started_at`,
//! `YYYYMMDDTHHMMSSZ`, the form thin generations carry in their LV names):
//! the manifest is what vouches for the backup's content, it is written
//! before the first byte, so the id names the content and does not change
//! while that content stays. `written_bytes` and `verified` come from the
//! newest run record whose run wrote that manifest (started before and
//! finished after it); 0 and false when no such record is left.
//!
//! A thin-pool target (`target.pool`) keeps many: each run adds an LV
//! `<target_lv>.<id>` tagged as this plan's generation, its manifest at
//! `manifests/<volume>/<id>.json`; the id is the run's start, so
//! `written_bytes` and `verified` come from the record of the run whose id
//! begins with it. [`choose_pool`] picks the one restore, verify and mount
//! read (`--generation`, default the newest complete one).

use serde::Serialize;

use crate::copy::Manifest;
use crate::plan::{LvPath, Plan};
use crate::state::runs::{self, RunRecord, VolumeStatus};
use crate::system::{Lv, System, SystemError};
use crate::tags::{TAG_STATE_COMPLETE, TAG_STATE_INCOMPLETE};

/// The version of the `generations --format json` document.
pub const FORMAT_VERSION: u32 = 1;

/// The id a generation gets when its manifest cannot be read: its time,
/// and so its id, is not known.
pub const UNKNOWN_ID: &str = "unknown";

/// `snapplan generations --format json` (schemas/generations.schema.json).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[schemars(title = "snapplan generations")]
pub struct GenerationsDocument {
    /// The version of this document (1); it changes only when a field
    /// changes meaning or goes away.
    pub format_version: u32,
    /// The plan's name.
    pub plan: String,
    /// In plan order (only the one asked for with `--volume`).
    pub volumes: Vec<VolumeGenerations>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct VolumeGenerations {
    /// The volume's name in the plan.
    pub name: String,
    /// Newest first; empty when the volume has no backup LV.
    pub generations: Vec<Generation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Generation {
    /// `YYYYMMDDTHHMMSSZ`: what `--generation` takes. For a thick target the
    /// time its copy began reading the snapshot; `unknown` when its
    /// manifest cannot be read.
    pub id: String,
    /// The LV holding it, `vg/lv`.
    pub lv: String,
    /// The same time as the id, RFC 3339 in UTC; `null` when unknown.
    pub time: Option<String>,
    /// `complete` only when the LV is tagged `snapplan-state:complete` and
    /// its manifest says completed.
    pub state: GenerationState,
    /// The LV's size.
    pub size_bytes: u64,
    /// Bytes the run that made it wrote (a delta copy writes only what
    /// changed); 0 when that run's record is gone.
    pub written_bytes: u64,
    /// That run verified it against its manifest; false when its record is
    /// gone.
    pub verified: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GenerationState {
    Complete,
    Incomplete,
}

/// The document and what a person should know beside it (a target VG that
/// is not visible, a manifest that cannot be read).
#[derive(Debug, Clone)]
pub struct Listing {
    pub document: GenerationsDocument,
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerationsError {
    #[error(transparent)]
    UnknownVolume(#[from] crate::plan::UnknownVolume),
    #[error("refusing the state directory: {0}")]
    Untrusted(#[from] crate::state::trust::Untrusted),
    #[error("cannot ask LVM about the backup LVs: {0}")]
    Lvm(#[from] SystemError),
    #[error("cannot read the run records of plan {plan}: {source}")]
    Records {
        plan: String,
        #[source]
        source: std::io::Error,
    },
}

impl GenerationsError {
    pub fn exit_code(&self) -> crate::ExitCode {
        match self {
            GenerationsError::UnknownVolume(_) => crate::ExitCode::Usage,
            _ => crate::ExitCode::Failed,
        }
    }
}

/// `--generation ID` names no generation of the volume.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "volume {volume} has no generation {wanted}; {}",
    if .existing.is_empty() { "it has none (no backup with a manifest)".to_string() }
    else { format!("its generations: {}", .existing.join(", ")) }
)]
pub struct UnknownGeneration {
    pub volume: String,
    pub wanted: String,
    pub existing: Vec<String>,
}

/// The id of the thick generation a manifest describes.
pub fn thick_id(manifest: &Manifest) -> String {
    crate::state::time::compact(manifest.started_at)
}

/// Accepts `wanted` only when it is one of `existing` (newest first).
pub fn check_id(volume: &str, wanted: &str, existing: &[String]) -> Result<(), UnknownGeneration> {
    if existing.iter().any(|id| id == wanted) {
        Ok(())
    } else {
        Err(UnknownGeneration {
            volume: volume.to_string(),
            wanted: wanted.to_string(),
            existing: existing.to_vec(),
        })
    }
}

/// The ids of a thick volume's generations, from its manifest alone (what
/// restore, verify and mount check `--generation` against before touching
/// LVM): the backup's id when the manifest can be read, none otherwise.
pub fn thick_ids(plan: &Plan, volume: &str) -> Vec<String> {
    Manifest::load(&runs::manifest_path(plan, volume))
        .map(|m| vec![thick_id(&m)])
        .unwrap_or_default()
}

/// Checks `wanted` against the thick volume's generations (see
/// [`thick_ids`]); `None` accepts the newest.
pub fn check_thick(
    plan: &Plan,
    volume: &str,
    wanted: Option<&str>,
) -> Result<(), UnknownGeneration> {
    match wanted {
        None => Ok(()),
        Some(wanted) => check_id(volume, wanted, &thick_ids(plan, volume)),
    }
}

/// The LVs of the backup VG `vg`: from the report, or, when the VG is
/// exported (`lvs` hides its LVs), from `System::exported_lvs`, which
/// reads them with their tags without importing the VG.
pub fn backup_lvs(
    sys: &dyn System,
    report: &crate::system::SystemReport,
    vg: &str,
) -> Result<Vec<Lv>, SystemError> {
    if report.vg(vg).is_some_and(|v| v.is_exported()) {
        return sys.exported_lvs(vg);
    }
    Ok(report
        .lvs
        .iter()
        .filter(|l| l.vg_name == vg)
        .cloned()
        .collect())
}

/// One thin-pool generation of a volume, as LVM shows it: an LV of the
/// target VG named `<target_lv>.<id>` and tagged as one of this plan's
/// generations (a name alone proves nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct PoolGeneration {
    pub id: String,
    pub lv: LvPath,
    /// The id as a Unix time (the run's start).
    pub time: u64,
    pub state: crate::tags::GenerationState,
    pub size_bytes: u64,
}

/// The thin-pool generations of `volume` among `lvs` (the target VG's),
/// newest first. An LV named like one but not tagged as this plan's
/// generation (or tagged both complete and incomplete) is not one.
pub fn pool_generations(
    plan: &Plan,
    volume: &crate::plan::Volume,
    lvs: &[Lv],
) -> Vec<PoolGeneration> {
    let mut found: Vec<PoolGeneration> = lvs
        .iter()
        .filter(|lv| lv.vg_name == plan.target.vg)
        .filter_map(|lv| {
            let id = crate::tags::generation_id(&volume.target_lv, &lv.lv_name)?;
            let state = crate::tags::generation_state(&lv.lv_tags, &plan.name)?;
            Some(PoolGeneration {
                id: id.to_string(),
                lv: lv.path(),
                time: crate::state::time::parse_compact(id)?,
                state,
                size_bytes: lv.lv_size,
            })
        })
        .collect();
    found.sort_by(|a, b| b.id.cmp(&a.id));
    found
}

/// The newest complete one of [`pool_generations`]: what a new generation
/// is a snapshot of, and the default of restore, verify and mount.
pub fn newest_complete(generations: &[PoolGeneration]) -> Option<&PoolGeneration> {
    generations
        .iter()
        .find(|g| g.state == crate::tags::GenerationState::Complete)
}

// The summary is the report's (report/runs.rs carries it in a plan's
// history); this module fills it from LVM.
pub use crate::report::runs::{PoolSummary, VolumePoolSummary};

/// The [`PoolSummary`] of a plan with `target.pool`; `None` without one
/// (LVM is then not asked). Reads the LVM report once (and, for an
/// exported target VG, `pvs --segments`); activates and imports nothing.
/// A target VG that is not visible is a note, not an error.
pub fn pool_summary(plan: &Plan, sys: &dyn System) -> Result<Option<PoolSummary>, SystemError> {
    let Some(generations) = &plan.target.generations else {
        return Ok(None);
    };
    let report = sys.report()?;
    let mut summary = PoolSummary {
        notes: Vec::new(),
        ..PoolSummary::unknown(plan, &generations.pool, String::new())
    };
    let Some(vg) = report.vg(&plan.target.vg) else {
        summary.notes.push(format!(
            "the backup VG {} is not visible on this machine{}: its generations and pool cannot be read",
            plan.target.vg,
            if plan.target.iscsi.is_some() {
                " (its iSCSI target is logged out)"
            } else {
                ""
            }
        ));
        return Ok(Some(summary));
    };
    let exported = vg.is_exported();
    let lvs = backup_lvs(sys, &report, &plan.target.vg)?;
    match lvs
        .iter()
        .find(|l| l.lv_name == generations.pool)
        .and_then(Lv::pool_use)
    {
        Some(usage) => {
            summary.data_percent = Some(usage.data_percent);
            summary.metadata_percent = Some(usage.metadata_percent);
        }
        None => {
            let why = if exported {
                format!("VG {} is exported", plan.target.vg)
            } else {
                "it is inactive or missing".to_string()
            };
            match last_measured_pool_use(plan) {
                Some((run, data, metadata)) => {
                    summary.data_percent = Some(data);
                    summary.metadata_percent = Some(metadata);
                    summary.notes.push(format!(
                        "the pool's use is as run {run} measured it ({why} now)"
                    ));
                }
                None => summary
                    .notes
                    .push(format!("the pool's use cannot be read: {why}")),
            }
        }
    }
    summary.volumes = volume_summaries(plan, &lvs);
    Ok(Some(summary))
}

/// Each volume's generations among `lvs` (the target VG's), counted by
/// state tag, with the newest complete one: for the pool summary and
/// check's pool row. Pure.
pub fn volume_summaries(plan: &Plan, lvs: &[Lv]) -> Vec<VolumePoolSummary> {
    plan.volumes
        .iter()
        .map(|volume| {
            let found = pool_generations(plan, volume, lvs);
            let complete = found
                .iter()
                .filter(|g| g.state == crate::tags::GenerationState::Complete)
                .count();
            let newest = newest_complete(&found);
            VolumePoolSummary {
                volume: volume.name.clone(),
                complete,
                incomplete: found.len() - complete,
                newest_complete: newest.map(|g| g.id.clone()),
                newest_complete_at: newest.map(|g| g.time),
            }
        })
        .collect()
}

/// The pool's use as the newest run record measured it (after a
/// volume's generation was complete): the run id, data and metadata
/// percent. A target put away at a run's end tells no use of its own.
fn last_measured_pool_use(plan: &Plan) -> Option<(String, f64, f64)> {
    let records = crate::report::runs::all_records(&plan.state_dir, &plan.name).ok()?;
    records
        .iter()
        .filter_map(|r| {
            let v = r
                .volumes
                .iter()
                .rev()
                .find(|v| v.pool_data_percent.is_some() && v.pool_metadata_percent.is_some())?;
            Some((
                r.started_at,
                r.run_id.clone(),
                v.pool_data_percent?,
                v.pool_metadata_percent?,
            ))
        })
        .max_by_key(|(started, ..)| *started)
        .map(|(_, run, data, metadata)| (run, data, metadata))
}

/// Lists the generations of every volume of `plan` (or of `only`). Reads
/// the LVM report once; activates, imports and writes nothing.
pub fn list(
    plan: &Plan,
    sys: &dyn System,
    only: Option<&str>,
) -> Result<Listing, GenerationsError> {
    let volumes = plan.volumes_named(only)?;
    crate::state::trust::check_dir(&plan.state_dir)?;
    let report = sys.report()?;
    let lvs = backup_lvs(sys, &report, &plan.target.vg)?;
    let mut notes = Vec::new();
    if report.vg(&plan.target.vg).is_none() {
        notes.push(format!(
            "the backup VG {} is not visible on this machine{}: its generations cannot be listed",
            plan.target.vg,
            if plan.target.iscsi.is_some() {
                " (log in first: snapplan apply PLAN --phase login)"
            } else {
                ""
            }
        ));
    }
    let records =
        crate::report::runs::all_records(&plan.state_dir, &plan.name).map_err(|source| {
            GenerationsError::Records {
                plan: plan.name.clone(),
                source,
            }
        })?;
    let mut document = GenerationsDocument {
        format_version: FORMAT_VERSION,
        plan: plan.name.clone(),
        volumes: Vec::new(),
    };
    for volume in volumes {
        if plan.target.generations.is_some() {
            let generations = pool_generations(plan, volume, &lvs)
                .iter()
                .map(|g| pool_generation(plan, &volume.name, g, &records, &mut notes))
                .collect();
            document.volumes.push(VolumeGenerations {
                name: volume.name.clone(),
                generations,
            });
            continue;
        }
        let backup = LvPath {
            vg: plan.target.vg.clone(),
            lv: volume.target_lv.clone(),
        };
        let mut generations = Vec::new();
        if let Some(lv) = lvs.iter().find(|l| l.path() == backup) {
            let manifest_path = runs::manifest_path(plan, &volume.name);
            let manifest = match Manifest::load(&manifest_path) {
                Ok(m) => Some(m),
                Err(e) => {
                    notes.push(format!(
                        "{}: {e}: its generation is listed as {UNKNOWN_ID} and incomplete",
                        volume.name
                    ));
                    None
                }
            };
            generations.push(thick_generation(
                &volume.name,
                lv,
                manifest.as_ref(),
                &records,
            ));
        }
        document.volumes.push(VolumeGenerations {
            name: volume.name.clone(),
            generations,
        });
    }
    Ok(Listing { document, notes })
}

/// The one generation of a thick backup LV.
fn thick_generation(
    volume: &str,
    lv: &Lv,
    manifest: Option<&Manifest>,
    records: &[RunRecord],
) -> Generation {
    let tagged_complete = lv.lv_tags.iter().any(|t| t == TAG_STATE_COMPLETE)
        && !lv.lv_tags.iter().any(|t| t == TAG_STATE_INCOMPLETE);
    let complete = tagged_complete && manifest.is_some_and(|m| m.completed);
    let writer = manifest.and_then(|m| writing_run(volume, m, records));
    Generation {
        id: manifest.map_or_else(|| UNKNOWN_ID.to_string(), thick_id),
        lv: lv.path().to_string(),
        time: manifest.map(|m| crate::state::time::rfc3339(m.started_at)),
        state: GenerationState::of(complete),
        size_bytes: lv.lv_size,
        written_bytes: written_bytes(writer),
        verified: verified(writer),
    }
}

impl GenerationState {
    fn of(complete: bool) -> Self {
        if complete {
            GenerationState::Complete
        } else {
            GenerationState::Incomplete
        }
    }
}

/// What the record of the run that wrote a generation says it wrote; 0
/// when that record is gone.
fn written_bytes(writer: Option<&runs::VolumeResult>) -> u64 {
    writer.map_or(0, |v| v.bytes_written)
}

/// Whether that run verified it; false when its record is gone.
fn verified(writer: Option<&runs::VolumeResult>) -> bool {
    writer.is_some_and(|v| v.verified && v.status == VolumeStatus::Ok)
}

/// One thin-pool generation as listed: `complete` only when tagged so and
/// its manifest (`manifests/<volume>/<id>.json`) says completed; written
/// bytes and verified from the record of the run that made it (its run id
/// begins with the generation id).
fn pool_generation(
    plan: &Plan,
    volume: &str,
    g: &PoolGeneration,
    records: &[RunRecord],
    notes: &mut Vec<String>,
) -> Generation {
    let manifest_path = runs::generation_manifest_path(plan, volume, &g.id);
    let manifest_completed = match Manifest::load(&manifest_path) {
        Ok(m) => m.completed,
        Err(e) => {
            if g.state == crate::tags::GenerationState::Complete {
                notes.push(format!(
                    "{volume}: generation {}: {e}: it is listed as incomplete",
                    g.id
                ));
            }
            false
        }
    };
    let complete = g.state == crate::tags::GenerationState::Complete && manifest_completed;
    let writer = generation_run(volume, &g.id, records);
    Generation {
        id: g.id.clone(),
        lv: g.lv.to_string(),
        time: Some(crate::state::time::rfc3339(g.time)),
        state: GenerationState::of(complete),
        size_bytes: g.size_bytes,
        written_bytes: written_bytes(writer),
        verified: verified(writer),
    }
}

/// The volume's entry in the record of the run that made generation `id`.
fn generation_run<'a>(
    volume: &str,
    id: &str,
    records: &'a [RunRecord],
) -> Option<&'a runs::VolumeResult> {
    records
        .iter()
        .filter(|r| crate::tags::generation_id_of_run(&r.run_id) == Some(id))
        .find_map(|r| r.volumes.iter().find(|v| v.volume == volume))
}

/// Why a thin-pool generation cannot be the one restore, verify or mount
/// read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolChoiceError {
    /// `--generation` names none of the volume's generations (a usage error).
    #[error(transparent)]
    Unknown(#[from] UnknownGeneration),
    /// No `--generation`, and no generation of the volume is complete.
    #[error(
        "volume {volume} has no complete generation in the pool {pool}{}",
        if .existing.is_empty() { String::new() }
        else { format!(" (incomplete ones: {})", .existing.join(", ")) }
    )]
    NoneComplete {
        volume: String,
        pool: String,
        existing: Vec<String>,
    },
    /// `--generation` names an incomplete generation.
    #[error(
        "generation {id} of volume {volume} ({lv}) is incomplete: its copy did not finish \
         (or failed its verification), so it holds no consistent image"
    )]
    Incomplete {
        volume: String,
        id: String,
        lv: String,
    },
}

/// The ids of `generations`, in their order (newest first).
pub fn ids(generations: &[PoolGeneration]) -> Vec<String> {
    generations.iter().map(|g| g.id.clone()).collect()
}

/// The generation of `volume` that restore, verify and mount read: the one
/// `wanted` names, or the newest complete one; never an incomplete one.
/// Only the tags are read here; the caller checks its manifest
/// (`runs::generation_manifest_path`) says completed.
pub fn choose_pool<'a>(
    plan: &Plan,
    volume: &str,
    generations: &'a [PoolGeneration],
    wanted: Option<&str>,
) -> Result<&'a PoolGeneration, PoolChoiceError> {
    let chosen = match wanted {
        None => newest_complete(generations).ok_or_else(|| PoolChoiceError::NoneComplete {
            volume: volume.to_string(),
            pool: plan
                .target
                .generations
                .as_ref()
                .map_or_else(String::new, |g| format!("{}/{}", plan.target.vg, g.pool)),
            existing: ids(generations),
        })?,
        Some(wanted) => {
            check_id(volume, wanted, &ids(generations))?;
            generations
                .iter()
                .find(|g| g.id == wanted)
                .expect("check_id found it")
        }
    };
    if chosen.state != crate::tags::GenerationState::Complete {
        return Err(PoolChoiceError::Incomplete {
            volume: volume.to_string(),
            id: chosen.id.clone(),
            lv: chosen.lv.to_string(),
        });
    }
    Ok(chosen)
}

/// The volume's entry in the newest record whose run wrote `manifest`.
fn writing_run<'a>(
    volume: &str,
    manifest: &Manifest,
    records: &'a [RunRecord],
) -> Option<&'a runs::VolumeResult> {
    records
        .iter()
        .filter(|r| r.started_at <= manifest.started_at && manifest.started_at <= r.finished_at)
        .find_map(|r| r.volumes.iter().find(|v| v.volume == volume))
}

/// The listing for people: one block per volume.
pub fn render_text(document: &GenerationsDocument) -> String {
    let mut out = format!("plan {}\n", document.plan);
    for volume in &document.volumes {
        if volume.generations.is_empty() {
            out.push_str(&format!("{}: no generation (no backup LV)\n", volume.name));
            continue;
        }
        out.push_str(&format!("{}:\n", volume.name));
        for g in &volume.generations {
            let state = match g.state {
                GenerationState::Complete => "complete",
                GenerationState::Incomplete => "INCOMPLETE",
            };
            out.push_str(&format!(
                "  {}  {}  {}  {state}  {}  written {}  {}\n",
                g.id,
                g.lv,
                g.time.as_deref().unwrap_or("time unknown"),
                crate::human::bytes(g.size_bytes),
                crate::human::bytes(g.written_bytes),
                if g.verified {
                    "verified"
                } else {
                    "not verified"
                },
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
