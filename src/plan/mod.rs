//! The plan language: a YAML file parsed with source spans, validated purely
//! (no I/O beyond reading the file), into [`model::Plan`].

pub mod model;

pub use model::*;
pub mod load;

pub use load::{LoadError, load, parse};
