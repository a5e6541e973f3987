//! The meaning checks: from the plan as written ([`RawPlan`]) to the plan as
//! meant ([`Plan`]), with every default applied. Pure: nothing here looks at
//! the machine. Every problem is collected, not only the first.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use miette::SourceSpan;

use super::diagnostic::{Problem, did_you_mean, quoted, shown, some_of};
use super::model::*;
use super::names::{check_lv, check_plan_name, check_vg};
use super::raw::{RawIscsi, RawPlan, RawTarget, RawVolume, Sp};
use super::units::{UnitError, parse_duration, parse_rate, parse_size};
use crate::tags;

/// Linux's `PATH_MAX` less the NUL: a longer path fails every system call.
const MAX_PATH_BYTES: usize = 4095;
/// Linux's `NAME_MAX`: the longest file name in a directory.
const MAX_NAME_BYTES: usize = 255;

/// Plan language versions this snapplan reads.
pub const SUPPORTED_VERSIONS: &[u64] = &[1];

/// Checks `raw` and builds the plan; `None` if anything is wrong, with the
/// reasons pushed to `problems`.
pub fn validate(raw: &RawPlan, problems: &mut Vec<Problem>) -> Option<Plan> {
    let before = problems.len();
    let mut cx = Checker { problems };
    cx.version(&raw.version);
    let name = cx.plan_name(&raw.name);
    let state_dir = raw
        .state_dir
        .as_ref()
        .map(|d| cx.absolute_dir("state_dir", d))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));

    let defaults = raw.defaults.clone().unwrap_or_default();
    let default_size = defaults
        .snapshot_size
        .as_ref()
        .and_then(|s| cx.unit("snapshot_size", s, parse_size))
        .unwrap_or(DEFAULT_SNAPSHOT_SIZE);
    let default_max = defaults.snapshot_size_max.as_ref().and_then(|s| {
        cx.unit("snapshot_size_max", s, parse_size)
            .map(|m| (m, s.span))
    });
    let default_rate = defaults
        .bandwidth
        .as_ref()
        .and_then(|s| cx.unit("bandwidth", s, parse_rate))
        .unwrap_or(Bandwidth::Unlimited);
    let default_verify = defaults.verify.as_ref().is_none_or(|v| v.value);
    let default_retain = defaults.retain_base.as_ref().is_none_or(|v| v.value);

    let hooks = raw.hooks.as_ref().map(|h| Hooks {
        dir: cx.absolute_dir("hooks.dir", &h.dir),
        timeout: h
            .timeout
            .as_ref()
            .and_then(|t| cx.unit("timeout", t, parse_duration))
            .unwrap_or(DEFAULT_HOOK_TIMEOUT),
    });

    let target_vg = &raw.target.vg;
    if raw.incomplete.target {
        // Missing or malformed: reported already, the placeholder is valid.
    } else if let Err(why) = check_vg(&target_vg.value) {
        cx.bad_name(
            "target.vg",
            target_vg,
            &why,
            "the volume group that holds the backups, e.g. `backup`",
        );
    }
    cx.generations(raw);
    let target = Target {
        vg: target_vg.value.clone(),
        iscsi: raw.target.iscsi.as_ref().map(|i| cx.iscsi(i)),
        export: raw.target.export.as_ref().is_some_and(|e| e.value),
        keep_previous: raw.target.pool.is_none()
            && raw.target.keep_previous.as_ref().is_none_or(|k| k.value),
        generations: raw.target.pool.as_ref().map(|pool| Generations {
            pool: pool.value.clone(),
            threshold_percent: raw
                .target
                .pool_threshold
                .as_ref()
                .map_or(DEFAULT_POOL_THRESHOLD, |t| t.value.clamp(1, 99) as u8),
            retention: retention(raw.retention.as_ref()),
        }),
    };

    if raw.volumes.value.is_empty() && !raw.incomplete.volumes {
        cx.problems.push(
            Problem::new(
                "plan::no_volumes",
                "the plan backs up no volume",
                raw.volumes.span,
            )
            .label("empty list")
            .help("add at least one volume, e.g. `- lv: vg0/root`"),
        );
    }
    let mut volumes = Vec::with_capacity(raw.volumes.value.len());
    for v in &raw.volumes.value {
        let source = cx.source(&v.lv);
        let snapshot_size = v
            .snapshot_size
            .as_ref()
            .and_then(|s| cx.unit("snapshot_size", s, parse_size))
            .unwrap_or(default_size);
        let snapshot_size_max = match &v.snapshot_size_max {
            Some(s) => cx
                .unit("snapshot_size_max", s, parse_size)
                .map(|m| (m, s.span)),
            None => default_max,
        };
        if let Some((max, span)) = snapshot_size_max {
            cx.max_not_below_size(snapshot_size, max, span);
        }
        volumes.push(Volume {
            name: cx.volume_name(v, &source),
            target_lv: cx.target_lv(v, &source),
            source,
            snapshot_size,
            snapshot_size_set: v.snapshot_size.is_some(),
            snapshot_size_max: snapshot_size_max.map(|(m, _)| m),
            bandwidth: v
                .bandwidth
                .as_ref()
                .and_then(|s| cx.unit("bandwidth", s, parse_rate))
                .unwrap_or(default_rate),
            verify: v.verify.as_ref().map_or(default_verify, |b| b.value),
            retain_base: v.retain_base.as_ref().map_or(default_retain, |b| b.value),
            after: v.after.iter().flatten().map(|a| a.value.clone()).collect(),
        });
    }

    let target_vg = (!raw.incomplete.target).then_some(target.vg.as_str());
    cx.unique_volumes(&raw.volumes.value, &volumes, target_vg);
    let target_vg = (!raw.incomplete.target && check_vg(&target.vg).is_ok()).then_some(target_vg);
    cx.lvm_names(
        &raw.volumes.value,
        &volumes,
        target_vg.flatten().map(|_| &raw.target.vg),
        raw.target.pool.is_some(),
    );
    if !raw.incomplete.volumes {
        // With a volume left out, `after:` may name it: no guessing.
        cx.ordering(&raw.volumes.value, &volumes);
    }

    (problems.len() == before && !raw.incomplete.any()).then_some(Plan {
        name,
        state_dir,
        target_lock_dir: PathBuf::from(DEFAULT_TARGET_LOCK_DIR),
        hooks,
        target,
        volumes,
    })
}

struct Checker<'p> {
    problems: &'p mut Vec<Problem>,
}

