//! The typed steps of a compiled plan, and the actions (command lines, hook
//! runs, in-process work) each one performs. Steps carry everything they
//! need, so `apply` can run one without looking back at the plan.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::argv::{self as commands, SizeArg};
use super::phase::Phase;
use crate::human;
use crate::plan::{Bandwidth, LvPath, SnapshotSize};

/// One unit of work in the graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// iSCSI discovery and login, then wait for the backup VG to appear.
    IscsiLogin {
        portal: String,
        iqn: String,
    },
    IscsiLogout {
        portal: String,
        iqn: String,
    },
    /// `vgimport` when the VG is exported, then `vgchange --activate y`.
    TargetActivate {
        vg: String,
    },
    /// `vgchange --activate n`, then `vgexport` when `export` is set; both
    /// only when the VG is not exported already (LVM refuses either on an
    /// exported VG, which has nothing active), so deactivating is idempotent.
    TargetDeactivate {
        vg: String,
        export: bool,
    },
    /// Deletes a backup LV: the `remove` phase only.
    RemoveBackupLv {
        volume: String,
        backup: LvPath,
    },
    /// Creates the backup LV with the origin's size when missing, extends it
    /// when the origin grew; never shrinks or deletes it.
    EnsureBackupLv {
        volume: String,
        origin: LvPath,
        backup: LvPath,
    },
    Suspend(Hook),
    Resume(Hook),
    Snapshot {
        volume: String,
        origin: LvPath,
        snapshot: LvPath,
        size: SnapshotSize,
    },
    RemoveSnapshot {
        volume: String,
        snapshot: LvPath,
    },
    /// After a good copy of a thin origin: its snapshot replaces the
    /// origin's kept base (the next copy reads only what changed since
    /// it). Nothing for a classic origin: its snapshot is removed.
    KeepBase {
        volume: String,
        origin: LvPath,
        snapshot: LvPath,
        base: LvPath,
    },
    /// `retain_base: false` on a thin origin: a base an earlier run kept
    /// (while the plan still said true) is removed, so it does not pin
    /// pool space that nothing reads any more.
    DropBase {
        volume: String,
        origin: LvPath,
        base: LvPath,
    },
    /// Copies the snapshot onto the backup LV with the copy engine. When the
    /// volume is not verified, the copy is what marks the backup complete.
    Copy {
        volume: String,
        snapshot: LvPath,
        backup: LvPath,
        bandwidth: Bandwidth,
        verify: bool,
    },
    /// Compares the backup with the snapshot, then marks the backup complete.
    Verify {
        volume: String,
        snapshot: LvPath,
        backup: LvPath,
    },
    /// Keeps the previous backup: a snapshot of the backup LV that holds
    /// every block the copy overwrites (`target.keep_previous`). Only when
    /// the backup LV holds a complete backup; otherwise there is nothing
    /// to keep.
    Protect {
        volume: String,
        backup: LvPath,
        protection: LvPath,
    },
    /// A thin-pool target (`target.pool`): the volume's new generation,
    /// made just before its copy, tagged incomplete and with this run's
    /// tag. A thin snapshot of the newest complete generation when there
    /// is one (the copy then writes only what changed), else a new thin LV
    /// of the origin's size in the pool; extended when the origin grew.
    NewGeneration {
        volume: String,
        origin: LvPath,
        pool: LvPath,
        /// `<target vg>/<target_lv>`: what the generations' names start
        /// with (`<target_lv>.<id>`).
        series: LvPath,
        generation: LvPath,
    },
    /// After the copy and verify, and on rollback: the generation this run
    /// made is removed unless it became complete (its copy or verify
    /// failed, the pool guard stopped it, or the run is rolled back). No
    /// other generation is ever touched.
    DiscardGeneration {
        volume: String,
        generation: LvPath,
    },
    /// Retention, once the volume's new generation is complete and
    /// verified: the complete generations no rule keeps are removed
    /// (`prune::decide`), never the newest complete one.
    Prune {
        volume: String,
        series: LvPath,
    },
    /// After the copy (and verify): a good new copy removes the protection;
    /// otherwise (copy or verify failed, or the run is rolled back) the
    /// protection is merged back, so the backup LV holds the previous
    /// backup again, with its manifest and its `complete` tag.
    ReleaseProtection {
        volume: String,
        backup: LvPath,
        protection: LvPath,
    },
}

/// A hook program, or the whole directory when it could not be listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    File {
        path: PathBuf,
        #[serde(rename = "timeout_seconds", serialize_with = "seconds")]
        timeout: Duration,
    },
    /// Every executable in `dir` (suspend in name order, resume in reverse),
    /// listed at run time.
    Directory {
        dir: PathBuf,
        #[serde(rename = "timeout_seconds", serialize_with = "seconds")]
        timeout: Duration,
    },
}

