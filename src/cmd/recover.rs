//! `snapplan recover PLAN`: undo what a dead run of the plan left behind
//! (suspended hooks, tagged snapshots, an activated target). Exit 0 when
//! nothing is left, 3 when a run holds the lock, 5 when something could not
//! be undone.

use std::path::PathBuf;

use crate::ExitCode;
use crate::apply::{recover, system::RealSystem};
use crate::lock::{LockError, RunLock};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  snapplan recover /etc/snapplan/home-server.yaml
  snapplan check /etc/snapplan/home-server.yaml && snapplan recover /etc/snapplan/home-server.yaml

Resumes every hook a dead run suspended, removes every snapshot tagged with the
plan, deactivates/exports the backup VG and logs out of iSCSI when the dead run
had activated it / logged in. `snapplan apply` does this first on its own.

Exit codes: 0 nothing left (or nothing to do), 2 invalid plan, 3 a run holds
the lock (it is alive), 5 something could not be undone (see the log).")]
pub struct Args {
    /// The plan whose dead run to clean up after.
    pub plan: PathBuf,
}

pub fn run(args: Args) -> super::Result {
    let Some(plan) = super::load_plan(&args.plan) else {
        return Ok(ExitCode::Usage);
    };
    let _lock = match RunLock::acquire(&plan.state_dir, &plan.name) {
        Ok(lock) => lock,
        Err(e @ LockError::Held { .. }) => {
            crate::errln!("error: {e}: that run is alive; nothing to recover");
            return Ok(ExitCode::Locked);
        }
        Err(e) => return Err(miette::miette!("{e}")),
    };
    let sys = RealSystem::new();
    let recovery = recover::recover(&plan, &sys);
    for action in &recovery.actions {
        crate::outln!("recovered: {action}");
    }
    for failure in &recovery.failures {
        crate::outln!("NOT recovered: {failure}");
    }
    if recovery.nothing_to_do() {
        crate::outln!("nothing to recover for plan {}", plan.name);
    }
    Ok(if recovery.failures.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::CleanupIncomplete
    })
}
