//! Verify of a plan's backups: re-read each backup LV and compare it with
//! the manifest apply kept for it, making the backup readable for the
//! while ([`backup_access`]) and putting the backup VG back as it was.
//!
//! A library function, so `snapplan verify PLAN` is a thin command and the
//! logic is tested against the fake machine. It reads the state directory
//! through `state/` and never imports apply.

pub mod backup_access;

use std::sync::atomic::{AtomicBool, Ordering};

use crate::ExitCode;
use crate::copy::{CopyError, ProgressSink, verify};
use crate::plan::{LvPath, Plan};
use crate::state::runs;
use crate::system::{System, device_path};

/// How one volume's backup compared with its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every chunk matches; the device read.
    Ok { device: std::path::PathBuf },
    /// A mismatch, an unreadable manifest or device: why.
    Failed(String),
    /// Stopped by a signal before this volume was fully read.
    Interrupted,
}

/// What verifying a plan's backups came to.
#[derive(Debug, Default)]
pub struct PlanVerified {
    /// Volume names whose backup failed, in plan order.
    pub failed: Vec<String>,
    pub interrupted: bool,
    /// What could not be put back as it was (an LV left active, a VG left
    /// imported).
    pub restore_failures: Vec<String>,
}

impl PlanVerified {
    pub fn exit_code(&self) -> ExitCode {
        if !self.restore_failures.is_empty() {
            ExitCode::CleanupIncomplete
        } else if self.interrupted {
            ExitCode::Interrupted
        } else if self.failed.is_empty() {
            ExitCode::Success
        } else {
            ExitCode::Failed
        }
    }
}