impl Checker<'_> {
    fn version(&mut self, version: &Sp<u64>) {
        if !SUPPORTED_VERSIONS.contains(&version.value) {
            self.problems.push(
                Problem::new(
                    "plan::bad_version",
                    format!("plan version {} is not supported", version.value),
                    version.span,
                )
                .label("unsupported version")
                .help("the supported plan versions are: 1"),
            );
        }
    }

    /// `target.pool`, `target.pool_threshold` and `retention:`: each one's
    /// own rules, and the keys that do not go together.
    fn generations(&mut self, raw: &RawPlan) {
        let RawTarget {
            pool,
            pool_threshold,
            keep_previous,
            ..
        } = &raw.target;
        if let Some(retention) = &raw.retention {
            if pool.is_none() {
                self.problems.push(
                    Problem::new(
                        "plan::retention_without_pool",
                        "`retention` applies only with `target.pool`",
                        retention.at,
                    )
                    .label("no `target.pool` in this plan")
                    .help("without a pool each volume has one backup LV, rewritten by every run: remove `retention:`"),
                );
            }
            if let Some(keep_last) = &retention.keep_last
                && keep_last.value == 0
            {
                self.problems.push(
                    Problem::new(
                        "plan::bad_retention",
                        "`retention.keep_last` must be at least 1",
                        keep_last.span,
                    )
                    .label("0 would keep no generation")
                    .help("the newest complete generation is always kept: write `keep_last: 1` or more"),
                );
            }
        }
        if let Some(threshold) = pool_threshold {
            if pool.is_none() {
                self.problems.push(
                    Problem::new(
                        "plan::threshold_without_pool",
                        "`target.pool_threshold` applies only with `target.pool`",
                        threshold.span,
                    )
                    .label("no `target.pool` in this plan")
                    .help("remove `pool_threshold:`"),
                );
            } else if !(1..=99).contains(&threshold.value) {
                self.problems.push(
                    Problem::new(
                        "plan::bad_pool_threshold",
                        format!(
                            "`target.pool_threshold` must be a percentage from 1 to 99, not {}",
                            threshold.value
                        ),
                        threshold.span,
                    )
                    .label("out of range")
                    .help("the default, 95, stops a volume's copy before the pool's data or metadata is 95% full"),
                );
            }
        }
        let Some(pool) = pool else { return };
        if let Err(why) = check_lv(&pool.value) {
            self.bad_name(
                "target.pool",
                pool,
                &why,
                "the thin pool's LV name inside `target.vg`, e.g. `generations`",
            );
        }
        if let Some(keep_previous) = keep_previous {
            self.problems.push(
                Problem::new(
                    "plan::keep_previous_with_pool",
                    "`target.keep_previous` does not apply with `target.pool`",
                    keep_previous.span,
                )
                .label("set here")
                .help("with a pool every run adds a new generation and never rewrites an older one, so there is no previous backup to keep: remove `keep_previous:`"),
            );
        }
    }

    fn bad_name(&mut self, key: &str, name: &Sp<String>, why: &str, help: &str) {
        self.problems.push(
            Problem::new(
                "plan::bad_name",
                format!("`{key}` {} {why}", quoted(&name.value)),
                name.span,
            )
            .label("invalid name")
            .help(help.to_string()),
        );
    }

    fn plan_name(&mut self, name: &Sp<String>) -> String {
        if let Err(why) = check_plan_name(&name.value) {
            self.bad_name(
                "name",
                name,
                &why,
                "the plan name becomes file, lock and tag names: use a-z, 0-9, `_` and `-`, e.g. `home-server`",
            );
        }
        name.value.clone()
    }

    /// A directory that cron (whose working directory is `/`) and an admin
    /// at a shell must read the same way: absolute.
    fn absolute_dir(&mut self, key: &str, dir: &Sp<String>) -> PathBuf {
        let path = PathBuf::from(&dir.value);
        if !path.is_absolute() {
            self.problems.push(
                Problem::new(
                    "plan::relative_path",
                    format!("`{key}` must be an absolute path"),
                    dir.span,
                )
                .label("relative path")
                .help("cron runs with `/` as its working directory, so a relative path would mean something else there; write it from `/`"),
            );
        } else if path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        {
            self.problems.push(
                Problem::new(
                    "plan::relative_path",
                    format!("`{key}` must not contain `..`"),
                    dir.span,
                )
                .label("contains `..`")
                .help("write the directory's real path"),
            );
        }
        if let Some(c) = dir.value.chars().find(|&c| crate::printable::is_unsafe(c)) {
            // A NUL cuts the path short for every system call; a newline or
            // an escape forges what `plan` and `check` print.
            self.problems.push(
                Problem::new(
                    "plan::bad_path",
                    format!(
                        "`{key}` contains the control character {}",
                        crate::printable::escape(&c.to_string())
                    ),
                    dir.span,
                )
                .label("control character in this path")
                .help("write the path without control or invisible formatting characters (no NUL, newline, escape or bidirectional marks)"),
            );
        } else if dir.value.len() > MAX_PATH_BYTES {
            self.problems.push(
                Problem::new(
                    "plan::bad_path",
                    format!(
                        "`{key}` is {} bytes long, more than Linux's {MAX_PATH_BYTES}",
                        dir.value.len()
                    ),
                    dir.span,
                )
                .label("path too long")
                .help("use a shorter directory"),
            );
        } else if let Some(part) = dir.value.split('/').find(|p| p.len() > MAX_NAME_BYTES) {
            self.problems.push(
                Problem::new(
                    "plan::bad_path",
                    format!(
                        "`{key}` has a component of {} bytes, more than Linux's {MAX_NAME_BYTES}",
                        part.len()
                    ),
                    dir.span,
                )
                .label("file name too long")
                .help("use shorter directory names"),
            );
        }
        path
    }

    fn unit<T>(
        &mut self,
        key: &str,
        text: &Sp<String>,
        parse: fn(&str) -> Result<T, UnitError>,
    ) -> Option<T> {
        match parse(&text.value) {
            Ok(value) => Some(value),
            Err(e) => {
                self.problems.push(
                    Problem::new(
                        "plan::bad_value",
                        format!("`{key}`: {}", e.message),
                        text.span,
                    )
                    .label("invalid value")
                    .help(e.help),
                );
                None
            }
        }
    }

    /// A `snapshot_size_max` below the volume's `snapshot_size` (both bytes
    /// or both percentages; a mix is compared once the origin is known).
    fn max_not_below_size(&mut self, size: SnapshotSize, max: SnapshotSize, span: SourceSpan) {
        let below = match (size, max) {
            (SnapshotSize::Bytes(s), SnapshotSize::Bytes(m)) => m < s,
            (SnapshotSize::PercentOfOrigin(s), SnapshotSize::PercentOfOrigin(m)) => m < s,
            _ => false,
        };
        if below {
            self.problems.push(
                Problem::new(
                    "plan::max_below_size",
                    "`snapshot_size_max` is smaller than the volume's `snapshot_size`",
                    span,
                )
                .label("below the snapshot's own size")
                .help(
                    "give `snapshot_size_max` at least the `snapshot_size`, or remove it to \
                     keep the snapshot at its size",
                ),
            );
        }
    }

    fn source(&mut self, lv: &Sp<String>) -> LvPath {
        let parts: Vec<&str> = lv.value.split('/').collect();
        let [vg, name] = parts[..] else {
            self.problems.push(
                Problem::new(
                    "plan::bad_lv",
                    format!("`lv` {} is not `vg/lv`", quoted(&lv.value)),
                    lv.span,
                )
                .label("expected volume-group/logical-volume")
                .help("name the origin LV with its volume group, e.g. `vg0/root` (as `lvs` shows them)"),
            );
            return LvPath {
                vg: String::new(),
                lv: lv.value.clone(),
            };
        };
        if let Err(why) = check_vg(vg) {
            self.bad_name(
                "lv",
                lv,
                &format!("has a volume group name that {why}"),
                "name the origin LV as `vg/lv`, e.g. `vg0/root`",
            );
        } else if let Err(why) = check_lv(name) {
            self.bad_name(
                "lv",
                lv,
                &format!("has a logical volume name that {why}"),
                "name the origin LV as `vg/lv`, e.g. `vg0/root`",
            );
        }
        LvPath {
            vg: vg.into(),
            lv: name.into(),
        }
    }

    fn volume_name(&mut self, raw: &RawVolume, source: &LvPath) -> String {
        match &raw.name {
            Some(name) => {
                if let Err(why) = check_vg(&name.value) {
                    self.bad_name("name", name, &why, "a volume name is used by `after:` and in reports; use letters, digits and + _ . -");
                }
                name.value.clone()
            }
            None => source.lv.clone(),
        }
    }

    fn target_lv(&mut self, raw: &RawVolume, source: &LvPath) -> String {
        match &raw.target_lv {
            Some(name) => {
                if let Err(why) = check_lv(&name.value) {
                    self.bad_name(
                        "target_lv",
                        name,
                        &why,
                        "the backup LV's name inside `target.vg`, e.g. `home_bk`",
                    );
                }
                name.value.clone()
            }
            None => source.lv.clone(),
        }
    }

    fn iscsi(&mut self, raw: &RawIscsi) -> Iscsi {
        if let Err(why) = check_portal(&raw.portal.value) {
            self.problems.push(
                Problem::new(
                    "plan::bad_portal",
                    format!("iSCSI portal {} {why}", quoted(&raw.portal.value)),
                    raw.portal.span,
                )
                .label("invalid portal")
                .help("write `host` or `host:port`, e.g. `192.0.2.10:3260`, `nas.example.org` or `[2001:db8::1]:3260`"),
            );
        }
        if let Err(why) = check_iqn(&raw.iqn.value) {
            self.problems.push(
                Problem::new(
                    "plan::bad_iqn",
                    format!("iSCSI target name {} {why}", quoted(&raw.iqn.value)),
                    raw.iqn.span,
                )
                .label("invalid target name")
                .help("write the target's name as `iscsiadm -m discovery` shows it, e.g. `iqn.2026-01.org.example:backup`"),
            );
        }
        Iscsi {
            portal: raw.portal.value.clone(),
            iqn: raw.iqn.value.clone(),
        }
    }

    /// Names, origins and backup LVs must not collide: a collision means two
    /// copies fighting over one LV, or a backup overwriting an origin.
    fn unique_volumes(&mut self, raw: &[RawVolume], volumes: &[Volume], target_vg: Option<&str>) {
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut sources: HashMap<&LvPath, usize> = HashMap::new();
        let mut targets: HashMap<&str, usize> = HashMap::new();
        for (i, v) in volumes.iter().enumerate() {
            // A malformed `lv` (already reported) has no meaningful default name.
            let malformed = v.source.vg.is_empty();
            if malformed && raw[i].name.is_none() {
                continue;
            }
            let name_span = raw[i].name.as_ref().map_or(raw[i].lv.span, |n| n.span);
            if let Some(&first) = names.get(v.name.as_str()) {
                let first_span = raw[first]
                    .name
                    .as_ref()
                    .map_or(raw[first].lv.span, |n| n.span);
                self.problems.push(
                    Problem::new(
                        "plan::duplicate_volume",
                        format!("two volumes are named `{}`", v.name),
                        name_span,
                    )
                    .label("second volume with this name")
                    .also(first_span, "first one")
                    .help("volume names must be unique (they default to the LV name): set `name:` on one of them"),
                );
            } else {
                names.insert(&v.name, i);
            }
            if malformed {
                continue;
            }
            if let Some(&first) = sources.get(&v.source) {
                self.problems.push(
                    Problem::new(
                        "plan::duplicate_source",
                        format!("{} is backed up twice", v.source),
                        raw[i].lv.span,
                    )
                    .label("again here")
                    .also(raw[first].lv.span, "first here")
                    .help("list each origin LV once"),
                );
            } else {
                sources.insert(&v.source, i);
            }
            let target_span = raw[i].target_lv.as_ref().map_or(raw[i].lv.span, |t| t.span);
            if let Some(&first) = targets.get(v.target_lv.as_str()) {
                let first_span = raw[first]
                    .target_lv
                    .as_ref()
                    .map_or(raw[first].lv.span, |t| t.span);
                let backup = match target_vg {
                    Some(vg) => format!("{vg}/{}", v.target_lv),
                    None => v.target_lv.clone(),
                };
                self.problems.push(
                    Problem::new(
                        "plan::duplicate_target",
                        format!("two volumes would be backed up to the same LV {backup}"),
                        target_span,
                    )
                    .label(format!("backed up to {backup}"))
                    .also(first_span, "so is this one")
                    .help("each backup needs its own LV: set `target_lv:` on one of them"),
                );
            } else {
                targets.insert(&v.target_lv, i);
            }
        }
        // A backup LV that is also an origin would be overwritten by a copy.
        let Some(target_vg) = target_vg else {
            return;
        };
        for (i, v) in volumes.iter().enumerate() {
            let backup = LvPath {
                vg: target_vg.into(),
                lv: v.target_lv.clone(),
            };
            if let Some(&origin) = sources.get(&backup) {
                let target_span = raw[i].target_lv.as_ref().map_or(raw[i].lv.span, |t| t.span);
                let mut problem = Problem::new(
                    "plan::backup_over_origin",
                    if origin == i {
                        format!("the backup of {backup} would overwrite {backup} itself")
                    } else {
                        format!(
                            "the backup of {} would overwrite {backup}, which this plan backs up",
                            v.source
                        )
                    },
                    target_span,
                )
                .label(format!("backed up to {backup}"));
                if origin != i {
                    problem = problem.also(raw[origin].lv.span, "this origin");
                }
                self.problems.push(problem.help(
                    "backups go to `target.vg`: use a different volume group for the target, or set `target_lv:`",
                ));
            }
        }
    }

    /// What LVM would refuse or trip over halfway through a run, knowable
    /// from the names alone: a target VG that holds an origin (deactivated
    /// and exported at the end of the run), device-mapper names too long,
    /// and LVs the plan names that share a name with a snapshot apply
    /// creates. `target_vg` is `None` when it is missing or invalid.
    fn lvm_names(
        &mut self,
        raw: &[RawVolume],
        volumes: &[Volume],
        target_vg: Option<&Sp<String>>,
        pool: bool,
    ) {
        // Only names that are valid LVM names (the others are reported).
        let valid: Vec<bool> = volumes
            .iter()
            .map(|v| check_vg(&v.source.vg).is_ok() && check_lv(&v.source.lv).is_ok())
            .collect();
        let target_span = |i: usize| raw[i].target_lv.as_ref().map_or(raw[i].lv.span, |t| t.span);

        if let Some(tvg) = target_vg {
            let held: Vec<usize> = (0..volumes.len())
                .filter(|&i| valid[i] && volumes[i].source.vg == tvg.value)
                .collect();
            if let Some(&first) = held.first() {
                let mut problem = Problem::new(
                    "plan::target_holds_origin",
                    format!(
                        "`target.vg` {} also holds {} of the volumes this plan backs up ({})",
                        tvg.value,
                        held.len(),
                        some_of(held.iter().map(|&i| raw[i].lv.value.as_str()), 5)
                    ),
                    tvg.span,
                )
                .label("the backup VG")
                .also(raw[first].lv.span, "an origin in it");
                for &i in held.iter().skip(1).take(4) {
                    problem = problem.also(raw[i].lv.span, "another origin in it");
                }
                self.problems.push(problem.help(format!(
                    "every run ends by deactivating the backup VG (and exporting it with `export: true`), which would take {} offline: keep the backups in a volume group of their own, e.g. one on the backup disk",
                    tvg.value
                )));
            }
        }

        // device-mapper names: `vg-lv` with dashes doubled, at most 127
        // bytes, including the layers LVM adds while a snapshot exists.
        for (i, v) in volumes.iter().enumerate() {
            if !valid[i] {
                continue;
            }
            let (vg, lv) = (&v.source.vg, &v.source.lv);
            let origin_layer = tags::dm_name_len(vg, lv) + tags::ORIGIN_LAYER.len();
            let snapshot = tags::snapshot_name(&v.source);
            if origin_layer > tags::MAX_DM_NAME {
                self.problems.push(
                    Problem::new(
                        "plan::name_too_long",
                        format!(
                            "{} cannot be snapshotted: while a snapshot exists its origin device is `{}{}`, {origin_layer} bytes, and device-mapper allows {}",
                            v.source,
                            shown(&tags::dm_name(vg, lv)),
                            tags::ORIGIN_LAYER,
                            tags::MAX_DM_NAME
                        ),
                        raw[i].lv.span,
                    )
                    .label("name too long for device-mapper")
                    .help("device-mapper names are `vg-lv` with every `-` doubled: rename the LV (`lvrename`) or its VG to something shorter"),
                );
            } else if !tags::snapshot_fits(vg, &snapshot) {
                self.problems.push(
                    Problem::new(
                        "plan::name_too_long",
                        format!(
                            "the volume group name of {} is too long for any snapshot name to fit device-mapper's {} bytes",
                            v.source,
                            tags::MAX_DM_NAME
                        ),
                        raw[i].lv.span,
                    )
                    .label("name too long for device-mapper")
                    .help("rename the volume group (`vgrename`) to something shorter"),
                );
            }
            if let Some(tvg) = target_vg
                && check_lv(&v.target_lv).is_ok()
            {
                let len = tags::dm_name_len(&tvg.value, &v.target_lv);
                let generation = tags::generation_name(&v.target_lv, "YYYYMMDDTHHMMSSZ");
                if len <= tags::MAX_DM_NAME
                    && pool
                    && !tags::generation_fits(&tvg.value, &v.target_lv)
                {
                    self.problems.push(
                        Problem::new(
                            "plan::name_too_long",
                            format!(
                                "the generations of {} would be named `{}/{}`, too long for LVM ({} bytes) or device-mapper ({} bytes)",
                                v.name,
                                tvg.value,
                                shown(&generation),
                                tags::MAX_LV_NAME,
                                tags::MAX_DM_NAME
                            ),
                            target_span(i),
                        )
                        .label("name too long for a generation")
                        .help("set a shorter `target_lv:`: a generation adds `.` and 16 characters of time to it"),
                    );
                }
                if len > tags::MAX_DM_NAME {
                    self.problems.push(
                        Problem::new(
                            "plan::name_too_long",
                            format!(
                                "the backup LV {}/{} would have the device-mapper name `{}`, {len} bytes, and device-mapper allows {}",
                                tvg.value,
                                shown(&v.target_lv),
                                shown(&tags::dm_name(&tvg.value, &v.target_lv)),
                                tags::MAX_DM_NAME
                            ),
                            target_span(i),
                        )
                        .label("name too long for device-mapper")
                        .help("set a shorter `target_lv:` (device-mapper names are `vg-lv` with every `-` doubled)"),
                    );
                }
            }
        }

        // Snapshots against every other LV the plan names. Apply computes
        // snapshot names with this same function.
        #[derive(Clone, Copy)]
        enum Role {
            Origin,
            Backup,
            Snapshot,
        }
        let mut named: HashMap<LvPath, (Role, usize)> = HashMap::new();
        for (i, v) in volumes.iter().enumerate() {
            if !valid[i] {
                continue;
            }
            named.entry(v.source.clone()).or_insert((Role::Origin, i));
            if let Some(tvg) = target_vg {
                let backup = LvPath {
                    vg: tvg.value.clone(),
                    lv: v.target_lv.clone(),
                };
                named.entry(backup).or_insert((Role::Backup, i));
            }
        }
        for (i, v) in volumes.iter().enumerate() {
            if !valid[i] {
                continue;
            }
            let snapshot = tags::snapshot_path(&v.source);
            let clash = match named.get(&snapshot) {
                Some(&(role, j)) => Some((role, j)),
                None => {
                    named.insert(snapshot.clone(), (Role::Snapshot, i));
                    None
                }
            };
            let Some((role, j)) = clash else {
                continue;
            };
            if matches!(role, Role::Snapshot) && volumes[j].source == v.source {
                continue; // the same origin twice, reported as such
            }
            let (what, at) = match role {
                Role::Origin => (
                    format!("the origin of volume `{}`", shown(&volumes[j].name)),
                    raw[j].lv.span,
                ),
                Role::Backup => (
                    format!("the backup LV of volume `{}`", shown(&volumes[j].name)),
                    target_span(j),
                ),
                Role::Snapshot => (
                    format!("the snapshot of {}", volumes[j].source),
                    raw[j].lv.span,
                ),
            };
            self.problems.push(
                Problem::new(
                    "plan::snapshot_name_taken",
                    format!(
                        "the snapshot of {} would be named {snapshot}, which is also {what}",
                        v.source
                    ),
                    raw[i].lv.span,
                )
                .label(format!("snapshotted as {snapshot}"))
                .also(at, format!("this is {snapshot}"))
                .help(format!(
                    "snapplan names the snapshot of `vg/lv` `vg/lv{}` (shortened with a hash when too long): rename the LV that takes that name, or set another `target_lv:`",
                    tags::SNAPSHOT_SUFFIX
                )),
            );
        }
    }

    /// `after:` names existing volumes, not itself, and has no cycles.
    fn ordering(&mut self, raw: &[RawVolume], volumes: &[Volume]) {
        let index: BTreeMap<&str, usize> = volumes
            .iter()
            .enumerate()
            .map(|(i, v)| (v.name.as_str(), i))
            .rev() // the first of duplicate names wins, as reported above
            .collect();
        let mut edges: Vec<Vec<(usize, SourceSpan)>> = vec![Vec::new(); volumes.len()];
        let mut complete = true;
        let mut unknown = 0;
        // The same for every unknown name: listed once, not once per name.
        let mut listing: Option<String> = None;
        for (i, v) in raw.iter().enumerate() {
            let mut seen: HashMap<&str, SourceSpan> = HashMap::new();
            for name in v.after.iter().flatten() {
                if let Some(first) = seen.insert(&name.value, name.span) {
                    self.problems.push(
                        Problem::new(
                            "plan::duplicate_after",
                            format!("`after:` lists `{}` twice", shown(&name.value)),
                            name.span,
                        )
                        .label("again here")
                        .also(first, "first here")
                        .help("list each volume once"),
                    );
                    continue;
                }
                match index.get(name.value.as_str()) {
                    Some(&j) if j == i => {
                        complete = false;
                        self.problems.push(
                            Problem::new(
                                "plan::after_self",
                                format!("volume `{}` waits for itself", shown(&name.value)),
                                name.span,
                            )
                            .label("this is the volume's own name")
                            .help("remove it from `after:`: a volume cannot start after itself"),
                        );
                    }
                    Some(&j) => edges[i].push((j, name.span)),
                    None => {
                        complete = false;
                        let names = volumes.iter().map(|v| v.name.as_str());
                        // Past the problems that are shown, a suggestion
                        // would only cost time (names x volumes).
                        unknown += 1;
                        let close = (unknown <= MAX_SUGGESTIONS)
                            .then(|| did_you_mean(&name.value, names))
                            .flatten();
                        let help = match close {
                            Some(close) => format!("did you mean `{close}`?"),
                            None => format!(
                                "`after:` takes volume names (the LV name unless `name:` is set); this plan has: {}",
                                listing.get_or_insert_with(|| {
                                    some_of(volumes.iter().map(|v| v.name.as_str()), 20)
                                })
                            ),
                        };
                        self.problems.push(
                            Problem::new(
                                "plan::unknown_volume",
                                format!(
                                    "`after:` names `{}`, which is not a volume of this plan",
                                    shown(&name.value)
                                ),
                                name.span,
                            )
                            .label("unknown volume")
                            .help(help),
                        );
                    }
                }
            }
        }
        if complete {
            for cycle in find_cycles(&edges) {
                self.report_cycle(volumes, &cycle);
            }
        }
    }

    fn report_cycle(&mut self, volumes: &[Volume], cycle: &[(usize, usize, SourceSpan)]) {
        // A long cycle is shown by its first steps: the point is to find
        // one entry to remove, and a thousand labels help nobody.
        let shown = &cycle[..cycle.len().min(MAX_CYCLE_STEPS_SHOWN)];
        let mut path: Vec<&str> = shown
            .iter()
            .map(|(from, _, _)| volumes[*from].name.as_str())
            .collect();
        if shown.len() < cycle.len() {
            path.push("...");
        }
        path.push(&volumes[cycle[0].0].name);
        let length = if shown.len() < cycle.len() {
            format!(" ({} volumes)", cycle.len())
        } else {
            String::new()
        };
        let waits = |(from, to, _): &(usize, usize, SourceSpan)| {
            format!(
                "`{}` waits for `{}`",
                volumes[*from].name, volumes[*to].name
            )
        };
        let mut problem = Problem::new(
            "plan::after_cycle",
            format!(
                "`after:` makes volumes wait for each other in a cycle{length}: {}",
                path.join(" -> ")
            ),
            shown[0].2,
        )
        .label(waits(&shown[0]));
        for step in &shown[1..] {
            problem = problem.also(step.2, waits(step));
        }
        self.problems
            .push(problem.help("remove one of these `after:` entries to break the cycle"));
    }
}

