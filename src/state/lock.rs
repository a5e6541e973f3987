//! One run per plan at a time.
//!
//! Two overlapping runs of one plan would snapshot the same volumes twice and
//! fight over the backup LVs. The lock is an advisory `flock` on
//! `<state_dir>/<plan>.lock`: the kernel drops it when the process dies, even
//! by SIGKILL, so a crash never leaves a stale lock behind. The holder writes
//! its PID into the file so that a second run can say who holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::procfs::{self, OpenTarget};

/// Held for as long as this value lives.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// `holder` is the process holding it and `command` its command line,
    /// when they could be found (see [`RunLock::acquire`]).
    #[error(
        "another run of this plan holds the lock {path}{}",
        holder_text(*.holder, .command.as_deref())
    )]
    Held {
        path: PathBuf,
        holder: Option<u32>,
        command: Option<String>,
    },
    /// The state directory could be changed by someone other than root.
    #[error("refusing the state directory: {0}")]
    Untrusted(#[from] super::trust::Untrusted),
    /// The lock file is a symlink or not a regular file.
    #[error("refusing the lock file: {0}")]
    Refused(#[source] super::files::StateFileError),
    #[error("cannot open the lock file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn holder_text(holder: Option<u32>, command: Option<&str>) -> String {
    match (holder, command) {
        (Some(pid), Some(command)) if !command.is_empty() => {
            format!(" (process {pid}: {})", crate::printable::escape(command))
        }
        (Some(pid), _) => format!(" (process {pid})"),
        (None, _) => " (its holder could not be found in /proc)".to_string(),
    }
}

/// How long a run locked out looks for the holder's PID: the winner of a
/// race may not have written it yet (nor /proc shown it).
const HOLDER_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// What a look at the lock found, without taking it (for `check`, which
/// reports a held lock, and `report`, which tells a run going on from a
/// dead one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockState {
    /// The lock file exists and nobody holds it.
    Free,
    /// No lock file (or no state directory yet): no run can hold it.
    NoLockFile,
    Held {
        /// The process that took the lock, from /proc/locks (or the pid the
        /// holder wrote into the file).
        pid: Option<u32>,
        /// Who holds it, in words: `pid 123 (snapplan apply nightly.yaml)`,
        /// or the processes that inherited it.
        holder: Option<String>,
    },
}

pub fn lock_path(state_dir: &Path, plan_name: &str) -> PathBuf {
    state_dir.join(format!("{plan_name}.lock"))
}

