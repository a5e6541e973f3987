//! The report as a table for people and as JSON for tools.

use std::fmt::Write;

use super::outcome::CheckReport;

/// One line per check: status, check, subject, detail; what to do on the
/// line below anything that is not a pass. Widths adapt to the content so
/// the columns line up in a cron mail.
pub fn text(report: &CheckReport, plan_file: &str) -> String {
    let mut out = format!("snapplan check: plan {} ({plan_file})\n\n", report.plan);
    let width = |f: &dyn Fn(usize) -> usize, min: usize| {
        (0..report.checks.len()).map(f).max().unwrap_or(0).max(min)
    };
    let w_status = width(&|i| report.checks[i].status.label().len(), "STATUS".len());
    let w_check = width(&|i| report.checks[i].check.label().len(), "CHECK".len());
    let w_subject = width(&|i| report.checks[i].subject.len(), "SUBJECT".len()).min(40);
    let _ = writeln!(
        out,
        "{:w_status$}  {:w_check$}  {:w_subject$}  DETAIL",
        "STATUS", "CHECK", "SUBJECT"
    );
    let indent = w_status + w_check + w_subject + 6;
    for row in &report.checks {
        let _ = writeln!(
            out,
            "{:w_status$}  {:w_check$}  {:w_subject$}  {}",
            row.status.label(),
            row.check.label(),
            row.subject,
            row.detail
        );
        if let Some(advice) = &row.advice {
            let _ = writeln!(out, "{:indent$}-> {advice}", "");
        }
    }
    let c = &report.counts;
    let verdict = if report.ok { "OK" } else { "FAILED" };
    let _ = writeln!(
        out,
        "\n{verdict}: {} failed, {} warning{}, {} unknown, {} passed",
        c.fail,
        c.warn,
        if c.warn == 1 { "" } else { "s" },
        c.unknown,
        c.pass
    );
    out
}

/// The report as one JSON document (`--format json`).
pub fn json(report: &CheckReport) -> String {
    serde_json::to_string_pretty(report).expect("a check report always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::outcome::{CheckKind, CheckResult, Space, Status};

    fn sample() -> CheckReport {
        CheckReport::new(
            "nightly",
            vec![
                CheckResult::new(CheckKind::Tool, "lvm", Status::Pass, "/usr/sbin/lvm (reads and changes LVM)"),
                CheckResult::new(
                    CheckKind::SnapshotSpace,
                    "VG vg0",
                    Status::Fail,
                    "needs 16.0 MiB (4 extents) for 2 snapshots at once; 12.0 MiB (3 extents) free: short by 4.0 MiB (1 extent).",
                )
                .advice("free space in VG vg0")
                .space(Space {
                    vg: "vg0".into(),
                    extent_bytes: 4 << 20,
                    needed_extents: 4,
                    free_extents: 3,
                    needed_bytes: 16 << 20,
                    free_bytes: 12 << 20,
                }),
                CheckResult::new(CheckKind::BackupSpace, "VG backup", Status::Unknown, "not visible before iSCSI login"),
            ],
        )
    }

    #[test]
    fn text_table() {
        insta::assert_snapshot!(text(&sample(), "nightly.yaml"));
    }

    #[test]
    fn json_document() {
        insta::assert_snapshot!(json(&sample()));
    }
}
