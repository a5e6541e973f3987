//! Typed views of `lvs`, `vgs` and `pvs` reports.
//!
//! lvm2's `--reportformat json` prints every value as a string, with "" for
//! "not applicable" (an LV that is not a snapshot has origin ""), and sizes
//! as plain byte counts when asked for `--units b --nosuffix`. The strings
//! are turned into numbers, tags and flags here, once, so nothing else in
//! snapplan parses lvm2 output.

use serde::{Deserialize, Deserializer, Serialize};

use crate::plan::LvPath;

/// The `-o` fields each report asks for. Named explicitly, because the
/// default columns differ between lvm2 versions and distributions.
pub const LV_FIELDS: &[&str] = &[
    "lv_name",
    "vg_name",
    "lv_size",
    "lv_attr",
    "segtype",
    "origin",
    "pool_lv",
    "lv_tags",
    "data_percent",
    "snap_percent",
    "metadata_percent",
    "lv_snapshot_invalid",
    "lv_active",
    "lv_device_open",
];
pub const VG_FIELDS: &[&str] = &[
    "vg_name",
    "vg_attr",
    "vg_size",
    "vg_free",
    "vg_extent_size",
    "vg_extent_count",
    "vg_free_count",
    "vg_exported",
    "vg_tags",
];
pub const PV_FIELDS: &[&str] = &["pv_name", "vg_name", "pv_size", "pv_free", "pv_attr"];

/// One logical volume, as `lvs` reports it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Lv {
    pub lv_name: String,
    pub vg_name: String,
    #[serde(deserialize_with = "bytes")]
    pub lv_size: u64,
    /// Ten characters; see lvs(8). Position 1 is the volume type, 5 the
    /// state, 6 whether the device is open.
    pub lv_attr: String,
    #[serde(default)]
    pub segtype: String,
    /// The origin's LV name when this LV is a snapshot, else "".
    #[serde(default)]
    pub origin: String,
    /// The thin pool's LV name (same VG) when this LV is a thin volume,
    /// else "".
    #[serde(default)]
    pub pool_lv: String,
    #[serde(default, deserialize_with = "tags")]
    pub lv_tags: Vec<String>,
    /// How full a snapshot's copy-on-write space is, in percent.
    #[serde(default, deserialize_with = "percent")]
    pub data_percent: Option<f64>,
    #[serde(default, deserialize_with = "percent")]
    pub snap_percent: Option<f64>,
    /// How full a thin pool's metadata is, in percent (pools only).
    #[serde(default, deserialize_with = "percent")]
    pub metadata_percent: Option<f64>,
    /// "snapshot invalid" once the snapshot overflowed; "" for a valid
    /// snapshot, "unknown" for LVs that are not snapshots.
    #[serde(default)]
    pub lv_snapshot_invalid: String,
    #[serde(default)]
    pub lv_active: String,
    #[serde(default)]
    pub lv_device_open: String,
}

impl Lv {
    pub fn path(&self) -> LvPath {
        LvPath {
            vg: self.vg_name.clone(),
            lv: self.lv_name.clone(),
        }
    }

    fn attr(&self, position: usize) -> char {
        self.lv_attr.chars().nth(position).unwrap_or('-')
    }

    /// A classic (copy-on-write) snapshot, or a thin snapshot: anything that
    /// has an origin.
    pub fn is_snapshot(&self) -> bool {
        !self.origin.is_empty() || matches!(self.attr(0), 's' | 'S')
    }

    /// A thin volume (attr `V`), which lives in a thin pool, not in the VG's
    /// free extents.
    pub fn is_thin(&self) -> bool {
        self.attr(0) == 'V' || self.segtype == "thin"
    }

    /// The thin pool a thin volume lives in.
    pub fn thin_pool(&self) -> Option<LvPath> {
        (self.is_thin() && !self.pool_lv.is_empty()).then(|| LvPath {
            vg: self.vg_name.clone(),
            lv: self.pool_lv.clone(),
        })
    }

