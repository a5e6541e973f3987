//! The validated plan: what the admin meant, with every default applied and
//! every value checked, but nothing looked up on this machine yet.
//!
//! This is the contract between the plan language (parse, validate) and
//! everything after it (resolve, compile, check, apply). It carries no source
//! spans: once a plan reaches this type it has no more user errors to report.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// Where the journal, run history and manifests live when the plan says nothing.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/snapplan";
/// Where the locks of shared backup targets live: host-wide, whatever each
/// plan's `state_dir`, so that every plan backing up into one VG (or one
/// iSCSI target) sees the others (`state::target_lock`). Under /run: a flock
/// does not outlive a reboot, and neither need its file.
pub const DEFAULT_TARGET_LOCK_DIR: &str = "/run/snapplan/targets";
/// How long a hook may run when the plan says nothing.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(60);
/// The snapshot size when neither the volume nor `defaults` gives one: room
/// for a fifth of the origin to change while the backup runs.
pub const DEFAULT_SNAPSHOT_SIZE: SnapshotSize = SnapshotSize::PercentOfOrigin(20.0);

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// `[a-z0-9_-]+`: names the run, its lock, its state and its LVM tags.
    pub name: String,
    pub state_dir: PathBuf,
    /// [`DEFAULT_TARGET_LOCK_DIR`]; not a plan setting (plans that disagreed
    /// would not see each other), a field so that tests can use their own.
    #[serde(skip)]
    pub target_lock_dir: PathBuf,
    pub hooks: Option<Hooks>,
    pub target: Target,
    /// In the order the admin wrote them: snapshots are taken in this order,
    /// and copies run in it too unless `after:` says otherwise.
    pub volumes: Vec<Volume>,
}

/// A command named a volume the plan does not back up (restore, verify,
/// generations, mount all say it the same way).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plan {plan} has no volume {volume}; its volumes: {}", .known.join(", "))]
pub struct UnknownVolume {
    pub plan: String,
    pub volume: String,
    pub known: Vec<String>,
}

impl Plan {
    /// The volume called `name`.
    pub fn volume(&self, name: &str) -> Result<&Volume, UnknownVolume> {
        self.volumes
            .iter()
            .find(|v| v.name == name)
            .ok_or_else(|| self.unknown_volume(name))
    }

    /// Every volume, or only the one called `only`.
    pub fn volumes_named(&self, only: Option<&str>) -> Result<Vec<&Volume>, UnknownVolume> {
        match only {
            None => Ok(self.volumes.iter().collect()),
            Some(name) => self.volume(name).map(|v| vec![v]),
        }
    }

    fn unknown_volume(&self, name: &str) -> UnknownVolume {
        UnknownVolume {
            plan: self.name.clone(),
            volume: name.to_string(),
            known: self.volumes.iter().map(|v| v.name.clone()).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hooks {
    /// Every executable file in it is a hook: `suspend` in name order,
    /// `resume` in reverse.
    pub dir: PathBuf,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Target {
    /// The volume group that holds the backup LVs.
    pub vg: String,
    pub iscsi: Option<Iscsi>,
    /// Deactivate and `vgexport` the backup VG when done.
    pub export: bool,
    /// Protect the previous backup with a snapshot while a volume is copied
    /// (`target.keep_previous`, default true). Always false with
    /// `generations`: a run never rewrites an older generation.
    pub keep_previous: bool,
    /// `target.pool`: every run adds each volume's generation to this thin
    /// pool instead of rewriting one backup LV.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generations: Option<Generations>,
}

/// Thin-pool generations (`target.pool`, `target.pool_threshold`,
/// `retention:`). It names the pool; it does not say the pool exists or
/// how full it is: check and apply find that on the machine.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Generations {
    /// The thin pool's LV name in `target.vg`.
    pub pool: String,
    /// The pool's data or metadata use, in percent, at which a run stops
    /// writing a volume (default 95).
    pub threshold_percent: u8,
    pub retention: Retention,
}

/// How many complete generations of each volume retention keeps
/// (`retention:`; the rules are `retention::decide`'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Retention {
    /// The newest complete generations kept; at least 1.
    pub keep_last: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
}

impl Default for Retention {
    /// `retention:` left out: the 7 newest.
    fn default() -> Self {
        Retention {
            keep_last: 7,
            keep_daily: 0,
            keep_weekly: 0,
            keep_monthly: 0,
        }
    }
}

/// The default of `target.pool_threshold`.
pub const DEFAULT_POOL_THRESHOLD: u8 = 95;

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Iscsi {
    /// `host:port`, port defaulting to 3260.
    pub portal: String,
    pub iqn: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Volume {
    /// Unique within the plan; what `after:`, reports and `--volume` use.
    /// The LV name unless the plan sets `name:`.
    pub name: String,
    pub source: LvPath,
    /// LV name inside `target.vg`; the source LV's name unless `target_lv:` is set.
    pub target_lv: String,
    pub snapshot_size: SnapshotSize,
    /// The volume itself names `snapshot_size` (not `defaults:`): check
    /// warns that it has no effect when the origin is thin.
    #[serde(skip)]
    pub snapshot_size_set: bool,
    /// How far the watchdog may grow the snapshot during the run
    /// (`snapshot_size_max`); `None`: it keeps its size.
    pub snapshot_size_max: Option<SnapshotSize>,
    pub bandwidth: Bandwidth,
    pub verify: bool,
    /// A thin origin's snapshot of a good copy stays as its base
    /// (`retain_base`, default true).
    pub retain_base: bool,
    /// Names of volumes whose copy must finish before this one's starts.
    pub after: Vec<String>,
}

/// `vg/lv`, both parts valid LVM names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
pub struct LvPath {
    pub vg: String,
    pub lv: String,
}

impl fmt::Display for LvPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.vg, self.lv)
    }
}

/// The copy-on-write space a snapshot gets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotSize {
    Bytes(u64),
    /// Of the origin LV's size, `0 < p <= 100`; resolved against `lvs` later,
    /// rounded up to whole extents.
    PercentOfOrigin(f64),
}

/// A copy's speed limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Bandwidth {
    Unlimited,
    BytesPerSecond(u64),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::test_plans::plan;

    #[test]
    fn a_volume_is_found_by_name_and_an_unknown_one_names_the_plans_volumes() {
        let p = plan(&[
            ("vg0/root", SnapshotSize::Bytes(1 << 20)),
            ("vg0/home", SnapshotSize::Bytes(1 << 20)),
        ]);
        assert_eq!(p.volume("home").unwrap().name, "home");
        assert_eq!(p.volumes_named(None).unwrap().len(), 2);
        assert_eq!(p.volumes_named(Some("root")).unwrap()[0].name, "root");
        let e = p.volumes_named(Some("srv")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "plan nightly has no volume srv; its volumes: root, home"
        );
    }
}
