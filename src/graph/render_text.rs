//! The review output of `snapplan plan`: what a reviewer reads in a pull
//! request. One block per step, in execution order, each with the exact
//! command lines, what it waits for and what undoes it. Nothing in it
//! depends on the time or the machine, so a diff shows only what the plan
//! change does.

use std::fmt::Write;

/// Appends one line of output: whatever values it holds (hook file names
/// come from the file system, not the reviewed plan), it stays one line,
/// with control characters shown as escapes.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        let line = format!($($arg)*);
        $out.push_str(&crate::printable::escape(&line));
        $out.push('\n');
    }};
}

use super::compiled::{CompiledPlan, Dependency, StepIndex};
use super::phase::Phase;
use super::step::{Action, Hook, HookOrder, PlanTimeValues, Step};
use crate::human::{self, shell_join, shell_quote};
use crate::plan::{Bandwidth, SnapshotSize};

/// Renders the plan as text (ends with a newline).
pub fn render(compiled: &CompiledPlan) -> String {
    let mut out = String::new();
    header(compiled, &mut out);
    let all = compiled.all_steps();
    let failure_only = compiled.on_failure_only();
    for &ix in &all {
        if failure_only.first() == Some(&ix) {
            out.push_str(
                "\nOn failure only: these undo steps above; their own phases are not selected.\n",
            );
        }
        step_block(compiled, ix, compiled.position(ix) + 1, &mut out);
    }
    if all.is_empty() {
        out.push_str("\nNo steps: the selected phases have nothing to do for this plan.\n");
    }
    out
}

fn header(compiled: &CompiledPlan, out: &mut String) {
    let plan = compiled.plan();
    let target = &plan.target;
    say!(out, "plan: {}", plan.name);
    say!(out, "phases: {}", compiled.phases().describe());
    if compiled.phases().contains(Phase::Remove) {
        out.push_str("WARNING: the remove phase DELETES the backup LVs listed below\n");
    }
    let mut t = format!("VG {}", target.vg);
    if let Some(iscsi) = &target.iscsi {
        let _ = write!(t, " over iSCSI {} at {}", iscsi.iqn, iscsi.portal);
    }
    if target.export {
        t.push_str(", exported when done");
    }
    say!(out, "target: {t}");
    if let Some(g) = &target.generations {
        let r = g.retention;
        let mut rules = vec![format!("the {} newest", r.keep_last)];
        for (n, what) in [
            (r.keep_daily, "day"),
            (r.keep_weekly, "week"),
            (r.keep_monthly, "month"),
        ] {
            if n > 0 {
                rules.push(format!("the newest of each of {n} {what}s"));
            }
        }
        say!(
            out,
            "generations: thin pool {}/{}, one new generation per volume and run (older ones are \
             never written); retention keeps {} (only complete ones count, the newest complete \
             one always stays); a copy stops at {}% pool data or metadata",
            target.vg,
            g.pool,
            rules.join(", "),
            g.threshold_percent
        );
    } else if target.keep_previous {
        out.push_str(
            "previous backup: kept (a snapshot of each backup LV while it is overwritten, \
             merged back if the new copy fails)\n",
        );
    } else {
        out.push_str(
            "previous backup: NOT protected (target.keep_previous: false): each copy \
             overwrites its backup LV in place\n",
        );
    }
    match &plan.hooks {
        None => out.push_str("hooks: none\n"),
        Some(h) => {
            let listed: Vec<String> = compiled
                .hooks()
                .iter()
                .filter_map(|hook| match hook {
                    Hook::File { path, .. } => Some(
                        path.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    ),
                    Hook::Directory { .. } => None,
                })
                .collect();
            let found = if compiled
                .hooks()
                .iter()
                .any(|h| matches!(h, Hook::Directory { .. }))
            {
                "not readable here, listed when applied".to_string()
            } else if listed.is_empty() {
                "no executable found".to_string()
            } else {
                listed.join(", ")
            };
            say!(
                out,
                "hooks: {} (each killed after {}): {found}",
                h.dir.display(),
                human::duration(h.timeout)
            );
        }
    }
    out.push_str("volumes, in copy order:\n");
    for &i in compiled.copy_order() {
        let v = &plan.volumes[i];
        let snapshot = match v.snapshot_size {
            SnapshotSize::Bytes(n) => human::exact_bytes(n),
            SnapshotSize::PercentOfOrigin(p) => format!("{p}% of the origin"),
        };
        let bandwidth = match v.bandwidth {
            Bandwidth::Unlimited => "unlimited".to_string(),
            Bandwidth::BytesPerSecond(n) => format!("{}/s", human::exact_bytes(n)),
        };
        let destination = match &target.generations {
            Some(_) => format!("{}/{}.<generation>", target.vg, v.target_lv),
            None => format!("{}/{}", target.vg, v.target_lv),
        };
        let mut line = format!(
            "  {}: {} -> {destination}, snapshot {snapshot}, bandwidth {bandwidth}, {}",
            v.name,
            v.source,
            if v.verify { "verified" } else { "NOT verified" }
        );
        if !v.after.is_empty() {
            let _ = write!(line, ", after {}", v.after.join(", "));
        }
        say!(out, "{line}");
    }
    out.push_str(
        "legend: `needs` runs only if that step succeeded; `after` runs once it finished, \
         whatever the outcome;\n        `undo` runs on failure to undo the step; <...> is known \
         only when applied.\n",
    );
}

