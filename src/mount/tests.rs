use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::copy::identity::{Identity, Kind};
use crate::copy::manifest::{ChunkHash, FORMAT};
use crate::system::DeviceInfo;
use crate::system::fake::{Fake, MIB};

struct Setup {
    dir: tempfile::TempDir,
    plan: Plan,
}

impl Setup {
    fn new(manifest_completed: bool) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut plan =
            crate::plan::test_plans::plan(&[("vg0/root", crate::plan::test_plans::pct(10.0))]);
        plan.state_dir = dir.path().join("state");
        let identity = |path: &str| Identity {
            path: path.into(),
            kind: Kind::BlockDevice,
            size: MIB,
            device: None,
            inode: None,
            tag: None,
        };
        let manifest = Manifest {
            format: FORMAT.into(),
            completed: manifest_completed,
            source: identity("/dev/vg0/snap"),
            destination: identity("/dev/backup/root"),
            size: MIB,
            chunk_size: MIB,
            started_at: 1_796_181_300,
            finished_at: None,
            base: None,
            chunks: vec![ChunkHash::of(b"x")],
        };
        let path = crate::state::runs::manifest_path(&plan, "root");
        crate::state::files::create_dir(path.parent().unwrap()).unwrap();
        manifest.save(&path).unwrap();
        std::fs::create_dir(dir.path().join("mnt")).unwrap();
        Setup { dir, plan }
    }

    fn mountpoint(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    fn records(&self) -> PathBuf {
        self.dir.path().join("records")
    }

    fn request(&self) -> MountRequest<'_> {
        MountRequest {
            plan: &self.plan,
            volume: "root",
            generation: None,
            mountpoint: self.dir.path().join("mnt").leak(),
            records_dir: self.dir.path().join("records").leak(),
        }
    }
}

/// An exported backup VG with an inactive, complete backup/root holding `fs`.
fn fake(fs: FsKind, state_tag: &str) -> Fake {
    let mut tags = crate::tags::backup_tags("nightly");
    tags.push(state_tag.into());
    let fake = Fake::builder()
        .lv("backup", "root", 16, "-wi-------")
        .tags("backup", "root", &tags)
        .exported("backup")
        .build();
    fake.state().devices.insert(
        "/dev/backup/root".into(),
        DeviceInfo {
            major: 253,
            minor: 9,
            fs,
        },
    );
    fake
}

#[test]
fn an_ext4_backup_is_imported_activated_mounted_ro_noload_and_unmount_undoes_exactly_that() {
    let s = Setup::new(true);
    let fake = fake(FsKind::Ext, TAG_STATE_COMPLETE);
    let record = mount(&s.request(), &fake).unwrap();
    let point = s.mountpoint().display().to_string();
    assert_eq!(
        fake.commands(),
        [
            "vgimport backup".to_string(),
            "lvchange --activate y backup/root".into(),
            format!("mount -t ext4 -o ro,noload /dev/backup/root {point}"),
        ]
    );
    assert_eq!(record.imported_vg.as_deref(), Some("backup"));
    assert_eq!(record.activated_lv.as_deref(), Some("backup/root"));
    assert_eq!((record.major, record.minor), (253, 9));
    assert_eq!(record.generation, "20261202T031500Z");
    assert_eq!(
        mounts::load(&s.records(), &s.mountpoint()).unwrap(),
        Some(record)
    );
    // While mounted, the plan's backup is named as mounted.
    assert_eq!(mounts::of_plan(&s.plan, &s.records()).len(), 1);

    let done = unmount(&s.mountpoint(), &s.records(), &fake).unwrap();
    assert_eq!(
        done.done,
        [
            format!("umount {point}"),
            "lvchange --activate n backup/root".into(),
            "vgexport backup".into(),
        ]
    );
    assert!(fake.state().mounted.is_empty());
    assert!(
        fake.state()
            .vgs
            .iter()
            .any(|v| v.vg_name == "backup" && v.is_exported())
    );
    assert_eq!(mounts::load(&s.records(), &s.mountpoint()).unwrap(), None);
    // Again: no record, a usage error, nothing done.
    let again = unmount(&s.mountpoint(), &s.records(), &fake).unwrap_err();
    assert_eq!(again.exit_code(), ExitCode::Usage);
    assert!(
        again.to_string().contains("no snapplan mount record"),
        "{again}"
    );
}

