//! `snapplan report [PLAN] [--last N] [--format text|json]`: the last runs
//! of a plan (or of every plan with a history under the state directory),
//! failures first with their reason (see docs/report.md).

use std::path::PathBuf;

use crate::ExitCode;
use crate::report::{render, runs};

const AFTER_HELP: &str = "\
Without PLAN: every plan that has a history under --state-dir.

Examples:
  snapplan report /etc/snapplan/home-server.yaml
  snapplan report --last 5
  snapplan report /etc/snapplan/home-server.yaml --format json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit_code::command_help(AFTER_HELP, crate::exit_code::REPORT))]
pub struct Args {
    /// The plan whose runs to show (its name and state_dir are read from it).
    pub plan: Option<PathBuf>,
    /// How many runs per plan, newest first.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub last: u64,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Without PLAN: where to look for plans' histories.
    #[arg(long, value_name = "DIR", default_value = crate::plan::DEFAULT_STATE_DIR, conflicts_with = "plan")]
    pub state_dir: PathBuf,
}

pub fn run(args: Args) -> super::Result {
    let last = usize::try_from(args.last).unwrap_or(usize::MAX);
    let cannot_read = |name: &str, dir: &std::path::Path, e: std::io::Error| {
        super::ExpectedError::Failed(format!(
            "cannot read the history of plan {name} in {}: {e}",
            dir.join(name).display()
        ))
    };
    let plans = match &args.plan {
        Some(path) => {
            let plan = super::load_plan(path)?;
            let sys = crate::system::RealSystem::new();
            vec![
                crate::report::of_plan(&plan, &sys, last)
                    .map_err(|e| cannot_read(&plan.name, &plan.state_dir, e))?,
            ]
        }
        None => {
            let state_dir = &args.state_dir;
            let names = runs::plans_in(state_dir).map_err(|e| {
                super::ExpectedError::Failed(format!("cannot list {}: {e}", state_dir.display()))
            })?;
            if names.is_empty() {
                match args.format {
                    Format::Text => crate::outln!(
                        "no plan has run yet: no history under {}",
                        state_dir.display()
                    ),
                    Format::Json => crate::outln!("{}", render::json(&[])),
                }
                return Ok(ExitCode::Success);
            }
            let mut plans = Vec::new();
            for name in &names {
                plans.push(
                    runs::load(state_dir, name, last)
                        .map_err(|e| cannot_read(name, state_dir, e))?,
                );
            }
            plans
        }
    };
    match args.format {
        Format::Text => crate::out!("{}", render::text(&plans)),
        Format::Json => crate::outln!("{}", render::json(&plans)),
    }
    for plan in &plans {
        for bad in &plan.unreadable {
            crate::errln!(
                "warning: skipped run record {}: {}",
                bad.path.display(),
                bad.error
            );
        }
    }
    if plans.iter().all(|p| p.nothing_readable()) {
        crate::errln!("error: not one run record could be read");
        return Ok(ExitCode::Failed);
    }
    Ok(ExitCode::Success)
}
