//! `snapplan plan --format json`: the compiled plan for tools and bots.
//! `format_version` changes whenever a field changes meaning or goes away.

use serde::Serialize;

use super::compiled::{CompiledPlan, Dependency};
use super::phase::Phase;
use super::render_text::describe;
use super::step::{Action, PlanTimeValues, Step};
use crate::plan::{Bandwidth, SnapshotSize, Target};

/// Bumped on any incompatible change to the JSON below.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct Output<'a> {
    format_version: u32,
    plan: &'a str,
    phases: Vec<Phase>,
    target: &'a Target,
    hooks: Option<HooksOut>,
    /// In copy order.
    volumes: Vec<VolumeOut<'a>>,
    /// Execution order, then the on-failure-only steps.
    steps: Vec<StepOut<'a>>,
}

#[derive(Serialize)]
struct HooksOut {
    dir: String,
    timeout_seconds: f64,
    /// `null` when the directory could not be listed here.
    found: Option<Vec<String>>,
}

#[derive(Serialize)]
struct VolumeOut<'a> {
    name: &'a str,
    source: String,
    backup: String,
    snapshot_size: SnapshotSize,
    bandwidth: Bandwidth,
    verify: bool,
    after: &'a [String],
}

#[derive(Serialize)]
struct StepOut<'a> {
    /// 1-based, as in the text output.
    number: usize,
    id: String,
    kind: &'static str,
    phase: Phase,
    volume: Option<&'a str>,
    description: String,
    on_failure_only: bool,
    destructive: bool,
    depends_on: Vec<DependencyOut>,
    /// The id of the step that undoes this one.
    rollback: Option<String>,
    /// The id of the step this one undoes.
    undoes: Option<String>,
    actions: Vec<Action>,
    /// The step's typed data.
    details: &'a Step,
}

#[derive(Serialize)]
struct DependencyOut {
    id: String,
    kind: Dependency,
}

/// Renders the plan as pretty JSON (ends with a newline).
pub fn render(compiled: &CompiledPlan) -> String {
    let plan = compiled.plan();
    let hooks = plan.hooks.as_ref().map(|h| HooksOut {
        dir: h.dir.display().to_string(),
        timeout_seconds: h.timeout.as_secs_f64(),
        found: compiled
            .hooks()
            .iter()
            .map(|hook| match hook {
                super::Hook::File { path, .. } => Some(path.display().to_string()),
                super::Hook::Directory { .. } => None,
            })
            .collect(),
    });
    let volumes = compiled
        .copy_order()
        .iter()
        .map(|&i| {
            let v = &plan.volumes[i];
            VolumeOut {
                name: &v.name,
                source: v.source.to_string(),
                backup: format!("{}/{}", plan.target.vg, v.target_lv),
                snapshot_size: v.snapshot_size,
                bandwidth: v.bandwidth,
                verify: v.verify,
                after: &v.after,
            }
        })
        .collect();
    let id = |ix| compiled.step(ix).id();
    let steps = compiled
        .all_steps()
        .into_iter()
        .map(|ix| {
            let node = compiled.node(ix);
            let step = &node.step;
            StepOut {
                number: compiled.position(ix) + 1,
                id: step.id(),
                kind: step.kind(),
                phase: step.phase(),
                volume: step.volume(),
                description: describe(step),
                on_failure_only: node.on_failure_only,
                destructive: step.is_destructive(),
                depends_on: compiled
                    .dependencies(ix)
                    .into_iter()
                    .map(|(dep, kind)| DependencyOut { id: id(dep), kind })
                    .collect(),
                rollback: compiled.undo_step(ix).map(id),
                undoes: compiled.undoes(ix).map(id),
                actions: step.actions(&plan.name, &PlanTimeValues),
                details: step,
            }
        })
        .collect();
    let output = Output {
        format_version: FORMAT_VERSION,
        plan: &plan.name,
        phases: compiled.phases().iter().collect(),
        target: &plan.target,
        hooks,
        volumes,
        steps,
    };
    let mut text = serde_json::to_string_pretty(&output).expect("plain data serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{HookList, PhaseSet, compile, test_plans};

    #[test]
    fn home_server_json() {
        let c = compile(
            &test_plans::home_server(),
            &test_plans::two_hooks(),
            &PhaseSet::from_args(&[]),
        );
        insta::assert_snapshot!(render(&c));
    }

    #[test]
    fn json_lists_every_step_with_resolvable_references() {
        let c = compile(
            &test_plans::home_server(),
            &HookList::NotListed,
            &PhaseSet::from_args(&[Phase::Login]),
        );
        let value: serde_json::Value = serde_json::from_str(&render(&c)).unwrap();
        assert_eq!(value["format_version"], FORMAT_VERSION);
        let steps = value["steps"].as_array().unwrap();
        let ids: Vec<&str> = steps.iter().map(|s| s["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["iscsi-login", "iscsi-logout"]);
        assert_eq!(steps[0]["rollback"], "iscsi-logout");
        assert_eq!(steps[1]["on_failure_only"], true);
        assert_eq!(value["hooks"]["found"], serde_json::Value::Null);
    }
}
