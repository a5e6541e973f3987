//! The compiler: a validated plan becomes a DAG of typed steps in which every
//! step that changes the system has a rollback edge to the step undoing it.
//!
//! `compile` is pure; the renderers turn its result into the review output
//! of `snapplan plan` (text for people, JSON for tools, DOT for pictures).
//!
//! How a runner (`apply`) uses a [`CompiledPlan`]:
//! - run [`CompiledPlan::execution_order`], each step's
//!   [`Step::actions`] built with real [`RunValues`] (run id, LV sizes);
//! - when a step fails, skip [`CompiledPlan::blocked_by`] and go on (the
//!   undo steps of everything that ran are never among them);
//! - to abort (snapshot failure, signal, panic), run
//!   [`CompiledPlan::rollback_plan`] of the steps that ran, in that order.

pub mod argv;
pub mod compile;
pub mod compiled;
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

pub use compile::{compile, compile_for_run};
pub use compiled::{CompiledPlan, Dependency, Edge, Node, StepIndex};
pub use hooks::HookList;
pub use phase::{Phase, PhaseSet};
pub use step::{Action, Condition, Hook, HookOrder, OnFailure, PlanTimeValues, RunValues, Step};
