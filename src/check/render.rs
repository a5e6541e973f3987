//! The report as a table for people and as JSON for tools.

/// Appends one line of output: whatever values it holds (details quote LVM's
/// stderr, hook file names and paths), it stays one line,
/// with control characters shown as escapes.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        let line = format!($($arg)*);
        $out.push_str(&crate::printable::escape(&line));
        $out.push('\n');
    }};
}

use super::outcome::CheckReport;

/// One line per check: status, check, subject, detail; what to do on the
/// line below anything that is not a pass. Widths adapt to the content so
/// the columns line up in a cron mail.
pub fn text(report: &CheckReport, plan_file: &str) -> String {
    let mut out = String::new();
    say!(out, "snapplan check: plan {} ({plan_file})", report.plan);
    out.push('\n');
    let width = |f: &dyn Fn(usize) -> usize, min: usize| {
        (0..report.checks.len()).map(f).max().unwrap_or(0).max(min)
    };
    let w_status = width(&|i| report.checks[i].status.label().len(), "STATUS".len());
    let w_check = width(&|i| report.checks[i].check.label().len(), "CHECK".len());
    let w_subject = width(&|i| report.checks[i].subject.len(), "SUBJECT".len()).min(40);
    say!(
        out,
        "{:w_status$}  {:w_check$}  {:w_subject$}  DETAIL",
        "STATUS",
        "CHECK",
        "SUBJECT"
    );
    let indent = w_status + w_check + w_subject + 6;
    for row in &report.checks {
        say!(
            out,
            "{:w_status$}  {:w_check$}  {:w_subject$}  {}",
            row.status.label(),
            row.check.label(),
            row.subject,
            row.detail
        );
        if let Some(advice) = &row.advice {
            say!(out, "{:indent$}-> {advice}", "");
        }
    }
    let c = &report.counts;
    let verdict = if report.ok { "OK" } else { "FAILED" };
    out.push('\n');
    say!(
        out,
        "{verdict}: {} failed, {} warning{}, {} unknown, {} passed",
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
    fn values_cannot_forge_rows() {
        // A hook file named with a newline and a fake passing row.
        let report = CheckReport::new(
            "nightly",
            vec![
                CheckResult::new(
                    CheckKind::Tool,
                    "hook 10-db\nPASS  tool  lvm",
                    Status::Fail,
                    "owned by uid 1000\u{1b}[2K\r",
                )
                .advice("chmod go-w /h/10-db\n"),
            ],
        );
        let out = text(&report, "nightly.yaml");
        assert_eq!(out.lines().count(), 7, "{out}");
        assert!(out.contains(r"hook 10-db\nPASS  tool  lvm"), "{out}");
        assert!(out.contains(r"uid 1000\x1b[2K\r"), "{out}");
        assert!(
            !out.chars()
                .any(|c| crate::printable::is_unsafe(c) && c != '\n')
        );
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