#[test]
fn an_active_imported_backup_is_left_active_and_imported_by_unmount() {
    let s = Setup::new(true);
    let fake = fake(FsKind::Xfs, TAG_STATE_COMPLETE);
    {
        let mut state = fake.state();
        state.vgs.iter_mut().for_each(|v| {
            v.vg_exported = String::new();
            v.vg_attr = "wz--n-".into();
        });
        state
            .lvs
            .iter_mut()
            .for_each(|l| l.lv_attr = "-wi-a-----".into());
    }
    let record = mount(&s.request(), &fake).unwrap();
    assert_eq!((record.imported_vg, record.activated_lv), (None, None));
    assert_eq!(record.options, "ro,nouuid,norecovery");
    let done = unmount(&s.mountpoint(), &s.records(), &fake).unwrap();
    assert_eq!(done.done, [format!("umount {}", s.mountpoint().display())]);
}

#[test]
fn an_incomplete_backup_is_refused_by_tag_or_manifest_before_anything_is_done() {
    let s = Setup::new(true);
    let fake = fake(FsKind::Ext, TAG_STATE_INCOMPLETE);
    let err = mount(&s.request(), &fake).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Failed);
    assert!(
        err.to_string().contains("snapplan-state:incomplete"),
        "{err}"
    );
    assert!(fake.commands().is_empty());

    let s = Setup::new(false);
    let fake = fake_complete();
    let err = mount(&s.request(), &fake).unwrap_err();
    assert!(err.to_string().contains("incomplete"), "{err}");
    assert!(fake.commands().is_empty());
}

fn fake_complete() -> Fake {
    fake(FsKind::Ext, TAG_STATE_COMPLETE)
}

#[test]
fn a_btrfs_clone_of_a_mounted_btrfs_is_refused_and_the_vg_put_back() {
    let s = Setup::new(true);
    let fake = fake(
        FsKind::Btrfs {
            fsid: "abc".into(),
            fsid_mounted: true,
        },
        TAG_STATE_COMPLETE,
    );
    let err = mount(&s.request(), &fake).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Failed);
    assert!(
        err.to_string().contains("cannot mount two devices"),
        "{err}"
    );
    assert!(err.to_string().contains("put back as it was"), "{err}");
    assert_eq!(
        fake.commands(),
        [
            "vgimport backup",
            "lvchange --activate y backup/root",
            "lvchange --activate n backup/root",
            "vgexport backup"
        ]
    );
    assert_eq!(mounts::load(&s.records(), &s.mountpoint()).unwrap(), None);
}

#[test]
fn a_failing_mount_is_undone_and_leaves_no_record() {
    let s = Setup::new(true);
    let fake = fake_complete();
    fake.state().fail.push("mount -t".into());
    let err = mount(&s.request(), &fake).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Failed);
    assert!(fake.commands().ends_with(&[
        "lvchange --activate n backup/root".to_string(),
        "vgexport backup".into()
    ]));
    assert!(mounts::list(&s.records()).is_empty());
}

#[test]
fn unknown_volume_and_generation_are_usage_errors() {
    let s = Setup::new(true);
    let fake = fake_complete();
    let mut request = s.request();
    request.volume = "nope";
    assert_eq!(
        mount(&request, &fake).unwrap_err().exit_code(),
        ExitCode::Usage
    );
    let mut request = s.request();
    request.generation = Some("20200101T000000Z");
    let err = mount(&request, &fake).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Usage);
    assert!(
        err.to_string()
            .contains("its generations: 20261202T031500Z"),
        "{err}"
    );
    assert!(fake.commands().is_empty());
}

