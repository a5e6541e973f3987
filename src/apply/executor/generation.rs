//! The steps of a thin-pool target (`target.pool`): a volume's new
//! generation, the removal of one that did not become complete, and
//! retention. Every other generation is only ever read: the new one is a
//! thin snapshot of the newest complete one, so a failed, overflowed or
//! killed run changes no existing generation.

use super::*;
use crate::state::runs::generation_manifest_path;
use crate::tags::GenerationState;

/// What a run's new generation of a volume was made from.
#[derive(Debug, Clone)]
pub(super) struct GenerationMade {
    pub generation: LvPath,
    pub pool: LvPath,
    /// The complete generation it is a thin snapshot of; `None` for a
    /// volume's first one (a new thin LV, all zeros).
    pub parent: Option<LvPath>,
}

impl Executor<'_> {
    pub(super) fn new_generation(&mut self, step: &Step) -> Result<(), StepError> {
        let Step::NewGeneration {
            volume,
            origin,
            pool,
            series,
            generation,
        } = step
        else {
            return Err(StepError::Failed(format!(
                "internal: {} is not a generation step",
                step.id()
            )));
        };
        self.refresh_report()?;
        let report = self.report.clone().unwrap_or_default();
        match report.lv(pool) {
            None => {
                return Err(StepError::Failed(format!(
                    "thin pool {pool} (target.pool) does not exist: create it first, \
                     `snapplan check PLAN` says how and how large"
                )));
            }
            Some(lv) if !lv.is_thin_pool() => {
                return Err(StepError::Failed(format!(
                    "{pool} (target.pool) is not a thin pool"
                )));
            }
            Some(_) => {}
        }
        if report.lv(origin).is_none() {
            return Err(StepError::Failed(format!("origin {origin} does not exist")));
        }
        if report.lv(generation).is_some() {
            return Err(StepError::Failed(format!(
                "{generation} exists already (a run of the same second?): not touching it"
            )));
        }
        let plan = self.compiled.plan();
        let values = crate::resolve::LiveValues {
            run_id: &self.run_id,
            report: &report,
        };
        for action in step.actions(&plan.name, &values) {
            let Action::Run { argv, only_if } = action else {
                continue;
            };
            // Decided on the system as it is now: the extend looks at the
            // generation just made.
            let now = self.report.clone().unwrap_or_default();
            if let Some(condition) = &only_if
                && !self.holds(condition, &now)
            {
                tracing::info!(step = %step.id(), "not needed ({condition}): {}", argv.join(" "));
                continue;
            }
            self.run_command(step, &argv, |sys| sys.run_lvm(&argv))?;
            self.refresh_report()?;
        }
        let made = self.report.as_ref().and_then(|r| r.lv(generation)).cloned();
        let Some(made) = made else {
            return Err(StepError::Failed(format!(
                "{generation} is not there after lvcreate"
            )));
        };
        let parent = (!made.origin.is_empty()).then(|| LvPath {
            vg: series.vg.clone(),
            lv: made.origin.clone(),
        });
        match &parent {
            Some(p) => tracing::info!(
                volume,
                "new generation {generation}: a thin snapshot of {p}"
            ),
            None => tracing::info!(volume, "new generation {generation}: the first, all zeros"),
        }
        if let Some(v) = self.volume_mut(volume) {
            v.generation = Some(generation.to_string());
            v.generation_parent = parent.as_ref().map(LvPath::to_string);
        }
        self.generations.insert(
            volume.clone(),
            GenerationMade {
                generation: generation.clone(),
                pool: pool.clone(),
                parent,
            },
        );
        Ok(())
    }

    /// The copy of a volume into its new generation: the parent's
    /// manifest stands for the generation (a snapshot of it, not written
    /// since), so only changed chunks are written; a first generation
    /// reads as zeros, so chunks of zeros are not written at all.
    pub(super) fn generation_copy(&self, volume: &str, job: &mut CopyJob) -> Result<(), StepError> {
        let Some(made) = self.generations.get(volume) else {
            return Ok(());
        };
        let mut wanted = vec![made.generation.clone()];
        wanted.extend(made.parent.clone());
        let ids = self.sys.thin_devices(&wanted, &made.pool)?;
        let uuid = |i: usize| {
            ids.get(i)
                .and_then(|d| d.as_ref())
                .map(|d| d.lv_uuid.clone())
        };
        let Some(own) = uuid(0) else {
            return Err(StepError::Failed(format!(
                "{} is not a thin volume of {}",
                made.generation, made.pool
            )));
        };
        job.destination_tag = Some(own);
        job.destination_zeroed = made.parent.is_none();
        if let Some(parent) = &made.parent {
            job.destination_snapshot_of = uuid(1);
            let plan = self.compiled.plan();
            let target_lv = plan.volume(volume).map(|v| v.target_lv.clone()).ok();
            let manifest = target_lv
                .as_deref()
                .and_then(|t| crate::tags::generation_id(t, &parent.lv))
                .map(|id| generation_manifest_path(plan, volume, id))
                .filter(|m| m.exists());
            match &manifest {
                Some(m) => {
                    tracing::info!(volume, "writing only what changed since {}", m.display())
                }
                None => tracing::warn!(
                    volume,
                    "{parent} has no manifest: every chunk is compared by reading it"
                ),
            }
            job.previous_manifest = manifest;
        }
        Ok(())
    }

    /// Removes this run's generation of the volume unless it became
    /// complete, with its manifest; anything else is left alone.
    pub(super) fn discard_generation(&mut self, step: &Step) -> Result<(), StepError> {
        let Step::DiscardGeneration { volume, generation } = step else {
            return Err(StepError::Failed(format!(
                "internal: {} is not a discard step",
                step.id()
            )));
        };
        let report = self.sys.report()?;
        let plan = self.compiled.plan().name.clone();
        let Some(found) = report.lv(generation) else {
            tracing::info!(step = %step.id(), "{generation} is not there: nothing to remove");
            return Ok(());
        };
        if crate::tags::generation_state(&found.lv_tags, &plan) == Some(GenerationState::Complete) {
            tracing::info!(step = %step.id(), "{generation} is complete: kept");
            return Ok(());
        }
        if !crate::tags::rollback_may_remove_generation(&found.lv_tags, &plan, &self.run_id) {
            return Err(StepError::Failed(format!(
                "not removing {generation}: it is not tagged as an incomplete generation of plan \
                 {plan} made by this run"
            )));
        }
        let argv = commands::remove_lv(generation);
        self.run_command(step, &argv, |sys| sys.remove_lv(generation, LvKind::Plain))?;
        let manifest = (self.manifest_for)(volume);
        if crate::state::runs::drop_manifest(&manifest) {
            tracing::info!("{} removed with its generation", manifest.display());
        }
        if let Some(v) = self.volume_mut(volume)
            && v.status != VolumeStatus::Ok
        {
            let why = v.reason.clone().unwrap_or_else(|| "not completed".into());
            v.reason = Some(format!(
                "{why}; its incomplete generation {generation} was removed, the older ones are \
                 as they were"
            ));
        }
        Ok(())
    }

    /// Retention for the volume, after its new generation is complete.
    pub(super) fn prune(&mut self, step: &Step) -> Result<(), StepError> {
        let Step::Prune { volume, .. } = step else {
            return Err(StepError::Failed(format!(
                "internal: {} is not a prune step",
                step.id()
            )));
        };
        let plan = self.compiled.plan();
        let planned = plan
            .volume(volume)
            .map_err(|e| StepError::Failed(e.to_string()))?;
        let report = self.sys.report()?;
        let mounted = crate::prune::mounted(plan, &crate::state::mounts::records_dir());
        let decisions = crate::prune::decide(plan, planned, &report.lvs);
        for d in &decisions {
            tracing::info!(step = %step.id(), "{}: {}", d.generation.lv, d.why());
        }
        let (decisions, held) = crate::prune::hold_mounted(&decisions, &mounted);
        for (lv, on) in held {
            tracing::warn!(
                step = %step.id(),
                "{lv} is mounted on {on} (snapplan mount): kept until it is unmounted"
            );
        }
        let removed = crate::prune::remove(self.sys, plan, planned, &decisions)
            .map_err(|e| StepError::Failed(e.to_string()))?;
        let pool = self.generations.get(volume).map(|made| made.pool.clone());
        let usage = pool
            .and_then(|pool| self.sys.lv(&pool).ok().flatten())
            .and_then(|lv| lv.pool_use());
        if let Some(v) = self.volume_mut(volume) {
            v.generations_pruned = removed;
            v.pool_data_percent = usage.map(|u| u.data_percent);
            v.pool_metadata_percent = usage.map(|u| u.metadata_percent);
        }
        Ok(())
    }

    /// Whether a generation condition holds on `report`.
    pub(super) fn generation_holds(&self, condition: &Condition, report: &SystemReport) -> bool {
        let plan = &self.compiled.plan().name;
        let has_complete =
            |series: &LvPath| report.newest_complete_generation(plan, series).is_some();
        match condition {
            Condition::HasCompleteGeneration { series } => has_complete(series),
            Condition::NoCompleteGeneration { series } => !has_complete(series),
            Condition::GenerationNotComplete { generation } => {
                report.lv(generation).is_some_and(|lv| {
                    crate::tags::rollback_may_remove_generation(&lv.lv_tags, plan, &self.run_id)
                })
            }
            _ => false,
        }
    }
}
