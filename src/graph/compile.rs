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

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use serde::Serialize;

use super::hooks::HookList;
use super::phase::PhaseSet;
use super::step::{Hook, Step};
use crate::lvm::commands;
use crate::plan::{LvPath, Plan, Volume};

/// A step's handle in [`CompiledPlan`]; [`Step::id`] is its stable name.
pub type StepIndex = NodeIndex;

/// How a step waits for an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dependency {
    /// Runs only once the earlier step finished, whatever its outcome
    /// (one copy at a time, `after:`, resume after the snapshots).
    After,
    /// Runs only if the earlier step succeeded (a copy needs its snapshot);
    /// when it failed, this step is skipped.
    Needs,
}

/// An edge of the graph. Rollback edges are never execution order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Edge {
    /// From the earlier step to the one that waits for it.
    Order(Dependency),
    /// From a step that changes the system to the step that undoes it.
    Rollback,
}

/// A step in the compiled graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    pub step: Step,
    /// Not part of the execution order: only run to undo a step of the
    /// selected phases (the undo's own phase was not selected).
    pub on_failure_only: bool,
}

/// The compiled plan: the step graph of the selected phases.
#[derive(Debug, Clone)]
pub struct CompiledPlan {
    plan: Plan,
    phases: PhaseSet,
    graph: DiGraph<Node, Edge>,
    order: Vec<StepIndex>,
    copy_order: Vec<usize>,
    hooks: Vec<Hook>,
}

/// Compiles `plan` for `phases`, with the hook programs the caller found.
pub fn compile(plan: &Plan, hooks: &HookList, phases: &PhaseSet) -> CompiledPlan {
    let copy_order = copy_order(&plan.volumes);
    let hooks = hook_steps(plan, hooks);
    let full = build_full(plan, &hooks, &copy_order);
    let graph = select(&full, phases);
    let order = execution_order(&graph);
    CompiledPlan {
        plan: plan.clone(),
        phases: phases.clone(),
        graph,
        order,
        copy_order,
        hooks,
    }
}

impl CompiledPlan {
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn phases(&self) -> &PhaseSet {
        &self.phases
    }

    /// The hooks, in suspend order (whether or not the phases use them).
    pub fn hooks(&self) -> &[Hook] {
        &self.hooks
    }

    /// The petgraph graph itself, for analyses this API does not offer.
    pub fn graph(&self) -> &DiGraph<Node, Edge> {
        &self.graph
    }

    pub fn step(&self, ix: StepIndex) -> &Step {
        &self.graph[ix].step
    }

    pub fn node(&self, ix: StepIndex) -> &Node {
        &self.graph[ix]
    }

    /// Steps to run, in the order to run them (a topological order that
    /// keeps the plan's order wherever the edges allow it).
    pub fn execution_order(&self) -> &[StepIndex] {
        &self.order
    }

    /// Steps run only when rolling back, in graph order.
    pub fn on_failure_only(&self) -> Vec<StepIndex> {
        self.graph
            .node_indices()
            .filter(|&ix| self.graph[ix].on_failure_only)
            .collect()
    }

    /// Every step: the execution order, then the on-failure-only steps.
    /// Renderers number steps by their position here (from 1).
    pub fn all_steps(&self) -> Vec<StepIndex> {
        let mut all = self.order.clone();
        all.extend(self.on_failure_only());
        all
    }

    /// The volume indices (into `plan().volumes`) in the order they are
    /// copied: plan order, except where `after:` moves a volume later.
    pub fn copy_order(&self) -> &[usize] {
        &self.copy_order
    }

    /// The step with this [`Step::id`].
    pub fn find(&self, id: &str) -> Option<StepIndex> {
        self.graph
            .node_indices()
            .find(|&ix| self.graph[ix].step.id() == id)
    }

    /// The steps `ix` waits for, in execution order.
    pub fn dependencies(&self, ix: StepIndex) -> Vec<(StepIndex, Dependency)> {
        let mut deps: Vec<_> = self
            .graph
            .edges_directed(ix, Direction::Incoming)
            .filter_map(|e| match e.weight() {
                Edge::Order(dep) => Some((e.source(), *dep)),
                Edge::Rollback => None,
            })
            .collect();
        deps.sort_by_key(|(from, _)| self.position(*from));
        deps
    }

    /// The step that undoes `ix`, if `ix` changes the system.
    pub fn undo_step(&self, ix: StepIndex) -> Option<StepIndex> {
        self.graph
            .edges_directed(ix, Direction::Outgoing)
            .find(|e| *e.weight() == Edge::Rollback)
            .map(|e| e.target())
    }

    /// The step `ix` undoes, if it is a compensating step.
    pub fn undoes(&self, ix: StepIndex) -> Option<StepIndex> {
        self.graph
            .edges_directed(ix, Direction::Incoming)
            .find(|e| *e.weight() == Edge::Rollback)
            .map(|e| e.source())
    }

