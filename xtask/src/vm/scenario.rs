//! Scenarios: shell scripts in tests/vm/ run inside the VM. A scenario's
//! needs are declared in its header (`# vm: ramdisk_mb=128 timeout=300
//! share`) so the bench can size the VM and group boots without running it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Files in tests/vm/ that are not scenarios.
const NOT_SCENARIOS: &[&str] = &["lib", "demo"];

pub const DEFAULT_RAMDISK_MB: u32 = 64;
pub const DEFAULT_RAMDISKS: u32 = 4;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub path: PathBuf,
    pub header: Header,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Size of each RAM disk (/dev/ram0..).
    pub ramdisk_mb: u32,
    pub ramdisks: u32,
    /// How long the scenario itself may run inside the VM.
    pub timeout: Duration,
    /// The scenario cleans up after itself well enough (with `vm_reset`
    /// between) to share one boot with the other `share` scenarios.
    pub share: bool,
    /// Needs iSCSI in the VM (LIO target modules, iscsid, iscsiadm).
    pub iscsi: bool,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            ramdisk_mb: DEFAULT_RAMDISK_MB,
            ramdisks: DEFAULT_RAMDISKS,
            timeout: DEFAULT_TIMEOUT,
            share: false,
            iscsi: false,
        }
    }
}

/// Reads `# vm:` lines from the leading comment block of `text`.
/// `source` names the file in errors.
pub fn parse_header(source: &str, text: &str) -> Result<Header, String> {
    let mut header = Header::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if !line.starts_with('#') {
            if line.is_empty() {
                continue;
            }
            break;
        }
        let Some(rest) = line.trim_start_matches('#').trim().strip_prefix("vm:") else {
            continue;
        };
        let at = format!("{source}:{}", i + 1);
        for item in rest.split_whitespace() {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (item, None),
            };
            let number = |lo: u64, hi: u64| -> Result<u64, String> {
                let v = value.ok_or_else(|| format!("{at}: `{key}` needs a value: {key}=N"))?;
                match v.parse::<u64>() {
                    Ok(n) if (lo..=hi).contains(&n) => Ok(n),
                    _ => Err(format!(
                        "{at}: `{key}={v}`: expected a whole number from {lo} to {hi}"
                    )),
                }
            };
            match key {
                "ramdisk_mb" => header.ramdisk_mb = number(1, 512)? as u32,
                "ramdisks" => header.ramdisks = number(1, 16)? as u32,
                "timeout" => header.timeout = Duration::from_secs(number(1, 3600)?),
                "share" if value.is_none() => header.share = true,
                "iscsi" if value.is_none() => header.iscsi = true,
                _ => {
                    return Err(format!(
                        "{at}: unknown `# vm:` setting `{item}`; known: ramdisk_mb=N \
                         (MiB per RAM disk), ramdisks=N, timeout=SECONDS, share, iscsi"
                    ));
                }
            }
        }
    }
    Ok(header)
}

/// All scenarios in `dir`, by name, or the `wanted` ones in the order given.
pub fn discover(dir: &Path, wanted: &[String]) -> Result<Vec<Scenario>, String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".sh").map(String::from)
        })
        .filter(|n| !NOT_SCENARIOS.contains(&n.as_str()))
        .collect();
    names.sort();
    if !wanted.is_empty() {
        for w in wanted {
            let w = w.trim_end_matches(".sh");
            let w = w.rsplit('/').next().unwrap_or(w);
            if !names.iter().any(|n| n == w) && w != "demo" {
                return Err(format!(
                    "no scenario `{w}` in {}; there are: {}",
                    dir.display(),
                    names.join(", ")
                ));
            }
        }
        names = wanted
            .iter()
            .map(|w| {
                let w = w.trim_end_matches(".sh");
                w.rsplit('/').next().unwrap_or(w).to_string()
            })
            .collect();
    }
    names.iter().map(|n| load(dir, n)).collect()
}

pub fn load(dir: &Path, name: &str) -> Result<Scenario, String> {
    let path = dir.join(format!("{name}.sh"));
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let header = parse_header(&path.display().to_string(), &text)?;
    Ok(Scenario {
        name: name.to_string(),
        path,
        header,
    })
}

/// One VM boot: the scenarios it runs, in order, and what the VM needs for
/// them all.
#[derive(Debug, Clone, PartialEq)]
pub struct Boot {
    pub scenarios: Vec<String>,
    pub ramdisk_mb: u32,
    pub ramdisks: u32,
    pub timeout: Duration,
}

/// Groups scenarios into boots: each scenario boots alone, except that all
/// `share` scenarios run in one boot (placed where the first of them is).
pub fn plan_boots(scenarios: &[Scenario]) -> Vec<Boot> {
    let mut boots: Vec<Boot> = Vec::new();
    let mut shared: Option<usize> = None;
    for s in scenarios {
        let h = &s.header;
        let target = match (h.share, shared) {
            (true, Some(i)) => i,
            _ => {
                boots.push(Boot {
                    scenarios: Vec::new(),
                    ramdisk_mb: 0,
                    ramdisks: 0,
                    timeout: Duration::ZERO,
                });
                if h.share {
                    shared = Some(boots.len() - 1);
                }
                boots.len() - 1
            }
        };
        let b = &mut boots[target];
        b.scenarios.push(s.name.clone());
        b.ramdisk_mb = b.ramdisk_mb.max(h.ramdisk_mb);
        b.ramdisks = b.ramdisks.max(h.ramdisks);
        b.timeout += h.timeout;
    }
    boots
}

