//! Making backup LVs readable for a later check, and putting them back.
//!
//! A cron run ends with the deactivate phase (and `vgexport` when the plan
//! says so), so the backups are not readable afterwards. `snapplan verify
//! PLAN` imports and activates just what it reads, and restores the state
//! it found, so that checking a backup never leaves the backup disk in use.

use crate::graph::argv as commands;
use crate::plan::{LvPath, Plan};
use crate::system::System;

/// What [`open`] changed, to undo in [`Access::restore`].
#[derive(Debug, Default)]
pub struct Access {
    imported_vg: Option<String>,
    activated: Vec<LvPath>,
}

/// Makes `backups` (LVs of the plan's target VG) active. The VG must be
/// visible (after an iSCSI login); an exported one is imported first.
/// Backups that do not exist are left to the verify to report.
pub fn open(sys: &dyn System, plan: &Plan, backups: &[LvPath]) -> Result<Access, String> {
    let vg = &plan.target.vg;
    let report = sys.report().map_err(|e| e.to_string())?;
    let Some(found) = report.vg(vg) else {
        return Err(not_visible(plan));
    };
    let mut access = Access::default();
    if found.is_exported() {
        tracing::info!("importing the exported VG {vg} to read its backups");
        sys.run_lvm(&commands::import_vg(vg))
            .map_err(|e| e.to_string())?;
        access.imported_vg = Some(vg.clone());
    }
    let report = sys.report().map_err(|e| e.to_string())?;
    for backup in backups {
        if let Some(lv) = report.lv(backup)
            && !lv.is_active()
        {
            tracing::info!("activating {backup} to read it");
            if let Err(e) = sys.run_lvm(&commands::activate_lv(backup, true)) {
                let _ = access.restore(sys);
                return Err(e.to_string());
            }
            access.activated.push(backup.clone());
        }
    }
    Ok(access)
}

/// Why the plan's backups cannot be read when its VG is not there.
pub fn not_visible(plan: &Plan) -> String {
    format!(
        "the backup VG {} is not visible on this machine{}",
        plan.target.vg,
        if plan.target.iscsi.is_some() {
            "; log in first: snapplan apply --phase login PLAN"
        } else {
            ""
        }
    )
}

impl Access {
    /// The VG [`open`] imported (it was exported), if it did.
    pub fn imported_vg(&self) -> Option<&str> {
        self.imported_vg.as_deref()
    }

    /// The LVs [`open`] activated (they were inactive).
    pub fn activated(&self) -> &[LvPath] {
        &self.activated
    }

    /// Deactivates what was activated, exports what was imported. Returns
    /// what could not be put back.
    pub fn restore(self, sys: &dyn System) -> Vec<String> {
        let mut failures = Vec::new();
        for backup in self.activated.iter().rev() {
            if let Err(e) = sys.run_lvm(&commands::activate_lv(backup, false)) {
                failures.push(e.to_string());
            }
        }
        if let Some(vg) = &self.imported_vg
            && let Err(e) = sys.run_lvm(&commands::export_vg(vg))
        {
            failures.push(e.to_string());
        }
        failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::fake::{Fake, MIB, lv};

    fn plan() -> Plan {
        Plan {
            name: "nightly".into(),
            state_dir: "/var/lib/snapplan".into(),
            target_lock_dir: "/run/snapplan/targets".into(),
            hooks: None,
            target: crate::plan::Target {
                vg: "backup".into(),
                iscsi: None,
                export: true,
                keep_previous: true,
                generations: None,
            },
            volumes: vec![],
        }
    }

    fn path(name: &str) -> LvPath {
        LvPath {
            vg: "backup".into(),
            lv: name.into(),
        }
    }

    #[test]
    fn an_exported_inactive_vg_is_imported_activated_and_put_back() {
        let fake = Fake::new();
        let mut inactive = lv("backup", "a", 16 * MIB);
        inactive.lv_attr = "-wi-------".into();
        fake.add_lv(inactive);
        fake.add_lv(lv("backup", "b", 16 * MIB)); // already active: left so
        fake.state().vgs[1].vg_exported = "exported".into();
        fake.state().vgs[1].vg_attr = "wzx-n-".into();

        let access = open(&fake, &plan(), &[path("a"), path("b")]).unwrap();
        assert!(fake.state().lvs.iter().all(|l| l.is_active()));
        assert!(access.restore(&fake).is_empty());
        assert_eq!(
            fake.commands(),
            [
                "vgimport backup",
                "lvchange --activate y backup/a",
                "lvchange --activate n backup/a",
                "vgexport backup"
            ]
        );
        let state = fake.state();
        let a = state
            .lvs
            .iter()
            .find(|l| l.lv_name == "a" && l.vg_name == "backup");
        assert!(!a.unwrap().is_active());
        assert!(state.vgs[1].is_exported());
    }

    #[test]
    fn a_vg_that_is_not_there_is_named() {
        let fake = Fake::new();
        fake.state().vgs.retain(|v| v.vg_name != "backup");
        let err = open(&fake, &plan(), &[path("a")]).unwrap_err();
        assert!(err.contains("backup VG backup is not visible"), "{err}");
    }
}
