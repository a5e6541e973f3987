//! Plans for the graph's unit tests, built directly as the validated model
//! (the plan language has its own tests).

use std::path::PathBuf;
use std::time::Duration;

use super::HookList;
use crate::plan::{Bandwidth, Hooks, Iscsi, LvPath, Plan, SnapshotSize, Target, Volume};

const GIB: u64 = 1 << 30;

pub fn volume(name: &str, lv: &str) -> Volume {
    Volume {
        name: name.into(),
        source: LvPath {
            vg: "vg0".into(),
            lv: lv.into(),
        },
        target_lv: lv.into(),
        snapshot_size: SnapshotSize::Bytes(2 * GIB),
        snapshot_size_set: false,
        snapshot_size_max: None,
        retain_base: true,
        bandwidth: Bandwidth::BytesPerSecond(60 << 20),
        verify: true,
        after: Vec::new(),
    }
}

/// The original tool's setup: the TV-recording volume first with a larger
/// snapshot, then root and home, hooks, the backup VG over iSCSI.
pub fn home_server() -> Plan {
    let vcr = Volume {
        snapshot_size: SnapshotSize::Bytes(8 * GIB),
        snapshot_size_set: false,
        snapshot_size_max: None,
        retain_base: true,
        ..volume("vcr", "vcr")
    };
    let home = Volume {
        bandwidth: Bandwidth::Unlimited,
        target_lv: "home_bk".into(),
        after: vec!["root".into()],
        ..volume("home", "home")
    };
    Plan {
        name: "home-server".into(),
        state_dir: "/var/lib/snapplan".into(),
        target_lock_dir: "/run/snapplan/targets".into(),
        hooks: Some(Hooks {
            dir: "/etc/snapplan/hooks.d".into(),
            timeout: Duration::from_secs(60),
        }),
        target: Target {
            vg: "backup".into(),
            iscsi: Some(Iscsi {
                portal: "192.0.2.10:3260".into(),
                iqn: "iqn.2026-01.org.example:backup".into(),
            }),
            export: true,
            keep_previous: true,
            generations: None,
        },
        volumes: vec![vcr, volume("root", "root"), home],
    }
}

pub fn two_hooks() -> HookList {
    HookList::Found(vec![
        PathBuf::from("/etc/snapplan/hooks.d/10-db"),
        PathBuf::from("/etc/snapplan/hooks.d/20-web"),
    ])
}

/// One volume, no hooks, no iSCSI, no export, a percentage snapshot.
pub fn minimal() -> Plan {
    Plan {
        name: "minimal".into(),
        state_dir: "/var/lib/snapplan".into(),
        target_lock_dir: "/run/snapplan/targets".into(),
        hooks: None,
        target: Target {
            vg: "backup".into(),
            iscsi: None,
            export: false,
            keep_previous: true,
            generations: None,
        },
        volumes: vec![Volume {
            snapshot_size: SnapshotSize::PercentOfOrigin(20.0),
            snapshot_size_set: false,
            snapshot_size_max: None,
            retain_base: true,
            bandwidth: Bandwidth::Unlimited,
            ..volume("root", "root")
        }],
    }
}
