//! `cargo xtask dist`: the man pages and shell completions a package or an
//! admin installs next to the binary, written by the same function as the
//! binary's hidden `snapplan man DIR` / `snapplan completions SHELL`
//! (`snapplan::cmd::dist`), so there is one generator:
//!
//! - `completions/snapplan.bash`, `completions/_snapplan` (zsh),
//!   `completions/snapplan.fish`;
//! - `man/snapplan.1` and one page per subcommand (`snapplan-check.1`, ...).
//!
//! Written to `target/dist/` (or `--out DIR`); generated, never committed.
//! `cargo xtask deb` packages them; docs/install.md says where they go.

use std::path::{Path, PathBuf};

pub fn run(args: &[String]) -> Result<(), String> {
    let out = parse(args)?;
    let written = generate(&out, &snapplan::cmd::dist::page_date())?;
    println!("wrote {} files to {}:", written.len(), out.display());
    for path in &written {
        println!("  {}", path.display());
    }
    println!("install them as docs/install.md says (\"Without the package\").");
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
    Ok(out.unwrap_or_else(|| target_dir().join("dist")))
}

/// The workspace's target directory, wherever cargo was started from.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

pub fn workspace_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

/// Completions and man pages under `out`, the pages dated `date`.
pub fn generate(out: &Path, date: &str) -> Result<Vec<PathBuf>, String> {
    snapplan::cmd::dist::generate(out, date).map_err(|e| {
        format!(
            "cannot write completions and man pages to {}: {e}",
            out.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_the_package_lists() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), "2026-01-01").unwrap();
        // The paths Cargo.toml's [package.metadata.deb] assets name.
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        for file in ["snapplan.bash", "_snapplan", "snapplan.fish"] {
            assert!(dir.path().join("completions").join(file).is_file());
            assert!(manifest.contains(&format!("target/release/dist/completions/{file}")));
        }
        assert!(dir.path().join("man/snapplan-apply.1").is_file());
        assert!(manifest.contains("\"target/release/dist/man/*.1.gz\""));
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