/// One step. Other steps are named by id, not number, so inserting a step
/// changes one header line per later block in a diff, not every reference.
fn step_block(compiled: &CompiledPlan, ix: StepIndex, number: usize, out: &mut String) {
    let step = compiled.step(ix);
    let id = |ix| compiled.step(ix).id();
    out.push('\n');
    say!(out, "[{number}] {}", step.id());
    say!(out, "    {}", describe(step));
    for (dep, kind) in compiled.dependencies(ix) {
        let word = match kind {
            Dependency::Needs => "needs",
            Dependency::After => "after",
        };
        say!(out, "    {word} {}", id(dep));
    }
    for action in step.actions(&compiled.plan().name, &PlanTimeValues) {
        say!(out, "    {}", action_line(&action));
    }
    if let Some(undo) = compiled.undo_step(ix) {
        say!(out, "    undo {}", id(undo));
    }
    if let Some(undone) = compiled.undoes(ix) {
        say!(out, "    undoes {}", id(undone));
    }
}

/// One line a reviewer can read: what the step is for.
pub fn describe(step: &Step) -> String {
    match step {
        Step::IscsiLogin { portal, iqn } => format!("log in to iSCSI target {iqn} at {portal}"),
        Step::IscsiLogout { portal, iqn } => format!("log out of iSCSI target {iqn} at {portal}"),
        Step::TargetActivate { vg } => format!("import (when exported) and activate VG {vg}"),
        Step::TargetDeactivate { vg, export } => {
            if *export {
                format!("deactivate and export VG {vg}")
            } else {
                format!("deactivate VG {vg}")
            }
        }
        Step::RemoveBackupLv { volume, backup } => {
            format!("DELETE backup LV {backup}: the backup of {volume} is lost")
        }
        Step::EnsureBackupLv { origin, backup, .. } => format!(
            "create backup LV {backup} when missing, extend it when {origin} grew; never shrink it"
        ),
        Step::Suspend(hook) => hook_description(hook, "suspend"),
        Step::Resume(hook) => hook_description(hook, "resume"),
        Step::Snapshot {
            origin, snapshot, ..
        } => format!("snapshot {origin} as {snapshot}"),
        Step::RemoveSnapshot { snapshot, .. } => format!("remove snapshot {snapshot}"),
        Step::Copy {
            snapshot, backup, ..
        } => format!("copy {snapshot} onto {backup}"),
        Step::Verify {
            snapshot, backup, ..
        } => format!("verify {backup} against {snapshot}"),
        Step::Protect {
            backup, protection, ..
        } => format!("keep the previous backup in {backup} as snapshot {protection}"),
        Step::KeepBase {
            origin,
            snapshot,
            base,
            ..
        } => format!(
            "thin {origin} only: keep {snapshot} as {base}, the base the next copy reads only \
             the changes since"
        ),
        Step::DropBase { origin, base, .. } => format!(
            "thin {origin} only: remove {base}, a base kept before retain_base was turned off"
        ),
        Step::ReleaseProtection {
            backup, protection, ..
        } => format!(
            "remove {protection} when the new copy is good, else merge it back into {backup}"
        ),
        Step::NewGeneration {
            origin,
            pool,
            generation,
            ..
        } => format!(
            "new generation {generation} in pool {pool}: a thin snapshot of the newest complete \
              one, or the first, a thin LV of {origin}'s size"
        ),
        Step::DiscardGeneration { generation, .. } => {
            format!("remove {generation} unless it is complete: a failed copy leaves no generation")
        }
        Step::Prune { series, .. } => {
            format!("remove the generations of {series} the retention policy no longer keeps")
        }
    }
}

