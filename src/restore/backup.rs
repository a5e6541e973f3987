//! Is the backup one to restore from? Its LV must exist, be active and be
//! tagged `snapplan-state:complete`: apply tags a backup `incomplete`
//! before it writes a byte and `complete` only after the copy (and its
//! verification) succeeded, so the tags tell a half-written backup apart
//! even when its manifest was lost.

use crate::plan::LvPath;
use crate::system::Lv;
use crate::tags::{TAG_STATE_COMPLETE, TAG_STATE_INCOMPLETE};

/// Why a backup LV cannot be restored from, if it cannot.
pub fn refusal(backup: &LvPath, lvs: &[Lv]) -> Option<String> {
    let Some(lv) = lvs.iter().find(|lv| lv.path() == *backup) else {
        return Some(format!(
            "there is no backup LV {backup}: is the backup VG available? \
             (`snapplan apply PLAN --phase login --phase activate` logs in and imports it)"
        ));
    };
    if lv.lv_tags.iter().any(|t| t == TAG_STATE_INCOMPLETE) {
        return Some(format!(
            "the backup {backup} is tagged {TAG_STATE_INCOMPLETE}: its last copy did not finish \
             (or failed its verification), so it holds no consistent image; nothing was written"
        ));
    }
    if !lv.lv_tags.iter().any(|t| t == TAG_STATE_COMPLETE) {
        return Some(format!(
            "{backup} is not tagged {TAG_STATE_COMPLETE}: snapplan did not finish a backup on it; nothing was written"
        ));
    }
    if !lv.is_active() {
        return Some(format!(
            "the backup {backup} is not active: activate it first \
             (`snapplan apply PLAN --phase login --phase activate`, or `lvchange -ay {backup}`)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::fake::Fake;

    fn lv(tags: &[&str], attr: &str) -> Lv {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        Fake::builder()
            .lv_bytes("backup", "home", 1 << 20, attr)
            .tags("backup", "home", &tags)
            .report()
            .lvs
            .remove(0)
    }

    fn backup() -> LvPath {
        LvPath {
            vg: "backup".into(),
            lv: "home".into(),
        }
    }

    #[test]
    fn only_an_active_complete_backup_passes() {
        let complete = lv(&["snapplan", TAG_STATE_COMPLETE], "-wi-a-----");
        assert_eq!(refusal(&backup(), &[complete]), None);
        let incomplete = lv(&["snapplan", TAG_STATE_INCOMPLETE], "-wi-a-----");
        assert!(
            refusal(&backup(), &[incomplete])
                .unwrap()
                .contains("did not finish")
        );
        let untagged = lv(&[], "-wi-a-----");
        assert!(
            refusal(&backup(), &[untagged])
                .unwrap()
                .contains("not tagged")
        );
        let inactive = lv(&[TAG_STATE_COMPLETE], "-wi-------");
        assert!(
            refusal(&backup(), &[inactive])
                .unwrap()
                .contains("not active")
        );
        assert!(
            refusal(&backup(), &[])
                .unwrap()
                .contains("no backup LV backup/home")
        );
    }
}
