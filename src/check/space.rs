//! Is there room? Snapshots of one run exist at the same time, so a source
//! VG needs room for all of its snapshots at once, not one by one. The
//! backup VG needs room for the backup LVs that are missing or smaller than
//! their origin (apply creates or extends those, and never shrinks).

use super::human;
use super::outcome::{CheckKind, CheckResult, Space, Status};
use crate::plan::Plan;
use crate::resolve::{ResolvedVolume, resolve_volume};
use crate::system::{SystemReport, Vg};

/// One row per source VG, in the order the plan first names it.
pub fn snapshots(plan: &Plan, report: &SystemReport) -> Vec<CheckResult> {
    let resolved = resolved(plan, report);
    let mut rows = Vec::new();
    for vg_name in source_vgs(plan) {
        let Some(vg) = report.vg(&vg_name) else {
            continue; // the source LV rows say the VG is missing
        };
        // Thin origins' snapshots live in their pools (check/thin.rs).
        let here: Vec<&ResolvedVolume> = resolved
            .iter()
            .filter(|r| r.source.vg == vg_name && r.thin_pool.is_none())
            .collect();
        if here.is_empty() {
            continue;
        }
        let needed = total(here.iter().map(|r| r.snapshot_extents));
        let largest = here.iter().map(|r| r.snapshot_extents).max().unwrap_or(0);
        let what = format!(
            "{} snapshot{} at once",
            here.len(),
            if here.len() == 1 { "" } else { "s" }
        );
        let mut row = space_row(CheckKind::SnapshotSpace, vg, needed, &what);
        if row.status == Status::Fail {
            let alone = if largest <= vg.vg_free_count && here.len() > 1 {
                " Each would fit alone, but they exist together during the run."
            } else {
                ""
            };
            row.detail.push_str(alone);
            row = row.advice(format!(
                "free space in VG {vg_name} (`vgextend {vg_name} /dev/NEWPV`, or remove LVs no \
                 longer needed), or lower snapshot_size in the plan"
            ));
        }
        growth_room(&mut row, plan, vg, &here);
        rows.push(row);
    }
    rows
}

/// With `snapshot_size_max`: do the maximum sizes fit at once, leaving
/// the reserve growth never takes? A warning, not a failure: growth stops
/// at the reserve and the snapshot overflows only if it needs more.
fn growth_room(row: &mut CheckResult, plan: &Plan, vg: &Vg, here: &[&ResolvedVolume]) {
    let maxes: Vec<u64> = here
        .iter()
        .map(|r| {
            plan.volumes
                .iter()
                .find(|v| v.name == r.name)
                .and_then(|v| crate::resolve::snapshot_max_bytes(v, r.origin_bytes, vg))
                .map_or(r.snapshot_extents, |b| b / vg.vg_extent_size.max(1))
        })
        .collect();
    let grows = here
        .iter()
        .zip(&maxes)
        .any(|(r, &m)| m > r.snapshot_extents);
    if !grows || row.status == Status::Fail {
        return;
    }
    let extent = vg.vg_extent_size;
    let reserve = crate::sizing::reserve_extents(vg.vg_size, extent);
    let room = vg.vg_free_count.saturating_sub(reserve);
    let most = total(maxes.iter().copied());
    row.detail.push_str(&format!(
        "; grown to their snapshot_size_max they need {} at once, and growth leaves {} \
         (the {}% reserve) free",
        human::space(most, extent),
        human::space(reserve, extent),
        crate::sizing::VG_RESERVE_PERCENT
    ));
    if most > room {
        row.detail.push_str(&format!(
            ": short by {}, so growth may stop before a snapshot reaches its maximum.",
            human::space(most - room, extent)
        ));
        row.status = row.status.max(Status::Warn);
        row.advice = Some(format!(
            "free space in VG {} (`vgextend {} /dev/NEWPV`), or lower snapshot_size_max in the \
             plan",
            vg.vg_name, vg.vg_name
        ));
    }
}

