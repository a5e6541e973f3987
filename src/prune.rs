//! Retention applied: which of a volume's thin-pool generations go, and
//! removing them. For apply's prune step (after the volume's new
//! generation is complete and verified) and `snapplan prune` alike, so
//! that what `prune --dry-run` shows is what a run removes.
//!
//! The rules are `retention::decide`'s. Here: only LVs tagged as this
//! plan's complete generations are candidates, each one's tags are read
//! again just before it is removed, and its manifest goes with it.

use crate::generations::{PoolGeneration, pool_generations};
use crate::plan::{Plan, Volume};
use crate::retention::{self, Rule, Verdict};
use crate::system::{Lv, LvKind, System, SystemError};
use crate::tags::GenerationState;

/// What retention says about one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub generation: PoolGeneration,
    pub verdict: Verdict,
}

impl Decision {
    /// Why it stays or goes, in words (`kept by keep_last, keep_weekly`).
    pub fn why(&self) -> String {
        match &self.verdict {
            Verdict::Keep(rules) => {
                let names: Vec<&str> = rules.iter().map(|r| Rule::as_str(*r)).collect();
                format!("kept by {}", names.join(", "))
            }
            Verdict::Remove => "removed: no retention rule keeps it".into(),
            Verdict::NotCounted => {
                "incomplete: not counted (rollback or recover removes it)".into()
            }
        }
    }
}

