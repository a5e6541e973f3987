//! `snapplan generations PLAN [--volume NAME] [--format text|json]`: each
//! volume's backup generations, newest first (see docs/restore.md and
//! `crate::generations`). Reads; activates, imports and writes nothing.

use std::path::PathBuf;

use crate::ExitCode;

const AFTER_HELP: &str = "\
A thick target keeps one generation per volume, its backup LV; its id is the
UTC time its copy began reading the volume's snapshot. restore, verify and
mount take the id with --generation.

Examples:
  snapplan generations /etc/snapplan/home-server.yaml
  snapplan generations /etc/snapplan/home-server.yaml --volume home --format json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// List each volume's backup generations, newest first
#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit_code::command_help(AFTER_HELP, crate::exit_code::GENERATIONS))]
pub struct Args {
    /// The plan whose backups to list.
    pub plan: PathBuf,
    /// Only this volume (its name in the plan).
    #[arg(long, value_name = "NAME")]
    pub volume: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: Args) -> super::Result {
    let plan = super::load_plan(&args.plan)?;
    let sys = crate::system::RealSystem::new();
    let listing = crate::generations::list(&plan, &sys, args.volume.as_deref())?;
    match args.format {
        Format::Text => crate::out!("{}", crate::generations::render_text(&listing.document)),
        Format::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&listing.document)
                .expect("the generations document serialises")
        ),
    }
    for note in &listing.notes {
        crate::errln!("note: {note}");
    }
    Ok(ExitCode::Success)
}
