//! The state directory, `<state_dir>/`: everything snapplan keeps between
//! runs, and the only module that knows where each file lives.
//!
//! - `<plan>.lock`: one run per plan at a time ([`lock`]);
//! - `/run/snapplan/targets/` (host-wide, not under `state_dir`): the locks
//!   of backup targets shared by several plans ([`target_lock`]);
//! - `<plan>/journal.jsonl`: what the run in progress (or a dead one) did,
//!   durable event by event ([`journal`], [`events`]);
//! - `<plan>/runs/<run id>.json` (+ `.journal.jsonl`): one record per run,
//!   and `<plan>/manifests/<volume>.json` ([`runs`]);
//! - run ids and the UTC times records are written and shown with ([`time`]).
//!
//! snapplan runs as root: the directory must be root's alone ([`trust`]),
//! and its files are opened without following symlinks, only when regular,
//! read with a bound and replaced through unpredictable temporaries
//! ([`files`]).
//!
//! apply writes these files; report, restore, verify and metrics read them
//! through this module, never through apply.

pub mod events;
pub mod files;
pub mod journal;
pub mod lock;
pub mod mounts;
pub mod protection;
pub mod runs;
pub mod target_lock;
pub mod time;
pub mod trust;
