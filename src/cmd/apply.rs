//! `snapplan apply PLAN`: run the plan (see docs/apply.md and `crate::apply`).

use std::path::PathBuf;

use crate::apply::{self, Options, signals, watchdog};
use crate::check;
use crate::graph::Phase;
use crate::plan::Bandwidth;
use crate::system::RealSystem;

const AFTER_HELP: &str = "\
Examples:
  snapplan apply /etc/snapplan/home-server.yaml
  snapplan apply --phase login --phase activate /etc/snapplan/home-server.yaml
  snapplan apply --bandwidth 20MiB/s /etc/snapplan/home-server.yaml";

#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit_code::command_help(AFTER_HELP, crate::exit_code::APPLY))]
pub struct Args {
    /// The plan to run.
    pub plan: PathBuf,
    /// Lifecycle phases to run (repeatable); default `all` (everything but `remove`).
    #[arg(long, value_enum, value_name = "PHASE")]
    pub phase: Vec<super::PhaseArg>,
    /// Limit every copy to RATE (e.g. `60MiB/s`, `unlimited`), overriding the plan.
    #[arg(long, value_name = "RATE", value_parser = parse_bandwidth)]
    pub bandwidth: Option<Bandwidth>,
    /// Confirm the `remove` phase (deletes backup LVs) without asking.
    #[arg(long)]
    pub yes: bool,
    /// After the run (successful or not), write Prometheus metrics to FILE
    /// atomically, for node_exporter's textfile collector (docs/monitoring.md).
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
}

/// The plan's own syntax, so `--bandwidth` means what `bandwidth:` means.
fn parse_bandwidth(text: &str) -> Result<Bandwidth, String> {
    crate::plan::units::parse_rate(text).map_err(|e| e.to_string())
}

pub fn run(args: Args) -> super::Result {
    let plan = super::load_plan(&args.plan)?;
    // Every event of the run carries the plan and (once apply has made it)
    // the run id: log shippers group a night's lines by them.
    let span = tracing::info_span!("run", plan = %plan.name, run_id = tracing::field::Empty);
    let _run = span.enter();
    let started_at = crate::state::time::now();
    let phases = super::phase_set(&args.phase);
    if phases.contains(Phase::Remove) && !args.yes {
        super::confirm(
            &format!(
                "--phase remove DELETES the backup LVs of plan {}",
                plan.name
            ),
            "nothing was done",
        )?;
    }
    let interrupt = signals::install().map_err(super::ExpectedError::Signals)?;
    let sys = RealSystem::new();
    let options = Options {
        bandwidth: args.bandwidth,
        watchdog_interval: watchdog::interval_from_env(),
        progress: true,
        ..Options::default()
    };
    let preflight = |plan: &crate::plan::Plan| {
        let mut facts = check::gather(plan, &sys);
        // This run holds the lock itself.
        facts.lock = check::facts::LockFact::HeldByThisRun {
            path: check::facts::lock_path(plan),
        };
        check::evaluate(plan, &facts)
    };
    let finished = apply::apply(&plan, &phases, &sys, &interrupt, options, &preflight);
    if let Some(report) = &finished.failed_preflight {
        log_preflight(report, &plan.name);
    }
    if let Some(summary) = &finished.summary {
        crate::out!("{summary}");
    }
    if let Some(path) = &args.metrics {
        write_metrics(path, &plan, &sys, &finished, started_at);
    }
    Ok(finished.exit)
}

/// After the run record is written: the metrics from the run history. A
/// run that stopped early (lock held, pre-flight failed) has no record but
/// still updates the plan's exit code and time. Failing to write them is
/// logged (cron mails it) and does not change the exit code.
fn write_metrics(
    path: &std::path::Path,
    plan: &crate::plan::Plan,
    sys: &dyn crate::system::System,
    finished: &apply::Finished,
    started_at: u64,
) {
    use crate::metrics;
    let history = match crate::report::runs::all_records(&plan.state_dir, &plan.name) {
        Ok(history) => history,
        Err(e) => {
            tracing::error!("cannot read the run history for the metrics: {e}");
            Vec::new()
        }
    };
    let this_run = finished
        .run_id
        .as_ref()
        .and_then(|id| history.iter().find(|r| &r.run_id == id));
    let run = match this_run {
        Some(record) => metrics::RunEnd::of(record),
        None => metrics::RunEnd {
            exit_code: Some(finished.exit.code()),
            started_at,
            finished_at: crate::state::time::now(),
        },
    };
    render_metrics(path, plan, sys, &run, &history);
}

/// Writes the metrics of `plan`, `run` as its last run, logging the
/// outcome (apply's and recover's `--metrics`). A pool plan's generations
/// and pool are read from LVM here (the target VG may be exported, the
/// pool inactive: what cannot be read is left out); LVM failing to answer
/// is logged and the other metrics are written.
pub(super) fn render_metrics(
    path: &std::path::Path,
    plan: &crate::plan::Plan,
    sys: &dyn crate::system::System,
    run: &crate::metrics::RunEnd,
    history: &[crate::state::runs::RunRecord],
) {
    use crate::metrics;
    let pool = match crate::generations::pool_summary(plan, sys) {
        Ok(pool) => pool,
        Err(e) => {
            tracing::warn!("cannot read the generations for the metrics: {e}");
            None
        }
    };
    for note in pool.iter().flat_map(|p| &p.notes) {
        tracing::info!("metrics: {note}");
    }
    let volumes: Vec<String> = plan.volumes.iter().map(|v| v.name.clone()).collect();
    let text = metrics::render(&plan.name, &volumes, run, history, pool.as_ref());
    match metrics::write(path, &text) {
        Ok(()) => tracing::info!("metrics written to {}", path.display()),
        Err(e) => tracing::error!("cannot write the metrics to {}: {e}", path.display()),
    }
}

/// The failed pre-flight for the cron mail: check's table on stderr, or
/// with `--log-format json` one event per row that is not a pass (stderr
/// then holds only JSON lines).
fn log_preflight(report: &check::CheckReport, plan: &str) {
    use crate::check::Status;
    if !crate::output::json_log() {
        crate::err!("{}", check::render::text(report, &format!("plan {plan}")));
        return;
    }
    let word = |value: serde_json::Result<serde_json::Value>| {
        value
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    for row in report.checks.iter().filter(|c| c.status != Status::Pass) {
        let check = word(serde_json::to_value(row.check));
        let status = word(serde_json::to_value(row.status));
        let (check, status) = (check.as_str(), status.as_str());
        let subject = row.subject.as_str();
        let advice = row.advice.as_deref().unwrap_or_default();
        let detail = row.detail.as_str();
        if row.status == Status::Fail {
            tracing::error!(check, subject, status, advice, "{detail}");
        } else {
            tracing::warn!(check, subject, status, advice, "{detail}");
        }
    }
}
