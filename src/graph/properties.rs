//! Property tests: for random valid plans, hook listings and phase
//! selections, the compiled graph keeps the promises `apply` relies on.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use petgraph::Direction;
use petgraph::algo::{has_path_connecting, is_cyclic_directed};
use petgraph::visit::{EdgeFiltered, EdgeRef};
use proptest::prelude::*;

use super::test_plans::volume;
use super::{CompiledPlan, Dependency, Edge, HookList, Phase, PhaseSet, Step, StepIndex, compile};
use crate::plan::{Hooks, Iscsi, Plan, SnapshotSize, Target};

/// A random valid plan: 0..6 volumes whose `after:` lists form a DAG that
/// need not follow plan order, hooks on or off, iSCSI on or off.
fn plans() -> impl Strategy<Value = Plan> {
    (0usize..6)
        .prop_flat_map(|n| {
            (
                Just(n),
                Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
                proptest::collection::vec(proptest::collection::vec(any::<bool>(), n), n),
                proptest::collection::vec(any::<bool>(), n),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
            )
        })
        .prop_map(|(n, rank, after_bits, verify, hooks, iscsi, export)| {
            let names: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
            let volumes = (0..n)
                .map(|i| {
                    // i may come after j only when j ranks lower: acyclic.
                    let after = (0..n)
                        .filter(|&j| rank[j] < rank[i] && after_bits[i][j])
                        .map(|j| names[j].clone())
                        .collect();
                    let mut v = volume(&names[i], &format!("lv{i}"));
                    v.verify = verify[i];
                    v.after = after;
                    if i % 2 == 1 {
                        v.snapshot_size = SnapshotSize::PercentOfOrigin(12.5);
                    }
                    v
                })
                .collect();
            Plan {
                name: "prop".into(),
                state_dir: "/var/lib/snapplan".into(),
                target_lock_dir: "/run/snapplan/targets".into(),
                hooks: hooks.then(|| Hooks {
                    dir: "/etc/snapplan/hooks.d".into(),
                    timeout: Duration::from_secs(5),
                }),
                target: Target {
                    vg: "backup".into(),
                    iscsi: iscsi.then(|| Iscsi {
                        portal: "192.0.2.1:3260".into(),
                        iqn: "iqn.2026-01.org.example:t".into(),
                    }),
                    export,
                    // Half the plans protect their backups: odd volume counts.
                    keep_previous: n % 2 == 1,
                    generations: None,
                },
                volumes,
            }
        })
}

fn hook_lists() -> impl Strategy<Value = HookList> {
    prop_oneof![
        Just(HookList::NotListed),
        (0usize..4).prop_map(|n| HookList::Found(
            (0..n)
                .map(|i| PathBuf::from(format!("/etc/snapplan/hooks.d/{i}0-hook")))
                .collect()
        )),
    ]
}

fn phase_sets() -> impl Strategy<Value = PhaseSet> {
    proptest::sample::subsequence(
        vec![
            Phase::Login,
            Phase::Activate,
            Phase::Remove,
            Phase::Backup,
            Phase::Deactivate,
            Phase::Logout,
        ],
        0..=6,
    )
    .prop_flat_map(|phases| (Just(phases), proptest::bool::ANY))
    // With the flag, as `--phase all` plus the phases picked.
    .prop_map(|(mut phases, all)| {
        if all {
            phases.extend(Phase::ALL);
        }
        PhaseSet::from_args(&phases)
    })
}

type OrderOnly<'a> = EdgeFiltered<
    &'a petgraph::graph::DiGraph<super::Node, Edge>,
    fn(petgraph::graph::EdgeReference<'_, Edge>) -> bool,
>;

fn order_only(c: &CompiledPlan) -> OrderOnly<'_> {
    EdgeFiltered(c.graph(), |e| matches!(e.weight(), Edge::Order(_)))
}

