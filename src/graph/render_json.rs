//! `snapplan plan --format json`: the compiled plan for tools and bots.
//! `format_version` changes whenever a field changes meaning or goes away.

use schemars::JsonSchema;
use serde::Serialize;

use super::compiled::{CompiledPlan, Dependency};
use super::phase::Phase;
use super::render_text::describe;
use super::step::{Action, Placeholder, PlanTimeValues, Step};
use crate::plan::{Bandwidth, SnapshotSize, Target};

/// Bumped on any incompatible change to the JSON below. 2: arguments known
/// only at run time are typed placeholder objects, not `<...>` strings.
pub const FORMAT_VERSION: u32 = 2;

/// `snapplan plan --format json`: the compiled plan, every step with its
/// command lines, dependencies and rollback (docs/plan.md, "plan --format
/// json"; schemas/plan-output.schema.json).
#[derive(Serialize, JsonSchema)]
#[schemars(title = "snapplan plan --format json")]
pub struct Output<'a> {
    /// Changes only when a field changes meaning or goes away.
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

#[derive(Serialize, JsonSchema)]
struct HooksOut {
    dir: String,
    timeout_seconds: f64,
    /// `null` when the directory could not be listed here.
    found: Option<Vec<String>>,
}

#[derive(Serialize, JsonSchema)]
struct VolumeOut<'a> {
    name: &'a str,
    source: String,
    backup: String,
    snapshot_size: SnapshotSize,
    bandwidth: Bandwidth,
    verify: bool,
    after: &'a [String],
}

#[derive(Serialize, JsonSchema)]
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
    /// What the step runs, in order; see [`Action`].
    #[schemars(with = "Vec<Action>")]
    actions: Vec<serde_json::Value>,
    /// The step's typed data, one key: its kind in CamelCase (informative:
    /// `kind`, `volume` and `actions` are the contract).
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    details: &'a Step,
}

#[derive(Serialize, JsonSchema)]
struct DependencyOut {
    id: String,
    kind: Dependency,
}

/// One argument of a command line: text, or a value known only at run
/// time.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum Arg {
    Text(String),
    Placeholder(Placeholder),
}

/// An action as JSON, each `argv` element that stands for a run-time value
/// replaced by its [`Placeholder`] object.
fn typed_placeholders(action: &Action) -> serde_json::Value {
    let mut value = serde_json::to_value(action).expect("plain data serializes");
    if let Some(argv) = value
        .as_object_mut()
        .and_then(|o| o.values_mut().next())
        .and_then(|inner| inner.get_mut("argv"))
        .and_then(serde_json::Value::as_array_mut)
    {
        for arg in argv {
            let Some(text) = arg.as_str() else { continue };
            let typed = match PlanTimeValues::placeholder_in(text) {
                Some(placeholder) => Arg::Placeholder(placeholder),
                None => Arg::Text(text.to_string()),
            };
            *arg = serde_json::to_value(typed).expect("plain data serializes");
        }
    }
    value
}

/// The JSON Schema of [`render`]'s output.
pub fn schema() -> schemars::Schema {
    schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<Output<'static>>()
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
                actions: step
                    .actions(&plan.name, &PlanTimeValues)
                    .iter()
                    .map(typed_placeholders)
                    .collect(),
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
