//! The report as text (a terminal, a cron mail) and as JSON (scripts).
//!
//! The text is plain (no colour, no terminal escapes) and width-stable:
//! every column but the volume name has a fixed width, numbers are
//! right-aligned, and a failure's reason goes on its own line below its row,
//! so two mails of the same plan line up whatever the figures and reasons.

use crate::ExitCode;
use crate::copy::progress::format_duration;
use crate::human;
use crate::state::runs::{RunRecord, VolumeResult, VolumeStatus};

use super::runs::PlanRuns;

/// Columns after VOLUME: header, width (numbers right-aligned).
const COLUMNS: [(&str, usize); 7] = [
    ("STATUS", 7),
    ("SIZE", 11),
    ("DURATION", 9),
    ("RATE", 13),
    ("WRITTEN", 11),
    ("SNAP PEAK", 9),
    ("VERIFIED", 8),
];

pub fn text(plans: &[PlanRuns]) -> String {
    let name_width = plans
        .iter()
        .flat_map(|p| &p.runs)
        .flat_map(|r| &r.volumes)
        .map(|v| v.volume.chars().count())
        .chain([6])
        .max()
        .unwrap_or(6);
    let mut out = String::new();
    for (i, plan) in plans.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        plan_text(&mut out, plan, name_width);
    }
    out
}

fn plan_text(out: &mut String, plan: &PlanRuns, name_width: usize) {
    push_lines(out, format!("plan {}: {}\n", plan.plan, verdict(plan)));
    if let Some(problem) = &plan.journal_problem {
        push_lines(
            out,
            format!(
                "  PROBLEM: {problem}; apply and recover refuse to run until it is dealt with: \
                 `snapplan recover --discard-journal PLAN` shows what it holds and sets it aside\n"
            ),
        );
    }
    if let Some(u) = &plan.unfinished {
        let run = u.run_id.as_deref().unwrap_or("(unknown run)");
        let since = u
            .started_at
            .map_or_else(String::new, |t| format!(" started {}", utc(t)));
        if u.alive {
            push_lines(
                out,
                format!(
                    "  run {run}{since}: IN PROGRESS (pid {})\n",
                    u.pid.map_or_else(|| "?".to_string(), |p| p.to_string())
                ),
            );
        } else if u.has_record {
            push_lines(
                out,
                format!(
                    "  run {run}{since}: CLEANUP INCOMPLETE: its journal {} is still open; \
                 `snapplan recover PLAN` (or the next apply) undoes what it left\n",
                    u.journal.display()
                ),
            );
        } else {
            push_lines(
                out,
                format!(
                    "  run {run}{since}: DID NOT FINISH: its journal {} is left; \
                 `snapplan recover PLAN` (or the next apply) undoes what it left\n",
                    u.journal.display()
                ),
            );
        }
    }
    if plan.runs.is_empty() && plan.unreadable.is_empty() {
        push_lines(
            out,
            format!(
                "  no runs yet (no run record in {})\n",
                plan.dir.join("runs").display()
            ),
        );
    }
    for run in &plan.runs {
        out.push('\n');
        run_text(out, run, name_width);
    }
    if let Some(summary) = &plan.generations {
        generations_text(out, summary);
    }
    if !plan.sizes.is_empty() {
        out.push_str("\n  snapshot sizes learned:\n");
        for l in &plan.sizes {
            push_lines(
                out,
                format!("    {}: {}\n", l.volume, crate::sizing::describe(l)),
            );
        }
    }
    for bad in &plan.unreadable {
        push_lines(
            out,
            format!("\nskipped {}: {}\n", bad.path.display(), bad.error),
        );
    }
}

