//! The compiler: plan + hook listing + phases -> a DAG of steps. Pure: the
//! same input gives the same graph, node for node, on any machine.
//!
//! It first builds the graph of every phase, then keeps the steps of the
//! selected phases. Ordering between kept steps survives through removed
//! ones (login -> activate -> ... -> logout still orders login before logout
//! when only those two phases run), and a kept step whose undo belongs to an
//! unselected phase brings that undo along as an on-failure-only step, so
//! every rollback edge has a target.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};

use petgraph::graph::{DiGraph, NodeIndex};

use super::argv as commands;
use super::compiled::{CompiledPlan, Dependency, Edge, Node};
use super::hooks::HookList;
use super::phase::PhaseSet;
use super::step::{GENERATION_PLACEHOLDER, Hook, Step};
use crate::plan::{LvPath, Plan, Volume};

/// Compiles `plan` for `phases`, with the hook programs the caller found,
/// as `snapplan plan` shows it: a thin-pool generation's name ends in
/// [`GENERATION_PLACEHOLDER`].
pub fn compile(plan: &Plan, hooks: &HookList, phases: &PhaseSet) -> CompiledPlan {
    compile_generation(plan, hooks, phases, GENERATION_PLACEHOLDER)
}

/// Compiles `plan` for run `run_id`, whose generations (with
/// `target.pool`) are named after its start (`tags::generation_id_of_run`).
pub fn compile_for_run(
    plan: &Plan,
    hooks: &HookList,
    phases: &PhaseSet,
    run_id: &str,
) -> CompiledPlan {
    let id = crate::tags::generation_id_of_run(run_id).unwrap_or(GENERATION_PLACEHOLDER);
    compile_generation(plan, hooks, phases, id)
}

fn compile_generation(
    plan: &Plan,
    hooks: &HookList,
    phases: &PhaseSet,
    generation_id: &str,
) -> CompiledPlan {
    let copy_order = copy_order(&plan.volumes);
    let hooks = hook_steps(plan, hooks);
    let full = build_full(plan, &hooks, &copy_order, generation_id);
    let graph = select(&full, phases);
    CompiledPlan::new(plan.clone(), phases.clone(), graph, copy_order, hooks)
}

/// The graph of every phase, as steps in insertion order and edges. Every
/// edge goes from an earlier-inserted step to a later one, so the graph is
/// acyclic by construction (and the property tests check it).
struct Full {
    steps: Vec<Step>,
    order: BTreeMap<(usize, usize), Dependency>,
    rollback: Vec<(usize, usize)>,
}

impl Full {
    fn add(&mut self, step: Step) -> usize {
        self.steps.push(step);
        self.steps.len() - 1
    }

    /// `to` waits for `from`; a second edge between the same steps keeps
    /// the stronger dependency.
    fn wait(&mut self, from: usize, to: usize, dep: Dependency) {
        let slot = self.order.entry((from, to)).or_insert(dep);
        *slot = (*slot).max(dep);
    }

    fn wait_all(&mut self, from: &[usize], to: usize, dep: Dependency) {
        for &f in from {
            self.wait(f, to, dep);
        }
    }
}

