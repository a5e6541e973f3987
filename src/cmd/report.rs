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
    let (state_dir, names) = match &args.plan {
        Some(path) => {
            let plan = super::load_plan(path)?;
            (plan.state_dir, vec![plan.name])
        }
        None => {
            let names = runs::plans_in(&args.state_dir).map_err(|e| {
                super::ExpectedError::Failed(format!(
                    "cannot list {}: {e}",
                    args.state_dir.display()
                ))
            })?;
            (args.state_dir.clone(), names)
        }
    };
    if names.is_empty() {
        match args.format {
            Format::Text => println!(
                "no plan has run yet: no history under {}",
                state_dir.display()
            ),
            Format::Json => println!("{}", render::json(&[])),
        }
        return Ok(ExitCode::Success);
    }
    let mut plans = Vec::new();
    for name in &names {
        let history = runs::load(&state_dir, name, last).map_err(|e| {
            super::ExpectedError::Failed(format!(
                "cannot read the history of plan {name} in {}: {e}",
                state_dir.join(name).display()
            ))
        })?;
        plans.push(history);
    }
    match args.format {
        Format::Text => print!("{}", render::text(&plans)),
        Format::Json => println!("{}", render::json(&plans)),
    }
    for plan in &plans {
        for bad in &plan.unreadable {
            eprintln!(
                "warning: skipped run record {}: {}",
                bad.path.display(),
                bad.error
            );
        }
    }
    if plans.iter().all(|p| p.nothing_readable()) {
        eprintln!("error: not one run record could be read");
        return Ok(ExitCode::Failed);
    }
    Ok(ExitCode::Success)
}
