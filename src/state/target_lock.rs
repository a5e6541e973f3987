//! A backup target shared by several plans: one VG (or one iSCSI target)
//! that every plan on the host may back up into at the same time.
//!
//! Each run that uses a target holds a *shared* `flock` on
//! `<dir>/vg-<vg>.lock` (`iscsi-<iqn>.lock`) from before its first target
//! step to its end; `<dir>` is host-wide ([`crate::plan::DEFAULT_TARGET_LOCK_DIR`]),
//! whatever each plan's `state_dir`. Only the *last* user deactivates,
//! exports or logs out: at that step the run releases its shared lock and
//! tries the exclusive one without waiting. When that fails, another run
//! still holds the target, and it is that run's job; the run that skipped
//! keeps no lock on the target any more (it is done with it), so the
//! other run, at its own last step, finds itself alone. A winner keeps the
//! exclusive lock to its end, so a run starting meanwhile waits before
//! activating what is being deactivated.
//!
//! The kernel drops a flock with its process, even on SIGKILL: `recover`
//! of a dead run tries the exclusive lock too, and does the dead run's
//! deactivate only when nobody else holds the target.
//!
//! Each holder writes its plan name into `<lock>.users/<pid>`, so the
//! others can say who uses the target; who *holds* it comes from
//! /proc/locks (a stale users file of a dead process names nobody).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::procfs;

/// Something several plans' runs may use at once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resource {
    /// The backup VG.
    Vg(String),
    /// An iSCSI target, by IQN (one session per target and host).
    Iscsi(String),
}

impl Resource {
    /// The lock file's name: `vg-backup.lock`, `iscsi-iqn.2026-01.x:y.lock`;
    /// anything but `[A-Za-z0-9._:-]` becomes `_`, so a name is never a path.
    pub fn file_name(&self) -> String {
        let (kind, name) = match self {
            Resource::Vg(vg) => ("vg", vg),
            Resource::Iscsi(iqn) => ("iscsi", iqn),
        };
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{kind}-{safe}.lock")
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resource::Vg(vg) => write!(f, "VG {vg}"),
            Resource::Iscsi(iqn) => write!(f, "iSCSI target {iqn}"),
        }
    }
}

/// The targets `plan` uses, in the order runs lock them (always the same,
/// though shared locks cannot deadlock): its iSCSI target, then its VG.
pub fn resources_of(plan: &crate::plan::Plan) -> Vec<Resource> {
    let mut out = Vec::new();
    if let Some(iscsi) = &plan.target.iscsi {
        out.push(Resource::Iscsi(iscsi.iqn.clone()));
    }
    out.push(Resource::Vg(plan.target.vg.clone()));
    out
}

/// Another run holding a target's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub pid: u32,
    /// The plan it runs, from its users file (absent for a process that is
    /// not snapplan, e.g. an admin's `flock`).
    pub plan: Option<String>,
}

impl std::fmt::Display for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.plan {
            Some(plan) => write!(f, "plan {plan} (pid {})", self.pid),
            None => {
                let cmdline = procfs::cmdline(Path::new("/proc"), self.pid);
                if cmdline.is_empty() {
                    write!(f, "pid {}", self.pid)
                } else {
                    write!(f, "pid {} ({cmdline})", self.pid)
                }
            }
        }
    }
}

/// The users in words: `plan c (pid 12), plan d (pid 14)`, or
/// `another process` when /proc/locks named none.
pub fn describe(users: &[User]) -> String {
    if users.is_empty() {
        return "another process".into();
    }
    users
        .iter()
        .map(User::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, thiserror::Error)]
pub enum TargetLockError {
    #[error("refusing the target lock directory: {0}")]
    Untrusted(#[from] super::trust::Untrusted),
    #[error("refusing the target lock file: {0}")]
    Refused(#[source] super::files::StateFileError),
    #[error(
        "{resource} is being deactivated by {holders} and was not free after {}s: \
         try again when that run has finished",
        .waited.as_secs()
    )]
    Busy {
        resource: Resource,
        holders: String,
        waited: Duration,
    },
    #[error("cannot use the target lock {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Shared,
    Exclusive,
    /// Skipped the last step: done with the target, holds nothing.
    Released,
}

