//! The LVM tags snapplan puts on everything it creates. Leftovers of a dead
//! run are found by these tags, never by guessing from LV names: an admin's
//! own `home_snap` must never look like ours.
//!
//! The graph's argv builders attach the same tags; the names live here so
//! that finding and creating cannot drift apart.

/// On every LV snapplan creates.
pub const SNAPPLAN: &str = "snapplan";
/// `snapplan-plan:<plan name>`: which plan made the LV.
pub const PLAN_PREFIX: &str = "snapplan-plan:";
/// `snapplan-run:<run id>`: which run made the LV.
pub const RUN_PREFIX: &str = "snapplan-run:";
/// `snapplan-role:snapshot|backup`: what the LV is for.
pub const ROLE_PREFIX: &str = "snapplan-role:";
pub const ROLE_SNAPSHOT: &str = "snapshot";
pub const ROLE_BACKUP: &str = "backup";
/// `snapplan-state:complete|incomplete` on a backup LV: whether its last
/// copy finished (and verified).
pub const STATE_PREFIX: &str = "snapplan-state:";
pub const STATE_INCOMPLETE: &str = "incomplete";
pub const STATE_COMPLETE: &str = "complete";

/// The snapshot name apply uses, defined once in `crate::tags`.
pub use crate::tags::{SNAPSHOT_SUFFIX, snapshot_name};

/// On every LV snapplan creates: `lvs @snapplan` lists them all.
pub const TAG_SNAPPLAN: &str = SNAPPLAN;
/// The role tag of a snapshot snapplan made (and must remove).
pub const TAG_ROLE_SNAPSHOT: &str = "snapplan-role:snapshot";
/// The role tag of a backup LV (never removed except by the `remove` phase).
pub const TAG_ROLE_BACKUP: &str = "snapplan-role:backup";
/// On a backup LV while it is being written, or after a failed copy or verify.
pub const TAG_STATE_INCOMPLETE: &str = "snapplan-state:incomplete";
/// On a backup LV whose last copy finished (and verified when verify is on).
pub const TAG_STATE_COMPLETE: &str = "snapplan-state:complete";

/// `snapplan-plan:<plan name>`; plan names are `[a-z0-9_-]`, valid in tags.
pub fn plan_tag(plan: &str) -> String {
    format!("{PLAN_PREFIX}{plan}")
}

/// `snapplan-run:<run id>`. At plan time the run id is a placeholder; at
/// run time it must use LVM's tag characters (`[A-Za-z0-9_+.-]` is safe).
pub fn run_tag(run_id: &str) -> String {
    format!("{RUN_PREFIX}{run_id}")
}

/// The tags of an LV snapplan creates, in the order `lvcreate --addtag`
/// receives them.
pub fn for_lv(plan: &str, run_id: &str, role: &str) -> [String; 4] {
    [
        SNAPPLAN.to_string(),
        plan_tag(plan),
        run_tag(run_id),
        format!("{ROLE_PREFIX}{role}"),
    ]
}

/// What the tags on an existing LV say about it, when snapplan made it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Ownership {
    pub plan: Option<String>,
    pub run: Option<String>,
    pub role: Option<String>,
    pub state: Option<String>,
}

/// `None` when the LV lacks the `snapplan` tag: not ours, whatever its name.
pub fn ownership<S: AsRef<str>>(tags: &[S]) -> Option<Ownership> {
    if !tags.iter().any(|t| t.as_ref() == SNAPPLAN) {
        return None;
    }
    let value = |prefix: &str| {
        tags.iter()
            .find_map(|t| t.as_ref().strip_prefix(prefix))
            .map(str::to_string)
    };
    Some(Ownership {
        plan: value(PLAN_PREFIX),
        run: value(RUN_PREFIX),
        role: value(ROLE_PREFIX),
        state: value(STATE_PREFIX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_tags_are_read_back() {
        let tags = for_lv("home", "20261127T0300Z-42", ROLE_SNAPSHOT);
        let owner = ownership(&tags).expect("ours");
        assert_eq!(owner.plan.as_deref(), Some("home"));
        assert_eq!(owner.run.as_deref(), Some("20261127T0300Z-42"));
        assert_eq!(owner.role.as_deref(), Some(ROLE_SNAPSHOT));
    }

    #[test]
    fn full_tags_are_prefix_and_value() {
        assert_eq!(TAG_ROLE_SNAPSHOT, format!("{ROLE_PREFIX}{ROLE_SNAPSHOT}"));
        assert_eq!(TAG_ROLE_BACKUP, format!("{ROLE_PREFIX}{ROLE_BACKUP}"));
        assert!(TAG_STATE_COMPLETE.starts_with("snapplan-state:"));
        assert!(TAG_STATE_INCOMPLETE.starts_with("snapplan-state:"));
    }

    #[test]
    fn untagged_lv_is_not_ours_even_with_our_prefixes_elsewhere() {
        assert_eq!(ownership(&["snapplan-plan:home", "backup"]), None);
        assert_eq!(ownership::<&str>(&[]), None);
    }
}
