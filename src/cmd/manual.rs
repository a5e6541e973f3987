//! The hidden `snapplan completions SHELL` and `snapplan man DIR`: what the
//! Debian package installs, for those who installed with `cargo install`
//! (docs/install.md). Both call [`super::dist`], as `cargo xtask deb` does.

use std::path::PathBuf;

use super::ExpectedError;

const COMPLETIONS_HELP: &str = "\
Examples:
  snapplan completions bash > /usr/local/share/bash-completion/completions/snapplan
  snapplan completions zsh > /usr/local/share/zsh/site-functions/_snapplan
  snapplan completions fish > /etc/fish/completions/snapplan.fish";

const MAN_HELP: &str = "\
Examples:
  snapplan man /usr/local/share/man/man1 && mandb -q
  snapplan man /tmp/pages && man -l /tmp/pages/snapplan-apply.1";

/// Print the completion script for a shell
#[derive(Debug, clap::Args)]
#[command(after_help = COMPLETIONS_HELP)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Write the man pages (snapplan.1 and one per command) into a directory
///
/// The pages are dated today, or by SOURCE_DATE_EPOCH when that is set.
#[derive(Debug, clap::Args)]
#[command(after_help = MAN_HELP)]
pub struct ManArgs {
    /// Directory to write the pages to (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

pub fn completions(args: CompletionsArgs) -> super::Result {
    let mut out = Vec::new();
    super::dist::completions(args.shell, &mut out);
    use std::io::Write;
    match std::io::stdout().lock().write_all(&out) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(ExpectedError::Failed(
            format!("cannot write the completions: {e}"),
        )),
        _ => Ok(crate::ExitCode::Success),
    }
}

pub fn man(args: ManArgs) -> super::Result {
    let pages = super::dist::man_pages(&args.dir, &super::dist::page_date()).map_err(|e| {
        ExpectedError::Failed(format!(
            "cannot write the man pages to {}: {e}",
            args.dir.display()
        ))
    })?;
    for page in pages {
        println!("{}", page.display());
    }
    Ok(crate::ExitCode::Success)
}
