//! The names snapplan gives what it creates, in one place, so that the
//! compiler (which prints them), apply and recover (which create and remove
//! them), check (which looks for them) and validate (which refuses plans
//! whose names would collide with them) can never disagree.
//!
//! Pure and dependency-free apart from the plan's `LvPath`: the plan
//! language may use it.
//!
//! (The tag spellings still live in `lvm::tags`; issue 9 moves them here.)

use crate::plan::LvPath;

/// What a snapshot's name adds to its origin's name.
pub const SNAPSHOT_SUFFIX: &str = "-snapplan";
/// LVM refuses LV and VG names of 128 characters or more (`NAME_LEN`
/// includes the NUL).
pub const MAX_LV_NAME: usize = 127;
/// device-mapper refuses device names of 128 bytes or more (`DM_NAME_LEN`
/// includes the NUL).
pub const MAX_DM_NAME: usize = 127;
/// The layer LVM puts under an origin while it has a snapshot:
/// `<vg>-<origin>-real`.
pub const ORIGIN_LAYER: &str = "-real";
/// The layer that holds a snapshot's copy-on-write data:
/// `<vg>-<snapshot>-cow`.
pub const SNAPSHOT_LAYER: &str = "-cow";

/// The device-mapper name of `vg/lv`: `vg-lv` with every `-` inside either
/// part doubled (`vg-data/a-b` is `vg--data-a--b`), its length in bytes.
pub fn dm_name_len(vg: &str, lv: &str) -> usize {
    vg.len() + 1 + lv.len() + vg.matches('-').count() + lv.matches('-').count()
}

/// The device-mapper name of `vg/lv`, as `dmsetup ls` shows it.
pub fn dm_name(vg: &str, lv: &str) -> String {
    format!("{}-{}", vg.replace('-', "--"), lv.replace('-', "--"))
}

/// Whether a snapshot named `lv` in `vg` can be created: LVM's name limit,
/// and device-mapper's limit for its longest device, the `-cow` layer.
pub fn snapshot_fits(vg: &str, lv: &str) -> bool {
    lv.len() <= MAX_LV_NAME && dm_name_len(vg, lv) + SNAPSHOT_LAYER.len() <= MAX_DM_NAME
}

/// The snapshot LV name for origin `vg/lv`: `<lv>-snapplan`, or, when that
/// would break LVM's or device-mapper's length limit, the origin name cut
/// short plus `-<16 hex digits of xxh3(lv)>` before the suffix, so two long
/// names sharing a prefix still get different snapshots. With a VG name so
/// long that nothing fits, the result does not fit either: validate refuses
/// such plans ([`snapshot_fits`]).
pub fn snapshot_name(origin: &LvPath) -> String {
    let plain = format!("{}{SNAPSHOT_SUFFIX}", origin.lv);
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
            0 => format!("{}{SNAPSHOT_SUFFIX}", &hash[1..]),
            _ => format!("{}{hash}{SNAPSHOT_SUFFIX}", &origin.lv[..keep]),
        };
        if snapshot_fits(&origin.vg, &candidate) || keep == 0 {
            return candidate;
        }
        keep -= 1;
    }
}

/// The snapshot of `origin` as `vg/lv`.
pub fn snapshot_path(origin: &LvPath) -> LvPath {
    LvPath {
        vg: origin.vg.clone(),
        lv: snapshot_name(origin),
    }
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

    fn fits(vg: &str, lv: &str) -> bool {
        snapshot_fits(vg, lv)
    }

    #[test]
    fn dm_names_double_dashes() {
        assert_eq!(dm_name("vg-data", "a-b"), "vg--data-a--b");
        assert_eq!(dm_name_len("vg-data", "a-b"), "vg--data-a--b".len());
    }

    #[test]
    fn hashed_names_leave_room_for_the_cow_layer() {
        // 114 + 9 = 123 characters: a valid LV name, but `vg-<it>-cow`
        // would be 2 + 1 + 124 + 4 = 131 bytes, which device-mapper refuses.
        let origin = lv("vg", &"r".repeat(114));
        let name = snapshot_name(&origin);
        assert_ne!(name, format!("{}{SNAPSHOT_SUFFIX}", origin.lv));
        assert!(dm_name_len("vg", &name) + SNAPSHOT_LAYER.len() <= MAX_DM_NAME);
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
            assert!(fits("vg-data", name), "{name} too long");
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
            proptest::prop_assert!(fits(&vg, &na), "{} too long", na);
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
}
