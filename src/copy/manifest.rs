//! The manifest: the xxh3-128 hash of every chunk of a copy, with what was
//! copied where. It is what makes a backup checkable without its source
//! (`snapplan verify`) and what lets the next copy write only what changed.
//!
//! It is replaced atomically (temp file, fsync, rename, fsync the directory)
//! and marked incomplete *before* the destination is touched, so after a
//! crash no manifest claims content the destination no longer has.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::ManifestError;
use super::identity::{Identity, Kind};

/// Names this file format; bumped when its meaning changes.
pub const FORMAT: &str = "snapplan-copy-manifest/1";

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
    /// Hash of chunk i, covering bytes `i * chunk_size ..` up to `size`. An
    /// incomplete manifest holds the hashes of the chunks done so far.
    pub chunks: Vec<ChunkHash>,
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
                "chunk hash `{text}` is not 32 hex digits"
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

    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let manifest: Manifest =
            serde_json::from_slice(&text).map_err(|source| ManifestError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        manifest.check().map_err(|reason| ManifestError::Invalid {
            path: path.to_path_buf(),
            reason,
        })?;
        Ok(manifest)
    }

    fn check(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!(
                "format is `{}`, this snapplan reads `{FORMAT}`",
                self.format
            ));
        }
        if self.chunk_size == 0 {
            return Err("chunk_size is 0".into());
        }
        let expected = self.chunking().count();
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
        let m = manifest(10_000, 4096);
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
        let mut m = manifest(10_000, 4096);
        m.chunks.pop();
        m.save(&path).unwrap();
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("has 2 chunk hashes where size 10000 needs 3"),
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
}
