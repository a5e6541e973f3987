//! Every lvm2 and iscsiadm command line snapplan runs, built as argv vectors
//! (never through a shell). The compiler owns them: `snapplan plan` renders
//! these same vectors, so what a reviewer reads is what `apply` runs. Pure:
//! no lookups, no I/O. The names and tags they carry come from
//! [`crate::tags`]; a backup LV is tagged `snapplan-state:incomplete` while
//! it is written and `snapplan-state:complete` once copied (and verified
//! when verify is on).

use crate::plan::LvPath;

// The step code names tags and snapshots together with the commands that
// use them; they are defined once, in `crate::tags`.
pub use crate::tags::{
    TAG_ROLE_BACKUP, TAG_ROLE_BASE, TAG_ROLE_SNAPSHOT, TAG_SNAPPLAN, TAG_STATE_COMPLETE,
    TAG_STATE_INCOMPLETE, backup_tags, base_path, plan_tag, protection_path, protection_tags,
    run_tag, snapshot_name, snapshot_path, snapshot_tags,
};

/// The protection snapshot of a backup LV gets this percentage of the
/// backup's size: all of it (so the snapshot cannot overflow, whatever the
/// copy overwrites) plus 1/64 for the copy-on-write exception table (16
/// bytes per 4 KiB chunk is 1/256, plus its header chunk), rounded up to
/// extents. LVM trims a larger request to what the snapshot can use.
pub const PROTECTION_PERCENT: f64 = 101.5625;

/// How big an LV to create or extend to.
#[derive(Debug, Clone, PartialEq)]
pub enum SizeArg {
    /// `--size <n>b`.
    Bytes(u64),
    /// `--extents <p>%ORIGIN`: LVM resolves it, rounding up to extents.
    /// Only whole percentages: LVM's extent numbers are integers.
    PercentOfOrigin(u32),
    /// `--size <text>`: a value only known at run time, shown at plan time
    /// as a placeholder such as `<size of vg0/root>`.
    Deferred(String),
}

impl SizeArg {
    fn push(&self, argv: &mut Vec<String>) {
        match self {
            SizeArg::Bytes(n) => argv.extend(["--size".into(), format!("{n}b")]),
            SizeArg::PercentOfOrigin(p) => argv.extend(["--extents".into(), format!("{p}%ORIGIN")]),
            SizeArg::Deferred(text) => argv.extend(["--size".into(), text.clone()]),
        }
    }
}

fn push_tags(argv: &mut Vec<String>, tags: &[String]) {
    for tag in tags {
        argv.push("--addtag".into());
        argv.push(tag.clone());
    }
}

/// `lvcreate --snapshot --name <name> <size> --addtag <tag>... vg/lv`.
pub fn create_snapshot(
    origin: &LvPath,
    name: &str,
    size: &SizeArg,
    tags: &[String],
) -> Vec<String> {
    let mut argv = vec![
        "lvcreate".into(),
        "--snapshot".into(),
        "--name".into(),
        name.into(),
    ];
    size.push(&mut argv);
    push_tags(&mut argv, tags);
    argv.push(origin.to_string());
    argv
}

/// `lvcreate --snapshot --name <name> --ignoreactivationskip --addtag
/// <tag>... vg/lv` of a thin origin: no size (a thin snapshot lives in the
/// origin's pool; a size would make LVM create a classic one), and
/// activated despite the activation-skip flag LVM gives thin snapshots, so
/// it can be read at once.
pub fn create_thin_snapshot(origin: &LvPath, name: &str, tags: &[String]) -> Vec<String> {
    let mut argv = vec![
        "lvcreate".into(),
        "--snapshot".into(),
        "--name".into(),
        name.into(),
        "--ignoreactivationskip".into(),
    ];
    push_tags(&mut argv, tags);
    argv.push(origin.to_string());
    argv
}

/// `lvcreate --snapshot --name <name> --setactivationskip n --addtag
/// <tag>... vg/<newest>`: a volume's new thin-pool generation as a thin
/// snapshot of its newest complete one, so it starts with that content and
/// the copy writes only what changed. No
/// size: a thin snapshot, in the pool. The activation-skip flag LVM gives
/// thin snapshots is cleared, so a generation activates like any LV (for
/// `vgchange -ay`, restore and mount), not only with `-K`.
pub fn create_generation_snapshot(newest: &LvPath, name: &str, tags: &[String]) -> Vec<String> {
    let mut argv = vec![
        "lvcreate".into(),
        "--snapshot".into(),
        "--name".into(),
        name.into(),
        "--setactivationskip".into(),
        "n".into(),
    ];
    push_tags(&mut argv, tags);
    argv.push(newest.to_string());
    argv
}