impl RunLock {
    /// Takes the lock without waiting: a cron job that finds the previous
    /// run still going must say so at once, not queue up behind it.
    pub fn acquire(state_dir: &Path, plan_name: &str) -> Result<RunLock, LockError> {
        let path = lock_path(state_dir, plan_name);
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        // Everyone who changes anything (apply, recover, restore) takes the
        // lock first: the state directory is judged here, before anything
        // in it is read or acted on.
        super::trust::check_dir(state_dir)?;
        super::files::create_dir(state_dir).map_err(io_err)?;
        // Not through a symlink: root truncates this file below.
        let mut file = super::files::open(
            &path,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false),
        )
        .map_err(|e| match e {
            super::files::StateFileError::Io { source, .. } => io_err(source),
            refused => LockError::Refused(refused),
        })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => match wait_for_holder(&mut file) {
                Ok(Some(pid)) => {
                    return Err(LockError::Held {
                        holder: Some(pid),
                        command: Some(procfs::cmdline(Path::new("/proc"), pid)),
                        path,
                    });
                }
                Ok(None) => {
                    return Err(LockError::Held {
                        holder: None,
                        command: None,
                        path,
                    });
                }
                // The holder let go while we looked: the lock is ours.
                Err(Released) => {}
            },
            Err(TryLockError::Error(source)) => return Err(io_err(source)),
        }
        file.set_len(0).map_err(io_err)?;
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        writeln!(file, "{}", std::process::id()).map_err(io_err)?;
        file.sync_data().map_err(io_err)?;
        Ok(RunLock { file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Clear the PID so nobody blames a finished process; the lock itself
        // goes with the file descriptor.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// The lock was released (and taken by us) while looking for its holder.
struct Released;

/// The running process that holds the lock on `file`, looked for during
/// [`HOLDER_WAIT`] at most: a run that lost a race by a moment may look
/// before the winner wrote its PID (or while the file still holds the PID
/// of a killed run), so the kernel's word (/proc/locks) comes first, then
/// the PID written in the file if that process is running and has the file
/// open. Zombies and vanished processes are never named. `Err` when the
/// lock could be taken meanwhile (it is then held through `file`).
fn wait_for_holder(file: &mut File) -> Result<Option<u32>, Released> {
    let deadline = std::time::Instant::now() + HOLDER_WAIT;
    loop {
        if let Some(pid) = running_holder(file) {
            return Ok(Some(pid));
        }
        if file.try_lock().is_ok() {
            return Err(Released);
        }
        if std::time::Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn running_holder(file: &mut File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let proc = Path::new("/proc");
    let me = std::process::id();
    let meta = file.metadata().ok()?;
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    if let Some(pid) = lock_holders(&locks, meta.dev(), meta.ino())
        .into_iter()
        .find(|pid| procfs::is_running(proc, *pid))
    {
        return Some(pid);
    }
    let written = read_holder(file).filter(|pid| *pid != me && procfs::is_running(proc, *pid))?;
    let target = OpenTarget::File {
        dev: meta.dev(),
        ino: meta.ino(),
    };
    procfs::pids_with_open(proc, target)
        .contains(&written)
        .then_some(written)
}

/// Looks at the lock of `plan_name` without taking it for longer than the
/// look. Creates nothing.
pub fn probe(state_dir: &Path, plan_name: &str) -> std::io::Result<LockState> {
    probe_file(&lock_path(state_dir, plan_name))
}

/// Tries a shared lock for an instant: it conflicts only with apply's
/// exclusive one, so two checks never report each other.
pub fn probe_file(path: &Path) -> std::io::Result<LockState> {
    let mut file = match super::files::open_read(path) {
        Ok(file) => file,
        Err(e) if e.is_not_found() => return Ok(LockState::NoLockFile),
        Err(super::files::StateFileError::Io { source, .. }) => return Err(source),
        Err(refused) => return Err(std::io::Error::other(refused.to_string())),
    };
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            Ok(LockState::Free)
        }
        Err(TryLockError::WouldBlock) => Ok(holder_of(&mut file)),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Who holds the lock: the locking pid from /proc/locks when it still runs,
/// else the processes that have the file open (a child inherits a lock with
/// the descriptor and keeps it after its parent exited).
fn holder_of(file: &mut File) -> LockState {
    use std::os::unix::fs::MetadataExt;
    let written = read_holder(file);
    let Ok(meta) = file.metadata() else {
        return LockState::Held {
            pid: written,
            holder: written.map(describe_pid),
        };
    };
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let locker = lock_holders(&locks, meta.dev(), meta.ino())
        .into_iter()
        .next();
    let pid = locker.or(written);
    if let Some(pid) = locker.filter(|pid| procfs::is_running(Path::new("/proc"), *pid)) {
        return LockState::Held {
            pid: Some(pid),
            holder: Some(describe_pid(pid)),
        };
    }
    let me = std::process::id();
    let file = OpenTarget::File {
        dev: meta.dev(),
        ino: meta.ino(),
    };
    let openers: Vec<String> = procfs::pids_with_open(Path::new("/proc"), file)
        .into_iter()
        .filter(|pid| *pid != me && procfs::is_running(Path::new("/proc"), *pid))
        .map(describe_pid)
        .collect();
    let holder = match (openers.is_empty(), locker) {
        (false, _) => Some(openers.join(", ")),
        (true, Some(pid)) => Some(format!("pid {pid} (no longer running)")),
        (true, None) => written.map(describe_pid),
    };
    LockState::Held { pid, holder }
}

fn describe_pid(pid: u32) -> String {
    let cmdline = procfs::cmdline(Path::new("/proc"), pid);
    if cmdline.is_empty() {
        format!("pid {pid}")
    } else {
        format!("pid {pid} ({cmdline})")
    }
}

/// Pids holding a lock on the file (`dev`, `ino`), from /proc/locks lines
/// such as `1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF` (major and
/// minor in hex). Waiters (`->` lines) do not hold it.
pub fn lock_holders(proc_locks: &str, dev: u64, ino: u64) -> Vec<u32> {
    let wanted = format!(
        "{:02x}:{:02x}:{ino}",
        rustix::fs::major(dev as _),
        rustix::fs::minor(dev as _)
    );
    proc_locks
        .lines()
        .filter(|line| !line.contains("->"))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // id: KIND ADVISORY MODE PID DEV:INO START END
            (fields.get(5) == Some(&wanted.as_str())).then(|| fields.get(4)?.parse().ok())?
        })
        .collect()
}

fn read_holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn second_acquire_fails_naming_the_holder_and_succeeds_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let first = RunLock::acquire(&state, "home").unwrap();
        match RunLock::acquire(&state, "home") {
            Err(LockError::Held { holder, path, .. }) => {
                assert_eq!(holder, Some(std::process::id()));
                assert_eq!(path, state.join("home.lock"));
            }
            other => panic!("expected Held, got {other:?}"),
        }
        assert!(matches!(
            probe(&state, "home").unwrap(),
            LockState::Held { pid: Some(pid), .. } if pid == std::process::id()
        ));
        drop(first);
        assert_eq!(probe(&state, "home").unwrap(), LockState::Free);
        RunLock::acquire(&state, "home").unwrap();
    }

    #[test]
    fn a_run_locked_out_names_the_kernels_holder_not_a_stale_pid_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let lock = lock_path(dir.path(), "p");
        // A killed run left its PID; the run holding the lock now has not
        // written its own yet (flock(1) writes nothing).
        std::fs::write(&lock, "4194303\n").unwrap();
        let mut child = std::process::Command::new("flock")
            .arg(&lock)
            .args(["sleep", "30"])
            .spawn()
            .expect("flock(1) from util-linux");
        let flock_pid = child.id();
        let mut seen = None;
        for _ in 0..200 {
            match RunLock::acquire(dir.path(), "p") {
                Err(LockError::Held {
                    holder, command, ..
                }) => {
                    seen = Some((holder, command));
                    break;
                }
                // flock(1) has not taken it yet.
                Ok(taken) => drop(taken),
                Err(e) => panic!("{e}"),
            }
            std::fs::write(&lock, "4194303\n").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        let (holder, command) = seen.expect("flock(1) never took the lock");
        assert_eq!(holder, Some(flock_pid));
        assert!(command.unwrap().contains("sleep 30"));
    }

    #[test]
    fn plans_lock_independently() {
        let dir = tempfile::tempdir().unwrap();
        let _a = RunLock::acquire(dir.path(), "a").unwrap();
        RunLock::acquire(dir.path(), "b").unwrap();
    }

    #[test]
    fn probe_without_state_dir_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("missing");
        assert_eq!(probe(&state, "x").unwrap(), LockState::NoLockFile);
        assert!(!state.exists());
    }

    #[test]
    fn lock_of_a_dead_process_is_free() {
        let dir = tempfile::tempdir().unwrap();
        // A child takes the lock and is killed with SIGKILL: the kernel
        // releases the flock, so the next run may start.
        let lock = lock_path(dir.path(), "p");
        // flock(1) forks: its `sleep` child inherits the lock, so kill the
        // whole process group as a crash would end the whole run.
        let mut child = std::process::Command::new("flock")
            .arg(&lock)
            .args(["sleep", "300"])
            .process_group(0)
            .spawn()
            .expect("flock(1) from util-linux");
        let held = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            matches!(probe(dir.path(), "p"), Ok(LockState::Held { .. }))
        });
        assert!(held, "child never took the lock");
        let group = rustix::process::Pid::from_child(&child);
        rustix::process::kill_process_group(group, rustix::process::Signal::KILL).unwrap();
        child.wait().unwrap();
        // SIGKILL is delivered asynchronously: `sleep` (not our child, so
        // not waited for) may take a moment to die and close the file.
        let mut last = None;
        for _ in 0..500 {
            match RunLock::acquire(dir.path(), "p") {
                Ok(_) => return,
                Err(e) => last = Some(e),
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the lock outlived its killed holder: {last:?}");
    }

    #[test]
    fn lock_holders_match_device_and_inode_and_skip_waiters() {
        let dev = rustix::fs::makedev(0xfd, 0x01) as u64;
        let locks = "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF\n\
                     1: -> FLOCK  ADVISORY  WRITE 999 fd:01:5678 0 EOF\n\
                     2: POSIX  ADVISORY  READ 77 fd:01:9999 0 EOF\n";
        assert_eq!(lock_holders(locks, dev, 5678), vec![1234]);
        assert_eq!(lock_holders(locks, dev, 1), Vec::<u32>::new());
    }

    #[test]
    fn missing_state_dir_means_no_lock_and_nothing_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/nightly.lock");
        assert!(matches!(probe_file(&path).unwrap(), LockState::NoLockFile));
        assert!(!dir.path().join("state").exists());
    }

    #[test]
    fn a_held_lock_is_seen_and_its_holder_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nightly.lock");
        let holder = File::create(&path).unwrap();
        assert!(matches!(probe_file(&path).unwrap(), LockState::Free));
        holder.lock().unwrap();
        match probe_file(&path).unwrap() {
            LockState::Held { holder, .. } => {
                let me = std::process::id().to_string();
                let holder = holder.expect("holder found in /proc/locks");
                assert!(holder.contains(&me), "{holder}");
            }
            other => panic!("expected held, got {other:?}"),
        }
    }

    #[test]
    fn a_lock_inherited_by_a_child_names_the_child() {
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nightly.lock");
        std::fs::write(&path, "").unwrap();
        // sh takes the lock on fd 9, starts sleep (which inherits fd 9) and
        // exits: the lock stays held by sleep alone.
        let script = format!(
            "exec 9<'{}'; flock -x 9 || exit 3; sleep 30 >/dev/null 2>&1 & echo $!",
            path.display()
        );
        let Ok(out) = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
        else {
            return;
        };
        if !out.status.success() {
            return; // no flock(1) on this machine
        }
        let child: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        // The background child is a forked sh until it has exec'd sleep:
        // under load that can take a moment (the test was flaky without).
        let comm = format!("/proc/{child}/comm");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read_to_string(&comm).map_or(true, |c| c.trim() != "sleep")
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let fact = probe_file(&path).unwrap();
        let _ = Command::new("kill").arg(child.to_string()).status();
        match fact {
            LockState::Held { holder, .. } => {
                let holder = holder.expect("holder named");
                assert!(
                    holder.contains(&format!("pid {child} (sleep 30)")),
                    "{holder}"
                );
            }
            other => panic!("expected held, got {other:?}"),
        }
    }

    #[test]
    fn a_lock_file_symlinked_to_a_root_file_is_refused_and_the_file_kept() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("shadow");
        std::fs::write(&victim, "root:x:0:0\n").unwrap();
        std::os::unix::fs::symlink(&victim, lock_path(dir.path(), "p")).unwrap();
        let err = RunLock::acquire(dir.path(), "p").unwrap_err();
        assert!(matches!(err, LockError::Refused(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root:x:0:0\n");
        assert!(probe(dir.path(), "p").is_err());
    }

    #[test]
    fn a_world_writable_state_dir_is_refused_before_anything_is_created() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = RunLock::acquire(&state, "p").unwrap_err();
        assert!(matches!(err, LockError::Untrusted(_)), "{err}");
        assert!(err.to_string().contains("chmod go-w"), "{err}");
        assert!(!lock_path(&state, "p").exists());
    }

    #[test]
    fn a_new_state_dir_is_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("var/lib/snapplan");
        let _lock = RunLock::acquire(&state, "p").unwrap();
        let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
