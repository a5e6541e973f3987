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
        eprint!(
            "{}",
            check::render::text(report, &format!("plan {}", plan.name))
        );
    }
    if let Some(summary) = &finished.summary {
        print!("{summary}");
    }
    if let Some(path) = &args.metrics {
        write_metrics(path, &plan, &finished, started_at);
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
            exit_code: finished.exit.code(),
            started_at,
            finished_at: crate::state::time::now(),
        },
    };
    let volumes: Vec<String> = plan.volumes.iter().map(|v| v.name.clone()).collect();
    let text = metrics::render(&plan.name, &volumes, &run, &history);
    match metrics::write(path, &text) {
        Ok(()) => tracing::info!("metrics written to {}", path.display()),
        Err(e) => tracing::error!("cannot write the metrics to {}: {e}", path.display()),
    }
}
