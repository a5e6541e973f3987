//! Can the state directory be trusted? apply and recover act as root on
//! what the journal there says: a directory another user can write to (or
//! one below such a directory) would let them choose what root does. apply
//! and recover refuse it on their own; check says so first, with the fix.

use std::path::Path;

use super::outcome::{CheckKind, CheckResult, Status};
use crate::state::trust::Untrusted;

pub fn check(state_dir: &Path, fact: &Result<(), Untrusted>) -> CheckResult {
    match fact {
        Ok(()) => CheckResult::new(
            CheckKind::StateDir,
            state_dir.display().to_string(),
            Status::Pass,
            "owned by root and writable by nobody else (parents too)",
        ),
        Err(why) => {
            let fix = match why {
                Untrusted::Owner { path, .. } => format!("chown root:root {}", path.display()),
                Untrusted::Writable { path, .. } => format!("chmod go-w {}", path.display()),
                Untrusted::NotADirectory { .. } | Untrusted::Unreadable { .. } => {
                    "choose a state_dir of root's own, such as /var/lib/snapplan".into()
                }
            };
            CheckResult::new(
                CheckKind::StateDir,
                state_dir.display().to_string(),
                Status::Fail,
                format!("{why}; apply and recover refuse it"),
            )
            .advice(fix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writable_parent_fails_naming_it_and_the_fix() {
        let row = check(
            Path::new("/srv/shared/state"),
            &Err(Untrusted::Writable {
                path: "/srv/shared".into(),
                mode: 0o777,
                who: "everyone",
            }),
        );
        assert_eq!(row.status, Status::Fail);
        assert!(row.detail.contains("/srv/shared is writable by everyone"));
        assert_eq!(row.advice.as_deref(), Some("chmod go-w /srv/shared"));
        assert_eq!(
            check(Path::new("/var/lib/snapplan"), &Ok(())).status,
            Status::Pass
        );
    }

    #[test]
    fn tmp_as_state_dir_fails_in_a_real_check() {
        let fact = crate::state::trust::check_dir(Path::new("/tmp"));
        assert_eq!(check(Path::new("/tmp"), &fact).status, Status::Fail);
    }
}
