//! `snapplan check PLAN`: the read-only pre-flight. Exit 0 when nothing
//! fails (warnings and unknowns allowed), 1 when a check fails, 2 when the
//! plan itself is invalid.

use std::path::PathBuf;

use crate::ExitCode;
use crate::check::{self, render};
use crate::system::RealSystem;

const AFTER_HELP: &str = "\
Examples:
  snapplan check /etc/snapplan/home-server.yaml
  snapplan check /etc/snapplan/home-server.yaml --format json | jq .counts

Read-only: runs `lvm lvs`/`lvm vgs` once each, lists the hooks directory and
tries the plan's lock for an instant; creates nothing. docs/check.md explains
each check and what to do when it fails.";

#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit_code::command_help(AFTER_HELP, crate::exit_code::CHECK))]
pub struct Args {
    /// The plan file to check against this machine.
    pub plan: PathBuf,
    /// `text` for people, `json` for monitoring and scripts.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn run(args: Args) -> super::Result {
    let plan = super::load_plan(&args.plan)?;
    let facts = check::gather(&plan, &RealSystem::new());
    let mut report = check::evaluate(&plan, &facts);
    // A dead run's journal (not while a run holds the lock: its journal is
    // open on purpose).
    if !matches!(facts.lock, check::facts::LockFact::Held { .. })
        && let Some(finding) = crate::apply::recover::journal_finding(&plan)
    {
        let mut rows = report.checks;
        rows.push(finding);
        report = check::CheckReport::new(&plan.name, rows);
    }
    match args.format {
        Format::Text => print!(
            "{}",
            render::text(&report, &args.plan.display().to_string())
        ),
        Format::Json => println!("{}", render::json(&report)),
    }
    Ok(if report.ok {
        ExitCode::Success
    } else {
        ExitCode::Failed
    })
}
