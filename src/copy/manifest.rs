//! The manifest: the xxh3-128 hash of every chunk of a copy, with what was
//! copied where. It is what makes a backup checkable without its source
//! (`snapplan verify`) and what lets the next copy write only what changed.
//!
//! It is replaced atomically (temp file, fsync, rename, fsync the directory)
//! and marked incomplete *before* the destination is touched, so after a
//! crash no manifest claims content the destination no longer has.
//!
//! A manifest is input snapplan reads as root, so it is read like hostile
//! input: only a regular file, never through a symlink, never more than
//! [`MAX_MANIFEST_BYTES`], and every field bounded ([`MAX_CHUNKS`], chunk
//! sizes the engine itself accepts, counts consistent with the size)
//! before anything allocates or reads a device by it.

use std::fmt;
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::ManifestError;
use super::identity::{Identity, Kind};

/// Names this file format; bumped when its meaning changes.
pub const FORMAT: &str = "snapplan-copy-manifest/1";

/// The most chunks a manifest may list (and so a copy may have): 32 TiB at
/// the default 4 MiB chunks, 512 TiB at 64 MiB. Bounds the hash list in
/// memory to 128 MiB whatever a manifest says.
pub const MAX_CHUNKS: u64 = 1 << 23;

/// The largest manifest file read: what [`MAX_CHUNKS`] hashes take when
/// pretty-printed (about 40 bytes each), with room for the rest.
pub const MAX_MANIFEST_BYTES: u64 = 48 * MAX_CHUNKS + (1 << 20);

/// Paths and tags recorded in a manifest are at most this long (PATH_MAX).
const MAX_TEXT: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    /// True only once every chunk was written and flushed to the
    /// destination. An incomplete manifest is never trusted.
    pub completed: bool,
    pub source: Identity,
    pub destination: Identity,
    /// Bytes copied: the source's size.
    pub size: u64,
    pub chunk_size: u64,
    /// Seconds since the Unix epoch.
    pub started_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    /// The thin snapshot this copy was read from, which its run kept as the
    /// origin's base: the next copy may read only what changed since it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseRef>,
    /// Hash of chunk i, covering bytes `i * chunk_size ..` up to `size`. An
    /// incomplete manifest holds the hashes of the chunks done so far.
    #[serde(deserialize_with = "bounded_chunks")]
    pub chunks: Vec<ChunkHash>,
}

/// The hash list, refused past [`MAX_CHUNKS`] while it is being read (the
/// size it must agree with may come later in the file).
fn bounded_chunks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ChunkHash>, D::Error> {
    struct Bounded;
    impl<'de> serde::de::Visitor<'de> for Bounded {
        type Value = Vec<ChunkHash>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a list of at most {MAX_CHUNKS} chunk hashes")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut chunks = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
            while let Some(hash) = seq.next_element()? {
                if chunks.len() as u64 == MAX_CHUNKS {
                    return Err(serde::de::Error::custom(format!(
                        "more than {MAX_CHUNKS} chunk hashes"
                    )));
                }
                chunks.push(hash);
            }
            Ok(chunks)
        }
    }
    d.deserialize_seq(Bounded)
}

/// A thin device a copy was read from: the LV's UUID (a base removed and
/// recreated, or a pool recreated, has another) and its device id in the
/// pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseRef {
    pub lv_uuid: String,
    pub thin_id: u64,
}

impl fmt::Display for BaseRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LV {} (thin id {})", self.lv_uuid, self.thin_id)
    }
}

/// xxh3-128 of one chunk, written as 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkHash(pub u128);

impl ChunkHash {
    pub fn of(data: &[u8]) -> ChunkHash {
        ChunkHash(xxhash_rust::xxh3::xxh3_128(data))
    }
}

impl fmt::Debug for ChunkHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl Serialize for ChunkHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:032x}", self.0))
    }
}

impl<'de> Deserialize<'de> for ChunkHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() != 32 {
            return Err(serde::de::Error::custom(format!(
                "chunk hash `{}` is not 32 hex digits",
                truncated(&text)
            )));
        }
        u128::from_str_radix(&text, 16)
            .map(ChunkHash)
            .map_err(|_| serde::de::Error::custom(format!("chunk hash `{text}` is not hex")))
    }
}

/// How a device is cut into chunks: every chunk is `chunk_size` long except
/// possibly the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunking {
    pub size: u64,
    pub chunk_size: u64,
}

impl Chunking {
    pub fn count(&self) -> u64 {
        self.size.div_ceil(self.chunk_size)
    }