/// One run's hold on one target.
#[derive(Debug)]
pub struct TargetLock {
    resource: Resource,
    file: File,
    path: PathBuf,
    users_file: PathBuf,
    mode: Mode,
}

/// What trying to become the target's only user found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastUser {
    /// Nobody else holds it: this run holds it exclusively now.
    Yes,
    /// These runs still use it; this run holds nothing on it any more.
    No(Vec<User>),
}

pub fn lock_path(dir: &Path, resource: &Resource) -> PathBuf {
    dir.join(resource.file_name())
}

fn users_dir(dir: &Path, resource: &Resource) -> PathBuf {
    dir.join(format!("{}.users", resource.file_name()))
}

fn open_lock(dir: &Path, resource: &Resource) -> Result<(File, PathBuf), TargetLockError> {
    let path = lock_path(dir, resource);
    super::trust::check_dir(dir)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TargetLockError::Io { path, source }
    };
    super::files::create_dir(dir).map_err(io(dir))?;
    super::files::create_dir(&users_dir(dir, resource)).map_err(io(dir))?;
    let file = super::files::open(
        &path,
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
    )
    .map_err(|e| match e {
        super::files::StateFileError::Io { source, .. } => TargetLockError::Io {
            path: path.clone(),
            source,
        },
        refused => TargetLockError::Refused(refused),
    })?;
    Ok((file, path))
}

impl TargetLock {
    /// Takes the shared lock, waiting at most `wait` while a run that
    /// deactivates the target holds it exclusively, and says who we are.
    pub fn acquire_shared(
        dir: &Path,
        resource: &Resource,
        plan: &str,
        wait: Duration,
    ) -> Result<TargetLock, TargetLockError> {
        let (file, path) = open_lock(dir, resource)?;
        let started = Instant::now();
        let mut said = false;
        loop {
            match file.try_lock_shared() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let holders = describe(&holders(dir, resource, &file));
                    if started.elapsed() >= wait {
                        return Err(TargetLockError::Busy {
                            resource: resource.clone(),
                            holders,
                            waited: wait,
                        });
                    }
                    if !said {
                        tracing::info!(
                            "{resource} is being deactivated by {holders}: waiting for it"
                        );
                        said = true;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(TryLockError::Error(source)) => {
                    return Err(TargetLockError::Io { path, source });
                }
            }
        }
        let users_file = users_dir(dir, resource).join(std::process::id().to_string());
        write_users_file(&users_file, plan).map_err(|source| TargetLockError::Io {
            path: users_file.clone(),
            source,
        })?;
        Ok(TargetLock {
            resource: resource.clone(),
            file,
            path,
            users_file,
            mode: Mode::Shared,
        })
    }