/// What a scenario reported from inside the VM.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub scenario: String,
    pub passed: bool,
    /// Seconds the scenario ran inside the VM, when reported.
    pub seconds: Option<u64>,
}

pub const RESULT_MARKER: &str = "SNAPPLAN-VM-RESULT: ";

/// The line /init prints when a scenario starts (see init.sh).
pub fn start_line(scenario: &str) -> String {
    format!("vm: ---- scenario {scenario} ----")
}

/// Parses `SNAPPLAN-VM-RESULT: pass|fail NAME [SECONDS]` anywhere in a
/// console line (kernel messages may share the line).
pub fn parse_result(line: &str) -> Option<Outcome> {
    let rest = &line[line.find(RESULT_MARKER)? + RESULT_MARKER.len()..];
    let mut words = rest.split_whitespace();
    let passed = match words.next()? {
        "pass" => true,
        "fail" => false,
        _ => return None,
    };
    let scenario = words.next()?.to_string();
    let seconds = words.next().and_then(|s| s.parse().ok());
    Some(Outcome {
        scenario,
        passed,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(name: &str, header: &str) -> Scenario {
        Scenario {
            name: name.into(),
            path: PathBuf::from(format!("{name}.sh")),
            header: parse_header(name, header).unwrap(),
        }
    }

    #[test]
    fn header_defaults_without_vm_lines() {
        assert_eq!(
            parse_header("s", "#!/bin/sh\n# just a comment\necho hi\n").unwrap(),
            Header::default()
        );
    }

    #[test]
    fn header_reads_settings() {
        let h = parse_header(
            "s",
            "#!/bin/sh\n# Title\n# vm: ramdisk_mb=128 timeout=300\n#vm: share ramdisks=2 iscsi\n",
        )
        .unwrap();
        assert!(h.iscsi);
        assert_eq!(h.ramdisk_mb, 128);
        assert_eq!(h.ramdisks, 2);
        assert_eq!(h.timeout, Duration::from_secs(300));
        assert!(h.share);
    }

    #[test]
    fn header_stops_at_first_command() {
        let h = parse_header("s", "#!/bin/sh\necho\n# vm: ramdisk_mb=128\n").unwrap();
        assert_eq!(h.ramdisk_mb, DEFAULT_RAMDISK_MB);
    }

    #[test]
    fn header_errors_point_at_the_line() {
        let e = parse_header("t.sh", "#!/bin/sh\n\n# vm: ramdisk=9\n").unwrap_err();
        assert!(
            e.starts_with("t.sh:3: unknown `# vm:` setting `ramdisk=9`"),
            "{e}"
        );
        let e = parse_header("t.sh", "# vm: ramdisk_mb=100000\n").unwrap_err();
        assert!(e.contains("t.sh:1: `ramdisk_mb=100000`: expected a whole number from 1 to 512"));
        let e = parse_header("t.sh", "# vm: timeout\n").unwrap_err();
        assert!(e.contains("`timeout` needs a value"), "{e}");
    }

    #[test]
    fn boots_alone_unless_shared() {
        let boots = plan_boots(&[
            scenario("a", "# vm: share ramdisk_mb=32"),
            scenario("b", "# vm: ramdisk_mb=256"),
            scenario("c", "# vm: share ramdisk_mb=128 timeout=10"),
        ]);
        assert_eq!(boots.len(), 2);
        assert_eq!(boots[0].scenarios, ["a", "c"]);
        assert_eq!(boots[0].ramdisk_mb, 128);
        assert_eq!(boots[0].timeout, DEFAULT_TIMEOUT + Duration::from_secs(10));
        assert_eq!(boots[1].scenarios, ["b"]);
        assert_eq!(boots[1].ramdisk_mb, 256);
    }

    #[test]
    fn result_marker_parses_amid_kernel_noise() {
        assert_eq!(
            parse_result("[  3.1] dm: x SNAPPLAN-VM-RESULT: fail smoke 12"),
            Some(Outcome {
                scenario: "smoke".into(),
                passed: false,
                seconds: Some(12)
            })
        );
        assert_eq!(
            parse_result("SNAPPLAN-VM-RESULT: pass smoke"),
            Some(Outcome {
                scenario: "smoke".into(),
                passed: true,
                seconds: None
            })
        );
    }

    #[test]
    fn result_marker_rejects_lookalikes() {
        assert_eq!(parse_result("+ printf %s: SNAPPLAN-VM-RESULT pass x"), None);
        assert_eq!(parse_result("SNAPPLAN-VM-RESULT: maybe smoke"), None);
        assert_eq!(parse_result("SNAPPLAN-VM-RESULT: pass"), None);
    }
}
