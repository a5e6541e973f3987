//! Reading a plan's run history back: the run records apply wrote under
//! `<state_dir>/<plan>/runs/`, newest first, and the journal of a run that
//! is going on (or died) without a record yet. A record that cannot be read
//! is named and skipped, never fatal: one bad file must not hide the others.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::state::events::{self, Event};
use crate::state::lock::{self, LockState};
use crate::state::runs::RunRecord;

/// What the history of one plan holds.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PlanRuns {
    pub plan: String,
    pub dir: PathBuf,
    /// Newest first, at most the number asked for.
    pub runs: Vec<RunRecord>,
    /// Record files among the newest that could not be read, with why.
    pub unreadable: Vec<Unreadable>,
    /// A run with a journal but no record yet.
    pub unfinished: Option<Unfinished>,
    /// The journal is there but cannot be read (garbage, not a regular
    /// file, too big): why. recover and apply refuse to go on until it is
    /// dealt with, so report says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal_problem: Option<String>,
    /// Per volume, what these runs measured of its snapshot and the
    /// `snapshot_size` they suggest (docs/check.md#snapshot-sizes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<crate::sizing::Learned>,
    /// A plan with `target.pool` (shown with its plan file only): per
    /// volume its complete generations and the newest, and how full the
    /// pool is, read from LVM when the report was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generations: Option<PoolSummary>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Unreadable {
    pub path: PathBuf,
    pub error: String,
}

/// The run whose journal is `<plan dir>/journal.jsonl`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Unfinished {
    pub run_id: Option<String>,
    pub started_at: Option<u64>,
    pub pid: Option<u32>,
    /// True while a process holds the plan's lock: the run is going on.
    /// False: it died and left its journal for `snapplan recover`.
    pub alive: bool,
    /// It wrote its record (ended with exit 5): it could not undo
    /// everything and left the journal open for `snapplan recover`.
    pub has_record: bool,
    pub journal: PathBuf,
}

impl PlanRuns {
    /// True when there are record files but not one could be read.
    pub fn nothing_readable(&self) -> bool {
        self.runs.is_empty() && !self.unreadable.is_empty()
    }
}

/// Reads the newest `last` readable run records of `plan` under
/// `state_dir`. Unreadable files met on the way are listed, not counted.
pub fn load(state_dir: &Path, plan: &str, last: usize) -> std::io::Result<PlanRuns> {
    let dir = state_dir.join(plan);
    let mut result = PlanRuns {
        plan: plan.to_string(),
        dir: dir.clone(),
        runs: Vec::new(),
        unreadable: Vec::new(),
        unfinished: None,
        journal_problem: None,
        sizes: Vec::new(),
        generations: None,
    };
    match unfinished(state_dir, plan, &dir) {
        Ok(found) => result.unfinished = found,
        Err(problem) => result.journal_problem = Some(problem),
    }
    for path in record_files(&dir.join("runs"))? {
        if result.runs.len() >= last {
            break;
        }
        match read_record(&path) {
            Ok(record) => result.runs.push(record),
            Err(error) => result.unreadable.push(Unreadable { path, error }),
        }
    }
    result.sizes = learned(&result.runs, crate::sizing::DEFAULT_EXTENT);
    if let Some(u) = &mut result.unfinished {
        let runs_dir = dir.join("runs");
        u.has_record = u
            .run_id
            .as_ref()
            .is_some_and(|id| runs_dir.join(format!("{id}.json")).is_file());
        // Alive with a record: the run is closing its journal right now.
        if u.has_record && u.alive {
            result.unfinished = None;
        }
    }
    Ok(result)
}

/// Per volume (in the order of the newest run), what `runs` measured of
/// its snapshot.
pub fn learned(runs: &[RunRecord], extent: u64) -> Vec<crate::sizing::Learned> {
    let mut names: Vec<&str> = Vec::new();
    for v in runs.iter().flat_map(|r| &r.volumes) {
        if !names.contains(&v.volume.as_str()) {
            names.push(&v.volume);
        }
    }
    names
        .into_iter()
        .filter_map(|name| {
            let results: Vec<&crate::state::runs::VolumeResult> = runs
                .iter()
                .flat_map(|r| &r.volumes)
                .filter(|v| v.volume == name)
                .collect();
            crate::sizing::learn(name, &results, extent)
        })
        .collect()
}

