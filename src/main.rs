fn main() -> std::process::ExitCode {
    snapplan::cmd::main()
}