    /// A thin pool's data or metadata LV (`[pool_tdata]`, attr `T`/`e`
    /// named `_tmeta`), the only sign of a pool `pvs --segments` gives.
    pub fn is_thin_pool_part(&self) -> bool {
        self.is_thin_pool()
            || self.attr(0) == 'T'
            || self.lv_name.ends_with("_tdata]")
            || self.lv_name.ends_with("_tdata")
    }

    /// A thin pool (segtype `thin-pool`, attr `t`).
    pub fn is_thin_pool(&self) -> bool {
        self.segtype == "thin-pool" || self.attr(0) == 't'
    }

    /// How full a thin pool is; `None` for LVs that are not pools, or a
    /// pool whose usage lvm2 cannot tell (inactive).
    pub fn pool_use(&self) -> Option<PoolUse> {
        if !self.is_thin_pool() {
            return None;
        }
        Some(PoolUse {
            data_percent: self.data_percent?,
            metadata_percent: self.metadata_percent?,
        })
    }

    /// An LV an admin cannot use as a plain block device: pools, mirror and
    /// raid images and logs, pvmove, metadata, virtual origins.
    pub fn is_internal(&self) -> bool {
        matches!(
            self.attr(0),
            't' | 'T' | 'i' | 'I' | 'l' | 'L' | 'e' | 'p' | 'v' | 'd' | 'D'
        )
    }

    pub fn is_active(&self) -> bool {
        matches!(self.attr(4), 'a' | 's' | 'I' | 'S')
    }

    /// Something (a mount, a process) holds the device open.
    pub fn is_open(&self) -> bool {
        self.attr(5) == 'o' || self.lv_device_open == "open"
    }

    /// The snapshot overflowed: its content is garbage from now on.
    /// (lvm2 reports "unknown", not "", for LVs that are not snapshots.)
    pub fn is_invalid_snapshot(&self) -> bool {
        self.lv_snapshot_invalid == "snapshot invalid" || matches!(self.attr(4), 'I' | 'S')
    }

    /// Copy-on-write usage of a snapshot; lvm2 reports it in data_percent
    /// (snap_percent on older versions).
    pub fn snapshot_usage_percent(&self) -> Option<f64> {
        self.data_percent.or(self.snap_percent)
    }

    pub fn ownership(&self) -> Option<crate::tags::Ownership> {
        crate::tags::ownership(&self.lv_tags)
    }

    /// Tagged as plan `plan`'s `role` (`tags::ROLE_BASE`, ...): the one
    /// test before snapplan reads from, or removes, an LV it made.
    pub fn is_plans(&self, plan: &str, role: &str) -> bool {
        self.ownership()
            .is_some_and(|o| o.plan.as_deref() == Some(plan) && o.role.as_deref() == Some(role))
    }
}

/// How full a thin pool is. Both halves matter: a pool whose data or whose
/// metadata runs out stalls or errors every thin volume in it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PoolUse {
    pub data_percent: f64,
    pub metadata_percent: f64,
}

impl PoolUse {
    /// The fuller of the two, which is what runs out first.
    pub fn worst_percent(&self) -> f64 {
        self.data_percent.max(self.metadata_percent)
    }
}

/// One volume group, as `vgs` reports it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Vg {
    pub vg_name: String,
    #[serde(default)]
    pub vg_attr: String,
    #[serde(deserialize_with = "bytes")]
    pub vg_size: u64,
    #[serde(deserialize_with = "bytes")]
    pub vg_free: u64,
    #[serde(deserialize_with = "bytes")]
    pub vg_extent_size: u64,
    #[serde(deserialize_with = "bytes")]
    pub vg_extent_count: u64,
    #[serde(deserialize_with = "bytes")]
    pub vg_free_count: u64,
    /// "exported" after `vgexport`, else "".
    #[serde(default)]
    pub vg_exported: String,
    #[serde(default, deserialize_with = "tags")]
    pub vg_tags: Vec<String>,
}

