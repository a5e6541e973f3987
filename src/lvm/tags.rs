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

/// What a snapshot's name adds to its origin's name (`home-snapplan`).
pub const SNAPSHOT_SUFFIX: &str = "-snapplan";

/// The name apply gives the snapshot of `origin_lv`, in the origin's VG.
/// Same convention as `lvm::commands::snapshot_name` for names within LVM's
/// length limits; check uses it only to find a name already taken.
pub fn snapshot_name(origin_lv: &str) -> String {
    format!("{origin_lv}{SNAPSHOT_SUFFIX}")
}

/// The tags of an LV snapplan creates, in the order `lvcreate --addtag`
/// receives them.
pub fn for_lv(plan: &str, run_id: &str, role: &str) -> [String; 4] {
    [
        SNAPPLAN.to_string(),
        format!("{PLAN_PREFIX}{plan}"),
        format!("{RUN_PREFIX}{run_id}"),
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
    fn untagged_lv_is_not_ours_even_with_our_prefixes_elsewhere() {
        assert_eq!(ownership(&["snapplan-plan:home", "backup"]), None);
        assert_eq!(ownership::<&str>(&[]), None);
    }
}
