//! Why a command stopped early, and the exit code that says so. Every
//! command returns `Result<ExitCode, ExpectedError>`: the `Ok` code is the
//! outcome it reported itself (a failed check, a partial run), the `Err` is
//! mapped to its code here, in one place, as cargo-nextest's
//! `ExpectedError` does.

use crate::ExitCode;
use crate::restore::RestoreError;
use crate::state::lock::LockError;

#[derive(Debug, thiserror::Error)]
pub enum ExpectedError {
    /// The plan is invalid or unreadable; its diagnostics are on stderr.
    #[error("the plan is invalid")]
    InvalidPlan,
    /// A destructive command was not confirmed; the prompt said so.
    #[error("not confirmed")]
    NotConfirmed,
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
    /// The plan's lock: held by a live run, or not to be opened. `then`
    /// says what that means for this command.
    #[error("{source}: {then}")]
    Lock {
        source: LockError,
        then: &'static str,
    },
    #[error(transparent)]
    Restore(#[from] RestoreError),
    #[error(transparent)]
    Generations(#[from] crate::generations::GenerationsError),
    #[error(transparent)]
    Mount(#[from] crate::mount::MountError),
    #[error(transparent)]
    Prune(#[from] crate::prune::PruneRunError),
    /// `--generation ID` names no generation: a usage error.
    #[error(transparent)]
    UnknownGeneration(#[from] crate::generations::UnknownGeneration),
    #[error("cannot install the signal handlers: {0}")]
    Signals(std::io::Error),
    /// Anything else that stops the command before it did its work.
    #[error("{0}")]
    Failed(String),
}

impl ExpectedError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            ExpectedError::InvalidPlan | ExpectedError::NotConfirmed | ExpectedError::Usage(_) => {
                ExitCode::Usage
            }
            ExpectedError::Lock {
                source: LockError::Held { .. },
                ..
            } => ExitCode::Locked,
            ExpectedError::Restore(e) => e.exit_code(),
            ExpectedError::Generations(e) => e.exit_code(),
            ExpectedError::UnknownGeneration(_) => ExitCode::Usage,
            ExpectedError::Mount(e) => e.exit_code(),
            ExpectedError::Prune(e) => e.exit_code(),
            ExpectedError::Lock { .. } | ExpectedError::Signals(_) | ExpectedError::Failed(_) => {
                ExitCode::Failed
            }
        }
    }

    /// Whether the message is already on stderr (plan diagnostics, the
    /// confirmation prompt's answer).
    pub fn already_reported(&self) -> bool {
        matches!(
            self,
            ExpectedError::InvalidPlan | ExpectedError::NotConfirmed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_exits_3_and_a_broken_one_exits_1() {
        let held = ExpectedError::Lock {
            source: LockError::Held {
                path: "/var/lib/snapplan/p.lock".into(),
                holder: Some(42),
                command: Some("snapplan apply /etc/snapplan/p.yaml".into()),
            },
            then: "nothing was done",
        };
        assert_eq!(held.exit_code(), ExitCode::Locked);
        assert!(
            held.to_string()
                .ends_with("(process 42: snapplan apply /etc/snapplan/p.yaml): nothing was done")
        );
        let broken = ExpectedError::Lock {
            source: LockError::Io {
                path: "/var/lib/snapplan/p.lock".into(),
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            },
            then: "nothing was done",
        };
        assert_eq!(broken.exit_code(), ExitCode::Failed);
        assert_eq!(ExpectedError::InvalidPlan.exit_code(), ExitCode::Usage);
        assert_eq!(ExpectedError::NotConfirmed.exit_code(), ExitCode::Usage);
    }
}