/// How many unknown names get a did-you-mean: more than are ever shown.
const MAX_SUGGESTIONS: usize = super::load::MAX_PROBLEMS_SHOWN + 1;
/// How many steps of one cycle a diagnostic shows.
const MAX_CYCLE_STEPS_SHOWN: usize = 8;
/// How many cycles are reported; fixing these usually fixes the rest, and
/// the bound keeps hostile plans cheap.
const MAX_CYCLES_REPORTED: usize = 10;

/// One elementary cycle per back edge of a depth-first search (at most
/// [`MAX_CYCLES_REPORTED`]), each as (waiting volume, awaited volume, where
/// it is written) steps. Iterative, so that a plan with thousands of
/// chained volumes cannot exhaust the stack.
/// `retention:` with its defaults: left out, the 7 newest; a key left out
/// keeps nothing by its rule, but `keep_last`, which keeps 7.
fn retention(raw: Option<&super::raw::RawRetention>) -> Retention {
    let Some(raw) = raw else {
        return Retention::default();
    };
    let count = |n: &Option<Sp<u64>>| {
        n.as_ref()
            .map_or(0, |n| n.value.min(u32::MAX as u64) as u32)
    };
    Retention {
        keep_last: raw
            .keep_last
            .as_ref()
            .map_or(Retention::default().keep_last, |n| {
                n.value.clamp(1, u32::MAX as u64) as u32
            }),
        keep_daily: count(&raw.keep_daily),
        keep_weekly: count(&raw.keep_weekly),
        keep_monthly: count(&raw.keep_monthly),
    }
}