/// `lvcreate --thin --virtualsize <size> --name <name> --addtag <tag>...
/// vg/<pool>`: a volume's first generation, a new thin LV of the origin's
/// size whose every block reads as zeros until written. `--setactivationskip
/// n` as for its later siblings: LVM sets no skip flag on a new thin LV,
/// but an admin's lvm.conf may ask for one.
pub fn create_generation(
    pool: &LvPath,
    name: &str,
    virtual_size: &SizeArg,
    tags: &[String],
) -> Vec<String> {
    let size = match virtual_size {
        SizeArg::Bytes(n) => format!("{n}b"),
        SizeArg::Deferred(text) => text.clone(),
        // Not a snapshot: no origin to take a percentage of.
        SizeArg::PercentOfOrigin(p) => format!("{p}%ORIGIN"),
    };
    let mut argv = vec![
        "lvcreate".into(),
        "--thin".into(),
        "--virtualsize".into(),
        size,
        "--name".into(),
        name.into(),
        "--setactivationskip".into(),
        "n".into(),
    ];
    push_tags(&mut argv, tags);
    argv.push(pool.to_string());
    argv
}

/// `lvcreate --type thin-pool --size <bytes>b --name <pool> <vg>`: the
/// thin pool the admin creates for generations, as check suggests it.
pub fn create_thin_pool(pool: &LvPath, bytes: u64) -> Vec<String> {
    vec![
        "lvcreate".into(),
        "--type".into(),
        "thin-pool".into(),
        "--size".into(),
        format!("{bytes}b"),
        "--name".into(),
        pool.lv.clone(),
        pool.vg.clone(),
    ]
}

/// `vgcfgbackup -f <file> <vg>`: the VG's text metadata into `file`, which
/// lvm2 writes for an exported VG too (its thin LVs, which `lvs` and `pvs
/// --segments` do not show). Reads the metadata, changes nothing.
pub fn vg_metadata_backup(vg: &str, file: &str) -> Vec<String> {
    vec!["vgcfgbackup".into(), "-f".into(), file.into(), vg.into()]
}

/// `lvremove --yes vg/lv`. The caller must have checked the LV's tags: the
/// name alone does not prove snapplan made it.
pub fn remove_lv(lv: &LvPath) -> Vec<String> {
    vec!["lvremove".into(), "--yes".into(), lv.to_string()]
}

/// `lvcreate --yes --name <lv> --size <size> --addtag <tag>... <vg>`: a new
/// backup LV. `--yes` answers LVM's "wipe signature?" question, which would
/// otherwise fail under cron; the copy overwrites the whole LV anyway.
pub fn create_lv(lv: &LvPath, size: &SizeArg, tags: &[String]) -> Vec<String> {
    let mut argv = vec![
        "lvcreate".into(),
        "--yes".into(),
        "--name".into(),
        lv.lv.clone(),
    ];
    size.push(&mut argv);
    push_tags(&mut argv, tags);
    argv.push(lv.vg.clone());
    argv
}

/// `lvextend --size <size> vg/lv`; only called when the origin grew (LVM
/// refuses to "extend" to a smaller size, and snapplan never shrinks).
pub fn extend_lv(lv: &LvPath, size: &SizeArg) -> Vec<String> {
    let mut argv = vec!["lvextend".into()];
    size.push(&mut argv);
    argv.push(lv.to_string());
    argv
}

/// `lvextend --size <bytes>b vg/snapshot`: the watchdog grows a classic
/// snapshot's copy-on-write space while the run is in progress (LVM
/// extends the exception store in place; the snapshot stays valid).
pub fn grow_snapshot(snapshot: &LvPath, bytes: u64) -> Vec<String> {
    extend_lv(snapshot, &SizeArg::Bytes(bytes))
}

/// Retags a backup LV: `incomplete` before writing, `complete` when done.
pub fn mark_backup(lv: &LvPath, complete: bool) -> Vec<String> {
    let (remove, add) = if complete {
        (TAG_STATE_INCOMPLETE, TAG_STATE_COMPLETE)
    } else {
        (TAG_STATE_COMPLETE, TAG_STATE_INCOMPLETE)
    };
    vec![
        "lvchange".into(),
        "--deltag".into(),
        remove.into(),
        "--addtag".into(),
        add.into(),
        lv.to_string(),
    ]
}

