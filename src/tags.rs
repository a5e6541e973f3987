//! The LVM tags snapplan puts on everything it creates, and the names of
//! its snapshots. Leftovers of a dead run are found by these tags, never by
//! guessing from LV names: an admin's own `home_snap` must never look like
//! ours.
//!
//! The graph's argv builders attach these tags and check, recover and
//! restore look for them: each tag is spelled once, here, so that finding
//! and creating cannot drift apart. LVM allows `[A-Za-z0-9_+.-/=!:&#]` in
//! tags, 1024 characters.

use crate::plan::LvPath;

// Each literal is written once; the constants below are put together from
// these so that a prefix and its full tags cannot disagree.
macro_rules! snapplan {
    () => {
        "snapplan"
    };
}
macro_rules! role_prefix {
    () => {
        "snapplan-role:"
    };
}
macro_rules! state_prefix {
    () => {
        "snapplan-state:"
    };
}
macro_rules! role_snapshot {
    () => {
        "snapshot"
    };
}
macro_rules! role_protection {
    () => {
        "protection"
    };
}
macro_rules! role_base {
    () => {
        "base"
    };
}
macro_rules! role_backup {
    () => {
        "backup"
    };
}
macro_rules! role_generation {
    () => {
        "generation"
    };
}
macro_rules! state_incomplete {
    () => {
        "incomplete"
    };
}
macro_rules! state_complete {
    () => {
        "complete"
    };
}

/// On every LV snapplan creates: `lvs @snapplan` lists them all.
pub const SNAPPLAN: &str = snapplan!();
/// Same tag, under the name the argv builders use.
pub const TAG_SNAPPLAN: &str = SNAPPLAN;
/// `snapplan-plan:<plan name>`: which plan made the LV.
pub const PLAN_PREFIX: &str = concat!(snapplan!(), "-plan:");
/// `snapplan-run:<run id>`: which run made the LV.
pub const RUN_PREFIX: &str = concat!(snapplan!(), "-run:");
/// `snapplan-role:snapshot|backup`: what the LV is for.
pub const ROLE_PREFIX: &str = role_prefix!();
pub const ROLE_SNAPSHOT: &str = role_snapshot!();
pub const ROLE_BACKUP: &str = role_backup!();
/// The thin snapshot of a thin origin kept after a good run: the next
/// run's copy reads only what changed since it (`thin_delta`). Not a
/// leftover: recover and check leave it; the next good run replaces it.
pub const ROLE_BASE: &str = role_base!();
/// A snapshot of a backup LV that keeps its previous content while the
/// backup is overwritten: merged back if the new copy fails, removed once
/// it verified.
pub const ROLE_PROTECTION: &str = role_protection!();
/// A thin-pool generation of a volume (`target.pool`): one thin LV per
/// volume and run, named by [`generation_name`].
pub const ROLE_GENERATION: &str = role_generation!();
/// `snapplan-state:complete|incomplete` on a backup LV: whether its last
/// copy finished (and verified).
pub const STATE_PREFIX: &str = state_prefix!();
pub const STATE_INCOMPLETE: &str = state_incomplete!();
pub const STATE_COMPLETE: &str = state_complete!();

/// The role tag of a snapshot snapplan made (and must remove).
pub const TAG_ROLE_SNAPSHOT: &str = concat!(role_prefix!(), role_snapshot!());
/// The role tag of a kept thin base snapshot.
pub const TAG_ROLE_BASE: &str = concat!(role_prefix!(), role_base!());
/// The role tag of a backup LV (never removed except by the `remove` phase).
pub const TAG_ROLE_BACKUP: &str = concat!(role_prefix!(), role_backup!());
/// The role tag of a thin-pool generation.
pub const TAG_ROLE_GENERATION: &str = concat!(role_prefix!(), role_generation!());
/// On a backup LV while it is being written, or after a failed copy or verify.
pub const TAG_STATE_INCOMPLETE: &str = concat!(state_prefix!(), state_incomplete!());
/// On a backup LV whose last copy finished (and verified when verify is on).
pub const TAG_STATE_COMPLETE: &str = concat!(state_prefix!(), state_complete!());

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