fn find_cycles(edges: &[Vec<(usize, SourceSpan)>]) -> Vec<Vec<(usize, usize, SourceSpan)>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Open,
        Done,
    }
    let mut state = vec![State::New; edges.len()];
    let mut cycles = Vec::new();
    for root in 0..edges.len() {
        if state[root] != State::New {
            continue;
        }
        state[root] = State::Open;
        // Volumes being visited with the index of their next edge, and the
        // edges that led to them (one fewer: the root has none).
        let mut frames: Vec<(usize, usize)> = vec![(root, 0)];
        let mut path: Vec<(usize, usize, SourceSpan)> = Vec::new();
        while let Some((node, next_edge)) = frames.last_mut() {
            let node = *node;
            let Some(&(next, span)) = edges[node].get(*next_edge) else {
                state[node] = State::Done;
                frames.pop();
                path.pop();
                continue;
            };
            *next_edge += 1;
            match state[next] {
                State::Open if cycles.len() < MAX_CYCLES_REPORTED => {
                    // The cycle is the part of the path from `next` on.
                    let start = path
                        .iter()
                        .position(|(from, _, _)| *from == next)
                        .unwrap_or(path.len());
                    let mut cycle = path[start..].to_vec();
                    cycle.push((node, next, span));
                    cycles.push(cycle);
                }
                State::New => {
                    state[next] = State::Open;
                    path.push((node, next, span));
                    frames.push((next, 0));
                }
                State::Open | State::Done => {}
            }
        }
    }
    cycles
}