/// `only` names a volume not in the plan.
/// What `verify PLAN` was asked that the plan does not have.
#[derive(Debug, thiserror::Error)]
pub enum VerifyUsage {
    #[error(transparent)]
    UnknownVolume(#[from] crate::plan::UnknownVolume),
    #[error(transparent)]
    UnknownGeneration(#[from] crate::generations::UnknownGeneration),
}

/// Which generations of each volume to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generations<'a> {
    /// The newest (the default): of a pool target, the newest complete one.
    Newest,
    /// The one with this id (`--generation`).
    Id(&'a str),
    /// Every one (`--all`): a thick target has one per volume, of a pool
    /// target every complete one is read.
    All,
}

/// Checks the backup LV of every volume (or of `only`) against the manifest
/// apply kept for it (of a pool target, the generations `generations` asks
/// for, each named `<volume> (generation <id>)` in the verdicts). `on_volume` hears each verdict as soon as it is known
/// (a long verify shows its progress volume by volume); `sink` makes the
/// progress display of one device.
pub fn verify_plan(
    plan: &Plan,
    sys: &dyn System,
    only: Option<&str>,
    generations: Generations<'_>,
    cancel: &AtomicBool,
    sink: &dyn Fn() -> Box<dyn ProgressSink>,
    on_volume: &mut dyn FnMut(&str, &Verdict),
) -> Result<PlanVerified, VerifyUsage> {
    let volumes = plan.volumes_named(only)?;
    let mut result = PlanVerified::default();
    let fail = |result: &mut PlanVerified,
                on_volume: &mut dyn FnMut(&str, &Verdict),
                name: &str,
                why: String| {
        on_volume(name, &Verdict::Failed(why));
        result.failed.push(name.to_string());
    };
    // What to read: (name in the verdicts, backup LV, manifest).
    let mut to_check = Vec::new();
    if plan.target.generations.is_some() {
        for (name, chosen) in pool_to_check(plan, sys, &volumes, generations)? {
            match chosen {
                Ok((backup, manifest)) => to_check.push((name, backup, manifest)),
                Err(why) => fail(&mut result, on_volume, &name, why),
            }
        }
    } else {
        // A thick target's one generation per volume is both the newest and
        // all of them; an id must be that one's.
        if let Generations::Id(id) = generations {
            for volume in &volumes {
                crate::generations::check_thick(plan, &volume.name, Some(id))?;
            }
        }
        // Manifests first: a volume never copied fails without touching LVM.
        for volume in volumes {
            match crate::copy::Manifest::load(&runs::manifest_path(plan, &volume.name)) {
                Ok(manifest) => {
                    let backup = LvPath {
                        vg: plan.target.vg.clone(),
                        lv: volume.target_lv.clone(),
                    };
                    to_check.push((volume.name.clone(), backup, manifest));
                }
                Err(e) => fail(&mut result, on_volume, &volume.name, e.to_string()),
            }
        }
    }
    if to_check.is_empty() {
        return Ok(result);
    }
    let backups: Vec<_> = to_check.iter().map(|(_, b, _)| b.clone()).collect();
    let access = match backup_access::open(sys, plan, &backups) {
        Ok(access) => access,
        Err(e) => {
            for (name, _, _) in &to_check {
                fail(
                    &mut result,
                    on_volume,
                    name,
                    format!("cannot read its backup: {e}"),
                );
            }
            return Ok(result);
        }
    };
    for (name, backup, manifest) in &to_check {
        if cancel.load(Ordering::SeqCst) {
            result.interrupted = true;
            break;
        }
        let device = device_path(backup);
        let progress = sink();
        match verify::verify(manifest, &device, cancel, progress.as_ref()) {
            Ok(report) if report.mismatches.is_empty() => {
                on_volume(name, &Verdict::Ok { device });
            }
            Ok(report) => fail(&mut result, on_volume, name, report.summary()),
            Err(CopyError::Interrupted { .. }) => {
                on_volume(name, &Verdict::Interrupted);
                result.interrupted = true;
                break;
            }
            Err(e) => fail(&mut result, on_volume, name, e.to_string()),
        }
    }
    result.restore_failures = access.restore(sys);
    Ok(result)
}

/// A pool generation to read, or why a volume has none to read.
type PoolCheck = (String, Result<(LvPath, crate::copy::Manifest), String>);

/// The generations of a pool plan's `volumes` that `generations` asks
/// for, each named `<volume> (generation <id>)`, with its manifest; read
/// from the LVM report (an exported VG's LVs too), importing and
/// activating nothing. An id that is not one of the volume's is a usage
/// error; an incomplete generation, or none complete, fails the volume.
fn pool_to_check(
    plan: &Plan,
    sys: &dyn System,
    volumes: &[&crate::plan::Volume],
    generations: Generations<'_>,
) -> Result<Vec<PoolCheck>, VerifyUsage> {
    use crate::generations::{PoolChoiceError, choose_pool, pool_generations};
    let lvs = sys.report().and_then(|report| {
        let lvs = crate::generations::backup_lvs(sys, &report, &plan.target.vg)?;
        Ok((report.vg(&plan.target.vg).is_some(), lvs))
    });
    let mut out = Vec::new();
    for volume in volumes {
        let failed = |why: String| (volume.name.clone(), Err(why));
        let lvs = match &lvs {
            Ok((true, lvs)) => lvs,
            Ok((false, _)) => {
                out.push(failed(format!(
                    "cannot read its backup: {}",
                    backup_access::not_visible(plan)
                )));
                continue;
            }
            Err(e) => {
                out.push(failed(format!("cannot ask LVM about its generations: {e}")));
                continue;
            }
        };
        let found = pool_generations(plan, volume, lvs);
        let chosen: Vec<&crate::generations::PoolGeneration> = match generations {
            Generations::All => {
                let complete: Vec<_> = found
                    .iter()
                    .filter(|g| g.state == crate::tags::GenerationState::Complete)
                    .collect();
                if complete.is_empty()
                    && let Err(e) = choose_pool(plan, &volume.name, &found, None)
                {
                    out.push(failed(e.to_string()));
                }
                complete
            }
            Generations::Newest | Generations::Id(_) => {
                let wanted = match generations {
                    Generations::Id(id) => Some(id),
                    _ => None,
                };
                match choose_pool(plan, &volume.name, &found, wanted) {
                    Ok(g) => vec![g],
                    Err(PoolChoiceError::Unknown(e)) => return Err(e.into()),
                    Err(e) => {
                        out.push(failed(e.to_string()));
                        Vec::new()
                    }
                }
            }
        };
        for g in chosen {
            let name = format!("{} (generation {})", volume.name, g.id);
            let path = runs::generation_manifest_path(plan, &volume.name, &g.id);
            out.push((
                name,
                crate::copy::Manifest::load(&path)
                    .map(|m| (g.lv.clone(), m))
                    .map_err(|e| e.to_string()),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::fake::Fake;

    fn pool_plan(dir: &std::path::Path) -> Plan {
        let mut plan =
            crate::plan::test_plans::plan(&[("vg0/root", crate::plan::test_plans::pct(10.0))]);
        plan.state_dir = dir.join("state");
        crate::plan::test_plans::into_pool(&mut plan, 7);
        plan
    }

    fn tags(plan: &Plan, state: &str) -> Vec<String> {
        let mut tags = crate::tags::generation_tags(&plan.name, "20261201T000000Z-1");
        tags.retain(|t| t != crate::tags::TAG_STATE_INCOMPLETE);
        tags.push(state.into());
        tags
    }

    /// Two complete generations (the newest inactive) and a newer
    /// incomplete one, none with a manifest.
    fn fake(plan: &Plan) -> Fake {
        use crate::tags::{TAG_STATE_COMPLETE, TAG_STATE_INCOMPLETE};
        let mut fake = Fake::builder().thin_pool("backup", "gens", 64, 10.0, 5.0);
        for (id, state) in [
            ("20261201T000000Z", TAG_STATE_COMPLETE),
            ("20261202T000000Z", TAG_STATE_COMPLETE),
            ("20261203T000000Z", TAG_STATE_INCOMPLETE),
        ] {
            let name = format!("root.{id}");
            fake =
                fake.thin_lv("backup", &name, 16, "gens")
                    .tags("backup", &name, &tags(plan, state));
        }
        let fake = fake.build();
        fake.state()
            .lvs
            .iter_mut()
            .find(|l| l.lv_name == "root.20261202T000000Z")
            .unwrap()
            .lv_attr = "Vwi---tz--".into();
        fake
    }

    fn verdicts(
        plan: &Plan,
        fake: &Fake,
        generations: Generations<'_>,
    ) -> Result<Vec<(String, Verdict)>, VerifyUsage> {
        let mut heard = Vec::new();
        verify_plan(
            plan,
            fake,
            None,
            generations,
            &AtomicBool::new(false),
            &|| Box::new(crate::copy::progress::NoProgress),
            &mut |name, verdict| heard.push((name.to_string(), verdict.clone())),
        )?;
        Ok(heard)
    }

    #[test]
    fn a_pool_plan_verifies_the_newest_complete_generation_activating_and_deactivating_it() {
        let dir = tempfile::tempdir().unwrap();
        let plan = pool_plan(dir.path());
        let fake = fake(&plan);
        let heard = verdicts(&plan, &fake, Generations::Newest).unwrap();
        let names: Vec<&str> = heard.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["root (generation 20261202T000000Z)"]);
        // Its manifest is missing: it fails, naming the manifest, and LVM
        // is not touched.
        assert!(
            matches!(&heard[0].1, Verdict::Failed(why) if why.contains("20261202T000000Z.json")),
            "{heard:?}"
        );
        assert!(fake.commands().is_empty(), "{:?}", fake.commands());
        // With its manifest, the inactive generation is activated to be
        // read (here it cannot be opened: no such device) and put back.
        write_manifest(&plan, "20261202T000000Z");
        let heard = verdicts(&plan, &fake, Generations::Newest).unwrap();
        assert!(matches!(heard[0].1, Verdict::Failed(_)), "{heard:?}");
        assert_eq!(
            fake.commands(),
            [
                "lvchange --activate y backup/root.20261202T000000Z",
                "lvchange --activate n backup/root.20261202T000000Z"
            ]
        );
    }

    fn write_manifest(plan: &Plan, id: &str) {
        use crate::copy::identity::{Identity, Kind};
        let identity = |path: &str| Identity {
            path: path.into(),
            kind: Kind::BlockDevice,
            size: 1 << 20,
            device: None,
            inode: None,
            tag: None,
        };
        let manifest = crate::copy::Manifest {
            format: crate::copy::manifest::FORMAT.into(),
            completed: true,
            source: identity("/dev/vg0/snap"),
            destination: identity(&format!("/dev/backup/root.{id}")),
            size: 1 << 20,
            chunk_size: 1 << 20,
            started_at: crate::state::time::parse_compact(id).unwrap(),
            finished_at: None,
            base: None,
            chunks: vec![crate::copy::manifest::ChunkHash::of(b"x")],
        };
        let path = runs::generation_manifest_path(plan, "root", id);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        manifest.save(&path).unwrap();
    }

    #[test]
    fn verify_all_of_a_pool_plan_reads_every_complete_generation_and_an_unknown_id_is_usage() {
        let dir = tempfile::tempdir().unwrap();
        let plan = pool_plan(dir.path());
        let fake = fake(&plan);
        let heard = verdicts(&plan, &fake, Generations::All).unwrap();
        let names: Vec<&str> = heard.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "root (generation 20261202T000000Z)",
                "root (generation 20261201T000000Z)"
            ]
        );
        let incomplete = verdicts(&plan, &fake, Generations::Id("20261203T000000Z")).unwrap();
        assert!(
            matches!(&incomplete[0].1, Verdict::Failed(why) if why.contains("is incomplete")),
            "{incomplete:?}"
        );
        let unknown = verdicts(&plan, &fake, Generations::Id("20260101T000000Z")).unwrap_err();
        assert!(
            unknown
                .to_string()
                .contains("its generations: 20261203T000000Z, "),
            "{unknown}"
        );
        assert!(fake.commands().is_empty(), "{:?}", fake.commands());
    }
}
