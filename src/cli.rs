//! The command line: what each command takes. What the commands do lives in
//! `cmd/`, one file per command.

use clap::{Parser, Subcommand, ValueEnum};

use crate::cmd;

const AFTER_HELP: &str = "\
Examples:
  snapplan validate plans/*.yaml
  snapplan plan /etc/snapplan/home.yaml
  snapplan check /etc/snapplan/home.yaml
  snapplan apply /etc/snapplan/home.yaml
";

#[derive(Debug, Parser)]
#[command(
    name = "snapplan",
    version,
    about = "Declarative, checkable and safe LVM snapshot backups",
    long_about = "snapplan reads a YAML plan (which logical volumes to back up, in what order, \
with which snapshot sizes, throttle, hooks and backup target), compiles it into a graph of steps \
with a rollback edge for every change it makes, checks the system, and runs it.",
    after_help = AFTER_HELP,
    after_long_help = exit_codes_help(),
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

fn exit_codes_help() -> String {
    format!("{AFTER_HELP}\n{}", crate::ExitCode::help_table())
}

#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// When to colour diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Log format on stderr: plain lines, or one JSON object per line for log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More detail in the log (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Validate(cmd::validate::Args),
    Plan(cmd::plan::Args),
    /// Pre-flight: check a plan against this machine; changes nothing.
    Check(cmd::check::Args),
    Schema(cmd::schema::Args),
    /// Copy a device or file chunk by chunk, with hashes, throttle and delta writes.
    Copy(cmd::copy::Args),
    /// Re-read backups and compare them with their copy manifests.
    Verify(cmd::verify::Args),
    /// Run the plan: suspend, snapshot, resume, copy, verify; with rollback.
    Apply(cmd::apply::Args),
    /// Undo what a dead run of the plan left (hooks, snapshots, target).
    Recover(cmd::recover::Args),
    /// What the last runs did: per volume status, size, rate, snapshot peak; failures first.
    Report(cmd::report::Args),
    /// Copy a complete backup back onto a device, checked against its manifest.
    Restore(cmd::restore::Args),
    #[command(hide = true)]
    Completions(cmd::manual::CompletionsArgs),
    #[command(hide = true)]
    Man(cmd::manual::ManArgs),
}