/// `later` depends on `earlier` through order edges.
fn depends_on(c: &CompiledPlan, later: StepIndex, earlier: StepIndex) -> bool {
    earlier != later && has_path_connecting(&order_only(c), earlier, later, None)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn graph_is_acyclic_and_order_is_complete(
        plan in plans(), hooks in hook_lists(), phases in phase_sets()
    ) {
        let c = compile(&plan, &hooks, &phases);
        prop_assert!(!is_cyclic_directed(c.graph()));
        let order = c.execution_order();
        let runs: Vec<_> = c.graph().node_indices().filter(|&ix| !c.node(ix).on_failure_only).collect();
        prop_assert_eq!(order.len(), runs.len());
        // Every order edge points forward in the execution order.
        let pos: HashMap<_, _> = order.iter().enumerate().map(|(i, &ix)| (ix, i)).collect();
        for e in c.graph().edge_references() {
            if let Edge::Order(_) = e.weight() {
                prop_assert!(pos[&e.source()] < pos[&e.target()]);
            }
        }
        // Step ids are unique, and every step belongs to a selected phase
        // unless it only runs on failure.
        let ids: HashSet<_> = c.graph().node_weights().map(|n| n.step.id()).collect();
        prop_assert_eq!(ids.len(), c.graph().node_count());
        for n in c.graph().node_weights() {
            prop_assert!(n.on_failure_only || phases.contains(n.step.phase()));
        }
    }

    #[test]
    fn every_change_has_exactly_one_undo_in_the_graph(
        plan in plans(), hooks in hook_lists(), phases in phase_sets()
    ) {
        let c = compile(&plan, &hooks, &phases);
        for ix in c.graph().node_indices() {
            let step = c.step(ix);
            let undos: Vec<_> = c.graph().edges_directed(ix, Direction::Outgoing)
                .filter(|e| *e.weight() == Edge::Rollback).map(|e| e.target()).collect();
            if step.needs_undo() && !c.node(ix).on_failure_only {
                prop_assert_eq!(undos.len(), 1, "{} has {} undo steps", step.id(), undos.len());
                let undo = c.step(undos[0]);
                let matches = match (step, undo) {
                    (Step::Suspend(a), Step::Resume(b)) => a == b,
                    (Step::Snapshot { snapshot: a, .. }, Step::RemoveSnapshot { snapshot: b, .. }) => a == b,
                    (Step::TargetActivate { vg: a }, Step::TargetDeactivate { vg: b, .. }) => a == b,
                    (Step::IscsiLogin { iqn: a, .. }, Step::IscsiLogout { iqn: b, .. }) => a == b,
                    (Step::Protect { protection: a, .. }, Step::ReleaseProtection { protection: b, .. }) => a == b,
                    _ => false,
                };
                prop_assert!(matches, "{} is undone by {}", step.id(), undo.id());
                // An undo that runs normally runs after the step it undoes.
                if !c.node(undos[0]).on_failure_only {
                    prop_assert!(depends_on(&c, undos[0], ix));
                }
            } else {
                prop_assert!(undos.is_empty(), "{} should have no undo", step.id());
            }
            // Each compensating step undoes at most one step.
            let undone = c.graph().edges_directed(ix, Direction::Incoming)
                .filter(|e| *e.weight() == Edge::Rollback).count();
            prop_assert!(undone <= 1);
        }
        // Every suspend has exactly one resume, and every resume a suspend.
        let count = |f: fn(&Step) -> bool| c.graph().node_weights().filter(|n| f(&n.step)).count();
        prop_assert_eq!(count(|s| matches!(s, Step::Suspend(_))), count(|s| matches!(s, Step::Resume(_))));
    }

    #[test]
    fn every_snapshot_has_one_removal_that_no_failure_skips(
        plan in plans(), hooks in hook_lists(), phases in phase_sets()
    ) {
        let c = compile(&plan, &hooks, &phases);
        let g = c.graph();
        for ix in g.node_indices().filter(|&ix| matches!(c.step(ix), Step::Snapshot { .. })) {
            let removal = c.undo_step(ix).expect("snapshot has a removal");
            let removals = g.node_indices()
                .filter(|&r| matches!(c.step(r), Step::RemoveSnapshot { snapshot, .. }
                    if Some(snapshot) == match c.step(ix) { Step::Snapshot { snapshot, .. } => Some(snapshot), _ => None }))
                .count();
            prop_assert_eq!(removals, 1);
            // The removal runs after the snapshot, and waits for other steps
            // only to finish, never to succeed: whichever steps fail, it is
            // not skipped (and an aborted run gets it from rollback_plan).
            if !c.node(removal).on_failure_only {
                prop_assert!(depends_on(&c, removal, ix));
            }
            for (dep, kind) in c.dependencies(removal) {
                prop_assert_eq!(kind, Dependency::After, "{} needs {}", c.step(removal).id(), c.step(dep).id());
            }
        }
        // The same holds for every resume.
        for ix in g.node_indices().filter(|&ix| matches!(c.step(ix), Step::Resume(_))) {
            for (_, kind) in c.dependencies(ix) {
                prop_assert_eq!(kind, Dependency::After);
            }
        }
    }

    #[test]
    fn rollback_never_undoes_a_step_before_one_that_depends_on_it(
        plan in plans(), hooks in hook_lists(), phases in phase_sets(), cut in any::<prop::sample::Index>()
    ) {
        let c = compile(&plan, &hooks, &phases);
        let order = c.execution_order();
        // The run failed after `k` steps (the k-th may have half-run).
        let k = if order.is_empty() { 0 } else { cut.index(order.len() + 1) };
        let completed = &order[..k];
        let plan_undo = c.rollback_plan(completed);
        let done: HashSet<_> = completed.iter().copied().collect();
        let at: HashMap<_, _> = plan_undo.iter().enumerate().map(|(i, &u)| (u, i)).collect();
        prop_assert_eq!(at.len(), plan_undo.len(), "an undo step is listed twice");
        for &u in &plan_undo {
            prop_assert!(!done.contains(&u), "{} already ran", c.step(u).id());
        }
        // Everything completed that needs undoing and was not undone by the
        // run itself is undone.
        for &s in completed {
            if let Some(u) = c.undo_step(s) {
                prop_assert!(done.contains(&u) || at.contains_key(&u));
            }
        }
        // If b depends on a, b's undo comes first.
        for &a in completed {
            for &b in completed {
                if let (Some(ua), Some(ub)) = (c.undo_step(a), c.undo_step(b))
                    && depends_on(&c, b, a)
                    && let (Some(&ia), Some(&ib)) = (at.get(&ua), at.get(&ub))
                {
                    prop_assert!(ib < ia, "{} undone before {}", c.step(a).id(), c.step(b).id());
                }
            }
        }
    }

    #[test]
    fn a_failure_never_blocks_the_undo_of_a_step_that_still_runs(
        plan in plans(), hooks in hook_lists(), phases in phase_sets(), pick in any::<prop::sample::Index>()
    ) {
        let c = compile(&plan, &hooks, &phases);
        let order = c.execution_order();
        prop_assume!(!order.is_empty());
        let failed = order[pick.index(order.len())];
        let blocked: HashSet<_> = c.blocked_by(failed).into_iter().collect();
        prop_assert!(!blocked.contains(&failed));
        for &ix in order {
            if ix == failed || blocked.contains(&ix) {
                continue;
            }
            // `ix` still runs, so what undoes it must still run too; the one
            // exception is an undo that needs a failed undo (no iSCSI logout
            // when the VG on it could not be deactivated).
            if let Some(undo) = c.undo_step(ix) {
                let failed_is_an_undo = matches!(
                    c.step(failed),
                    Step::Resume(_) | Step::RemoveSnapshot { .. } | Step::TargetDeactivate { .. } | Step::IscsiLogout { .. }
                );
                let failed_undo_needed = failed_is_an_undo && depends_on(&c, undo, failed);
                prop_assert!(!blocked.contains(&undo) || failed_undo_needed,
                    "{} fails: {} runs but {} is blocked",
                    c.step(failed).id(), c.step(ix).id(), c.step(undo).id());
            }
        }
        // Every blocked step depends on the failed one, or undoes one that does.
        for &b in &blocked {
            let undone = c.undoes(b);
            prop_assert!(depends_on(&c, b, failed) || undone.is_some_and(|u| blocked.contains(&u)));
        }
    }

    /// The executor skips exactly `blocked_by`: so it must be the local
    /// rule a reader expects of a step, in every phase selection and for
    /// on-failure-only undo steps too: a step is blocked when a step it
    /// needs failed or is blocked, or when it undoes a blocked step (that
    /// never ran), and for no other reason.
    #[test]
    fn blocked_by_is_the_needs_and_undo_rule_and_nothing_more(
        plan in plans(), hooks in hook_lists(), phases in phase_sets(), pick in any::<prop::sample::Index>()
    ) {
        let c = compile(&plan, &hooks, &phases);
        let all = c.all_steps();
        prop_assume!(!all.is_empty());
        let failed = all[pick.index(all.len())];
        let blocked: HashSet<_> = c.blocked_by(failed).into_iter().collect();
        let not_ok = |ix: StepIndex| ix == failed || blocked.contains(&ix);
        for &ix in all.iter().filter(|&&ix| ix != failed) {
            let needs_one_not_ok = c
                .dependencies(ix)
                .into_iter()
                .any(|(dep, kind)| kind == Dependency::Needs && not_ok(dep));
            let undoes_one_blocked = c.undoes(ix).is_some_and(|done| blocked.contains(&done));
            prop_assert_eq!(
                blocked.contains(&ix),
                needs_one_not_ok || undoes_one_blocked,
                "{} fails: {} is {}",
                c.step(failed).id(),
                c.step(ix).id(),
                if blocked.contains(&ix) { "blocked" } else { "not blocked" }
            );
        }
        // In execution order, as the executor meets them.
        let listed = c.blocked_by(failed);
        prop_assert!(listed.windows(2).all(|w| c.position(w[0]) < c.position(w[1])));
    }

    #[test]
    fn phase_subsets_keep_the_relative_order(
        plan in plans(), hooks in hook_lists(), phases in phase_sets()
    ) {
        let every = PhaseSet::from_args(&[
            Phase::Login,
            Phase::Activate,
            Phase::Remove,
            Phase::Backup,
            Phase::Deactivate,
            Phase::Logout,
        ]);
        let full: Vec<String> = {
            let c = compile(&plan, &hooks, &every);
            c.execution_order().iter().map(|&ix| c.step(ix).id()).collect()
        };
        let c = compile(&plan, &hooks, &phases);
        let mut rest = full.iter();
        for &ix in c.execution_order() {
            let id = c.step(ix).id();
            prop_assert!(rest.any(|f| *f == id), "{} out of order", id);
        }
    }

    #[test]
    fn compiling_is_deterministic_and_remove_only_when_named(
        plan in plans(), hooks in hook_lists(), phases in phase_sets()
    ) {
        let a = compile(&plan, &hooks, &phases);
        let b = compile(&plan, &hooks, &phases);
        prop_assert_eq!(super::render_text::render(&a), super::render_text::render(&b));
        prop_assert_eq!(super::render_json::render(&a), super::render_json::render(&b));
        prop_assert_eq!(super::render_dot::render(&a), super::render_dot::render(&b));
        let removes = a.graph().node_weights().any(|n| matches!(n.step, Step::RemoveBackupLv { .. }));
        prop_assert_eq!(removes, phases.contains(Phase::Remove) && !plan.volumes.is_empty());
    }

    #[test]
    fn snapshots_in_plan_order_inside_the_window_and_copies_respect_after(
        plan in plans(), hooks in hook_lists()
    ) {
        let c = compile(&plan, &hooks, &PhaseSet::from_args(&[]));
        let ids: Vec<String> = c.execution_order().iter().map(|&ix| c.step(ix).id()).collect();
        let pos = |id: &str| ids.iter().position(|x| x == id);
        let snaps: Vec<_> = plan.volumes.iter().map(|v| pos(&format!("snapshot:{}", v.name)).unwrap()).collect();
        prop_assert!(snaps.windows(2).all(|w| w[0] < w[1]));
        if let (Some(&first), Some(&last)) = (snaps.first(), snaps.last()) {
            for (i, id) in ids.iter().enumerate() {
                if id.starts_with("suspend:") { prop_assert!(i < first); }
                if id.starts_with("resume:") { prop_assert!(i > last); }
                if id.starts_with("copy:") { prop_assert!(i > last); }
            }
        }
        for v in &plan.volumes {
            let copy = pos(&format!("copy:{}", v.name)).unwrap();
            for y in &v.after {
                let done = pos(&format!("remove-snapshot:{}", y)).unwrap();
                prop_assert!(done < copy);
            }
        }
        // One copy at a time: a volume's steps are not interleaved with another's.
        let mut current: Option<String> = None;
        let mut finished = HashSet::new();
        for id in &ids {
            if let Some(v) = id.strip_prefix("copy:").or(id.strip_prefix("verify:")).or(id.strip_prefix("remove-snapshot:")) {
                prop_assert!(!finished.contains(v));
                if current.as_deref() != Some(v)
                    && let Some(prev) = current.replace(v.to_string())
                {
                    finished.insert(prev);
                }
            }
        }
    }
}