/// Every readable run record of `plan`, newest first (for metrics, which
/// need the last success of each volume however old it is).
pub fn all_records(state_dir: &Path, plan: &str) -> std::io::Result<Vec<RunRecord>> {
    Ok(load(state_dir, plan, usize::MAX)?.runs)
}

/// The plans that have a history under `state_dir`, by name.
pub fn plans_in(state_dir: &Path) -> std::io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(state_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut plans = Vec::new();
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let has_history = path.join("runs").is_dir() || events::current_path(&path).exists();
        if path.is_dir()
            && has_history
            && let Some(name) = entry.file_name().to_str()
        {
            plans.push(name.to_string());
        }
    }
    plans.sort();
    Ok(plans)
}

/// `runs/*.json`, newest first. Run ids start with a UTC timestamp, so the
/// file names sort by time.
fn record_files(runs_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(runs_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        // `.journal.jsonl` are archived journals, `.json.tmp` a record
        // being written.
        let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
        if path.extension().is_some_and(|e| e == "json") && regular {
            files.push(path);
        }
    }
    files.sort();
    files.reverse();
    Ok(files)
}

fn read_record(path: &Path) -> Result<RunRecord, String> {
    crate::state::runs::load_record(path)
}

/// The run the journal belongs to; `Err` says why a journal that is there
/// cannot be read.
fn unfinished(state_dir: &Path, plan: &str, dir: &Path) -> Result<Option<Unfinished>, String> {
    let journal = events::current_path(dir);
    let contents = match crate::state::journal::read::<Event>(&journal) {
        Ok(contents) => contents,
        Err(crate::state::journal::JournalError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e.to_string()),
    };
    let started = contents.events.into_iter().find_map(|event| match event {
        Event::RunStarted {
            run_id, pid, at, ..
        } => Some((run_id, pid, at)),
        _ => None,
    });
    let alive = matches!(lock::probe(state_dir, plan), Ok(LockState::Held { .. }));
    Ok(Some(Unfinished {
        run_id: started.as_ref().map(|s| s.0.clone()),
        pid: started.as_ref().map(|s| s.1),
        started_at: started.map(|s| s.2),
        alive,
        has_record: false,
        journal,
    }))
}

/// What a pool plan's generations and pool are now, for `snapplan report`
/// and the metrics: per volume how many generations are complete and the
/// newest complete one, and how full the pool is. "Complete" is the LV's
/// state tag (as check and apply read it); its manifest is not read.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PoolSummary {
    /// The thin pool, `vg/pool`.
    pub pool: String,
    /// The pool's data use, percent; absent when it cannot be read (the
    /// pool inactive, its VG exported or not visible).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_percent: Option<f64>,
    /// The pool's metadata use, percent; absent as `data_percent` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_percent: Option<f64>,
    /// In plan order; empty when the target VG is not visible or LVM could
    /// not be read (then `notes` says so).
    pub volumes: Vec<VolumePoolSummary>,
    /// Why something above is missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct VolumePoolSummary {
    /// The volume's name in the plan.
    pub volume: String,
    /// Its generations tagged complete.
    pub complete: usize,
    /// Its generations tagged incomplete (a copy that did not finish).
    pub incomplete: usize,
    /// The id (`YYYYMMDDTHHMMSSZ`) of its newest complete generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_complete: Option<String>,
    /// The same as a Unix time (the start of the run that made it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_complete_at: Option<u64>,
}