/// The backup VG's row. `None` when no volume could be resolved (the
/// source rows explain why).
pub fn backups(plan: &Plan, report: &SystemReport) -> Option<CheckResult> {
    let resolved = resolved(plan, report);
    let name = &plan.target.vg;
    let subject = format!("VG {name}");
    let Some(vg) = report.vg(name) else {
        return Some(match &plan.target.iscsi {
            Some(iscsi) => CheckResult::new(
                CheckKind::BackupSpace,
                subject,
                Status::Unknown,
                format!(
                    "volume group {name} is not visible now; it is reached only after iSCSI login \
                     to {} at {}, so its space cannot be checked before the run",
                    iscsi.iqn, iscsi.portal
                ),
            )
            .advice(format!(
                "apply checks it after login; to check now, log in by hand \
                 (`iscsiadm -m node -T {} -p {} --login`, `vgchange -ay {name}`) and run check again",
                iscsi.iqn, iscsi.portal
            )),
            None => CheckResult::new(
                CheckKind::BackupSpace,
                subject,
                Status::Fail,
                format!("backup volume group {name} does not exist"),
            )
            .advice(format!(
                "create it (`vgcreate {name} /dev/DISK`), attach the disk that holds it, \
                 or fix `target.vg` in the plan"
            )),
        });
    };
    if resolved.is_empty() {
        return None;
    }
    // lvs does not list the LVs of an exported VG (seen in the VM): every
    // backup LV then counts as missing, the worst case.
    let exported = vg.is_exported();
    let mut created = 0;
    let mut grown = 0;
    let mut needed: u64 = 0;
    for (volume, r) in plan
        .volumes
        .iter()
        .filter_map(|v| Some((v, resolve_volume(v, report).ok()?)))
    {
        let full = vg.extents_for(r.origin_bytes);
        let path = crate::plan::LvPath {
            vg: name.clone(),
            lv: volume.target_lv.clone(),
        };
        match report.lv(&path) {
            None => {
                created += 1;
                needed = needed.saturating_add(full);
            }
            Some(lv) => {
                let have = lv.lv_size / vg.vg_extent_size.max(1);
                if have < full {
                    grown += 1;
                    needed = needed.saturating_add(full - have);
                }
            }
        }
    }
    // Snapshots of volumes in the backup VG itself coexist with the backups.
    let snapshots_here = total(
        resolved
            .iter()
            .filter(|r| &r.source.vg == name)
            .map(|r| r.snapshot_extents),
    );
    let mut what = match (created, grown) {
        (0, 0) => "no backup LV to create or extend".to_string(),
        _ => format!("{created} new and {grown} grown backup LVs"),
    };
    if snapshots_here > 0 {
        what.push_str(" plus the snapshots taken in this VG");
    }
    let mut row = space_row(
        CheckKind::BackupSpace,
        vg,
        needed.saturating_add(snapshots_here),
        &what,
    );
    if exported {
        row.detail = format!(
            "volume group {name} is exported: its LVs cannot be listed until `vgimport`, so this \
             assumes every backup LV must be created: {}",
            row.detail
        );
        if row.status == Status::Fail {
            row.status = Status::Unknown;
            return Some(row.advice(format!(
                "apply imports it; to check precisely now, run `vgimport {name}` and check again"
            )));
        }
    }
    if row.status == Status::Fail {
        row = row.advice(format!(
            "add space to VG {name} (`vgextend {name} /dev/NEWPV`), or back up fewer volumes to it"
        ));
    }
    Some(row)
}

/// "needs X for WHAT, Y free" with the figures, failing when short.
fn space_row(check: CheckKind, vg: &Vg, needed: u64, what: &str) -> CheckResult {
    let free = vg.vg_free_count;
    let extent = vg.vg_extent_size;
    let mut detail = format!(
        "needs {} for {what}; {} free",
        human::space(needed, extent),
        human::space(free, extent)
    );
    let status = if needed <= free {
        Status::Pass
    } else {
        detail.push_str(&format!(
            ": short by {}.",
            human::space(needed - free, extent)
        ));
        Status::Fail
    };
    CheckResult::new(check, format!("VG {}", vg.vg_name), status, detail).space(Space {
        vg: vg.vg_name.clone(),
        extent_bytes: extent,
        needed_extents: needed,
        free_extents: free,
        needed_bytes: needed.saturating_mul(extent),
        free_bytes: free.saturating_mul(extent),
    })
}

/// A sum of extent counts that stops at `u64::MAX` instead of wrapping: a
/// plan asking for more than any VG holds must fail the check, never wrap
/// round to "needs 0 B" and pass.
fn total(counts: impl IntoIterator<Item = u64>) -> u64 {
    counts.into_iter().fold(0, u64::saturating_add)
}

fn resolved(plan: &Plan, report: &SystemReport) -> Vec<ResolvedVolume> {
    plan.volumes
        .iter()
        .filter_map(|v| resolve_volume(v, report).ok())
        .collect()
}

