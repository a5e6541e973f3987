//! Does every source LV exist, and is it something snapplan can snapshot?

use super::outcome::{CheckKind, CheckResult, Status};
use crate::check::human;
use crate::plan::{Plan, Volume};
use crate::resolve::{ResolveError, resolve_volume};
use crate::system::SystemReport;

pub fn check(plan: &Plan, report: &SystemReport) -> Vec<CheckResult> {
    plan.volumes.iter().map(|v| check_one(v, report)).collect()
}

fn check_one(volume: &Volume, report: &SystemReport) -> CheckResult {
    let subject = volume.source.to_string();
    let fail = |detail: String, advice: String| {
        CheckResult::new(CheckKind::SourceLv, &subject, Status::Fail, detail).advice(advice)
    };
    let resolved = match resolve_volume(volume, report) {
        Ok(resolved) => resolved,
        Err(ResolveError::VgMissing { vg, .. }) => {
            return fail(
                format!("volume group {vg} does not exist"),
                format!(
                    "fix `lv: {subject}` in the plan; `vgs` lists the volume groups{}",
                    suggestion(&vg, report.vgs.iter().map(|g| g.vg_name.as_str()))
                ),
            );
        }
        Err(ResolveError::LvMissing { lv, .. }) => {
            let in_vg = report
                .lvs
                .iter()
                .filter(|l| l.vg_name == lv.vg)
                .map(|l| l.lv_name.as_str());
            return fail(
                format!("logical volume {lv} does not exist"),
                format!(
                    "fix `lv: {subject}` in the plan, or remove the volume from it; `lvs {}` lists its LVs{}",
                    lv.vg,
                    suggestion(&lv.lv, in_vg)
                ),
            );
        }
    };
    let lv = report.lv(&volume.source).expect("resolved above");
    if lv.is_snapshot() {
        return fail(
            format!("is itself a snapshot (of {}/{})", lv.vg_name, lv.origin),
            format!("back up the origin {}/{} instead", lv.vg_name, lv.origin),
        );
    }
    if lv.is_internal() {
        return fail(
            format!(
                "is an internal LV (lv_attr {}), not a volume to back up",
                lv.lv_attr
            ),
            "name the LV that holds the data".to_string(),
        );
    }
    if !lv.is_active() {
        return fail(
            "is not active: its data cannot be read".to_string(),
            format!("activate it: lvchange -ay {subject}"),
        );
    }
    let snapshot = match &resolved.thin_pool {
        Some(pool) => format!("thin, snapshot in pool {pool}"),
        None => format!(
            "snapshot {}",
            human::space(resolved.snapshot_extents, resolved.extent_bytes)
        ),
    };
    CheckResult::new(
        CheckKind::SourceLv,
        &subject,
        Status::Pass,
        format!("{}, {snapshot}", human::bytes(resolved.origin_bytes)),
    )
}

/// "; did you mean `home`?" when a known name is close to the wrong one.
fn suggestion<'a>(wrong: &str, known: impl Iterator<Item = &'a str>) -> String {
    known
        .map(|k| (strsim::jaro_winkler(wrong, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| format!("; did you mean `{k}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::test_plans::*;
    use crate::system::fake::Fake;

    #[test]
    fn existing_active_lv_passes_with_sizes() {
        let report = Fake::builder().lv("vg0", "home", 32, "-wi-ao----").report();
        let rows = check(&plan(&[("vg0/home", pct(20.0))]), &report);
        assert_eq!(rows[0].status, Status::Pass);
        assert_eq!(rows[0].detail, "32.0 MiB, snapshot 8.0 MiB (2 extents)");
    }

    #[test]
    fn missing_lv_fails_naming_it_with_a_suggestion() {
        let report = Fake::builder().lv("vg0", "home", 32, "-wi-a-----").report();
        let rows = check(&plan(&[("vg0/hom", pct(20.0))]), &report);
        assert_eq!(rows[0].status, Status::Fail);
        assert_eq!(rows[0].detail, "logical volume vg0/hom does not exist");
        assert!(
            rows[0]
                .advice
                .as_deref()
                .unwrap()
                .contains("did you mean `home`?")
        );
    }

    #[test]
    fn missing_vg_fails() {
        let report = Fake::builder().lv("vg0", "home", 32, "-wi-a-----").report();
        let rows = check(&plan(&[("vgX/home", pct(20.0))]), &report);
        assert_eq!(rows[0].status, Status::Fail);
        assert!(rows[0].detail.contains("volume group vgX does not exist"));
    }

    #[test]
    fn a_snapshot_as_source_fails_and_names_its_origin() {
        let report = Fake::builder()
            .lv("vg0", "home", 32, "owi-a-s---")
            .snapshot("vg0", "mysnap", 8, "home", &[])
            .report();
        let rows = check(&plan(&[("vg0/mysnap", pct(20.0))]), &report);
        assert_eq!(rows[0].status, Status::Fail);
        assert!(rows[0].detail.contains("snapshot (of vg0/home)"));
    }

    #[test]
    fn internal_and_inactive_lvs_fail() {
        let report = Fake::builder()
            .lv("vg0", "pool", 32, "twi-aotz--")
            .lv("vg0", "off", 32, "-wi-------")
            .report();
        let rows = check(
            &plan(&[("vg0/pool", pct(20.0)), ("vg0/off", pct(20.0))]),
            &report,
        );
        assert!(rows.iter().all(|r| r.status == Status::Fail), "{rows:#?}");
        assert!(rows[0].detail.contains("internal LV"));
        assert!(
            rows[1]
                .advice
                .as_deref()
                .unwrap()
                .contains("lvchange -ay vg0/off")
        );
    }

    #[test]
    fn a_thin_origin_passes_and_names_its_pool() {
        let report = Fake::builder()
            .thin_pool("vg0", "pool", 32, 10.0, 5.0)
            .thin_lv("vg0", "vm1", 16, "pool")
            .report();
        let rows = check(&plan(&[("vg0/vm1", pct(20.0))]), &report);
        assert_eq!(rows[0].status, Status::Pass, "{rows:#?}");
        assert_eq!(rows[0].detail, "16.0 MiB, thin, snapshot in pool vg0/pool");
    }
}