/// The tags of a snapshot created by run `run_id` of plan `plan`: the run
/// tag is how `recover` finds what a dead run left behind.
pub fn snapshot_tags(plan: &str, run_id: &str) -> Vec<String> {
    for_lv(plan, run_id, ROLE_SNAPSHOT).to_vec()
}

/// The tags of a backup LV created for plan `plan`. No run tag: a backup
/// outlives the run that created it.
pub fn backup_tags(plan: &str) -> Vec<String> {
    vec![
        TAG_SNAPPLAN.to_string(),
        plan_tag(plan),
        TAG_ROLE_BACKUP.to_string(),
    ]
}

/// The tags of the protection snapshot of a backup LV, made by run `run_id`.
pub fn protection_tags(plan: &str, run_id: &str) -> Vec<String> {
    for_lv(plan, run_id, ROLE_PROTECTION).to_vec()
}

/// What a backup LV's protection snapshot adds to its name (`home-snapplan-keep`).
pub const PROTECTION_SUFFIX: &str = "-snapplan-keep";

/// The one name of the protection snapshot of backup LV `vg/lv`, in the
/// backup's VG: one per backup LV, shortened like [`snapshot_name`].
pub fn protection_name(backup: &LvPath) -> String {
    name_with_suffix(backup, PROTECTION_SUFFIX)
}

/// The protection snapshot of `backup` as `vg/lv`.
pub fn protection_path(backup: &LvPath) -> LvPath {
    LvPath {
        vg: backup.vg.clone(),
        lv: protection_name(backup),
    }
}

/// What a kept thin base adds to its origin's name (`vm1-snapplan-base`).
pub const BASE_SUFFIX: &str = "-snapplan-base";

/// The one name of the kept base of thin origin `vg/lv`, in the origin's
/// VG: one per origin, so at most one base per origin whatever a crash
/// interrupts. Shortened like [`snapshot_name`].
pub fn base_name(origin: &LvPath) -> String {
    name_with_suffix(origin, BASE_SUFFIX)
}

/// The kept base of `origin` as `vg/lv`.
pub fn base_path(origin: &LvPath) -> LvPath {
    LvPath {
        vg: origin.vg.clone(),
        lv: base_name(origin),
    }
}

/// What a snapshot's name adds to its origin's name (`home-snapplan`).
pub const SNAPSHOT_SUFFIX: &str = "-snapplan";
/// LVM refuses LV names of 128 characters or more (NAME_LEN includes the NUL).
pub const MAX_LV_NAME: usize = 127;
/// device-mapper refuses device names of 128 bytes or more (`DM_NAME_LEN`
/// includes the NUL); names are `vg-lv` with every `-` inside vg and lv
/// doubled.
pub const MAX_DM_NAME: usize = 127;
/// The layer LVM puts under an origin while it has a snapshot:
/// `<vg>-<origin>-real`.
pub const ORIGIN_LAYER: &str = "-real";
/// The layer that holds a snapshot's copy-on-write data:
/// `<vg>-<snapshot>-cow`.
pub const SNAPSHOT_LAYER: &str = "-cow";

/// The length in bytes of the device-mapper name of `vg/lv`.
pub fn dm_name_len(vg: &str, lv: &str) -> usize {
    vg.len() + 1 + lv.len() + vg.matches('-').count() + lv.matches('-').count()
}

/// The device-mapper name of `vg/lv`, as `dmsetup ls` shows it.
pub fn dm_name(vg: &str, lv: &str) -> String {
    format!("{}-{}", vg.replace('-', "--"), lv.replace('-', "--"))
}