#[test]
fn a_busy_umount_keeps_the_record_and_the_backup_active() {
    let s = Setup::new(true);
    let fake = fake_complete();
    mount(&s.request(), &fake).unwrap();
    fake.state().fail.push("umount".into());
    let err = unmount(&s.mountpoint(), &s.records(), &fake).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Failed);
    assert!(
        mounts::load(&s.records(), &s.mountpoint())
            .unwrap()
            .is_some()
    );
    assert!(!fake.commands().iter().any(|c| c.contains("--activate n")));
}

#[test]
fn the_second_mount_of_a_vg_inherits_the_export() {
    let s = Setup::new(true);
    let fake = fake_complete();
    let first = mount(&s.request(), &fake).unwrap();
    // A second record from the same VG (another volume), imported by nobody.
    let mut second = first.clone();
    second.mountpoint = s.dir.path().join("other");
    second.lv = "backup/home".into();
    second.imported_vg = None;
    second.activated_lv = None;
    mounts::save(&s.records(), &second).unwrap();
    let done = unmount(&s.mountpoint(), &s.records(), &fake).unwrap();
    assert!(
        !done.done.iter().any(|c| c.starts_with("vgexport")),
        "{done:?}"
    );
    assert!(done.notes[0].contains("left imported"), "{done:?}");
    let heir = mounts::load(&s.records(), &second.mountpoint)
        .unwrap()
        .unwrap();
    assert_eq!(heir.imported_vg.as_deref(), Some("backup"));
}

#[test]
fn mountpoints_a_user_could_control_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ok = dir.path().join("ok");
    std::fs::create_dir(&ok).unwrap();
    assert_eq!(check_mountpoint(&ok, ""), Ok(ok.clone()));

    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&ok, &link).unwrap();
    assert!(
        check_mountpoint(&link, "")
            .unwrap_err()
            .contains("symbolic link")
    );
    let through = link.join(".");
    assert!(check_mountpoint(&through, "").is_err());

    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert!(
        check_mountpoint(&open, "")
            .unwrap_err()
            .contains("writable by others")
    );

    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("f"), "x").unwrap();
    assert!(
        check_mountpoint(&full, "")
            .unwrap_err()
            .contains("not empty")
    );

    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    assert!(
        check_mountpoint(&file, "")
            .unwrap_err()
            .contains("not a directory")
    );

    let mountinfo = format!("30 1 0:50 / {} rw - tmpfs tmpfs rw\n", ok.display());
    assert!(
        check_mountpoint(&ok, &mountinfo)
            .unwrap_err()
            .contains("mount point already")
    );

    assert!(check_mountpoint(&dir.path().join("missing"), "").is_err());

    // Right below a root-owned sticky directory (the tempdir is in /tmp).
    if rustix::process::geteuid().is_root() {
        let in_tmp = tempfile::tempdir().unwrap();
        assert_eq!(
            check_mountpoint(in_tmp.path(), ""),
            Ok(in_tmp.path().to_path_buf())
        );
    }
    // Below a directory others can write to (not sticky).
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let inside = shared.join("mnt");
    std::fs::create_dir(&inside).unwrap();
    std::fs::set_permissions(&inside, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        check_mountpoint(&inside, "")
            .unwrap_err()
            .contains("untrusted directory")
    );
}

#[test]
fn options_keep_the_backup_unwritten() {
    let dev = Path::new("/dev/backup/root");
    assert_eq!(options_for(&FsKind::Ext, dev), Ok(("ext4", "ro,noload")));
    assert_eq!(
        options_for(&FsKind::Xfs, dev),
        Ok(("xfs", "ro,nouuid,norecovery"))
    );
    let lone = FsKind::Btrfs {
        fsid: "a".into(),
        fsid_mounted: false,
    };
    assert_eq!(
        options_for(&lone, dev),
        Ok(("btrfs", "ro,rescue=nologreplay"))
    );
    assert!(options_for(&FsKind::Unknown, dev).is_err());
}

