//! Removing an LV so that it survives udev's "in use" races.
//!
//! Right after a snapshot is closed, udev (or blkid run by it) may still have
//! the device open for a moment, and `lvremove` then fails with "in use".
//! The remedy: let udev settle, retry with a growing pause, and when it
//! still fails, say whether a real opener (a process, a mount) holds the
//! device, because that needs an admin, not another retry.
//!
//! A classic snapshot is NOT deactivated with `lvchange -an` first: lvm2
//! redirects activation changes of a snapshot to its origin, so that would
//! deactivate the volume being backed up. `lvremove -f` deactivates the
//! snapshot alone.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use super::runner::{CommandLine, RunError, Runner};
use super::tools::Tools;
use crate::plan::LvPath;
use crate::procfs::{self, OpenTarget};

/// How hard to try before giving up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemovePolicy {
    /// `lvremove` attempts in all, at least 1.
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RemovePolicy {
    /// About 6 s in all: long enough for a udev scan, short enough for cron.
    fn default() -> Self {
        RemovePolicy {
            attempts: 6,
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RemovePolicy {
    /// The pause before attempt `n + 1` (n counted from 1): doubling, capped.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LvKind {
    /// A snapshot: removed without deactivating first (see module docs).
    Snapshot,
    /// Any other LV: deactivated first, so a failure says "in use" early
    /// instead of half-way through the removal.
    Plain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// `lvremove` calls made; 0 when the LV was already gone.
    pub attempts: u32,
}

/// Who holds a device open: the evidence for "a real opener" vs "a race".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Openers {
    /// The device-mapper open count, when dmsetup could tell.
    pub open_count: Option<u32>,
    /// `pid 123 (dd)` or `mounted on /mnt`.
    pub holders: Vec<String>,
}

impl fmt::Display for Openers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.open_count, self.holders.is_empty()) {
            (Some(0), true) => write!(
                f,
                "nothing holds it open now (a passing udev scan, most likely): run the removal again"
            ),
            (_, false) => write!(
                f,
                "held open by {}: stop that first",
                self.holders.join(", ")
            ),
            (Some(n), true) => write!(
                f,
                "device open count is {n} but no process or mount was found holding it \
                 (another device stacked on it, or a kernel user): see `dmsetup info -c` and `lsblk`"
            ),
            (None, true) => write!(f, "cannot tell whether something holds it open"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoveError {
    #[error(
        "cannot remove {lv}: still in use after {attempts} attempts; {openers}. Last error: {last}"
    )]
    InUse {
        lv: LvPath,
        attempts: u32,
        openers: Openers,
        last: Box<RunError>,
    },
    #[error("cannot remove {lv}: {source}")]
    Failed {
        lv: LvPath,
        #[source]
        source: RunError,
    },
}

/// Finds who holds a device open. Real: dmsetup and /proc; tests: a fake.
pub trait OpenerProbe {
    fn openers(&self, lv: &LvPath) -> Openers;
}

/// Removes `lv`, retrying while it is "in use". An LV that no longer
/// exists counts as removed, so rollback and recovery can call this twice.
pub fn remove_lv(
    runner: &dyn Runner,
    tools: &Tools,
    lv: &LvPath,
    kind: LvKind,
    policy: &RemovePolicy,
    probe: &dyn OpenerProbe,
    sleep: &mut dyn FnMut(Duration),
) -> Result<Removed, RemoveError> {
    let lvm = |sub: &str| CommandLine::new(&tools.lvm).arg(sub);
    let attempts = policy.attempts.max(1);
    let mut last = None;
    for attempt in 1..=attempts {
        settle(runner, tools);
        if kind == LvKind::Plain {
            // A failure here is not final: lvremove below reports the
            // reason again, and it is the one that counts.
            if let Err(err) = runner.run(&lvm("lvchange").args(["-an", &lv.to_string()])) {
                if is_gone(&err) {
                    return Ok(Removed {
                        attempts: attempt - 1,
                    });
                }
                tracing::debug!(%err, "deactivation before removal failed");
            }
        }
        match runner.run(&lvm("lvremove").args(["-f", &lv.to_string()])) {
            Ok(_) => return Ok(Removed { attempts: attempt }),
            Err(err) if is_gone(&err) => {
                return Ok(Removed {
                    attempts: attempt - 1,
                });
            }
            Err(err) if is_busy(&err) => {
                tracing::info!(lv = %lv, attempt, "LV in use, retrying");
                last = Some(err);
                if attempt < attempts {
                    sleep(policy.delay_after(attempt));
                }
            }
            Err(source) => {
                return Err(RemoveError::Failed {
                    lv: lv.clone(),
                    source,
                });
            }
        }
    }
    Err(RemoveError::InUse {
        lv: lv.clone(),
        attempts,
        openers: probe.openers(lv),
        last: Box::new(last.expect("at least one attempt failed")),
    })
}

fn settle(runner: &dyn Runner, tools: &Tools) {
    if let Some(udevadm) = &tools.udevadm {
        let cmd = CommandLine::new(udevadm).args(["settle", "--timeout=10"]);
        if let Err(err) = runner.run(&cmd) {
            tracing::debug!(%err, "udevadm settle failed; removing anyway");
        }
    }
}

/// lvm2 says the LV (or its VG) does not exist.
pub(crate) fn is_gone(err: &RunError) -> bool {
    let stderr = err.stderr();
    stderr.contains("Failed to find logical volume") || stderr.contains("not found")
}

fn is_busy(err: &RunError) -> bool {
    let stderr = err.stderr().to_ascii_lowercase();
    ["in use", "busy", "open logical volume", "is open"]
        .iter()
        .any(|needle| stderr.contains(needle))
}

/// The device-mapper name of an LV: dashes inside names are doubled.
pub fn dm_name(lv: &LvPath) -> String {
    format!("{}-{}", lv.vg.replace('-', "--"), lv.lv.replace('-', "--"))
}

/// Asks device-mapper for the open count and scans /proc for processes and
/// mounts holding the device: only done after removal failed for good.
pub struct SystemProbe<'a> {
    pub runner: &'a dyn Runner,
    pub tools: &'a Tools,
}