#[test]
fn hooks_not_listed_give_one_suspend_and_one_resume() {
    let c = compile(
        &super::test_plans::home_server(),
        &HookList::NotListed,
        &PhaseSet::from_args(&[]),
    );
    let ids: Vec<String> = c
        .execution_order()
        .iter()
        .map(|&ix| c.step(ix).id())
        .collect();
    assert_eq!(
        ids.iter().filter(|id| id.starts_with("suspend:")).count(),
        1
    );
    assert!(ids.contains(&"resume:*".to_string()));
}

#[test]
fn plan_without_hooks_has_no_hook_steps_whatever_the_listing() {
    let c = compile(
        &super::test_plans::minimal(),
        &super::test_plans::two_hooks(),
        &PhaseSet::from_args(&[]),
    );
    assert!(
        c.graph()
            .node_weights()
            .all(|n| !matches!(n.step, Step::Suspend(_) | Step::Resume(_)))
    );
}

#[test]
fn rollback_after_a_failed_second_snapshot() {
    let c = compile(
        &super::test_plans::home_server(),
        &super::test_plans::two_hooks(),
        &PhaseSet::from_args(&[]),
    );
    let ix = |id: &str| c.find(id).unwrap();
    // Ran: login, activate, ensures, both suspends, first snapshot; the
    // second snapshot failed.
    let completed: Vec<_> = [
        "iscsi-login",
        "activate:backup",
        "ensure-backup:vcr",
        "ensure-backup:root",
        "ensure-backup:home",
        "suspend:10-db",
        "suspend:20-web",
        "snapshot:vcr",
    ]
    .iter()
    .map(|id| ix(id))
    .collect();
    let undo: Vec<String> = c
        .rollback_plan(&completed)
        .iter()
        .map(|&u| c.step(u).id())
        .collect();
    assert_eq!(
        undo,
        [
            "remove-snapshot:vcr",
            "resume:20-web",
            "resume:10-db",
            "deactivate:backup",
            "iscsi-logout"
        ]
    );
}