    /// The compensating steps to run after a failure, in the order to run
    /// them, given the steps that ran, in the order they ran (include a step
    /// that failed half-way when its partial effect must be undone too, e.g.
    /// a hook that timed out while suspending).
    ///
    /// Undoes in reverse order of completion, so a step is never undone
    /// before a step that depended on it; skips compensations that already
    /// ran (a resume after the snapshots) and lists each one once.
    pub fn rollback_plan(&self, completed: &[StepIndex]) -> Vec<StepIndex> {
        let done: HashSet<StepIndex> = completed.iter().copied().collect();
        let mut seen = HashSet::new();
        completed
            .iter()
            .rev()
            .filter_map(|&ix| self.undo_step(ix))
            .filter(|undo| !done.contains(undo) && seen.insert(*undo))
            .collect()
    }

    /// The steps that must not run once `failed` has failed, in execution
    /// order: every step that needs it, directly or through other needed
    /// steps, and the undo steps of those (they never ran, so there is
    /// nothing to undo: no `lvremove` of a snapshot never made, no resume of
    /// a hook never suspended). The failed step's own undo is not included:
    /// whether a half-done step needs undoing is the caller's call (a hook
    /// that timed out while suspending does; a refused `lvcreate` does not).
    pub fn blocked_by(&self, failed: StepIndex) -> Vec<StepIndex> {
        let mut blocked = HashSet::new();
        let mut stack = vec![failed];
        while let Some(ix) = stack.pop() {
            for e in self.graph.edges_directed(ix, Direction::Outgoing) {
                if *e.weight() == Edge::Order(Dependency::Needs) && blocked.insert(e.target()) {
                    stack.push(e.target());
                    if let Some(undo) = self.undo_step(e.target())
                        && blocked.insert(undo)
                    {
                        stack.push(undo);
                    }
                }
            }
        }
        let mut blocked: Vec<_> = blocked.into_iter().collect();
        blocked.sort_by_key(|&ix| self.position(ix));
        blocked
    }

    /// 0-based position in [`Self::all_steps`].
    pub fn position(&self, ix: StepIndex) -> usize {
        self.order.iter().position(|&o| o == ix).unwrap_or_else(|| {
            self.order.len()
                + self
                    .on_failure_only()
                    .iter()
                    .position(|&o| o == ix)
                    .expect("step belongs to this plan")
        })
    }
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

fn build_full(plan: &Plan, hooks: &[Hook], copy_order: &[usize]) -> Full {
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
    let mut ensure = Vec::new();
    for v in &plan.volumes {
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

    // The suspend window: suspend hooks, snapshots, resume hooks.
    let mut prev: Option<usize> = None;
    let mut suspends = Vec::new();
    for hook in hooks {
        let s = g.add(Step::Suspend(hook.clone()));
        match prev {
            Some(p) => g.wait(p, s, Needs),
            None => g.wait_all(&tail, s, After),
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
            None => g.wait_all(&tail, s, After),
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
        let backup = backup_lv(v);
        let snap = commands::snapshot_path(&v.source);
        let copy = g.add(Step::Copy {
            volume: v.name.clone(),
            snapshot: snap.clone(),
            backup: backup.clone(),
            bandwidth: v.bandwidth,
            verify: v.verify,
        });
        g.wait(snapshot[i], copy, Needs);
        g.wait(ensure[i], copy, Needs);
        g.wait_all(&tail, copy, After);
        for name in &v.after {
            if let Some(&done) = finish.get(name.as_str()) {
                g.wait(done, copy, After);
            }
        }
        let mut last = copy;
        if v.verify {
            let verify = g.add(Step::Verify {
                volume: v.name.clone(),
                snapshot: snap.clone(),
                backup,
            });
            g.wait(copy, verify, Needs);
            last = verify;
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

/// Kahn's algorithm over order edges, always taking the ready step that was
/// added first: deterministic, and the plan's order where edges allow.
fn execution_order(graph: &DiGraph<Node, Edge>) -> Vec<StepIndex> {
    let runs = |ix: NodeIndex| !graph[ix].on_failure_only;
    let mut waiting: HashMap<NodeIndex, usize> = HashMap::new();
    for ix in graph.node_indices().filter(|&ix| runs(ix)) {
        let n = graph
            .edges_directed(ix, Direction::Incoming)
            .filter(|e| matches!(e.weight(), Edge::Order(_)))
            .count();
        waiting.insert(ix, n);
    }
    let mut ready: BinaryHeap<Reverse<NodeIndex>> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(ix, _)| Reverse(*ix))
        .collect();
    let mut order = Vec::new();
    while let Some(Reverse(ix)) = ready.pop() {
        order.push(ix);
        for e in graph.edges_directed(ix, Direction::Outgoing) {
            if matches!(e.weight(), Edge::Order(_)) {
                let n = waiting
                    .get_mut(&e.target())
                    .expect("order edges join running steps");
                *n -= 1;
                if *n == 0 {
                    ready.push(Reverse(e.target()));
                }
            }
        }
    }
    order
}