/// `lvconvert --merge --interval 1 vg/snap`: puts the snapshot's content
/// back into its origin and removes the snapshot. lvconvert waits for the
/// merge (polling every second, with or without lvmpolld); an origin that
/// is open defers the merge to its next activation, which the caller
/// treats as a failure.
pub fn merge_snapshot(snapshot: &LvPath) -> Vec<String> {
    vec![
        "lvconvert".into(),
        "--merge".into(),
        "--interval".into(),
        "1".into(),
        snapshot.to_string(),
    ]
}

/// `lvrename vg/from to`: a thin snapshot becomes its origin's kept base
/// (the LV keeps its UUID and thin device id).
pub fn rename_lv(from: &LvPath, to: &str) -> Vec<String> {
    vec!["lvrename".into(), from.to_string(), to.into()]
}

/// `lvchange --deltag snapplan-role:snapshot --deltag snapplan-run:<run>
/// --addtag snapplan-role:base vg/lv`: the renamed snapshot is a base now,
/// which recover and check leave alone. Renamed first, retagged second: a
/// crash between the two leaves a base-named LV still tagged as a
/// snapshot, which recover removes (the next copy then reads everything).
pub fn mark_base(lv: &LvPath, run_id: &str) -> Vec<String> {
    vec![
        "lvchange".into(),
        "--deltag".into(),
        TAG_ROLE_SNAPSHOT.into(),
        "--deltag".into(),
        run_tag(run_id),
        "--addtag".into(),
        TAG_ROLE_BASE.into(),
        lv.to_string(),
    ]
}

/// `lvs --reportformat json --units b --nosuffix -o
/// lv_name,vg_name,lv_uuid,thin_id,chunk_size vg/lv... vg/pool`: thin LVs'
/// UUIDs and device ids in their pool, and the pool's block size, in one
/// call.
pub fn thin_ids(lvs: &[LvPath], pool: &LvPath) -> Vec<String> {
    let mut argv: Vec<String> = [
        "lvs",
        "--reportformat",
        "json",
        "--units",
        "b",
        "--nosuffix",
        "-o",
        "lv_name,vg_name,lv_uuid,thin_id,chunk_size",
    ]
    .map(String::from)
    .to_vec();
    argv.extend(lvs.iter().map(LvPath::to_string));
    argv.push(pool.to_string());
    argv
}

/// The device-mapper name of a pool's `-tpool` layer, which takes the
/// metadata-snapshot messages.
fn tpool(pool: &LvPath) -> String {
    format!("{}-tpool", crate::tags::dm_name(&pool.vg, &pool.lv))
}

/// `dmsetup message <vg>-<pool>-tpool 0 reserve_metadata_snap|release_metadata_snap`.
pub fn metadata_snap(pool: &LvPath, reserve: bool) -> Vec<String> {
    let message = if reserve {
        "reserve_metadata_snap"
    } else {
        "release_metadata_snap"
    };
    vec![
        "dmsetup".into(),
        "message".into(),
        tpool(pool),
        "0".into(),
        message.into(),
    ]
}

/// `dmsetup status <vg>-<pool>-tpool`: its metadata-snapshot field says
/// whether one is held ("-" when none).
pub fn pool_status(pool: &LvPath) -> Vec<String> {
    vec!["dmsetup".into(), "status".into(), tpool(pool)]
}

/// `thin_delta -m --snap1 <base id> --snap2 <new id>
/// /dev/mapper/<vg>-<pool>_tmeta`: the mapping differences between two thin
/// devices, read from the reserved metadata snapshot (the live metadata
/// changes under it).
pub fn thin_delta(pool: &LvPath, base_id: u64, new_id: u64) -> Vec<String> {
    let meta = crate::tags::dm_name(&pool.vg, &format!("{}_tmeta", pool.lv));
    vec![
        "thin_delta".into(),
        "-m".into(),
        "--snap1".into(),
        base_id.to_string(),
        "--snap2".into(),
        new_id.to_string(),
        format!("/dev/mapper/{meta}"),
    ]
}

/// `mount -t <fstype> -o <options> <device> <mountpoint>`: `snapplan
/// mount`'s read-only mount of a backup LV.
pub fn mount(device: &str, mountpoint: &str, fstype: &str, options: &str) -> Vec<String> {
    vec![
        "mount".into(),
        "-t".into(),
        fstype.into(),
        "-o".into(),
        options.into(),
        device.into(),
        mountpoint.into(),
    ]
}

/// `umount <mountpoint>`.
pub fn umount(mountpoint: &str) -> Vec<String> {
    vec!["umount".into(), mountpoint.into()]
}

/// `vgimport <vg>`: makes an exported VG usable on this host again.
pub fn import_vg(vg: &str) -> Vec<String> {
    vec!["vgimport".into(), vg.into()]
}

