//! snapplan: declarative, checkable and safe LVM snapshot backups.
//!
//! The modules read as the pipeline a plan goes through:
//! `plan` (parse, validate) -> `graph` (compile) -> `check` -> `apply`,
//! with the machine behind one trait (`system`) and the copy engine (`copy`).

pub mod apply;
pub mod check;
pub mod cmd;
pub mod contracts;
pub mod copy;
pub mod exit_code;
pub mod generations;
pub mod graph;
pub mod human;
pub mod metrics;
pub mod mount;
pub mod output;
pub mod plan;
pub mod printable;
pub mod procfs;
pub mod prune;
pub mod report;
pub mod resolve;
pub mod restore;
pub mod retention;
pub mod sizing;
pub mod state;
pub mod system;
pub mod tags;
pub mod verify;

pub use exit_code::ExitCode;
