//! The command lines and tags snapplan gives LVM. (The adapter that runs
//! them is `system/`.)

pub mod commands;
pub mod tags;
