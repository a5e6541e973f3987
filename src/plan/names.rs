//! Which names are allowed where. LVM's own rules for VG and LV names (from
//! lvm(8) and lvm2's name validation), and snapplan's stricter rule for plan
//! names, which end up in file paths, lock names and LVM tags.

/// LVM's limit on VG and LV name length.
pub const MAX_LVM_NAME: usize = 127;
/// Plan names become file and tag names: keep them short.
pub const MAX_PLAN_NAME: usize = 64;

/// Substrings LVM reserves anywhere in an LV name, as lvm2 2.03 does
/// (`lib/misc/lvm-string.c`): the suffixes of its component LVs (cache,
/// writecache, mirror, raid, thin, VDO and integrity sub-volumes) and two
/// more for non-component LVs. `lvcreate` refuses a name containing one.
pub const RESERVED_LV_SUBSTRINGS: &[&str] = &[
    "_cdata", "_cmeta", "_corig", "_cpool", "_cvol", "_wcorig", "_mimage", "_mlog", "_rimage",
    "_rmeta", "_tdata", "_tmeta", "_vdata", "_imeta", "_iorig", "_pmspare", "_vorigin",
];
/// Prefixes LVM reserves for LV names (its own snapshot and pvmove LVs).
pub const RESERVED_LV_PREFIXES: &[&str] = &["pvmove", "snapshot"];

/// Why a name is refused, as a sentence fragment: "`x` <reason>".
pub type NameError = String;

fn lvm_common(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > MAX_LVM_NAME {
        return Err(format!("is longer than LVM's {MAX_LVM_NAME} characters"));
    }
    if name == "." || name == ".." {
        return Err("is not allowed by LVM".into());
    }
    if name.starts_with('-') {
        return Err("starts with `-`, which LVM does not allow".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '_' | '.' | '-')))
    {
        return Err(format!(
            "contains {bad:?}; LVM names may only contain letters, digits and + _ . -"
        ));
    }
    Ok(())
}

/// A volume group name as LVM accepts it.
pub fn check_vg(name: &str) -> Result<(), NameError> {
    lvm_common(name)
}

/// A logical volume name as LVM accepts it.
pub fn check_lv(name: &str) -> Result<(), NameError> {
    lvm_common(name)?;
    for prefix in RESERVED_LV_PREFIXES {
        if name.starts_with(prefix) {
            return Err(format!("starts with `{prefix}`, which LVM reserves"));
        }
    }
    if let Some(part) = RESERVED_LV_SUBSTRINGS.iter().find(|p| name.contains(*p)) {
        return Err(format!(
            "contains `{part}`, which LVM reserves for internal volumes"
        ));
    }
    Ok(())
}

/// A plan name: `[a-z0-9][a-z0-9_-]*`, at most 64 characters.
pub fn check_plan_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > MAX_PLAN_NAME {
        return Err(format!("is longer than {MAX_PLAN_NAME} characters"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')))
    {
        return Err(format!(
            "contains {bad:?}; plan names may only contain a-z, 0-9, `_` and `-`"
        ));
    }
    if name.starts_with(['-', '_']) {
        return Err("must start with a letter or digit".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lvm_names() {
        for good in ["root", "vg0", "home_bk", "a.b+c-d", "X", "_x"] {
            assert_eq!(check_lv(good), Ok(()), "{good}");
            assert_eq!(check_vg(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "-x",
            "a/b",
            "a b",
            "é",
            "snapshot1",
            "pvmove0",
            "x_mlog",
            "a_rimage_1",
        ] {
            assert!(check_lv(bad).is_err(), "{bad}");
        }
        // Every name lvm2 2.03 reserves, as a suffix and in the middle.
        for part in RESERVED_LV_SUBSTRINGS {
            assert!(check_lv(&format!("data{part}")).is_err(), "{part}");
            assert!(check_lv(&format!("data{part}_0")).is_err(), "{part}");
        }
        assert!(check_lv("data_imeta").is_err(), "integrity metadata");
        assert!(check_lv("my_snapshot").is_ok(), "only a prefix is reserved");
        assert!(check_vg(&"a".repeat(128)).is_err());
        assert_eq!(check_vg(&"a".repeat(127)), Ok(()));
    }

    #[test]
    fn plan_names() {
        for good in ["home-server", "a", "0", "x_y-z"] {
            assert_eq!(check_plan_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Home",
            "../etc",
            "a/b",
            "a.b",
            "-x",
            "_x",
            "a b",
            &"a".repeat(65),
        ] {
            assert!(check_plan_name(bad).is_err(), "{bad}");
        }
    }
}