/// A pool plan's generations and pool as LVM showed them.
fn generations_text(out: &mut String, summary: &crate::generations::PoolSummary) {
    let usage = match (summary.data_percent, summary.metadata_percent) {
        (Some(data), Some(meta)) => format!("data {data:.1}%, metadata {meta:.1}%"),
        _ => "use not readable".to_string(),
    };
    push_lines(
        out,
        format!("\n  generations in pool {} ({usage}):\n", summary.pool),
    );
    for v in &summary.volumes {
        let newest = match (&v.newest_complete, v.newest_complete_at) {
            (Some(id), Some(at)) => format!(", newest {id} ({})", utc(at)),
            (Some(id), None) => format!(", newest {id}"),
            _ => String::new(),
        };
        let incomplete = if v.incomplete > 0 {
            format!("; {} incomplete", v.incomplete)
        } else {
            String::new()
        };
        let complete = match v.complete {
            0 => "no complete generation".to_string(),
            1 => "1 complete".to_string(),
            n => format!("{n} complete"),
        };
        push_lines(
            out,
            format!("    {}: {complete}{newest}{incomplete}\n", v.volume),
        );
    }
    for note in &summary.notes {
        push_lines(out, format!("    note: {note}\n"));
    }
}

/// The first line for a plan: how its latest run went, failures named.
fn verdict(plan: &PlanRuns) -> String {
    let Some(last) = plan.runs.first() else {
        return match &plan.unfinished {
            Some(u) if u.alive => "a run is in progress".into(),
            Some(_) => "the last run did not finish".into(),
            None if !plan.unreadable.is_empty() => "no readable run record".into(),
            None => "no runs yet".into(),
        };
    };
    let failed: Vec<&str> = last
        .volumes
        .iter()
        .filter(|v| v.status != VolumeStatus::Ok)
        .map(|v| v.volume.as_str())
        .collect();
    // A dead run's journal still there (not recovered yet) is newer than
    // any record: it comes first.
    let mut text = match &plan.unfinished {
        Some(u) if !u.alive && !u.has_record => format!(
            "the last run {} did not finish (not recovered yet); the run before: ",
            u.run_id.as_deref().unwrap_or("(unknown run)")
        ),
        _ => String::new(),
    };
    text.push_str(&match last.exit_code {
        Some(code) => format!(
            "last run {} (exit {code}) at {}",
            status_word(code),
            utc(last.finished_at)
        ),
        None => format!(
            "last run {} (exit code unknown: it was killed or the machine went down; last sign \
             of life at {})",
            run_word(last),
            utc(last.finished_at)
        ),
    });
    if !failed.is_empty() {
        text.push_str(&format!(
            ", {} of {} volumes not backed up: {}",
            failed.len(),
            last.volumes.len(),
            failed.join(", ")
        ));
    }
    // A run that failed outside any volume (a hook, the pre-flight) says
    // why in its first problem.
    if !last.succeeded()
        && let Some(problem) = last.problems.first()
    {
        text.push_str(&format!("; first problem: {problem}"));
    }
    text
}

