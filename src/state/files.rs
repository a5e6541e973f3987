//! How snapplan, running as root, touches files in the state directory: it
//! never follows a symlink there (`O_NOFOLLOW`), works only on regular files
//! (a FIFO would hang a read, `/dev/zero` would never end), bounds every
//! read, and replaces files through an unpredictable `O_EXCL` temporary in
//! the same directory, synced before and after the rename.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A journal holds a few lines per step: even a plan of thousands of
/// volumes stays far below this.
pub const MAX_JOURNAL_BYTES: u64 = 16 << 20;
/// A run record: one entry per volume.
pub const MAX_RECORD_BYTES: u64 = 16 << 20;
/// The lock file holds a pid.
pub const MAX_LOCK_BYTES: u64 = 64;

#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error(
        "{path} is a symbolic link; snapplan never follows one in its state directory: \
         remove it (`rm {path}`), snapplan creates the file itself"
    )]
    Symlink { path: PathBuf },
    #[error(
        "{path} is {kind}, not a regular file; snapplan reads only regular files in its \
         state directory: remove it"
    )]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{path} is {size} bytes, more than the {max} bytes snapplan reads from such a file")]
    TooLarge { path: PathBuf, size: u64, max: u64 },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StateFileError {
    pub fn io(path: &Path, source: std::io::Error) -> StateFileError {
        StateFileError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The file does not exist (as opposed to: exists and is refused).
    pub fn is_not_found(&self) -> bool {
        matches!(self, StateFileError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_char_device() {
        "a character device"
    } else {
        "not a regular file"
    }
}

/// Opens `path` with `options`, never through a symlink, and only when it
/// is a regular file. `O_NONBLOCK` keeps a FIFO from blocking the open; it
/// means nothing for the regular file that is then all that is accepted.
pub fn open(path: &Path, options: &mut OpenOptions) -> Result<File, StateFileError> {
    let file =
        options
            .custom_flags(libc_flags())
            .open(path)
            .map_err(|e| match e.raw_os_error() {
                Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => {
                    StateFileError::Symlink {
                        path: path.to_path_buf(),
                    }
                }
                _ => StateFileError::io(path, e),
            })?;
    let meta = file.metadata().map_err(|e| StateFileError::io(path, e))?;
    if !meta.is_file() {
        return Err(StateFileError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(&meta),
        });
    }
    Ok(file)
}

fn libc_flags() -> i32 {
    (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC)
        .bits() as i32
}

/// Opens `path` for reading (see [`open`]).
pub fn open_read(path: &Path) -> Result<File, StateFileError> {
    open(path, OpenOptions::new().read(true))
}

/// Reads all of `path`, refusing more than `max` bytes.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, StateFileError> {
    let file = open_read(path)?;
    read_file_bounded(path, file, max)
}

/// Reads all of an open file, refusing more than `max` bytes (also when it
/// grows while being read).
pub fn read_file_bounded(path: &Path, file: File, max: u64) -> Result<Vec<u8>, StateFileError> {
    let size = file
        .metadata()
        .map_err(|e| StateFileError::io(path, e))?
        .len();
    if size > max {
        return Err(StateFileError::TooLarge {
            path: path.to_path_buf(),
            size,
            max,
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| StateFileError::io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(StateFileError::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            max,
        });
    }
    Ok(bytes)
}

/// Creates `dir` and the missing directories above it, each `0700`: the
/// state directory is root's alone.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Replaces `path` with `contents`: written to an unpredictable `O_EXCL`
/// temporary beside it, synced, renamed over `path`, and the directory
/// synced, so a crash leaves the old file or the new one, and nobody can
/// have prepared the temporary's name.
pub fn replace(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_dir(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".snapplan-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep me").unwrap();
        let link = dir.path().join("journal.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = open(&link, OpenOptions::new().append(true).create(true)).unwrap_err();
        assert!(matches!(err, StateFileError::Symlink { .. }), "{err}");
        assert!(err.to_string().contains("symbolic link"));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    }

    #[test]
    fn a_fifo_is_refused_at_once_instead_of_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("journal.jsonl");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        let err = read_bounded(&fifo, 1024).unwrap_err();
        assert!(
            matches!(err, StateFileError::NotRegular { kind: "a FIFO", .. }),
            "{err}"
        );
    }

    #[test]
    fn a_link_to_dev_zero_is_refused_and_a_big_file_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(matches!(
            read_bounded(&zero, 1024),
            Err(StateFileError::Symlink { .. })
        ));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 2048]).unwrap();
        assert!(matches!(
            read_bounded(&big, 1024),
            Err(StateFileError::TooLarge { size: 2048, .. })
        ));
        assert_eq!(read_bounded(&big, 2048).unwrap().len(), 2048);
    }

    #[test]
    fn replace_goes_through_an_unpredictable_temporary_not_a_planted_one() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "root's file").unwrap();
        let record = dir.path().join("runs/R1.json");
        std::fs::create_dir_all(record.parent().unwrap()).unwrap();
        // The name the old code used for its temporary, planted as a symlink.
        std::os::unix::fs::symlink(&victim, dir.path().join("runs/R1.json.tmp")).unwrap();
        replace(&record, b"{}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root's file");
        assert_eq!(std::fs::read_to_string(&record).unwrap(), "{}\n");
        let leftovers: Vec<_> = std::fs::read_dir(record.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".snapplan-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
