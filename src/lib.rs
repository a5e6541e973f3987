//! snapplan: declarative, checkable and safe LVM snapshot backups.
//!
//! The modules read as the pipeline a plan goes through:
//! `plan` (parse, validate) -> `graph` (compile) -> `check` -> `apply`,
//! with the machine behind one trait (`system`) and the copy engine (`copy`).

pub mod apply;
pub mod check;
pub mod cli;
pub mod cmd;
pub mod copy;
pub mod exit_code;
pub mod graph;
pub mod human;
pub mod journal;
pub mod lock;
pub mod lvm;
pub mod metrics;
pub mod plan;
pub mod report;
pub mod resolve;
pub mod restore;
pub mod system;

pub use exit_code::ExitCode;