/// Durations in JSON as (fractional) seconds, not serde's `{secs, nanos}`.
fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Hook {
    pub fn timeout(&self) -> Duration {
        match self {
            Hook::File { timeout, .. } | Hook::Directory { timeout, .. } => *timeout,
        }
    }

    /// The file name, or `*` for a whole directory: what the step id shows.
    fn short_name(&self) -> String {
        match self {
            Hook::File { path, .. } => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
            Hook::Directory { .. } => "*".into(),
        }
    }
}

/// When a command runs only if the system is in some state, which `apply`
/// finds out at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "if", rename_all = "snake_case")]
pub enum Condition {
    VgExported {
        vg: String,
    },
    /// Also holds for a VG not visible at all: the command then runs and
    /// fails, saying so, rather than passing for done.
    VgNotExported {
        vg: String,
    },
    LvMissing {
        lv: LvPath,
    },
    /// The LV exists and the origin is a thin volume.
    ThinBaseExists {
        origin: LvPath,
        base: LvPath,
    },
    LvSmallerThan {
        lv: LvPath,
        origin: LvPath,
    },
    /// The origin is a thin volume: its snapshot is a thin one, in its pool.
    OriginThin {
        origin: LvPath,
    },
    /// The origin is a classic LV: its snapshot has copy-on-write space of
    /// its own.
    OriginNotThin {
        origin: LvPath,
    },
    /// The backup LV is tagged `snapplan-state:complete`.
    LvComplete {
        lv: LvPath,
    },
    /// No run of another plan holds the backup VG's target lock: this run
    /// is its last user, and deactivates (exports) it.
    NoOtherPlanUsesVg {
        vg: String,
    },
    /// No run of another plan holds the iSCSI target's lock.
    NoOtherPlanUsesIscsi {
        iqn: String,
    },
    /// Every one of these holds.
    All {
        all: Vec<Condition>,
    },
    /// The volume has a complete generation (of this plan, in its series).
    HasCompleteGeneration {
        series: LvPath,
    },
    NoCompleteGeneration {
        series: LvPath,
    },
    /// The generation exists, this run made it, and it is not complete.
    GenerationNotComplete {
        generation: LvPath,
    },
    /// The protection snapshot exists and the volume's new copy is good.
    NewCopyGood {
        volume: String,
        protection: LvPath,
    },
    /// The protection snapshot exists and the volume's new copy is not good.
    NewCopyNotGood {
        volume: String,
        protection: LvPath,
    },
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::VgExported { vg } => write!(f, "only if VG {vg} is exported"),
            Condition::VgNotExported { vg } => write!(f, "only if VG {vg} is not exported"),
            Condition::LvMissing { lv } => write!(f, "only if {lv} does not exist"),
            Condition::ThinBaseExists { origin, base } => {
                write!(f, "only if {origin} is a thin volume and {base} exists")
            }
            Condition::LvSmallerThan { lv, origin } => {
                write!(f, "only if {lv} is smaller than {origin}")
            }
            Condition::OriginThin { origin } => write!(f, "only if {origin} is a thin volume"),
            Condition::OriginNotThin { origin } => {
                write!(f, "only if {origin} is not a thin volume")
            }
            Condition::LvComplete { lv } => write!(f, "only if {lv} holds a complete backup"),
            Condition::NoOtherPlanUsesVg { vg } => write!(f, "only if no other plan uses VG {vg}"),
            Condition::NoOtherPlanUsesIscsi { iqn } => {
                write!(f, "only if no other plan uses iSCSI target {iqn}")
            }
            Condition::All { all } => {
                let parts: Vec<String> = all
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let text = c.to_string();
                        match text.strip_prefix("only if ") {
                            Some(rest) if i > 0 => rest.to_string(),
                            _ => text,
                        }
                    })
                    .collect();
                write!(f, "{}", parts.join(" and "))
            }
            Condition::HasCompleteGeneration { series } => {
                write!(f, "only if {series} has a complete generation")
            }
            Condition::NoCompleteGeneration { series } => {
                write!(f, "only if {series} has no complete generation")
            }
            Condition::GenerationNotComplete { generation } => write!(
                f,
                "only if {generation} exists, was made by this run and is not complete"
            ),
            Condition::NewCopyGood { volume, protection } => write!(
                f,
                "only if {protection} exists and the new copy of {volume} is good"
            ),
            Condition::NewCopyNotGood { volume, protection } => write!(
                f,
                "only if {protection} exists and the new copy of {volume} failed"
            ),
        }
    }
}

