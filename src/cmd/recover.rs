//! `snapplan recover PLAN`: undo what a dead run of the plan left behind
//! (suspended hooks, tagged snapshots, an activated target). Exit 0 when
//! nothing is left, 3 when a run holds the lock, 5 when something could not
//! be undone.

use std::path::PathBuf;

use crate::ExitCode;
use crate::apply::recover;
use crate::system::RealSystem;

const AFTER_HELP: &str = "\
Examples:
  snapplan recover /etc/snapplan/home-server.yaml
  snapplan check /etc/snapplan/home-server.yaml && snapplan recover /etc/snapplan/home-server.yaml

Resumes every hook a dead run suspended, removes every snapshot tagged with the
plan, deactivates/exports the backup VG and logs out of iSCSI when the dead run
had activated it / logged in, and writes the dead run's record (ending `died`,
exit code unknown) so that `snapplan report` and the metrics show it as the last
run, failed. `snapplan apply` does this first on its own.

A journal that cannot be read (a garbage line, not a regular file) stops recover
and apply until it is dealt with: `--discard-journal` shows what it held, sets it
aside under runs/ without acting on anything in it, and exits; then check what the
dead run may have left (suspended services, `lvs @snapplan`) and run recover again.";

#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit_code::command_help(AFTER_HELP, crate::exit_code::RECOVER))]
pub struct Args {
    /// The plan whose dead run to clean up after.
    pub plan: PathBuf,
    /// Show the journal of the dead run, set it aside (under runs/) without
    /// acting on it, and exit: the way out when it cannot be read.
    #[arg(long)]
    pub discard_journal: bool,
    /// After recovering, write Prometheus metrics to FILE as `apply
    /// --metrics` does: a run that died is then the last run, failed
    /// (docs/monitoring.md).
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
}

pub fn run(args: Args) -> super::Result {
    let plan = super::load_plan(&args.plan)?;
    let _lock = super::lock(&plan, "that run is alive; nothing to recover")?;
    if args.discard_journal {
        return discard_journal(&plan);
    }
    let sys = RealSystem::new();
    let recovery = recover::recover(&plan, &sys);
    for action in &recovery.actions {
        crate::outln!("recovered: {action}");
    }
    for failure in &recovery.failures {
        crate::outln!("NOT recovered: {failure}");
    }
    if recovery.nothing_to_do() {
        crate::outln!("nothing to recover for plan {}", plan.name);
    }
    if let Some(path) = &args.metrics {
        write_metrics(path, &plan, &sys);
    }
    Ok(if recovery.failures.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::CleanupIncomplete
    })
}

/// The metrics from the run history, its newest record (the dead run's,
/// when this recovery wrote one) as the last run. Without a history there
/// is no last run to show: nothing is written.
fn write_metrics(
    path: &std::path::Path,
    plan: &crate::plan::Plan,
    sys: &dyn crate::system::System,
) {
    let history = match crate::report::runs::all_records(&plan.state_dir, &plan.name) {
        Ok(history) => history,
        Err(e) => {
            tracing::error!("cannot read the run history for the metrics: {e}");
            return;
        }
    };
    let Some(newest) = history.first() else {
        tracing::info!(
            "plan {} has no run record yet: no metrics written",
            plan.name
        );
        return;
    };
    let run = crate::metrics::RunEnd::of(newest);
    super::apply::render_metrics(path, plan, sys, &run, &history);
}

fn discard_journal(plan: &crate::plan::Plan) -> super::Result {
    let plan_dir = crate::state::runs::plan_dir(plan);
    let discarded = crate::state::events::discard(&plan_dir).map_err(|e| {
        super::ExpectedError::Failed(format!(
            "cannot set the journal in {} aside: {e}",
            plan_dir.display()
        ))
    })?;
    let Some(discarded) = discarded else {
        println!("plan {} has no journal: nothing to discard", plan.name);
        return Ok(ExitCode::Success);
    };
    match &discarded.held {
        Ok(text) => {
            println!("the journal held (as written, control characters escaped):");
            for line in text.lines() {
                println!("  {}", line.escape_debug());
            }
        }
        Err(why) => println!("the journal was not read: {why}"),
    }
    println!(
        "set aside as {}; nothing in it was acted on. Check for services left suspended \
         and for leftovers (`lvs @snapplan`), then run `snapplan recover PLAN` again.",
        discarded.moved_to.display()
    );
    Ok(ExitCode::Success)
}