impl Vg {
    pub fn is_exported(&self) -> bool {
        !self.vg_exported.is_empty() || self.vg_attr.chars().nth(2) == Some('x')
    }

    /// Whole extents needed to hold `bytes`: LVM allocates nothing smaller.
    pub fn extents_for(&self, bytes: u64) -> u64 {
        bytes.div_ceil(self.vg_extent_size.max(1))
    }
}

/// One physical volume, as `pvs` reports it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Pv {
    pub pv_name: String,
    #[serde(default)]
    pub vg_name: String,
    #[serde(deserialize_with = "bytes")]
    pub pv_size: u64,
    #[serde(deserialize_with = "bytes")]
    pub pv_free: u64,
    #[serde(default)]
    pub pv_attr: String,
}

/// Everything check and apply need to know about the volumes, read in one
/// `lvs` and one `vgs` call.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SystemReport {
    pub lvs: Vec<Lv>,
    pub vgs: Vec<Vg>,
}

impl SystemReport {
    pub fn lv(&self, path: &LvPath) -> Option<&Lv> {
        self.lvs
            .iter()
            .find(|lv| lv.vg_name == path.vg && lv.lv_name == path.lv)
    }

    pub fn vg(&self, name: &str) -> Option<&Vg> {
        self.vgs.iter().find(|vg| vg.vg_name == name)
    }

    /// The newest complete generation of plan `plan` in `series`
    /// (`vg/<target_lv>`), by `tags::newest_complete_generation`: what a
    /// new generation is a snapshot of.
    pub fn newest_complete_generation(&self, plan: &str, series: &LvPath) -> Option<&str> {
        let lvs: Vec<(&str, &[String])> = self
            .lvs
            .iter()
            .filter(|lv| lv.vg_name == series.vg)
            .map(|lv| (lv.lv_name.as_str(), lv.lv_tags.as_slice()))
            .collect();
        crate::tags::newest_complete_generation(&series.lv, plan, &lvs)
    }

    /// LVs carrying the `snapplan` tag, whichever plan made them.
    pub fn snapplan_lvs(&self) -> impl Iterator<Item = (&Lv, crate::tags::Ownership)> {
        self.lvs
            .iter()
            .filter_map(|lv| lv.ownership().map(|owner| (lv, owner)))
    }
}

/// The report could not be read: names the report and lvm2's own words.
#[derive(Debug, thiserror::Error)]
#[error("cannot parse the `{report}` JSON report: {source}")]
pub struct ParseError {
    pub report: &'static str,
    #[source]
    pub source: serde_json::Error,
}

#[derive(Deserialize)]
struct Envelope<T> {
    report: Vec<Section<T>>,
}

#[derive(Deserialize)]
struct Section<T> {
    #[serde(
        alias = "lv",
        alias = "vg",
        alias = "pv",
        alias = "pvseg",
        default = "Vec::new"
    )]
    rows: Vec<T>,
}

fn parse_rows<T: for<'de> Deserialize<'de>>(
    report: &'static str,
    json: &[u8],
) -> Result<Vec<T>, ParseError> {
    let envelope: Envelope<T> =
        serde_json::from_slice(json).map_err(|source| ParseError { report, source })?;
    Ok(envelope.report.into_iter().flat_map(|s| s.rows).collect())
}

pub fn parse_lvs(json: &[u8]) -> Result<Vec<Lv>, ParseError> {
    parse_rows("lvs", json)
}

/// `pvs --segments` with LV fields: one row per PV segment (an LV on
/// several segments appears several times, free space with no LV name).
/// What remains are the LVs, once each.
pub fn parse_segment_lvs(json: &[u8]) -> Result<Vec<Lv>, ParseError> {
    let mut lvs: Vec<Lv> = Vec::new();
    for lv in parse_rows::<Lv>("pvs --segments", json)? {
        if !lv.lv_name.is_empty()
            && !lvs
                .iter()
                .any(|l| l.vg_name == lv.vg_name && l.lv_name == lv.lv_name)
        {
            lvs.push(lv);
        }
    }
    Ok(lvs)
}

