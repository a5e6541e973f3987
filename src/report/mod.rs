//! `snapplan report`: what the last runs of a plan did, read back from the
//! run records apply keeps (the original tool's `tailbackup`). Reading the
//! history ([`runs`]) is apart from showing it ([`render`]) so metrics can
//! read the same history.

pub mod render;
pub mod runs;
