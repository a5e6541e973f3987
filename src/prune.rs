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
        let manifest =
            crate::state::runs::generation_manifest_path(plan, &volume.name, &d.generation.id);
        match std::fs::remove_file(&manifest) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot remove {}: {e}", manifest.display()),
        }
        removed.push(d.generation.id.clone());
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Generations, Retention};
    use crate::system::fake::Fake;

    fn plan(keep_last: u32) -> Plan {
        let mut plan =
            crate::plan::test_plans::plan(&[("vg0/root", crate::plan::test_plans::pct(20.0))]);
        plan.target.keep_previous = false;
        plan.target.generations = Some(Generations {
            pool: "gens".into(),
            threshold_percent: 95,
            retention: Retention {
                keep_last,
                ..Retention::default()
            },
        });
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
}
