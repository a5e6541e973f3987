//! The record of a run that died (SIGKILL, the OOM killer, a power cut),
//! written by the recovery after it: without it the dead run would vanish
//! from the history and `report` and the metrics would show the run before
//! it, maybe a success, as the last one.
//!
//! Everything comes from the dead run's journal (which steps started and
//! finished, how far a copy got) and from what the recovery did: `ending`
//! is `died` and `exit_code` is `None` (JSON `null`: no process exit code
//! is known), each volume complete (`ok`), `failed`, `interrupted` (its copy
//! or verify was going on, with how far it got when the journal knows) or
//! `not_run`, and `recovery` lists what was undone.

use std::collections::HashMap;

use crate::plan::Plan;
use crate::state::events::Event;
use crate::state::runs::{
    self as history, ENDING_DIED, Recovered, RunRecord, VolumeResult, VolumeStatus,
};

use super::recover::Recovery;

/// The journal is the dead run's word, up to 16 MiB of it: what the record
/// takes from it is bounded, so the record stays far below what `report`
/// reads (`files::MAX_RECORD_BYTES`).
const MAX_PROBLEMS: usize = 100;
const MAX_TEXT: usize = 2000;

fn bounded(mut text: String) -> String {
    if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

/// A step as the dead run's journal tells it.
#[derive(Debug, Default, Clone)]
struct StepTrace {
    started_at: Option<u64>,
    /// `(ok, detail, at)` of its last `step_finished`.
    finished: Option<(bool, String, u64)>,
}

impl StepTrace {
    fn ok(&self) -> bool {
        matches!(self.finished, Some((true, _, _)))
    }

    fn running(&self) -> bool {
        self.started_at.is_some() && self.finished.is_none()
    }
}

/// The steps of one volume, whose failure fails that volume (the removal
/// of its snapshot is not: the backup is made by then).
const VOLUME_STEPS: [&str; 6] = [
    "snapshot",
    "ensure-backup",
    "protect",
    "copy",
    "verify",
    "release",
];

/// The record of the run whose journal holds `events`, after `recovery`
/// of it ended at `now`, by process `by_pid`. `None` when the journal
/// does not say which run it was.
pub fn record(
    plan: &Plan,
    events: &[Event],
    recovery: &Recovery,
    now: u64,
    by_pid: u32,
) -> Option<RunRecord> {
    // What the run itself journalled: a recovery of it (an earlier,
    // incomplete one) appends after `recovery_started`.
    let own = events
        .iter()
        .position(|e| matches!(e, Event::RecoveryStarted { .. }))
        .map_or(events, |at| &events[..at]);
    let (run_id, phases, started_at) = own.iter().find_map(|e| match e {
        Event::RunStarted {
            run_id, phases, at, ..
        } => Some((run_id.clone(), phases.clone(), *at)),
        _ => None,
    })?;

    let mut steps: HashMap<&str, StepTrace> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut progress: HashMap<&str, (u64, u64, u64)> = HashMap::new();
    let mut hook_running: Option<(String, String)> = None;
    let mut last_at = started_at;
    for event in own {
        match event {
            Event::StepStarted { step, at } => {
                let trace = steps.entry(step).or_default();
                trace.started_at = Some(*at);
                trace.finished = None;
                order.push(step);
                last_at = last_at.max(*at);
            }
            Event::StepFinished {
                step,
                ok,
                detail,
                at,
            } => {
                steps.entry(step).or_default().finished = Some((*ok, detail.clone(), *at));
                last_at = last_at.max(*at);
            }
            Event::CopyProgress {
                volume,
                done,
                total,
                written,
                at,
            } => {
                progress.insert(volume, (*done, *total, *written));
                last_at = last_at.max(*at);
            }
            Event::HookStarted { hook, action } => {
                hook_running = Some((hook.display().to_string(), action.clone()));
            }
            Event::HookFinished { .. } => hook_running = None,
            Event::RunStarted { .. } | Event::RecoveryStarted { .. } | Event::RunClosed { .. } => {}
        }
    }
    let trace = |kind: &str, volume: &str| steps.get(format!("{kind}:{volume}").as_str());

    let backs_up = phases.iter().any(|p| p == "backup");
    let mut volumes = Vec::new();
    for v in &plan.volumes {
        let journalled = VOLUME_STEPS
            .iter()
            .any(|kind| trace(kind, &v.name).is_some());
        if !(backs_up || journalled) {
            continue;
        }
        volumes.push(volume_result(
            v,
            &|kind| trace(kind, &v.name).cloned(),
            progress.get(v.name.as_str()).copied(),
            recovery.merged_back.contains(&v.name),
            &format!("{}/{}", plan.target.vg, v.target_lv),
            last_at,
        ));
    }

    let mut problems = vec![format!(
        "the run died (killed by SIGKILL or the OOM killer, or the machine went down) after its \
         last journal event at {}{}",
        crate::state::time::utc(last_at),
        match (
            order.iter().rev().find(|s| steps[**s].running()),
            &hook_running
        ) {
            (_, Some((hook, action))) => format!(", during hook {hook} {action}"),
            (Some(step), None) => format!(", during step {step}"),
            (None, None) => String::new(),
        }
    )];
    let mut seen = Vec::new();
    for step in &order {
        if problems.len() > MAX_PROBLEMS {
            break;
        }
        let is_volume_step = step
            .split_once(':')
            .is_some_and(|(kind, _)| VOLUME_STEPS.contains(&kind));
        if let Some((false, detail, _)) = &steps[*step].finished
            && !is_volume_step
            && !seen.contains(step)
        {
            seen.push(*step);
            problems.push(bounded(format!("{step}: {detail}")));
        }
    }

    Some(RunRecord {
        run_id,
        plan: plan.name.clone(),
        phases,
        started_at,
        finished_at: last_at,
        exit_code: None,
        ending: ENDING_DIED.to_string(),
        volumes,
        problems,
        notes: Vec::new(),
        recovery: Some(Recovered {
            recovered_at: now,
            by_pid,
            undone: recovery.actions.clone(),
            not_undone: recovery.failures.clone(),
        }),
    })
}

/// One volume of the dead run. `trace(kind)` is its step of that kind.
fn volume_result(
    v: &crate::plan::Volume,
    trace: &dyn Fn(&str) -> Option<StepTrace>,
    progress: Option<(u64, u64, u64)>,
    merged_back: bool,
    backup: &str,
    last_at: u64,
) -> VolumeResult {
    let mut out = VolumeResult::new(&v.name);
    let copy = trace("copy").unwrap_or_default();
    let verify = trace("verify").unwrap_or_default();
    let protect = trace("protect").unwrap_or_default();
    if let Some((done, total, written)) = progress {
        out.size_bytes = done;
        out.bytes_written = written;
        if copy.ok() {
            out.size_bytes = total;
        }
    }
    if let Some(start) = copy.started_at {
        let end = [&copy, &verify]
            .iter()
            .filter_map(|t| t.finished.as_ref().map(|f| f.2))
            .max()
            .unwrap_or(last_at);
        let end = if copy.running() || verify.running() {
            last_at
        } else {
            end
        };
        out.duration_seconds = end.saturating_sub(start) as f64;
    }
    let merged = if merged_back {
        format!("; recovery merged the previous backup back into {backup}")
    } else {
        String::new()
    };
    let failed = VOLUME_STEPS.iter().find_map(|kind| match trace(kind) {
        Some(StepTrace {
            finished: Some((false, detail, _)),
            ..
        }) => Some(bounded(format!("{kind}:{}: {detail}", v.name))),
        _ => None,
    });
    // The step that tags the backup complete: verify when it is on.
    let complete = if v.verify { verify.ok() } else { copy.ok() };
    out.verified = v.verify && verify.ok();
    let (status, reason) = if let Some(failed) = failed {
        (VolumeStatus::Failed, Some(format!("{failed}{merged}")))
    } else if complete && !merged_back {
        (VolumeStatus::Ok, None)
    } else if complete {
        (
            VolumeStatus::Failed,
            Some(format!(
                "copied, but the run died before releasing it as good{merged}"
            )),
        )
    } else if copy.started_at.is_some() || verify.started_at.is_some() {
        let what = if verify.running() {
            "verifying".to_string()
        } else {
            match progress {
                Some((done, total, _)) => format!(
                    "copying it ({} of {} read)",
                    crate::human::bytes(done),
                    crate::human::bytes(total)
                ),
                None => "copying it".to_string(),
            }
        };
        let left = if merged_back {
            merged
        } else if protect.ok() {
            format!("; {backup} is marked incomplete")
        } else {
            format!("; {backup} is marked incomplete: its next copy is a full one")
        };
        (
            VolumeStatus::Interrupted,
            Some(format!("the run died while {what}{left}")),
        )
    } else {
        (
            VolumeStatus::NotRun,
            Some("the run died before its copy".to_string()),
        )
    };
    out.status = status;
    out.reason = reason;
    out
}

/// Writes the dead run's record (through `state::runs`), once: when its
/// run wrote a record itself (it ended with exit 5, or died right after
/// writing it) that record is left as it is; when an earlier, incomplete
/// recovery wrote one, it is written again with both recoveries' work.
/// A record that cannot be written is logged, never a reason to keep the
/// journal open (the next backups matter more).
pub fn save(plan: &Plan, events: &[Event], recovery: &Recovery) {
    let now = crate::state::time::now();
    let Some(mut record) = record(plan, events, recovery, now, std::process::id()) else {
        tracing::warn!("the dead run's journal does not name its run: no record written");
        return;
    };
    let path = history::run_record_path(plan, &record.run_id);
    if std::fs::symlink_metadata(&path).is_ok() {
        match history::load_record(&path) {
            Ok(old) if old.died() => {
                if let (Some(old), Some(new)) = (old.recovery, record.recovery.as_mut()) {
                    let mut undone = old.undone;
                    undone.append(&mut new.undone);
                    new.undone = undone;
                }
            }
            Ok(_) => {
                tracing::info!(
                    "run {} wrote its own record {}: kept as it is",
                    record.run_id,
                    path.display()
                );
                return;
            }
            Err(e) => {
                tracing::error!(
                    "the record {} of the dead run is there but {e}: not replaced",
                    path.display()
                );
                return;
            }
        }
    }
    match history::save_record(&path, &record) {
        Ok(()) => tracing::warn!(
            "run {} died: its record {} says so (exit code unknown, ending died)",
            record.run_id,
            path.display()
        ),
        Err(e) => tracing::error!(
            "cannot write the record {} of the dead run {}: {e}",
            path.display(),
            record.run_id
        ),
    }
}
