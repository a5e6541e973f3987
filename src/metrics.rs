//! `apply --metrics FILE`: Prometheus metrics for node_exporter's textfile
//! collector, written after every run (successful or not), so monitoring
//! can alert on a backup that stopped happening or a snapshot close to
//! overflowing (docs/monitoring.md).
//!
//! The figures come from the run history, not only this run: a volume's
//! last success time survives the runs that failed since, and a run of
//! other phases (no copy) does not blank the per-volume figures.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::generations::PoolSummary;
use crate::state::runs::{RunRecord, VolumeStatus};

/// How the run that writes the metrics ended. Runs that stopped before
/// doing anything (lock held, pre-flight failed) have no record but count.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd {
    /// `None`: the run died (its record was written by the recovery after
    /// it), exit code unknown; written as [`DIED_EXIT_CODE`].
    pub exit_code: Option<u8>,
    pub started_at: u64,
    pub finished_at: u64,
}

impl RunEnd {
    pub fn of(record: &RunRecord) -> RunEnd {
        RunEnd {
            exit_code: record.exit_code,
            started_at: record.started_at,
            finished_at: record.finished_at,
        }
    }
}

/// `snapplan_last_run_exit_code` of a run that died (killed, OOM killer,
/// power loss): no process exits with -1, so it is never taken for a real
/// code, and `!= 0` alerts fire on it.
pub const DIED_EXIT_CODE: f64 = -1.0;

/// The exposition text: plan-level figures of `run`, and per volume of
/// `volumes` (the plan's) the figures of the newest record of `history`
/// (newest first) that lists it; for a plan with `target.pool`, what
/// `pool` (read from LVM by the caller) says of its generations and pool.
pub fn render(
    plan: &str,
    volumes: &[String],
    run: &RunEnd,
    history: &[RunRecord],
    pool: Option<&PoolSummary>,
) -> String {
    let mut out = Metrics::default();
    out.gauge(
        "snapplan_build_info",
        "Always 1; the version label is the snapplan that wrote these metrics.",
        &[(&[("version", env!("CARGO_PKG_VERSION"))][..], 1.0)],
    );
    let plan_labels = [("plan", plan)];
    out.gauge(
        "snapplan_last_run_timestamp_seconds",
        "When the last run of the plan ended (Unix time), whatever its outcome.",
        &[(&plan_labels, run.finished_at as f64)],
    );
    out.gauge(
        "snapplan_last_run_exit_code",
        "Exit code of the last run of the plan (0 ok, 4 partial, see docs/exit-codes.md; -1: it died, killed or the machine went down).",
        &[(
            &plan_labels,
            run.exit_code.map_or(DIED_EXIT_CODE, f64::from),
        )],
    );
    out.gauge(
        "snapplan_last_run_duration_seconds",
        "How long the last run of the plan took.",
        &[(
            &plan_labels,
            run.finished_at.saturating_sub(run.started_at) as f64,
        )],
    );
    // This run may have no record (lock held, pre-flight failed): it counts.
    let runs = || {
        std::iter::once((run.exit_code, run.finished_at))
            .chain(history.iter().map(|r| (r.exit_code, r.finished_at)))
    };
    let newest = |success: bool| {
        runs()
            .filter(|(code, _)| (*code == Some(0)) == success)
            .map(|(_, at)| at)
            .max()
            .map_or(0.0, |at| at as f64)
    };
    out.gauge(
        "snapplan_last_success_timestamp_seconds",
        "When the last run of the plan that exited 0 ended; 0: never.",
        &[(&plan_labels, newest(true))],
    );
    out.gauge(
        "snapplan_last_failure_timestamp_seconds",
        "When the last run of the plan that exited non-zero (or died) ended (also one that stopped before doing anything); 0: never.",
        &[(&plan_labels, newest(false))],
    );

    let labels: Vec<[(&str, &str); 2]> = volumes
        .iter()
        .map(|v| [("plan", plan), ("volume", v.as_str())])
        .collect();
    let newest_volume = |volume: &str, ok: bool| {
        history
            .iter()
            .filter(|r| {
                r.volumes
                    .iter()
                    .any(|v| v.volume == volume && (v.status == VolumeStatus::Ok) == ok)
            })
            .map(|r| r.finished_at)
            .max()
            .map_or(0.0, |at| at as f64)
    };
    let per_volume_time = |ok: bool| {
        volumes
            .iter()
            .zip(&labels)
            .map(|(v, l)| (&l[..], newest_volume(v, ok)))
            .collect::<Vec<_>>()
    };
    out.gauge(
        "snapplan_volume_last_success_timestamp_seconds",
        "When the last run that backed the volume up (and verified it, if asked) ended; 0: never.",
        &per_volume_time(true),
    );
    out.gauge(
        "snapplan_volume_last_failure_timestamp_seconds",
        "When the last run that failed the volume (or stopped before its copy) ended; 0: never.",
        &per_volume_time(false),
    );
    // The newest run that dealt with each volume.
    let last: Vec<_> = volumes
        .iter()
        .zip(&labels)
        .filter_map(|(name, l)| {
            history.iter().find_map(|r| {
                r.volumes
                    .iter()
                    .find(|v| &v.volume == name)
                    .map(|v| (&l[..], r, v))
            })
        })
        .collect();
    let per_volume =
        |value: &dyn Fn(&RunRecord, &crate::state::runs::VolumeResult) -> Option<f64>| {
            last.iter()
                .filter_map(|(l, r, v)| value(r, v).map(|x| (*l, x)))
                .collect::<Vec<_>>()
        };
    out.gauge(
        "snapplan_volume_last_run_timestamp_seconds",
        "When the last run that dealt with the volume ended.",
        &per_volume(&|r, _| Some(r.finished_at as f64)),
    );
    out.gauge(
        "snapplan_volume_last_run_success",
        "1 if the last run that dealt with the volume backed it up, else 0.",
        &per_volume(&|_, v| Some(f64::from(u8::from(v.status == VolumeStatus::Ok)))),
    );
    out.gauge(
        "snapplan_volume_last_run_duration_seconds",
        "How long the volume's copy (and verification) took in its last run.",
        &per_volume(&|_, v| Some(v.duration_seconds)),
    );
    out.gauge(
        "snapplan_volume_last_run_read_bytes",
        "Bytes read from the volume's snapshot in its last run.",
        &per_volume(&|_, v| Some(v.size_bytes as f64)),
    );
    out.gauge(
        "snapplan_volume_last_run_written_bytes",
        "Bytes written to the volume's backup in its last run (a delta copy writes only what changed).",
        &per_volume(&|_, v| Some(v.bytes_written as f64)),
    );
    out.gauge(
        "snapplan_volume_last_run_snapshot_peak_ratio",
        "Highest copy-on-write usage of the volume's snapshot during its last copy, 0 to 1 (1: it overflowed).",
        &per_volume(&|_, v| v.snapshot_peak_percent.map(|p| p / 100.0)),
    );
    out.gauge(
        "snapplan_volume_last_run_verified",
        "1 if the backup was re-read and matched its manifest in the volume's last run.",
        &per_volume(&|_, v| Some(f64::from(u8::from(v.verified)))),
    );
    if let Some(pool) = pool {
        pool_metrics(&mut out, plan, pool);
    }
    out.text
}

