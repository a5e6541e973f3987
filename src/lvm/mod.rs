//! The LVM adapter. `commands` builds the command lines; running them and
//! reading `lvs`/`vgs` comes with the adapter's own issue.

pub mod commands;