/// What a step does, in order; the first failure fails the step.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// An external program, run directly (no shell). In `plan --format
    /// json` an argument known only at run time is a typed placeholder.
    Run {
        #[schemars(with = "Vec<super::render_json::Arg>")]
        argv: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        only_if: Option<Condition>,
    },
    /// A hook program; its process group is killed after `timeout`.
    Hook {
        #[schemars(with = "Vec<super::render_json::Arg>")]
        argv: Vec<String>,
        #[serde(rename = "timeout_seconds", serialize_with = "seconds")]
        #[schemars(with = "f64")]
        timeout: Duration,
    },
    /// Every executable in `dir`, in `order`, each given `arg`.
    EachHook {
        dir: PathBuf,
        arg: String,
        order: HookOrder,
        #[serde(rename = "timeout_seconds", serialize_with = "seconds")]
        #[schemars(with = "f64")]
        timeout: Duration,
    },
    /// Work snapplan does itself (copy engine, checksums, waiting).
    InProcess { what: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HookOrder {
    NameOrder,
    ReverseNameOrder,
}

/// What a failed step does to the run (the steps that need it are skipped
/// in every case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Stop here and roll back everything that ran.
    Abort,
    /// Its volume has no good backup this run; the other volumes go on.
    FailVolume,
    /// Something the run set up stays behind (a suspended service, a
    /// snapshot, an active target): the run ends with exit code 5.
    CleanupIncomplete,
    /// Reported; the run goes on without what needed it.
    Continue,
}

/// Values only known when the plan is applied. At plan time
/// [`PlanTimeValues`] shows them as `<...>` placeholders; `apply` resolves
/// them from the run and from `lvs`.
pub trait RunValues {
    /// The id that goes into the `snapplan-run:` tag.
    fn run_id(&self) -> String;
    /// The size of `origin`, for a backup LV created or extended to match it.
    fn size_of(&self, origin: &LvPath) -> SizeArg;
    /// `percent` of `origin`'s size, for fractional percentages, which LVM's
    /// `--extents N%ORIGIN` cannot express.
    fn percent_of(&self, origin: &LvPath, percent: f64) -> SizeArg;
    /// The newest complete generation of plan `plan` in `series` (see
    /// [`Step::NewGeneration`]), which a new generation is a snapshot of.
    fn newest_generation(&self, plan: &str, series: &LvPath) -> LvPath;
}

/// Placeholders for what is known only at run time: stable, machine-free.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanTimeValues;

/// How the run id shows at plan time.
pub const RUN_ID_PLACEHOLDER: &str = "<run>";

/// How a generation id (the run's start, `YYYYMMDDTHHMMSSZ`) shows at plan
/// time, in generation LV names (`root.<generation>`).
pub const GENERATION_PLACEHOLDER: &str = "<generation>";

const NEWEST_PREFIX: &str = "<newest complete generation of ";

impl RunValues for PlanTimeValues {
    fn run_id(&self) -> String {
        RUN_ID_PLACEHOLDER.into()
    }
    fn size_of(&self, origin: &LvPath) -> SizeArg {
        SizeArg::Deferred(format!("<size of {origin}>"))
    }
    fn percent_of(&self, origin: &LvPath, percent: f64) -> SizeArg {
        SizeArg::Deferred(format!("<{percent}% of {origin}>"))
    }
    fn newest_generation(&self, _plan: &str, series: &LvPath) -> LvPath {
        LvPath {
            vg: series.vg.clone(),
            lv: format!("{NEWEST_PREFIX}{}>", series.lv),
        }
    }
}

/// A value known only at run time, typed for `plan --format json`: tools
/// see what will go there instead of parsing `<...>` out of an argv
/// string. `text` is the argument as `plan` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "placeholder", rename_all = "snake_case")]
pub enum Placeholder {
    /// The run's id (`YYYYMMDDTHHMMSSZ-PID`), inside the argument after
    /// `prefix` (the `snapplan-run:` tag).
    RunId { text: String, prefix: String },
    /// The size in bytes of `lv` as `lvs` reports it when the run starts
    /// (`--size <bytes>b`).
    LvSize { text: String, lv: String },
    /// `percent` % of `lv`'s size, rounded up to whole extents (`--size
    /// <bytes>b`; LVM's `N%ORIGIN` only takes whole numbers).
    PercentOfLvSize {
        text: String,
        percent: f64,
        lv: String,
    },
    /// The run's generation id (`YYYYMMDDTHHMMSSZ`, its UTC start), at
    /// the end of a generation LV's name after `prefix`.
    GenerationId { text: String, prefix: String },
    /// The newest complete generation of `series` (`vg/target_lv`) when
    /// the run starts, `vg/<target_lv>.<id>`.
    NewestGeneration { text: String, series: String },
}

impl PlanTimeValues {
    /// The placeholder an argument printed with these values stands for,
    /// if any: the inverse of [`RunValues`] for [`PlanTimeValues`], so the
    /// two spellings live side by side.
    pub fn placeholder_in(arg: &str) -> Option<Placeholder> {
        if let Some(prefix) = arg.strip_suffix(RUN_ID_PLACEHOLDER) {
            return Some(Placeholder::RunId {
                text: arg.into(),
                prefix: prefix.into(),
            });
        }
        if let Some(prefix) = arg.strip_suffix(GENERATION_PLACEHOLDER) {
            return Some(Placeholder::GenerationId {
                text: arg.into(),
                prefix: prefix.into(),
            });
        }
        if let Some((vg, rest)) = arg.split_once('/')
            && let Some(lv) = rest.strip_prefix(NEWEST_PREFIX)
            && let Some(lv) = lv.strip_suffix('>')
        {
            return Some(Placeholder::NewestGeneration {
                text: arg.into(),
                series: format!("{vg}/{lv}"),
            });
        }
        let inner = arg.strip_prefix('<')?.strip_suffix('>')?;
        if let Some(lv) = inner.strip_prefix("size of ") {
            return Some(Placeholder::LvSize {
                text: arg.into(),
                lv: lv.into(),
            });
        }
        let (percent, lv) = inner.split_once("% of ")?;
        Some(Placeholder::PercentOfLvSize {
            text: arg.into(),
            percent: percent.parse().ok()?,
            lv: lv.into(),
        })
    }
}

