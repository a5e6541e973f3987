//! The table at the end of a run: the one thing apply prints on stdout, so
//! a cron mail starts with what matters.

use super::executor::Outcome;
use crate::human;
use crate::state::runs::VolumeStatus;

pub fn table(plan: &str, run_id: &str, outcome: &Outcome) -> String {
    let mut rows = vec![[
        "VOLUME".to_string(),
        "SIZE".into(),
        "DURATION".into(),
        "RATE".into(),
        "WRITTEN".into(),
        "SNAP PEAK".into(),
        "VERIFIED".into(),
        "STATUS".into(),
    ]];
    for v in &outcome.volumes {
        let rate = if v.duration_seconds > 0.0 && v.size_bytes > 0 {
            human::rate(v.size_bytes as f64 / v.duration_seconds)
        } else {
            "-".into()
        };
        let status = match v.status {
            VolumeStatus::Ok if v.throttle_lifted => "OK (throttle lifted)".to_string(),
            VolumeStatus::Ok => "OK".to_string(),
            VolumeStatus::Failed => {
                format!("FAILED: {}", v.reason.as_deref().unwrap_or("see the log"))
            }
            VolumeStatus::NotRun => {
                format!("NOT RUN: {}", v.reason.as_deref().unwrap_or("see the log"))
            }
            // Only in the record a recovery writes for a dead run.
            VolumeStatus::Interrupted => {
                format!("DIED: {}", v.reason.as_deref().unwrap_or("see the log"))
            }
        };
        rows.push([
            v.volume.clone(),
            human::bytes(v.size_bytes),
            format!("{:.1}s", v.duration_seconds),
            rate,
            human::bytes(v.bytes_written),
            snapshot_cell(v),
            if v.verified { "yes" } else { "no" }.into(),
            status,
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!("snapplan apply: plan {plan}, run {run_id}\n\n");
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c == 7 {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if outcome.volumes.is_empty() {
        out.push_str("(no volume copied in the selected phases)\n");
    }
    for problem in &outcome.problems {
        out.push_str(&format!("problem: {problem}\n"));
    }
    for note in &outcome.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out.push_str(&format!(
        "\nresult: {} (exit {}: {})\n",
        outcome.ending.word(),
        outcome.exit.code(),
        outcome.exit.meaning()
    ));
    out
}

/// The peak use, and how far the snapshot grew: "45.0%, grew 1x to 16.0 MiB".
fn snapshot_cell(v: &crate::state::runs::VolumeResult) -> String {
    let peak = v
        .snapshot_peak_percent
        .map(|p| format!("{p:.1}%"))
        .unwrap_or_else(|| "-".into());
    match v.snapshot_final_bytes {
        Some(size) if v.snapshot_extensions > 0 => format!(
            "{peak}, grew {}x to {}",
            v.snapshot_extensions,
            human::bytes(size)
        ),
        _ => peak,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExitCode;
    use crate::apply::executor::Ending;
    use crate::state::runs::VolumeResult;

    #[test]
    fn one_row_per_volume_failures_with_their_reason() {
        let mut ok = VolumeResult::new("root");
        ok.size_bytes = 8 << 30;
        ok.duration_seconds = 128.0;
        ok.bytes_written = 512 << 20;
        ok.snapshot_peak_percent = Some(12.34);
        ok.verified = true;
        ok.status = VolumeStatus::Ok;
        let mut failed = VolumeResult::new("vcr");
        failed.size_bytes = 1 << 30;
        failed.duration_seconds = 10.0;
        failed.snapshot_peak_percent = Some(100.0);
        failed.status = VolumeStatus::Failed;
        failed.reason = Some("snapshot vg0/vcr-snapplan became INVALID".into());
        let mut not_run = VolumeResult::new("home");
        not_run.reason = Some("run interrupted".into());
        let outcome = Outcome {
            ending: Ending::Completed,
            exit: ExitCode::Partial,
            volumes: vec![failed, ok, not_run],
            problems: vec!["remove-snapshot:vcr: in use".into()],
            notes: vec![],
            cleanup_failed: false,
        };
        insta::assert_snapshot!(table("home-server", "20261127T030000Z-42", &outcome));
    }

    #[test]
    fn a_grown_snapshot_and_a_lifted_throttle_show_in_the_row() {
        let mut v = VolumeResult::new("vcr");
        v.status = VolumeStatus::Ok;
        v.snapshot_peak_percent = Some(45.0);
        v.snapshot_extensions = 2;
        v.snapshot_final_bytes = Some(16 << 20);
        v.throttle_lifted = true;
        let outcome = Outcome {
            ending: Ending::Completed,
            exit: ExitCode::Success,
            volumes: vec![v],
            problems: vec![],
            notes: vec![],
            cleanup_failed: false,
        };
        let text = table("p", "r", &outcome);
        assert!(text.contains("45.0%, grew 2x to 16.0 MiB"), "{text}");
        assert!(text.contains("OK (throttle lifted)"), "{text}");
    }
}