impl OpenerProbe for SystemProbe<'_> {
    fn openers(&self, lv: &LvPath) -> Openers {
        let name = dm_name(lv);
        let open_count = self.tools.dmsetup.as_ref().and_then(|dmsetup| {
            let cmd = CommandLine::new(dmsetup)
                .args(["info", "-c", "--noheadings", "-o", "open"])
                .arg(&name);
            let out = self.runner.run(&cmd).ok()?;
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        });
        let holders = device_number(&Path::new("/dev/mapper").join(&name))
            .map(|dev| holders_of(dev, Path::new("/proc")))
            .unwrap_or_default();
        Openers {
            open_count,
            holders,
        }
    }
}

fn device_number(node: &Path) -> Option<u64> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = std::fs::metadata(node).ok()?;
    meta.file_type().is_block_device().then(|| meta.rdev())
}

/// Processes with the block device `dev` open, and where it is mounted.
fn holders_of(dev: u64, proc: &Path) -> Vec<String> {
    let mut holders: Vec<String> = procfs::pids_with_open(proc, OpenTarget::BlockDevice(dev))
        .into_iter()
        .map(|pid| format!("pid {pid} ({})", procfs::comm(proc, pid)))
        .collect();
    let mountinfo = std::fs::read_to_string(proc.join("self/mountinfo")).unwrap_or_default();
    holders.extend(mounted_on(dev, &mountinfo));
    holders
}