fn run_text(out: &mut String, run: &RunRecord, name_width: usize) {
    let exit = match run.exit_code {
        Some(code) => format!("exit {code}: {}", exit_meaning(code)),
        None => "exit code unknown: killed (SIGKILL, OOM killer) or the machine went down, \
                 mid-run"
            .to_string(),
    };
    push_lines(
        out,
        format!("  run {}: {} ({exit})\n", run.run_id, run_word(run)),
    );
    let took = format_duration(std::time::Duration::from_secs(
        run.finished_at.saturating_sub(run.started_at),
    ));
    push_lines(
        out,
        format!(
            "  started {}, {}, phases {}\n",
            utc(run.started_at),
            if run.died() {
                format!("last sign of life after {took}")
            } else {
                format!("took {took}")
            },
            if run.phases.is_empty() {
                "-".to_string()
            } else {
                run.phases.join(", ")
            }
        ),
    );
    if let Some(r) = &run.recovery {
        let undone = if r.undone.is_empty() {
            "nothing to undo".to_string()
        } else {
            r.undone.join("; ")
        };
        push_lines(
            out,
            format!(
                "  recovered {} (pid {}): {undone}\n",
                utc(r.recovered_at),
                r.by_pid
            ),
        );
        for failure in &r.not_undone {
            push_lines(out, format!("  NOT undone: {failure}\n"));
        }
    }
    // Failures first, then volumes not run, then the good ones; plan order
    // within each.
    let mut volumes: Vec<&VolumeResult> = run.volumes.iter().collect();
    volumes.sort_by_key(|v| match v.status {
        VolumeStatus::Failed | VolumeStatus::Interrupted => 0,
        VolumeStatus::NotRun => 1,
        VolumeStatus::Ok => 2,
    });
    if !volumes.is_empty() {
        let mut header = format!("    {:<name_width$}", "VOLUME");
        for (i, (title, width)) in COLUMNS.iter().enumerate() {
            if i == 0 {
                header.push_str(&format!("  {title:<width$}"));
            } else {
                header.push_str(&format!("  {title:>width$}"));
            }
        }
        push_lines(out, format!("{}\n", header.trim_end()));
    } else {
        out.push_str("    (no volume copied in these phases)\n");
    }
    for v in volumes {
        let cells = cells(v);
        let mut line = format!("    {:<name_width$}", v.volume);
        for (i, ((_, width), cell)) in COLUMNS.iter().zip(&cells).enumerate() {
            if i == 0 {
                line.push_str(&format!("  {cell:<width$}"));
            } else {
                line.push_str(&format!("  {cell:>width$}"));
            }
        }
        push_lines(out, format!("{}\n", line.trim_end()));
        if v.status != VolumeStatus::Ok {
            push_lines(
                out,
                format!(
                    "    {:<name_width$}  reason: {}\n",
                    "",
                    v.reason.as_deref().unwrap_or("not recorded: see the log")
                ),
            );
        }
        if let Some(line) = generation_line(v) {
            push_lines(out, format!("    {:<name_width$}  {line}\n", ""));
        }
    }
    for problem in &run.problems {
        push_lines(out, format!("    problem: {problem}\n"));
    }
    for note in &run.notes {
        push_lines(out, format!("    note: {note}\n"));
    }
}

/// Appends `text`, whose values (volume names, reasons, problems) come
/// from run records in the state directory: only its own leading and
/// trailing newlines stay newlines, every control character inside is
/// shown as an escape, so a record cannot forge other lines.
fn push_lines(out: &mut String, text: String) {
    let body = text.trim_start_matches('\n');
    let leading = text.len() - body.len();
    let inner = body.trim_end_matches('\n');
    let trailing = body.len() - inner.len();
    out.push_str(&"\n".repeat(leading));
    out.push_str(&crate::printable::escape(inner));
    out.push_str(&"\n".repeat(trailing));
}

