//! Running system tools. Every failure carries the full command line, the
//! exit status and the tool's stderr, because "lvremove failed" in a cron
//! mail at 3 a.m. is useless without them.

use std::fmt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use crate::human::shell_quote;

/// A program and its arguments, printable as a shell line an admin can
/// paste to reproduce what snapplan ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl CommandLine {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        CommandLine {
            program: program.into(),
            args: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
}

impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", shell_quote(&self.program.to_string_lossy()))?;
        for arg in &self.args {
            write!(f, " {}", shell_quote(arg))?;
        }
        Ok(())
    }
}

/// How a process ended, in words for the error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit status {code}"),
            Exit::Signal(signal) => write!(f, "killed by signal {signal}"),
        }
    }
}

/// What a successful run printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub stdout: Vec<u8>,
    /// Warnings a tool may print even when it succeeds.
    pub stderr: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("cannot run `{command}`: {reason}")]
    Spawn { command: String, reason: String },
    #[error("`{command}` failed ({exit}): {}", one_line(stderr))]
    Failed {
        command: String,
        exit: Exit,
        stderr: String,
    },
}

impl RunError {
    /// The tool's stderr, when it ran at all.
    pub fn stderr(&self) -> &str {
        match self {
            RunError::Spawn { .. } => "",
            RunError::Failed { stderr, .. } => stderr,
        }
    }
}

fn one_line(stderr: &str) -> String {
    let text = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    if text.is_empty() {
        "no message on stderr".to_string()
    } else {
        text
    }
}

/// Runs commands. The real one spawns processes; tests script the answers.
pub trait Runner {
    fn run(&self, command: &CommandLine) -> Result<Output, RunError>;
}

/// Spawns the program with a C locale (so messages and numbers are the
/// ones this code expects) and without lvm2's fd-leak warnings, which cron's
/// inherited descriptors would otherwise add to every stderr. Each tool runs
/// in its own process group: a Ctrl-C on the terminal reaches snapplan only,
/// which then stops at a safe point; it must not abort the `lvremove` of the
/// rollback it triggers.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessRunner;

impl Runner for ProcessRunner {
    fn run(&self, command: &CommandLine) -> Result<Output, RunError> {
        tracing::debug!(command = %command, "running");
        let output = Command::new(&command.program)
            .args(&command.args)
            .env("LC_ALL", "C")
            .env("LVM_SUPPRESS_FD_WARNINGS", "1")
            .stdin(std::process::Stdio::null())
            .process_group(0)
            .output()
            .map_err(|e| RunError::Spawn {
                command: command.to_string(),
                reason: e.to_string(),
            })?;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if output.status.success() {
            return Ok(Output {
                stdout: output.stdout,
                stderr,
            });
        }
        use std::os::unix::process::ExitStatusExt;
        let exit = match (output.status.code(), output.status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::Code(-1),
        };
        Err(RunError::Failed {
            command: command.to_string(),
            exit,
            stderr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_prints_as_pasteable_shell() {
        let cmd = CommandLine::new("/usr/sbin/lvm")
            .args(["lvs", "-o", "lv_name,vg_name"])
            .arg("it's here")
            .arg("");
        assert_eq!(
            cmd.to_string(),
            r"/usr/sbin/lvm lvs -o lv_name,vg_name 'it'\''s here' ''"
        );
    }

    #[test]
    fn failure_names_command_status_and_stderr() {
        let err = ProcessRunner
            .run(
                &CommandLine::new("sh")
                    .args(["-c", "echo '  Volume group \"vgx\" not found' >&2; exit 5"]),
            )
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("sh -c"), "{text}");
        assert!(text.contains("exit status 5"), "{text}");
        assert!(text.contains(r#"Volume group "vgx" not found"#), "{text}");
    }

    #[test]
    fn missing_program_is_a_spawn_error_naming_it() {
        let err = ProcessRunner
            .run(&CommandLine::new("/nonexistent/lvm").arg("lvs"))
            .unwrap_err();
        assert!(matches!(err, RunError::Spawn { .. }));
        assert!(err.to_string().contains("/nonexistent/lvm lvs"));
    }

    #[test]
    fn success_returns_stdout() {
        let out = ProcessRunner
            .run(&CommandLine::new("sh").args(["-c", "printf hello"]))
            .unwrap();
        assert_eq!(out.stdout, b"hello");
    }
}