/// The generations of each volume and the pool's use. What LVM did not
/// show (a VG not visible, a pool inactive) is left out, never 0.
fn pool_metrics(out: &mut Metrics, plan: &str, pool: &PoolSummary) {
    let labels: Vec<[(&str, &str); 2]> = pool
        .volumes
        .iter()
        .map(|v| [("plan", plan), ("volume", v.volume.as_str())])
        .collect();
    let per_volume = |value: &dyn Fn(&crate::generations::VolumePoolSummary) -> f64| {
        pool.volumes
            .iter()
            .zip(&labels)
            .map(|(v, l)| (&l[..], value(v)))
            .collect::<Vec<_>>()
    };
    out.gauge(
        "snapplan_generations",
        "Complete generations of the volume in the plan's thin pool (target.pool).",
        &per_volume(&|v| v.complete as f64),
    );
    out.gauge(
        "snapplan_generation_newest_timestamp_seconds",
        "When the run that made the volume's newest complete generation started (Unix time, its id); 0: none.",
        &per_volume(&|v| v.newest_complete_at.map_or(0.0, |at| at as f64)),
    );
    let pool_labels = [("plan", plan), ("pool", pool.pool.as_str())];
    let ratio = |percent: Option<f64>| {
        percent
            .map(|p| vec![(&pool_labels[..], (p / 100.0).clamp(0.0, 1.0))])
            .unwrap_or_default()
    };
    out.gauge(
        "snapplan_pool_data_ratio",
        "How full the data of the plan's thin pool is, 0 to 1; as the last run measured it when the pool is inactive now (its VG exported); absent when neither tells.",
        &ratio(pool.data_percent),
    );
    out.gauge(
        "snapplan_pool_metadata_ratio",
        "How full the metadata of the plan's thin pool is, 0 to 1; as the last run measured it when the pool is inactive now (its VG exported); absent when neither tells.",
        &ratio(pool.metadata_percent),
    );
}