fn build_full(plan: &Plan, hooks: &[Hook], copy_order: &[usize], generation_id: &str) -> Full {
    use Dependency::{After, Needs};
    let mut g = Full {
        steps: Vec::new(),
        order: BTreeMap::new(),
        rollback: Vec::new(),
    };
    let target = &plan.target;

    let login = target.iscsi.as_ref().map(|i| {
        g.add(Step::IscsiLogin {
            portal: i.portal.clone(),
            iqn: i.iqn.clone(),
        })
    });
    let activate = g.add(Step::TargetActivate {
        vg: target.vg.clone(),
    });
    if let Some(login) = login {
        g.wait(login, activate, Needs);
    }

    let backup_lv = |v: &Volume| LvPath {
        vg: target.vg.clone(),
        lv: v.target_lv.clone(),
    };
    // This run's generation of a volume, with `target.pool`.
    let generation_lv = |v: &Volume| LvPath {
        vg: target.vg.clone(),
        lv: crate::tags::generation_name(&v.target_lv, generation_id),
    };
    let mut ensure = Vec::new();
    // With a pool there is no one backup LV to make or delete: each
    // volume's generation is made just before its copy.
    for v in plan.volumes.iter().filter(|_| target.generations.is_none()) {
        let remove = g.add(Step::RemoveBackupLv {
            volume: v.name.clone(),
            backup: backup_lv(v),
        });
        g.wait(activate, remove, Needs);
        let e = g.add(Step::EnsureBackupLv {
            volume: v.name.clone(),
            origin: v.source.clone(),
            backup: backup_lv(v),
        });
        g.wait(activate, e, Needs);
        g.wait(remove, e, After);
        ensure.push(e);
    }
    // The steps the next stage waits for, whatever their outcome.
    let mut tail = if ensure.is_empty() {
        vec![activate]
    } else {
        ensure.clone()
    };

    // The suspend window: suspend hooks, snapshots, resume hooks. Its
    // first step needs the target: when the backup VG did not come up,
    // there is nothing to copy onto, so no service is suspended and no
    // snapshot taken for nothing.
    let mut prev: Option<usize> = None;
    let mut suspends = Vec::new();
    for hook in hooks {
        let s = g.add(Step::Suspend(hook.clone()));
        match prev {
            Some(p) => g.wait(p, s, Needs),
            None => {
                g.wait_all(&tail, s, After);
                g.wait(activate, s, Needs);
            }
        }
        suspends.push(s);
        prev = Some(s);
    }
    let mut snapshot = Vec::new();
    for v in &plan.volumes {
        let s = g.add(Step::Snapshot {
            volume: v.name.clone(),
            origin: v.source.clone(),
            snapshot: commands::snapshot_path(&v.source),
            size: v.snapshot_size,
        });
        match prev {
            Some(p) => g.wait(p, s, Needs),
            None => {
                g.wait_all(&tail, s, After);
                g.wait(activate, s, Needs);
            }
        }
        snapshot.push(s);
        prev = Some(s);
    }
    for (hook, &suspend) in hooks.iter().zip(&suspends).rev() {
        let r = g.add(Step::Resume(hook.clone()));
        if let Some(p) = prev {
            g.wait(p, r, After);
        }
        g.rollback.push((suspend, r));
        prev = Some(r);
    }
    if let Some(p) = prev {
        tail = vec![p];
    }

    // Per volume, one at a time: copy, verify, remove the snapshot.
    let mut finish: HashMap<&str, usize> = HashMap::new();
    for &i in copy_order {
        let v = &plan.volumes[i];
        let snap = commands::snapshot_path(&v.source);
        let generation = target.generations.as_ref().map(|generations| {
            let lv = generation_lv(v);
            let step = g.add(Step::NewGeneration {
                volume: v.name.clone(),
                origin: v.source.clone(),
                pool: LvPath {
                    vg: target.vg.clone(),
                    lv: generations.pool.clone(),
                },
                series: backup_lv(v),
                generation: lv.clone(),
            });
            g.wait(activate, step, Needs);
            g.wait(snapshot[i], step, Needs);
            g.wait_all(&tail, step, After);
            (step, lv)
        });
        let backup = match &generation {
            Some((_, lv)) => lv.clone(),
            None => backup_lv(v),
        };
        let protect = target.keep_previous.then(|| {
            let step = g.add(Step::Protect {
                volume: v.name.clone(),
                backup: backup.clone(),
                protection: commands::protection_path(&backup),
            });
            g.wait(snapshot[i], step, Needs);
            g.wait(ensure[i], step, Needs);
            g.wait_all(&tail, step, After);
            step
        });
        // The backup LV (thick) or the new generation the copy writes.
        let destination = match &generation {
            Some((step, _)) => *step,
            None => ensure[i],
        };
        let copy = g.add(Step::Copy {
            volume: v.name.clone(),
            snapshot: snap.clone(),
            backup: backup.clone(),
            bandwidth: v.bandwidth,
            verify: v.verify,
        });
        g.wait(snapshot[i], copy, Needs);
        g.wait(destination, copy, Needs);
        g.wait_all(&tail, copy, After);
        for name in &v.after {
            if let Some(&done) = finish.get(name.as_str()) {
                g.wait(done, copy, After);
            }
        }
        let mut last = copy;
        let mut good = copy;
        if v.verify {
            let verify = g.add(Step::Verify {
                volume: v.name.clone(),
                snapshot: snap.clone(),
                backup: backup.clone(),
            });
            g.wait(copy, verify, Needs);
            last = verify;
            good = verify;
        }
        if let Some(protect) = protect {
            g.wait(protect, copy, Needs);
            let release = g.add(Step::ReleaseProtection {
                volume: v.name.clone(),
                backup: backup_lv(v),
                protection: commands::protection_path(&backup_lv(v)),
            });
            g.wait(protect, release, Needs);
            g.wait(last, release, After);
            g.rollback.push((protect, release));
            last = release;
        }
        if let Some((made, lv)) = &generation {
            let prune = g.add(Step::Prune {
                volume: v.name.clone(),
                series: backup_lv(v),
            });
            g.wait(good, prune, Needs);
            g.wait(last, prune, After);
            let discard = g.add(Step::DiscardGeneration {
                volume: v.name.clone(),
                generation: lv.clone(),
            });
            g.wait(*made, discard, Needs);
            g.wait(prune, discard, After);
            g.rollback.push((*made, discard));
            last = discard;
        }
        // A thin origin's snapshot of a good copy stays as the next
        // copy's base (it then reads only what changed since it).
        if v.retain_base {
            let keep = g.add(Step::KeepBase {
                volume: v.name.clone(),
                origin: v.source.clone(),
                snapshot: snap.clone(),
                base: commands::base_path(&v.source),
            });
            g.wait(good, keep, Needs);
            g.wait(last, keep, After);
            last = keep;
        } else {
            let drop = g.add(Step::DropBase {
                volume: v.name.clone(),
                origin: v.source.clone(),
                base: commands::base_path(&v.source),
            });
            g.wait(last, drop, After);
            last = drop;
        }
        let remove = g.add(Step::RemoveSnapshot {
            volume: v.name.clone(),
            snapshot: snap,
        });
        g.wait(last, remove, After);
        g.rollback.push((snapshot[i], remove));
        finish.insert(&v.name, remove);
        tail = vec![remove];
    }

    let deactivate = g.add(Step::TargetDeactivate {
        vg: target.vg.clone(),
        export: target.export,
    });
    g.wait_all(&tail, deactivate, After);
    g.rollback.push((activate, deactivate));
    if let (Some(login), Some(iscsi)) = (login, &target.iscsi) {
        let logout = g.add(Step::IscsiLogout {
            portal: iscsi.portal.clone(),
            iqn: iscsi.iqn.clone(),
        });
        // Logging out under an active VG would pull its disks away.
        g.wait(deactivate, logout, Needs);
        g.rollback.push((login, logout));
    }
    g
}

