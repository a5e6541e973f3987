//! `snapplan schema` (placeholder until its issue lands).

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> super::Result {
    Err(miette::miette!("`snapplan schema` is not built yet"))
}
