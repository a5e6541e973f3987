//! Do the hooks exist and can they run? Every executable file in the hooks
//! directory is a hook, so a hook that lost its `x` bit would be skipped
//! silently and its service never suspended: that is a failure here.
//! Hidden files and editor or package-manager leftovers (`*.bak`, `*~`,
//! `*.dpkg-old`, ...) are ignored by the rule apply lists hooks with.

use super::facts::{DirProblem, HookKind, HooksFact};
use super::outcome::{CheckKind, CheckResult, Status};
use crate::state::trust::Untrusted;
use crate::system::hooks::is_ignored_name;

pub fn check(hooks: &HooksFact) -> Vec<CheckResult> {
    let dir = hooks.dir.display().to_string();
    let entries = match &hooks.entries {
        Ok(entries) => entries,
        Err(problem) => {
            let (detail, advice) = match problem {
                DirProblem::Missing => (
                    format!("hooks directory {dir} does not exist"),
                    format!("create it (`mkdir -p {dir}`) or fix `hooks.dir` in the plan"),
                ),
                DirProblem::NotADirectory => (
                    format!("{dir} is not a directory"),
                    "point `hooks.dir` at a directory of hook scripts".to_string(),
                ),
                DirProblem::Unreadable(e) => (
                    format!("cannot read hooks directory {dir}: {e}"),
                    "run check as the user apply runs as (root)".to_string(),
                ),
            };
            return vec![
                CheckResult::new(CheckKind::Hooks, dir, Status::Fail, detail).advice(advice),
            ];
        }
    };
    let mut rows: Vec<CheckResult> = hooks
        .untrusted
        .iter()
        .map(|why| {
            let path = why.path().display().to_string();
            let fix = match why {
                Untrusted::Owner { .. } => format!("chown root:root {path}"),
                Untrusted::Writable { .. } => format!("chmod go-w {path}"),
                _ => format!("make {path} root's alone"),
            };
            CheckResult::new(
                CheckKind::Hooks,
                &path,
                Status::Fail,
                format!("{why}; apply refuses to run the hooks (and suspends nothing)"),
            )
            .advice(fix)
        })
        .collect();
    let mut runnable = Vec::new();
    // The same rule apply lists hooks by: a leftover is never run, so it is
    // no hook here either.
    for entry in entries.iter().filter(|e| !is_ignored_name(&e.name)) {
        let path = hooks.dir.join(&entry.name).display().to_string();
        match entry.kind {
            HookKind::File { mode } if mode & 0o111 != 0 => runnable.push(entry.name.clone()),
            HookKind::File { .. } => rows.push(
                CheckResult::new(
                    CheckKind::Hooks,
                    &path,
                    Status::Fail,
                    "not executable: apply would skip it, and its service would not be suspended",
                )
                .advice(format!("chmod +x {path} (or move it out of {dir})")),
            ),
            HookKind::DanglingLink => rows.push(
                CheckResult::new(
                    CheckKind::Hooks,
                    &path,
                    Status::Fail,
                    "a symbolic link to nothing",
                )
                .advice(format!("fix or remove the link {path}")),
            ),
            HookKind::Directory | HookKind::Other => rows.push(
                CheckResult::new(
                    CheckKind::Hooks,
                    &path,
                    Status::Warn,
                    "not a regular file: ignored",
                )
                .advice(format!("move it out of {dir}")),
            ),
        }
    }
    let summary = if runnable.is_empty() {
        CheckResult::new(
            CheckKind::Hooks,
            dir,
            Status::Warn,
            "no executable hooks: no service is suspended while the snapshots are taken",
        )
        .advice("add hook scripts, or drop `hooks:` from the plan if nothing needs suspending")
    } else {
        CheckResult::new(
            CheckKind::Hooks,
            dir,
            Status::Pass,
            format!(
                "{} executable hook{}, suspended in this order: {}",
                runnable.len(),
                if runnable.len() == 1 { "" } else { "s" },
                runnable.join(", ")
            ),
        )
    };
    rows.insert(0, summary);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::facts::HookEntry;

    fn fact(entries: &[(&str, HookKind)]) -> HooksFact {
        HooksFact {
            dir: "/etc/snapplan/hooks.d".into(),
            entries: Ok(entries
                .iter()
                .map(|(name, kind)| HookEntry {
                    name: name.to_string(),
                    kind: *kind,
                })
                .collect()),
            untrusted: vec![],
        }
    }

    const EXEC: HookKind = HookKind::File { mode: 0o100755 };
    const PLAIN: HookKind = HookKind::File { mode: 0o100644 };

    #[test]
    fn executable_hooks_pass_in_order_and_dotfiles_are_ignored() {
        let rows = check(&fact(&[
            ("10-db", EXEC),
            ("20-web", EXEC),
            (".keep", PLAIN),
        ]));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, Status::Pass);
        assert!(rows[0].detail.ends_with("10-db, 20-web"));
    }

    /// apply skips editor and package-manager leftovers; check listed them
    /// as hooks "suspended in this order" that never ran.
    #[test]
    fn leftovers_apply_skips_are_not_listed_as_hooks() {
        let rows = check(&fact(&[
            ("10-db", EXEC),
            ("10-db.bak", EXEC),
            ("10-db~", EXEC),
            ("10-db.dpkg-old", PLAIN),
            ("20-web.dpkg-dist", EXEC),
        ]));
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].status, Status::Pass);
        assert!(rows[0].detail.ends_with(": 10-db"), "{}", rows[0].detail);
    }

    #[test]
    fn a_non_executable_hook_fails_with_chmod_advice() {
        let rows = check(&fact(&[("10-db", EXEC), ("20-web", PLAIN)]));
        let bad = rows.iter().find(|r| r.status == Status::Fail).unwrap();
        assert_eq!(bad.subject, "/etc/snapplan/hooks.d/20-web");
        assert_eq!(
            bad.advice.as_deref(),
            Some("chmod +x /etc/snapplan/hooks.d/20-web (or move it out of /etc/snapplan/hooks.d)")
        );
    }

    #[test]
    fn dangling_links_fail_and_directories_warn() {
        let rows = check(&fact(&[
            ("a", HookKind::DanglingLink),
            ("b", HookKind::Directory),
        ]));
        assert_eq!(rows[0].status, Status::Warn, "no runnable hook at all");
        assert_eq!(rows[1].status, Status::Fail);
        assert_eq!(rows[2].status, Status::Warn);
    }

    #[test]
    fn a_missing_hooks_dir_fails() {
        let rows = check(&HooksFact {
            dir: "/etc/snapplan/hooks.d".into(),
            entries: Err(DirProblem::Missing),
            untrusted: vec![],
        });
        assert_eq!(rows[0].status, Status::Fail);
        assert!(rows[0].advice.as_deref().unwrap().contains("mkdir -p"));
    }

    #[test]
    fn a_world_writable_hook_fails_naming_it_and_the_fix() {
        let mut hooks = fact(&[("10-db", EXEC)]);
        hooks.untrusted = vec![Untrusted::Writable {
            path: "/etc/snapplan/hooks.d/10-db".into(),
            mode: 0o777,
            who: "everyone",
        }];
        let rows = check(&hooks);
        let bad = rows.iter().find(|r| r.status == Status::Fail).unwrap();
        assert_eq!(bad.subject, "/etc/snapplan/hooks.d/10-db");
        assert_eq!(
            bad.advice.as_deref(),
            Some("chmod go-w /etc/snapplan/hooks.d/10-db")
        );
    }
}