/// A pool plan whose root has a complete generation (with its manifest,
/// inactive, in an exported VG), an older complete one and a newer
/// incomplete one.
fn pool_setup() -> (Setup, Fake) {
    let mut s = Setup::new(true);
    crate::plan::test_plans::into_pool(&mut s.plan, 7);
    let id = "20261202T031500Z";
    let generation = crate::state::runs::generation_manifest_path(&s.plan, "root", id);
    crate::state::files::create_dir(generation.parent().unwrap()).unwrap();
    std::fs::rename(
        crate::state::runs::manifest_path(&s.plan, "root"),
        &generation,
    )
    .unwrap();
    let tags = |state: &str| {
        let mut tags = crate::tags::generation_tags("nightly", "20261202T031500Z-1");
        tags.retain(|t| t != TAG_STATE_INCOMPLETE);
        tags.push(state.into());
        tags
    };
    let mut b = Fake::builder().thin_pool("backup", "gens", 64, 10.0, 5.0);
    for (name, state) in [
        ("root.20261201T031500Z", TAG_STATE_COMPLETE),
        ("root.20261202T031500Z", TAG_STATE_COMPLETE),
        ("root.20261203T031500Z", TAG_STATE_INCOMPLETE),
    ] {
        b = b
            .thin_lv("backup", name, 16, "gens")
            .tags("backup", name, &tags(state));
    }
    let fake = b.exported("backup").build();
    fake.state()
        .lvs
        .iter_mut()
        .filter(|l| l.lv_name.starts_with("root."))
        .for_each(|l| l.lv_attr = "Vwi---tz--".into());
    fake.state().devices.insert(
        "/dev/backup/root.20261202T031500Z".into(),
        DeviceInfo {
            major: 253,
            minor: 12,
            fs: FsKind::Ext,
        },
    );
    (s, fake)
}

#[test]
fn a_pool_plan_mounts_its_newest_complete_generation_and_unmount_puts_it_back() {
    let (s, fake) = pool_setup();
    let record = mount(&s.request(), &fake).unwrap();
    assert_eq!(record.generation, "20261202T031500Z");
    assert_eq!(record.lv, "backup/root.20261202T031500Z");
    let point = s.mountpoint().display().to_string();
    assert_eq!(
        fake.commands(),
        [
            "vgimport backup".to_string(),
            "lvchange --activate y backup/root.20261202T031500Z".into(),
            format!("mount -t ext4 -o ro,noload /dev/backup/root.20261202T031500Z {point}"),
        ]
    );
    let done = unmount(&s.mountpoint(), &s.records(), &fake).unwrap();
    assert_eq!(
        done.done,
        [
            format!("umount {point}"),
            "lvchange --activate n backup/root.20261202T031500Z".into(),
            "vgexport backup".into(),
        ]
    );
}

#[test]
fn a_pool_plan_refuses_an_incomplete_generation_or_one_without_its_manifest_and_an_unknown_id_is_usage()
 {
    let (s, fake) = pool_setup();
    let ask = |id: &'static str| {
        let mut request = s.request();
        request.generation = Some(id);
        mount(&request, &fake).unwrap_err()
    };
    let incomplete = ask("20261203T031500Z");
    assert_eq!(incomplete.exit_code(), ExitCode::Failed);
    assert!(
        incomplete.to_string().contains("is incomplete"),
        "{incomplete}"
    );
    let no_manifest = ask("20261201T031500Z");
    assert_eq!(no_manifest.exit_code(), ExitCode::Failed);
    assert!(
        no_manifest.to_string().contains("20261201T031500Z.json"),
        "{no_manifest}"
    );
    let unknown = ask("20260101T000000Z");
    assert_eq!(unknown.exit_code(), ExitCode::Usage);
    assert!(
        unknown
            .to_string()
            .contains("its generations: 20261203T031500Z, 20261202T031500Z, 20261201T031500Z"),
        "{unknown}"
    );
    assert!(fake.commands().is_empty(), "{:?}", fake.commands());
}