/// Whether a snapshot named `lv` in `vg` can be created: LVM's name limit,
/// and device-mapper's limit for its longest device, the `-cow` layer.
/// With a VG name so long that nothing fits, [`snapshot_name`] returns a
/// name that does not fit either: validate refuses such plans.
pub fn snapshot_fits(vg: &str, lv: &str) -> bool {
    lv.len() <= MAX_LV_NAME && dm_name_len(vg, lv) + SNAPSHOT_LAYER.len() <= MAX_DM_NAME
}

/// The one name of the snapshot of origin `vg/lv`, for apply that creates
/// it and for check and recover that look for it: `<lv>-snapplan` in the
/// origin's VG, one per origin, so a leftover is obvious in `lvs` and a
/// second run cannot stack a second snapshot on the same origin. When that
/// would break LVM's or device-mapper's length limit, the origin name is
/// cut short plus `-<16 hex digits of xxh3(lv)>` before the suffix, so two
/// long names sharing a prefix still get different snapshots.
pub fn snapshot_name(origin: &LvPath) -> String {
    name_with_suffix(origin, SNAPSHOT_SUFFIX)
}

fn name_with_suffix(origin: &LvPath, suffix: &str) -> String {
    let plain = format!("{}{suffix}", origin.lv);
    if snapshot_fits(&origin.vg, &plain) {
        return plain;
    }
    let hash = format!("-{:016x}", xxhash_rust::xxh3::xxh3_64(origin.lv.as_bytes()));
    let mut keep = origin.lv.len();
    loop {
        // LV names are ASCII, but never split a char whatever the input.
        while !origin.lv.is_char_boundary(keep) {
            keep -= 1;
        }
        // An LV name must not start with `-`: with nothing of the origin's
        // name left, the hash leads.
        let candidate = match keep {
            0 => format!("{}{suffix}", &hash[1..]),
            _ => format!("{}{hash}{suffix}", &origin.lv[..keep]),
        };
        if snapshot_fits(&origin.vg, &candidate) || keep == 0 {
            return candidate;
        }
        keep -= 1;
    }
}

/// Length of a generation id, `YYYYMMDDTHHMMSSZ`.
pub const GENERATION_ID_LEN: usize = 16;

/// The tags of a generation made by run `run_id`: the run tag lets
/// rollback and recover remove only what that run made; it is created
/// `incomplete`.
pub fn generation_tags(plan: &str, run_id: &str) -> Vec<String> {
    let mut tags = for_lv(plan, run_id, ROLE_GENERATION).to_vec();
    tags.push(TAG_STATE_INCOMPLETE.to_string());
    tags
}

/// The LV name of a volume's generation: `<target_lv>.<id>`, the id being
/// the run's UTC start time as `YYYYMMDDTHHMMSSZ` (`state::time::compact`).
/// LVM allows `.` in LV names, and the name sorts by time.
pub fn generation_name(target_lv: &str, id: &str) -> String {
    format!("{target_lv}.{id}")
}

/// The generation id of run `run_id` (`YYYYMMDDTHHMMSSZ-<pid>`, see
/// `state::time::new_run_id`): its UTC start time, so every volume's
/// generation of one run has the same id. `None` for a run id of another
/// shape (a test's `r1`), which cannot name a generation.
pub fn generation_id_of_run(run_id: &str) -> Option<&str> {
    let time = run_id.get(..GENERATION_ID_LEN)?;
    let rest = &run_id[GENERATION_ID_LEN..];
    ((rest.is_empty() || rest.starts_with('-')) && is_generation_id(time)).then_some(time)
}

/// `YYYYMMDDTHHMMSSZ`: digits, with `T` and `Z` in their places.
fn is_generation_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == GENERATION_ID_LEN
        && b.iter().enumerate().all(|(i, c)| match i {
            8 => *c == b'T',
            15 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// The id of generation LV `lv` of a volume backed up to `target_lv`, when
/// `lv` is named like one: `<target_lv>.` and sixteen characters of the
/// form `YYYYMMDDTHHMMSSZ`. A name alone proves nothing: the tags do.
pub fn generation_id<'a>(target_lv: &str, lv: &'a str) -> Option<&'a str> {
    let id = lv.strip_prefix(target_lv)?.strip_prefix('.')?;
    is_generation_id(id).then_some(id)
}

