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

/// What each exit code means for one command, in that command's words: the
/// end of its `--help`. The numbers come from [`ExitCode::code`], so a help
/// text cannot name a code the table does not have.
pub type CommandCodes = &'static [(ExitCode, &'static str)];

pub const APPLY: CommandCodes = &[
    (ExitCode::Success, "done"),
    (
        ExitCode::Failed,
        "failed (pre-flight, or no volume backed up)",
    ),
    (ExitCode::Usage, "invalid plan"),
    (ExitCode::Locked, "locked"),
    (ExitCode::Partial, "partial (some volumes failed)"),
    (
        ExitCode::CleanupIncomplete,
        "rollback incomplete (run `snapplan recover PLAN`)",
    ),
    (ExitCode::Internal, "internal error"),
    (
        ExitCode::Interrupted,
        "interrupted (after a clean rollback)",
    ),
];
pub const CHECK: CommandCodes = &[
    (ExitCode::Success, "nothing failed (warnings allowed)"),
    (ExitCode::Failed, "a check failed (a held lock included)"),
    (ExitCode::Usage, "the plan is invalid"),
];
pub const PLAN: CommandCodes = &[
    (ExitCode::Success, "the plan is valid"),
    (ExitCode::Usage, "it is not"),
];
pub const RECOVER: CommandCodes = &[
    (ExitCode::Success, "nothing left (or nothing to do)"),
    (ExitCode::Usage, "invalid plan"),
    (ExitCode::Locked, "a run holds the lock (it is alive)"),
    (
        ExitCode::CleanupIncomplete,
        "something could not be undone (see the log)",
    ),
];
pub const REPORT: CommandCodes = &[
    (
        ExitCode::Success,
        "the report was shown (whatever the runs' outcomes, and also when there are no runs yet)",
    ),
    (ExitCode::Failed, "run records exist but none could be read"),
    (ExitCode::Usage, "invalid plan or command line"),
];
pub const RESTORE: CommandCodes = &[
    (ExitCode::Success, "restored and verified"),
    (ExitCode::Failed, "refused (nothing written) or failed"),
    (
        ExitCode::Usage,
        "invalid plan, unknown volume, or not confirmed",
    ),
    (ExitCode::Locked, "a run of the plan holds its lock"),
    (ExitCode::Interrupted, "interrupted"),
];
pub const GENERATIONS: CommandCodes = &[
    (ExitCode::Success, "listed (also when a volume has none)"),
    (
        ExitCode::Failed,
        "LVM or the state directory could not be read, or is not trusted",
    ),
    (ExitCode::Usage, "invalid plan or unknown volume"),
];
pub const MOUNT: CommandCodes = &[
    (ExitCode::Success, "mounted read-only, and recorded"),
    (
        ExitCode::Failed,
        "refused or failed (nothing mounted, the backup VG put back as it was)",
    ),
    (
        ExitCode::Usage,
        "invalid plan, unknown volume or generation",
    ),
    (ExitCode::Locked, "a run of the plan holds its lock"),
    (
        ExitCode::CleanupIncomplete,
        "failed, and the backup VG could not be put back as it was",
    ),
];
pub const PRUNE: CommandCodes = &[
    (
        ExitCode::Success,
        "pruned (or nothing to prune, or a dry run)",
    ),
    (
        ExitCode::Failed,
        "the backup VG could not be reached, or a generation could not be removed",
    ),
    (
        ExitCode::Usage,
        "invalid plan, no `target.pool`, or unknown volume",
    ),
    (ExitCode::Locked, "a run of the plan holds its lock"),
    (
        ExitCode::CleanupIncomplete,
        "the backup VG could not be put back as it was",
    ),
];
pub const UNMOUNT: CommandCodes = &[
    (
        ExitCode::Success,
        "unmounted, and everything mount did undone",
    ),
    (
        ExitCode::Failed,
        "refused or the umount failed (busy): nothing was undone",
    ),
    (ExitCode::Usage, "no mount record for that path"),
    (
        ExitCode::CleanupIncomplete,
        "unmounted, but the backup LV or VG could not be put back (run unmount again)",
    ),
];
pub const VALIDATE: CommandCodes = &[
    (ExitCode::Success, "every plan is valid"),
    (ExitCode::Usage, "at least one is not (all are reported)"),
];
pub const VERIFY: CommandCodes = &[
    (ExitCode::Success, "every chunk matches (every volume OK)"),
    (
        ExitCode::Failed,
        "a mismatch or an unreadable manifest or device (the failing volume is named)",
    ),
    (
        ExitCode::Usage,
        "invalid plan, unknown volume or command line",
    ),
    (
        ExitCode::CleanupIncomplete,
        "the backup VG could not be put back as it was",
    ),
    (ExitCode::Interrupted, "interrupted"),
];

/// `examples` (the command's own text) followed by its exit codes as one
/// paragraph wrapped at 80 columns: `Exit codes: 0 done, 1 failed, ...`.
pub fn command_help(examples: &str, codes: CommandCodes) -> String {
    let items: Vec<String> = codes
        .iter()
        .map(|(code, meaning)| format!("{} {meaning}", code.code()))
        .collect();
    let sentence = format!("Exit codes: {}.", items.join(", "));
    let mut out = String::new();
    let mut line = String::new();
    for word in sentence.split(' ') {
        if !line.is_empty() && line.len() + 1 + word.len() > 80 {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    format!("{}\n\n{out}", examples.trim_end())
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
    fn command_help_lists_the_codes_in_order_within_80_columns() {
        let text = command_help("Examples:\n  snapplan x", APPLY);
        assert!(text.starts_with("Examples:\n  snapplan x\n\nExit codes: 0 done, 1 failed"));
        assert!(
            text.replace('\n', " ")
                .contains("130 interrupted (after a clean rollback).")
        );
        assert!(text.lines().all(|l| l.len() <= 80), "{text}");
        for codes in [
            APPLY,
            CHECK,
            GENERATIONS,
            MOUNT,
            UNMOUNT,
            PLAN,
            PRUNE,
            RECOVER,
            REPORT,
            RESTORE,
            VALIDATE,
            VERIFY,
        ] {
            assert!(
                codes.windows(2).all(|w| w[0].0.code() < w[1].0.code()),
                "each code once, in order"
            );
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
