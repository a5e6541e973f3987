//! The plan language: a YAML file parsed with source spans, validated purely
//! (no I/O beyond reading the file), into [`model::Plan`].
//!
//! The stages, each in its own file: `tree` (YAML with locations), `raw`
//! (the plan as written, also the source of the JSON Schema), `validate`
//! (the plan as meant), with `units` and `names` for values and names, and
//! `diagnostic` for how problems are shown.

pub mod diagnostic;
pub mod load;
pub mod model;
pub mod names;
pub mod raw;
pub mod schema;
#[cfg(test)]
pub mod test_plans;
mod tree;
pub mod units;
pub mod validate;

pub use load::{LoadError, load, parse};
pub use model::*;