    /// Offset and length of chunk `index`.
    pub fn chunk(&self, index: u64) -> (u64, u64) {
        let offset = index * self.chunk_size;
        (offset, self.chunk_size.min(self.size - offset))
    }
}

impl Manifest {
    pub fn chunking(&self) -> Chunking {
        Chunking {
            size: self.size,
            chunk_size: self.chunk_size,
        }
    }

    /// Reads a manifest: a regular file, not through a symlink (a FIFO, a
    /// device or a link planted where a manifest is expected is refused,
    /// never read), at most [`MAX_MANIFEST_BYTES`], and checked field by
    /// field ([`Manifest::parse`]).
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let read_error = |source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        };
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it is then
        // refused by its type. No effect on a regular file.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
            )
            .open(path)
            .map_err(|e| {
                if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                    ManifestError::NotRegular {
                        path: path.to_path_buf(),
                        what: "a symbolic link".into(),
                    }
                } else {
                    read_error(e)
                }
            })?;
        let metadata = file.metadata().map_err(read_error)?;
        if !metadata.is_file() {
            return Err(ManifestError::NotRegular {
                path: path.to_path_buf(),
                what: file_type_name(&metadata.file_type()).into(),
            });
        }
        if metadata.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge {
                path: path.to_path_buf(),
                size: metadata.len(),
            });
        }
        // Streamed: the text is never held whole, and a file that grows
        // while it is read stops at the bound.
        let reader = BufReader::new(file.take(MAX_MANIFEST_BYTES));
        Manifest::checked(serde_json::from_reader(reader), path)
    }

    /// Parses and checks manifest text (what [`Manifest::load`] does after
    /// opening the file); `path` only names it in errors.
    pub fn parse(text: &[u8], path: &Path) -> Result<Manifest, ManifestError> {
        if text.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge {
                path: path.to_path_buf(),
                size: text.len() as u64,
            });
        }
        Manifest::checked(serde_json::from_slice(text), path)
    }

    /// The one way a manifest read from outside becomes one: parsed, then
    /// every field bounded ([`Manifest::check`]).
    fn checked(
        parsed: serde_json::Result<Manifest>,
        path: &Path,
    ) -> Result<Manifest, ManifestError> {
        let manifest = parsed.map_err(|source| ManifestError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        manifest.check().map_err(|reason| ManifestError::Invalid {
            path: path.to_path_buf(),
            reason,
        })?;
        Ok(manifest)
    }

    /// Every field within what the engine itself would write: after this,
    /// [`Manifest::chunking`] is safe to allocate and read by.
    fn check(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!(
                "format is `{}`, this snapplan reads `{FORMAT}`",
                truncated(&self.format)
            ));
        }
        if super::check_chunk_size(self.chunk_size).is_err() {
            return Err(format!(
                "chunk_size {} is outside what snapplan copies with \
                 (a multiple of 4KiB between 64KiB and 64MiB)",
                self.chunk_size
            ));
        }
        let expected = self.chunking().count();
        if expected > MAX_CHUNKS {
            return Err(format!(
                "size {} at chunk_size {} is {expected} chunks, more than the {MAX_CHUNKS} \
                 a manifest may hold",
                self.size, self.chunk_size
            ));
        }
        let have = self.chunks.len() as u64;
        if self.completed && have != expected {
            return Err(format!(
                "it says completed but has {have} chunk hashes where size {} needs {expected}",
                self.size
            ));
        }
        if have > expected {
            return Err(format!(
                "{have} chunk hashes is more than size {} allows ({expected})",
                self.size
            ));
        }
        if self
            .base
            .as_ref()
            .is_some_and(|b| b.lv_uuid.len() > MAX_TEXT)
        {
            return Err(format!("its base has a UUID longer than {MAX_TEXT} bytes"));
        }
        for (role, identity) in [("source", &self.source), ("destination", &self.destination)] {
            if identity.size < self.size {
                return Err(format!(
                    "its {role} is {} bytes, smaller than the {} bytes it says were copied",
                    identity.size, self.size
                ));
            }
            let texts = [
                identity.path.as_os_str().len(),
                identity.device.as_ref().map_or(0, String::len),
                identity.inode.as_ref().map_or(0, String::len),
                identity.tag.as_ref().map_or(0, String::len),
            ];
            if texts.iter().any(|&len| len > MAX_TEXT) {
                return Err(format!(
                    "its {role} has a path, device, inode or tag longer than {MAX_TEXT} bytes"
                ));
            }
        }
        Ok(())
    }

    /// Why this manifest cannot stand for what is on `destination` now, if
    /// it cannot. Only a completed copy to the same destination (same path,
    /// size, tag, and inode for files) with the same chunk size qualifies.
    pub fn untrusted_for(&self, destination: &Identity, chunk_size: u64) -> Option<String> {
        let old = &self.destination;
        if !self.completed {
            return Some("the previous copy did not complete".into());
        }
        if old.path != destination.path {
            return Some(format!(
                "it describes {}, not {}",
                old.path.display(),
                destination.path.display()
            ));
        }
        if old.kind != destination.kind || old.size != destination.size {
            return Some(format!(
                "the destination changed (size {} then, {} now)",
                old.size, destination.size
            ));
        }
        if old.kind == Kind::File && old.inode != destination.inode {
            return Some("the destination file was replaced".into());
        }
        if old.tag != destination.tag {
            return Some(format!(
                "the destination's identity changed ({:?} then, {:?} now)",
                old.tag, destination.tag
            ));
        }
        if self.chunk_size != chunk_size {
            return Some(format!(
                "its chunk size is {}, this copy uses {chunk_size}",
                self.chunk_size
            ));
        }
        None
    }

    /// Why this manifest cannot stand for `destination`, a snapshot the
    /// caller just made of the device whose tag is `origin` (see
    /// `CopyRequest::destination_snapshot_of`), if it cannot. Only a
    /// completed copy to a device tagged `origin`, of the destination's
    /// kind and size, with the same chunk size, qualifies: the path and
    /// tag differ by design (a new LV), and the caller vouches that the
    /// destination was made from that device and not written since.
    pub fn untrusted_for_snapshot(
        &self,
        destination: &Identity,
        origin: &str,
        chunk_size: u64,
    ) -> Option<String> {
        let old = &self.destination;
        if !self.completed {
            return Some("the previous copy did not complete".into());
        }
        if old.tag.as_deref() != Some(origin) {
            return Some(format!(
                "it describes {:?}, not {origin:?}, the device the destination is a snapshot of",
                old.tag
            ));
        }
        if old.kind != destination.kind || old.size != destination.size {
            return Some(format!(
                "the snapshot differs from what it describes (size {} then, {} now)",
                old.size, destination.size
            ));
        }
        if self.chunk_size != chunk_size {
            return Some(format!(
                "its chunk size is {}, this copy uses {chunk_size}",
                self.chunk_size
            ));
        }
        None
    }

    /// The trusted hash of chunk `index` of `chunking`: present only when
    /// the previous copy had a chunk at the same place of the same length.
    pub fn hash_for(&self, chunking: Chunking, index: u64) -> Option<ChunkHash> {
        let hash = *self.chunks.get(index as usize)?;
        (index < chunking.count() && self.chunking().chunk(index) == chunking.chunk(index))
            .then_some(hash)
    }

    /// Replaces `path` atomically: write a temp file beside it, fsync it,
    /// rename it over, fsync the directory.
    pub fn save(&self, path: &Path) -> Result<(), ManifestError> {
        let error = |source| ManifestError::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut temp = tempfile::Builder::new()
            .prefix(".snapplan-manifest")
            .tempfile_in(&dir)
            .map_err(error)?;
        let mut json = serde_json::to_vec_pretty(self).expect("a manifest serialises");
        json.push(b'\n');
        temp.write_all(&json).map_err(error)?;
        temp.as_file().sync_all().map_err(error)?;
        temp.persist(path).map_err(|e| error(e.error))?;
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(error)?;
        Ok(())
    }
}

