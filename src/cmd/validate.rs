//! `snapplan validate`: checks plans without touching the system, for
//! editors, pre-commit hooks and CI.

use std::path::PathBuf;

use crate::ExitCode;
use crate::plan;

const AFTER_HELP: &str = "\
Examples:
  snapplan validate plans/home-server.yaml
  snapplan validate plans/*.yaml          # in CI or a pre-commit hook
  snapplan validate --color never /etc/snapplan/*.yaml 2>problems.txt";

/// Check plans without touching the system
///
/// Reports every mistake snapplan can find without looking at the machine,
/// all at once and each at its place in the file: YAML syntax, unknown or
/// missing keys, bad sizes, rates and durations, invalid names, colliding
/// volumes, unknown or cyclic `after:`.
#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit_code::command_help(AFTER_HELP, crate::exit_code::VALIDATE))]
pub struct Args {
    /// Plan files to check; each is reported, valid or not.
    #[arg(required = true, value_name = "PLAN")]
    pub plans: Vec<PathBuf>,
}

pub fn run(args: Args) -> super::Result {
    let mut all_valid = true;
    for path in &args.plans {
        match plan::load(path) {
            Ok(plan) => {
                let n = plan.volumes.len();
                let noun = if n == 1 { "volume" } else { "volumes" };
                println!("{}: valid ({n} {noun})", path.display());
            }
            Err(error) => {
                all_valid = false;
                eprintln!("{:?}", miette::Report::new(error));
            }
        }
    }
    Ok(if all_valid {
        ExitCode::Success
    } else {
        ExitCode::Usage
    })
}