impl Step {
    /// A stable, unique key (`snapshot:root`, `suspend:10-db`): what the
    /// journal, JSON output and tests name a step by.
    pub fn id(&self) -> String {
        match self {
            Step::IscsiLogin { .. } => "iscsi-login".into(),
            Step::IscsiLogout { .. } => "iscsi-logout".into(),
            Step::TargetActivate { vg } => format!("activate:{vg}"),
            Step::TargetDeactivate { vg, .. } => format!("deactivate:{vg}"),
            Step::RemoveBackupLv { volume, .. } => format!("remove-backup:{volume}"),
            Step::EnsureBackupLv { volume, .. } => format!("ensure-backup:{volume}"),
            Step::Suspend(hook) => format!("suspend:{}", hook.short_name()),
            Step::Resume(hook) => format!("resume:{}", hook.short_name()),
            Step::Snapshot { volume, .. } => format!("snapshot:{volume}"),
            Step::RemoveSnapshot { volume, .. } => format!("remove-snapshot:{volume}"),
            Step::KeepBase { volume, .. } => format!("keep-base:{volume}"),
            Step::DropBase { volume, .. } => format!("drop-base:{volume}"),
            Step::Copy { volume, .. } => format!("copy:{volume}"),
            Step::Verify { volume, .. } => format!("verify:{volume}"),
            Step::Protect { volume, .. } => format!("protect:{volume}"),
            Step::ReleaseProtection { volume, .. } => format!("release:{volume}"),
            Step::NewGeneration { volume, .. } => format!("generation:{volume}"),
            Step::DiscardGeneration { volume, .. } => format!("discard-generation:{volume}"),
            Step::Prune { volume, .. } => format!("prune:{volume}"),
        }
    }