pub fn parse_vgs(json: &[u8]) -> Result<Vec<Vg>, ParseError> {
    parse_rows("vgs", json)
}

pub fn parse_pvs(json: &[u8]) -> Result<Vec<Pv>, ParseError> {
    parse_rows("pvs", json)
}

fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let s = String::deserialize(d)?;
    // `--units b` prints whole bytes; a trailing "B" appears if --nosuffix
    // was lost somewhere, accept it rather than misread the size.
    let digits = s.trim().trim_end_matches(['B', 'b']);
    digits
        .parse()
        .map_err(|_| serde::de::Error::custom(format!("expected a byte count, found {s:?}")))
}

fn percent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Ok(None);
    }
    s.trim()
        .parse()
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("expected a percentage, found {s:?}")))
}

/// LVM tags, as lvm2 prints them: one comma-separated string.
type Tags = Vec<String>;

fn tags<'de, D: Deserializer<'de>>(d: D) -> Result<Tags, D::Error> {
    let s = String::deserialize(d)?;
    Ok(s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    /// `pvs --segments --reportformat json -o <LV_FIELDS>` of an exported
    /// VG, as lvm2 2.03.16 printed it (an LV on two segments, free space).
    #[test]
    fn segment_rows_are_the_lvs_of_an_exported_vg_once_each() {
        let row = |lv: &str, size: &str, tags: &str| {
            format!(
                r#"{{"lv_name":"{lv}", "vg_name":"backup", "lv_size":"{size}", "lv_attr":"-wi-------", "segtype":"linear", "origin":"", "pool_lv":"", "lv_tags":"{tags}", "data_percent":"", "snap_percent":"", "metadata_percent":"", "lv_snapshot_invalid":"unknown", "lv_active":"", "lv_device_open":""}}"#
            )
        };
        let json = format!(
            r#"{{"report":[{{"pvseg":[{},{},{}]}}]}}"#,
            row("data", "8388608", "snapplan,snapplan-state:complete"),
            row("data", "8388608", "snapplan,snapplan-state:complete"),
            row("", "0", "")
        );
        let lvs = parse_segment_lvs(json.as_bytes()).unwrap();
        assert_eq!(lvs.len(), 1);
        assert_eq!(lvs[0].lv_tags, ["snapplan", "snapplan-state:complete"]);
        assert_eq!(lvs[0].lv_size, 8 << 20);
    }

    use super::*;

    /// Written after lvm2 2.03's format (see LVS_RECORDED for the real thing): `lvs --reportformat json --units b --nosuffix -o
    /// <LV_FIELDS>`: a plain LV that is an origin, its valid snapshot made by
    /// snapplan, an overflowed snapshot, and a thin volume.
    const LVS: &str = r#"  {
      "report": [
          {
              "lv": [
                  {"lv_name":"home", "vg_name":"vg0", "lv_size":"33554432", "lv_attr":"owi-aos---", "segtype":"linear", "origin":"", "lv_tags":"", "data_percent":"", "snap_percent":"", "lv_snapshot_invalid":"unknown", "lv_active":"active", "lv_device_open":"open"},
                  {"lv_name":"home-snapplan", "vg_name":"vg0", "lv_size":"8388608", "lv_attr":"swi-a-s---", "segtype":"linear", "origin":"home", "lv_tags":"snapplan,snapplan-plan:nightly,snapplan-run:r1,snapplan-role:snapshot", "data_percent":"12.50", "snap_percent":"12.50", "lv_snapshot_invalid":"", "lv_active":"active", "lv_device_open":""},
                  {"lv_name":"old", "vg_name":"vg0", "lv_size":"4194304", "lv_attr":"swi-I-s---", "segtype":"linear", "origin":"home", "lv_tags":"", "data_percent":"100.00", "snap_percent":"100.00", "lv_snapshot_invalid":"snapshot invalid", "lv_active":"active", "lv_device_open":""},
                  {"lv_name":"thin1", "vg_name":"vg0", "lv_size":"1073741824", "lv_attr":"Vwi-a-tz--", "segtype":"thin", "origin":"", "lv_tags":"", "data_percent":"0.00", "snap_percent":"", "lv_snapshot_invalid":"unknown", "lv_active":"active", "lv_device_open":""}
              ]
          }
      ]
  }
"#;

    const VGS: &str = r#"  {
      "report": [
          {
              "vg": [
                  {"vg_name":"vg0", "vg_attr":"wz--n-", "vg_size":"62914560", "vg_free":"16777216", "vg_extent_size":"4194304", "vg_extent_count":"15", "vg_free_count":"4", "vg_exported":"", "vg_tags":""},
                  {"vg_name":"backup", "vg_attr":"wzx-n-", "vg_size":"62914560", "vg_free":"62914560", "vg_extent_size":"4194304", "vg_extent_count":"15", "vg_free_count":"15", "vg_exported":"exported", "vg_tags":"offsite"}
              ]
          }
      ]
  }