#[test]
fn a_failed_suspend_blocks_the_snapshots_and_the_later_hooks_only() {
    let c = compile(
        &super::test_plans::home_server(),
        &super::test_plans::two_hooks(),
        &PhaseSet::from_args(&[]),
    );
    let blocked: Vec<String> = c
        .blocked_by(c.find("suspend:10-db").unwrap())
        .iter()
        .map(|&ix| c.step(ix).id())
        .collect();
    assert_eq!(
        blocked,
        [
            "suspend:20-web",
            "snapshot:vcr",
            "snapshot:root",
            "snapshot:home",
            "resume:20-web",
            "protect:vcr",
            "copy:vcr",
            "verify:vcr",
            "release:vcr",
            "keep-base:vcr",
            "remove-snapshot:vcr",
            "protect:root",
            "copy:root",
            "verify:root",
            "release:root",
            "keep-base:root",
            "remove-snapshot:root",
            "protect:home",
            "copy:home",
            "verify:home",
            "release:home",
            "keep-base:home",
            "remove-snapshot:home"
        ]
    );
}

#[test]
fn rollback_skips_undo_steps_that_already_ran() {
    let c = compile(
        &super::test_plans::home_server(),
        &super::test_plans::two_hooks(),
        &PhaseSet::from_args(&[]),
    );
    // Failed during copy:root: vcr's snapshot is gone, hooks resumed; the
    // protection of root's previous backup is released (merged back).
    let order = c.execution_order();
    let failed = c.find("copy:root").unwrap();
    let completed: Vec<_> = order.iter().copied().take_while(|&s| s != failed).collect();
    let undo: Vec<String> = c
        .rollback_plan(&completed)
        .iter()
        .map(|&u| c.step(u).id())
        .collect();
    assert_eq!(
        undo,
        [
            "release:root",
            "remove-snapshot:home",
            "remove-snapshot:root",
            "deactivate:backup",
            "iscsi-logout"
        ]
    );
}

