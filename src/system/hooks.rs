//! The suspend/resume hook adapter: finds the hook scripts of a plan and runs
//! one of them with a deadline.
//!
//! A hook that hangs must not keep a database suspended for ever, and a hook
//! that forks must not leave children behind: each hook runs in its own
//! process group, and on timeout the whole group is sent SIGTERM, then SIGKILL.

use crate::state::trust::{self, Untrusted};
use std::ffi::OsString;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};

/// Which way a hook is called: the first argument it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HookAction {
    Suspend,
    Resume,
}

impl HookAction {
    pub fn as_str(self) -> &'static str {
        match self {
            HookAction::Suspend => "suspend",
            HookAction::Resume => "resume",
        }
    }
}

/// What the hooks directory holds, as `check` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookListing {
    /// Executable regular files, in the order `suspend` runs them (byte order
    /// of their names, like run-parts); `resume` runs them in reverse.
    pub hooks: Vec<PathBuf>,
    /// Regular files that look like hooks but lack the execute bit: almost
    /// always a mistake (a forgotten `chmod +x`), so `check` fails on them.
    pub not_executable: Vec<PathBuf>,
}

/// One entry of a hooks directory, as `check` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEntry {
    pub name: String,
    pub kind: HookKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// A regular file (or a symlink to one), with its permission bits.
    File {
        mode: u32,
    },
    DanglingLink,
    Directory,
    Other,
}

/// Why a hooks directory could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirProblem {
    Missing,
    NotADirectory,
    Unreadable(String),
}

/// Every entry of `dir` in the order `suspend` runs hooks (byte order of
/// the names, like run-parts), leftovers included: check says what each
/// is, [`list_hooks`] picks the hooks from the same scan.
pub fn scan(dir: &Path) -> Result<Vec<HookEntry>, DirProblem> {
    let meta = match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(DirProblem::Missing),
        Err(e) => return Err(DirProblem::Unreadable(e.to_string())),
        Ok(meta) => meta,
    };
    if !meta.is_dir() {
        return Err(DirProblem::NotADirectory);
    }
    read_entries(dir).map_err(|e| DirProblem::Unreadable(e.to_string()))
}

fn read_entries(dir: &Path) -> std::io::Result<Vec<HookEntry>> {
    let mut names: Vec<OsString> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort();
    Ok(names
        .into_iter()
        .map(|name| {
            // Follow symlinks: a hook may well be a link to a packaged script.
            let kind = match std::fs::metadata(dir.join(&name)) {
                Ok(m) if m.is_file() => HookKind::File {
                    mode: m.permissions().mode(),
                },
                Ok(m) if m.is_dir() => HookKind::Directory,
                Ok(_) => HookKind::Other,
                Err(_) => HookKind::DanglingLink,
            };
            HookEntry {
                name: name.to_string_lossy().into_owned(),
                kind,
            }
        })
        .collect())
}

/// What makes the hooks of `dir` unfit to run as root: the directory (or a
/// parent), or a hook (or what its symlink leads to), owned by another user
/// or writable by group or others. Empty when all is root's alone.
pub fn untrusted(dir: &Path) -> Vec<Untrusted> {
    let mut found = Vec::new();
    if let Err(e) = trust::check_dir(dir) {
        found.push(e);
    }
    let Ok(entries) = read_entries(dir) else {
        return found;
    };
    for entry in entries {
        if is_ignored_name(&entry.name) || !matches!(entry.kind, HookKind::File { .. }) {
            continue;
        }
        let path = dir.join(&entry.name);
        let target = std::fs::canonicalize(&path).unwrap_or(path);
        if let Err(e) = trust::check_file(&target)
            && !found.contains(&e)
        {
            found.push(e);
        }
    }
    found
}

/// Lists the hooks in `dir`. Editor and package-manager leftovers (hidden
/// files, `*~`, `*.dpkg-old`, `*.rpmnew`, ...) are ignored so that a stray
/// backup copy of a hook never runs twice. Refuses (an error naming the
/// file and the fix) when anything in [`untrusted`] is found: root never
/// runs what another user could have written.
pub fn list_hooks(dir: &Path) -> std::io::Result<HookListing> {
    if let Some(first) = untrusted(dir).into_iter().next() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            first.to_string(),
        ));
    }
    let mut listing = HookListing::default();
    for entry in read_entries(dir)? {
        if is_ignored_name(&entry.name) {
            continue;
        }
        if let HookKind::File { mode } = entry.kind {
            let path = dir.join(&entry.name);
            if mode & 0o111 != 0 {
                listing.hooks.push(path);
            } else {
                listing.not_executable.push(path);
            }
        }
    }
    Ok(listing)
}

