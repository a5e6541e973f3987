//! The one table of exit codes. Cron mails, monitoring and wrapper scripts
//! branch on these, so a code never changes meaning once released.
//! docs/exit-codes.md and `snapplan --help` repeat this table; a test keeps
//! them in sync.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitCode {
    /// Everything asked for was done and verified.
    Success,
    /// A check failed, or the run failed as a whole (no volume backed up).
    Failed,
    /// The plan is invalid or the command line is wrong; nothing was done.
    Usage,
    /// Another run of the same plan holds the lock; nothing was done.
    Locked,
    /// Some volumes were backed up and verified, others failed.
    Partial,
    /// Rolling back failed: something this run changed may still be in place
    /// (a snapshot, a suspended service). `snapplan recover` is needed.
    CleanupIncomplete,
    /// A bug in snapplan (a panic); rollback was still attempted.
    Internal,
    /// Stopped by SIGINT or SIGTERM after rolling back cleanly.
    Interrupted,
}

impl ExitCode {
    pub const ALL: [ExitCode; 8] = [
        ExitCode::Success,
        ExitCode::Failed,
        ExitCode::Usage,
        ExitCode::Locked,
        ExitCode::Partial,
        ExitCode::CleanupIncomplete,
        ExitCode::Internal,
        ExitCode::Interrupted,
    ];

    pub const fn code(self) -> u8 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Failed => 1,
            ExitCode::Usage => 2,
            ExitCode::Locked => 3,
            ExitCode::Partial => 4,
            ExitCode::CleanupIncomplete => 5,
            ExitCode::Internal => 70,
            ExitCode::Interrupted => 130,
        }
    }

    pub const fn meaning(self) -> &'static str {
        match self {
            ExitCode::Success => "success: everything asked for was done (and verified)",
            ExitCode::Failed => "a check failed, or the backup failed for every volume",
            ExitCode::Usage => "invalid plan or command line; nothing was done",
            ExitCode::Locked => "another run of this plan holds the lock; nothing was done",
            ExitCode::Partial => "partial failure: some volumes backed up, others failed",
            ExitCode::CleanupIncomplete => {
                "rollback incomplete: run `snapplan recover PLAN` (snapshots or suspended services may remain)"
            }
            ExitCode::Internal => "internal error (a bug); rollback was still attempted",
            ExitCode::Interrupted => "interrupted by SIGINT/SIGTERM after a clean rollback",
        }
    }

    /// The table as shown at the end of `snapplan --help`.
    pub fn help_table() -> String {
        let mut out = String::from("Exit codes:\n");
        for code in Self::ALL {
            out.push_str(&format!("  {:>3}  {}\n", code.code(), code.meaning()));
        }
        out
    }
}

impl fmt::Display for ExitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for code in ExitCode::ALL {
            assert!(seen.insert(code.code()), "duplicate exit code {code}");
        }
    }

    #[test]
    fn docs_table_lists_every_code() {
        let doc = include_str!("../docs/exit-codes.md");
        for code in ExitCode::ALL {
            let row = format!("| {} |", code.code());
            assert!(
                doc.contains(&row),
                "docs/exit-codes.md lacks a row for {code}"
            );
        }
    }
}