#[test]
fn login_and_logout_alone_keep_their_order() {
    let c = compile(
        &super::test_plans::home_server(),
        &super::test_plans::two_hooks(),
        &PhaseSet::from_args(&[Phase::Logout, Phase::Login]),
    );
    let ids: Vec<String> = c
        .execution_order()
        .iter()
        .map(|&ix| c.step(ix).id())
        .collect();
    assert_eq!(ids, ["iscsi-login", "iscsi-logout"]);
    let logout = c.find("iscsi-logout").unwrap();
    assert_eq!(c.dependencies(logout).len(), 1);
    assert!(c.on_failure_only().is_empty());
}

#[test]
fn a_volume_with_retain_base_off_drops_its_base_instead_of_keeping_one_and_the_others_keep() {
    let mut plan = super::test_plans::home_server();
    plan.volumes[1].retain_base = false;
    let c = compile(
        &plan,
        &super::test_plans::two_hooks(),
        &PhaseSet::from_args(&[]),
    );
    let off = &plan.volumes[1].name;
    assert!(c.find(&format!("keep-base:{off}")).is_none());
    let drop = c
        .find(&format!("drop-base:{off}"))
        .expect("a drop-base step for the base an earlier run may have kept");
    assert!(
        c.find(&format!("drop-base:{}", plan.volumes[0].name))
            .is_none()
    );
    let order = c.execution_order();
    let remove = c.find(&format!("remove-snapshot:{off}")).unwrap();
    assert!(
        order.iter().position(|&o| o == drop) < order.iter().position(|&o| o == remove),
        "the stale base goes while the run still holds the volume's steps"
    );
    for v in [&plan.volumes[0], &plan.volumes[2]] {
        let keep = c
            .find(&format!("keep-base:{}", v.name))
            .expect("a keep-base step");
        let remove = c.find(&format!("remove-snapshot:{}", v.name)).unwrap();
        let order = c.execution_order();
        let at = |ix| order.iter().position(|&o| o == ix).unwrap();
        assert!(
            at(keep) < at(remove),
            "the base is kept before the snapshot is removed"
        );
    }
}
