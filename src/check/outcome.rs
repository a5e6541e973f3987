//! What a check found: one row of the report, with the numbers behind it.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    /// Worth knowing, but apply can run.
    Warn,
    /// Cannot be known before the run (say, a VG reached only after iSCSI
    /// login): not a pass, not a failure.
    Unknown,
    /// apply would fail or produce a backup that is not one.
    Fail,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Unknown => "unknown",
            Status::Fail => "FAIL",
        }
    }
}

/// Which check a row belongs to; stable names for `--format json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Tool,
    LvmState,
    SourceLv,
    SnapshotSpace,
    // A thin pool that thin origins' snapshots fill, or a setting that has
    // no effect on a thin origin (a plain comment: a doc comment would split
    // the schema's enum).
    ThinPool,
    BackupSpace,
    // Room in the backup VG to keep the previous backup (`keep_previous`).
    ProtectionSpace,
    // A snapshot size judged on the last runs' peaks (`sizing`).
    SnapshotSize,
    BackupLv,
    Hooks,
    Leftover,
    SnapshotName,
    StateDir,
    Lock,
    // Other plans' runs using the same backup target now.
    SharedTarget,
    // A backup LV of the plan mounted by `snapplan mount`.
    MountedBackup,
    // The thin pool of `target.pool`: its use and the room the next run needs.
    GenerationsPool,
}

impl CheckKind {
    pub fn label(self) -> &'static str {
        match self {
            CheckKind::Tool => "tool",
            CheckKind::LvmState => "lvm state",
            CheckKind::SourceLv => "source LV",
            CheckKind::SnapshotSpace => "snapshot space",
            CheckKind::ThinPool => "thin pool",
            CheckKind::GenerationsPool => "generations pool",
            CheckKind::BackupSpace => "backup space",
            CheckKind::ProtectionSpace => "protection space",
            CheckKind::SnapshotSize => "snapshot size",
            CheckKind::BackupLv => "backup LV",
            CheckKind::Hooks => "hooks",
            CheckKind::Leftover => "leftover",
            CheckKind::SnapshotName => "snapshot name",
            CheckKind::StateDir => "state directory",
            CheckKind::Lock => "lock",
            CheckKind::SharedTarget => "shared target",
            CheckKind::MountedBackup => "mounted backup",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CheckResult {
    pub check: CheckKind,
    /// What was checked: a tool, `vg/lv`, `VG vg0`, a hook file.
    pub subject: String,
    pub status: Status,
    /// The finding, with its numbers.
    pub detail: String,
    /// What to do about it, for anything but a pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub space: Option<Space>,
}

/// Space needed against space free in one VG, in bytes and extents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Space {
    pub vg: String,
    pub extent_bytes: u64,
    pub needed_extents: u64,
    pub free_extents: u64,
    pub needed_bytes: u64,
    pub free_bytes: u64,
}

impl CheckResult {
    pub fn new(
        check: CheckKind,
        subject: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
    ) -> Self {
        CheckResult {
            check,
            subject: subject.into(),
            status,
            detail: detail.into(),
            advice: None,
            space: None,
        }
    }

    pub fn advice(mut self, advice: impl Into<String>) -> Self {
        self.advice = Some(advice.into());
        self
    }

    pub fn space(mut self, space: Space) -> Self {
        self.space = Some(space);
        self
    }
}

/// Everything check found, in a stable order.
/// The version of `check --format json`; it changes only when a field
/// changes meaning or goes away.
pub const FORMAT_VERSION: u32 = 1;

/// `snapplan check --format json` (schemas/check.schema.json).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[schemars(title = "snapplan check --format json")]
pub struct CheckReport {
    /// See [`FORMAT_VERSION`].
    pub format_version: u32,
    pub plan: String,
    pub ok: bool,
    pub counts: Counts,
    pub checks: Vec<CheckResult>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Counts {
    pub pass: usize,
    pub warn: usize,
    pub unknown: usize,
    pub fail: usize,
}

impl CheckReport {
    pub fn new(plan: &str, checks: Vec<CheckResult>) -> Self {
        let mut counts = Counts::default();
        for c in &checks {
            match c.status {
                Status::Pass => counts.pass += 1,
                Status::Warn => counts.warn += 1,
                Status::Unknown => counts.unknown += 1,
                Status::Fail => counts.fail += 1,
            }
        }
        CheckReport {
            format_version: FORMAT_VERSION,
            plan: plan.to_string(),
            ok: counts.fail == 0,
            counts,
            checks,
        }
    }
}
