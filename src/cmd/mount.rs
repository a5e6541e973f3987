//! `snapplan mount PLAN VOLUME MOUNTPOINT [--generation ID]` and `snapplan
//! unmount MOUNTPOINT`: a backup mounted read-only for file-level restore,
//! and exactly what mount did undone (see docs/restore.md and
//! `crate::mount`).

use std::path::PathBuf;

use crate::ExitCode;
use crate::mount::{self, MountRequest};

const MOUNT_HELP: &str = "\
MOUNTPOINT must be an existing empty directory of root's that nobody else can
write to, named by its real path (no symbolic link). The backup VG is
imported and the backup LV activated when they are not; `snapplan unmount`
puts them back. ext4 is mounted `ro,noload`, XFS `ro,nouuid,norecovery`, so a
clone of a mounted origin mounts without a write to the backup; btrfs is
refused while a btrfs with the same fsid is mounted. While it is mounted,
check and apply of the plan fail rather than rewrite the backup.

Examples:
  snapplan mount /etc/snapplan/home-server.yaml home /mnt/restore
  snapplan mount /etc/snapplan/home-server.yaml home /mnt/restore --generation 20261202T031500Z
  cp -a /mnt/restore/alice/thesis.tex /home/alice/
  snapplan unmount /mnt/restore

/mnt/restore made once with `mkdir -m 0755 /mnt/restore`.";

const UNMOUNT_HELP: &str = "\
Undoes what `snapplan mount` recorded for MOUNTPOINT, in reverse order:
umount, deactivate the backup LV if mount activated it, export the backup VG
if mount imported it (unless another snapplan mount still uses the VG).

Examples:
  snapplan unmount /mnt/restore";

/// Mount a backup read-only, for file-level restore
#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit_code::command_help(MOUNT_HELP, crate::exit_code::MOUNT))]
pub struct MountArgs {
    /// The plan that made the backup.
    pub plan: PathBuf,
    /// The volume whose backup to mount (its name in the plan).
    pub volume: String,
    /// An existing empty directory of root's.
    pub mountpoint: PathBuf,
    /// The generation to mount (`snapplan generations PLAN`); default: the
    /// newest complete one. A thick target has one.
    #[arg(long, value_name = "ID")]
    pub generation: Option<String>,
}

/// Undo what `snapplan mount` did at a mount point
#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit_code::command_help(UNMOUNT_HELP, crate::exit_code::UNMOUNT))]
pub struct UnmountArgs {
    /// Where `snapplan mount` mounted a backup.
    pub mountpoint: PathBuf,
}

pub fn mount(args: MountArgs) -> super::Result {
    let plan = super::load_plan(&args.plan)?;
    // A run of the plan rewrites the backup: not while it is mounted.
    let _lock = super::lock(&plan, "wait for it to end; nothing was mounted")?;
    let sys = crate::system::RealSystem::new();
    let records_dir = crate::state::mounts::records_dir();
    let record = mount::mount(
        &MountRequest {
            plan: &plan,
            volume: &args.volume,
            generation: args.generation.as_deref(),
            mountpoint: &args.mountpoint,
            records_dir: &records_dir,
        },
        &sys,
    )?;
    crate::outln!(
        "mounted {} (volume {}, generation {}) read-only on {} ({} -o {}){}{}; \
         `snapplan unmount {}` when done",
        record.lv,
        record.volume,
        record.generation,
        record.mountpoint.display(),
        record.fstype,
        record.options,
        record
            .imported_vg
            .as_ref()
            .map_or(String::new(), |vg| format!(", VG {vg} imported")),
        record
            .activated_lv
            .as_ref()
            .map_or(String::new(), |lv| format!(", {lv} activated")),
        record.mountpoint.display()
    );
    Ok(ExitCode::Success)
}

pub fn unmount(args: UnmountArgs) -> super::Result {
    let sys = crate::system::RealSystem::new();
    let records_dir = crate::state::mounts::records_dir();
    let done = mount::unmount(&args.mountpoint, &records_dir, &sys)?;
    for note in &done.notes {
        crate::errln!("note: {note}");
    }
    crate::outln!(
        "unmounted {}: {}",
        args.mountpoint.display(),
        if done.done.is_empty() {
            "nothing was left to undo".to_string()
        } else {
            done.done.join(", ")
        }
    );
    Ok(ExitCode::Success)
}
