use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = snapplan::cli::Cli::parse();
    snapplan::cmd::run(cli).into()
}