fn source_vgs(plan: &Plan) -> Vec<String> {
    let mut vgs: Vec<String> = Vec::new();
    for v in &plan.volumes {
        if !vgs.contains(&v.source.vg) {
            vgs.push(v.source.vg.clone());
        }
    }
    vgs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::SnapshotSize;
    use crate::plan::test_plans::*;
    use crate::system::fake::Fake;

    const MIB: u64 = 1 << 20;

    #[test]
    fn snapshots_that_fit_together_pass_with_figures() {
        // 2 x 20% of 32 MiB = 2 x 2 extents; 4 free.
        let report = Fake::builder()
            .vg("vg0", 15, 4)
            .lv("vg0", "a", 32, "-wi-a-----")
            .lv("vg0", "b", 32, "-wi-a-----")
            .report();
        let rows = snapshots(
            &plan(&[("vg0/a", pct(20.0)), ("vg0/b", pct(20.0))]),
            &report,
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, Status::Pass);
        assert_eq!(
            rows[0].detail,
            "needs 16.0 MiB (4 extents) for 2 snapshots at once; 16.0 MiB (4 extents) free"
        );
        let space = rows[0].space.as_ref().unwrap();
        assert_eq!((space.needed_extents, space.free_extents), (4, 4));
    }

    #[test]
    fn maximum_sizes_that_do_not_fit_with_the_reserve_warn_with_the_figures() {
        // 100 extents; 20 free; reserve 5 extents. Bases 2 + 2, maxes 8 + 8.
        let report = Fake::builder()
            .vg("vg0", 100, 20)
            .lv("vg0", "a", 32, "-wi-a-----")
            .lv("vg0", "b", 32, "-wi-a-----")
            .report();
        let mut p = plan(&[("vg0/a", pct(20.0)), ("vg0/b", pct(20.0))]);
        for v in &mut p.volumes {
            v.snapshot_size_max = Some(SnapshotSize::Bytes(32 * MIB));
        }
        let rows = snapshots(&p, &report);
        assert_eq!(rows[0].status, Status::Warn, "{}", rows[0].detail);
        assert!(
            rows[0].detail.ends_with(
                "; grown to their snapshot_size_max they need 64.0 MiB (16 extents) at once, \
                 and growth leaves 20.0 MiB (5 extents) (the 5% reserve) free: short by 4.0 MiB \
                 (1 extent), so growth may stop before a snapshot reaches its maximum."
            ),
            "{}",
            rows[0].detail
        );
        assert!(
            rows[0]
                .advice
                .as_deref()
                .unwrap()
                .contains("snapshot_size_max")
        );
        // 28 MiB each fits: 14 extents of 15 usable.
        for v in &mut p.volumes {
            v.snapshot_size_max = Some(SnapshotSize::Bytes(28 * MIB));
        }
        assert_eq!(snapshots(&p, &report)[0].status, Status::Pass);
        // Without a max: the row as before.
        let plain = plan(&[("vg0/a", pct(20.0)), ("vg0/b", pct(20.0))]);
        assert!(
            !snapshots(&plain, &report)[0]
                .detail
                .contains("snapshot_size_max")
        );
    }

    #[test]
    fn snapshots_that_fit_alone_but_not_together_fail_naming_vg_and_shortfall() {
        let report = Fake::builder()
            .vg("vg0", 15, 3)
            .lv("vg0", "a", 32, "-wi-a-----")
            .lv("vg0", "b", 32, "-wi-a-----")
            .report();
        let rows = snapshots(
            &plan(&[("vg0/a", pct(20.0)), ("vg0/b", pct(20.0))]),
            &report,
        );
        assert_eq!(rows[0].status, Status::Fail);
        assert_eq!(rows[0].subject, "VG vg0");
        assert!(
            rows[0].detail.contains("short by 4.0 MiB (1 extent)"),
            "{}",
            rows[0].detail
        );
        assert!(rows[0].detail.contains("Each would fit alone"));
        assert!(rows[0].advice.as_deref().unwrap().contains("vgextend vg0"));
    }

    #[test]
    fn each_source_vg_is_counted_separately() {
        let report = Fake::builder()
            .vg("vg0", 15, 2)
            .vg("vg1", 15, 1)
            .lv("vg0", "a", 32, "-wi-a-----")
            .lv("vg1", "b", 32, "-wi-a-----")
            .report();
        let rows = snapshots(
            &plan(&[("vg0/a", pct(20.0)), ("vg1/b", pct(20.0))]),
            &report,
        );
        let status: Vec<_> = rows
            .iter()
            .map(|r| (r.subject.as_str(), r.status))
            .collect();
        assert_eq!(
            status,
            vec![("VG vg0", Status::Pass), ("VG vg1", Status::Fail)]
        );
    }

    #[test]
    fn backup_vg_needs_room_for_missing_and_smaller_backups_only() {
        // a: backup exists at full size (0), b: 16 of 32 MiB (4 more), c: missing (8).
        let p = plan(&[
            ("vg0/a", SnapshotSize::Bytes(MIB)),
            ("vg0/b", SnapshotSize::Bytes(MIB)),
            ("vg0/c", SnapshotSize::Bytes(MIB)),
        ]);
        let base = || {
            Fake::builder()
                .lv("vg0", "a", 32, "-wi-a-----")
                .lv("vg0", "b", 32, "-wi-a-----")
                .lv("vg0", "c", 32, "-wi-a-----")
                .lv("backup", "a", 32, "-wi-a-----")
                .lv("backup", "b", 16, "-wi-a-----")
        };
        let fits = backups(&p, &base().vg("backup", 15, 12).report()).unwrap();
        assert_eq!(fits.status, Status::Pass, "{}", fits.detail);
        assert_eq!(fits.space.as_ref().unwrap().needed_extents, 12);
        assert!(fits.detail.contains("1 new and 1 grown backup LVs"));
        let short = backups(&p, &base().vg("backup", 15, 11).report()).unwrap();
        assert_eq!(short.status, Status::Fail);
        assert!(short.detail.contains("short by 4.0 MiB (1 extent)"));
        assert!(short.advice.unwrap().contains("vgextend backup"));
    }

    #[test]
    fn missing_backup_vg_fails_unless_reached_by_iscsi() {
        let report = Fake::builder().lv("vg0", "a", 32, "-wi-a-----").report();
        let mut p = plan(&[("vg0/a", pct(20.0))]);
        let row = backups(&p, &report).unwrap();
        assert_eq!(row.status, Status::Fail);
        assert!(
            row.detail
                .contains("backup volume group backup does not exist")
        );
        p.target.iscsi = Some(crate::plan::Iscsi {
            portal: "127.0.0.1:3260".into(),
            iqn: "iqn.2026-01.test:backup".into(),
        });
        let row = backups(&p, &report).unwrap();
        assert_eq!(row.status, Status::Unknown);
        assert!(row.detail.contains("only after iSCSI login"));
    }

    #[test]
    fn exported_backup_vg_is_unknown_when_the_worst_case_does_not_fit() {
        let p = plan(&[("vg0/a", pct(20.0))]);
        let worst_fits = Fake::builder()
            .lv("vg0", "a", 32, "-wi-a-----")
            .vg("backup", 15, 8)
            .exported("backup")
            .report();
        let row = backups(&p, &worst_fits).unwrap();
        assert_eq!(row.status, Status::Pass);
        assert!(
            row.detail
                .contains("assumes every backup LV must be created")
        );
        let worst_short = Fake::builder()
            .lv("vg0", "a", 32, "-wi-a-----")
            .vg("backup", 15, 7)
            .exported("backup")
            .report();
        let row = backups(&p, &worst_short).unwrap();
        assert_eq!(row.status, Status::Unknown);
        assert!(row.detail.contains("exported"));
    }

    #[test]
    fn sizes_too_large_to_add_up_fail_instead_of_wrapping() {
        // 1024 snapshots of 16 EiB: the sum wrapped to "needs 0 B" and passed.
        let sources: Vec<(String, SnapshotSize)> = (0..1024)
            .map(|i| (format!("vg0/v{i}"), SnapshotSize::Bytes(u64::MAX)))
            .collect();
        let sources: Vec<(&str, SnapshotSize)> =
            sources.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        let mut report = Fake::builder().vg("vg0", 15, 15);
        for i in 0..1024 {
            report = report.lv("vg0", &format!("v{i}"), 32, "-wi-a-----");
        }
        let rows = snapshots(&plan(&sources), &report.report());
        assert_eq!(rows[0].status, Status::Fail, "{}", rows[0].detail);
        let space = rows[0].space.as_ref().unwrap();
        assert_eq!(space.needed_extents, 1024 * u64::MAX.div_ceil(4 << 20));
        assert_eq!(space.needed_bytes, u64::MAX, "saturated, not wrapped");
        assert_eq!(total([u64::MAX, 1, u64::MAX]), u64::MAX);
        assert!(
            rows[0].detail.starts_with("needs 16.0 EiB"),
            "{}",
            rows[0].detail
        );
    }

    #[test]
    fn snapshots_in_the_backup_vg_count_against_it() {
        // Source and backups in one VG: 8 extents backup + 2 snapshot > 9 free.
        let p = {
            let mut p = plan(&[("backup/a", pct(20.0))]);
            p.volumes[0].target_lv = "a-copy".into();
            p
        };
        let report = Fake::builder()
            .vg("backup", 15, 9)
            .lv("backup", "a", 32, "-wi-a-----")
            .report();
        let row = backups(&p, &report).unwrap();
        assert_eq!(row.status, Status::Fail, "{}", row.detail);
        assert!(row.detail.contains("plus the snapshots"));
    }
}