    pub fn resource(&self) -> &Resource {
        &self.resource
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this run holds the target alone (after [`Self::try_last_user`]
    /// said yes).
    pub fn is_exclusive(&self) -> bool {
        self.mode == Mode::Exclusive
    }

    /// Whether this run left the target to another run at its last step.
    pub fn left_to_others(&self) -> bool {
        self.mode == Mode::Released
    }

    /// Done with the target without putting it away (its logout is left
    /// to the run that still uses the VG on it): holds nothing from here.
    pub fn release(&mut self) {
        if self.mode != Mode::Released {
            let _ = std::fs::remove_file(&self.users_file);
            let _ = self.file.unlock();
            self.mode = Mode::Released;
        }
    }

    /// At the deactivate/export/logout step: releases the shared lock and
    /// tries the exclusive one, without waiting. Asking again gives the
    /// same answer without touching the lock.
    pub fn try_last_user(&mut self) -> Result<LastUser, TargetLockError> {
        match self.mode {
            Mode::Exclusive => return Ok(LastUser::Yes),
            Mode::Released => return Ok(LastUser::No(self.others())),
            Mode::Shared => {}
        }
        self.file.unlock().map_err(|source| TargetLockError::Io {
            path: self.path.clone(),
            source,
        })?;
        match self.file.try_lock() {
            Ok(()) => {
                self.mode = Mode::Exclusive;
                Ok(LastUser::Yes)
            }
            Err(TryLockError::WouldBlock) => {
                // Not re-taken: this run is done with the target, and a
                // shared lock kept to its end would make the other run's
                // last step skip too, leaving the target active for good.
                self.mode = Mode::Released;
                let _ = std::fs::remove_file(&self.users_file);
                Ok(LastUser::No(self.others()))
            }
            Err(TryLockError::Error(source)) => {
                self.mode = Mode::Released;
                Err(TargetLockError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        }
    }

    fn others(&self) -> Vec<User> {
        let dir = self.path.parent().unwrap_or(Path::new("/"));
        holders(dir, &self.resource, &self.file)
    }
}

impl Drop for TargetLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.users_file);
        let _ = self.file.unlock();
    }
}

/// For `recover` of a dead run: the exclusive lock without waiting, held
/// while the dead run's deactivate is done, or the runs that still use
/// the target.
pub fn try_exclusive(
    dir: &Path,
    resource: &Resource,
    plan: &str,
) -> Result<Result<TargetLock, Vec<User>>, TargetLockError> {
    let (file, path) = open_lock(dir, resource)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(Err(holders(dir, resource, &file))),
        Err(TryLockError::Error(source)) => return Err(TargetLockError::Io { path, source }),
    }
    let users_file = users_dir(dir, resource).join(std::process::id().to_string());
    write_users_file(&users_file, plan).map_err(|source| TargetLockError::Io {
        path: users_file.clone(),
        source,
    })?;
    Ok(Ok(TargetLock {
        resource: resource.clone(),
        file,
        path,
        users_file,
        mode: Mode::Exclusive,
    }))
}

/// For `check`: the runs holding the target's lock now, this process
/// excluded. Creates nothing; no lock file means no user.
pub fn users(dir: &Path, resource: &Resource) -> std::io::Result<Vec<User>> {
    let path = lock_path(dir, resource);
    let file = match super::files::open_read(&path) {
        Ok(file) => file,
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(super::files::StateFileError::Io { source, .. }) => return Err(source),
        Err(refused) => return Err(std::io::Error::other(refused.to_string())),
    };
    Ok(holders(dir, resource, &file))
}

/// The other processes holding a lock on `file`, from /proc/locks, named
/// by their users files.
fn holders(dir: &Path, resource: &Resource, file: &File) -> Vec<User> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = file.metadata() else {
        return Vec::new();
    };
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let me = std::process::id();
    let mut pids = super::lock::lock_holders(&locks, meta.dev(), meta.ino());
    pids.sort_unstable();
    pids.dedup();
    let users = users_dir(dir, resource);
    pids.into_iter()
        .filter(|pid| *pid != me)
        .map(|pid| User {
            pid,
            plan: read_users_file(&users.join(pid.to_string())),
        })
        .collect()
}

fn write_users_file(path: &Path, plan: &str) -> std::io::Result<()> {
    let mut file = super::files::open(
        path,
        OpenOptions::new().write(true).create(true).truncate(true),
    )
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    writeln!(file, "{plan}")
}

