//! `snapplan report`: what the last runs of a plan did, read back from the
//! run records apply keeps (the original tool's `tailbackup`). Reading the
//! history ([`runs`]) is apart from showing it ([`render`]) so metrics can
//! read the same history.

pub mod render;
pub mod runs;

use crate::generations::PoolSummary;
use crate::plan::Plan;

/// The report of one plan file: its newest `last` runs and, for a plan
/// with `target.pool`, its generations and pool as LVM shows them now (the
/// one LVM read, through `generations::pool_summary`; a plan without a
/// pool reads files only). LVM failing to answer (not root, no lvm2) is a
/// note in the summary, never an error of the report.
pub fn of_plan(
    plan: &Plan,
    sys: &dyn crate::system::System,
    last: usize,
) -> std::io::Result<runs::PlanRuns> {
    let mut history = runs::load(&plan.state_dir, &plan.name, last)?;
    history.generations = match crate::generations::pool_summary(plan, sys) {
        Ok(summary) => summary,
        Err(e) => plan.target.generations.as_ref().map(|g| {
            PoolSummary::unknown(
                plan,
                &g.pool,
                format!("cannot read the generations from LVM: {e}"),
            )
        }),
    };
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::fake::Fake;

    fn plan(dir: &std::path::Path, pool: bool) -> Plan {
        let mut plan =
            crate::plan::test_plans::plan(&[("vg0/root", crate::plan::test_plans::pct(10.0))]);
        plan.state_dir = dir.to_path_buf();
        if pool {
            crate::plan::test_plans::into_pool(&mut plan, 7);
        }
        plan
    }

    #[test]
    fn a_pool_plans_report_has_its_generations_and_lvm_failing_is_a_note_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let tags = {
            let mut tags = crate::tags::generation_tags("nightly", "20261202T031500Z-1");
            tags.retain(|t| t != crate::tags::TAG_STATE_INCOMPLETE);
            tags.push(crate::tags::TAG_STATE_COMPLETE.into());
            tags
        };
        let fake = Fake::builder()
            .thin_pool("backup", "gens", 64, 40.0, 10.0)
            .thin_lv("backup", "root.20261202T031500Z", 16, "gens")
            .tags("backup", "root.20261202T031500Z", &tags)
            .build();
        let pool = plan(dir.path(), true);
        assert_eq!(pool.name, "nightly");
        let summary = of_plan(&pool, &fake, 1).unwrap().generations.unwrap();
        assert_eq!(summary.volumes[0].complete, 1);
        assert_eq!(summary.data_percent, Some(40.0));

        let broken = Fake::builder().without_tool("lvm").build();
        let summary = of_plan(&pool, &broken, 1).unwrap().generations.unwrap();
        assert_eq!(summary.pool, "backup/gens");
        assert!(summary.volumes.is_empty());
        assert!(
            summary.notes[0].starts_with("cannot read the generations from LVM: "),
            "{:?}",
            summary.notes
        );
        let thick = of_plan(&plan(dir.path(), false), &broken, 1).unwrap();
        assert!(thick.generations.is_none(), "a thick plan reads no LVM");
    }
}