#[derive(Default)]
struct Metrics {
    text: String,
}

type Labels<'a> = &'a [(&'a str, &'a str)];

impl Metrics {
    /// A gauge family: HELP and TYPE, then one sample per label set. A
    /// family without samples is left out entirely.
    fn gauge(&mut self, name: &str, help: &str, samples: &[(Labels<'_>, f64)]) {
        if samples.is_empty() {
            return;
        }
        self.text
            .push_str(&format!("# HELP {name} {}\n", escape_help(help)));
        self.text.push_str(&format!("# TYPE {name} gauge\n"));
        for (labels, value) in samples {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            self.text.push_str(&format!(
                "{name}{{{}}} {}\n",
                labels.join(","),
                format_value(*value)
            ));
        }
    }
}

/// Label values escape `\`, `"` and newline (the exposition format).
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// HELP text escapes `\` and newline.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{value}")
    }
}

/// Replaces `path` atomically, readable by everyone (node_exporter runs as
/// its own user): a temp file in the same directory that the collector
/// ignores (it reads `*.prom` only), fsync, rename, fsync the directory.
/// The collector never sees a half-written file.
pub fn write(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".snapplan-metrics")
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    temp.write_all(text.as_bytes())?;
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(&dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::runs::VolumeResult;
    use std::collections::HashMap;

    fn volume(name: &str, status: VolumeStatus, peak: Option<f64>) -> VolumeResult {
        let mut v = VolumeResult::new(name);
        v.status = status;
        v.size_bytes = 1 << 30;
        v.bytes_written = 1 << 20;
        v.duration_seconds = 12.5;
        v.snapshot_peak_percent = peak;
        v.verified = status == VolumeStatus::Ok;
        v
    }

    fn record(finished_at: u64, exit_code: u8, volumes: Vec<VolumeResult>) -> RunRecord {
        RunRecord {
            run_id: format!("run-{finished_at}"),
            plan: "p".into(),
            phases: vec![],
            started_at: finished_at - 100,
            finished_at,
            exit_code: Some(exit_code),
            ending: "completed".into(),
            volumes,
            problems: vec![],
            recovery: None,
            notes: vec![],
        }
    }

    /// One parsed sample line: name, labels, value.
    type Sample = (String, Vec<(String, String)>, f64);

    /// A strict reader of the text exposition format: every line is a HELP,
    /// a TYPE or a sample of a family whose TYPE came first; label values
    /// are unescaped.
    fn parse(text: &str) -> Vec<Sample> {
        let name = r"[a-zA-Z_:][a-zA-Z0-9_:]*";
        let help = regex::Regex::new(&format!(r"^# HELP ({name}) (?:[^\\\n]|\\[\\n])*$")).unwrap();
        let kind = regex::Regex::new(&format!(
            r"^# TYPE ({name}) (counter|gauge|histogram|summary|untyped)$"
        ))
        .unwrap();
        let label = r#"([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)""#;
        let sample = regex::Regex::new(&format!(
            r"^({name})(?:\{{({label}(?:,{label})*)?\}})? (NaN|[+-]Inf|[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)$"
        ))
        .unwrap();
        let one_label = regex::Regex::new(label).unwrap();
        let mut typed = HashMap::new();
        let mut helped = HashMap::new();
        let mut samples = Vec::new();
        assert!(text.ends_with('\n'), "the last line ends with a newline");
        for line in text.lines() {
            if let Some(c) = help.captures(line) {
                assert!(
                    helped.insert(c[1].to_string(), ()).is_none(),
                    "two HELP: {line}"
                );
            } else if let Some(c) = kind.captures(line) {
                assert!(
                    typed.insert(c[1].to_string(), ()).is_none(),
                    "two TYPE: {line}"
                );
            } else if let Some(c) = sample.captures(line) {
                assert!(typed.contains_key(&c[1]), "sample before its TYPE: {line}");
                let labels = c.get(2).map_or(Vec::new(), |l| {
                    one_label
                        .captures_iter(l.as_str())
                        .map(|m| {
                            let value = m[2]
                                .replace("\\n", "\n")
                                .replace("\\\"", "\"")
                                .replace("\\\\", "\\");
                            (m[1].to_string(), value)
                        })
                        .collect()
                });
                let value = c.get(c.len() - 1).unwrap().as_str().parse().unwrap();
                samples.push((c[1].to_string(), labels, value));
            } else {
                panic!("not a Prometheus exposition line: {line:?}");
            }
        }
        samples
    }

    fn value(samples: &[Sample], name: &str, volume: Option<&str>) -> Option<f64> {
        samples
            .iter()
            .find(|(n, labels, _)| {
                n == name
                    && volume.is_none_or(|v| labels.iter().any(|(k, x)| k == "volume" && x == v))
            })
            .map(|s| s.2)
    }

    #[test]
    fn every_line_parses_and_a_failure_keeps_the_last_success() {
        let history = [
            record(
                3000,
                4,
                vec![
                    volume("root", VolumeStatus::Ok, Some(12.0)),
                    volume("home", VolumeStatus::Failed, Some(100.0)),
                ],
            ),
            record(
                2000,
                0,
                vec![
                    volume("root", VolumeStatus::Ok, Some(5.0)),
                    volume("home", VolumeStatus::Ok, None),
                ],
            ),
        ];
        let volumes = ["root".to_string(), "home".to_string(), "new".to_string()];
        let text = render("p", &volumes, &RunEnd::of(&history[0]), &history, None);
        let samples = parse(&text);
        let last_success = "snapplan_volume_last_success_timestamp_seconds";
        assert_eq!(value(&samples, last_success, Some("root")), Some(3000.0));
        assert_eq!(value(&samples, last_success, Some("home")), Some(2000.0));
        assert_eq!(
            value(&samples, last_success, Some("new")),
            Some(0.0),
            "never: 0, so alerts fire"
        );
        let status = "snapplan_volume_last_run_success";
        assert_eq!(value(&samples, status, Some("home")), Some(0.0));
        assert_eq!(value(&samples, status, Some("root")), Some(1.0));
        assert_eq!(value(&samples, status, Some("new")), None);
        let peak = "snapplan_volume_last_run_snapshot_peak_ratio";
        assert_eq!(value(&samples, peak, Some("home")), Some(1.0));
        assert_eq!(value(&samples, peak, Some("root")), Some(0.12));
        let last_failure = "snapplan_volume_last_failure_timestamp_seconds";
        assert_eq!(value(&samples, last_failure, Some("home")), Some(3000.0));
        assert_eq!(value(&samples, last_failure, Some("root")), Some(0.0));
        assert_eq!(
            value(&samples, "snapplan_last_success_timestamp_seconds", None),
            Some(2000.0)
        );
        assert_eq!(
            value(&samples, "snapplan_last_failure_timestamp_seconds", None),
            Some(3000.0),
            "exit 4 is a failure of the run"
        );
        assert_eq!(
            value(&samples, "snapplan_last_run_exit_code", None),
            Some(4.0)
        );
        assert_eq!(
            value(&samples, "snapplan_last_run_duration_seconds", None),
            Some(100.0)
        );
        assert_eq!(
            value(
                &samples,
                "snapplan_volume_last_run_read_bytes",
                Some("root")
            ),
            Some(1073741824.0)
        );
        assert!(samples.iter().all(|(n, _, _)| n.starts_with("snapplan_")));
    }

    #[test]
    fn a_run_without_volumes_keeps_the_volume_figures() {
        let history = [
            record(5000, 1, vec![]),
            record(2000, 0, vec![volume("root", VolumeStatus::Ok, Some(7.0))]),
        ];
        let early = RunEnd {
            exit_code: Some(3),
            started_at: 6000,
            finished_at: 6000,
        };
        let samples = parse(&render("p", &["root".into()], &early, &history, None));
        assert_eq!(
            value(&samples, "snapplan_last_run_exit_code", None),
            Some(3.0)
        );
        assert_eq!(
            value(&samples, "snapplan_last_run_timestamp_seconds", None),
            Some(6000.0)
        );
        assert_eq!(
            value(
                &samples,
                "snapplan_volume_last_run_snapshot_peak_ratio",
                Some("root")
            ),
            Some(0.07)
        );
        assert_eq!(
            value(&samples, "snapplan_last_failure_timestamp_seconds", None),
            Some(6000.0),
            "a run without a record (lock held) counts as a failure"
        );
        assert_eq!(
            value(&samples, "snapplan_last_success_timestamp_seconds", None),
            Some(2000.0)
        );
    }

    #[test]
    fn a_run_that_died_is_the_last_run_failed_and_keeps_the_last_success() {
        let mut died = record(
            5000,
            0,
            vec![
                volume("root", VolumeStatus::Ok, Some(3.0)),
                volume("home", VolumeStatus::Interrupted, None),
            ],
        );
        died.exit_code = None;
        died.ending = crate::state::runs::ENDING_DIED.into();
        let history = [
            died,
            record(
                2000,
                0,
                vec![
                    volume("root", VolumeStatus::Ok, None),
                    volume("home", VolumeStatus::Ok, None),
                ],
            ),
        ];
        let volumes = ["root".to_string(), "home".to_string()];
        let samples = parse(&render(
            "p",
            &volumes,
            &RunEnd::of(&history[0]),
            &history,
            None,
        ));
        assert_eq!(
            value(&samples, "snapplan_last_run_exit_code", None),
            Some(DIED_EXIT_CODE)
        );
        assert_eq!(
            value(&samples, "snapplan_last_run_timestamp_seconds", None),
            Some(5000.0)
        );
        assert_eq!(
            value(&samples, "snapplan_last_success_timestamp_seconds", None),
            Some(2000.0)
        );
        assert_eq!(
            value(&samples, "snapplan_last_failure_timestamp_seconds", None),
            Some(5000.0)
        );
        let volume_success = "snapplan_volume_last_success_timestamp_seconds";
        assert_eq!(value(&samples, volume_success, Some("home")), Some(2000.0));
        assert_eq!(value(&samples, volume_success, Some("root")), Some(5000.0));
        assert_eq!(
            value(&samples, "snapplan_volume_last_run_success", Some("home")),
            Some(0.0)
        );
    }

    #[test]
    fn build_info_names_the_version_and_a_plan_that_never_ran_is_zero() {
        let good = RunEnd {
            exit_code: Some(0),
            started_at: 10,
            finished_at: 20,
        };
        let samples = parse(&render("p", &["root".into()], &good, &[], None));
        let (_, labels, one) = samples
            .iter()
            .find(|(n, _, _)| n == "snapplan_build_info")
            .unwrap();
        assert_eq!(
            labels,
            &[("version".into(), env!("CARGO_PKG_VERSION").into())]
        );
        assert_eq!(*one, 1.0);
        assert_eq!(
            value(&samples, "snapplan_last_success_timestamp_seconds", None),
            Some(20.0)
        );
        assert_eq!(
            value(&samples, "snapplan_last_failure_timestamp_seconds", None),
            Some(0.0)
        );
    }

    /// Prometheus conventions (prometheus.io/docs/practices/naming): base
    /// units, ratios not percentages, `_info` for build information.
    #[test]
    fn names_follow_prometheus_conventions() {
        let history = [record(
            3000,
            0,
            vec![volume("root", VolumeStatus::Ok, Some(12.0))],
        )];
        let text = render(
            "p",
            &["root".into()],
            &RunEnd::of(&history[0]),
            &history,
            Some(&pool()),
        );
        let samples = parse(&text);
        assert!(
            samples
                .iter()
                .any(|(n, _, _)| n == "snapplan_pool_data_ratio")
        );
        for (name, _, value) in samples {
            assert!(!name.contains("percent"), "{name}: use _ratio (0-1)");
            if name.ends_with("_ratio") {
                assert!((0.0..=1.0).contains(&value), "{name} = {value}");
            }
            let unit = [
                "_seconds",
                "_bytes",
                "_ratio",
                "_info",
                "_success",
                "_verified",
                "_exit_code",
                // A count: the unit is the thing counted.
                "_generations",
            ];
            assert!(
                unit.iter().any(|u| name.ends_with(u)),
                "{name}: no unit suffix"
            );
        }
    }

    /// A pool plan: root with 3 complete generations, the newest made at
    /// 4000; home with none; the pool 45.5% / 12% full.
    fn pool() -> PoolSummary {
        use crate::generations::VolumePoolSummary;
        PoolSummary {
            pool: "backup/gens".into(),
            data_percent: Some(45.5),
            metadata_percent: Some(12.0),
            volumes: vec![
                VolumePoolSummary {
                    volume: "root".into(),
                    complete: 3,
                    incomplete: 1,
                    newest_complete: Some("19700101T010640Z".into()),
                    newest_complete_at: Some(4000),
                },
                VolumePoolSummary {
                    volume: "home".into(),
                    complete: 0,
                    incomplete: 0,
                    newest_complete: None,
                    newest_complete_at: None,
                },
            ],
            notes: vec![],
        }
    }

    fn pool_value(samples: &[Sample], name: &str) -> Option<(Vec<(String, String)>, f64)> {
        samples
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, l, v)| (l.clone(), *v))
    }

    #[test]
    fn a_pool_plan_has_each_volumes_complete_generations_the_newest_time_and_the_pools_use() {
        let history = [record(
            5000,
            0,
            vec![volume("root", VolumeStatus::Ok, None)],
        )];
        let volumes = ["root".to_string(), "home".to_string()];
        let text = render(
            "p",
            &volumes,
            &RunEnd::of(&history[0]),
            &history,
            Some(&pool()),
        );
        let samples = parse(&text);
        assert_eq!(
            value(&samples, "snapplan_generations", Some("root")),
            Some(3.0)
        );
        assert_eq!(
            value(&samples, "snapplan_generations", Some("home")),
            Some(0.0)
        );
        let newest = "snapplan_generation_newest_timestamp_seconds";
        assert_eq!(value(&samples, newest, Some("root")), Some(4000.0));
        assert_eq!(
            value(&samples, newest, Some("home")),
            Some(0.0),
            "none: 0, so an age alert fires"
        );
        let pool_labels = vec![
            ("plan".to_string(), "p".to_string()),
            ("pool".to_string(), "backup/gens".to_string()),
        ];
        assert_eq!(
            pool_value(&samples, "snapplan_pool_data_ratio"),
            Some((pool_labels.clone(), 0.455))
        );
        assert_eq!(
            pool_value(&samples, "snapplan_pool_metadata_ratio"),
            Some((pool_labels, 0.12))
        );
        assert!(
            text.contains("snapplan_generations{plan=\"p\",volume=\"root\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE snapplan_pool_data_ratio gauge\n"),
            "{text}"
        );
    }

    #[test]
    fn an_inactive_pool_or_a_vg_not_visible_leaves_out_what_lvm_did_not_show() {
        let history = [record(5000, 0, vec![])];
        let volumes = ["root".to_string(), "home".to_string()];
        let mut inactive = pool();
        inactive.data_percent = None;
        inactive.metadata_percent = None;
        let samples = parse(&render(
            "p",
            &volumes,
            &RunEnd::of(&history[0]),
            &history,
            Some(&inactive),
        ));
        assert_eq!(pool_value(&samples, "snapplan_pool_data_ratio"), None);
        assert_eq!(pool_value(&samples, "snapplan_pool_metadata_ratio"), None);
        assert_eq!(
            value(&samples, "snapplan_generations", Some("root")),
            Some(3.0)
        );

        let mut invisible = inactive;
        invisible.volumes.clear();
        let text = render(
            "p",
            &volumes,
            &RunEnd::of(&history[0]),
            &history,
            Some(&invisible),
        );
        assert!(!text.contains("snapplan_generation"), "{text}");
        assert!(!text.contains("snapplan_pool_"), "{text}");
        assert!(
            text.contains("snapplan_last_run_exit_code{plan=\"p\"} 0\n"),
            "the rest is written: {text}"
        );
    }

    #[test]
    #[should_panic(expected = "not a Prometheus exposition line")]
    fn the_reader_rejects_an_unescaped_quote() {
        parse("# TYPE x gauge\nx{a=\"b\"c\"} 1\n");
    }

    #[test]
    fn label_values_are_escaped() {
        let odd = "a\"b\\c\nd";
        let text = render(
            "p\"x",
            &[odd.into()],
            &RunEnd {
                exit_code: Some(0),
                started_at: 1,
                finished_at: 2,
            },
            &[],
            None,
        );
        let samples = parse(&text);
        let (_, labels, _) = samples
            .iter()
            .find(|(n, _, _)| n == "snapplan_volume_last_success_timestamp_seconds")
            .unwrap();
        assert_eq!(
            labels,
            &[
                ("plan".into(), "p\"x".into()),
                ("volume".into(), odd.into())
            ]
        );
        assert!(text.contains(r#"volume="a\"b\\c\nd""#), "{text}");
    }

    #[test]
    fn written_atomically_and_readable_by_the_collector() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapplan-p.prom");
        write(&path, "# old\n").unwrap();
        write(&path, "# TYPE x gauge\nx 1\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# TYPE x gauge\nx 1\n"
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["snapplan-p.prom"], "no temp file left");
    }
}
