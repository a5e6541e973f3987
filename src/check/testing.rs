//! Hand-written systems and plans for the check unit tests.

use crate::lvm::{Lv, SystemReport, Vg};
use crate::plan::*;

pub const EXTENT: u64 = 4 << 20;

pub fn pct(p: f64) -> SnapshotSize {
    SnapshotSize::PercentOfOrigin(p)
}

/// A plan named `nightly` backing `sources` up to VG `backup`.
pub fn plan(sources: &[(&str, SnapshotSize)]) -> Plan {
    Plan {
        name: "nightly".into(),
        state_dir: DEFAULT_STATE_DIR.into(),
        hooks: None,
        target: Target {
            vg: "backup".into(),
            iscsi: None,
            export: false,
        },
        volumes: sources
            .iter()
            .map(|(path, size)| {
                let (vg, lv) = path.split_once('/').unwrap();
                Volume {
                    name: lv.into(),
                    source: LvPath {
                        vg: vg.into(),
                        lv: lv.into(),
                    },
                    target_lv: lv.into(),
                    snapshot_size: *size,
                    bandwidth: Bandwidth::Unlimited,
                    verify: true,
                    after: vec![],
                }
            })
            .collect(),
    }
}

pub fn system() -> SystemBuilder {
    SystemBuilder(SystemReport::default())
}

pub struct SystemBuilder(SystemReport);

impl SystemBuilder {
    /// A VG of `extents` 4 MiB extents, `free` of them free.
    pub fn vg(mut self, name: &str, extents: u64, free: u64) -> Self {
        self.0.vgs.retain(|v| v.vg_name != name);
        self.0.vgs.push(Vg {
            vg_name: name.into(),
            vg_attr: "wz--n-".into(),
            vg_size: extents * EXTENT,
            vg_free: free * EXTENT,
            vg_extent_size: EXTENT,
            vg_extent_count: extents,
            vg_free_count: free,
            vg_exported: String::new(),
            vg_tags: vec![],
        });
        self
    }

    pub fn exported(mut self, name: &str) -> Self {
        let vg = self.0.vgs.iter_mut().find(|v| v.vg_name == name).unwrap();
        vg.vg_exported = "exported".into();
        vg.vg_attr = "wzx-n-".into();
        self
    }

    /// An LV of `mib` MiB; its VG (15 extents, all free) appears if unknown.
    pub fn lv(mut self, vg: &str, name: &str, mib: u64, attr: &str) -> Self {
        if self.0.vg(vg).is_none() {
            self = self.vg(vg, 15, 15);
        }
        self.0.lvs.push(Lv {
            lv_name: name.into(),
            vg_name: vg.into(),
            lv_size: mib << 20,
            lv_attr: attr.into(),
            segtype: "linear".into(),
            origin: String::new(),
            lv_tags: vec![],
            data_percent: None,
            snap_percent: None,
            lv_snapshot_invalid: "unknown".into(),
            lv_active: "active".into(),
            lv_device_open: String::new(),
        });
        self
    }

    pub fn snapshot(
        mut self,
        vg: &str,
        name: &str,
        mib: u64,
        origin: &str,
        tags: &[String],
    ) -> Self {
        self = self.lv(vg, name, mib, "swi-a-s---");
        let lv = self.0.lvs.last_mut().unwrap();
        lv.origin = origin.into();
        lv.lv_snapshot_invalid = String::new();
        lv.lv_tags = tags.to_vec();
        lv.data_percent = Some(3.5);
        self
    }

    pub fn tags(mut self, vg: &str, name: &str, tags: &[String]) -> Self {
        let lv = self
            .0
            .lvs
            .iter_mut()
            .find(|l| l.vg_name == vg && l.lv_name == name)
            .unwrap();
        lv.lv_tags = tags.to_vec();
        self
    }

    pub fn build(self) -> SystemReport {
        self.0
    }
}
