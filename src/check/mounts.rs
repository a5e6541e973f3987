//! Is a backup of this plan mounted by `snapplan mount`? Then apply must not
//! rewrite it: the copy would change the blocks under a mounted filesystem
//! (which caches them and would read garbage, or crash the kernel's view
//! of it). A FAIL row per mount; none when nothing is mounted.

use super::outcome::{CheckKind, CheckResult, Status};
use crate::state::mounts::MountRecord;

pub fn check(mounts: &[Result<MountRecord, String>]) -> Vec<CheckResult> {
    mounts
        .iter()
        .map(|m| match m {
            Ok(record) => CheckResult::new(
                CheckKind::MountedBackup,
                record.lv.clone(),
                Status::Fail,
                format!(
                    "mounted read-only on {} by `snapplan mount` (volume {}, generation {}, \
                     pid {}): a run would rewrite it under the mounted filesystem",
                    record.mountpoint.display(),
                    record.volume,
                    record.generation,
                    record.pid
                ),
            )
            .advice(format!(
                "copy out what you need, then `snapplan unmount {}`",
                record.mountpoint.display()
            )),
            Err(why) => CheckResult::new(
                CheckKind::MountedBackup,
                crate::state::mounts::records_dir().display().to_string(),
                Status::Fail,
                format!("a mount record cannot be read: {why}"),
            )
            .advice(
                "it may be a mount of this plan's backup: look at it, and remove it if no \
                 `snapplan mount` is in use",
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mounted_backup_fails_naming_the_mount_and_unmount() {
        let record = MountRecord {
            format_version: 1,
            plan: "nightly".into(),
            volume: "root".into(),
            generation: "20261202T031500Z".into(),
            lv: "backup/root".into(),
            imported_vg: None,
            activated_lv: None,
            device: "/dev/backup/root".into(),
            major: 253,
            minor: 3,
            mountpoint: "/mnt/restore".into(),
            fstype: "ext4".into(),
            options: "ro,noload".into(),
            mounted_at: 0,
            pid: 9,
        };
        let rows = check(&[Ok(record), Err("garbage".into())]);
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.status == Status::Fail));
        assert!(rows[0].detail.contains("/mnt/restore"), "{rows:?}");
        assert_eq!(
            rows[0].advice.as_deref(),
            Some("copy out what you need, then `snapplan unmount /mnt/restore`")
        );
        assert!(check(&[]).is_empty());
    }
}