/// `mounted on /srv/my data` for every mount of `dev`.
fn mounted_on(dev: u64, mountinfo: &str) -> Vec<String> {
    let (major, minor) = (rustix::fs::major(dev as _), rustix::fs::minor(dev as _));
    procfs::mount_points(mountinfo, major, minor)
        .into_iter()
        .map(|m| format!("mounted on {m}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::system::runner::{Exit, Output};

    /// Answers each command with the next scripted result for its
    /// subcommand, and records every command line.
    struct ScriptedRunner {
        lvremove: RefCell<Vec<Result<(), &'static str>>>,
        lvchange: RefCell<Vec<Result<(), &'static str>>>,
        log: RefCell<Vec<String>>,
    }

    impl ScriptedRunner {
        fn new(lvremove: Vec<Result<(), &'static str>>) -> Self {
            ScriptedRunner {
                lvremove: RefCell::new(lvremove),
                lvchange: RefCell::new(Vec::new()),
                log: RefCell::new(Vec::new()),
            }
        }
        fn log(&self) -> Vec<String> {
            self.log.borrow().clone()
        }
    }

    impl Runner for ScriptedRunner {
        fn run(&self, command: &CommandLine) -> Result<Output, RunError> {
            self.log.borrow_mut().push(command.to_string());
            let script = match command.args.first().map(String::as_str) {
                Some("lvremove") => &self.lvremove,
                Some("lvchange") => &self.lvchange,
                _ => return Ok(Output::default()),
            };
            let mut script = script.borrow_mut();
            let next = if script.is_empty() {
                Ok(())
            } else {
                script.remove(0)
            };
            next.map(|()| Output::default())
                .map_err(|stderr| RunError::Failed {
                    command: command.to_string(),
                    exit: Exit::Code(5),
                    stderr: stderr.to_string(),
                })
        }
    }

    struct FakeProbe(Openers);
    impl OpenerProbe for FakeProbe {
        fn openers(&self, _: &LvPath) -> Openers {
            self.0.clone()
        }
    }

    const IN_USE: &str = "  Logical volume vg0/home-snap in use.\n";

    fn tools(udevadm: bool) -> Tools {
        Tools {
            lvm: "lvm".into(),
            dmsetup: Some("dmsetup".into()),
            udevadm: udevadm.then(|| "udevadm".into()),
        }
    }

    fn snap() -> LvPath {
        LvPath {
            vg: "vg0".into(),
            lv: "home-snap".into(),
        }
    }

    fn remove(
        runner: &ScriptedRunner,
        kind: LvKind,
        udevadm: bool,
        probe: Openers,
    ) -> (Result<Removed, RemoveError>, Vec<Duration>) {
        let mut sleeps = Vec::new();
        let result = remove_lv(
            runner,
            &tools(udevadm),
            &snap(),
            kind,
            &RemovePolicy::default(),
            &FakeProbe(probe),
            &mut |d| sleeps.push(d),
        );
        (result, sleeps)
    }

    #[test]
    fn transient_in_use_is_retried_with_growing_pauses() {
        let runner = ScriptedRunner::new(vec![Err(IN_USE), Err(IN_USE), Ok(())]);
        let (result, sleeps) = remove(&runner, LvKind::Snapshot, true, Openers::default());
        assert_eq!(result.unwrap(), Removed { attempts: 3 });
        assert_eq!(
            sleeps,
            vec![Duration::from_millis(200), Duration::from_millis(400)]
        );
        let log = runner.log();
        assert_eq!(log[0], "udevadm settle --timeout=10");
        assert_eq!(log[1], "lvm lvremove -f vg0/home-snap");
        assert_eq!(log.len(), 6, "settle before each of 3 attempts: {log:?}");
    }

    #[test]
    fn snapshot_is_never_deactivated_because_that_would_hit_its_origin() {
        let runner = ScriptedRunner::new(vec![Ok(())]);
        let (result, _) = remove(&runner, LvKind::Snapshot, false, Openers::default());
        result.unwrap();
        assert!(runner.log().iter().all(|c| !c.contains("lvchange")));
    }

    #[test]
    fn plain_lv_is_deactivated_before_removal() {
        let runner = ScriptedRunner::new(vec![Ok(())]);
        let (result, _) = remove(&runner, LvKind::Plain, false, Openers::default());
        result.unwrap();
        assert_eq!(
            runner.log(),
            vec![
                "lvm lvchange -an vg0/home-snap",
                "lvm lvremove -f vg0/home-snap"
            ]
        );
    }

    #[test]
    fn retries_are_bounded_and_the_final_error_names_the_opener() {
        let runner = ScriptedRunner::new(vec![Err(IN_USE); 10]);
        let openers = Openers {
            open_count: Some(1),
            holders: vec!["pid 4242 (dd)".into()],
        };
        let (result, sleeps) = remove(&runner, LvKind::Snapshot, false, openers);
        let err = result.unwrap_err();
        assert_eq!(sleeps.len(), 5);
        assert_eq!(*sleeps.last().unwrap(), Duration::from_secs(2), "capped");
        let text = err.to_string();
        assert!(text.contains("vg0/home-snap"), "{text}");
        assert!(text.contains("after 6 attempts"), "{text}");
        assert!(text.contains("pid 4242 (dd)"), "{text}");
        assert!(text.contains("lvm lvremove -f vg0/home-snap"), "{text}");
        assert!(text.contains("exit status 5"), "{text}");
    }

    #[test]
    fn final_error_says_when_nothing_holds_it() {
        let runner = ScriptedRunner::new(vec![Err(IN_USE); 10]);
        let openers = Openers {
            open_count: Some(0),
            holders: vec![],
        };
        let (result, _) = remove(&runner, LvKind::Snapshot, false, openers);
        assert!(
            result
                .unwrap_err()
                .to_string()
                .contains("nothing holds it open")
        );
    }

    #[test]
    fn other_failures_are_not_retried() {
        let runner = ScriptedRunner::new(vec![Err("  Permission denied\n")]);
        let (result, sleeps) = remove(&runner, LvKind::Snapshot, false, Openers::default());
        assert!(matches!(result, Err(RemoveError::Failed { .. })));
        assert!(sleeps.is_empty());
    }

    #[test]
    fn an_lv_already_gone_counts_as_removed() {
        let runner = ScriptedRunner::new(vec![
            Err(IN_USE),
            Err("  Failed to find logical volume \"vg0/home-snap\"\n"),
        ]);
        let (result, _) = remove(&runner, LvKind::Snapshot, false, Openers::default());
        assert_eq!(result.unwrap(), Removed { attempts: 1 });
    }

    #[test]
    fn dm_names_double_dashes() {
        let lv = LvPath {
            vg: "my-vg".into(),
            lv: "home-snap".into(),
        };
        assert_eq!(dm_name(&lv), "my--vg-home--snap");
    }

    #[test]
    fn mounts_are_found_by_device_number() {
        let dev = rustix::fs::makedev(253, 3);
        let info = "22 1 253:3 / /srv/data rw,relatime - ext4 /dev/mapper/vg0-data rw\n\
                    23 1 253:30 / /other rw - ext4 /dev/mapper/vg0-x rw\n";
        assert_eq!(mounted_on(dev as u64, info), vec!["mounted on /srv/data"]);
    }

    /// The "held open by" message names the mount point as the admin
    /// types it, not as mountinfo escapes it (`\040` for a space).
    #[test]
    fn an_escaped_mount_point_is_named_unescaped() {
        let dev = rustix::fs::makedev(253, 3);
        let info = "35 22 253:3 / /srv/my\\040data rw - xfs /dev/mapper/vg0-data rw\n";
        assert_eq!(
            mounted_on(dev as u64, info),
            vec!["mounted on /srv/my data"]
        );
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let policy = RemovePolicy::default();
        let delays: Vec<_> = (1..=6).map(|n| policy.delay_after(n).as_millis()).collect();
        assert_eq!(delays, vec![200, 400, 800, 1600, 2000, 2000]);
    }
}