/// `host` or `host:port`, IPv6 in brackets.
fn check_portal(portal: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = portal.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return Err("opens `[` without closing it".into());
        };
        if addr.parse::<Ipv6Addr>().is_err() {
            return Err(format!(
                "has {addr:?} in brackets, which is not an IPv6 address"
            ));
        }
        match after {
            "" => return Ok(()),
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return Err("has text after `]` that is not `:port`".into()),
            },
        }
    } else {
        match portal.matches(':').count() {
            0 => (Some(portal), None),
            1 => {
                let (h, p) = portal.split_once(':').expect("one colon");
                (Some(h), Some(p))
            }
            _ => return Err("has several `:`; an IPv6 address must be in brackets".into()),
        }
    };
    if let Some(host) = host {
        check_host(host)?;
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => {
                return Err(format!(
                    "has port {port:?}, which is not a number from 1 to 65535"
                ));
            }
        }
    }
    Ok(())
}

fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("has no host".into());
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return host
            .parse::<Ipv4Addr>()
            .map(|_| ())
            .map_err(|_| format!("has {host:?}, which is not a valid IPv4 address"));
    }
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let name = host.strip_suffix('.').unwrap_or(host);
    if host.len() > 253 || !name.split('.').all(valid_label) {
        return Err(format!("has {host:?}, which is not a valid host name"));
    }
    Ok(())
}