"#;

    const PVS: &str = r#"{"report":[{"pv":[{"pv_name":"/dev/ram0", "vg_name":"vg0", "pv_size":"62914560", "pv_free":"16777216", "pv_attr":"a--"},{"pv_name":"/dev/ram3", "vg_name":"", "pv_size":"67108864", "pv_free":"67108864", "pv_attr":"---"}]}]}"#;

    #[test]
    fn lvs_rows_become_typed_volumes() {
        let lvs = parse_lvs(LVS.as_bytes()).unwrap();
        assert_eq!(lvs.len(), 4);
        let home = &lvs[0];
        assert_eq!(home.lv_size, 32 << 20);
        assert!(!home.is_snapshot() && home.is_active() && home.is_open());
        assert!(home.ownership().is_none());

        let snap = &lvs[1];
        assert!(snap.is_snapshot() && !snap.is_invalid_snapshot() && !snap.is_open());
        assert_eq!(snap.snapshot_usage_percent(), Some(12.5));
        let owner = snap.ownership().unwrap();
        assert_eq!(owner.plan.as_deref(), Some("nightly"));
        assert_eq!(owner.run.as_deref(), Some("r1"));

        assert!(lvs[2].is_invalid_snapshot());
        assert!(lvs[3].is_thin() && !lvs[3].is_snapshot());
        assert_eq!(lvs[0].snapshot_usage_percent(), None);
    }

    /// Recorded from lvm2 in the test VM (tests/vm): an open origin, a
    /// backup LV, an overflowed and a valid snapshot. lvm2 says "unknown"
    /// in lv_snapshot_invalid for LVs that are not snapshots.
    const LVS_RECORDED: &str = r#"  {
      "report": [
          {
              "lv": [
                  {"lv_name":"a", "vg_name":"backup", "lv_size":"16777216", "lv_attr":"-wi-a-----", "segtype":"linear", "origin":"", "lv_tags":"", "data_percent":"", "snap_percent":"", "lv_snapshot_invalid":"unknown", "lv_active":"active", "lv_device_open":""},
                  {"lv_name":"a", "vg_name":"vg0", "lv_size":"16777216", "lv_attr":"owi-aos---", "segtype":"linear", "origin":"", "lv_tags":"", "data_percent":"", "snap_percent":"", "lv_snapshot_invalid":"unknown", "lv_active":"active", "lv_device_open":"open"},
                  {"lv_name":"b", "vg_name":"vg0", "lv_size":"16777216", "lv_attr":"owi-a-s---", "segtype":"linear", "origin":"", "lv_tags":"", "data_percent":"", "snap_percent":"", "lv_snapshot_invalid":"unknown", "lv_active":"active", "lv_device_open":""},
                  {"lv_name":"snapbad", "vg_name":"vg0", "lv_size":"4194304", "lv_attr":"swi-I-s---", "segtype":"linear", "origin":"b", "lv_tags":"", "data_percent":"100.00", "snap_percent":"100.00", "lv_snapshot_invalid":"snapshot invalid", "lv_active":"active", "lv_device_open":""},
                  {"lv_name":"snapok", "vg_name":"vg0", "lv_size":"8388608", "lv_attr":"swi-a-s---", "segtype":"linear", "origin":"a", "lv_tags":"", "data_percent":"0.00", "snap_percent":"0.00", "lv_snapshot_invalid":"", "lv_active":"active", "lv_device_open":""}
              ]
          }
      ]
  }