fn hook_description(hook: &Hook, arg: &str) -> String {
    match hook {
        Hook::File { path, .. } => format!("{arg} hook {}", path.display()),
        Hook::Directory { dir, .. } => format!(
            "{arg}: every executable in {} ({} name order), expanded when applied",
            dir.display(),
            if arg == "suspend" { "in" } else { "in reverse" }
        ),
    }
}

fn action_line(action: &Action) -> String {
    match action {
        Action::Run { argv, only_if } => match only_if {
            Some(condition) => format!("$ {}  # {condition}", shell_join(argv)),
            None => format!("$ {}", shell_join(argv)),
        },
        Action::Hook { argv, timeout } => {
            format!(
                "$ {}  # killed after {}",
                shell_join(argv),
                human::duration(*timeout)
            )
        }
        Action::EachHook {
            dir,
            arg,
            order,
            timeout,
        } => {
            let order = match order {
                HookOrder::NameOrder => "name order",
                HookOrder::ReverseNameOrder => "reverse name order",
            };
            format!(
                "$ <each executable in {}, {order}> {}  # each killed after {}",
                shell_quote(&dir.display().to_string()),
                shell_quote(arg),
                human::duration(*timeout)
            )
        }
        Action::InProcess { what } => format!("snapplan: {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::test_plans;
    use crate::graph::{HookList, PhaseSet, compile};
    use std::path::PathBuf;

    fn text(phases: &[Phase], hooks: HookList) -> String {
        render(&compile(
            &test_plans::home_server(),
            &hooks,
            &PhaseSet::from_args(phases),
        ))
    }

    #[test]
    fn same_input_gives_identical_text() {
        assert_eq!(
            text(&[], test_plans::two_hooks()),
            text(&[], test_plans::two_hooks())
        );
    }

    /// A hook whose file name holds a newline, a fake step block and
    /// terminal escapes (the name comes from the hooks directory, not the
    /// reviewed plan): its text cannot add a line or reach the terminal.
    fn forged_hooks() -> HookList {
        HookList::Found(vec![
            PathBuf::from("/etc/snapplan/hooks.d/10-db\n\n[1] FAKE-STEP\n    $ true"),
            PathBuf::from("/etc/snapplan/hooks.d/20-\u{1b}[2J\u{1b}[H\u{202e}bew"),
        ])
    }

    #[test]
    fn hook_names_cannot_forge_review_output() {
        let honest = text(&[], test_plans::two_hooks());
        let forged = text(&[], forged_hooks());
        assert_eq!(forged.lines().count(), honest.lines().count());
        assert!(
            !forged.lines().any(|l| l.starts_with("[1] FAKE")),
            "{forged}"
        );
        assert!(
            !forged
                .chars()
                .any(|c| crate::printable::is_unsafe(c) && c != '\n')
        );
        assert!(
            forged.contains(r"$'/etc/snapplan/hooks.d/10-db\n\n[1] FAKE-STEP\n    $ true' suspend"),
            "{forged}"
        );
        assert!(forged.contains(r"20-\x1b[2J\x1b[H\u{202e}bew"), "{forged}");
        let dot = crate::graph::render_dot::render(&compile(
            &test_plans::home_server(),
            &forged_hooks(),
            &PhaseSet::from_args(&[]),
        ));
        assert!(
            !dot.chars()
                .any(|c| crate::printable::is_unsafe(c) && c != '\n')
        );
        assert_eq!(
            dot.lines().count(),
            crate::graph::render_dot::render(&compile(
                &test_plans::home_server(),
                &test_plans::two_hooks(),
                &PhaseSet::from_args(&[]),
            ))
            .lines()
            .count()
        );
    }

    #[test]
    fn home_server_all_phases() {
        insta::assert_snapshot!(text(&[], test_plans::two_hooks()));
    }

    #[test]
    fn home_server_hooks_not_listed() {
        insta::assert_snapshot!(text(&[Phase::Backup], HookList::NotListed));
    }

    #[test]
    fn each_phase_alone() {
        for phase in [
            Phase::Login,
            Phase::Activate,
            Phase::Remove,
            Phase::Backup,
            Phase::Deactivate,
            Phase::Logout,
        ] {
            insta::assert_snapshot!(
                format!("phase_{phase}"),
                text(&[phase], test_plans::two_hooks())
            );
        }
    }

    #[test]
    fn minimal_plan() {
        let plan = test_plans::minimal();
        insta::assert_snapshot!(render(&compile(
            &plan,
            &HookList::NotListed,
            &PhaseSet::from_args(&[])
        )));
    }
}
