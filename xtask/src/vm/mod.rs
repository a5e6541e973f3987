//! The VM bench: boots Debian's kernel with real lvm2 under qemu, because the
//! host kernel has no device-mapper and LVM code is only proven on real LVM.
//!
//! `vm-test` runs tests/vm/*.sh scenarios and reports pass/fail from the
//! markers /init prints; `demo` runs tests/vm/demo.sh with the console live.

mod host;
mod initramfs;
mod iscsi;
mod kernel;
mod qemu;
mod scenario;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use scenario::{Boot, Scenario};

/// How many console lines a failure shows.
const LOG_TAIL: usize = 80;

struct Options {
    build: bool,
    verbose: bool,
    names: Vec<String>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        build: true,
        verbose: false,
        names: Vec::new(),
    };
    for arg in args {
        match arg.as_str() {
            "--no-build" => options.build = false,
            "-v" | "--verbose" => options.verbose = true,
            a if a.starts_with('-') => {
                return Err(format!(
                    "unknown option {a}; options: --no-build (reuse target/release/snapplan), \
                     --verbose (show the console live)"
                ));
            }
            name => options.names.push(name.to_string()),
        }
    }
    Ok(options)
}

struct Paths {
    workspace: PathBuf,
    target: PathBuf,
    vm: PathBuf,
    scenarios: PathBuf,
}

impl Paths {
    fn new() -> Paths {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask lives in the workspace")
            .to_path_buf();
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => workspace.join(dir),
            None => workspace.join("target"),
        };
        Paths {
            vm: target.join("vm"),
            scenarios: workspace.join("tests/vm"),
            workspace,
            target,
        }
    }
}