/// A name apply never runs as a hook: hidden files and editor or
/// package-manager leftovers.
pub fn is_ignored_name(name: &str) -> bool {
    const LEFTOVER_SUFFIXES: [&str; 8] = [
        "~",
        ".swp",
        ".bak",
        ".orig",
        ".dpkg-old",
        ".dpkg-dist",
        ".dpkg-new",
        ".rpmnew",
    ];
    name.starts_with('.')
        || name.ends_with(".rpmsave")
        || LEFTOVER_SUFFIXES
            .iter()
            .any(|suffix| name.ends_with(suffix))
}

/// One hook invocation.
#[derive(Debug, Clone)]
pub struct HookCall<'a> {
    pub path: &'a Path,
    pub action: HookAction,
    pub timeout: Duration,
    /// Extra environment, e.g. `SNAPPLAN_PLAN` and `SNAPPLAN_RUN_ID`;
    /// `SNAPPLAN_PHASE` (the action) is always set.
    pub env: &'a [(String, String)],
}

/// How a hook ended, with everything it printed (stdout and stderr
/// interleaved line by line as they arrived), for the run log.
#[derive(Debug, Clone)]
pub struct HookOutcome {
    pub ended: HookEnd,
    pub output: Vec<String>,
    pub duration: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookEnd {
    Exited(i32),
    KilledBySignal(i32),
    /// The deadline passed; the process group was killed.
    TimedOut,
}

impl HookOutcome {
    pub fn succeeded(&self) -> bool {
        self.ended == HookEnd::Exited(0)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot start hook {path}: {source}")]
pub struct HookSpawnError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// How long a timed-out hook's process group gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);
/// How much of a hook's output the run log keeps; a chatty hook must not
/// fill the log or memory.
const OUTPUT_LIMIT: u64 = 1 << 20;

/// Runs one hook to its end or its deadline. Never leaves the hook's process
/// group running past the deadline plus [`KILL_GRACE`].
///
/// A hook that ends in time keeps whatever it started: a `resume` hook may
/// well start a service in the background, and killing that would leave the
/// service down. Its output goes to an unlinked temporary file, not a pipe,
/// so such a background process never blocks on a full pipe or dies of
/// SIGPIPE when snapplan stops reading.
pub fn run_hook(call: &HookCall<'_>) -> Result<HookOutcome, HookSpawnError> {
    let started = Instant::now();
    let spawn_err = |source| HookSpawnError {
        path: call.path.to_path_buf(),
        source,
    };
    let mut output_file = tempfile::tempfile().map_err(spawn_err)?;
    let stdout = output_file.try_clone().map_err(spawn_err)?;
    let stderr = output_file.try_clone().map_err(spawn_err)?;
    let mut child = Command::new(call.path)
        .arg(call.action.as_str())
        .env("SNAPPLAN_PHASE", call.action.as_str())
        .envs(call.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .map_err(spawn_err)?;
    let group = Pid::from_child(&child);

    let deadline = started + call.timeout;
    let ended = loop {
        match child.try_wait() {
            Ok(Some(status)) => break end_of(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            // Past the deadline, or the child cannot be waited for: either
            // way the hook is not trusted to finish.
            Ok(None) | Err(_) => {
                terminate_group(group, &mut child);
                break HookEnd::TimedOut;
            }
        }
    };
    Ok(HookOutcome {
        ended,
        output: read_output(&mut output_file),
        duration: started.elapsed(),
    })
}

fn read_output(file: &mut std::fs::File) -> Vec<String> {
    let mut text = Vec::new();
    if file.seek(SeekFrom::Start(0)).is_err() {
        return vec!["(the hook's output could not be read)".to_string()];
    }
    let mut limited = file.take(OUTPUT_LIMIT + 1);
    if limited.read_to_end(&mut text).is_err() {
        return vec!["(the hook's output could not be read)".to_string()];
    }
    let truncated = text.len() as u64 > OUTPUT_LIMIT;
    text.truncate(OUTPUT_LIMIT as usize);
    let mut lines: Vec<String> = String::from_utf8_lossy(&text)
        .lines()
        .map(|line| line.trim_end().to_string())
        .collect();
    if truncated {
        lines.push(format!("(output cut after {} MiB)", OUTPUT_LIMIT >> 20));
    }
    lines
}

fn end_of(status: ExitStatus) -> HookEnd {
    match (status.code(), status.signal()) {
        (Some(code), _) => HookEnd::Exited(code),
        (None, Some(signal)) => HookEnd::KilledBySignal(signal),
        (None, None) => HookEnd::Exited(-1),
    }
}

/// SIGTERM to the whole group, SIGKILL after the grace period: a timed-out
/// hook's helpers (a `psql` it started, a `sleep`) must not linger holding
/// locks in the service it was suspending.
fn terminate_group(group: Pid, child: &mut std::process::Child) {
    let _ = kill_process_group(group, Signal::TERM);
    let grace_end = Instant::now() + KILL_GRACE;
    while Instant::now() < grace_end {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = kill_process_group(group, Signal::KILL);
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &Path, name: &str, body: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn call(path: &Path, timeout: Duration) -> HookCall<'_> {
        HookCall {
            path,
            action: HookAction::Suspend,
            timeout,
            env: &[],
        }
    }

    #[test]
    fn lists_executables_in_name_order_and_reports_forgotten_chmod() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "20-web", "true", 0o755);
        script(dir.path(), "10-db", "true", 0o700);
        script(dir.path(), "15-notes", "true", 0o644);
        script(dir.path(), "10-db~", "true", 0o755);
        script(dir.path(), ".hidden", "true", 0o755);
        script(dir.path(), "30-x.dpkg-old", "true", 0o755);
        std::fs::create_dir(dir.path().join("40-subdir")).unwrap();
        let listing = list_hooks(dir.path()).unwrap();
        let names: Vec<_> = listing
            .hooks
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["10-db", "20-web"]);
        assert_eq!(listing.not_executable, [dir.path().join("15-notes")]);
    }

    #[test]
    fn missing_directory_is_an_error() {
        assert!(list_hooks(Path::new("/nonexistent/snapplan-hooks")).is_err());
    }

    #[test]
    fn passes_action_and_environment_and_captures_both_streams() {
        let dir = tempfile::tempdir().unwrap();
        let hook = script(
            dir.path(),
            "h",
            "echo \"arg=$1 phase=$SNAPPLAN_PHASE plan=$SNAPPLAN_PLAN\"; echo oops >&2; exit 3",
            0o755,
        );
        let env = [("SNAPPLAN_PLAN".to_string(), "home".to_string())];
        let outcome = run_hook(&HookCall {
            path: &hook,
            action: HookAction::Resume,
            timeout: Duration::from_secs(10),
            env: &env,
        })
        .unwrap();
        assert_eq!(outcome.ended, HookEnd::Exited(3));
        assert!(!outcome.succeeded());
        assert!(
            outcome
                .output
                .contains(&"arg=resume phase=resume plan=home".to_string())
        );
        assert!(outcome.output.contains(&"oops".to_string()));
    }

    #[test]
    fn timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        // The hook starts a grandchild that would outlive a plain kill.
        let hook = script(
            dir.path(),
            "slow",
            &format!("sleep 300 & echo $! > {}; wait", pidfile.display()),
            0o755,
        );
        let outcome = run_hook(&call(&hook, Duration::from_millis(300))).unwrap();
        assert_eq!(outcome.ended, HookEnd::TimedOut);
        let grandchild: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Give the kernel a moment to reap it via init.
        let gone = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            !Path::new(&format!("/proc/{grandchild}")).exists()
                || std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
                    .map(|s| s.contains(") Z "))
                    .unwrap_or(true)
        });
        assert!(gone, "grandchild {grandchild} survived the hook's timeout");
    }

    #[test]
    fn what_a_hook_starts_in_the_background_survives_when_it_ends_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("daemon.pid");
        // Like `service start` in a resume hook: the daemon stays in the
        // hook's process group and keeps writing to the hook's stdout.
        let hook = script(
            dir.path(),
            "resume-service",
            &format!(
                "(while true; do echo tick; sleep 0.05; done) & echo $! > {}; echo started",
                pidfile.display()
            ),
            0o755,
        );
        let outcome = run_hook(&call(&hook, Duration::from_secs(10))).unwrap();
        assert!(outcome.succeeded());
        assert!(outcome.output.contains(&"started".to_string()));
        let daemon: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let alive = std::fs::read_to_string(format!("/proc/{daemon}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
        let _ = kill_process_group(Pid::from_raw(daemon).unwrap(), Signal::KILL);
        let _ = rustix::process::kill_process(Pid::from_raw(daemon).unwrap(), Signal::KILL);
        assert!(alive, "the hook's background process was killed");
    }

    #[test]
    fn hook_that_ignores_sigterm_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let hook = script(dir.path(), "stubborn", "trap '' TERM; sleep 300", 0o755);
        let started = Instant::now();
        let outcome = run_hook(&call(&hook, Duration::from_millis(100))).unwrap();
        assert_eq!(outcome.ended, HookEnd::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(60));
    }

    #[test]
    fn unstartable_hook_names_the_path() {
        let err = run_hook(&call(
            Path::new("/nonexistent/hook"),
            Duration::from_secs(1),
        ))
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/hook"));
    }
}
