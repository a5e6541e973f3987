//! `snapplan plan`: shows what a plan will do, step by step, for review.
//! Reads the plan and lists its hooks directory; nothing else on the
//! machine is looked at, so the output is the same wherever it runs (except
//! that hooks show individually only where their directory is readable).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::ExitCode;
use crate::graph::{self, HookList, Phase, PhaseSet};

const AFTER_HELP: &str = "\
Examples:
  snapplan plan plans/home-server.yaml
  snapplan plan plans/home-server.yaml --phase login --phase activate
  snapplan plan plans/home-server.yaml --phase remove       # remove runs only when named
  snapplan plan plans/home-server.yaml --format json | jq '.steps[].id'
  snapplan plan plans/home-server.yaml --format dot | dot -Tsvg > plan.svg

Values known only when the plan is applied (the run id, origin sizes) show
as <...> placeholders. Exit status: 0 when the plan is valid, 2 when not.";

/// Show the steps a plan compiles to, in execution order, with the exact
/// command lines, what each step waits for and what undoes it.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// The plan file (YAML).
    pub plan: PathBuf,
    /// Lifecycle phases to show (repeat or separate with commas); `all`
    /// (the default) is every phase except `remove`, which deletes backups.
    #[arg(long = "phase", value_enum, value_delimiter = ',')]
    pub phases: Vec<Phase>,
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
    let plan = match crate::plan::load(&args.plan) {
        Ok(plan) => plan,
        Err(err) => {
            eprintln!("{:?}", miette::Report::new(err));
            return Ok(ExitCode::Usage);
        }
    };
    let hooks = match &plan.hooks {
        Some(hooks) => list_hooks(&hooks.dir),
        None => HookList::Found(Vec::new()),
    };
    let compiled = graph::compile(&plan, &hooks, &PhaseSet::from_args(&args.phases));
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
        Err(e) => Err(miette::miette!("cannot write the plan to stdout: {e}")),
    }
}

/// The hook programs in `dir`: executable regular files (symlinks
/// followed), in name order, skipping hidden files and editor backups
/// (`.name`, `name~`), as run-parts users expect. A directory that cannot
/// be read is [`HookList::NotListed`], so `plan` works on any machine.
pub fn list_hooks(dir: &Path) -> HookList {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return HookList::NotListed;
    };
    let mut hooks = Vec::new();
    for entry in entries {
        let Ok(entry) = entry else {
            return HookList::NotListed;
        };
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let path = entry.path();
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
                hooks.push(path)
            }
            _ => {}
        }
    }
    hooks.sort();
    HookList::Found(hooks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn lists_executables_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, mode: u32| {
            let path = dir.path().join(name);
            std::fs::write(&path, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write("20-web", 0o755);
        write("10-db", 0o700);
        write("README", 0o644);
        write(".hidden", 0o755);
        write("30-old~", 0o755);
        std::fs::create_dir(dir.path().join("40-dir")).unwrap();
        assert_eq!(
            list_hooks(dir.path()),
            HookList::Found(vec![dir.path().join("10-db"), dir.path().join("20-web")])
        );
    }

    #[test]
    fn missing_directory_is_not_listed() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(list_hooks(&dir.path().join("absent")), HookList::NotListed);
    }
}
