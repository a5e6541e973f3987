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

/// Held for as long as this value lives.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another run of this plan holds the lock {path}{}", holder_text(*.holder))]
    Held { path: PathBuf, holder: Option<u32> },
    #[error("cannot open the lock file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn holder_text(holder: Option<u32>) -> String {
    match holder {
        Some(pid) => format!(" (process {pid})"),
        None => String::new(),
    }
}

/// What `check` reports about the lock without taking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockState {
    Free,
    /// No state directory yet: no run can hold the lock.
    NoStateDir,
    Held {
        holder: Option<u32>,
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
        std::fs::create_dir_all(state_dir).map_err(io_err)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    holder: read_holder(&mut file),
                    path,
                });
            }
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

/// Looks at the lock without taking it for longer than the look.
pub fn probe(state_dir: &Path, plan_name: &str) -> std::io::Result<LockState> {
    let path = lock_path(state_dir, plan_name);
    let mut file = match OpenOptions::new().read(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(if state_dir.is_dir() {
                LockState::Free
            } else {
                LockState::NoStateDir
            });
        }
        Err(e) => return Err(e),
    };
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            Ok(LockState::Free)
        }
        Err(TryLockError::WouldBlock) => Ok(LockState::Held {
            holder: read_holder(&mut file),
        }),
        Err(TryLockError::Error(e)) => Err(e),
    }
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
            Err(LockError::Held { holder, path }) => {
                assert_eq!(holder, Some(std::process::id()));
                assert_eq!(path, state.join("home.lock"));
            }
            other => panic!("expected Held, got {other:?}"),
        }
        assert_eq!(
            probe(&state, "home").unwrap(),
            LockState::Held {
                holder: Some(std::process::id())
            }
        );
        drop(first);
        assert_eq!(probe(&state, "home").unwrap(), LockState::Free);
        RunLock::acquire(&state, "home").unwrap();
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
        assert_eq!(probe(&state, "x").unwrap(), LockState::NoStateDir);
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
}