"#;

    #[test]
    fn recorded_lvm2_output_reads_right() {
        let lvs = parse_lvs(LVS_RECORDED.as_bytes()).unwrap();
        let flags: Vec<_> = lvs
            .iter()
            .map(|l| {
                (
                    format!("{}/{}", l.vg_name, l.lv_name),
                    l.is_snapshot(),
                    l.is_invalid_snapshot(),
                    l.is_open(),
                )
            })
            .collect();
        let want = [
            ("backup/a", false, false, false),
            ("vg0/a", false, false, true),
            ("vg0/b", false, false, false),
            ("vg0/snapbad", true, true, false),
            ("vg0/snapok", true, false, false),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(p, s, i, o)| (p.to_string(), *s, *i, *o))
            .collect();
        assert_eq!(flags, want);
        assert_eq!(lvs[3].snapshot_usage_percent(), Some(100.0));
        assert_eq!(lvs[4].snapshot_usage_percent(), Some(0.0));
        assert!(lvs.iter().all(|l| l.is_active()));
    }

    #[test]
    fn vgs_rows_become_typed_groups() {
        let vgs = parse_vgs(VGS.as_bytes()).unwrap();
        assert_eq!(vgs[0].vg_free_count, 4);
        assert_eq!(vgs[0].vg_extent_size, 4 << 20);
        assert!(!vgs[0].is_exported());
        assert!(vgs[1].is_exported());
        assert_eq!(vgs[1].vg_tags, vec!["offsite"]);
        assert_eq!(vgs[0].extents_for(1), 1);
        assert_eq!(vgs[0].extents_for(4 << 20), 1);
        assert_eq!(vgs[0].extents_for((4 << 20) + 1), 2);
    }

    #[test]
    fn pvs_rows_become_typed_volumes() {
        let pvs = parse_pvs(PVS.as_bytes()).unwrap();
        assert_eq!(pvs.len(), 2);
        assert_eq!(pvs[1].vg_name, "");
        assert_eq!(pvs[0].pv_free, 16 << 20);
    }

    #[test]
    fn empty_report_is_no_rows() {
        assert!(parse_lvs(br#"{"report":[{"lv":[]}]}"#).unwrap().is_empty());
    }

    #[test]
    fn a_size_with_units_is_an_error_naming_the_value() {
        let bad = r#"{"report":[{"vg":[{"vg_name":"v","vg_size":"60.00m","vg_free":"0","vg_extent_size":"4194304","vg_extent_count":"15","vg_free_count":"0"}]}]}"#;
        let err = parse_vgs(bad.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("vgs") && err.contains("60.00m"), "{err}");
    }

    #[test]
    fn report_finds_lvs_by_path_and_ours_by_tag() {
        let report = SystemReport {
            lvs: parse_lvs(LVS.as_bytes()).unwrap(),
            vgs: parse_vgs(VGS.as_bytes()).unwrap(),
        };
        let path = LvPath {
            vg: "vg0".into(),
            lv: "home".into(),
        };
        assert_eq!(report.lv(&path).unwrap().lv_size, 32 << 20);
        assert!(report.vg("backup").is_some());
        let ours: Vec<_> = report.snapplan_lvs().map(|(lv, _)| &lv.lv_name).collect();
        assert_eq!(ours, vec!["home-snapplan"]);
    }
}
