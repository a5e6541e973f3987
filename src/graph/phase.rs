//! The original tool's lifecycle phases. Each selects part of the graph, so
//! an admin can log in and activate the backup disk once, back up, and
//! deactivate and log out later, as with `mksnapshot`.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

/// A lifecycle phase, in the order the phases run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Log in to the iSCSI target (nothing without `target.iscsi`).
    Login,
    /// Import (when exported) and activate the backup VG.
    Activate,
    /// DELETE the plan's backup LVs. Never part of `all`: only when named.
    Remove,
    /// Suspend, snapshot, resume, then copy, verify and drop each snapshot.
    Backup,
    /// Deactivate the backup VG, and export it when `target.export` is set.
    Deactivate,
    /// Log out of the iSCSI target.
    Logout,
}

impl Phase {
    /// The phases `all` stands for: everything but `remove`.
    pub const ALL: [Phase; 5] = [
        Phase::Login,
        Phase::Activate,
        Phase::Backup,
        Phase::Deactivate,
        Phase::Logout,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Login => "login",
            Phase::Activate => "activate",
            Phase::Remove => "remove",
            Phase::Backup => "backup",
            Phase::Deactivate => "deactivate",
            Phase::Logout => "logout",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The phases a run selects. The command line's `all` is expanded before
/// it gets here (see `cmd`): this set only holds real phases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseSet(BTreeSet<Phase>);

impl PhaseSet {
    /// The phases asked for; none at all means [`Phase::ALL`]. Order and
    /// repetition do not matter: phases always run in lifecycle order.
    pub fn from_args(phases: &[Phase]) -> PhaseSet {
        let asked: &[Phase] = if phases.is_empty() {
            &Phase::ALL
        } else {
            phases
        };
        PhaseSet(asked.iter().copied().collect::<BTreeSet<_>>())
    }

    pub fn contains(&self, phase: Phase) -> bool {
        self.0.contains(&phase)
    }

    /// In lifecycle order.
    pub fn iter(&self) -> impl Iterator<Item = Phase> + '_ {
        self.0.iter().copied()
    }

    /// `all` when it is exactly `all`, else the phases in lifecycle order,
    /// comma-separated: the same text whatever order they were given in.
    pub fn describe(&self) -> String {
        if self.0.iter().copied().eq(Phase::ALL) {
            return format!("all ({})", join(Phase::ALL.iter().copied()));
        }
        join(self.iter())
    }
}

fn join(phases: impl Iterator<Item = Phase>) -> String {
    phases.map(Phase::name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_means_all_and_all_excludes_remove() {
        let set = PhaseSet::from_args(&[]);
        assert_eq!(set, PhaseSet::from_args(&Phase::ALL));
        assert!(!set.contains(Phase::Remove));
        assert!(set.contains(Phase::Backup));
    }

    #[test]
    fn remove_only_when_named() {
        let mut every = Phase::ALL.to_vec();
        every.push(Phase::Remove);
        let set = PhaseSet::from_args(&every);
        assert!(set.contains(Phase::Remove));
        assert_eq!(
            set.describe(),
            "login, activate, remove, backup, deactivate, logout"
        );
    }

    #[test]
    fn order_on_the_command_line_does_not_matter() {
        let a = PhaseSet::from_args(&[Phase::Logout, Phase::Login, Phase::Logout]);
        assert_eq!(a, PhaseSet::from_args(&[Phase::Login, Phase::Logout]));
        assert_eq!(a.describe(), "login, logout");
        assert_eq!(
            PhaseSet::from_args(&[]).describe(),
            "all (login, activate, backup, deactivate, logout)"
        );
    }
}