/// The verdict on each of `volume`'s generations among `lvs`, newest first.
pub fn decide(plan: &Plan, volume: &Volume, lvs: &[Lv]) -> Vec<Decision> {
    let Some(generations) = &plan.target.generations else {
        return Vec::new();
    };
    let found = pool_generations(plan, volume, lvs);
    let seen: Vec<retention::Generation> = found
        .iter()
        .map(|g| retention::Generation {
            id: g.id.clone(),
            time: g.time,
            complete: g.state == GenerationState::Complete,
        })
        .collect();
    let r = generations.retention;
    let policy = retention::Policy {
        keep_last: r.keep_last,
        keep_daily: r.keep_daily,
        keep_weekly: r.keep_weekly,
        keep_monthly: r.keep_monthly,
    };
    let verdicts = retention::decide(policy, &seen);
    found
        .into_iter()
        .zip(verdicts)
        .map(|(generation, verdict)| Decision {
            generation,
            verdict,
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error(transparent)]
    System(#[from] SystemError),
    #[error("not removing {lv}: it is no longer tagged as a complete generation of plan {plan}")]
    NoLongerOurs { lv: String, plan: String },
}

/// Removes the generations `decisions` says go, each after reading its
/// tags again, with its manifest. Returns the ids removed; stops at the
/// first one that cannot be removed (the ones before are gone).
pub fn remove(
    sys: &dyn System,
    plan: &Plan,
    volume: &Volume,
    decisions: &[Decision],
) -> Result<Vec<String>, PruneError> {
    let mut removed = Vec::new();
    for d in decisions.iter().filter(|d| d.verdict == Verdict::Remove) {
        let lv = &d.generation.lv;
        let still = sys.lv(lv)?.is_some_and(|found| {
            crate::tags::generation_state(&found.lv_tags, &plan.name)
                == Some(GenerationState::Complete)
        });
        if !still {
            return Err(PruneError::NoLongerOurs {
                lv: lv.to_string(),
                plan: plan.name.clone(),
            });
        }
        tracing::info!(volume = %volume.name, "prune: remove {lv} ({})", d.why());
        sys.remove_lv(lv, LvKind::Plain)?;
        crate::state::runs::drop_manifest(&crate::state::runs::generation_manifest_path(
            plan,
            &volume.name,
            &d.generation.id,
        ));
        removed.push(d.generation.id.clone());
    }
    Ok(removed)
}

/// The version of the `prune --format json` document.
pub const FORMAT_VERSION: u32 = 1;

/// What `snapplan prune PLAN` is asked.
#[derive(Debug, Clone, Copy)]
pub struct PruneOptions<'a> {
    /// Only this volume (`--volume`).
    pub only: Option<&'a str>,
    /// Decide and show, remove nothing (`--dry-run`).
    pub dry_run: bool,
    /// Where `snapplan mount` keeps its records (`state::mounts::records_dir`):
    /// a mounted generation is never removed.
    pub records_dir: &'a std::path::Path,
}

/// `snapplan prune --format json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PruneDocument {
    pub format_version: u32,
    pub plan: String,
    /// Nothing was removed: the verdicts are what a prune would do.
    pub dry_run: bool,
    /// In plan order (only the one asked for with `--volume`).
    pub volumes: Vec<VolumePruned>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VolumePruned {
    pub name: String,
    /// Every generation in the pool, newest first, with its verdict.
    pub generations: Vec<PrunedGeneration>,
    /// Why the volume's pruning stopped (the ones removed before are gone).
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PrunedGeneration {
    pub id: String,
    pub lv: String,
    /// RFC 3339, UTC.
    pub time: String,
    /// `keep`, `remove` or `not_counted` (incomplete).
    pub verdict: &'static str,
    /// The rules that keep it (`newest`, `keep_last`, ...); empty unless kept.
    pub kept_by: Vec<&'static str>,
    /// The verdict in words.
    pub why: String,
    /// It was removed (never in a dry run).
    pub removed: bool,
}

/// What a prune did, and what it could not put back.
#[derive(Debug, Clone)]
pub struct PruneOutcome {
    pub document: PruneDocument,
    /// What could not be put back as it was (a VG left imported).
    pub restore_failures: Vec<String>,
}

impl PruneOutcome {
    pub fn exit_code(&self) -> crate::ExitCode {
        if !self.restore_failures.is_empty() {
            crate::ExitCode::CleanupIncomplete
        } else if self.document.volumes.iter().any(|v| v.error.is_some()) {
            crate::ExitCode::Failed
        } else {
            crate::ExitCode::Success
        }
    }
}

/// Why `snapplan prune` did nothing.
#[derive(Debug, thiserror::Error)]
pub enum PruneRunError {
    #[error(
        "plan {plan} has no `target.pool`: its volumes each have one backup LV, rewritten by \
         every run, and there are no generations to prune; nothing was done"
    )]
    NoPool { plan: String },
    #[error(transparent)]
    UnknownVolume(#[from] crate::plan::UnknownVolume),
    #[error("refusing the state directory: {0}; nothing was done")]
    Untrusted(#[from] crate::state::trust::Untrusted),
    /// The backup VG could not be reached (or LVM asked).
    #[error("{0}; nothing was done")]
    Unreachable(String),
}

impl PruneRunError {
    pub fn exit_code(&self) -> crate::ExitCode {
        match self {
            PruneRunError::NoPool { .. } | PruneRunError::UnknownVolume(_) => {
                crate::ExitCode::Usage
            }
            PruneRunError::Untrusted(_) | PruneRunError::Unreachable(_) => crate::ExitCode::Failed,
        }
    }
}

/// `snapplan prune PLAN`: retention applied to every volume's (or
/// `only`'s) generations, as apply's prune step applies it. The caller
/// holds the plan's lock. The backup VG is made reachable the way verify
/// makes it (an exported one is imported) and put back after; a
/// generation `snapplan mount` has mounted is kept.
pub fn run(
    plan: &Plan,
    sys: &dyn System,
    options: PruneOptions<'_>,
) -> Result<PruneOutcome, PruneRunError> {
    if plan.target.generations.is_none() {
        return Err(PruneRunError::NoPool {
            plan: plan.name.clone(),
        });
    }
    let volumes = plan.volumes_named(options.only)?;
    crate::state::trust::check_dir(&plan.state_dir)?;
    let mounted = mounted(plan, options.records_dir);
    let access =
        crate::verify::backup_access::open(sys, plan, &[]).map_err(PruneRunError::Unreachable)?;
    let lvs = sys
        .report()
        .and_then(|report| crate::generations::backup_lvs(sys, &report, &plan.target.vg));
    let lvs = match lvs {
        Ok(lvs) => lvs,
        Err(e) => {
            let left = access.restore(sys);
            let mut why = format!("cannot ask LVM about the generations: {e}");
            if !left.is_empty() {
                why.push_str(&format!(
                    "; the backup VG could not be put back as it was: {}",
                    left.join("; ")
                ));
            }
            return Err(PruneRunError::Unreachable(why));
        }
    };
    let mut document = PruneDocument {
        format_version: FORMAT_VERSION,
        plan: plan.name.clone(),
        dry_run: options.dry_run,
        volumes: Vec::new(),
    };
    for volume in volumes {
        let decisions = decide(plan, volume, &lvs);
        let mut error = None;
        let (to_remove, held) = hold_mounted(&decisions, &mounted);
        let held: Vec<String> = held
            .iter()
            .map(|(lv, on)| {
                format!("not removing {lv}: it is mounted on {on} (`snapplan unmount {on}` first)")
            })
            .collect();
        let removed = if options.dry_run {
            Vec::new()
        } else {
            match remove(sys, plan, volume, &to_remove) {
                Ok(removed) => removed,
                Err(e) => {
                    error = Some(e.to_string());
                    // The ones before the failure are gone: ask LVM.
                    gone(sys, &to_remove)
                }
            }
        };
        if error.is_none() && !held.is_empty() {
            error = Some(held.join("; "));
        }
        document.volumes.push(VolumePruned {
            name: volume.name.clone(),
            generations: decisions
                .iter()
                .map(|d| shown(d, removed.contains(&d.generation.id)))
                .collect(),
            error,
        });
    }
    let restore_failures = access.restore(sys);
    Ok(PruneOutcome {
        document,
        restore_failures,
    })
}

/// The ids among `decisions` whose LV is no longer there.
fn gone(sys: &dyn System, decisions: &[Decision]) -> Vec<String> {
    decisions
        .iter()
        .filter(|d| d.verdict == Verdict::Remove && matches!(sys.lv(&d.generation.lv), Ok(None)))
        .map(|d| d.generation.id.clone())
        .collect()
}

fn shown(d: &Decision, removed: bool) -> PrunedGeneration {
    let (verdict, kept_by) = match &d.verdict {
        Verdict::Keep(rules) => ("keep", rules.iter().map(|r| r.as_str()).collect()),
        Verdict::Remove => ("remove", Vec::new()),
        Verdict::NotCounted => ("not_counted", Vec::new()),
    };
    PrunedGeneration {
        id: d.generation.id.clone(),
        lv: d.generation.lv.to_string(),
        time: crate::state::time::rfc3339(d.generation.time),
        verdict,
        kept_by,
        why: d.why(),
        removed,
    }
}

/// The document for people: one line per generation.
pub fn render_text(document: &PruneDocument) -> String {
    let mut out = format!(
        "plan {}{}\n",
        document.plan,
        if document.dry_run {
            " (dry run: nothing removed)"
        } else {
            ""
        }
    );
    for volume in &document.volumes {
        if volume.generations.is_empty() {
            out.push_str(&format!("{}: no generation in the pool\n", volume.name));
        } else {
            out.push_str(&format!("{}:\n", volume.name));
        }
        for g in &volume.generations {
            let verdict = match (g.verdict, g.removed, document.dry_run) {
                ("keep", _, _) => "keep",
                ("remove", true, _) => "REMOVED",
                ("remove", false, true) => "would remove",
                ("remove", false, false) => "NOT REMOVED",
                _ => "incomplete",
            };
            out.push_str(&format!("  {}  {}  {verdict}: {}\n", g.id, g.lv, g.why));
        }
        if let Some(error) = &volume.error {
            out.push_str(&format!("  error: {error}\n"));
        }
    }
    out
}

/// `decisions` without the removals of mounted generations (`mounted`:
/// LV and mount point, as [`mounted`] lists them), and those held back,
/// each with its mount point: retention keeps a generation someone reads.
pub fn hold_mounted(
    decisions: &[Decision],
    mounted: &[(String, String)],
) -> (Vec<Decision>, Vec<(String, String)>) {
    let mut held = Vec::new();
    let kept = decisions
        .iter()
        .filter(|d| {
            let lv = d.generation.lv.to_string();
            match mounted.iter().find(|(m, _)| *m == lv) {
                Some((_, on)) if d.verdict == Verdict::Remove => {
                    held.push((lv, on.clone()));
                    false
                }
                _ => true,
            }
        })
        .cloned()
        .collect();
    (kept, held)
}

/// The LVs of `plan` that `snapplan mount` recorded as mounted, with
/// their mount points: retention keeps them (an open LV cannot be
/// removed, and someone is reading it).
pub fn mounted(plan: &Plan, records_dir: &std::path::Path) -> Vec<(String, String)> {
    crate::state::mounts::list(records_dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|r| r.plan == plan.name)
        .map(|r| (r.lv, r.mountpoint.display().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::fake::Fake;

    fn plan(keep_last: u32) -> Plan {
        let mut plan =
            crate::plan::test_plans::plan(&[("vg0/root", crate::plan::test_plans::pct(20.0))]);
        crate::plan::test_plans::into_pool(&mut plan, keep_last);
        plan
    }

    #[test]
    fn keep_last_two_removes_the_oldest_complete_and_never_an_incomplete_one() {
        let plan = plan(2);
        let volume = plan.volumes[0].clone();
        let name = |id: &str| crate::tags::generation_name(&volume.target_lv, id);
        let mut complete = crate::tags::generation_tags(&plan.name, "r1");
        complete.retain(|t| t != crate::tags::TAG_STATE_INCOMPLETE);
        complete.push(crate::tags::TAG_STATE_COMPLETE.into());
        let incomplete = crate::tags::generation_tags(&plan.name, "r4");
        let ids = ["20261201T000000Z", "20261202T000000Z", "20261203T000000Z"];
        let mut builder = Fake::builder()
            .vg("backup", 100, 50)
            .thin_pool("backup", "gens", 64, 10.0, 5.0);
        for id in ids {
            builder = builder.thin_lv("backup", &name(id), 16, "gens").tags(
                "backup",
                &name(id),
                &complete,
            );
        }
        builder = builder
            .thin_lv("backup", &name("20261204T000000Z"), 16, "gens")
            .tags("backup", &name("20261204T000000Z"), &incomplete)
            .thin_lv("backup", "root.20261130T000000Z", 16, "gens");
        let fake = builder.build();
        let lvs = fake.report().unwrap().lvs;
        let decisions = decide(&plan, &volume, &lvs);
        let shown: Vec<(&str, String)> = decisions
            .iter()
            .map(|d| (d.generation.id.as_str(), d.why()))
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "20261204T000000Z",
                    "incomplete: not counted (rollback or recover removes it)".to_string()
                ),
                ("20261203T000000Z", "kept by newest, keep_last".to_string()),
                ("20261202T000000Z", "kept by keep_last".to_string()),
                (
                    "20261201T000000Z",
                    "removed: no retention rule keeps it".to_string()
                ),
            ],
            "the untagged LV named like a generation is none"
        );
        let removed = remove(&fake, &plan, &volume, &decisions).unwrap();
        assert_eq!(removed, ["20261201T000000Z"]);
        let left: Vec<String> = fake
            .report()
            .unwrap()
            .lvs
            .iter()
            .filter(|l| l.lv_name.starts_with("root."))
            .map(|l| l.lv_name.clone())
            .collect();
        assert_eq!(left.len(), 4, "{left:?}");
        assert!(!left.contains(&name("20261201T000000Z")));
        // Pruning again finds nothing more to remove.
        let again = decide(&plan, &volume, &fake.report().unwrap().lvs);
        assert!(remove(&fake, &plan, &volume, &again).unwrap().is_empty());
    }

    /// Three complete generations and an incomplete one of root, in an
    /// exported VG; keep_last 1.
    fn exported_fake(plan: &Plan) -> Fake {
        let volume = &plan.volumes[0];
        let mut complete = crate::tags::generation_tags(&plan.name, "r1");
        complete.retain(|t| t != crate::tags::TAG_STATE_INCOMPLETE);
        complete.push(crate::tags::TAG_STATE_COMPLETE.into());
        let mut b = Fake::builder()
            .vg("backup", 100, 50)
            .thin_pool("backup", "gens", 64, 10.0, 5.0);
        for id in ["20261201T000000Z", "20261202T000000Z", "20261203T000000Z"] {
            let name = crate::tags::generation_name(&volume.target_lv, id);
            b = b
                .thin_lv("backup", &name, 16, "gens")
                .tags("backup", &name, &complete);
        }
        let incomplete = crate::tags::generation_name(&volume.target_lv, "20261204T000000Z");
        b.thin_lv("backup", &incomplete, 16, "gens")
            .tags(
                "backup",
                &incomplete,
                &crate::tags::generation_tags(&plan.name, "r4"),
            )
            .exported("backup")
            .build()
    }

    fn trusted(plan: &mut Plan) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        plan.state_dir = dir.path().join("state");
        dir
    }

    fn options(dir: &std::path::Path, dry_run: bool) -> PruneOptions<'_> {
        PruneOptions {
            only: None,
            dry_run,
            records_dir: dir,
        }
    }

    fn root_lvs(fake: &Fake) -> Vec<String> {
        let mut names: Vec<String> = fake
            .state()
            .lvs
            .iter()
            .filter(|l| l.lv_name.starts_with("root."))
            .map(|l| l.lv_name.clone())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn prune_imports_the_exported_vg_removes_what_retention_drops_with_its_manifest_and_exports_it_again()
     {
        let mut plan = plan(1);
        let dir = trusted(&mut plan);
        let fake = exported_fake(&plan);
        let gone = crate::state::runs::generation_manifest_path(&plan, "root", "20261201T000000Z");
        std::fs::create_dir_all(gone.parent().unwrap()).unwrap();
        std::fs::write(&gone, "{}").unwrap();

        let records = dir.path().join("records");
        let dry = run(&plan, &fake, options(&records, true)).unwrap();
        assert_eq!(dry.exit_code(), crate::ExitCode::Success);
        assert_eq!(root_lvs(&fake).len(), 4, "a dry run removes nothing");
        let verdicts: Vec<(&str, &str, bool)> = dry.document.volumes[0]
            .generations
            .iter()
            .map(|g| (g.id.as_str(), g.verdict, g.removed))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("20261204T000000Z", "not_counted", false),
                ("20261203T000000Z", "keep", false),
                ("20261202T000000Z", "remove", false),
                ("20261201T000000Z", "remove", false),
            ]
        );
        assert!(render_text(&dry.document).contains(
            "  20261202T000000Z  backup/root.20261202T000000Z  would remove: removed: no retention rule keeps it"
        ));

        let done = run(&plan, &fake, options(&records, false)).unwrap();
        assert_eq!(done.exit_code(), crate::ExitCode::Success);
        assert_eq!(
            root_lvs(&fake),
            ["root.20261203T000000Z", "root.20261204T000000Z"]
        );
        assert!(!gone.exists(), "its manifest went with it");
        let removed: Vec<&str> = done.document.volumes[0]
            .generations
            .iter()
            .filter(|g| g.removed)
            .map(|g| g.id.as_str())
            .collect();
        assert_eq!(removed, ["20261202T000000Z", "20261201T000000Z"]);
        assert_eq!(
            done.document.volumes[0].generations[1].kept_by,
            ["newest", "keep_last"]
        );
        let commands = fake.commands();
        assert_eq!(
            commands.first().map(String::as_str),
            Some("vgimport backup")
        );
        assert_eq!(commands.last().map(String::as_str), Some("vgexport backup"));
        assert!(
            fake.state()
                .vgs
                .iter()
                .any(|v| v.vg_name == "backup" && v.is_exported())
        );
    }

    #[test]
    fn a_mounted_generation_is_not_removed_and_the_prune_fails_naming_it() {
        let mut plan = plan(1);
        let dir = trusted(&mut plan);
        let fake = exported_fake(&plan);
        let records = dir.path().join("records");
        let record = crate::state::mounts::MountRecord {
            format_version: crate::state::mounts::FORMAT_VERSION,
            plan: plan.name.clone(),
            volume: "root".into(),
            generation: "20261201T000000Z".into(),
            lv: "backup/root.20261201T000000Z".into(),
            imported_vg: Some("backup".into()),
            activated_lv: None,
            device: "/dev/backup/root.20261201T000000Z".into(),
            major: 253,
            minor: 7,
            mountpoint: "/mnt/r".into(),
            fstype: "ext4".into(),
            options: "ro,noload".into(),
            mounted_at: 1,
            pid: 2,
        };
        crate::state::mounts::save(&records, &record).unwrap();
        let done = run(&plan, &fake, options(&records, false)).unwrap();
        assert_eq!(done.exit_code(), crate::ExitCode::Failed);
        let error = done.document.volumes[0].error.as_deref().unwrap();
        assert!(
            error.contains("not removing backup/root.20261201T000000Z: it is mounted on /mnt/r"),
            "{error}"
        );
        assert_eq!(
            root_lvs(&fake),
            [
                "root.20261201T000000Z",
                "root.20261203T000000Z",
                "root.20261204T000000Z"
            ]
        );
    }

    #[test]
    fn a_plan_without_a_pool_is_a_usage_error() {
        let mut plan = plan(1);
        plan.target.generations = None;
        let err = run(
            &plan,
            &Fake::new(),
            options(std::path::Path::new("/nope"), true),
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), crate::ExitCode::Usage);
        assert!(err.to_string().contains("has no `target.pool`"), "{err}");
    }
}
