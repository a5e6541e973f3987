//! The one integration-test binary: each module tests one command from the
//! outside, through the built `snapplan` binary.

mod apply;
mod architecture;
mod check;
mod contracts;
mod copy;
mod dist;
mod generations;
mod hostile;
mod mount;
mod output;
mod plan;
mod report;
mod restore;
mod state;
mod support;
mod validate;
