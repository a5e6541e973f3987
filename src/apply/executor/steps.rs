//! One step of each kind: its actions as the graph built them (what
//! `snapplan plan` showed), carried out through the [`System`].

use super::*;
use crate::state::target_lock::Resource;

impl Executor<'_> {
    pub(super) fn run_step(&mut self, step: &Step) -> Result<(), StepError> {
        match step {
            Step::RemoveSnapshot { volume, .. } => self.grower.untrack(volume),
            Step::Snapshot { .. } => {
                let made = self.run_snapshot_step(step);
                if made.is_ok()
                    && let Step::Snapshot {
                        volume, snapshot, ..
                    } = step
                {
                    self.track_snapshot(volume, snapshot);
                }
                return made;
            }
            _ => {}
        }
        self.run_other_step(step)
    }

    fn run_snapshot_step(&mut self, step: &Step) -> Result<(), StepError> {
        if self.report.is_none() {
            // Which of its two commands runs depends on whether the origin
            // is thin: never decide that from no report at all (an empty
            // one would make a thin origin's snapshot a classic one).
            self.refresh_report()?;
        }
        self.run_actions(step)
    }

    /// Hands a new snapshot to the grower, with its size and
    /// `snapshot_size_max` resolved on the report it was made from.
    fn track_snapshot(&mut self, volume: &str, snapshot: &LvPath) {
        let Some(planned) = self
            .compiled
            .plan()
            .volumes
            .iter()
            .find(|v| v.name == volume)
        else {
            return;
        };
        let Some(report) = self.report.as_ref() else {
            return;
        };
        let Ok(resolved) = crate::resolve::resolve_volume(planned, report) else {
            return;
        };
        if resolved.thin_pool.is_some() {
            return;
        }
        let max = report
            .vg(&planned.source.vg)
            .and_then(|vg| crate::resolve::snapshot_max_bytes(planned, resolved.origin_bytes, vg));
        self.grower
            .track(volume, snapshot, resolved.snapshot_bytes(), max);
    }

    fn run_other_step(&mut self, step: &Step) -> Result<(), StepError> {
        match step {
            Step::Suspend(hook) => self.suspend(hook),
            Step::Resume(hook) => self.resume(hook),
            Step::RemoveSnapshot { snapshot, .. } => {
                self.remove_tagged(snapshot, tags::ROLE_SNAPSHOT, LvKind::Snapshot)
            }
            Step::KeepBase { base, .. } | Step::DropBase { base, .. } => {
                self.refresh_report()?;
                let empty = SystemReport::default();
                let values = crate::resolve::LiveValues {
                    run_id: &self.run_id,
                    report: self.report.as_ref().unwrap_or(&empty),
                };
                let actions = step.actions(&self.compiled.plan().name, &values);
                for action in actions {
                    let Action::Run { argv, only_if } = action else {
                        continue;
                    };
                    if let Some(condition) = &only_if
                        && !self.holds(condition, self.report.as_ref().unwrap_or(&empty))
                    {
                        tracing::info!(step = %step.id(), "not needed ({condition}): {}", argv.join(" "));
                        continue;
                    }
                    if argv[0] == "lvremove" {
                        // The old base: only if it is this plan's base.
                        self.remove_tagged(base, tags::ROLE_BASE, LvKind::Snapshot)?;
                    } else {
                        self.run_command(step, &argv, |sys| sys.run_lvm(&argv))?;
                    }
                }
                Ok(())
            }
            Step::RemoveBackupLv { volume, backup } => {
                // lvs lists no LV of an exported VG, nor of one not visible
                // (iSCSI logged out): "not there" would pass for "removed".
                let vg = &backup.vg;
                match self.sys.report()?.vg(vg) {
                    None => {
                        return Err(StepError::Failed(format!(
                            "volume group {vg} is not visible, so {backup} cannot be removed; \
                             add --phase login --phase activate"
                        )));
                    }
                    Some(found) if found.is_exported() => {
                        return Err(StepError::Failed(format!(
                            "volume group {vg} is exported, so its LVs cannot be listed and \
                             {backup} cannot be removed; add --phase activate"
                        )));
                    }
                    Some(_) => {}
                }
                self.remove_tagged(backup, tags::ROLE_BACKUP, LvKind::Plain)?;
                self.forget_manifest(volume);
                Ok(())
            }
            Step::EnsureBackupLv {
                volume,
                origin,
                backup,
            } => {
                self.refresh_report()?;
                if self.report.as_ref().and_then(|r| r.lv(backup)).is_none() {
                    // A new LV at the old path: the previous manifest describes
                    // content that is gone, and must not make the copy a delta.
                    self.forget_manifest(volume);
                }
                if let Some(lv) = self.report.as_ref().and_then(|r| r.lv(backup))
                    && lv.ownership().is_none()
                {
                    tracing::warn!(
                        "backup LV {backup} exists without snapplan's tags: writing over it \
                         as the plan says"
                    );
                }
                if self.report.as_ref().and_then(|r| r.lv(origin)).is_none() {
                    return Err(StepError::Failed(format!("origin {origin} does not exist")));
                }
                self.run_actions(step)?;
                // A backup LV always says whether it holds a good copy: a
                // new one is incomplete until its first copy is done.
                self.refresh_report()?;
                let unmarked = self
                    .report
                    .as_ref()
                    .and_then(|r| r.lv(backup))
                    .is_some_and(|lv| {
                        !lv.lv_tags.iter().any(|t| {
                            t == commands::TAG_STATE_COMPLETE || t == commands::TAG_STATE_INCOMPLETE
                        })
                    });
                if unmarked {
                    let argv = commands::mark_backup(backup, false);
                    tracing::info!(step = %step.id(), "run: {}", argv.join(" "));
                    self.sys.run_lvm(&argv)?;
                }
                Ok(())
            }
            Step::TargetActivate { vg } => {
                self.refresh_report()?;
                match self.run_actions(step) {
                    Ok(()) => Ok(()),
                    // Another plan's run, activating the same exported VG at
                    // the same moment, imported it first: LVM then refuses
                    // this run's vgimport. Activating is what is left to do.
                    Err(e) => {
                        self.refresh_report()?;
                        let imported = self
                            .report
                            .as_ref()
                            .and_then(|r| r.vg(vg))
                            .is_some_and(|v| !v.is_exported());
                        if !imported {
                            return Err(e);
                        }
                        tracing::info!(
                            step = %step.id(),
                            "volume group {vg} was imported meanwhile (by another plan's run): \
                             activating it"
                        );
                        self.run_actions(step)
                    }
                }
            }
            Step::TargetDeactivate { vg, .. } => {
                if !self.claim_last_user(step, Resource::Vg(vg.clone()))? {
                    // The commands' conditions skip them (and say so).
                    return self.run_actions(step);
                }
                self.refresh_report()?;
                // The actions' conditions skip the commands; this says why
                // in one line an admin reading the cron mail understands.
                if self
                    .report
                    .as_ref()
                    .and_then(|r| r.vg(vg))
                    .is_some_and(|v| v.is_exported())
                {
                    tracing::info!(
                        step = %step.id(),
                        "volume group {vg} is already exported: nothing to deactivate"
                    );
                }
                self.run_actions(step)
            }
            Step::IscsiLogin { .. } | Step::IscsiLogout { .. } => self.iscsi_step(step),
            Step::NewGeneration { .. } => self.new_generation(step),
            Step::DiscardGeneration { .. } => self.discard_generation(step),
            Step::Prune { .. } => self.prune(step),
            Step::Protect { .. } | Step::ReleaseProtection { .. } => {
                // Conditions are decided on the report from before the
                // step: a merge makes the protection disappear, and the
                // tag that follows it must still run.
                self.refresh_report()?;
                self.run_actions(step)
            }
            _ => self.run_actions(step),
        }
    }

    /// Drops a volume's manifest, so its next copy writes every chunk.
    pub(super) fn forget_manifest(&self, volume: &str) {
        let path = (self.manifest_for)(volume);
        if crate::state::runs::drop_manifest(&path) {
            tracing::info!(
                "{} removed: the backup LV is new, its next copy is a full one",
                path.display()
            );
        }
    }

    pub(super) fn refresh_report(&mut self) -> Result<(), SystemError> {
        self.report = Some(self.sys.report()?);
        Ok(())
    }

    /// The step's actions as the graph built them (what `snapplan plan`
    /// showed), with run-time values filled in.
    pub(super) fn run_actions(&mut self, step: &Step) -> Result<(), StepError> {
        let empty = SystemReport::default();
        let values = crate::resolve::LiveValues {
            run_id: &self.run_id,
            report: self.report.as_ref().unwrap_or(&empty),
        };
        let actions = step.actions(&self.compiled.plan().name, &values);
        for action in actions {
            match action {
                Action::Run { argv, only_if } => {
                    if let Some(condition) = &only_if
                        && !self.holds(condition, self.report.as_ref().unwrap_or(&empty))
                    {
                        tracing::info!(step = %step.id(), "not needed ({condition}): {}", argv.join(" "));
                        continue;
                    }
                    self.run_command(step, &argv, |sys| sys.run_lvm(&argv))?;
                }
                Action::InProcess { .. } => self.in_process(step)?,
                Action::Hook { .. } | Action::EachHook { .. } => {
                    return Err(StepError::Failed(
                        "internal: hook action outside a hook step".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Runs one command line of `step` (as `snapplan plan` showed it) with
    /// the system call that carries it out, logged before and after.
    pub(super) fn run_command(
        &mut self,
        step: &Step,
        argv: &[String],
        call: impl FnOnce(&dyn System) -> Result<(), SystemError>,
    ) -> Result<(), StepError> {
        let started = Instant::now();
        tracing::info!(step = %step.id(), "run: {}", argv.join(" "));
        call(self.sys)?;
        tracing::info!(
            step = %step.id(),
            "done in {:.1}s: {}",
            started.elapsed().as_secs_f64(),
            argv[0]
        );
        Ok(())
    }

    /// The iSCSI steps: their actions are iscsiadm command lines, carried
    /// out by the system's own login and logout (which know that an existing
    /// session, or none to log out of, is success).
    pub(super) fn iscsi_step(&mut self, step: &Step) -> Result<(), StepError> {
        match step {
            Step::IscsiLogin { portal, iqn } => {
                let discover = commands::iscsi_discover(portal);
                self.run_command(step, &discover, |sys| sys.iscsi_discover(portal))?;
                let login = commands::iscsi_login(portal, iqn);
                self.run_command(step, &login, |sys| sys.iscsi_login(portal, iqn))?;
                self.in_process(step)
            }
            Step::IscsiLogout { portal, iqn } => {
                let logout = commands::iscsi_logout(portal, iqn);
                // A VG left active for another plan's run must keep its
                // disk, whoever else uses the session.
                let vg = Resource::Vg(self.compiled.plan().target.vg.clone());
                let iscsi = Resource::Iscsi(iqn.clone());
                if let Some(targets) = self.targets.as_deref_mut()
                    && targets.left_to_others(&vg)
                {
                    // Holding the session's lock to this run's end could
                    // make the run that puts the VG away skip the logout.
                    targets.release(&iscsi);
                    let note = format!(
                        "{iscsi} left logged in: {vg} is still in use by another plan's run"
                    );
                    tracing::info!(step = %step.id(), "{note}");
                    self.notes.push(note);
                    return Ok(());
                }
                if !self.claim_last_user(step, iscsi)? {
                    let condition = Condition::NoOtherPlanUsesIscsi { iqn: iqn.clone() };
                    tracing::info!(step = %step.id(), "not needed ({condition}): {}", logout.join(" "));
                    return Ok(());
                }
                self.run_command(step, &logout, |sys| sys.iscsi_logout(portal, iqn))
            }
            other => Err(StepError::Failed(format!(
                "internal: {} is not an iSCSI step",
                other.id()
            ))),
        }
    }

    pub(super) fn in_process(&mut self, step: &Step) -> Result<(), StepError> {
        match step {
            Step::Copy {
                volume,
                snapshot,
                backup,
                bandwidth,
                verify,
            } => self.copy(volume, snapshot, backup, *bandwidth, *verify),
            Step::Verify { volume, backup, .. } => {
                let started = Instant::now();
                let manifest = (self.manifest_for)(volume);
                let cancel = AtomicBool::new(false);
                let done = AtomicBool::new(false);
                let result = std::thread::scope(|s| {
                    let interrupt = self.interrupt;
                    let forward = super::span::spawn_in_span(s, || {
                        while !done.load(Ordering::SeqCst) {
                            if interrupt.load(Ordering::SeqCst) {
                                cancel.store(true, Ordering::SeqCst);
                            }
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    });
                    let r = self.sys.verify(&manifest, &device_path(backup), &cancel);
                    done.store(true, Ordering::SeqCst);
                    let _ = forward.join();
                    r
                });
                if self.interrupt.load(Ordering::SeqCst) {
                    return Err(StepError::Interrupted);
                }
                result.map_err(|e| StepError::Failed(e.to_string()))?;
                if let Some(v) = self.volume_mut(volume) {
                    v.verified = true;
                    v.status = VolumeStatus::Ok;
                    v.duration_seconds += started.elapsed().as_secs_f64();
                }
                Ok(())
            }
            Step::Protect { volume, backup, .. } => {
                let empty = SystemReport::default();
                let complete = Condition::LvComplete { lv: backup.clone() };
                if self.holds(&complete, self.report.as_ref().unwrap_or(&empty)) {
                    let manifest = (self.manifest_for)(volume);
                    crate::state::protection::keep_manifest(&manifest).map_err(|e| {
                        format!("cannot keep a copy of {}: {e}", manifest.display())
                    })?;
                } else {
                    tracing::info!(
                        volume,
                        "{backup} holds no complete backup: nothing to protect"
                    );
                }
                Ok(())
            }
            Step::ReleaseProtection {
                volume,
                backup,
                protection,
            } => {
                let empty = SystemReport::default();
                let report = self.report.as_ref().unwrap_or(&empty);
                let manifest = (self.manifest_for)(volume);
                let failed = Condition::NewCopyNotGood {
                    volume: volume.clone(),
                    protection: protection.clone(),
                };
                let good = Condition::NewCopyGood {
                    volume: volume.clone(),
                    protection: protection.clone(),
                };
                if self.holds(&failed, report) {
                    super::super::protection::finish_merge(
                        self.sys, backup, protection, &manifest,
                    )?;
                    if let Some(v) = self.volume_mut(volume) {
                        v.reason = Some(format!(
                            "{}; the previous backup was merged back into {backup}",
                            v.reason.clone().unwrap_or_else(|| "not completed".into())
                        ));
                    }
                } else if self.holds(&good, report)
                    && let Err(e) = crate::state::protection::drop_kept_manifest(&manifest)
                {
                    tracing::warn!("cannot remove the kept manifest of {volume}: {e}");
                }
                Ok(())
            }
            Step::IscsiLogin { portal, iqn } => {
                let waited = self.wait_for_vg();
                if waited.is_err() {
                    self.logout_after_failed_login(portal, iqn);
                }
                waited
            }
            other => Err(StepError::Failed(format!(
                "internal: no in-process work for {}",
                other.id()
            ))),
        }
    }

    /// The login worked but its step failed (the VG did not appear, or a
    /// signal came while waiting). The logout step cannot clean up: it runs
    /// after the deactivate step, which is skipped now, and a rollback only
    /// undoes steps that succeeded. So the step logs out itself: a failed
    /// login leaves no session.
    pub(super) fn logout_after_failed_login(&mut self, portal: &str, iqn: &str) {
        let argv = commands::iscsi_logout(portal, iqn);
        // Another plan's run may be using the session (its VG did not
        // appear for this plan): never pull it away from under that run.
        let iscsi = Resource::Iscsi(iqn.to_string());
        match self.targets.as_deref_mut().map(|t| t.claim_last(&iscsi)) {
            Some(Ok(Some(users))) => {
                let note = shared_target::left_active(&iscsi, &users);
                tracing::warn!(step = "iscsi-login", "{note}");
                self.notes.push(note);
                return;
            }
            Some(Err(e)) => {
                self.cleanup_failed = true;
                self.problems
                    .push(format!("iscsi-login: not logging out again: {e}"));
                return;
            }
            Some(Ok(None)) | None => {}
        }
        tracing::warn!(
            step = "iscsi-login",
            "logging out again: {}",
            argv.join(" ")
        );
        if let Err(e) = self.sys.iscsi_logout(portal, iqn) {
            self.cleanup_failed = true;
            self.problems
                .push(format!("iscsi-login: cannot log out again: {e}"));
        }
    }

    pub(super) fn wait_for_vg(&mut self) -> Result<(), StepError> {
        let vg = self.compiled.plan().target.vg.clone();
        let deadline = Instant::now() + self.options.vg_wait;
        loop {
            if let Ok(report) = self.sys.report()
                && report.vg(&vg).is_some()
            {
                self.report = Some(report);
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StepError::Failed(format!(
                    "volume group {vg} did not appear within {}s of the iSCSI login",
                    self.options.vg_wait.as_secs()
                )));
            }
            if self.interrupt.load(Ordering::SeqCst) {
                return Err(StepError::Interrupted);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Removes `lv` if it is there and tagged as this plan's `role`:
    /// never anything found by name alone.
    pub(super) fn remove_tagged(
        &mut self,
        lv: &LvPath,
        role: &str,
        kind: LvKind,
    ) -> Result<(), StepError> {
        let report = self.sys.report()?;
        let Some(found) = report.lv(lv) else {
            tracing::info!("{lv} is not there: nothing to remove");
            return Ok(());
        };
        let plan = &self.compiled.plan().name;
        if !found.is_plans(plan, role) {
            return Err(StepError::Failed(format!(
                "not removing {lv}: it is not tagged as plan {plan}'s {role}"
            )));
        }
        tracing::info!("remove: {lv}");
        Ok(self.sys.remove_lv(lv, kind)?)
    }
}

impl Executor<'_> {
    /// At a deactivate, export or logout: whether this run is the last one
    /// using `resource` (it then holds it alone to its end). When another
    /// plan's run still uses it, says so in the log and the summary.
    pub(super) fn claim_last_user(
        &mut self,
        step: &Step,
        resource: Resource,
    ) -> Result<bool, StepError> {
        let Some(targets) = self.targets.as_deref_mut() else {
            return Ok(true);
        };
        match targets.claim_last(&resource) {
            Ok(None) => Ok(true),
            Ok(Some(users)) => {
                let note = shared_target::left_active(&resource, &users);
                tracing::info!(step = %step.id(), "{note}: it is that run's to finish");
                if !self.notes.contains(&note) {
                    self.notes.push(note);
                }
                Ok(false)
            }
            Err(e) => Err(StepError::Failed(format!(
                "{e}; {resource} is left as it is: run `snapplan recover PLAN` when the \
                 other runs have finished"
            ))),
        }
    }

    /// Whether a command's condition holds on the system now (and, for a
    /// protection, given how the volume's copy went in this run).
    pub(super) fn holds(&self, condition: &Condition, report: &SystemReport) -> bool {
        let ours = |protection: &LvPath| {
            report.lv(protection).is_some_and(|lv| {
                super::super::protection::is_trusted(lv, &self.compiled.plan().name, &self.run_id)
            })
        };
        let good = |volume: &str| {
            self.volumes
                .iter()
                .any(|v| v.volume == volume && v.status == VolumeStatus::Ok)
        };
        match condition {
            Condition::LvComplete { lv } => report
                .lv(lv)
                .is_some_and(|lv| lv.lv_tags.iter().any(|t| t == commands::TAG_STATE_COMPLETE)),
            Condition::NewCopyGood { volume, protection } => ours(protection) && good(volume),
            Condition::NewCopyNotGood { volume, protection } => ours(protection) && !good(volume),
            Condition::NoOtherPlanUsesVg { vg } => self.alone(&Resource::Vg(vg.clone())),
            Condition::NoOtherPlanUsesIscsi { iqn } => self.alone(&Resource::Iscsi(iqn.clone())),
            Condition::All { all } => all.iter().all(|c| self.holds(c, report)),
            Condition::HasCompleteGeneration { .. }
            | Condition::NoCompleteGeneration { .. }
            | Condition::GenerationNotComplete { .. } => self.generation_holds(condition, report),
            other => holds(other, report),
        }
    }
}

/// Whether a command's condition holds on the system now.
fn holds(condition: &Condition, report: &SystemReport) -> bool {
    match condition {
        Condition::VgExported { vg } => report.vg(vg).is_some_and(|v| v.is_exported()),
        Condition::VgNotExported { vg } => !report.vg(vg).is_some_and(|v| v.is_exported()),
        Condition::LvMissing { lv } => report.lv(lv).is_none(),
        Condition::ThinBaseExists { origin, base } => {
            report.lv(origin).is_some_and(|lv| lv.is_thin()) && report.lv(base).is_some()
        }
        Condition::LvSmallerThan { lv, origin } => match (report.lv(lv), report.lv(origin)) {
            (Some(lv), Some(origin)) => lv.lv_size < origin.lv_size,
            _ => false,
        },
        Condition::OriginThin { origin } => report.lv(origin).is_some_and(|lv| lv.is_thin()),
        // A missing origin takes the classic command, which then fails
        // naming it rather than passing for done.
        Condition::OriginNotThin { origin } => !report.lv(origin).is_some_and(|lv| lv.is_thin()),
        // Decided by the executor, which knows the run.
        Condition::All { all } => all.iter().all(|c| holds(c, report)),
        Condition::NoOtherPlanUsesVg { .. } | Condition::NoOtherPlanUsesIscsi { .. } => false,
        Condition::LvComplete { .. }
        | Condition::NewCopyGood { .. }
        | Condition::NewCopyNotGood { .. }
        | Condition::HasCompleteGeneration { .. }
        | Condition::NoCompleteGeneration { .. }
        | Condition::GenerationNotComplete { .. } => false,
    }
}

impl Executor<'_> {
    /// Whether this run holds `resource` alone (see [`Self::claim_last_user`]).
    fn alone(&self, resource: &Resource) -> bool {
        self.targets.as_deref().is_none_or(|t| t.is_alone(resource))
    }
}
