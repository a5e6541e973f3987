//! `snapplan prune PLAN [--volume NAME] [--dry-run] [--format text|json]`:
//! retention applied to a pool plan's generations, as a run's prune step
//! applies it, each generation shown with its verdict and the rules that
//! keep it (see docs/restore.md and `crate::prune`).

use std::path::PathBuf;

use crate::ExitCode;

const AFTER_HELP: &str = "\
Only for a plan with `target.pool`. A run prunes after each volume's new
generation is complete and verified; this does the same by hand (after
changing `retention:`, say). Only complete generations count and go, the
newest complete one never does, and a generation `snapplan mount` has mounted
is kept. The plan's lock is taken: never while a run of the plan is going.

Examples:
  snapplan prune /etc/snapplan/home-server.yaml --dry-run
  snapplan prune /etc/snapplan/home-server.yaml --volume root
  snapplan prune /etc/snapplan/home-server.yaml --format json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Remove the generations a pool plan's retention no longer keeps.
#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit_code::command_help(AFTER_HELP, crate::exit_code::PRUNE))]
pub struct Args {
    /// The plan whose generations to prune.
    pub plan: PathBuf,
    /// Only this volume (its name in the plan).
    #[arg(long, value_name = "NAME")]
    pub volume: Option<String>,
    /// Show what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: Args) -> super::Result {
    let plan = super::load_plan(&args.plan)?;
    if plan.target.generations.is_none() {
        return Err(crate::prune::PruneRunError::NoPool { plan: plan.name }.into());
    }
    // A run of the plan adds and prunes generations: not beside it.
    let _lock = super::lock(&plan, "wait for it to end; nothing was pruned")?;
    let sys = crate::system::RealSystem::new();
    let records_dir = crate::state::mounts::records_dir();
    let outcome = crate::prune::run(
        &plan,
        &sys,
        crate::prune::PruneOptions {
            only: args.volume.as_deref(),
            dry_run: args.dry_run,
            records_dir: &records_dir,
        },
    )?;
    match args.format {
        Format::Text => crate::out!("{}", crate::prune::render_text(&outcome.document)),
        Format::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&outcome.document).expect("the prune document serialises")
        ),
    }
    for problem in &outcome.restore_failures {
        crate::errln!("error: could not put the backup VG back as it was: {problem}");
    }
    let code = outcome.exit_code();
    if code == ExitCode::Failed {
        crate::errln!("prune: FAILED (see the volumes' errors)");
    }
    Ok(code)
}
