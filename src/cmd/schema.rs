//! `snapplan schema`: the plan's JSON Schema, for editors and CI linters.

const AFTER_HELP: &str = "\
Examples:
  snapplan schema > schemas/plan.schema.json
  # then, first line of a plan, for editors using yaml-language-server:
  # yaml-language-server: $schema=../schemas/plan.schema.json";

/// Print the plan's JSON Schema (draft-07)
///
/// The schema describes every key of a plan file, so that editors complete
/// and check plans as you type. schemas/plan.schema.json is this output.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {}

pub fn run(_args: Args) -> super::Result {
    crate::out!("{}", crate::plan::schema::plan_schema_json());
    Ok(crate::ExitCode::Success)
}
