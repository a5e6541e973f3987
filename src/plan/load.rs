//! PLACEHOLDER loader so that other modules can read plans while the real
//! plan language (spanned parse, validation, located diagnostics) is built.
//! The public signatures `load` and `parse` are the contract; the body is to
//! be replaced wholesale.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::model::*;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{0}")]
pub struct LoadError(String);

pub fn load(path: &Path) -> Result<Plan, LoadError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| LoadError(format!("cannot read {}: {e}", path.display())))?;
    parse(&path.display().to_string(), &text)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    version: u32,
    name: String,
    state_dir: Option<PathBuf>,
    #[serde(default)]
    defaults: BTreeMap<String, String>,
    hooks: Option<RawHooks>,
    target: RawTarget,
    volumes: Vec<RawVolume>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHooks {
    dir: PathBuf,
    timeout: Option<String>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    vg: String,
    iscsi: Option<Iscsi2>,
    #[serde(default)]
    export: bool,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Iscsi2 {
    portal: String,
    iqn: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVolume {
    lv: String,
    name: Option<String>,
    snapshot_size: Option<String>,
    bandwidth: Option<String>,
    verify: Option<bool>,
    target_lv: Option<String>,
    #[serde(default)]
    after: Vec<String>,
}

fn size(s: &str) -> Result<SnapshotSize, LoadError> {
    let bad = || LoadError(format!("bad size {s}"));
    if let Some(p) = s.strip_suffix('%') {
        return p
            .trim()
            .parse()
            .map(SnapshotSize::PercentOfOrigin)
            .map_err(|_| bad());
    }
    bytes(s).map(SnapshotSize::Bytes).ok_or_else(bad)
}

fn bytes(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let mult: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        _ => return None,
    };
    let n: f64 = num.trim().parse().ok()?;
    Some((n * mult as f64).ceil() as u64)
}

fn rate(s: &str) -> Result<Bandwidth, LoadError> {
    if s == "unlimited" {
        return Ok(Bandwidth::Unlimited);
    }
    s.strip_suffix("/s")
        .and_then(bytes)
        .map(Bandwidth::BytesPerSecond)
        .ok_or_else(|| LoadError(format!("bad rate {s}")))
}

fn duration(s: &str) -> Result<Duration, LoadError> {
    let (n, mult) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1),
        Some('m') => (&s[..s.len() - 1], 60),
        Some('h') => (&s[..s.len() - 1], 3600),
        _ => return Err(LoadError(format!("bad duration {s}"))),
    };
    let n: u64 = n
        .parse()
        .map_err(|_| LoadError(format!("bad duration {s}")))?;
    Ok(Duration::from_secs(n * mult))
}

pub fn parse(_source_name: &str, text: &str) -> Result<Plan, LoadError> {
    let raw: Raw = serde_saphyr::from_str(text).map_err(|e| LoadError(e.to_string()))?;
    if raw.version != 1 {
        return Err(LoadError("version must be 1".into()));
    }
    let d_size = raw
        .defaults
        .get("snapshot_size")
        .map(|s| size(s))
        .transpose()?;
    let d_rate = raw.defaults.get("bandwidth").map(|s| rate(s)).transpose()?;
    let d_verify = raw
        .defaults
        .get("verify")
        .map(|s| s == "true")
        .unwrap_or(true);
    let mut volumes = Vec::new();
    for v in raw.volumes {
        let (vg, lv) =
            v.lv.split_once('/')
                .ok_or_else(|| LoadError("lv must be vg/lv".into()))?;
        volumes.push(Volume {
            name: v.name.unwrap_or_else(|| lv.to_string()),
            source: LvPath {
                vg: vg.into(),
                lv: lv.into(),
            },
            target_lv: v.target_lv.unwrap_or_else(|| lv.to_string()),
            snapshot_size: v
                .snapshot_size
                .as_deref()
                .map(size)
                .transpose()?
                .or(d_size)
                .unwrap_or(SnapshotSize::PercentOfOrigin(20.0)),
            bandwidth: v
                .bandwidth
                .as_deref()
                .map(rate)
                .transpose()?
                .or(d_rate)
                .unwrap_or(Bandwidth::Unlimited),
            verify: v.verify.unwrap_or(d_verify),
            after: v.after,
        });
    }
    Ok(Plan {
        name: raw.name,
        state_dir: raw.state_dir.unwrap_or_else(|| DEFAULT_STATE_DIR.into()),
        hooks: raw
            .hooks
            .map(|h| -> Result<Hooks, LoadError> {
                Ok(Hooks {
                    dir: h.dir,
                    timeout: h
                        .timeout
                        .as_deref()
                        .map(duration)
                        .transpose()?
                        .unwrap_or(DEFAULT_HOOK_TIMEOUT),
                })
            })
            .transpose()?,
        target: Target {
            vg: raw.target.vg,
            iscsi: raw.target.iscsi.map(|i| Iscsi {
                portal: i.portal,
                iqn: i.iqn,
            }),
            export: raw.target.export,
        },
        volumes,
    })
}