/// Everything a boot needs, made once per run.
struct Prepared {
    kernel: kernel::Kernel,
    /// open-iscsi, when a scenario of this run asked for iSCSI.
    iscsi: Option<iscsi::Tools>,
    initramfs: PathBuf,
    /// This run's own directory (target/vm/run-PID): several runs may share
    /// a worktree. Removed when the run ends.
    run_dir: PathBuf,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

/// Removes run directories whose process is gone.
fn remove_stale_run_dirs(vm: &Path) {
    let Ok(entries) = std::fs::read_dir(vm) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("run-")
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// `iscsi`: pack open-iscsi and the iSCSI modules (some scenario's header
/// says `# vm: iscsi`); other runs neither fetch nor carry them.
fn prepare(paths: &Paths, build: bool, iscsi: bool) -> Result<Prepared, String> {
    host::ensure_packages(host::PACKAGES)?;
    let started = Instant::now();
    let (kernel, iscsi) = {
        // One fetch at a time: another run in this worktree may be fetching.
        std::fs::create_dir_all(&paths.vm).map_err(|e| format!("{}: {e}", paths.vm.display()))?;
        let lock_path = paths.vm.join("kernel.lock");
        let lock = std::fs::File::create(&lock_path)
            .map_err(|e| format!("{}: {e}", lock_path.display()))?;
        lock.lock()
            .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
        let kernel = kernel::ensure(&paths.vm.join("kernel"))?;
        let iscsi = match iscsi {
            true => Some(iscsi::ensure(&paths.vm.join("iscsi"))?),
            false => None,
        };
        (kernel, iscsi)
    };
    eprintln!(
        "xtask: kernel {} ready ({:.1} s)",
        kernel.version,
        started.elapsed().as_secs_f64()
    );
    if build {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = host::cmd(&cargo, ["build", "--release", "-p", "snapplan"]);
        cmd.current_dir(&paths.workspace);
        host::run(cmd)?;
    }
    let snapplan = paths.target.join("release/snapplan");
    if !snapplan.is_file() {
        return Err(format!(
            "{} is missing: run without --no-build",
            snapplan.display()
        ));
    }
    let started = Instant::now();
    remove_stale_run_dirs(&paths.vm);
    let run_dir = paths.vm.join(format!("run-{}", std::process::id()));
    let initramfs = run_dir.join("initramfs.cpio.gz");
    let prepared = Prepared {
        kernel,
        iscsi,
        initramfs,
        run_dir,
    };
    initramfs::build(
        &initramfs::Inputs {
            kernel: &prepared.kernel,
            snapplan: &snapplan,
            scenario_dir: &paths.scenarios,
            iscsi: prepared.iscsi.as_ref(),
        },
        &prepared.run_dir.join("initramfs"),
        &prepared.initramfs,
    )?;
    eprintln!(
        "xtask: initramfs built ({:.1} s, {} KiB{})",
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&prepared.initramfs).map_or(0, |m| m.len() / 1024),
        if prepared.iscsi.is_some() {
            ", with iSCSI"
        } else {
            ""
        }
    );
    std::fs::create_dir_all(paths.vm.join("logs")).map_err(|e| e.to_string())?;
    Ok(prepared)
}

/// One scenario's line in the summary.
struct Row {
    name: String,
    passed: bool,
    /// Seconds inside the VM, if it reported.
    seconds: Option<u64>,
    boot_wall: Duration,
    note: String,
    log: PathBuf,
}

fn run_boot(
    paths: &Paths,
    prepared: &Prepared,
    boot: &Boot,
    echo: bool,
) -> Result<Vec<Row>, String> {
    let log = paths
        .vm
        .join("logs")
        .join(format!("{}.log", boot.scenarios[0]));
    let args = qemu::args(&prepared.kernel.vmlinuz, &prepared.initramfs, boot);
    let timeout = qemu::BOOT_OVERHEAD + boot.timeout;
    let mut report = qemu::run(&args, &log, echo, timeout)?;
    if report.timed_out && never_started(&log, &boot.scenarios[0]) {
        // Seen once under TCG on a loaded host: the console stopped after
        // SeaBIOS and no scenario ran (alone it passed in 34 s). That is the
        // emulator, not a result: one more boot, said loudly.
        eprintln!(
            "xtask: the VM for {} never reached its first scenario in {} s (an emulator \
             stall, no scenario ran): booting it once more",
            boot.scenarios.join(", "),
            timeout.as_secs()
        );
        report = qemu::run(&args, &log, echo, timeout)?;
    }
    let mut rows = Vec::new();
    for name in &boot.scenarios {
        let scenario_log = paths.vm.join("logs").join(format!("{name}.log"));
        if scenario_log != log {
            std::fs::copy(&log, &scenario_log).map_err(|e| e.to_string())?;
        }
        let outcome = report.outcomes.iter().find(|o| &o.scenario == name);
        let note = match (outcome, report.timed_out) {
            (Some(_), _) => String::new(),
            (None, true) => format!("no result: VM killed after {} s", timeout.as_secs()),
            (None, false) => "no result: VM stopped before the scenario ended".into(),
        };
        rows.push(Row {
            name: name.clone(),
            passed: outcome.is_some_and(|o| o.passed),
            seconds: outcome.and_then(|o| o.seconds),
            boot_wall: report.wall,
            note,
            log: scenario_log,
        });
    }
    Ok(rows)
}

/// Whether the console log of a boot shows no sign of `first`, the boot's
/// first scenario, having started.
fn never_started(log: &Path, first: &str) -> bool {
    let text = std::fs::read(log).unwrap_or_default();
    !String::from_utf8_lossy(&text).contains(&scenario::start_line(first))
}

/// The last `LOG_TAIL` console lines of `scenario`: up to its result marker,
/// and from its start when it shared the boot with an earlier one.
fn log_tail(log: &str, scenario: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let end = lines
        .iter()
        .position(|l| scenario::parse_result(l).is_some_and(|o| o.scenario == scenario))
        .map_or(lines.len(), |i| i + 1);
    let own_start = lines[..end]
        .iter()
        .rposition(|l| l.contains(&scenario::start_line(scenario)))
        .filter(|&i| {
            lines[..i]
                .iter()
                .any(|l| scenario::parse_result(l).is_some())
        });
    let start = end.saturating_sub(LOG_TAIL).max(own_start.unwrap_or(0));
    lines[start..end].join("\n")
}

pub fn test(args: &[String]) -> Result<ExitCode, String> {
    let options = parse_options(args)?;
    let paths = Paths::new();
    let scenarios: Vec<Scenario> = scenario::discover(&paths.scenarios, &options.names)?;
    if scenarios.is_empty() {
        return Err(format!("no scenarios in {}", paths.scenarios.display()));
    }
    let suite_started = Instant::now();
    let iscsi = scenarios.iter().any(|s| s.header.iscsi);
    let prepared = prepare(&paths, options.build, iscsi)?;
    let mut rows = Vec::new();
    for boot in scenario::plan_boots(&scenarios) {
        eprintln!("xtask: booting for {}", boot.scenarios.join(", "));
        for row in run_boot(&paths, &prepared, &boot, options.verbose)? {
            let verdict = if row.passed { "pass" } else { "FAIL" };
            eprintln!("xtask: {} {verdict} {}", row.name, row.note.trim());
            if !row.passed {
                eprintln!(
                    "---- last {LOG_TAIL} console lines of {} ({}) ----\n{}\n---- end of {} ----",
                    row.name,
                    row.log.display(),
                    log_tail(
                        &std::fs::read_to_string(&row.log).unwrap_or_default(),
                        &row.name
                    ),
                    row.name
                );
            }
            rows.push(row);
        }
    }
    Ok(summary(&rows, suite_started.elapsed()))
}

fn summary(rows: &[Row], total: Duration) -> ExitCode {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(8).max(8);
    println!();
    println!("{:<width$}  result  in VM   boot    log", "scenario");
    for r in rows {
        let in_vm = r.seconds.map_or("-".into(), |s| format!("{s} s"));
        println!(
            "{:<width$}  {:<6}  {:<5}  {:>5.1} s  {}{}",
            r.name,
            if r.passed { "pass" } else { "FAIL" },
            in_vm,
            r.boot_wall.as_secs_f64(),
            r.log.display(),
            if r.note.is_empty() {
                String::new()
            } else {
                format!("  ({})", r.note)
            }
        );
    }
    let passed = rows.iter().filter(|r| r.passed).count();
    let failed = rows.len() - passed;
    println!("total {:.1} s", total.as_secs_f64());
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

pub fn demo(args: &[String]) -> Result<ExitCode, String> {
    let options = parse_options(args)?;
    if !options.names.is_empty() {
        return Err("demo takes no scenario names".into());
    }
    let paths = Paths::new();
    let demo = scenario::load(&paths.scenarios, "demo")?;
    let prepared = prepare(&paths, options.build, demo.header.iscsi)?;
    let rows = run_boot(&paths, &prepared, &scenario::plan_boots(&[demo])[0], true)?;
    let row = &rows[0];
    if row.passed {
        eprintln!(
            "xtask: demo finished ({:.1} s)",
            row.boot_wall.as_secs_f64()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "xtask: demo failed {}; console log: {}",
            row.note,
            row.log.display()
        );
        Ok(ExitCode::FAILURE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boot_whose_console_stopped_before_its_first_scenario_never_started() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("boot.log");
        std::fs::write(&log, "SeaBIOS (version 1.16.2)\nBooting from ROM..").unwrap();
        assert!(never_started(&log, "restore"));
        std::fs::write(
            &log,
            format!(
                "Booting from ROM..{}\n== [0s] a step\n",
                scenario::start_line("restore")
            ),
        )
        .unwrap();
        assert!(
            !never_started(&log, "restore"),
            "it started, then hung: a result"
        );
        assert!(never_started(&dir.path().join("missing.log"), "restore"));
    }

    #[test]
    fn log_tail_shows_only_the_scenarios_part_of_a_shared_boot() {
        let log = "SeaBIOS\nvm: ---- scenario a ----\nFAIL: a\nSNAPPLAN-VM-RESULT: fail a 1\n\
                   vm: ---- scenario b ----\nFAIL: b\nSNAPPLAN-VM-RESULT: fail b 1\nreboot\n";
        assert_eq!(
            log_tail(log, "a"),
            "SeaBIOS\nvm: ---- scenario a ----\nFAIL: a\nSNAPPLAN-VM-RESULT: fail a 1"
        );
        assert_eq!(
            log_tail(log, "b"),
            "vm: ---- scenario b ----\nFAIL: b\nSNAPPLAN-VM-RESULT: fail b 1"
        );
        let many: String = (0..200).map(|i| format!("{i}\n")).collect();
        let tail = log_tail(&many, "x");
        assert_eq!(tail.lines().count(), LOG_TAIL);
        assert!(tail.ends_with("199"));
    }

    #[test]
    fn options_split_flags_and_names() {
        let o = parse_options(&["--no-build".into(), "smoke".into(), "-v".into()]).unwrap();
        assert!(!o.build && o.verbose);
        assert_eq!(o.names, ["smoke"]);
        assert!(parse_options(&["--frobnicate".into()]).is_err());
    }
}