/// The hook steps: one per program found, one for the directory when it
/// could not be listed, none when the plan has no hooks.
fn hook_steps(plan: &Plan, list: &HookList) -> Vec<Hook> {
    let Some(hooks) = &plan.hooks else {
        return Vec::new();
    };
    match list {
        HookList::Found(files) => {
            let mut files = files.clone();
            files.sort();
            files
                .into_iter()
                .map(|path| Hook::File {
                    path,
                    timeout: hooks.timeout,
                })
                .collect()
        }
        HookList::NotListed => vec![Hook::Directory {
            dir: hooks.dir.clone(),
            timeout: hooks.timeout,
        }],
    }
}

/// Volume indices in copy order: a topological order of `after:` that
/// takes the earliest volume in plan order whenever several are ready.
/// A cycle (rejected by validation) falls back to plan order for the rest.
fn copy_order(volumes: &[Volume]) -> Vec<usize> {
    let index: HashMap<&str, usize> = volumes
        .iter()
        .enumerate()
        .map(|(i, v)| (v.name.as_str(), i))
        .collect();
    let mut waiting_on = vec![0usize; volumes.len()];
    let mut unlocks = vec![Vec::new(); volumes.len()];
    for (i, v) in volumes.iter().enumerate() {
        let befores: HashSet<usize> = v
            .after
            .iter()
            .filter_map(|name| index.get(name.as_str()).copied())
            .filter(|&b| b != i)
            .collect();
        waiting_on[i] = befores.len();
        for b in befores {
            unlocks[b].push(i);
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..volumes.len())
        .filter(|&i| waiting_on[i] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(volumes.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &next in &unlocks[i] {
            waiting_on[next] -= 1;
            if waiting_on[next] == 0 {
                ready.push(Reverse(next));
            }
        }
    }
    for i in 0..volumes.len() {
        if !order.contains(&i) {
            order.push(i);
        }
    }
    order
}

/// Keeps the steps of `phases`, with the orderings between them that went
/// through dropped steps, plus on-failure-only undo steps.
fn select(full: &Full, phases: &PhaseSet) -> DiGraph<Node, Edge> {
    let keep: Vec<bool> = full
        .steps
        .iter()
        .map(|s| phases.contains(s.phase()))
        .collect();
    let undo_of: HashMap<usize, usize> = full.rollback.iter().copied().collect();
    let mut successors: Vec<Vec<(usize, Dependency)>> = vec![Vec::new(); full.steps.len()];
    for (&(from, to), &dep) in &full.order {
        successors[from].push((to, dep));
    }

    let mut graph = DiGraph::new();
    let mut new_index: HashMap<usize, NodeIndex> = HashMap::new();
    for (i, step) in full.steps.iter().enumerate() {
        if keep[i] {
            let ix = graph.add_node(Node {
                step: step.clone(),
                on_failure_only: false,
            });
            new_index.insert(i, ix);
        }
    }
    // Undo steps from unselected phases, after the selected steps, in the
    // order the full graph has them.
    let missing_undos: BTreeSet<usize> = (0..full.steps.len())
        .filter(|&i| keep[i])
        .filter_map(|i| undo_of.get(&i).copied())
        .filter(|undo| !keep[*undo])
        .collect();
    for undo in missing_undos {
        let ix = graph.add_node(Node {
            step: full.steps[undo].clone(),
            on_failure_only: true,
        });
        new_index.insert(undo, ix);
    }

    for from in (0..full.steps.len()).filter(|&i| keep[i]) {
        for (to, dep) in reachable_kept(from, &successors, &keep) {
            graph.add_edge(new_index[&from], new_index[&to], Edge::Order(dep));
        }
    }
    for &(step, undo) in &full.rollback {
        if let (Some(&a), Some(&b)) = (new_index.get(&step), new_index.get(&undo))
            && keep[step]
        {
            graph.add_edge(a, b, Edge::Rollback);
        }
    }
    graph
}

/// The kept steps reachable from `from` through dropped steps only, each
/// with the strongest dependency along the paths (`Needs` only when every
/// edge on some path is `Needs`).
fn reachable_kept(
    from: usize,
    successors: &[Vec<(usize, Dependency)>],
    keep: &[bool],
) -> BTreeMap<usize, Dependency> {
    let mut found: BTreeMap<usize, Dependency> = BTreeMap::new();
    let mut visited = HashSet::new();
    let mut stack: Vec<(usize, Dependency)> = successors[from].clone();
    while let Some((node, dep)) = stack.pop() {
        if !visited.insert((node, dep)) {
            continue;
        }
        if keep[node] {
            let slot = found.entry(node).or_insert(dep);
            *slot = (*slot).max(dep);
            continue;
        }
        for &(next, next_dep) in &successors[node] {
            stack.push((next, dep.min(next_dep)));
        }
    }
    found
}
