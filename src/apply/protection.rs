//! Merging a protection snapshot back into its backup LV: the previous
//! backup comes back, with its manifest and its `complete` tag. One
//! function for the run that failed (its release step or its rollback) and
//! for `recover` after a run that died.

use std::path::Path;

use crate::graph::argv as commands;
use crate::plan::LvPath;
use crate::state::protection as kept;
use crate::system::System;

/// Whether `lv` is a protection snapshot that plan `plan`'s run `run` made.
pub fn is_trusted(lv: &crate::system::Lv, plan: &str, run: &str) -> bool {
    lv.is_snapshot()
        && lv.ownership().is_some_and(|o| {
            o.plan.as_deref() == Some(plan)
                && o.run.as_deref() == Some(run)
                && o.role.as_deref() == Some(crate::tags::ROLE_PROTECTION)
        })
}

/// `lvconvert --merge` the protection of `backup`, check that the merge
/// finished (the snapshot is gone), then put the kept manifest back and
/// mark the backup complete again. A merge LVM deferred (the backup LV is
/// open) is an error: the backup then holds the new, failed copy until
/// its next activation.
pub fn merge_back(
    sys: &dyn System,
    backup: &LvPath,
    protection: &LvPath,
    manifest: &Path,
) -> Result<(), String> {
    // A merge into an inactive origin waits for its next activation: make
    // it start now.
    let report = sys.report().map_err(|e| e.to_string())?;
    if report
        .lv(backup)
        .is_some_and(|lv| lv.lv_attr.chars().nth(4) != Some('a'))
    {
        let activate = commands::activate_lv(backup, true);
        tracing::info!("run: {}", activate.join(" "));
        sys.run_lvm(&activate).map_err(|e| e.to_string())?;
    }
    let argv = commands::merge_snapshot(protection);
    tracing::warn!("merging the previous backup back: {}", argv.join(" "));
    sys.run_lvm(&argv).map_err(|e| e.to_string())?;
    finish_merge(sys, backup, protection, manifest)?;
    let mark = commands::mark_backup(backup, true);
    tracing::info!("run: {}", mark.join(" "));
    sys.run_lvm(&mark).map_err(|e| e.to_string())
}

/// After `lvconvert --merge` returned: the merge must be over, then the
/// manifest describing the previous backup comes back.
pub fn finish_merge(
    sys: &dyn System,
    backup: &LvPath,
    protection: &LvPath,
    manifest: &Path,
) -> Result<(), String> {
    let report = sys.report().map_err(|e| e.to_string())?;
    if report.lv(protection).is_some() {
        return Err(format!(
            "the merge of {protection} into {backup} did not finish (LVM defers it while {backup} \
             is open, to its next activation): {backup} holds the failed new copy until then; \
             close it, then `lvchange --activate n {backup}` and `lvchange --activate y {backup}`"
        ));
    }
    kept::restore_manifest(manifest)
        .map_err(|e| format!("{backup} holds the previous backup again, but its manifest {} could not be put back: {e}", manifest.display()))?;
    tracing::info!("{backup} holds the previous backup again");
    Ok(())
}

/// For `recover`: each volume's protection snapshot that the dead run
/// `dead_run` made (its tags say so, and its journal says it started
/// protecting that volume before it died) is merged back: the dead run's
/// copy did not finish its release, so the previous backup is the last
/// good one. A protection snapshot recover cannot trust is never touched
/// (nor removed): it is reported with what to do by hand. Returns the
/// volumes whose previous backup was merged back.
pub fn recover_protections(
    plan: &crate::plan::Plan,
    sys: &dyn System,
    journal: Option<&[crate::state::events::Event]>,
    dead_run: Option<&str>,
    actions: &mut Vec<String>,
    failures: &mut Vec<String>,
) -> Vec<String> {
    use crate::state::events::Event;
    let mut merged = Vec::new();
    let report = match sys.report() {
        Ok(r) => r,
        Err(e) => {
            failures.push(format!("cannot look for protection snapshots: {e}"));
            return merged;
        }
    };
    for volume in &plan.volumes {
        let backup = LvPath {
            vg: plan.target.vg.clone(),
            lv: volume.target_lv.clone(),
        };
        let protection = commands::protection_path(&backup);
        let Some(lv) = report.lv(&protection) else {
            continue;
        };
        let step = format!("protect:{}", volume.name);
        let journalled = journal.is_some_and(|events| {
            events
                .iter()
                .any(|e| matches!(e, Event::StepStarted { step: s, .. } if *s == step))
        });
        let trusted = dead_run.is_some_and(|run| is_trusted(lv, &plan.name, run));
        if !(journalled && trusted) {
            let why = if !trusted {
                "its tags do not say that the dead run of this plan made it"
            } else {
                "the dead run's journal does not say it protected this volume"
            };
            tracing::error!("recover: NOT touching {protection}: {why}");
            failures.push(format!(
                "protection snapshot {protection} is there, but {why}: not touched. It holds the \
                 previous content of {backup}: `lvconvert --merge {protection}` puts it back, \
                 `lvremove {protection}` drops it (see docs/restore.md)"
            ));
            continue;
        }
        let manifest = crate::state::runs::manifest_path(plan, &volume.name);
        match merge_back(sys, &backup, &protection, &manifest) {
            Ok(()) => {
                actions.push(format!(
                    "merged {protection} back: {backup} holds the previous backup again"
                ));
                merged.push(volume.name.clone());
            }
            Err(e) => failures.push(e),
        }
    }
    merged
}
