//! Gathering what check evaluates: the only part of check that looks at the
//! system, and it only reads. Evaluation (the other files) is pure, so every
//! check is unit-tested against facts written by hand.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::plan::Plan;
use crate::state::lock::{self, LockState};
use crate::system::{System, SystemError, SystemReport, hooks, tools};

/// Everything check knows about the system.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub tools: Vec<ToolFact>,
    /// `Err` carries why the report could not be read (the tool missing, or
    /// lvs's own error with command line, status and stderr).
    pub lvm: Result<SystemReport, LvmUnavailable>,
    /// `None` when the plan has no hooks.
    pub hooks: Option<HooksFact>,
    /// Whether the state directory (and every directory above it) is
    /// root's alone.
    pub state_dir: Result<(), crate::state::trust::Untrusted>,
    pub lock: LockFact,
    /// The last runs' records, newest first (what the snapshot sizes are
    /// judged on); empty when there are none or they cannot be read.
    pub history: Vec<crate::state::runs::RunRecord>,
    /// Per backup target (its iSCSI target, its VG): the other runs using
    /// it now.
    pub target_users: Vec<TargetUsersFact>,
    /// This plan's backups mounted by `snapplan mount` (or records that
    /// cannot be read, as their error).
    pub mounts: Vec<Result<crate::state::mounts::MountRecord, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUsersFact {
    /// `VG backup`, `iSCSI target iqn...`.
    pub target: String,
    pub lock: PathBuf,
    /// Who holds its lock (`plan nas (pid 812)`); `Err` when it cannot be read.
    pub users: Result<Vec<String>, String>,
}

/// How many past runs the snapshot sizes are judged on.
pub const HISTORY_RUNS: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LvmUnavailable {
    /// `lvm` was not found: the tool row says so already.
    NoTool,
    /// lvs or vgs failed or printed something unreadable.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolFact {
    pub name: &'static str,
    pub need: Need,
    /// Why snapplan needs it, for the message.
    pub purpose: &'static str,
    pub found: Option<PathBuf>,
}

