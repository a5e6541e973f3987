//! Whether a directory snapplan keeps state in, or runs hooks from, can be
//! trusted by a root process: the directory and every directory above it is
//! owned by root (or by the user snapplan runs as) and writable by nobody
//! else, as sshd's StrictModes demands of `~/.ssh`. Otherwise a local user
//! could plant a journal that recover acts on, or swap the lock file for a
//! link to a file root then truncates.
//!
//! A sticky directory above (`/tmp`, mode 1777 owned by root) is allowed:
//! nobody but the owner can rename or remove what is in it. The directory
//! itself must never be group- or world-writable.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Untrusted {
    #[error(
        "{path} is owned by uid {uid}, not root: another user could change what snapplan reads \
         there as root; fix: `chown root:root {path}`"
    )]
    Owner { path: PathBuf, uid: u32 },
    #[error(
        "{path} is writable by {who} (mode {mode:04o}): another user could plant files that \
         snapplan reads as root; fix: `chmod go-w {path}`"
    )]
    Writable {
        path: PathBuf,
        mode: u32,
        who: &'static str,
    },
    #[error("{path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("cannot look at {path}: {error}")]
    Unreadable { path: PathBuf, error: String },
}

impl Untrusted {
    /// The file or directory at fault, for a check row.
    pub fn path(&self) -> &Path {
        match self {
            Untrusted::Owner { path, .. }
            | Untrusted::Writable { path, .. }
            | Untrusted::NotADirectory { path }
            | Untrusted::Unreadable { path, .. } => path,
        }
    }
}

/// Who may own what snapplan trusts: root, and the user it runs as (a
/// non-root `snapplan check` of a user's own test plan).
/// Root, or the user snapplan runs as.
pub fn trusted_owner(uid: u32) -> bool {
    uid == 0 || uid == rustix::process::geteuid().as_raw()
}

fn writable_by(mode: u32) -> Option<&'static str> {
    match (mode & 0o020 != 0, mode & 0o002 != 0) {
        (_, true) => Some("everyone"),
        (true, false) => Some("its group"),
        (false, false) => None,
    }
}

/// Checks `dir` (which need not exist yet: then the directories that would
/// hold it) and every directory above it. Symlinks on the way are resolved
/// and the directories they lead to checked instead.
pub fn check_dir(dir: &Path) -> Result<(), Untrusted> {
    let absolute = std::path::absolute(dir).map_err(|e| Untrusted::Unreadable {
        path: dir.to_path_buf(),
        error: e.to_string(),
    })?;
    // The deepest part that exists; what is missing snapplan creates 0700.
    let mut existing = absolute.as_path();
    let mut is_dir_itself = true;
    loop {
        match std::fs::symlink_metadata(existing) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                is_dir_itself = false;
                match existing.parent() {
                    Some(parent) => existing = parent,
                    None => return Ok(()),
                }
            }
            Err(e) => {
                return Err(Untrusted::Unreadable {
                    path: existing.to_path_buf(),
                    error: e.to_string(),
                });
            }
        }
    }
    let real = std::fs::canonicalize(existing).map_err(|e| Untrusted::Unreadable {
        path: existing.to_path_buf(),
        error: e.to_string(),
    })?;
    let mut first = true;
    for ancestor in real.ancestors() {
        check_one(ancestor, first && is_dir_itself)?;
        first = false;
    }
    Ok(())
}