/// `vgexport <vg>`: marks the VG as moved away, so no host activates it by accident.
pub fn export_vg(vg: &str) -> Vec<String> {
    vec!["vgexport".into(), vg.into()]
}

/// `lvchange --activate y|n vg/lv`: one LV, e.g. a backup to read later.
pub fn activate_lv(lv: &LvPath, active: bool) -> Vec<String> {
    let flag = if active { "y" } else { "n" };
    vec![
        "lvchange".into(),
        "--activate".into(),
        flag.into(),
        lv.to_string(),
    ]
}

/// `vgchange --activate y|n <vg>`.
pub fn activate_vg(vg: &str, active: bool) -> Vec<String> {
    let flag = if active { "y" } else { "n" };
    vec![
        "vgchange".into(),
        "--activate".into(),
        flag.into(),
        vg.into(),
    ]
}

/// `iscsiadm --mode discovery --type sendtargets --portal <portal>`: records
/// the portal's targets, which `--login` needs.
pub fn iscsi_discover(portal: &str) -> Vec<String> {
    vec![
        "iscsiadm".into(),
        "--mode".into(),
        "discovery".into(),
        "--type".into(),
        "sendtargets".into(),
        "--portal".into(),
        portal.into(),
    ]
}

/// `iscsiadm --mode node --targetname <iqn> --portal <portal> --login`.
pub fn iscsi_login(portal: &str, iqn: &str) -> Vec<String> {
    iscsi_node(portal, iqn, "--login")
}

/// `iscsiadm --mode node --targetname <iqn> --portal <portal> --logout`.
pub fn iscsi_logout(portal: &str, iqn: &str) -> Vec<String> {
    iscsi_node(portal, iqn, "--logout")
}