/// `iqn.YYYY-MM.reversed.domain[:anything]`, `eui.` + 16 hex digits or
/// `naa.` + 16 or 32 hex digits (RFC 3720, RFC 3980), at most 223 bytes.
fn check_iqn(name: &str) -> Result<(), String> {
    if name.len() > 223 {
        return Err("is longer than the 223 bytes iSCSI allows".into());
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains white space".into());
    }
    let hex = |s: &str, lens: &[usize]| {
        lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
    };
    if let Some(rest) = name.strip_prefix("eui.") {
        return if hex(rest, &[16]) {
            Ok(())
        } else {
            Err("is not `eui.` followed by 16 hex digits".into())
        };
    }
    if let Some(rest) = name.strip_prefix("naa.") {
        return if hex(rest, &[16, 32]) {
            Ok(())
        } else {
            Err("is not `naa.` followed by 16 or 32 hex digits".into())
        };
    }
    let Some(rest) = name.strip_prefix("iqn.") else {
        return Err("does not start with `iqn.`, `eui.` or `naa.`".into());
    };
    let (naming, _unique) = rest.split_once(':').unwrap_or((rest, ""));
    let date_ok = naming.len() > 8
        && naming.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && naming.as_bytes()[4] == b'-'
        && naming.as_bytes()[5..7].iter().all(u8::is_ascii_digit)
        && matches!(
            &naming[5..7],
            "01" | "02" | "03" | "04" | "05" | "06" | "07" | "08" | "09" | "10" | "11" | "12"
        )
        && naming.as_bytes()[7] == b'.';
    if !date_ok {
        return Err("does not continue with a date `YYYY-MM.` after `iqn.`".into());
    }
    let domain = &naming[8..];
    if domain.is_empty()
        || !domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err("does not have a reversed domain name in lower case after the date".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::parse;
    use std::time::Duration;

    const MINIMAL: &str =
        "version: 1\nname: m\ntarget:\n  vg: backup\nvolumes:\n  - lv: vg0/root\n";

    #[test]
    fn defaults_apply_when_the_plan_says_nothing() {
        let plan = parse("m.yaml", MINIMAL).unwrap();
        assert_eq!(
            plan,
            Plan {
                name: "m".into(),
                state_dir: DEFAULT_STATE_DIR.into(),
                target_lock_dir: DEFAULT_TARGET_LOCK_DIR.into(),
                hooks: None,
                target: Target {
                    vg: "backup".into(),
                    iscsi: None,
                    export: false,
                    keep_previous: true,
                    generations: None,
                },
                volumes: vec![Volume {
                    name: "root".into(),
                    source: LvPath {
                        vg: "vg0".into(),
                        lv: "root".into(),
                    },
                    target_lv: "root".into(),
                    snapshot_size: DEFAULT_SNAPSHOT_SIZE,
                    snapshot_size_set: false,
                    snapshot_size_max: None,
                    retain_base: true,
                    bandwidth: Bandwidth::Unlimited,
                    verify: true,
                    after: vec![],
                }],
            }
        );
    }

    #[test]
    fn volumes_override_defaults() {
        let text = "version: 1\nname: m\ndefaults:\n  snapshot_size: 1G\n  bandwidth: 10M/s\n  verify: false\nhooks:\n  dir: /h\ntarget:\n  vg: backup\nvolumes:\n  - lv: vg0/a\n  - lv: vg0/b\n    name: bee\n    snapshot_size: 50%\n    bandwidth: unlimited\n    verify: true\n    target_lv: b_bk\n    after: [a]\n";
        let plan = parse("m.yaml", text).unwrap();
        let [a, b] = &plan.volumes[..] else { panic!() };
        assert_eq!(a.snapshot_size, SnapshotSize::Bytes(1 << 30));
        assert_eq!(a.bandwidth, Bandwidth::BytesPerSecond(10 << 20));
        assert!(!a.verify);
        assert_eq!((b.name.as_str(), b.target_lv.as_str()), ("bee", "b_bk"));
        assert_eq!(b.snapshot_size, SnapshotSize::PercentOfOrigin(50.0));
        assert_eq!(b.bandwidth, Bandwidth::Unlimited);
        assert!(b.verify);
        assert_eq!(b.after, ["a"]);
        assert_eq!(plan.hooks.unwrap().timeout, Duration::from_secs(60));
    }

    #[test]
    fn problems_come_in_file_order_with_codes() {
        let text = "version: 1\nname: m\ntarget:\n  vg: backup\nvolumes:\n  - lv: vg0/a\n    after: [zzz]\n  - lv: vg0/a\n";
        let error = parse("m.yaml", text).unwrap_err();
        let codes: Vec<_> = error.problems().iter().map(|p| p.code).collect();
        assert_eq!(
            codes,
            [
                "plan::unknown_volume",
                "plan::duplicate_volume",
                "plan::duplicate_source",
                "plan::duplicate_target"
            ]
        );
    }

    fn codes(text: &str) -> Vec<&'static str> {
        match parse("t.yaml", text) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems().iter().map(|p| p.code).collect(),
        }
    }

    fn plan_with(target_vg: &str, volumes: &str) -> String {
        format!("version: 1\nname: m\ntarget:\n  vg: {target_vg}\nvolumes:\n{volumes}")
    }

    const ROOT: &str = "volumes:\n  - lv: vg0/root\n";

    #[test]
    fn a_pool_becomes_generations_with_its_threshold_and_retention() {
        let text = format!(
            "version: 1\nname: m\ntarget:\n  vg: backup\n  pool: generations\n  pool_threshold: 90\nretention:\n  keep_last: 2\n  keep_weekly: 4\n{ROOT}"
        );
        let plan = parse("t.yaml", &text).unwrap();
        assert_eq!(
            plan.target.generations,
            Some(Generations {
                pool: "generations".into(),
                threshold_percent: 90,
                retention: Retention {
                    keep_last: 2,
                    keep_daily: 0,
                    keep_weekly: 4,
                    keep_monthly: 0,
                },
            })
        );
        assert!(
            !plan.target.keep_previous,
            "nothing to keep: no LV is rewritten"
        );
        let bare = format!("version: 1\nname: m\ntarget:\n  vg: backup\n  pool: gens\n{ROOT}");
        let plan = parse("t.yaml", &bare).unwrap();
        let generations = plan.target.generations.unwrap();
        assert_eq!(generations.threshold_percent, DEFAULT_POOL_THRESHOLD);
        assert_eq!(generations.retention, Retention::default());
        let thick = parse(
            "t.yaml",
            &format!("version: 1\nname: m\ntarget:\n  vg: backup\n{ROOT}"),
        )
        .unwrap();
        assert_eq!(thick.target.generations, None);
        assert!(thick.target.keep_previous);
    }

    #[test]
    fn a_target_lv_too_long_for_its_generation_names_is_refused_with_a_pool_only() {
        let long = "r".repeat(115);
        let volume = format!("volumes:\n  - lv: vg0/root\n    target_lv: {long}\n");
        let with_pool =
            format!("version: 1\nname: m\ntarget:\n  vg: backup\n  pool: gens\n{volume}");
        let mut found = codes(&with_pool);
        found.sort();
        assert_eq!(found, ["plan::name_too_long"]);
        let without = format!("version: 1\nname: m\ntarget:\n  vg: backup\n{volume}");
        assert_eq!(codes(&without), Vec::<&str>::new());
    }

    #[test]
    fn retention_without_a_pool_is_refused() {
        let text = format!(
            "version: 1\nname: m\ntarget:\n  vg: backup\nretention:\n  keep_last: 3\n{ROOT}"
        );
        assert_eq!(codes(&text), ["plan::retention_without_pool"]);
    }

    #[test]
    fn a_pool_threshold_without_a_pool_is_refused() {
        let text =
            format!("version: 1\nname: m\ntarget:\n  vg: backup\n  pool_threshold: 90\n{ROOT}");
        assert_eq!(codes(&text), ["plan::threshold_without_pool"]);
    }

    #[test]
    fn keep_last_zero_an_out_of_range_threshold_and_keep_previous_with_a_pool_are_each_refused() {
        let text = format!(
            "version: 1\nname: m\ntarget:\n  vg: backup\n  pool: gens\n  pool_threshold: 100\n  keep_previous: true\nretention:\n  keep_last: 0\n{ROOT}"
        );
        let mut found = codes(&text);
        found.sort();
        assert_eq!(
            found,
            [
                "plan::bad_pool_threshold",
                "plan::bad_retention",
                "plan::keep_previous_with_pool",
            ]
        );
    }

    #[test]
    fn retention_counts_must_be_whole_numbers() {
        let text = format!(
            "version: 1\nname: m\ntarget:\n  vg: backup\n  pool: gens\nretention:\n  keep_daily: -1\n  keep_weekly: two\n  keep_yearly: 1\n{ROOT}"
        );
        let mut found = codes(&text);
        found.sort();
        assert_eq!(
            found,
            ["plan::unknown_key", "plan::wrong_type", "plan::wrong_type",]
        );
    }

    #[test]
    fn snapshot_size_max_comes_from_defaults_unless_the_volume_names_one() {
        let text = "version: 1\nname: m\ndefaults:\n  snapshot_size: 4MiB\n  snapshot_size_max: 16MiB\ntarget:\n  vg: backup\nvolumes:\n  - lv: vg0/a\n  - lv: vg0/b\n    snapshot_size_max: 30%\n";
        let plan = parse("m.yaml", text).unwrap();
        assert_eq!(
            plan.volumes[0].snapshot_size_max,
            Some(SnapshotSize::Bytes(16 << 20))
        );
        assert_eq!(
            plan.volumes[1].snapshot_size_max,
            Some(SnapshotSize::PercentOfOrigin(30.0))
        );
        let none = parse("m.yaml", &plan_with("backup", "  - lv: vg0/a\n")).unwrap();
        assert_eq!(none.volumes[0].snapshot_size_max, None);
    }

    #[test]
    fn a_snapshot_size_max_below_the_size_is_refused_where_it_is_written() {
        let text = plan_with(
            "backup",
            "  - lv: vg0/a\n    snapshot_size: 8MiB\n    snapshot_size_max: 4MiB\n",
        );
        assert_eq!(codes(&text), ["plan::max_below_size"]);
        let error = parse("t.yaml", &text).unwrap_err();
        let span = error.problems()[0].labels[0].0;
        assert_eq!(&text[span.offset()..span.offset() + span.len()], "4MiB");
        let text = plan_with(
            "backup",
            "  - lv: vg0/a\n    snapshot_size: 20%\n    snapshot_size_max: 10%\n",
        );
        assert_eq!(codes(&text), ["plan::max_below_size"]);
        let text = plan_with(
            "backup",
            "  - lv: vg0/a\n    snapshot_size: 4MiB\n    snapshot_size_max: 4MiB\n",
        );
        assert!(codes(&text).is_empty());
        assert_eq!(
            codes(&plan_with(
                "backup",
                "  - lv: vg0/a\n    snapshot_size_max: lots\n"
            )),
            ["plan::bad_value"]
        );
    }

    #[test]
    fn a_target_vg_holding_an_origin_is_refused() {
        // The run would end with `vgchange --activate n vg0` on the live VG.
        let text = plan_with("vg0", "  - lv: vg0/root\n    target_lv: root_bk\n");
        assert_eq!(codes(&text), ["plan::target_holds_origin"]);
        assert!(codes(&plan_with("backup", "  - lv: vg0/root\n")).is_empty());
    }

    #[test]
    fn lvs_named_like_a_snapshot_are_refused() {
        // An origin `X-snapplan` next to `X`: the snapshot of X is X-snapplan.
        let text = plan_with("backup", "  - lv: vg0/x\n  - lv: vg0/x-snapplan\n");
        assert_eq!(codes(&text), ["plan::snapshot_name_taken"]);
        // A long origin whose hashed snapshot name is another origin's name.
        let long = "l".repeat(112);
        let hashed = tags::snapshot_name(&LvPath {
            vg: "vg0".into(),
            lv: long.clone(),
        });
        assert_ne!(hashed, format!("{long}-snapplan"), "the name is hashed");
        let text = plan_with(
            "backup",
            &format!(
                "  - lv: vg0/{long}\n    target_lv: a\n  - lv: vg0/{hashed}\n    target_lv: b\n"
            ),
        );
        // (The second origin is also too long to be snapshotted itself.)
        assert!(codes(&text).contains(&"plan::snapshot_name_taken"));
    }

    #[test]
    fn names_too_long_for_device_mapper_are_refused() {
        // 60 dashes doubled: `vg0-` + 120 + `-real` is over 127 bytes,
        // though the LV name itself is a valid 60 characters.
        let dashed = format!("a{}", "-".repeat(59));
        let text = plan_with(
            "backup",
            &format!("  - lv: vg0/{dashed}\n    target_lv: short\n"),
        );
        assert_eq!(codes(&text), ["plan::name_too_long"]);
        // The backup LV's name in the target VG.
        let text = plan_with(
            "b-".repeat(30).trim_end_matches('-'),
            &format!(
                "  - lv: vg0/root\n    target_lv: {}\n",
                "c-".repeat(30).trim_end_matches('-')
            ),
        );
        assert_eq!(codes(&text), ["plan::name_too_long"]);
        // A VG so long that no snapshot name fits.
        let text = plan_with("backup", &format!("  - lv: {}/r\n", "v".repeat(120)));
        assert_eq!(codes(&text), ["plan::name_too_long"]);
    }

    #[test]
    fn control_characters_and_nul_in_directories_are_refused() {
        for dir in [
            "/var/lib/\\0x",
            "/h\\n[1] FAKE-STEP",
            "/h\\e[2J",
            "/h\\u202Eevil",
        ] {
            let text = format!(
                "version: 1\nname: m\nstate_dir: \"{dir}\"\nhooks:\n  dir: \"{dir}\"\ntarget:\n  vg: b\nvolumes:\n  - lv: vg0/r\n"
            );
            assert_eq!(codes(&text), ["plan::bad_path", "plan::bad_path"], "{dir}");
        }
    }

    #[test]
    fn portals() {
        for good in [
            "192.0.2.10",
            "192.0.2.10:3260",
            "nas",
            "nas.example.org:860",
            "[2001:db8::1]",
            "[::1]:3260",
        ] {
            assert_eq!(check_portal(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            ":3260",
            "192.0.2.300",
            "nas:0",
            "nas:70000",
            "nas:abc",
            "2001:db8::1",
            "[::1",
            "[nope]:1",
            "-nas",
            "a b",
            "nas:+1",
        ] {
            assert!(check_portal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn target_names() {
        for good in [
            "iqn.2026-01.org.example:backup",
            "iqn.2001-04.com.example",
            "eui.02004567A425678D",
            "naa.52004567BA64678D",
        ] {
            assert_eq!(check_iqn(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "backup",
            "iqn.",
            "iqn.26-01.org.x",
            "iqn.2026-13.org.x",
            "iqn.2026-01.Org.Example",
            "eui.123",
            "iqn.2026-01.org.x:a b",
        ] {
            assert!(check_iqn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cycles_are_found_whole() {
        let s = SourceSpan::from(0..0);
        // 0 -> 1 -> 2 -> 0, and 3 -> 3 is not given (self is reported earlier).
        let edges = vec![vec![(1, s)], vec![(2, s)], vec![(0, s)], vec![(0, s)]];
        let cycles = find_cycles(&edges);
        assert_eq!(cycles.len(), 1);
        let path: Vec<_> = cycles[0].iter().map(|(a, b, _)| (*a, *b)).collect();
        assert_eq!(path, vec![(0, 1), (1, 2), (2, 0)]);
        assert!(find_cycles(&[vec![(1, s)], vec![]]).is_empty());
        // Two cycles sharing volume 0: 0 -> 1 -> 0 and 0 -> 2 -> 0.
        let edges = vec![vec![(1, s), (2, s)], vec![(0, s)], vec![(0, s)]];
        assert_eq!(find_cycles(&edges).len(), 2);
        // A long chain closing on itself: found whole, without recursion.
        let n = 100_000;
        let edges: Vec<_> = (0..n).map(|i| vec![((i + 1) % n, s)]).collect();
        let cycles = find_cycles(&edges);
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].len(), n);
    }
}