    /// The kind as a word (`snapshot`, `remove_snapshot`), for JSON and DOT.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::IscsiLogin { .. } => "iscsi_login",
            Step::IscsiLogout { .. } => "iscsi_logout",
            Step::TargetActivate { .. } => "target_activate",
            Step::TargetDeactivate { .. } => "target_deactivate",
            Step::RemoveBackupLv { .. } => "remove_backup_lv",
            Step::EnsureBackupLv { .. } => "ensure_backup_lv",
            Step::Suspend(_) => "suspend",
            Step::Resume(_) => "resume",
            Step::Snapshot { .. } => "snapshot",
            Step::RemoveSnapshot { .. } => "remove_snapshot",
            Step::KeepBase { .. } => "keep_base",
            Step::DropBase { .. } => "drop_base",
            Step::Copy { .. } => "copy",
            Step::Verify { .. } => "verify",
            Step::Protect { .. } => "protect",
            Step::ReleaseProtection { .. } => "release_protection",
            Step::NewGeneration { .. } => "new_generation",
            Step::DiscardGeneration { .. } => "discard_generation",
            Step::Prune { .. } => "prune",
        }
    }

    pub fn phase(&self) -> Phase {
        match self {
            Step::IscsiLogin { .. } => Phase::Login,
            Step::TargetActivate { .. } => Phase::Activate,
            Step::RemoveBackupLv { .. } => Phase::Remove,
            Step::TargetDeactivate { .. } => Phase::Deactivate,
            Step::IscsiLogout { .. } => Phase::Logout,
            Step::EnsureBackupLv { .. }
            | Step::Suspend(_)
            | Step::Resume(_)
            | Step::Snapshot { .. }
            | Step::RemoveSnapshot { .. }
            | Step::KeepBase { .. }
            | Step::DropBase { .. }
            | Step::Copy { .. }
            | Step::Verify { .. }
            | Step::Protect { .. }
            | Step::ReleaseProtection { .. }
            | Step::NewGeneration { .. }
            | Step::DiscardGeneration { .. }
            | Step::Prune { .. } => Phase::Backup,
        }
    }

    /// The plan volume this step works on, if any.
    pub fn volume(&self) -> Option<&str> {
        match self {
            Step::RemoveBackupLv { volume, .. }
            | Step::EnsureBackupLv { volume, .. }
            | Step::Snapshot { volume, .. }
            | Step::RemoveSnapshot { volume, .. }
            | Step::KeepBase { volume, .. }
            | Step::DropBase { volume, .. }
            | Step::Copy { volume, .. }
            | Step::Verify { volume, .. }
            | Step::Protect { volume, .. }
            | Step::ReleaseProtection { volume, .. }
            | Step::NewGeneration { volume, .. }
            | Step::DiscardGeneration { volume, .. }
            | Step::Prune { volume, .. } => Some(volume),
            _ => None,
        }
    }

    /// Whether the step leaves the system changed in a way a failed run
    /// must undo (it then has a rollback edge to its compensating step).
    pub fn needs_undo(&self) -> bool {
        matches!(
            self,
            Step::IscsiLogin { .. }
                | Step::TargetActivate { .. }
                | Step::Suspend(_)
                | Step::Snapshot { .. }
                | Step::Protect { .. }
                | Step::NewGeneration { .. }
        )
    }

    /// What a failure of this step means for the rest of the run.
    pub fn on_failure(&self) -> OnFailure {
        match self {
            // Without every service suspended, or every snapshot taken, the
            // snapshots are not one consistent moment: stop and roll back.
            Step::Suspend(_) | Step::Snapshot { .. } => OnFailure::Abort,
            // No protection, no copy: the previous backup stays as it was.
            Step::Copy { .. }
            | Step::Verify { .. }
            | Step::EnsureBackupLv { .. }
            | Step::Protect { .. }
            | Step::NewGeneration { .. } => OnFailure::FailVolume,
            // An incomplete generation left behind is a leftover check
            // fails on; recover or the next apply remove it.
            Step::DiscardGeneration { .. } => OnFailure::CleanupIncomplete,
            // A protection neither removed nor merged back holds the
            // previous backup still: snapplan recover or the next apply
            // decide, an admin may restore from it by hand.
            Step::ReleaseProtection { .. } => OnFailure::CleanupIncomplete,
            Step::Resume(_)
            | Step::RemoveSnapshot { .. }
            | Step::TargetDeactivate { .. }
            | Step::IscsiLogout { .. } => OnFailure::CleanupIncomplete,
            // The backup is good either way; without a base the next copy
            // reads everything, and a base left over only costs pool space.
            Step::IscsiLogin { .. }
            | Step::TargetActivate { .. }
            | Step::RemoveBackupLv { .. }
            | Step::KeepBase { .. }
            | Step::DropBase { .. } => OnFailure::Continue,
            // The new generation is good; an old one kept one run longer
            // costs pool space, which check counts.
            Step::Prune { .. } => OnFailure::Continue,
        }
    }

    /// Whether the step destroys data a user may still want (backups).
    pub fn is_destructive(&self) -> bool {
        matches!(self, Step::RemoveBackupLv { .. } | Step::Prune { .. })
    }

    /// What the step does, with run-time values from `values`.
    pub fn actions(&self, plan_name: &str, values: &dyn RunValues) -> Vec<Action> {
        let run = |argv| Action::Run {
            argv,
            only_if: None,
        };
        let work = |what: String| Action::InProcess { what };
        match self {
            Step::IscsiLogin { portal, iqn } => vec![
                run(commands::iscsi_discover(portal)),
                run(commands::iscsi_login(portal, iqn)),
                work("wait (bounded) for the backup VG's physical volumes to appear".into()),
            ],
            // One session per target and host: several plans may use it.
            Step::IscsiLogout { portal, iqn } => vec![Action::Run {
                argv: commands::iscsi_logout(portal, iqn),
                only_if: Some(Condition::NoOtherPlanUsesIscsi { iqn: iqn.clone() }),
            }],
            Step::TargetActivate { vg } => vec![
                Action::Run {
                    argv: commands::import_vg(vg),
                    only_if: Some(Condition::VgExported { vg: vg.clone() }),
                },
                run(commands::activate_vg(vg, true)),
            ],
            Step::TargetDeactivate { vg, export } => {
                // Several plans may back up into one VG at once: only the
                // last one to finish deactivates it (decided at run time).
                let unless_exported = |argv| Action::Run {
                    argv,
                    only_if: Some(Condition::All {
                        all: vec![
                            Condition::NoOtherPlanUsesVg { vg: vg.clone() },
                            Condition::VgNotExported { vg: vg.clone() },
                        ],
                    }),
                };
                let mut actions = vec![unless_exported(commands::activate_vg(vg, false))];
                if *export {
                    actions.push(unless_exported(commands::export_vg(vg)));
                }
                actions
            }
            Step::RemoveBackupLv { backup, .. } => vec![run(commands::remove_lv(backup))],
            Step::EnsureBackupLv { origin, backup, .. } => {
                let size = values.size_of(origin);
                vec![
                    Action::Run {
                        argv: commands::create_lv(backup, &size, &commands::backup_tags(plan_name)),
                        only_if: Some(Condition::LvMissing { lv: backup.clone() }),
                    },
                    Action::Run {
                        argv: commands::extend_lv(backup, &size),
                        only_if: Some(Condition::LvSmallerThan {
                            lv: backup.clone(),
                            origin: origin.clone(),
                        }),
                    },
                ]
            }
            Step::Suspend(hook) => vec![hook_action(hook, "suspend", HookOrder::NameOrder)],
            Step::Resume(hook) => vec![hook_action(hook, "resume", HookOrder::ReverseNameOrder)],
            Step::Snapshot {
                origin,
                snapshot,
                size,
                ..
            } => {
                let size = match *size {
                    SnapshotSize::Bytes(n) => SizeArg::Bytes(n),
                    SnapshotSize::PercentOfOrigin(p) if p.fract() == 0.0 => {
                        SizeArg::PercentOfOrigin(p as u32)
                    }
                    SnapshotSize::PercentOfOrigin(p) => values.percent_of(origin, p),
                };
                let tags = commands::snapshot_tags(plan_name, &values.run_id());
                // Whether the origin is thin is known only on the machine
                // (`snapplan plan` reads nothing): both commands, one runs.
                vec![
                    Action::Run {
                        argv: commands::create_snapshot(origin, &snapshot.lv, &size, &tags),
                        only_if: Some(Condition::OriginNotThin {
                            origin: origin.clone(),
                        }),
                    },
                    Action::Run {
                        argv: commands::create_thin_snapshot(origin, &snapshot.lv, &tags),
                        only_if: Some(Condition::OriginThin {
                            origin: origin.clone(),
                        }),
                    },
                ]
            }
            Step::RemoveSnapshot { snapshot, .. } => vec![run(commands::remove_lv(snapshot))],
            Step::KeepBase {
                origin,
                snapshot,
                base,
                ..
            } => {
                let thin = || {
                    Some(Condition::OriginThin {
                        origin: origin.clone(),
                    })
                };
                vec![
                    Action::Run {
                        argv: commands::remove_lv(base),
                        only_if: Some(Condition::ThinBaseExists {
                            origin: origin.clone(),
                            base: base.clone(),
                        }),
                    },
                    Action::Run {
                        argv: commands::rename_lv(snapshot, &base.lv),
                        only_if: thin(),
                    },
                    Action::Run {
                        argv: commands::mark_base(base, &values.run_id()),
                        only_if: thin(),
                    },
                ]
            }
            Step::DropBase { origin, base, .. } => vec![Action::Run {
                argv: commands::remove_lv(base),
                only_if: Some(Condition::ThinBaseExists {
                    origin: origin.clone(),
                    base: base.clone(),
                }),
            }],
            Step::Copy {
                snapshot,
                backup,
                bandwidth,
                verify,
                ..
            } => {
                let limit = match bandwidth {
                    Bandwidth::Unlimited => "no bandwidth limit".to_string(),
                    Bandwidth::BytesPerSecond(n) => format!("at most {}/s", human::exact_bytes(*n)),
                };
                let mut actions = vec![
                    run(commands::mark_backup(backup, false)),
                    work(format!(
                        "copy {snapshot} onto {backup} ({limit}), watching the snapshot's usage; \
                         fails if the snapshot becomes invalid"
                    )),
                ];
                if !verify {
                    actions.push(run(commands::mark_backup(backup, true)));
                }
                actions
            }
            Step::Verify {
                snapshot, backup, ..
            } => vec![
                work(format!("compare the checksums of {backup} with {snapshot}")),
                run(commands::mark_backup(backup, true)),
            ],
            Step::Protect {
                backup, protection, ..
            } => {
                let only_if = Some(Condition::LvComplete { lv: backup.clone() });
                vec![
                    work(format!(
                        "keep a copy of the manifest of {backup}, to put back with the previous \
                         backup"
                    )),
                    Action::Run {
                        argv: commands::create_snapshot(
                            backup,
                            &protection.lv,
                            &values.percent_of(backup, commands::PROTECTION_PERCENT),
                            &commands::protection_tags(plan_name, &values.run_id()),
                        ),
                        only_if,
                    },
                ]
            }
            Step::NewGeneration {
                origin,
                pool,
                series,
                generation,
                ..
            } => {
                let tags = crate::tags::generation_tags(plan_name, &values.run_id());
                let size = values.size_of(origin);
                vec![
                    Action::Run {
                        argv: commands::create_generation_snapshot(
                            &values.newest_generation(plan_name, series),
                            &generation.lv,
                            &tags,
                        ),
                        only_if: Some(Condition::HasCompleteGeneration {
                            series: series.clone(),
                        }),
                    },
                    Action::Run {
                        argv: commands::create_generation(pool, &generation.lv, &size, &tags),
                        only_if: Some(Condition::NoCompleteGeneration {
                            series: series.clone(),
                        }),
                    },
                    Action::Run {
                        argv: commands::extend_lv(generation, &size),
                        only_if: Some(Condition::LvSmallerThan {
                            lv: generation.clone(),
                            origin: origin.clone(),
                        }),
                    },
                ]
            }
            Step::DiscardGeneration { generation, .. } => vec![Action::Run {
                argv: commands::remove_lv(generation),
                only_if: Some(Condition::GenerationNotComplete {
                    generation: generation.clone(),
                }),
            }],
            Step::Prune { series, .. } => vec![work(format!(
                "apply the plan's retention to the complete generations of {series}: remove \
                  each one no rule keeps, with its manifest (never the newest complete one)"
            ))],
            Step::ReleaseProtection {
                volume,
                backup,
                protection,
            } => vec![
                Action::Run {
                    argv: commands::remove_lv(protection),
                    only_if: Some(Condition::NewCopyGood {
                        volume: volume.clone(),
                        protection: protection.clone(),
                    }),
                },
                Action::Run {
                    argv: commands::merge_snapshot(protection),
                    only_if: Some(Condition::NewCopyNotGood {
                        volume: volume.clone(),
                        protection: protection.clone(),
                    }),
                },
                work(format!(
                    "after a merge: check that it finished and {protection} is gone, put the \
                     previous manifest back"
                )),
                Action::Run {
                    argv: commands::mark_backup(backup, true),
                    only_if: Some(Condition::NewCopyNotGood {
                        volume: volume.clone(),
                        protection: protection.clone(),
                    }),
                },
            ],
        }
    }
}

