//! A small test builder: write files into a fresh temporary directory, run
//! `snapplan` there, and look at what it did.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub struct Test {
    dir: tempfile::TempDir,
}

impl Test {
    pub fn new() -> Self {
        Test {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Writes `contents` to `relative` inside the test directory, with
    /// `{dir}` replaced by the directory's absolute path (plans need
    /// absolute paths).
    pub fn file(self, relative: &str, contents: &str) -> Self {
        let contents = contents.replace("{dir}", &self.dir.path().display().to_string());
        let path = self.dir.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, &contents).expect("write test file");
        self
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A backup made without LVM: `origin.img` holding `origin`, copied
    /// by `snapplan copy` onto a zeroed `backup.img` of its size, with the
    /// manifest at `manifest` (where apply keeps it for the plan's volume).
    pub fn backup_of(self, origin: &[u8], manifest: &str) -> Self {
        std::fs::write(self.path("origin.img"), origin).expect("write origin.img");
        std::fs::write(self.path("backup.img"), vec![0u8; origin.len()]).expect("write backup.img");
        if let Some(dir) = self.path(manifest).parent() {
            std::fs::create_dir_all(dir).expect("create the manifests dir");
        }
        self.snapplan(&["copy", "origin.img", "backup.img", "--manifest", manifest])
            .assert()
            .code(0);
        self
    }

    /// `snapplan ARGS...` run inside the test directory, no colour.
    pub fn snapplan(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("snapplan").expect("snapplan binary");
        cmd.current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .args(args);
        cmd
    }
}

/// The repository root, for tests that read plans/ or schemas/.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