/// How much a missing tool matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Need {
    /// Missing fails the check.
    Required,
    /// Missing warns: snapplan works, less robustly.
    Optional,
    /// Missing is fine on this system, for the reason given.
    Unneeded(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HooksFact {
    pub dir: PathBuf,
    /// The directory's entries, sorted by name; `Err` when it cannot be read.
    pub entries: Result<Vec<HookEntry>, DirProblem>,
    /// What makes the hooks untrustworthy for root: the directory or a
    /// parent, or a hook, owned by another user or writable by others.
    pub untrusted: Vec<crate::state::trust::Untrusted>,
}

pub use crate::system::hooks::{DirProblem, HookEntry, HookKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockFact {
    /// The lock file exists and nobody holds it.
    Free {
        path: PathBuf,
    },
    /// No lock file (or no state dir): no run can hold it.
    NoLockFile {
        path: PathBuf,
    },
    Held {
        path: PathBuf,
        /// `pid 123 (snapplan)`, when /proc/locks tells.
        holder: Option<String>,
    },
    Unreadable {
        path: PathBuf,
        error: String,
    },
    /// apply holds it: it takes the lock before its pre-flight and sets
    /// this instead of probing (which would find its own lock held).
    HeldByThisRun {
        path: PathBuf,
    },
}

/// Where a plan's lock lives; apply takes the same file.
pub fn lock_path(plan: &Plan) -> PathBuf {
    lock::lock_path(&plan.state_dir, &plan.name)
}

/// udev's control socket: present while udevd runs.
const UDEV_CONTROL: &str = "/run/udev/control";

/// Reads the system; changes nothing.
pub fn gather(plan: &Plan, sys: &dyn System) -> Facts {
    let tool = |name, need, purpose| ToolFact {
        name,
        need,
        purpose,
        found: sys.find_tool(name),
    };
    // Without a running udev (containers, minimal systems) there is nothing
    // to wait for, and a warning on every cron run would only be noise.
    let udev_need = if Path::new(UDEV_CONTROL).exists() {
        Need::Optional
    } else {
        Need::Unneeded("udev is not running here")
    };
    let mut tools = vec![
        tool(tools::LVM, Need::Required, "reads and changes LVM"),
        tool(
            tools::DMSETUP,
            Need::Optional,
            "tells who holds a volume that cannot be removed",
        ),
        tool(
            tools::UDEVADM,
            udev_need,
            "waits for udev before removing a snapshot",
        ),
    ];
    if plan.target.iscsi.is_some() {
        tools.push(tool(
            tools::ISCSIADM,
            Need::Required,
            "logs in to the iSCSI target holding the backup VG",
        ));
    }
    let lvm = sys.report().map_err(|e| match e {
        SystemError::ToolMissing(_) => LvmUnavailable::NoTool,
        e => LvmUnavailable::Failed(e.to_string()),
    });
    Facts {
        tools,
        lvm,
        hooks: plan.hooks.as_ref().map(|h| HooksFact {
            dir: h.dir.clone(),
            entries: hooks::scan(&h.dir),
            untrusted: hooks::untrusted(&h.dir),
        }),
        state_dir: crate::state::trust::check_dir(&plan.state_dir),
        lock: lock_fact(&lock_path(plan)),
        history: crate::report::runs::load(&plan.state_dir, &plan.name, HISTORY_RUNS)
            .map(|p| p.runs)
            .unwrap_or_default(),
        target_users: target_users(plan),
        mounts: crate::state::mounts::of_plan(plan, &crate::state::mounts::records_dir()),
    }
}

/// Who uses the plan's backup targets now, from their locks.
fn target_users(plan: &Plan) -> Vec<TargetUsersFact> {
    use crate::state::target_lock;
    target_lock::resources_of(plan)
        .into_iter()
        .map(|resource| TargetUsersFact {
            target: resource.to_string(),
            lock: target_lock::lock_path(&plan.target_lock_dir, &resource),
            users: target_lock::users(&plan.target_lock_dir, &resource)
                .map(|users| users.iter().map(|u| u.to_string()).collect())
                .map_err(|e| e.to_string()),
        })
        .collect()
}

/// The lock as check reports it, from the one probe `state::lock` has.
fn lock_fact(path: &Path) -> LockFact {
    let path = path.to_path_buf();
    match lock::probe_file(&path) {
        Ok(LockState::Free) => LockFact::Free { path },
        Ok(LockState::NoLockFile) => LockFact::NoLockFile { path },
        Ok(LockState::Held { holder, .. }) => LockFact::Held { path, holder },
        Err(e) => LockFact::Unreadable {
            path,
            error: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_are_listed_with_kind_and_mode() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let dir = tempfile::tempdir().unwrap();
        let exec = dir.path().join("10-db");
        std::fs::write(&exec, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exec, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.path().join("20-web"), "").unwrap();
        symlink("/nonexistent", dir.path().join("30-gone")).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let entries = hooks::scan(dir.path()).unwrap();
        let kinds: Vec<_> = entries.iter().map(|e| (e.name.as_str(), e.kind)).collect();
        assert!(matches!(kinds[0], ("10-db", HookKind::File { mode }) if mode & 0o111 != 0));
        assert!(matches!(kinds[1], ("20-web", HookKind::File { mode }) if mode & 0o111 == 0));
        assert_eq!(kinds[2], ("30-gone", HookKind::DanglingLink));
        assert_eq!(kinds[3], ("sub", HookKind::Directory));
        assert_eq!(
            hooks::scan(&dir.path().join("nope")),
            Err(DirProblem::Missing)
        );
        assert_eq!(hooks::scan(&exec), Err(DirProblem::NotADirectory));
    }

    #[test]
    fn gather_reads_tools_lvm_hooks_and_lock_without_creating_anything() {
        use crate::plan::test_plans::{pct, plan};
        use crate::system::fake::Fake;
        let dir = tempfile::tempdir().unwrap();
        let mut p = plan(&[("vg0/a", pct(20.0))]);
        p.state_dir = dir.path().join("state");
        p.hooks = Some(crate::plan::Hooks {
            dir: dir.path().join("hooks"),
            timeout: crate::plan::DEFAULT_HOOK_TIMEOUT,
        });
        p.target.iscsi = Some(crate::plan::Iscsi {
            portal: "127.0.0.1:3260".into(),
            iqn: "iqn.2026-01.test:backup".into(),
        });
        let fake = Fake::builder()
            .lv("vg0", "a", 32, "-wi-a-----")
            .without_tool("dmsetup")
            .without_tool("udevadm")
            .without_tool("iscsiadm")
            .build();
        let facts = gather(&p, &fake);
        let tools: Vec<_> = facts
            .tools
            .iter()
            .map(|t| (t.name, t.found.is_some()))
            .collect();
        assert_eq!(tools[0], ("lvm", true));
        assert!(
            tools.contains(&("iscsiadm", false)),
            "iscsiadm asked for: {tools:?}"
        );
        assert_eq!(facts.lvm.unwrap().lvs.len(), 1);
        assert_eq!(fake.state().reports, 1, "one report");
        assert!(fake.commands().is_empty(), "nothing else");
        assert_eq!(facts.hooks.unwrap().entries, Err(DirProblem::Missing));
        assert!(matches!(facts.lock, LockFact::NoLockFile { .. }));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "created nothing"
        );

        fake.state().report_error = Some("  /dev/mapper/control: open failed\n".into());
        let facts = gather(&p, &fake);
        assert!(
            matches!(facts.lvm, Err(LvmUnavailable::Failed(e)) if e.contains("/dev/mapper/control"))
        );
        let no_lvm = Fake::builder().without_tool("lvm").build();
        assert_eq!(gather(&p, &no_lvm).lvm, Err(LvmUnavailable::NoTool));
    }
}