/// What a file is, for an error that refuses it.
pub(crate) fn file_type_name(file_type: &std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// At most 64 characters of untrusted text, for an error message.
fn truncated(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

/// Seconds since the Unix epoch, for the manifest's timestamps.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(path: &str, size: u64) -> Identity {
        Identity {
            path: path.into(),
            kind: Kind::BlockDevice,
            size,
            device: Some("7:0".into()),
            inode: None,
            tag: None,
        }
    }

    fn manifest(size: u64, chunk_size: u64) -> Manifest {
        let chunking = Chunking { size, chunk_size };
        Manifest {
            format: FORMAT.into(),
            completed: true,
            source: identity("/dev/src", size),
            destination: identity("/dev/dst", size * 2),
            size,
            chunk_size,
            started_at: 1,
            finished_at: Some(2),
            base: None,
            chunks: (0..chunking.count())
                .map(|i| ChunkHash(i as u128 * 7))
                .collect(),
        }
    }

    #[test]
    fn chunking_handles_partial_last_chunk_and_zero() {
        let c = Chunking {
            size: 10,
            chunk_size: 4,
        };
        assert_eq!(c.count(), 3);
        assert_eq!(c.chunk(2), (8, 2));
        let empty = Chunking {
            size: 0,
            chunk_size: 4,
        };
        assert_eq!(empty.count(), 0);
    }

    #[test]
    fn saves_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        let m = manifest(150_000, 64 << 10);
        m.save(&path).unwrap();
        assert_eq!(Manifest::load(&path).unwrap(), m);
        // No temp file left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn hashes_are_32_hex_digits() {
        let json = serde_json::to_string(&ChunkHash(0xab)).unwrap();
        assert_eq!(json, format!("\"{:032x}\"", 0xab));
        assert!(serde_json::from_str::<ChunkHash>("\"zz\"").is_err());
    }

    #[test]
    fn rejects_completed_manifest_missing_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        let mut m = manifest(150_000, 64 << 10);
        m.chunks.pop();
        m.save(&path).unwrap();
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("has 2 chunk hashes where size 150000 needs 3"),
            "{err}"
        );
    }

    #[test]
    fn trust_needs_completion_same_destination_and_chunk_size() {
        let m = manifest(10_000, 4096);
        let dst = m.destination.clone();
        assert_eq!(m.untrusted_for(&dst, 4096), None);
        assert!(m.untrusted_for(&dst, 8192).unwrap().contains("chunk size"));
        let mut incomplete = m.clone();
        incomplete.completed = false;
        assert!(
            incomplete
                .untrusted_for(&dst, 4096)
                .unwrap()
                .contains("did not complete")
        );
        let mut grown = dst.clone();
        grown.size += 4096;
        assert!(
            m.untrusted_for(&grown, 4096)
                .unwrap()
                .contains("destination changed")
        );
        let mut other = dst.clone();
        other.path = "/dev/other".into();
        assert!(
            m.untrusted_for(&other, 4096)
                .unwrap()
                .contains("describes /dev/dst")
        );
        let mut tagged = dst.clone();
        tagged.tag = Some("uuid".into());
        assert!(
            m.untrusted_for(&tagged, 4096)
                .unwrap()
                .contains("identity changed")
        );
        // A device-mapper minor that changed between activations is fine.
        let mut renumbered = dst;
        renumbered.device = Some("253:9".into());
        assert_eq!(m.untrusted_for(&renumbered, 4096), None);
    }

    #[test]
    fn hash_for_requires_same_chunk_extent() {
        let m = manifest(10_000, 4096);
        let same = m.chunking();
        assert_eq!(m.hash_for(same, 1), Some(ChunkHash(7)));
        // The source grew: the old partial last chunk is not the new full one.
        let grown = Chunking {
            size: 20_000,
            chunk_size: 4096,
        };
        assert_eq!(m.hash_for(grown, 1), Some(ChunkHash(7)));
        assert_eq!(m.hash_for(grown, 2), None);
        assert_eq!(m.hash_for(grown, 3), None);
    }

    fn json_of(m: &Manifest) -> serde_json::Value {
        serde_json::to_value(m).unwrap()
    }

    fn parse_value(v: &serde_json::Value) -> Result<Manifest, ManifestError> {
        Manifest::parse(&serde_json::to_vec(v).unwrap(), Path::new("m.json"))
    }

    #[test]
    fn chunk_sizes_outside_the_engines_limits_are_refused() {
        // 1 TiB chunks: verify used to allocate them (abort, exit 134);
        // u64::MAX overflowed the chunk arithmetic (panic, exit 101).
        for chunk_size in [0, 4096, 1 << 30, 1 << 40, u64::MAX, (64 << 10) + 512] {
            let mut v = json_of(&manifest(150_000, 64 << 10));
            v["chunk_size"] = chunk_size.into();
            v["size"] = chunk_size.into();
            v["source"]["size"] = u64::MAX.into();
            v["destination"]["size"] = u64::MAX.into();
            v["chunks"] = serde_json::json!([format!("{:032x}", 1)]);
            let err = parse_value(&v).unwrap_err().to_string();
            assert!(
                err.contains(&format!("chunk_size {chunk_size} is outside")),
                "{err}"
            );
        }
    }

    #[test]
    fn a_size_needing_more_chunks_than_the_bound_is_refused() {
        let mut v = json_of(&manifest(150_000, 64 << 10));
        v["size"] = u64::MAX.into();
        v["source"]["size"] = u64::MAX.into();
        v["destination"]["size"] = u64::MAX.into();
        v["completed"] = false.into();
        let err = parse_value(&v).unwrap_err().to_string();
        assert!(err.contains("more than the 8388608"), "{err}");
    }

    #[test]
    fn a_copy_larger_than_its_destination_is_refused() {
        let mut v = json_of(&manifest(150_000, 64 << 10));
        v["destination"]["size"] = 1000.into();
        let err = parse_value(&v).unwrap_err().to_string();
        assert!(err.contains("destination is 1000 bytes"), "{err}");
    }

    #[test]
    fn a_hash_list_past_the_bound_is_refused_while_reading() {
        // Hashes before the size: the bound holds whatever the order.
        let hash = format!("\"{:032x}\"", 0);
        let mut text = String::from("{\"chunks\":[");
        text.push_str(&vec![hash; MAX_CHUNKS as usize + 1].join(","));
        text.push_str("]}");
        let err = Manifest::parse(text.as_bytes(), Path::new("m.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than 8388608 chunk hashes"), "{err}");
    }

    #[test]
    fn long_untrusted_text_is_truncated_in_errors() {
        let mut v = json_of(&manifest(150_000, 64 << 10));
        v["format"] = "x".repeat(1 << 20).into();
        let err = parse_value(&v).unwrap_err().to_string();
        assert!(err.len() < 300, "{} bytes", err.len());
    }

    #[test]
    fn symlinks_fifos_and_devices_are_refused_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        manifest(150_000, 64 << 10).save(&real).unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = Manifest::load(&link).unwrap_err().to_string();
        assert!(err.contains("is a symbolic link"), "{err}");

        let fifo = dir.path().join("fifo.json");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        // Would block forever waiting for a writer if it were opened for
        // reading without O_NONBLOCK.
        let err = Manifest::load(&fifo).unwrap_err().to_string();
        assert!(err.contains("is a FIFO"), "{err}");

        let err = Manifest::load(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a character device"), "{err}");
        let err = Manifest::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is a directory"), "{err}");
    }

    #[test]
    fn an_oversized_file_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(MAX_MANIFEST_BYTES + 1).unwrap();
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert!(err.contains("more than the"), "{err}");
    }

    /// A manifest the parser accepted is safe to use: its chunking can be
    /// walked and every hash looked up without overflow or allocation
    /// beyond the bounds.
    fn assert_usable(m: &Manifest) {
        let chunking = m.chunking();
        let count = chunking.count();
        assert!(count <= MAX_CHUNKS);
        assert!(m.chunks.len() as u64 <= count);
        for index in [0, count / 2, count.saturating_sub(1)] {
            if index < count {
                let (offset, len) = chunking.chunk(index);
                assert!(offset.checked_add(len).unwrap() <= m.size);
                let _ = m.hash_for(chunking, index);
            }
        }
        let _ = m.untrusted_for(&m.destination, m.chunk_size);
        let _ = crate::copy::verify::unverifiable(m);
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..Default::default() })]

        /// Bytes of a valid manifest replaced, inserted or cut: never a panic.
        #[test]
        fn mutated_manifest_bytes_never_panic(
            edits in proptest::collection::vec(
                (any::<proptest::sample::Index>(), 0u8..3, any::<u8>()),
                1..8,
            ),
        ) {
            let mut text = serde_json::to_vec_pretty(&manifest(300_000, 64 << 10)).unwrap();
            for (at, op, byte) in edits {
                let i = at.index(text.len() + 1);
                match op {
                    0 if i < text.len() => text[i] = byte,
                    1 => text.insert(i, byte),
                    _ if i < text.len() => { text.remove(i); }
                    _ => {}
                }
            }
            if let Ok(m) = Manifest::parse(&text, Path::new("m.json")) {
                assert_usable(&m);
            }
        }

        /// Any numbers in the fields that bound memory and arithmetic:
        /// never a panic, and what is accepted is within the bounds.
        #[test]
        fn hostile_numbers_never_panic(
            size in prop_oneof![any::<u64>(), 0u64..1 << 22],
            chunk_size in prop_oneof![
                any::<u64>(),
                (1u64..=1024).prop_map(|n| n * (64 << 10)),
            ],
            hashes in 0usize..70,
            completed in any::<bool>(),
            dest_size in any::<u64>(),
        ) {
            let mut v = json_of(&manifest(0, 64 << 10));
            v["size"] = size.into();
            v["chunk_size"] = chunk_size.into();
            v["completed"] = completed.into();
            v["source"]["size"] = u64::MAX.into();
            v["destination"]["size"] = dest_size.into();
            v["chunks"] = (0..hashes).map(|i| format!("{i:032x}")).collect::<Vec<_>>().into();
            if let Ok(m) = parse_value(&v) {
                assert_usable(&m);
            }
        }
    }
}
