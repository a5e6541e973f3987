//! The manifest kept beside a protected backup: `<plan>/manifests/<volume>.json.kept`.
//!
//! A protected copy rewrites the volume's manifest while the protection
//! snapshot keeps the backup's previous content. When the protection is
//! merged back, the backup holds the previous content again, and the
//! manifest must describe it again too: otherwise the next delta copy
//! would skip chunks that the backup no longer holds.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::files;

/// A manifest is bounded by the copy engine's own limit; this is a
/// generous outer bound for a file that is only copied, never parsed here.
const MAX_KEPT_BYTES: u64 = 512 << 20;

/// Where the manifest of the previous backup waits while the backup is
/// protected.
pub fn kept_manifest_path(manifest: &Path) -> PathBuf {
    let mut name = manifest.as_os_str().to_owned();
    name.push(".kept");
    PathBuf::from(name)
}

/// Before the protection snapshot is made: keeps a copy of the manifest
/// (or remembers that there was none, by having no kept file).
pub fn keep_manifest(manifest: &Path) -> std::io::Result<()> {
    let kept = kept_manifest_path(manifest);
    match files::read_bounded(manifest, MAX_KEPT_BYTES) {
        Ok(bytes) => files::replace(&kept, &bytes),
        Err(files::StateFileError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
            remove_if_there(&kept)
        }
        Err(e) => Err(std::io::Error::other(e.to_string())),
    }
}

/// After the protection was merged back: the kept manifest becomes the
/// volume's manifest again (none kept: the volume has no manifest, so the
/// next copy is a full one).
pub fn restore_manifest(manifest: &Path) -> std::io::Result<()> {
    let kept = kept_manifest_path(manifest);
    match files::read_bounded(&kept, MAX_KEPT_BYTES) {
        Ok(bytes) => {
            files::replace(manifest, &bytes)?;
            remove_if_there(&kept)
        }
        Err(files::StateFileError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
            remove_if_there(manifest)
        }
        Err(e) => Err(std::io::Error::other(e.to_string())),
    }
}

/// After the new copy verified and the protection was removed.
pub fn drop_kept_manifest(manifest: &Path) -> std::io::Result<()> {
    remove_if_there(&kept_manifest_path(manifest))
}

fn remove_if_there(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_manifest_is_the_one_kept_before_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("root.json");
        std::fs::write(&manifest, b"old").unwrap();
        keep_manifest(&manifest).unwrap();
        std::fs::write(&manifest, b"new, half written").unwrap();
        restore_manifest(&manifest).unwrap();
        assert_eq!(std::fs::read(&manifest).unwrap(), b"old");
        assert!(!kept_manifest_path(&manifest).exists());
    }

    #[test]
    fn without_a_previous_manifest_restoring_leaves_none() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("root.json");
        keep_manifest(&manifest).unwrap();
        std::fs::write(&manifest, b"new").unwrap();
        restore_manifest(&manifest).unwrap();
        assert!(!manifest.exists());
    }

    #[test]
    fn a_verified_copy_drops_the_kept_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("root.json");
        std::fs::write(&manifest, b"old").unwrap();
        keep_manifest(&manifest).unwrap();
        drop_kept_manifest(&manifest).unwrap();
        assert!(!kept_manifest_path(&manifest).exists());
        assert_eq!(std::fs::read(&manifest).unwrap(), b"old");
    }
}