fn read_users_file(path: &Path) -> Option<String> {
    let bytes = super::files::read_bounded(path, 256).ok()?;
    let name = String::from_utf8(bytes).ok()?;
    let name = name.trim();
    // A plan name as the plan language allows it, nothing to mislead with.
    (!name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'))
    .then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_millis(300);

    fn vg() -> Resource {
        Resource::Vg("backup".into())
    }

    #[test]
    fn two_plans_share_a_target_and_only_the_last_one_is_its_last_user() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = TargetLock::acquire_shared(dir.path(), &vg(), "a", WAIT).unwrap();
        let mut c = TargetLock::acquire_shared(dir.path(), &vg(), "c", WAIT).unwrap();
        // Both locks are this process's, so /proc/locks cannot tell them
        // apart by pid: what matters is the flock's answer.
        assert!(matches!(a.try_last_user().unwrap(), LastUser::No(_)));
        assert!(!a.is_exclusive());
        assert_eq!(c.try_last_user().unwrap(), LastUser::Yes);
        assert!(c.is_exclusive());
        // Asking again changes nothing.
        assert_eq!(c.try_last_user().unwrap(), LastUser::Yes);
        assert!(matches!(a.try_last_user().unwrap(), LastUser::No(_)));
    }

    #[test]
    fn a_released_hold_leaves_the_other_run_the_last_user() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = TargetLock::acquire_shared(dir.path(), &vg(), "a", WAIT).unwrap();
        let mut c = TargetLock::acquire_shared(dir.path(), &vg(), "c", WAIT).unwrap();
        a.release();
        assert!(a.left_to_others());
        assert_eq!(c.try_last_user().unwrap(), LastUser::Yes);
    }

    #[test]
    fn a_run_starting_while_the_last_user_deactivates_waits_and_then_gets_in() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = TargetLock::acquire_shared(dir.path(), &vg(), "a", WAIT).unwrap();
        assert_eq!(a.try_last_user().unwrap(), LastUser::Yes);
        let err = TargetLock::acquire_shared(dir.path(), &vg(), "d", WAIT).unwrap_err();
        assert!(matches!(err, TargetLockError::Busy { .. }), "{err}");
        assert!(err.to_string().contains("VG backup"), "{err}");
        drop(a);
        TargetLock::acquire_shared(dir.path(), &vg(), "d", WAIT).unwrap();
    }

    #[test]
    fn recovery_gets_the_target_only_when_nobody_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = TargetLock::acquire_shared(dir.path(), &vg(), "a", WAIT).unwrap();
        assert!(try_exclusive(dir.path(), &vg(), "c").unwrap().is_err());
        drop(a);
        let got = try_exclusive(dir.path(), &vg(), "c").unwrap();
        assert!(got.is_ok_and(|l| l.is_exclusive()));
    }

    #[test]
    fn another_process_holding_the_lock_is_named_by_its_plan() {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        // Prepare the files as a holder would, then let a child hold it.
        drop(TargetLock::acquire_shared(dir.path(), &vg(), "x", WAIT).unwrap());
        let lock = lock_path(dir.path(), &vg());
        let Ok(mut child) = std::process::Command::new("flock")
            .args(["--shared", lock.to_str().unwrap(), "sleep", "30"])
            .process_group(0)
            .spawn()
        else {
            return; // no flock(1) here
        };
        let seen = (0..300).find_map(|_| {
            std::thread::sleep(Duration::from_millis(10));
            let found = users(dir.path(), &vg()).unwrap();
            (!found.is_empty()).then_some(found)
        });
        let holder = seen.as_ref().and_then(|s| s.first()).map(|u| u.pid);
        if let Some(pid) = holder {
            std::fs::write(
                users_dir(dir.path(), &vg()).join(pid.to_string()),
                "plan-c\n",
            )
            .unwrap();
        }
        let named = users(dir.path(), &vg()).unwrap();
        let group = rustix::process::Pid::from_child(&child);
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        let _ = child.wait();
        let holder = holder.expect("the child's lock is seen in /proc/locks");
        assert_eq!(
            named,
            vec![User {
                pid: holder,
                plan: Some("plan-c".into())
            }]
        );
        assert_eq!(describe(&named), format!("plan plan-c (pid {holder})"));
    }

    #[test]
    fn no_lock_file_means_no_user_and_nothing_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("targets");
        assert_eq!(users(&missing, &vg()).unwrap(), Vec::new());
        assert!(!missing.exists());
    }

    #[test]
    fn names_never_make_a_path() {
        assert_eq!(vg().file_name(), "vg-backup.lock");
        assert_eq!(
            Resource::Iscsi("iqn.2026-01.lan:disk/../x".into()).file_name(),
            "iscsi-iqn.2026-01.lan:disk_.._x.lock"
        );
    }

    #[test]
    fn a_world_writable_lock_directory_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let targets = dir.path().join("targets");
        std::fs::create_dir(&targets).unwrap();
        std::fs::set_permissions(&targets, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = TargetLock::acquire_shared(&targets, &vg(), "a", WAIT).unwrap_err();
        assert!(matches!(err, TargetLockError::Untrusted(_)), "{err}");
    }

    #[test]
    fn a_lock_file_symlinked_elsewhere_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, lock_path(dir.path(), &vg())).unwrap();
        let err = TargetLock::acquire_shared(dir.path(), &vg(), "a", WAIT).unwrap_err();
        assert!(matches!(err, TargetLockError::Refused(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }
}
