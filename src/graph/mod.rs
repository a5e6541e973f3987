//! The compiler: a validated plan becomes a DAG of typed steps in which every
//! step that changes the system has a rollback edge to the step undoing it.
//!
//! `compile` is pure; the renderers turn its result into the review output
//! of `snapplan plan` (text for people, JSON for tools, DOT for pictures).

pub mod compile;
pub mod hooks;
pub mod phase;
pub mod render_dot;
pub mod render_json;
pub mod render_text;
pub mod step;

#[cfg(test)]
mod properties;
#[cfg(test)]
pub(crate) mod test_plans;

pub use compile::{CompiledPlan, Dependency, Edge, Node, StepIndex, compile};
pub use hooks::HookList;
pub use phase::{Phase, PhaseSet};
pub use step::{Action, Condition, Hook, HookOrder, PlanTimeValues, RunValues, Step};