/// One directory. `itself`: the directory snapplan keeps its files in, for
/// which a sticky bit is no excuse.
fn check_one(path: &Path, itself: bool) -> Result<(), Untrusted> {
    let meta = std::fs::metadata(path).map_err(|e| Untrusted::Unreadable {
        path: path.to_path_buf(),
        error: e.to_string(),
    })?;
    if !meta.is_dir() {
        return Err(Untrusted::NotADirectory {
            path: path.to_path_buf(),
        });
    }
    if !trusted_owner(meta.uid()) {
        return Err(Untrusted::Owner {
            path: path.to_path_buf(),
            uid: meta.uid(),
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    let sticky_root = mode & 0o1000 != 0 && meta.uid() == 0;
    if let Some(who) = writable_by(mode)
        && (itself || !sticky_root)
    {
        return Err(Untrusted::Writable {
            path: path.to_path_buf(),
            mode,
            who,
        });
    }
    Ok(())
}

/// Checks a file snapplan would act on (a hook): owned by root (or the
/// user snapplan runs as) and writable by nobody else, and the directories
/// above it as [`check_dir`] does.
pub fn check_file(file: &Path) -> Result<(), Untrusted> {
    let meta = std::fs::metadata(file).map_err(|e| Untrusted::Unreadable {
        path: file.to_path_buf(),
        error: e.to_string(),
    })?;
    if !trusted_owner(meta.uid()) {
        return Err(Untrusted::Owner {
            path: file.to_path_buf(),
            uid: meta.uid(),
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if let Some(who) = writable_by(mode) {
        return Err(Untrusted::Writable {
            path: file.to_path_buf(),
            mode,
            who,
        });
    }
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => check_dir(dir),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::Permissions;

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    /// A private directory of our own to build trees in: the tempdir itself
    /// sits in sticky, root-owned /tmp, which is allowed above.
    fn private() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), Permissions::from_mode(0o700)).unwrap();
        dir
    }

    #[test]
    fn a_private_state_dir_passes_even_below_tmp() {
        let dir = private();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        assert_eq!(check_dir(&state), Ok(()));
        // Not created yet: the directories that would hold it are checked.
        assert_eq!(check_dir(&state.join("a/b")), Ok(()));
    }

    #[test]
    fn tmp_itself_is_refused_as_a_state_dir() {
        let err = check_dir(Path::new("/tmp")).unwrap_err();
        assert!(
            matches!(
                &err,
                Untrusted::Writable {
                    who: "everyone",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("chmod go-w /tmp"), "{err}");
    }

    #[test]
    fn a_group_writable_parent_is_refused_naming_it() {
        let dir = private();
        let parent = dir.path().join("shared");
        let state = parent.join("state");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::set_permissions(&parent, Permissions::from_mode(0o770)).unwrap();
        let err = check_dir(&state).unwrap_err();
        assert_eq!(err.path(), std::fs::canonicalize(&parent).unwrap());
        assert!(matches!(
            err,
            Untrusted::Writable {
                who: "its group",
                ..
            }
        ));
    }

    #[test]
    fn a_state_dir_owned_by_another_user_is_refused() {
        if !is_root() {
            eprintln!("needs root to give a directory away; CI runs as root");
            return;
        }
        let dir = private();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::os::unix::fs::chown(&state, Some(65534), Some(65534)).unwrap();
        let err = check_dir(&state).unwrap_err();
        assert!(matches!(err, Untrusted::Owner { uid: 65534, .. }), "{err}");
        assert!(err.to_string().contains("chown root:root"));
    }

    #[test]
    fn a_symlink_to_an_untrusted_dir_is_judged_by_where_it_leads() {
        let dir = private();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, Permissions::from_mode(0o777)).unwrap();
        let link = dir.path().join("state");
        std::os::unix::fs::symlink(&open, &link).unwrap();
        assert!(matches!(
            check_dir(&link),
            Err(Untrusted::Writable {
                who: "everyone",
                ..
            })
        ));
    }

    #[test]
    fn a_world_writable_file_is_refused() {
        let dir = private();
        let hook = dir.path().join("10-db");
        std::fs::write(&hook, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&hook, Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            check_file(&hook),
            Err(Untrusted::Writable {
                who: "everyone",
                ..
            })
        ));
        std::fs::set_permissions(&hook, Permissions::from_mode(0o755)).unwrap();
        assert_eq!(check_file(&hook), Ok(()));
    }
}