impl PoolSummary {
    /// What is known when LVM could not be read at all: the pool's name
    /// and why.
    pub fn unknown(plan: &crate::plan::Plan, pool: &str, why: String) -> PoolSummary {
        PoolSummary {
            pool: format!("{}/{pool}", plan.target.vg),
            data_percent: None,
            metadata_percent: None,
            volumes: Vec::new(),
            notes: vec![why],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::runs::{VolumeResult, save_record};

    fn record(run_id: &str) -> RunRecord {
        RunRecord {
            run_id: run_id.into(),
            plan: "p".into(),
            phases: vec!["backup".into()],
            started_at: 1,
            finished_at: 2,
            exit_code: Some(0),
            ending: "completed".into(),
            volumes: vec![VolumeResult::new("root")],
            problems: vec![],
            recovery: None,
            notes: vec![],
        }
    }

    #[test]
    fn newest_first_skipping_unreadable_and_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("p/runs");
        for id in [
            "20260101T000000Z-1",
            "20260102T000000Z-1",
            "20260104T000000Z-1",
        ] {
            save_record(&runs.join(format!("{id}.json")), &record(id)).unwrap();
        }
        std::fs::write(runs.join("20260103T000000Z-1.json"), "{ not json").unwrap();
        std::fs::write(runs.join("20260105T000000Z-1.json.tmp"), "x").unwrap();
        std::fs::write(runs.join("20260104T000000Z-1.journal.jsonl"), "x").unwrap();
        let got = load(dir.path(), "p", 2).unwrap();
        let ids: Vec<_> = got.runs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, ["20260104T000000Z-1", "20260102T000000Z-1"]);
        assert_eq!(got.unreadable.len(), 1);
        assert!(got.unreadable[0].path.ends_with("20260103T000000Z-1.json"));
        assert!(!got.nothing_readable());
        assert_eq!(all_records(dir.path(), "p").unwrap().len(), 3);
    }

    #[test]
    fn no_history_is_empty_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let got = load(&dir.path().join("missing"), "p", 5).unwrap();
        assert!(got.runs.is_empty() && got.unreadable.is_empty() && got.unfinished.is_none());
        assert!(!got.nothing_readable());
        assert!(plans_in(&dir.path().join("missing")).unwrap().is_empty());
    }

    #[test]
    fn a_journal_without_a_lock_holder_is_a_dead_run() {
        let dir = tempfile::tempdir().unwrap();
        let plan_dir = dir.path().join("p");
        std::fs::create_dir_all(&plan_dir).unwrap();
        let started = Event::RunStarted {
            run_id: "20260101T000000Z-7".into(),
            plan: "p".into(),
            pid: 7,
            phases: vec![],
            at: 99,
        };
        std::fs::write(
            events::current_path(&plan_dir),
            serde_json::to_string(&started).unwrap() + "\n",
        )
        .unwrap();
        let got = load(dir.path(), "p", 1).unwrap();
        let u = got.unfinished.unwrap();
        assert_eq!(u.run_id.as_deref(), Some("20260101T000000Z-7"));
        assert_eq!((u.pid, u.started_at, u.alive), (Some(7), Some(99), false));
        assert!(!u.has_record);
        assert_eq!(plans_in(dir.path()).unwrap(), ["p"]);
        save_record(
            &plan_dir.join("runs/20260101T000000Z-7.json"),
            &record("20260101T000000Z-7"),
        )
        .unwrap();
        assert!(
            load(dir.path(), "p", 1)
                .unwrap()
                .unfinished
                .unwrap()
                .has_record
        );
        let _held = crate::state::lock::RunLock::acquire(dir.path(), "p").unwrap();
        assert!(load(dir.path(), "p", 1).unwrap().unfinished.is_none());
    }

    #[test]
    fn a_garbage_or_fifo_journal_is_a_problem_not_a_hang_or_a_clean_bill() {
        let dir = tempfile::tempdir().unwrap();
        let plan_dir = dir.path().join("p");
        std::fs::create_dir_all(plan_dir.join("runs")).unwrap();
        save_record(
            &plan_dir.join("runs/20260101T000000Z-1.json"),
            &record("20260101T000000Z-1"),
        )
        .unwrap();
        let journal = events::current_path(&plan_dir);
        std::fs::write(&journal, "garbage\n").unwrap();
        let runs = load(dir.path(), "p", 10).unwrap();
        let problem = runs.journal_problem.as_deref().expect("a problem");
        assert!(problem.contains("line 1"), "{problem}");
        let text = crate::report::render::text(&[runs]);
        assert!(
            text.contains("PROBLEM:") && text.contains("--discard-journal"),
            "{text}"
        );

        std::fs::remove_file(&journal).unwrap();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &journal,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        let runs = load(dir.path(), "p", 10).unwrap();
        assert!(runs.journal_problem.unwrap().contains("FIFO"));
    }
}