/// What the tags of an LV say about it as a generation of plan `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenerationState {
    /// Tagged complete (and not incomplete): never removed but by
    /// retention, never written again.
    Complete,
    /// Tagged incomplete and not complete: rollback (its own run's only)
    /// and recover remove it.
    Incomplete,
}

/// The state of a generation of `plan`, from all of an LV's tags: `None`
/// unless it carries `snapplan`, this plan's tag and the generation role,
/// and exactly one of the two state tags (an LV tagged both, which snapplan
/// never makes, is neither: nothing removes it, nothing trusts it).
pub fn generation_state<S: AsRef<str>>(tags: &[S], plan: &str) -> Option<GenerationState> {
    let has = |wanted: &str| tags.iter().any(|t| t.as_ref() == wanted);
    if !has(SNAPPLAN) || !has(&plan_tag(plan)) || !has(TAG_ROLE_GENERATION) {
        return None;
    }
    match (has(TAG_STATE_COMPLETE), has(TAG_STATE_INCOMPLETE)) {
        (true, false) => Some(GenerationState::Complete),
        (false, true) => Some(GenerationState::Incomplete),
        _ => None,
    }
}

/// Whether the rollback of run `run_id` may remove this LV: an incomplete
/// generation of `plan` that this very run made.
pub fn rollback_may_remove_generation<S: AsRef<str>>(tags: &[S], plan: &str, run_id: &str) -> bool {
    generation_state(tags, plan) == Some(GenerationState::Incomplete)
        && tags.iter().any(|t| t.as_ref() == run_tag(run_id))
}

/// The newest complete generation of `target_lv` among `lvs` (name, tags):
/// by the time in its name, which is the run's start. What a new
/// generation is a snapshot of, and what retention never removes.
pub fn newest_complete_generation<'a, S: AsRef<str>>(
    target_lv: &str,
    plan: &str,
    lvs: &[(&'a str, &[S])],
) -> Option<&'a str> {
    lvs.iter()
        .filter(|(name, tags)| {
            generation_id(target_lv, name).is_some()
                && generation_state(tags, plan) == Some(GenerationState::Complete)
        })
        .map(|(name, _)| *name)
        .max_by_key(|name| generation_id(target_lv, name))
}

/// Whether the generations of `target_lv` in `vg` have names LVM and
/// device-mapper accept (validate's question).
pub fn generation_fits(vg: &str, target_lv: &str) -> bool {
    let longest = generation_name(target_lv, "20261202T031500Z");
    longest.len() <= MAX_LV_NAME && dm_name_len(vg, &longest) <= MAX_DM_NAME
}

