//! The command line: what each command takes ([`Cli`], the only place clap
//! is used besides each command's own `Args`), and one file per command that
//! parses, calls one library function and maps its result to an exit code.
//! A command that reports its own diagnostics returns the code it wants; an
//! `Err` is printed by `run` and exits 1.

pub mod apply;
pub mod check;
pub mod copy;
pub mod dist;
pub mod error;
pub mod generations;
pub mod logging;
pub mod manual;
pub mod mount;
pub mod plan;
pub mod prune;
pub mod recover;
pub mod report;
pub mod restore;
pub mod schema;
pub mod validate;
pub mod verify;

use clap::{Parser, Subcommand, ValueEnum};

use crate::ExitCode;

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
    Validate(validate::Args),
    Plan(plan::Args),
    /// Pre-flight: check a plan against this machine; changes nothing.
    Check(check::Args),
    Schema(schema::Args),
    /// Copy a device or file chunk by chunk, with hashes, throttle and delta writes.
    Copy(copy::Args),
    /// Re-read backups and compare them with their copy manifests.
    Verify(verify::Args),
    /// Run the plan: suspend, snapshot, resume, copy, verify; with rollback.
    Apply(apply::Args),
    /// Undo what a dead run of the plan left (hooks, snapshots, target).
    Recover(recover::Args),
    /// What the last runs did: per volume status, size, rate, snapshot peak; failures first.
    Report(report::Args),
    /// Copy a complete backup back onto a device, checked against its manifest.
    Restore(restore::Args),
    Generations(generations::Args),
    Prune(prune::Args),
    Mount(mount::MountArgs),
    Unmount(mount::UnmountArgs),
    #[command(hide = true)]
    Completions(manual::CompletionsArgs),
    #[command(hide = true)]
    Man(manual::ManArgs),
}

pub use error::ExpectedError;

pub type Result = std::result::Result<ExitCode, ExpectedError>;

/// Asks before something destructive: on a terminal the admin types `yes`;
/// without one (cron, scripts) nothing is asked and the answer is no, so the
/// caller must have been given `--yes`. `what` says what would be destroyed.
fn confirm(what: &str, nothing_done: &str) -> std::result::Result<(), ExpectedError> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        crate::errln!(
            "error: {what}; without a terminal to ask on, pass --yes to confirm; {nothing_done}"
        );
        return Err(ExpectedError::NotConfirmed);
    }
    // The prompt is for the person at the terminal, never a log event.
    eprint!("{what}. Type `yes` to go on: ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| ExpectedError::Failed(format!("cannot read the answer: {e}")))?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        crate::errln!("not confirmed: {nothing_done}");
        Err(ExpectedError::NotConfirmed)
    }
}

/// Loads the plan a command works on. An invalid or unreadable plan has
/// its diagnostics printed here: the command then exits with
/// [`ExitCode::Usage`] having done nothing.
fn load_plan(path: &std::path::Path) -> std::result::Result<crate::plan::Plan, ExpectedError> {
    crate::plan::load(path).map_err(|err| {
        crate::output::diagnostic(&miette::Report::new(err));
        ExpectedError::InvalidPlan
    })
}

/// Takes the plan's lock; `then` says what a held or broken lock means for
/// this command ("nothing was done").
fn lock(
    plan: &crate::plan::Plan,
    then: &'static str,
) -> std::result::Result<crate::state::lock::RunLock, ExpectedError> {
    crate::state::lock::RunLock::acquire(&plan.state_dir, &plan.name)
        .map_err(|source| ExpectedError::Lock { source, then })
}

/// The binary: parse the command line, run the command.
pub fn main() -> std::process::ExitCode {
    run(Cli::parse()).into()
}

pub fn run(cli: Cli) -> ExitCode {
    install_diagnostic_style(cli.global.color);
    logging::install(&cli.global);
    let result = match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Check(args) => check::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Copy(args) => copy::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Apply(args) => apply::run(args),
        Command::Recover(args) => recover::run(args),
        Command::Report(args) => report::run(args),
        Command::Restore(args) => restore::run(args),
        Command::Generations(args) => generations::run(args),
        Command::Prune(args) => prune::run(args),
        Command::Mount(args) => mount::mount(args),
        Command::Unmount(args) => mount::unmount(args),
        Command::Completions(args) => manual::completions(args),
        Command::Man(args) => manual::man(args),
    };
    let code = match result {
        Ok(code) => code,
        Err(error) => {
            if !error.already_reported() {
                crate::errln!("error: {error}");
            }
            error.exit_code()
        }
    };
    match crate::output::finish() {
        Ok(()) => code,
        Err(reason) => {
            crate::errln!("error: cannot write to stdout: {reason}");
            if code == ExitCode::Success {
                ExitCode::Failed
            } else {
                code
            }
        }
    }
}

