//! Which hook programs the plan's hooks directory holds. Listing the
//! directory is the caller's I/O; the compiler only sees the result, so it
//! stays pure and `snapplan plan` still works on a machine without the
//! directory (a reviewer's laptop).

use std::path::PathBuf;

/// The hooks directory as the caller found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookList {
    /// The executable files in the directory, in name order (possibly none).
    Found(Vec<PathBuf>),
    /// The directory could not be listed here (absent or unreadable): the
    /// graph gets one suspend and one resume step for the whole directory,
    /// expanded when the plan is applied.
    NotListed,
}