/// A pool plan's volume in a run: the generation it made and the ones
/// retention removed after it; `None` for a thick target.
fn generation_line(v: &VolumeResult) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(made) = &v.generation {
        parts.push(format!("generation: {made}"));
    }
    if !v.generations_pruned.is_empty() {
        parts.push(format!("pruned: {}", v.generations_pruned.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn cells(v: &VolumeResult) -> [String; 7] {
    let ran = v.status != VolumeStatus::NotRun;
    let dash = || "-".to_string();
    [
        match v.status {
            VolumeStatus::Ok => "OK",
            VolumeStatus::Failed => "FAILED",
            VolumeStatus::NotRun => "NOT RUN",
            VolumeStatus::Interrupted => "DIED",
        }
        .into(),
        if v.size_bytes > 0 {
            human::bytes(v.size_bytes)
        } else {
            dash()
        },
        if ran {
            format_duration(std::time::Duration::from_secs_f64(
                v.duration_seconds.max(0.0),
            ))
        } else {
            dash()
        },
        if v.duration_seconds > 0.0 && v.size_bytes > 0 {
            human::rate(v.size_bytes as f64 / v.duration_seconds)
        } else {
            dash()
        },
        if ran {
            human::bytes(v.bytes_written)
        } else {
            dash()
        },
        v.snapshot_peak_percent
            .map_or_else(dash, |p| format!("{p:.1}%")),
        if v.verified { "yes" } else { "no" }.into(),
    ]
}

/// How a run ended, as a word a mail reader sees at once.
pub fn run_word(run: &RunRecord) -> &'static str {
    match run.exit_code {
        Some(code) => status_word(code),
        None if run.died() => "DIED",
        None => "UNKNOWN",
    }
}

/// A run's exit code as a word a mail reader sees at once.
pub fn status_word(code: u8) -> &'static str {
    match code {
        0 => "OK",
        1 => "FAILED",
        2 => "INVALID",
        3 => "LOCKED",
        4 => "PARTIAL",
        5 => "CLEANUP INCOMPLETE",
        70 => "INTERNAL ERROR",
        130 => "INTERRUPTED",
        _ => "UNKNOWN",
    }
}

fn exit_meaning(code: u8) -> &'static str {
    ExitCode::ALL.into_iter().find(|c| c.code() == code).map_or(
        "an exit code this snapplan does not know",
        ExitCode::meaning,
    )
}

pub use crate::state::time::utc;

/// The version of `report --format json`; it changes only when a field
/// changes meaning or goes away.
/// Version 2: the run records of version 2 (`exit_code` may be `null`).
pub const FORMAT_VERSION: u32 = 2;

/// `snapplan report --format json` (schemas/report.schema.json): each plan
/// with its records as apply wrote them (newest first), unreadable files
/// and the unfinished run.
#[derive(serde::Serialize, schemars::JsonSchema)]
#[schemars(title = "snapplan report --format json")]
pub struct ReportDocument<'a> {
    /// See [`FORMAT_VERSION`].
    pub format_version: u32,
    pub plans: &'a [PlanRuns],
}

