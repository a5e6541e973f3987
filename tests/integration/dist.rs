//! What ships next to the binary for a real server: every subcommand's
//! help has examples, and the example hooks in examples/hooks.d are valid,
//! runnable scripts that keep the hook contract (docs/apply.md). The hooks
//! run here against stand-in `psql`, `systemctl` and `logger` commands, so
//! their logic is tested without a database.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use clap::CommandFactory;
use snapplan::system::hooks::{HookAction, HookCall, HookEnd, HookOutcome, list_hooks, run_hook};

use crate::support::{Test, repo_root};

fn hooks_dir() -> PathBuf {
    repo_root().join("examples/hooks.d")
}

#[test]
fn every_subcommand_help_has_examples() {
    let cli = snapplan::cmd::Cli::command();
    let mut missing = Vec::new();
    for sub in cli.get_subcommands() {
        let out = Test::new()
            .snapplan(&[sub.get_name(), "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{} --help failed", sub.get_name());
        let help = String::from_utf8_lossy(&out.stdout);
        if !help.contains("\nExamples:\n  snapplan ") {
            missing.push(sub.get_name().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "`snapplan CMD --help` has no Examples section for: {missing:?}"
    );
}

#[test]
fn example_hooks_are_executable_posix_sh_and_all_are_hooks() {
    let listing = list_hooks(&hooks_dir()).unwrap();
    assert!(
        listing.not_executable.is_empty(),
        "check would fail on these (chmod +x): {:?}",
        listing.not_executable
    );
    let names: Vec<_> = listing
        .hooks
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["00-log", "10-postgresql"]);
    for hook in &listing.hooks {
        let text = std::fs::read_to_string(hook).unwrap();
        assert!(text.starts_with("#!/bin/sh\n"), "{}", hook.display());
        let parsed = std::process::Command::new("sh")
            .arg("-n")
            .arg(hook)
            .status()
            .unwrap();
        assert!(parsed.success(), "sh -n {}", hook.display());
    }
}

#[test]
fn check_passes_the_example_hooks_directory() {
    let test = Test::new().file(
        "plan.yaml",
        &format!(
            "version: 1\nname: t\nstate_dir: {{dir}}/state\nhooks:\n  dir: {}\ntarget:\n  vg: backup\nvolumes:\n  - lv: vg0/root\n",
            hooks_dir().display()
        ),
    );
    let out = test
        .snapplan(&["check", "plan.yaml", "--format", "json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hooks = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "hooks")
        .expect("a hooks row");
    assert_eq!(hooks["status"], "pass", "{hooks}");
}

/// A directory of stand-in commands, each logging its arguments to
/// `calls.log`, plus the state a fake `systemctl` keeps.
struct Fakes {
    test: Test,
}

impl Fakes {
    fn new() -> Self {
        let fakes = Fakes { test: Test::new() };
        fakes.command("logger", "echo \"logger $*\" >> {dir}/calls.log");
        fakes.command(
            "psql",
            "echo \"psql $*\" >> {dir}/calls.log; exit \"$(cat {dir}/psql.exit 2>/dev/null || echo 0)\"",
        );
        fakes.command(
            "systemctl",
            "echo \"systemctl $*\" >> {dir}/calls.log
case $1 in
  is-active) [ \"$(cat {dir}/service)\" = active ] ;;
  stop) echo inactive > {dir}/service ;;
  start) [ ! -e {dir}/start.fails ] && echo active > {dir}/service ;;
esac",
        );
        fakes
    }

    fn command(&self, name: &str, body: &str) {
        let path = self.test.path(&format!("bin/{name}"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let body = body.replace("{dir}", &self.test.dir().display().to_string());
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn set(&self, file: &str, contents: &str) {
        std::fs::write(self.test.path(file), contents).unwrap();
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.test.path("calls.log")).unwrap_or_default()
    }

    /// Runs one example hook as apply does, with the fakes first in PATH.
    fn run(&self, hook: &str, action: HookAction, extra: &[(&str, &str)]) -> HookOutcome {
        let path = format!(
            "{}:{}",
            self.test.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut env = vec![
            ("PATH".to_string(), path),
            ("SNAPPLAN_PLAN".to_string(), "home-server".to_string()),
            (
                "SNAPPLAN_RUN_ID".to_string(),
                "20261127T030000Z-42".to_string(),
            ),
            ("PGHOOK_OS_USER".to_string(), String::new()),
            (
                "PGHOOK_STATE_DIR".to_string(),
                self.state_dir().display().to_string(),
            ),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        run_hook(&HookCall {
            path: &hooks_dir().join(hook),
            action,
            timeout: Duration::from_secs(30),
            env: &env,
        })
        .unwrap()
    }

    fn state_dir(&self) -> PathBuf {
        self.test.path("run")
    }

    fn marker(&self) -> PathBuf {
        self.state_dir().join("home-server.postgresql-stopped")
    }
}

fn assert_exit(outcome: &HookOutcome, code: i32) {
    assert_eq!(
        outcome.ended,
        HookEnd::Exited(code),
        "{:#?}",
        outcome.output
    );
}

#[test]
fn log_hook_logs_plan_and_run_for_both_actions() {
    let fakes = Fakes::new();
    assert_exit(&fakes.run("00-log", HookAction::Suspend, &[]), 0);
    assert_exit(&fakes.run("00-log", HookAction::Resume, &[]), 0);
    let calls = fakes.calls();
    let lines: Vec<_> = calls.lines().collect();
    assert_eq!(lines.len(), 2, "{calls}");
    assert!(lines[0].contains("plan=home-server run=20261127T030000Z-42 suspend"));
    assert!(lines[1].contains("resume"));
}

#[test]
fn hooks_refuse_an_unknown_action() {
    for hook in ["00-log", "10-postgresql"] {
        let out = std::process::Command::new(hooks_dir().join(hook))
            .arg("pause")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{hook}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
    }
}

#[test]
fn postgresql_checkpoint_mode_checkpoints_on_suspend_only() {
    let fakes = Fakes::new();
    assert_exit(&fakes.run("10-postgresql", HookAction::Suspend, &[]), 0);
    assert_eq!(
        fakes.calls(),
        "psql -X -q -v ON_ERROR_STOP=1 -d postgres -c CHECKPOINT\n"
    );
    assert_exit(&fakes.run("10-postgresql", HookAction::Resume, &[]), 0);
    assert_eq!(fakes.calls().lines().count(), 1, "resume ran something");
}

#[test]
fn postgresql_failed_checkpoint_fails_the_suspend() {
    let fakes = Fakes::new();
    fakes.set("psql.exit", "2");
    let outcome = fakes.run("10-postgresql", HookAction::Suspend, &[]);
    assert_exit(&outcome, 1);
    assert!(
        outcome
            .output
            .iter()
            .any(|l| l.contains("CHECKPOINT failed"))
    );
}

#[test]
fn postgresql_stop_mode_restarts_what_it_stopped_once() {
    let fakes = Fakes::new();
    fakes.set("service", "active\n");
    let stop = [("PGHOOK_MODE", "stop")];
    assert_exit(&fakes.run("10-postgresql", HookAction::Suspend, &stop), 0);
    assert!(fakes.marker().exists());
    assert_eq!(
        std::fs::read_to_string(fakes.test.path("service")).unwrap(),
        "inactive\n"
    );
    // Resume twice (apply, then a `snapplan recover`): one start only.
    assert_exit(&fakes.run("10-postgresql", HookAction::Resume, &stop), 0);
    assert_exit(&fakes.run("10-postgresql", HookAction::Resume, &stop), 0);
    let calls = fakes.calls();
    assert_eq!(
        calls
            .lines()
            .filter(|l| l.starts_with("systemctl"))
            .collect::<Vec<_>>(),
        [
            "systemctl is-active --quiet postgresql.service",
            "systemctl stop postgresql.service",
            "systemctl start postgresql.service",
        ],
        "{calls}"
    );
    assert!(calls.contains("CHECKPOINT"));
    assert!(!fakes.marker().exists());
}

#[test]
fn postgresql_stop_mode_leaves_a_stopped_server_alone() {
    let fakes = Fakes::new();
    fakes.set("service", "inactive\n");
    let stop = [("PGHOOK_MODE", "stop")];
    assert_exit(&fakes.run("10-postgresql", HookAction::Suspend, &stop), 0);
    assert_exit(&fakes.run("10-postgresql", HookAction::Resume, &stop), 0);
    let calls = fakes.calls();
    assert!(!calls.contains("psql"), "{calls}");
    assert!(!calls.contains("systemctl st"), "{calls}");
}

#[test]
fn postgresql_failed_start_fails_the_resume_and_keeps_the_note() {
    let fakes = Fakes::new();
    fakes.set("service", "active\n");
    let stop = [("PGHOOK_MODE", "stop")];
    assert_exit(&fakes.run("10-postgresql", HookAction::Suspend, &stop), 0);
    fakes.set("start.fails", "");
    assert_exit(&fakes.run("10-postgresql", HookAction::Resume, &stop), 1);
    assert!(fakes.marker().exists(), "recover must be able to retry");
    std::fs::remove_file(fakes.test.path("start.fails")).unwrap();
    assert_exit(&fakes.run("10-postgresql", HookAction::Resume, &stop), 0);
    assert!(!fakes.marker().exists());
}

#[test]
fn postgresql_rejects_an_unknown_mode() {
    let fakes = Fakes::new();
    let outcome = fakes.run(
        "10-postgresql",
        HookAction::Suspend,
        &[("PGHOOK_MODE", "pause")],
    );
    assert_exit(&outcome, 1);
    assert!(fakes.calls().is_empty());
}

/// A throw-away PostgreSQL cluster on a Unix socket in a temporary
/// directory, stopped when dropped (also when the test fails).
struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Postgres {
    /// `None` (the test says why) where there is no PostgreSQL server, no
    /// `postgres` user, or we are not root to act as it.
    fn start() -> Option<Postgres> {
        let bin = which::which("initdb")
            .ok()
            .and_then(|p| std::fs::canonicalize(p).ok())
            .and_then(|p| p.parent().map(PathBuf::from))
            .or_else(|| {
                let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
                    .ok()?
                    .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                    .filter(|b| b.join("initdb").exists())
                    .collect();
                dirs.sort();
                dirs.pop()
            });
        let as_postgres = |args: &[&str]| {
            std::process::Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .args(args)
                .output()
        };
        let Some(bin) = bin.filter(|_| rustix::process::geteuid().is_root()) else {
            eprintln!("SKIPPED: needs root and a PostgreSQL server (initdb)");
            return None;
        };
        if !as_postgres(&["true"]).is_ok_and(|o| o.status.success()) {
            eprintln!("SKIPPED: no `postgres` user");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let pg = std::process::Command::new("id")
            .args(["-u", "postgres"])
            .output()
            .unwrap();
        let pg_uid: u32 = String::from_utf8_lossy(&pg.stdout).trim().parse().unwrap();
        std::os::unix::fs::chown(dir.path(), Some(pg_uid), None).unwrap();
        let data = dir.path().join("data");
        let run = |args: &[&str]| {
            let out = as_postgres(args).unwrap();
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let initdb = bin.join("initdb");
        run(&[
            initdb.to_str().unwrap(),
            "-D",
            data.to_str().unwrap(),
            "-A",
            "trust",
            "-U",
            "postgres",
        ]);
        let server = Postgres { bin, dir };
        let options = format!(
            "-c listen_addresses='' -c unix_socket_directories={}",
            server.dir.path().display()
        );
        let log = server.dir.path().join("log");
        run(&[
            server.bin.join("pg_ctl").to_str().unwrap(),
            "-D",
            data.to_str().unwrap(),
            "-o",
            &options,
            "-l",
            log.to_str().unwrap(),
            "-w",
            "start",
        ]);
        Some(server)
    }

    fn socket_dir(&self) -> String {
        self.dir.path().display().to_string()
    }

    fn query(&self, sql: &str) -> String {
        let out = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--", "psql", "-XAt", "-d", "postgres"])
            .args(["-h", &self.socket_dir(), "-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

#[test]
fn postgresql_hook_checkpoints_a_real_server() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let checkpoint = "select checkpoint_lsn from pg_control_checkpoint()";
    let before = server.query(checkpoint);
    let env = [
        ("SNAPPLAN_PLAN".to_string(), "t".to_string()),
        ("PGHOST".to_string(), server.socket_dir()),
    ];
    let call = |action| {
        run_hook(&HookCall {
            path: &hooks_dir().join("10-postgresql"),
            action,
            timeout: Duration::from_secs(60),
            env: &env,
        })
        .unwrap()
    };
    assert_exit(&call(HookAction::Suspend), 0);
    assert_ne!(server.query(checkpoint), before, "no new checkpoint");
    assert_exit(&call(HookAction::Resume), 0);
    drop(server);
    // The server is gone: suspend must fail, not pretend.
    assert_exit(&call(HookAction::Suspend), 1);
}

/// `snapplan completions SHELL` and `snapplan man DIR`, for `cargo install`
/// users: hidden from --help (clap_complete's bash script still offers
/// them), and giving what the package ships.
#[test]
fn hidden_commands_write_completions_and_man_pages() {
    let t = Test::new();
    let out = t.snapplan(&["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let bash = String::from_utf8(out.stdout).unwrap();
    assert!(bash.contains("complete -F _snapplan"), "{bash:.200}");
    t.snapplan(&["completions", "zsh"]).assert().success();
    t.snapplan(&["completions", "fish"]).assert().success();
    t.snapplan(&["completions", "tcsh"]).assert().code(2);

    let out = t
        .snapplan(&["man"])
        .arg(t.path("pages"))
        .env("SOURCE_DATE_EPOCH", "1796169600")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let main = std::fs::read_to_string(t.path("pages/snapplan.1")).unwrap();
    assert!(main.contains("\n.TH SNAPPLAN 1 2026-12-02 "), "{main:.300}");
    let listed = String::from_utf8(out.stdout).unwrap();
    let visible: Vec<_> = snapplan::cmd::Cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect();
    for sub in &visible {
        assert!(
            t.path(&format!("pages/snapplan-{sub}.1")).is_file(),
            "no page for {sub}"
        );
    }
    assert_eq!(listed.lines().count(), visible.len() + 1, "{listed}");
    assert!(!t.path("pages/snapplan-man.1").exists());

    let help = t.snapplan(&["--help"]).output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(!help.contains("completions"), "hidden from --help");
}

/// Every environment variable the sources read is in the man pages'
/// ENVIRONMENT section (snapplan::cmd::dist::ENVIRONMENT), and nothing listed
/// there is read nowhere.
#[test]
fn man_pages_list_every_environment_variable_read() {
    let read = regex::Regex::new(
        r#"(?:env::var(?:_os)?\(\s*"([A-Z0-9_]+)"|from_env\(\s*"([A-Z0-9_]+)"|const [A-Z_]+_ENV: &str = "([A-Z0-9_]+)")"#,
    )
    .unwrap();
    let mut found = std::collections::BTreeSet::new();
    let mut dirs = vec![repo_root().join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                // What unit tests read is not snapplan's interface.
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                for c in read.captures_iter(code) {
                    let name = c.iter().skip(1).flatten().next().unwrap().as_str();
                    found.insert(name.to_string());
                }
            }
        }
    }
    let listed: std::collections::BTreeSet<String> = snapplan::cmd::dist::ENVIRONMENT
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    assert!(found.contains("SNAPPLAN_LOG") && found.contains("SNAPPLAN_TOOL_PATH"));
    assert_eq!(
        found, listed,
        "read by the sources vs listed in the man pages"
    );
}
