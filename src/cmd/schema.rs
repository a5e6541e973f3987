//! `snapplan schema [KIND]`: the JSON Schemas of the plan and of the
//! documents snapplan writes, for editors, CI linters and consumers.

use crate::contracts::Contract;

const AFTER_HELP: &str = "\
Examples:
  snapplan schema > schemas/plan.schema.json
  snapplan schema check > schemas/check.schema.json
  # then, first line of a plan, for editors using yaml-language-server:
  # yaml-language-server: $schema=/usr/share/snapplan/plan.schema.json

The Debian package installs every schema under /usr/share/snapplan/.";

/// Print a JSON Schema (draft-07): of the plan, or of an output
///
/// The plan's schema describes every key of a plan file, so that editors
/// complete and check plans as you type. The others describe what `plan
/// --format json`, `check --format json`, `report --format json`, `generations
/// --format json` and the run records hold. schemas/ holds this output.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// Which schema.
    #[arg(value_enum, default_value_t = Kind::Plan)]
    pub kind: Kind,
}

/// [`Contract`] as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// A plan file (what editors check as you type).
    Plan,
    /// `snapplan plan --format json`.
    PlanOutput,
    /// `snapplan check --format json`.
    Check,
    /// `snapplan report --format json`.
    Report,
    /// A run record, `<state_dir>/<plan>/runs/<run id>.json`.
    RunRecord,
    /// `snapplan generations --format json`.
    Generations,
}

pub fn run(args: Args) -> super::Result {
    let contract = match args.kind {
        Kind::Plan => Contract::Plan,
        Kind::PlanOutput => Contract::PlanOutput,
        Kind::Check => Contract::Check,
        Kind::Report => Contract::Report,
        Kind::RunRecord => Contract::RunRecord,
        Kind::Generations => Contract::Generations,
    };
    crate::out!("{}", contract.schema_json());
    Ok(crate::ExitCode::Success)
}