fn iscsi_node(portal: &str, iqn: &str, action: &str) -> Vec<String> {
    vec![
        "iscsiadm".into(),
        "--mode".into(),
        "node".into(),
        "--targetname".into(),
        iqn.into(),
        "--portal".into(),
        portal.into(),
        action.into(),
    ]
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

    #[test]
    fn generations_are_thin_snapshots_of_the_newest_or_new_thin_lvs_in_the_pool() {
        let tags = crate::tags::generation_tags("home", "20261202T031500Z-7");
        assert_eq!(
            create_generation_snapshot(
                &lv("backup", "root.20261201T031500Z"),
                "root.20261202T031500Z",
                &tags
            )
            .join(" "),
            "lvcreate --snapshot --name root.20261202T031500Z --setactivationskip n \
             --addtag snapplan --addtag snapplan-plan:home --addtag snapplan-run:20261202T031500Z-7 \
             --addtag snapplan-role:generation --addtag snapplan-state:incomplete \
             backup/root.20261201T031500Z"
        );
        assert_eq!(
            create_generation(
                &lv("backup", "gens"),
                "root.20261202T031500Z",
                &SizeArg::Bytes(16 << 20),
                &tags[..1]
            )
            .join(" "),
            "lvcreate --thin --virtualsize 16777216b --name root.20261202T031500Z \
             --setactivationskip n --addtag snapplan backup/gens"
        );
        assert_eq!(
            create_thin_pool(&lv("backup", "gens"), 50 << 20).join(" "),
            "lvcreate --type thin-pool --size 52428800b --name gens backup"
        );
    }

    #[test]
    fn growing_a_snapshot_extends_it_to_a_size_in_bytes() {
        let argv = grow_snapshot(&lv("vg0", "vcr-snapplan"), 12 << 20);
        assert_eq!(argv.join(" "), "lvextend --size 12582912b vg0/vcr-snapplan");
    }

    #[test]
    fn the_thin_delta_commands_name_the_pools_device_mapper_layers() {
        let pool = lv("vg-0", "pool");
        assert_eq!(
            metadata_snap(&pool, true).join(" "),
            "dmsetup message vg--0-pool-tpool 0 reserve_metadata_snap"
        );
        assert_eq!(
            metadata_snap(&pool, false).join(" "),
            "dmsetup message vg--0-pool-tpool 0 release_metadata_snap"
        );
        assert_eq!(
            thin_delta(&pool, 1, 7).join(" "),
            "thin_delta -m --snap1 1 --snap2 7 /dev/mapper/vg--0-pool_tmeta"
        );
        assert_eq!(
            pool_status(&pool).join(" "),
            "dmsetup status vg--0-pool-tpool"
        );
    }

    #[test]
    fn a_base_is_renamed_then_retagged_out_of_the_snapshot_role() {
        let snap = lv("vg0", "vm1-snapplan");
        assert_eq!(
            rename_lv(&snap, "vm1-snapplan-base").join(" "),
            "lvrename vg0/vm1-snapplan vm1-snapplan-base"
        );
        assert_eq!(
            mark_base(&lv("vg0", "vm1-snapplan-base"), "R1").join(" "),
            "lvchange --deltag snapplan-role:snapshot --deltag snapplan-run:R1 \
             --addtag snapplan-role:base vg0/vm1-snapplan-base"
        );
    }

    #[test]
    fn create_snapshot_with_bytes() {
        let argv = create_snapshot(
            &lv("vg0", "vcr"),
            "vcr-snapplan",
            &SizeArg::Bytes(8 << 30),
            &snapshot_tags("home", "R1"),
        );
        assert_eq!(
            argv.join(" "),
            "lvcreate --snapshot --name vcr-snapplan --size 8589934592b \
             --addtag snapplan --addtag snapplan-plan:home --addtag snapplan-run:R1 \
             --addtag snapplan-role:snapshot vg0/vcr"
        );
    }

    #[test]
    fn create_snapshot_with_percentage_uses_extents_of_origin() {
        let argv = create_snapshot(
            &lv("vg0", "root"),
            "root-snapplan",
            &SizeArg::PercentOfOrigin(20),
            &[],
        );
        assert_eq!(
            argv,
            [
                "lvcreate",
                "--snapshot",
                "--name",
                "root-snapplan",
                "--extents",
                "20%ORIGIN",
                "vg0/root"
            ]
        );
    }

    #[test]
    fn a_thin_snapshot_has_no_size_and_ignores_the_activation_skip_flag() {
        let argv = create_thin_snapshot(&lv("vg0", "vm1"), "vm1-snapplan", &[]);
        assert_eq!(
            argv.join(" "),
            "lvcreate --snapshot --name vm1-snapplan --ignoreactivationskip vg0/vm1"
        );
    }

    #[test]
    fn remove_lv_names_vg_and_lv() {
        assert_eq!(
            remove_lv(&lv("vg0", "root-snapplan")),
            ["lvremove", "--yes", "vg0/root-snapplan"]
        );
    }

    #[test]
    fn create_and_extend_backup_lv() {
        let size = SizeArg::Deferred("<size of vg0/home>".into());
        assert_eq!(
            create_lv(&lv("backup", "home_bk"), &size, &backup_tags("p")).join(" "),
            "lvcreate --yes --name home_bk --size <size of vg0/home> --addtag snapplan \
             --addtag snapplan-plan:p --addtag snapplan-role:backup backup"
        );
        assert_eq!(
            extend_lv(&lv("backup", "home_bk"), &SizeArg::Bytes(1024)),
            ["lvextend", "--size", "1024b", "backup/home_bk"]
        );
    }

    #[test]
    fn mark_backup_swaps_state_tags() {
        assert_eq!(
            mark_backup(&lv("backup", "root"), false),
            [
                "lvchange",
                "--deltag",
                TAG_STATE_COMPLETE,
                "--addtag",
                TAG_STATE_INCOMPLETE,
                "backup/root"
            ]
        );
        assert_eq!(
            mark_backup(&lv("backup", "root"), true)[2],
            TAG_STATE_INCOMPLETE
        );
        assert_eq!(
            mark_backup(&lv("backup", "root"), true)[4],
            TAG_STATE_COMPLETE
        );
    }

    #[test]
    fn vg_commands() {
        assert_eq!(import_vg("backup"), ["vgimport", "backup"]);
        assert_eq!(export_vg("backup"), ["vgexport", "backup"]);
        assert_eq!(
            activate_vg("backup", true),
            ["vgchange", "--activate", "y", "backup"]
        );
        assert_eq!(
            activate_vg("backup", false),
            ["vgchange", "--activate", "n", "backup"]
        );
    }

    #[test]
    fn iscsi_commands() {
        let (portal, iqn) = ("192.0.2.10:3260", "iqn.2026-01.org.example:backup");
        assert_eq!(
            iscsi_discover(portal).join(" "),
            "iscsiadm --mode discovery --type sendtargets --portal 192.0.2.10:3260"
        );
        assert_eq!(
            iscsi_login(portal, iqn).join(" "),
            "iscsiadm --mode node --targetname iqn.2026-01.org.example:backup --portal 192.0.2.10:3260 --login"
        );
        assert_eq!(iscsi_logout(portal, iqn).last().unwrap(), "--logout");
    }
}
