//! The compiled plan: the step graph `apply` walks, and the questions it
//! asks of it (what runs next, what a step waits for, what undoes it, what a
//! failure blocks, what to undo after an abort).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use serde::Serialize;

use super::phase::PhaseSet;
use super::step::{Hook, Step};
use crate::plan::Plan;

/// A step's handle in [`CompiledPlan`]; [`Step::id`] is its stable name.
pub type StepIndex = NodeIndex;

/// How a step waits for an earlier one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
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
    /// Position of every step in `order` followed by the on-failure-only steps.
    positions: HashMap<StepIndex, usize>,
    copy_order: Vec<usize>,
    hooks: Vec<Hook>,
}

impl CompiledPlan {
    /// Wraps a compiled graph; computes the execution order.
    pub(super) fn new(
        plan: Plan,
        phases: PhaseSet,
        graph: DiGraph<Node, Edge>,
        copy_order: Vec<usize>,
        hooks: Vec<Hook>,
    ) -> CompiledPlan {
        let order = execution_order(&graph);
        let failure_only = graph.node_indices().filter(|&ix| graph[ix].on_failure_only);
        let positions = order
            .iter()
            .copied()
            .chain(failure_only)
            .enumerate()
            .map(|(i, ix)| (ix, i))
            .collect();
        CompiledPlan {
            plan,
            phases,
            graph,
            order,
            positions,
            copy_order,
            hooks,
        }
    }

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
        self.positions[&ix]
    }
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
