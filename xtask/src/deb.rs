//! `cargo xtask deb`: the Debian package, built with cargo-deb from
//! `[package.metadata.deb]` in Cargo.toml. cargo-deb is installed
//! (`cargo install cargo-deb --locked`) when it is missing.
//!
//! The man pages and completions are generated first into
//! `target/release/dist/` (where the package's assets list expects them) by
//! `snapplan::cmd::dist`, the generator behind `snapplan man` and
//! `snapplan completions`. SOURCE_DATE_EPOCH defaults to the last commit's
//! time, so the pages' date and the files' times in the package are those
//! of the source, not of the build. `.ci/package-check` installs the
//! package and checks it with the tools admins use.

use std::path::PathBuf;
use std::process::Command;

use crate::dist;

pub fn run(args: &[String]) -> Result<(), String> {
    let mut out = dist::target_dir().join("debian");
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--out" => out = PathBuf::from(it.next().ok_or("--out needs a directory")?),
            other => {
                return Err(format!(
                    "unknown argument {other:?} (usage: deb [--out DIR])"
                ));
            }
        }
    }
    let epoch = source_date_epoch();
    let assets = dist::target_dir().join("release/dist");
    let written = dist::generate(&assets, &snapplan::cmd::dist::date_of(epoch))?;
    eprintln!(
        "xtask deb: {} man pages and completions in {}",
        written.len(),
        assets.display()
    );
    gzip_man_pages(&written)?;

    ensure_cargo_deb()?;
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let output = Command::new(cargo())
        // The line tables stay in /usr/lib/debug/.build-id/ (for the
        // backtrace of an internal error), out of the 38 MB binary.
        .args(["deb", "--package", "snapplan", "--separate-debug-symbols"])
        .args(["--compress-debug-symbols", "--output"])
        .arg(&out)
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .current_dir(dist::workspace_root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo deb: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo deb failed ({})", output.status));
    }
    // cargo-deb prints the path of the package it wrote.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let deb = stdout
        .lines()
        .rev()
        .find(|l| l.ends_with(".deb"))
        .ok_or_else(|| format!("cargo deb did not say which package it wrote: {stdout:?}"))?;
    println!("{deb}");
    Ok(())
}

/// Debian policy 12.1: man pages are installed gzip-compressed, with
/// `-n` so the archive carries no name or time of its own.
fn gzip_man_pages(written: &[PathBuf]) -> Result<(), String> {
    let pages: Vec<&PathBuf> = written
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "1"))
        .collect();
    let status = Command::new("gzip")
        .args(["-9nf"])
        .args(&pages)
        .status()
        .map_err(|e| format!("cannot run gzip: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("gzip of the man pages failed ({status})"))
    }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn ensure_cargo_deb() -> Result<(), String> {
    let present = Command::new(cargo())
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    eprintln!("xtask deb: cargo-deb is missing; cargo install cargo-deb --locked");
    let status = Command::new(cargo())
        .args(["install", "cargo-deb", "--locked"])
        .status()
        .map_err(|e| format!("cannot run cargo install: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo install cargo-deb failed ({status})"))
    }
}

/// SOURCE_DATE_EPOCH when set, else the last commit's time, else now.
fn source_date_epoch() -> i64 {
    if let Some(epoch) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        return epoch;
    }
    let from_git = Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(dist::workspace_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok());
    from_git.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    })
}
