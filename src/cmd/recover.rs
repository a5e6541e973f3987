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
had activated it / logged in. `snapplan apply` does this first on its own.";

#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit_code::command_help(AFTER_HELP, crate::exit_code::RECOVER))]
pub struct Args {
    /// The plan whose dead run to clean up after.
    pub plan: PathBuf,
}

pub fn run(args: Args) -> super::Result {
    let plan = super::load_plan(&args.plan)?;
    let _lock = super::lock(&plan, "that run is alive; nothing to recover")?;
    let sys = RealSystem::new();
    let recovery = recover::recover(&plan, &sys);
    for action in &recovery.actions {
        println!("recovered: {action}");
    }
    for failure in &recovery.failures {
        println!("NOT recovered: {failure}");
    }
    if recovery.nothing_to_do() {
        println!("nothing to recover for plan {}", plan.name);
    }
    Ok(if recovery.failures.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::CleanupIncomplete
    })
}
