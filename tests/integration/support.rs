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