fn hook_action(hook: &Hook, arg: &str, order: HookOrder) -> Action {
    match hook {
        Hook::File { path, timeout } => Action::Hook {
            argv: vec![path.display().to_string(), arg.into()],
            timeout: *timeout,
        },
        Hook::Directory { dir, timeout } => Action::EachHook {
            dir: dir.clone(),
            arg: arg.into(),
            order,
            timeout: *timeout,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lv(vg: &str, lv: &str) -> LvPath {
        LvPath {
            vg: vg.into(),
            lv: lv.into(),
        }
    }

    fn argvs(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Run { argv, .. } | Action::Hook { argv, .. } => Some(argv.join(" ")),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn human_units() {
        assert_eq!(human::exact_bytes(8 << 30), "8 GiB");
        assert_eq!(human::exact_bytes(60 << 20), "60 MiB");
        assert_eq!(human::exact_bytes(1536 << 10), "1536 KiB");
        assert_eq!(human::exact_bytes(1000), "1000 B");
        assert_eq!(human::duration(Duration::from_secs(60)), "1m");
        assert_eq!(human::duration(Duration::from_secs(90)), "90s");
        assert_eq!(human::duration(Duration::from_secs(7200)), "2h");
    }

    #[test]
    fn snapshot_sizes_bytes_whole_and_fractional_percent() {
        let step = |size| Step::Snapshot {
            volume: "root".into(),
            origin: lv("vg0", "root"),
            snapshot: lv("vg0", "root-snapplan"),
            size,
        };
        let text = |s: Step| argvs(&s.actions("p", &PlanTimeValues)).join("\n");
        assert!(text(step(SnapshotSize::Bytes(1 << 30))).contains("--size 1073741824b"));
        assert!(text(step(SnapshotSize::PercentOfOrigin(20.0))).contains("--extents 20%ORIGIN"));
        assert!(
            text(step(SnapshotSize::PercentOfOrigin(12.5))).contains("--size <12.5% of vg0/root>")
        );
        assert!(text(step(SnapshotSize::Bytes(1))).contains("--addtag snapplan-run:<run>"));
    }

    #[test]
    fn a_thin_origins_snapshot_replaces_its_base_old_one_first_and_retagged_last() {
        let step = Step::KeepBase {
            volume: "vm1".into(),
            origin: lv("vg0", "vm1"),
            snapshot: lv("vg0", "vm1-snapplan"),
            base: lv("vg0", "vm1-snapplan-base"),
        };
        assert_eq!(
            argvs(&step.actions("p", &PlanTimeValues)),
            [
                "lvremove --yes vg0/vm1-snapplan-base",
                "lvrename vg0/vm1-snapplan vm1-snapplan-base",
                "lvchange --deltag snapplan-role:snapshot --deltag snapplan-run:<run> \
                 --addtag snapplan-role:base vg0/vm1-snapplan-base",
            ]
        );
        assert_eq!(step.on_failure(), OnFailure::Continue);
        assert!(!step.needs_undo());
    }

    #[test]
    fn retain_base_off_removes_a_base_left_from_before_and_only_that() {
        let step = Step::DropBase {
            volume: "vm1".into(),
            origin: lv("vg0", "vm1"),
            base: lv("vg0", "vm1-snapplan-base"),
        };
        let actions = step.actions("p", &PlanTimeValues);
        assert_eq!(argvs(&actions), ["lvremove --yes vg0/vm1-snapplan-base"]);
        assert!(matches!(
            &actions[0],
            Action::Run {
                only_if: Some(Condition::ThinBaseExists { .. }),
                ..
            }
        ));
        assert_eq!(step.on_failure(), OnFailure::Continue);
        assert!(!step.needs_undo());
    }

    #[test]
    fn deactivate_exports_only_when_asked() {
        let off = Step::TargetDeactivate {
            vg: "b".into(),
            export: false,
        };
        let on = Step::TargetDeactivate {
            vg: "b".into(),
            export: true,
        };
        assert_eq!(
            argvs(&off.actions("p", &PlanTimeValues)),
            ["vgchange --activate n b"]
        );
        assert_eq!(
            argvs(&on.actions("p", &PlanTimeValues)),
            ["vgchange --activate n b", "vgexport b"]
        );
    }

    #[test]
    fn deactivate_commands_are_skipped_on_an_exported_vg_or_one_another_plan_uses() {
        let step = Step::TargetDeactivate {
            vg: "b".into(),
            export: true,
        };
        for action in step.actions("p", &PlanTimeValues) {
            let Action::Run { only_if, .. } = action else {
                panic!("{action:?}");
            };
            let condition = only_if.expect("deactivate commands are conditional");
            assert_eq!(
                condition,
                Condition::All {
                    all: vec![
                        Condition::NoOtherPlanUsesVg { vg: "b".into() },
                        Condition::VgNotExported { vg: "b".into() }
                    ]
                }
            );
            assert_eq!(
                condition.to_string(),
                "only if no other plan uses VG b and VG b is not exported"
            );
        }
    }

    #[test]
    fn logout_is_only_for_the_last_plan_using_the_iscsi_target() {
        let step = Step::IscsiLogout {
            portal: "10.0.0.5:3260".into(),
            iqn: "iqn.2026-01.lan:disk".into(),
        };
        let [Action::Run { only_if, .. }] = &step.actions("p", &PlanTimeValues)[..] else {
            panic!("one command");
        };
        assert_eq!(
            only_if.as_ref().map(|c| c.to_string()).as_deref(),
            Some("only if no other plan uses iSCSI target iqn.2026-01.lan:disk")
        );
    }

    #[test]
    fn unverified_copy_marks_its_backup_complete_itself() {
        let copy = |verify| Step::Copy {
            volume: "root".into(),
            snapshot: lv("vg0", "root-snapplan"),
            backup: lv("backup", "root"),
            bandwidth: Bandwidth::Unlimited,
            verify,
        };
        let complete = commands::mark_backup(&lv("backup", "root"), true).join(" ");
        assert!(!argvs(&copy(true).actions("p", &PlanTimeValues)).contains(&complete));
        assert!(argvs(&copy(false).actions("p", &PlanTimeValues)).contains(&complete));
    }

    #[test]
    fn only_changing_steps_need_undo() {
        let hook = Hook::File {
            path: "/h/10-db".into(),
            timeout: Duration::from_secs(5),
        };
        assert!(Step::Suspend(hook.clone()).needs_undo());
        assert!(!Step::Resume(hook.clone()).needs_undo());
        assert_eq!(Step::Suspend(hook).id(), "suspend:10-db");
    }

    #[test]
    fn only_a_failed_suspend_or_snapshot_aborts_the_run() {
        let hook = Hook::File {
            path: "/h/10-db".into(),
            timeout: Duration::from_secs(5),
        };
        assert_eq!(Step::Suspend(hook.clone()).on_failure(), OnFailure::Abort);
        assert_eq!(
            Step::Resume(hook).on_failure(),
            OnFailure::CleanupIncomplete
        );
        let verify = Step::Verify {
            volume: "root".into(),
            snapshot: lv("vg0", "root-snapplan"),
            backup: lv("backup", "root"),
        };
        assert_eq!(verify.on_failure(), OnFailure::FailVolume);
        assert_eq!(verify.volume(), Some("root"), "a volume to fail");
    }

    #[test]
    fn every_plan_time_value_reads_back_as_its_placeholder() {
        let origin = LvPath {
            vg: "vg0".into(),
            lv: "root".into(),
        };
        let v = PlanTimeValues;
        let tag = format!("snapplan-run:{}", v.run_id());
        assert_eq!(
            PlanTimeValues::placeholder_in(&tag),
            Some(Placeholder::RunId {
                text: tag.clone(),
                prefix: "snapplan-run:".into()
            })
        );
        let SizeArg::Deferred(size) = v.size_of(&origin) else {
            panic!("deferred at plan time");
        };
        assert_eq!(
            PlanTimeValues::placeholder_in(&size),
            Some(Placeholder::LvSize {
                text: size.clone(),
                lv: "vg0/root".into()
            })
        );
        let SizeArg::Deferred(part) = v.percent_of(&origin, 12.5) else {
            panic!("deferred at plan time");
        };
        assert_eq!(
            PlanTimeValues::placeholder_in(&part),
            Some(Placeholder::PercentOfLvSize {
                text: part.clone(),
                percent: 12.5,
                lv: "vg0/root".into()
            })
        );
        for plain in ["--size", "vg0/root", "snapplan", "<", "<>"] {
            assert_eq!(PlanTimeValues::placeholder_in(plain), None, "{plain}");
        }
    }
}