/// The snapshot of `origin` as `vg/lv`.
pub fn snapshot_path(origin: &LvPath) -> LvPath {
    LvPath {
        vg: origin.vg.clone(),
        lv: snapshot_name(origin),
    }
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

    fn lv(vg: &str, lv: &str) -> LvPath {
        LvPath {
            vg: vg.into(),
            lv: lv.into(),
        }
    }

    fn valid_tag(tag: &str) -> bool {
        !tag.is_empty()
            && tag.len() <= 1024
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+.-/=!:&#".contains(c))
    }

    #[test]
    fn a_generation_is_named_after_its_volume_and_time_and_its_id_reads_back() {
        let name = generation_name("root", "20261202T031500Z");
        assert_eq!(name, "root.20261202T031500Z");
        assert!(crate::plan::names::check_lv(&name).is_ok());
        assert_eq!(generation_id("root", &name), Some("20261202T031500Z"));
        // Another volume's, a different shape, or not ours by name: no id.
        assert_eq!(generation_id("roo", &name), None);
        assert_eq!(generation_id("root", "root.2026120T031500Z"), None);
        assert_eq!(generation_id("root", "root-20261202T031500Z"), None);
        assert_eq!(generation_id("root", "root.20261202T031500ZZ"), None);
        assert_eq!(
            generation_id_of_run("20261202T031500Z-4242"),
            Some("20261202T031500Z")
        );
        assert_eq!(generation_id_of_run("r1"), None);
        assert_eq!(generation_id_of_run("20261202T031500Zx"), None);
        assert!(generation_fits("backup", "root"));
        assert!(!generation_fits("backup", &"a".repeat(120)));
    }

    fn complete(tags: &[String]) -> Vec<String> {
        tags.iter()
            .map(|t| {
                if t == TAG_STATE_INCOMPLETE {
                    TAG_STATE_COMPLETE.to_string()
                } else {
                    t.clone()
                }
            })
            .collect()
    }

    #[test]
    fn only_an_incomplete_generation_of_this_plan_and_run_may_be_rolled_back() {
        let made = generation_tags("home", "r1");
        assert_eq!(
            generation_state(&made, "home"),
            Some(GenerationState::Incomplete)
        );
        assert!(rollback_may_remove_generation(&made, "home", "r1"));
        // Another run's, another plan's, a complete one, a thick backup.
        assert!(!rollback_may_remove_generation(&made, "home", "r2"));
        assert!(!rollback_may_remove_generation(&made, "other", "r1"));
        assert_eq!(generation_state(&made, "other"), None);
        let done = complete(&made);
        assert_eq!(
            generation_state(&done, "home"),
            Some(GenerationState::Complete)
        );
        assert!(!rollback_may_remove_generation(&done, "home", "r1"));
        let mut backup = backup_tags("home");
        backup.push(TAG_STATE_INCOMPLETE.to_string());
        assert_eq!(generation_state(&backup, "home"), None);
        // Both state tags (never made by snapplan): neither removed nor trusted.
        let mut both = made.clone();
        both.push(TAG_STATE_COMPLETE.to_string());
        assert_eq!(generation_state(&both, "home"), None);
        assert!(!rollback_may_remove_generation(&both, "home", "r1"));
        // Without the snapplan tag, not ours whatever else it says.
        let forged: Vec<String> = made.iter().skip(1).cloned().collect();
        assert_eq!(generation_state(&forged, "home"), None);
    }

    #[test]
    fn the_newest_complete_generation_is_chosen_by_the_time_in_its_name() {
        let done = complete(&generation_tags("home", "r"));
        let open = generation_tags("home", "r");
        let other_plan = complete(&generation_tags("work", "r"));
        let lvs: Vec<(&str, &[String])> = vec![
            ("root.20261201T031500Z", &done),
            ("root.20261203T031500Z", &done),
            ("root.20261204T031500Z", &open),
            ("root.20261205T031500Z", &other_plan),
            ("root.2026120XT031500Z", &done),
            ("rootfs.20261209T031500Z", &done),
            ("root", &done),
        ];
        assert_eq!(
            newest_complete_generation("root", "home", &lvs),
            Some("root.20261203T031500Z")
        );
        assert_eq!(newest_complete_generation("home", "home", &lvs), None);
    }

    #[test]
    fn generation_tags_name_the_plan_the_run_the_role_and_start_incomplete() {
        let tags = generation_tags("home", "20261202T031500Z-42");
        assert_eq!(
            tags,
            [
                "snapplan",
                "snapplan-plan:home",
                "snapplan-run:20261202T031500Z-42",
                "snapplan-role:generation",
                "snapplan-state:incomplete",
            ]
        );
        assert!(tags.iter().all(|t| valid_tag(t)));
    }

    #[test]
    fn a_base_is_named_after_its_origin_and_differs_from_its_snapshot() {
        let origin = lv("vg0", "vm1");
        assert_eq!(base_path(&origin).to_string(), "vg0/vm1-snapplan-base");
        assert_ne!(base_name(&origin), snapshot_name(&origin));
        assert!(valid_tag(TAG_ROLE_BASE));
    }

    #[test]
    fn snapshot_name_appends_suffix() {
        assert_eq!(snapshot_name(&lv("vg0", "root")), "root-snapplan");
        assert_eq!(
            snapshot_path(&lv("vg0", "root")).to_string(),
            "vg0/root-snapplan"
        );
    }

    #[test]
    fn long_snapshot_names_fit_lvm_and_dm_limits_and_stay_distinct() {
        let a = lv("vg-data", &format!("{}a", "x-".repeat(60)));
        let b = lv("vg-data", &format!("{}b", "x-".repeat(60)));
        let (na, nb) = (snapshot_name(&a), snapshot_name(&b));
        assert_ne!(na, nb);
        for name in [&na, &nb] {
            assert!(name.ends_with(SNAPSHOT_SUFFIX));
            assert!(snapshot_fits("vg-data", name), "{name} too long");
        }
        // Deterministic: apply and recover must compute the same name.
        assert_eq!(na, snapshot_name(&a));
    }

    proptest::proptest! {
        #[test]
        fn snapshot_names_fit_and_differ(
            vg in "[a-z][a-z0-9_-]{0,40}",
            a in "[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}",
            b in "[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}",
        ) {
            let (na, nb) = (snapshot_name(&lv(&vg, &a)), snapshot_name(&lv(&vg, &b)));
            proptest::prop_assert!(snapshot_fits(&vg, &na), "{} too long", na);
            proptest::prop_assert!(!na.starts_with('-'));
            proptest::prop_assert_eq!(na == nb, a == b);
        }
    }

    #[test]
    fn snapshot_name_never_starts_with_a_dash() {
        let origin = lv(&"v".repeat(120), "root");
        let name = snapshot_name(&origin);
        assert!(!name.starts_with('-'), "{name}");
        assert!(name.ends_with(SNAPSHOT_SUFFIX));
    }

    #[test]
    fn hashed_names_leave_room_for_the_cow_layer() {
        // 114 + 9 = 123 characters: a valid LV name, but `vg-<it>-cow`
        // would be 2 + 1 + 124 + 4 = 131 bytes, which device-mapper refuses.
        let origin = lv("vg", &"r".repeat(114));
        let name = snapshot_name(&origin);
        assert_ne!(name, format!("{}{SNAPSHOT_SUFFIX}", origin.lv));
        assert!(dm_name_len("vg", &name) + SNAPSHOT_LAYER.len() <= MAX_DM_NAME);
        assert_eq!(dm_name("vg-data", "a-b"), "vg--data-a--b");
        assert_eq!(dm_name_len("vg-data", "a-b"), "vg--data-a--b".len());
    }

    #[test]
    fn snapshot_name_near_the_limit_is_kept_plain_when_it_fits() {
        // The longest plain name that leaves room for `vg-<name>--snapplan-cow`.
        let origin = lv(
            "vg",
            &"r".repeat(MAX_DM_NAME - 3 - 10 - SNAPSHOT_LAYER.len()),
        );
        assert_eq!(
            snapshot_name(&origin),
            format!("{}{SNAPSHOT_SUFFIX}", origin.lv)
        );
    }

    #[test]
    fn tags_use_only_lvm_tag_characters() {
        for tag in snapshot_tags("home-server", "20260101T000000Z-1234")
            .iter()
            .chain(&backup_tags("home_server"))
            .chain(&[
                TAG_STATE_COMPLETE.to_string(),
                TAG_STATE_INCOMPLETE.to_string(),
            ])
        {
            assert!(valid_tag(tag), "{tag}");
        }
    }

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
