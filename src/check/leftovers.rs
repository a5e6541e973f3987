//! Did an earlier run leave something behind? Found by snapplan's tags,
//! never by LV names. A leftover snapshot of this plan fills its VG (and
//! slows every write to its origin): it fails the check. Another plan's
//! leftovers are named as a warning: they take space all the same.

use super::outcome::{CheckKind, CheckResult, Status};
use crate::plan::Plan;
use crate::system::SystemReport;
use crate::tags;

pub fn check(plan: &Plan, report: &SystemReport) -> Vec<CheckResult> {
    let mut rows = Vec::new();
    for (lv, owner) in report.snapplan_lvs() {
        if owner.role.as_deref() == Some(tags::ROLE_BACKUP) {
            continue; // backups are meant to stay
        }
        if owner.role.as_deref() == Some(tags::ROLE_BASE) && lv.is_thin() {
            continue; // a thin origin's kept base: the next copy reads only what changed since
        }
        if owner.role.as_deref() == Some(tags::ROLE_GENERATION)
            && owner.plan.as_deref().is_some_and(|p| {
                tags::generation_state(&lv.lv_tags, p) == Some(tags::GenerationState::Complete)
            })
        {
            continue; // a complete generation: a backup, meant to stay
        }
        let ours = owner.plan.as_deref() == Some(plan.name.as_str());
        let path = lv.path();
        let mut detail = format!(
            "{} left by run {} of plan {}",
            if lv.is_snapshot() { "snapshot" } else { "LV" },
            owner.run.as_deref().unwrap_or("?"),
            owner.plan.as_deref().unwrap_or("?"),
        );
        if lv.is_snapshot() {
            detail.push_str(&format!(" (origin {}/{}", lv.vg_name, lv.origin));
            match (lv.is_invalid_snapshot(), lv.snapshot_usage_percent()) {
                (true, _) => detail.push_str(", INVALID: overflowed)"),
                (false, Some(p)) => detail.push_str(&format!(", {p:.1}% used)")),
                (false, None) => detail.push(')'),
            }
        }
        let recover = if ours {
            format!("run `snapplan recover PLAN` (comes with apply) or remove it: lvremove {path}")
        } else {
            format!(
                "run `snapplan recover` for plan {} or remove it: lvremove {path}",
                owner.plan.as_deref().unwrap_or("?")
            )
        };
        rows.push(
            CheckResult::new(
                CheckKind::Leftover,
                path.to_string(),
                if ours { Status::Fail } else { Status::Warn },
                detail,
            )
            .advice(recover),
        );
    }
    if rows.is_empty() {
        rows.push(CheckResult::new(
            CheckKind::Leftover,
            "snapplan-tagged LVs",
            Status::Pass,
            "no snapshot left by an earlier run",
        ));
    }
    rows.extend(name_collisions(plan, report));
    rows
}

