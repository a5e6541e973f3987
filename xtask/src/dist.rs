//! `cargo xtask dist`: the files a package or an admin installs next to the
//! binary, generated from the real command line (`snapplan::cmd::Cli`) so
//! that completions and man pages can never drift from the options:
//!
//! - `completions/snapplan.bash`, `completions/_snapplan` (zsh),
//!   `completions/snapplan.fish`;
//! - `man/snapplan.1` and one page per subcommand (`snapplan-check.1`, ...).
//!
//! Written to `target/dist/` (or `--out DIR`); generated, never committed.
//! docs/install.md says where each file goes on a server.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

/// The shells completions are generated for, with the file name each
/// shell's completion loader looks for.
const SHELLS: [(Shell, &str); 3] = [
    (Shell::Bash, "snapplan.bash"),
    (Shell::Zsh, "_snapplan"),
    (Shell::Fish, "snapplan.fish"),
];

pub fn run(args: &[String]) -> Result<(), String> {
    let out = parse(args)?;
    let written = generate(&out)?;
    println!("wrote {} files to {}:", written.len(), out.display());
    for path in &written {
        println!("  {}", path.display());
    }
    println!("install them as docs/install.md says (\"Shell completions and man pages\").");
    Ok(())
}

fn parse(args: &[String]) -> Result<PathBuf, String> {
    let mut out = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--out" => out = Some(PathBuf::from(it.next().ok_or("--out needs a directory")?)),
            other => {
                return Err(format!(
                    "unknown argument {other:?} (usage: dist [--out DIR])"
                ));
            }
        }
    }
    Ok(out.unwrap_or_else(default_out))
}

/// `target/dist` of the workspace, wherever cargo was started from.
fn default_out() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
            xtask.parent().unwrap_or(xtask).join("target")
        });
    target.join("dist")
}

/// Writes completions and man pages under `out`; returns every file written.
pub fn generate(out: &Path) -> Result<Vec<PathBuf>, String> {
    let completions = out.join("completions");
    let man = out.join("man");
    for dir in [&completions, &man] {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut written = Vec::new();
    for (shell, file) in SHELLS {
        let path = completions.join(file);
        let mut buf = Vec::new();
        clap_complete::generate(
            shell,
            &mut snapplan::cmd::Cli::command(),
            "snapplan",
            &mut buf,
        );
        std::fs::write(&path, buf).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    written.extend(man_pages(&man)?);
    Ok(written)
}

/// `snapplan.1` plus one page per visible subcommand, named as man(1)
/// expects for git-style commands: `man snapplan-check`.
fn man_pages(dir: &Path) -> Result<Vec<PathBuf>, String> {
    // Built once so that subcommands carry their full names
    // (`snapplan check`) and the global options (--color, ...).
    let mut cli = snapplan::cmd::Cli::command().disable_help_subcommand(true);
    cli.build();
    let mut pages = vec![cli.clone()];
    pages.extend(
        cli.get_subcommands()
            .filter(|sub| !sub.is_hide_set())
            .cloned(),
    );
    // Subcommands carry no version of their own: name the release on every page.
    let source = format!("snapplan {}", cli.get_version().unwrap_or_default());
    let mut written = Vec::new();
    for page in pages {
        let path = clap_mangen::Man::new(page)
            .source(&source)
            .manual("snapplan manual")
            .generate_to(dir)
            .map_err(|e| format!("cannot write a man page to {}: {e}", dir.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn generates_completions_and_a_man_page_per_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let written = generate(dir.path()).unwrap();
        let subcommands: Vec<String> = snapplan::cmd::Cli::command()
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        assert!(subcommands.contains(&"check".to_string()));
        assert_eq!(written.len(), SHELLS.len() + 1 + subcommands.len());

        // Every completion script offers every subcommand.
        for (_, file) in SHELLS {
            let text = read(&dir.path().join("completions").join(file));
            for sub in &subcommands {
                assert!(text.contains(sub.as_str()), "{file} lacks {sub}");
            }
        }
        // One page per subcommand, titled with its full name; the main page
        // lists the subcommands and carries the exit-code table.
        let main = read(&dir.path().join("man/snapplan.1"));
        assert!(main.starts_with(".ie"), "not roff: {main:.80}");
        assert!(main.contains("Exit codes"));
        for sub in &subcommands {
            let page = read(&dir.path().join(format!("man/snapplan-{sub}.1")));
            assert!(
                page.contains(&format!(".TH snapplan-{sub} 1")),
                "{sub}: {page:.200}"
            );
            assert!(
                page.contains("\\-\\-color"),
                "{sub} lacks the global options"
            );
        }
    }

    #[test]
    fn bash_completion_is_valid_shell() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path()).unwrap();
        let status = std::process::Command::new("bash")
            .arg("-n")
            .arg(dir.path().join("completions/snapplan.bash"))
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn rejects_unknown_arguments() {
        assert!(parse(&["--outt".into()]).is_err());
        assert_eq!(
            parse(&["--out".into(), "x".into()]).unwrap(),
            PathBuf::from("x")
        );
    }
}
