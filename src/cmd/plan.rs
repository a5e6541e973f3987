//! `snapplan plan`: shows what a plan will do, step by step, for review.
//! Reads the plan and lists its hooks directory; nothing else on the
//! machine is looked at, so the output is the same wherever it runs (except
//! that hooks show individually only where their directory is readable).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::ExitCode;
use crate::graph::{self, HookList};

const AFTER_HELP: &str = "\
Examples:
  snapplan plan plans/home-server.yaml
  snapplan plan plans/home-server.yaml --phase login --phase activate
  snapplan plan plans/home-server.yaml --phase remove       # remove runs only when named
  snapplan plan plans/home-server.yaml --format json | jq '.steps[].id'
  snapplan plan plans/home-server.yaml --format dot | dot -Tsvg > plan.svg

Values known only when the plan is applied (the run id, origin sizes) show
as <...> placeholders.";

/// Show the steps a plan compiles to, in execution order, with the exact
/// command lines, what each step waits for and what undoes it.
#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit_code::command_help(AFTER_HELP, crate::exit_code::PLAN))]
pub struct Args {
    /// The plan file (YAML).
    pub plan: PathBuf,
    /// Lifecycle phases to show (repeat or separate with commas); `all`
    /// (the default) is every phase except `remove`, which deletes backups.
    #[arg(long = "phase", value_enum, value_delimiter = ',')]
    pub phases: Vec<super::PhaseArg>,
    /// `text` for people, `json` for tools, `dot` for Graphviz.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Dot,
}

pub fn run(args: Args) -> super::Result {
    let plan = super::load_plan(&args.plan)?;
    let hooks = match &plan.hooks {
        Some(hooks) => list_hooks(&hooks.dir),
        None => HookList::Found(Vec::new()),
    };
    let compiled = graph::compile(&plan, &hooks, &super::phase_set(&args.phases));
    let output = match args.format {
        Format::Text => graph::render_text::render(&compiled),
        Format::Json => graph::render_json::render(&compiled),
        Format::Dot => graph::render_dot::render(&compiled),
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(ExitCode::Success),
        // `snapplan plan ... | head` is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::Success),
        Err(e) => Err(super::ExpectedError::Failed(format!(
            "cannot write the plan to stdout: {e}"
        ))),
    }
}

/// The hooks as `plan` shows them: the directory's executables when it can
/// be read here, otherwise a note that they are listed at run time.
pub fn list_hooks(dir: &Path) -> HookList {
    match crate::system::hooks::list_hooks(dir) {
        Ok(listing) => HookList::Found(listing.hooks),
        Err(_) => HookList::NotListed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_directory_is_not_listed() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(list_hooks(&dir.path().join("absent")), HookList::NotListed);
    }
}
