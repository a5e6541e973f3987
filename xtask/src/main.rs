//! Project tasks that need more than cargo: `cargo xtask <task>`.
//!
//! Each task is one line in `main`'s match so that new tasks merge trivially.

mod bench;
mod deb;
mod dist;
mod vm;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task> [args]

tasks:
  vm-test [--no-build] [--verbose] [SCENARIO...]
                 boot a VM with a real kernel and lvm2 and run tests/vm/*.sh
  demo [--no-build]
                 boot a VM, build a small demo system and run snapplan on it live
  bench [--size MIB] [--pairs N] [--dir DIR] [--no-doc]
                 snapplan copy against dd, interleaved; figures to docs/performance.md
  dist [--out DIR]
                 shell completions and man pages from the CLI, to target/dist/
  deb [--out DIR]
                 the Debian package (cargo-deb, installed if missing), to target/debian/";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match task {
        "vm-test" => vm::test(rest),
        "demo" => vm::demo(rest),
        "bench" => bench::run(rest).map(|()| ExitCode::SUCCESS),
        "dist" => dist::run(rest).map(|()| ExitCode::SUCCESS),
        "deb" => deb::run(rest).map(|()| ExitCode::SUCCESS),
        _ => {
            eprintln!("{USAGE}");
            return if task == "help" || task == "--help" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask {task}: error: {e}");
            ExitCode::FAILURE
        }
    }
}