/// One JSON document, see [`ReportDocument`].
pub fn json(plans: &[PlanRuns]) -> String {
    serde_json::to_string_pretty(&ReportDocument {
        format_version: FORMAT_VERSION,
        plans,
    })
    .expect("the report serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::runs::{Unfinished, Unreadable};

    fn volume(name: &str, status: VolumeStatus) -> VolumeResult {
        let mut v = VolumeResult::new(name);
        v.status = status;
        v
    }

    pub(crate) fn sample() -> Vec<PlanRuns> {
        let mut root = volume("root", VolumeStatus::Ok);
        root.size_bytes = 8 << 30;
        root.duration_seconds = 128.0;
        root.bytes_written = 512 << 20;
        root.snapshot_peak_percent = Some(12.34);
        root.verified = true;
        let mut vcr = volume("vcr", VolumeStatus::Failed);
        vcr.size_bytes = 1 << 30;
        vcr.duration_seconds = 10.0;
        vcr.bytes_written = 300 << 20;
        vcr.snapshot_peak_percent = Some(100.0);
        vcr.reason = Some("snapshot vg0/vcr-snapplan became INVALID".into());
        let mut home = volume("home", VolumeStatus::NotRun);
        home.reason = Some("run interrupted".into());
        let partial = RunRecord {
            run_id: "20261127T030000Z-4242".into(),
            plan: "home-server".into(),
            phases: vec!["login".into(), "activate".into(), "backup".into()],
            started_at: 1_795_748_400,
            finished_at: 1_795_749_154,
            exit_code: Some(4),
            ending: "completed".into(),
            volumes: vec![root.clone(), vcr, home],
            problems: vec!["remove-snapshot:vcr: in use".into()],
            recovery: None,
            notes: vec!["VG backup left active: plan nas (pid 812) still uses it".into()],
        };
        let mut ok = partial.clone();
        ok.notes = vec![];
        ok.run_id = "20261120T030000Z-4100".into();
        ok.started_at -= 7 * 86_400;
        ok.finished_at -= 7 * 86_400;
        ok.exit_code = Some(0);
        ok.volumes = vec![root];
        ok.problems = vec![];
        vec![PlanRuns {
            plan: "home-server".into(),
            dir: "/var/lib/snapplan/home-server".into(),
            runs: vec![partial, ok],
            unreadable: vec![Unreadable {
                path: "/var/lib/snapplan/home-server/runs/20261113T030000Z-1.json".into(),
                error: "not a run record this snapplan reads: EOF while parsing".into(),
            }],
            unfinished: Some(Unfinished {
                run_id: Some("20261128T030000Z-5000".into()),
                started_at: Some(1_795_834_800),
                pid: Some(5000),
                alive: true,
                has_record: false,
                journal: "/var/lib/snapplan/home-server/journal.jsonl".into(),
            }),
            journal_problem: None,
            sizes: vec![],
            generations: None,
        }]
    }

    /// The record `recover` writes for a run killed while copying home.
    fn died() -> RunRecord {
        let mut root = volume("root", VolumeStatus::Ok);
        root.verified = true;
        let mut home = volume("home", VolumeStatus::Interrupted);
        home.size_bytes = 1 << 30;
        home.reason = Some("the run died while copying it (1.0 GiB of 4.0 GiB read)".into());
        RunRecord {
            run_id: "20261128T030000Z-5000".into(),
            plan: "home-server".into(),
            phases: vec!["backup".into()],
            started_at: 1_795_834_800,
            finished_at: 1_795_835_400,
            exit_code: None,
            ending: "died".into(),
            volumes: vec![root, home],
            problems: vec!["the run died after its last journal event".into()],
            notes: vec![],
            recovery: Some(crate::state::runs::Recovered {
                recovered_at: 1_795_836_000,
                by_pid: 6000,
                undone: vec!["removed snapshot vg0/home-snapplan".into()],
                not_undone: vec![],
            }),
        }
    }

    #[test]
    fn a_run_that_died_is_the_last_run_failed_with_what_it_left_and_what_was_undone() {
        let mut plans = sample();
        plans[0].runs.insert(0, died());
        plans[0].unfinished = None;
        let out = text(&plans);
        let first = out.lines().next().unwrap();
        assert!(
            first.starts_with("plan home-server: last run DIED (exit code unknown"),
            "{first}"
        );
        assert!(
            first.contains("1 of 2 volumes not backed up: home"),
            "{first}"
        );
        assert!(
            out.contains("run 20261128T030000Z-5000: DIED (exit code unknown"),
            "{out}"
        );
        assert!(out.contains("last sign of life after 0:10:00"), "{out}");
        assert!(
            out.contains(
                "recovered 2026-11-28 03:20:00 UTC (pid 6000): removed snapshot vg0/home-snapplan"
            ),
            "{out}"
        );
        let home = out
            .lines()
            .find(|l| l.trim_start().starts_with("home "))
            .unwrap();
        assert!(home.contains("DIED"), "{home}");
        assert!(out.contains("1.0 GiB of 4.0 GiB read"), "{out}");
        let doc: serde_json::Value = serde_json::from_str(&json(&plans)).unwrap();
        let run = &doc["plans"][0]["runs"][0];
        assert_eq!(run["exit_code"], serde_json::Value::Null);
        assert_eq!(run["ending"], "died");
        assert_eq!(run["volumes"][1]["status"], "interrupted");
        assert_eq!(run["recovery"]["by_pid"], 6000);
        assert!(doc["plans"][0]["runs"][1].get("recovery").is_none());
    }

    #[test]
    fn a_dead_run_not_recovered_yet_comes_first_in_the_verdict() {
        let mut plans = sample();
        if let Some(u) = plans[0].unfinished.as_mut() {
            u.alive = false;
        }
        let out = text(&plans);
        let first = out.lines().next().unwrap();
        assert!(
            first.starts_with(
                "plan home-server: the last run 20261128T030000Z-5000 did not finish (not recovered yet); the run before: last run PARTIAL"
            ),
            "{first}"
        );
    }

    #[test]
    fn a_volume_whose_snapshot_grew_gets_its_peak_fill_rate_and_a_suggestion() {
        let mut plans = sample();
        let mut vcr = volume("vcr", VolumeStatus::Ok);
        vcr.snapshot_bytes = Some(4 << 20);
        vcr.snapshot_final_bytes = Some(16 << 20);
        vcr.snapshot_extensions = 1;
        vcr.snapshot_peak_bytes = Some(8 << 20);
        vcr.snapshot_peak_percent = Some(50.0);
        vcr.snapshot_fill_rate = Some(1_048_576.0);
        vcr.snapshot_window_seconds = Some(8.0);
        plans[0].runs[0].volumes = vec![vcr];
        plans[0].sizes = crate::report::runs::learned(&plans[0].runs, 4 << 20);
        let out = text(&plans);
        assert!(
            out.contains("vcr: peak 8.0 MiB (200.0% of its snapshot) in the last 1 run, fill rate 1.0 MiB/s, grew in 1; snapshot_size too small: suggested snapshot_size: 12 MiB"),
            "{out}"
        );
        let doc: serde_json::Value = serde_json::from_str(&json(&plans)).unwrap();
        assert_eq!(doc["plans"][0]["sizes"][0]["suggested_bytes"], 12 << 20);
        assert_eq!(doc["plans"][0]["sizes"][0]["verdict"], "too_small");
    }

    #[test]
    fn run_records_cannot_forge_lines() {
        // A run record in the state directory is a file like any other: a
        // volume name or reason with newlines must not print a fake "OK".
        let honest = text(&sample());
        let mut forged = sample();
        let run = &mut forged[0].runs[0];
        run.volumes[1].volume = "vcr\nplan home-server: last run OK".into();
        run.volumes[1].reason = Some("x\u{1b}[1A\u{1b}[2K".into());
        run.problems = vec!["p\r\n    problem: none".into()];
        run.notes = vec!["n\n    note: all fine".into()];
        let out = text(&forged);
        assert_eq!(out.lines().count(), honest.lines().count(), "{out}");
        assert!(out.contains(r"vcr\nplan home-server: last run OK"), "{out}");
        assert!(out.contains(r"x\x1b[1A\x1b[2K"), "{out}");
        assert!(
            !out.chars()
                .any(|c| crate::printable::is_unsafe(c) && c != '\n')
        );
    }

    #[test]
    fn text_failures_first_with_their_reason() {
        insta::assert_snapshot!(text(&sample()));
    }

    #[test]
    fn columns_keep_their_place_whatever_the_figures() {
        let report = text(&sample());
        let header = report.lines().find(|l| l.contains("VOLUME")).unwrap();
        let at = |col: &str| header.find(col).unwrap();
        let rows = report.lines().filter(|l| {
            l.starts_with("    ")
                && !l.contains("reason:")
                && !l.contains("generation:")
                && !l.contains("problem:")
                && !l.contains("note:")
        });
        for line in rows {
            // Right-aligned columns end where their header ends.
            let end = at("VERIFIED") + "VERIFIED".len();
            assert_eq!(line.trim_end().len(), end, "{line}");
        }
        assert!(!report.contains('\x1b'), "no terminal escapes");
    }

    fn pool_summary() -> crate::generations::PoolSummary {
        use crate::generations::{PoolSummary, VolumePoolSummary};
        PoolSummary {
            pool: "backup/gens".into(),
            data_percent: Some(45.5),
            metadata_percent: Some(12.25),
            volumes: vec![
                VolumePoolSummary {
                    volume: "root".into(),
                    complete: 3,
                    incomplete: 1,
                    newest_complete: Some("20261127T030000Z".into()),
                    newest_complete_at: Some(1_795_748_400),
                },
                VolumePoolSummary {
                    volume: "vcr".into(),
                    complete: 0,
                    incomplete: 0,
                    newest_complete: None,
                    newest_complete_at: None,
                },
            ],
            notes: vec![],
        }
    }

    #[test]
    fn a_pool_plan_shows_each_volumes_complete_generations_the_newest_and_the_pools_use() {
        let mut plans = sample();
        plans[0].generations = Some(pool_summary());
        let out = text(&plans);
        assert!(
            out.contains(
                "\n  generations in pool backup/gens (data 45.5%, metadata 12.2%):\n    \
                 root: 3 complete, newest 20261127T030000Z (2026-11-27 03:00:00 UTC); 1 incomplete\n    \
                 vcr: no complete generation\n"
            ),
            "{out}"
        );
        let doc: serde_json::Value = serde_json::from_str(&json(&plans)).unwrap();
        let g = &doc["plans"][0]["generations"];
        assert_eq!(g["pool"], "backup/gens");
        assert_eq!(g["data_percent"], 45.5);
        assert_eq!(g["metadata_percent"], 12.25);
        assert_eq!(g["volumes"][0]["complete"], 3);
        assert_eq!(g["volumes"][0]["newest_complete"], "20261127T030000Z");
        assert_eq!(g["volumes"][0]["newest_complete_at"], 1_795_748_400);
        assert!(g["volumes"][1].get("newest_complete").is_none());
        assert_eq!(doc["format_version"], 2, "only optional fields were added");
        let thick: serde_json::Value = serde_json::from_str(&json(&sample())).unwrap();
        assert!(thick["plans"][0].get("generations").is_none());
    }

    #[test]
    fn a_pool_whose_use_cannot_be_read_says_so_with_its_notes() {
        let mut plans = sample();
        let mut summary = pool_summary();
        summary.data_percent = None;
        summary.metadata_percent = None;
        summary.volumes.clear();
        summary.notes = vec!["the backup VG backup is not visible on this machine".into()];
        plans[0].generations = Some(summary);
        let out = text(&plans);
        assert!(
            out.contains(
                "  generations in pool backup/gens (use not readable):\n    \
                 note: the backup VG backup is not visible on this machine\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn a_runs_volume_shows_the_generation_it_made_and_the_ones_pruned_after_it() {
        let mut plans = sample();
        let root = &mut plans[0].runs[0].volumes[0];
        root.generation = Some("backup/root.20261127T030000Z".into());
        root.generation_parent = Some("backup/root.20261120T030000Z".into());
        root.generations_pruned = vec!["20261106T030000Z".into(), "20261113T030000Z".into()];
        let out = text(&plans);
        let at = out.find("\n    root ").expect("root's row") + 1;
        let next = out[at..].lines().nth(1).unwrap();
        assert_eq!(
            next.trim(),
            "generation: backup/root.20261127T030000Z; pruned: 20261106T030000Z, 20261113T030000Z"
        );
        assert_eq!(
            out.matches("generation:").count(),
            1,
            "a volume without a generation has no such line: {out}"
        );
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_795_748_400), "2026-11-27 03:00:00 UTC");
    }

    #[test]
    fn json_keeps_the_records_as_written() {
        let doc: serde_json::Value = serde_json::from_str(&json(&sample())).unwrap();
        let plan = &doc["plans"][0];
        assert_eq!(plan["runs"][0]["exit_code"], 4);
        assert_eq!(plan["runs"][0]["volumes"][1]["status"], "failed");
        assert_eq!(plan["unfinished"]["alive"], true);
        assert!(
            plan["unreadable"][0]["error"]
                .as_str()
                .unwrap()
                .contains("EOF")
        );
    }
}