/// Diagnostics go to cron mail and CI logs as often as to terminals: colour
/// only when stderr is a terminal, unless told otherwise.
fn install_diagnostic_style(color: Color) {
    use std::io::IsTerminal;
    let colored = match color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .color(colored)
                .unicode(colored)
                .terminal_links(false)
                .build(),
        )
    }));
}

/// A lifecycle phase as `--phase` takes it: the graph's phases, and `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PhaseArg {
    /// Log in to the iSCSI target (nothing without `target.iscsi`).
    Login,
    /// Import (when exported) and activate the backup VG.
    Activate,
    /// DELETE the plan's backup LVs. Never part of `all`: only when named.
    Remove,
    /// Suspend, snapshot, resume, then copy, verify and drop each snapshot.
    Backup,
    /// Deactivate the backup VG, and export it when `target.export` is set.
    Deactivate,
    /// Log out of the iSCSI target.
    Logout,
    /// login, activate, backup, deactivate, logout (everything but remove).
    All,
}

/// What `--phase` asked for, `all` expanded; nothing means `all`.
pub fn phase_set(args: &[PhaseArg]) -> crate::graph::PhaseSet {
    use crate::graph::Phase;
    let mut phases = Vec::new();
    for arg in args {
        match arg {
            PhaseArg::Login => phases.push(Phase::Login),
            PhaseArg::Activate => phases.push(Phase::Activate),
            PhaseArg::Remove => phases.push(Phase::Remove),
            PhaseArg::Backup => phases.push(Phase::Backup),
            PhaseArg::Deactivate => phases.push(Phase::Deactivate),
            PhaseArg::Logout => phases.push(Phase::Logout),
            PhaseArg::All => phases.extend(Phase::ALL),
        }
    }
    crate::graph::PhaseSet::from_args(&phases)
}

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressArg {
    /// A bar on a terminal, a plain line every ~10 s otherwise.
    Auto,
    /// A bar even when stderr is not a terminal.
    Always,
    /// Only the final summary line.
    Never,
}

impl From<ProgressArg> for crate::copy::progress::ProgressMode {
    fn from(arg: ProgressArg) -> Self {
        use crate::copy::progress::ProgressMode;
        match arg {
            ProgressArg::Auto => ProgressMode::Auto,
            ProgressArg::Always => ProgressMode::Always,
            ProgressArg::Never => ProgressMode::Never,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Phase, PhaseSet};

    #[test]
    fn phase_all_is_everything_but_remove_and_nothing_means_all() {
        assert_eq!(phase_set(&[]), PhaseSet::from_args(&Phase::ALL));
        assert_eq!(phase_set(&[PhaseArg::All]), phase_set(&[]));
        assert!(!phase_set(&[PhaseArg::All]).contains(Phase::Remove));
        assert!(phase_set(&[PhaseArg::All, PhaseArg::Remove]).contains(Phase::Remove));
        assert_eq!(
            phase_set(&[PhaseArg::Logout, PhaseArg::Login]).describe(),
            "login, logout"
        );
    }

    #[test]
    fn every_commands_help_ends_with_its_exit_codes_from_the_one_table() {
        use crate::exit_code::{self, command_help};
        use clap::CommandFactory;
        let mut cli = Cli::command();
        for (name, codes) in [
            ("apply", exit_code::APPLY),
            ("check", exit_code::CHECK),
            ("generations", exit_code::GENERATIONS),
            ("mount", exit_code::MOUNT),
            ("unmount", exit_code::UNMOUNT),
            ("plan", exit_code::PLAN),
            ("prune", exit_code::PRUNE),
            ("recover", exit_code::RECOVER),
            ("report", exit_code::REPORT),
            ("restore", exit_code::RESTORE),
            ("validate", exit_code::VALIDATE),
            ("verify", exit_code::VERIFY),
        ] {
            let sub = cli.find_subcommand_mut(name).expect(name);
            let help = sub.render_long_help().to_string();
            let table = command_help("", codes);
            assert!(
                help.trim_end().ends_with(table.trim()),
                "{name} --help does not end with its exit codes:\n{help}"
            );
        }
    }
}