/// apply names each snapshot after its origin: an LV that already has that
/// name and is not this plan's leftover (reported above) makes `lvcreate`
/// fail in the middle of the suspend window.
fn name_collisions(plan: &Plan, report: &SystemReport) -> Vec<CheckResult> {
    let mut rows = Vec::new();
    for volume in &plan.volumes {
        let path = tags::snapshot_path(&volume.source);
        let Some(lv) = report.lv(&path) else {
            continue;
        };
        let owner = lv.ownership();
        let ours = owner.as_ref().is_some_and(|o| {
            o.plan.as_deref() == Some(plan.name.as_str())
                && o.role.as_deref() != Some(tags::ROLE_BACKUP)
        });
        if ours {
            continue; // a leftover of this plan: its own row says what to do
        }
        let by = match owner.and_then(|o| o.plan) {
            Some(other) => format!("a snapshot of plan {other}"),
            None => "an LV snapplan did not create".to_string(),
        };
        rows.push(
            CheckResult::new(
                CheckKind::SnapshotName,
                path.to_string(),
                Status::Fail,
                format!(
                    "the name of {}'s snapshot is taken by {by}: apply could not create it",
                    volume.source
                ),
            )
            .advice(format!(
                "rename or remove that LV (`lvrename {} {} NEWNAME`); snapplan never touches \
                 what it did not create",
                path.vg, path.lv
            )),
        );
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::test_plans::*;
    use crate::system::fake::Fake;

    #[test]
    fn no_tagged_snapshot_passes_even_with_untagged_look_alikes() {
        let report = Fake::builder()
            .lv("vg0", "home", 32, "owi-a-s---")
            .snapshot("vg0", "home-snap", 8, "home", &[])
            .lv("backup", "home", 32, "-wi-a-----")
            .tags(
                "backup",
                "home",
                &tags::for_lv("nightly", "r0", tags::ROLE_BACKUP),
            )
            .report();
        let rows = check(&plan(&[("vg0/home", pct(20.0))]), &report);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, Status::Pass);
    }

    #[test]
    fn our_tagged_snapshot_fails_naming_it_and_how_to_recover() {
        let report = Fake::builder()
            .lv("vg0", "home", 32, "owi-a-s---")
            .snapshot(
                "vg0",
                "s1",
                8,
                "home",
                &tags::for_lv("nightly", "r7", tags::ROLE_SNAPSHOT),
            )
            .report();
        let rows = check(&plan(&[("vg0/home", pct(20.0))]), &report);
        assert_eq!(rows[0].status, Status::Fail);
        assert_eq!(rows[0].subject, "vg0/s1");
        assert!(
            rows[0].detail.contains("run r7 of plan nightly"),
            "{}",
            rows[0].detail
        );
        assert!(rows[0].detail.contains("origin vg0/home"));
        let advice = rows[0].advice.as_deref().unwrap();
        assert!(advice.contains("snapplan recover") && advice.contains("lvremove vg0/s1"));
    }

    #[test]
    fn an_untagged_lv_with_the_snapshot_name_fails_and_is_not_called_a_leftover() {
        let report = Fake::builder()
            .lv("vg0", "home", 32, "owi-a-s---")
            .snapshot("vg0", "home-snapplan", 8, "home", &[])
            .report();
        let rows = check(&plan(&[("vg0/home", pct(20.0))]), &report);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].check, rows[0].status),
            (CheckKind::Leftover, Status::Pass)
        );
        assert_eq!(rows[1].check, CheckKind::SnapshotName);
        assert_eq!(rows[1].status, Status::Fail);
        assert!(rows[1].detail.contains("an LV snapplan did not create"));
        assert!(
            rows[1]
                .advice
                .as_deref()
                .unwrap()
                .contains("lvrename vg0 home-snapplan")
        );
    }

    #[test]
    fn our_leftover_under_the_snapshot_name_is_one_leftover_row() {
        let report = Fake::builder()
            .lv("vg0", "home", 32, "owi-a-s---")
            .snapshot(
                "vg0",
                "home-snapplan",
                8,
                "home",
                &tags::for_lv("nightly", "r7", tags::ROLE_SNAPSHOT),
            )
            .report();
        let rows = check(&plan(&[("vg0/home", pct(20.0))]), &report);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].check, CheckKind::Leftover);
    }

    #[test]
    fn another_plans_leftover_warns() {
        let report = Fake::builder()
            .lv("vg0", "home", 32, "owi-a-s---")
            .snapshot(
                "vg0",
                "s1",
                8,
                "home",
                &tags::for_lv("other", "r1", tags::ROLE_SNAPSHOT),
            )
            .report();
        let rows = check(&plan(&[("vg0/home", pct(20.0))]), &report);
        assert_eq!(rows[0].status, Status::Warn);
    }

    #[test]
    fn a_long_origins_shortened_snapshot_name_is_the_one_checked_for_collisions() {
        // apply names the snapshot of a long origin with a cut-short, hashed
        // name; an LV already holding that name makes lvcreate fail, so
        // that is the name check must look for, not `<origin>-snapplan`.
        let origin = "d".repeat(120);
        let taken = tags::snapshot_name(&crate::plan::LvPath {
            vg: "vg0".into(),
            lv: origin.clone(),
        });
        assert_ne!(taken, format!("{origin}-snapplan"), "the name is shortened");
        let report = Fake::builder()
            .lv("vg0", &origin, 32, "owi-a-s---")
            .lv("vg0", &taken, 8, "-wi-a-----")
            .report();
        let rows = check(&plan(&[(&format!("vg0/{origin}"), pct(20.0))]), &report);
        let collision = rows
            .iter()
            .find(|r| r.check == CheckKind::SnapshotName)
            .expect("the taken snapshot name is reported");
        assert_eq!(collision.status, Status::Fail);
        assert_eq!(collision.subject, format!("vg0/{taken}"));
    }
}
