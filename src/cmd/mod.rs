//! One file per command: each takes its parsed arguments and returns the
//! exit code. A command that reports its own diagnostics returns the code it
//! wants; an `Err` is printed by `run` and exits 1.

pub mod apply;
pub mod check;
pub mod copy;
pub mod logging;
pub mod plan;
pub mod recover;
pub mod report;
pub mod restore;
pub mod schema;
pub mod validate;
pub mod verify;

use crate::ExitCode;
use crate::cli::{Cli, Color, Command};

pub type Result = std::result::Result<ExitCode, miette::Report>;

/// Asks before something destructive: on a terminal the admin types `yes`;
/// without one (cron, scripts) nothing is asked and the answer is no, so the
/// caller must have been given `--yes`. `what` says what would be destroyed.
fn confirm(what: &str, nothing_done: &str) -> std::result::Result<bool, miette::Report> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        crate::errln!(
            "error: {what}; without a terminal to ask on, pass --yes to confirm; {nothing_done}"
        );
        return Ok(false);
    }
    // The prompt is for the person at the terminal, never a log event.
    eprint!("{what}. Type `yes` to go on: ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| miette::miette!("cannot read the answer: {e}"))?;
    if answer.trim() == "yes" {
        Ok(true)
    } else {
        crate::errln!("not confirmed: {nothing_done}");
        Ok(false)
    }
}

/// Loads the plan a command works on. `None` means it was invalid or
/// unreadable and its diagnostics are already on stderr: the command then
/// exits with [`ExitCode::Usage`] having done nothing.
fn load_plan(path: &std::path::Path) -> Option<crate::plan::Plan> {
    match crate::plan::load(path) {
        Ok(plan) => Some(plan),
        Err(err) => {
            crate::output::diagnostic(&miette::Report::new(err));
            None
        }
    }
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
    };
    let code = match result {
        Ok(code) => code,
        Err(report) => {
            crate::output::diagnostic(&report);
            ExitCode::Failed
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
