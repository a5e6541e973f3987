//! An append-only journal of what a run did, durable event by event.
//!
//! After SIGKILL or a power loss the journal is the only witness of which
//! snapshots were being made and which services were being suspended, so every
//! event is written as one JSON line and `fdatasync`ed before the step it
//! announces starts. A crash can tear at most the last line; reading stops
//! there and says so instead of failing, since everything before it is intact.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::files;

#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot write the journal {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the journal {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A symlink, a FIFO, a device, or too big: not what snapplan wrote.
    #[error("cannot use the journal: {0}")]
    Refused(#[source] super::files::StateFileError),
    #[error("journal {path} line {line} is not a journal event: {message}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// The events of a journal, and whether its last line was torn by a crash.
#[derive(Debug)]
pub struct JournalContents<E> {
    pub events: Vec<E>,
    pub torn_tail: bool,
}

impl Journal {
    /// Opens (creating if needed) the journal for appending. The directory
    /// entry is synced too, so the file itself survives a power loss.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let write_err = |source| JournalError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            files::create_dir(dir).map_err(write_err)?;
        }
        // Never through a symlink, only a regular file: root appending to
        // whatever a planted link names would be an arbitrary write.
        let file = files::open(path, OpenOptions::new().create(true).append(true))
            .map_err(JournalError::Refused)?;
        if let Some(dir) = path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(write_err)?;
        }
        Ok(Journal {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Appends one event and makes it durable before returning.
    pub fn append<E: Serialize>(&mut self, event: &E) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(event).map_err(|e| JournalError::Write {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        // One write call per line: with O_APPEND a line is never interleaved
        // with another writer's, and a crash tears at most this line.
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(|source| JournalError::Write {
                path: self.path.clone(),
                source,
            })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads every event. A last line without its newline is a write torn by a
/// crash and is dropped (reported in `torn_tail`); a bad line anywhere else
/// means the file is not what we wrote, which is an error.
///
/// Only a regular file is read (a FIFO would block for ever), never through
/// a symlink, and at most [`files::MAX_JOURNAL_BYTES`] of it.
pub fn read<E: DeserializeOwned>(path: &Path) -> Result<JournalContents<E>, JournalError> {
    let bytes = files::read_bounded(path, files::MAX_JOURNAL_BYTES).map_err(|e| match e {
        files::StateFileError::Io { path, source } => JournalError::Read { path, source },
        refused => JournalError::Refused(refused),
    })?;
    let mut reader = BufReader::new(bytes.as_slice());
    let mut events = Vec::new();
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| JournalError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        if n == 0 {
            return Ok(JournalContents {
                events,
                torn_tail: false,
            });
        }
        line_no += 1;
        if buf.last() != Some(&b'\n') {
            return Ok(JournalContents {
                events,
                torn_tail: true,
            });
        }
        match serde_json::from_slice(&buf) {
            Ok(event) => events.push(event),
            Err(e) => {
                return Err(JournalError::Corrupt {
                    path: path.to_path_buf(),
                    line: line_no,
                    message: e.to_string(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "event", rename_all = "snake_case")]
    enum Event {
        Started { run: String },
        Snapshot { lv: String },
    }

    #[test]
    fn events_round_trip_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/journal.jsonl");
        let mut journal = Journal::open(&path).unwrap();
        journal
            .append(&Event::Started { run: "r1".into() })
            .unwrap();
        drop(journal);
        let mut journal = Journal::open(&path).unwrap();
        journal
            .append(&Event::Snapshot {
                lv: "vg0/root".into(),
            })
            .unwrap();
        let contents: JournalContents<Event> = read(&path).unwrap();
        assert!(!contents.torn_tail);
        assert_eq!(
            contents.events,
            [
                Event::Started { run: "r1".into() },
                Event::Snapshot {
                    lv: "vg0/root".into()
                }
            ]
        );
    }

    #[test]
    fn torn_last_line_is_dropped_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut journal = Journal::open(&path).unwrap();
        journal
            .append(&Event::Started { run: "r1".into() })
            .unwrap();
        drop(journal);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"event":"snapshot","lv":"vg0/ro"#)
            .unwrap();
        let contents: JournalContents<Event> = read(&path).unwrap();
        assert!(contents.torn_tail);
        assert_eq!(contents.events, [Event::Started { run: "r1".into() }]);
    }

    #[test]
    fn garbage_in_the_middle_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        std::fs::write(&path, "{\"event\":\"started\",\"run\":\"a\"}\nnot json\n").unwrap();
        let err = read::<Event>(&path).unwrap_err();
        assert!(
            matches!(err, JournalError::Corrupt { line: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_journal_symlinked_elsewhere_is_neither_appended_to_nor_read() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("root-owned");
        std::fs::write(&victim, "keep").unwrap();
        let path = dir.path().join("journal.jsonl");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        assert!(matches!(
            Journal::open(&path),
            Err(JournalError::Refused(_))
        ));
        assert!(matches!(
            read::<Event>(&path),
            Err(JournalError::Refused(_))
        ));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }

    #[test]
    fn a_fifo_journal_is_refused_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &path,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        assert!(matches!(
            read::<Event>(&path),
            Err(JournalError::Refused(_))
        ));
        assert!(matches!(
            Journal::open(&path),
            Err(JournalError::Refused(_))
        ));
    }
}
