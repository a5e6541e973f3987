//! lvm2 itself: its tools run as child processes, through a [`Runner`] so
//! the command lines can be tested without LVM.

use std::time::Duration;

use super::SystemError;
use super::remove::{self, LvKind, RemoveError, RemovePolicy, Removed};
use super::report::{self, Lv, SystemReport};
use super::runner::{CommandLine, Output, ProcessRunner, RunError, Runner};
use super::tools::{ToolMissing, Tools};
use crate::plan::LvPath;

/// The real system: lvm2's tools run as child processes.
pub struct SystemLvm<R: Runner = ProcessRunner> {
    tools: Tools,
    runner: R,
    pub remove_policy: RemovePolicy,
}

impl SystemLvm<ProcessRunner> {
    /// Finds the tools (see [`tools`]) or names the missing one.
    pub fn from_system() -> Result<Self, ToolMissing> {
        Ok(SystemLvm::new(Tools::find()?, ProcessRunner))
    }
}

impl<R: Runner> SystemLvm<R> {
    pub fn new(tools: Tools, runner: R) -> Self {
        SystemLvm {
            tools,
            runner,
            remove_policy: RemovePolicy::default(),
        }
    }

    pub fn tools(&self) -> &Tools {
        &self.tools
    }

    fn read(&self, report: &str, fields: &[&str]) -> Result<Vec<u8>, RunError> {
        let out = self
            .runner
            .run(&report_command(&self.tools, report, fields))?;
        Ok(out.stdout)
    }
}

/// `lvm lvs --reportformat json --units b --nosuffix -o <fields>`: every
/// value a string, sizes in bytes.
pub fn report_command(tools: &Tools, report: &str, fields: &[&str]) -> CommandLine {
    CommandLine::new(&tools.lvm).arg(report).args([
        "--reportformat",
        "json",
        "--units",
        "b",
        "--nosuffix",
        "-o",
        &fields.join(","),
    ])
}

impl<R: Runner> SystemLvm<R> {
    pub fn report(&self) -> Result<SystemReport, SystemError> {
        let lvs = report::parse_lvs(&self.read("lvs", report::LV_FIELDS)?)?;
        let vgs = report::parse_vgs(&self.read("vgs", report::VG_FIELDS)?)?;
        Ok(SystemReport { lvs, vgs })
    }

    /// The LVs of the exported VG `vg`, which `lvs` hides: `pvs --segments`
    /// reports them (with their tags) without importing the VG.
    pub fn exported_lvs(&self, vg: &str) -> Result<Vec<Lv>, SystemError> {
        let cmd = report_command(&self.tools, "pvs", report::LV_FIELDS).arg("--segments");
        let out = self.runner.run(&cmd)?;
        let mut lvs: Vec<Lv> = report::parse_segment_lvs(&out.stdout)?
            .into_iter()
            .filter(|l| l.vg_name == vg)
            .collect();
        // Thin LVs have no segment on a PV: the VG's text metadata names
        // them (a pool target's generations).
        if lvs.iter().any(Lv::is_thin_pool_part) {
            for found in self.metadata_lvs(vg)? {
                if !lvs.iter().any(|l| l.lv_name == found.name) {
                    lvs.push(super::vg_metadata::to_lv(vg, found));
                }
            }
        }
        Ok(lvs)
    }

    /// `vgcfgbackup -f <private file> <vg>`, read back (bounded) and parsed.
    fn metadata_lvs(&self, vg: &str) -> Result<Vec<super::vg_metadata::MetadataLv>, SystemError> {
        let dir = tempfile::Builder::new()
            .prefix("snapplan-vgmeta")
            .tempdir()
            .map_err(|source| SystemError::Device {
                path: std::env::temp_dir(),
                source,
            })?;
        let file = dir.path().join("metadata");
        self.run(&crate::graph::argv::vg_metadata_backup(
            vg,
            &file.display().to_string(),
        ))?;
        let text =
            super::vg_metadata::read_bounded(&file).map_err(|source| SystemError::Device {
                path: file.clone(),
                source,
            })?;
        Ok(super::vg_metadata::parse(vg, &text)?)
    }

    pub fn lv(&self, path: &LvPath) -> Result<Option<Lv>, SystemError> {
        let cmd = report_command(&self.tools, "lvs", report::LV_FIELDS).arg(path.to_string());
        match self.runner.run(&cmd) {
            Ok(out) => Ok(report::parse_lvs(&out.stdout)?.into_iter().next()),
            Err(err) if remove::is_gone(&err) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    pub fn run(&self, args: &[String]) -> Result<Output, RunError> {
        self.runner
            .run(&CommandLine::new(&self.tools.lvm).args(args.iter().cloned()))
    }

    pub fn remove(&self, lv: &LvPath, kind: LvKind) -> Result<Removed, RemoveError> {
        let probe = remove::SystemProbe {
            runner: &self.runner,
            tools: &self.tools,
        };
        remove::remove_lv(
            &self.runner,
            &self.tools,
            lv,
            kind,
            &self.remove_policy,
            &probe,
            &mut |pause: Duration| std::thread::sleep(pause),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// Answers `lvs` and `vgs` with recorded JSON and remembers the calls.
    struct Recorded(RefCell<Vec<String>>);

    impl Runner for Recorded {
        fn run(&self, command: &CommandLine) -> Result<Output, RunError> {
            self.0.borrow_mut().push(command.to_string());
            let json = match command.args[0].as_str() {
                "lvs" if command.args.last().unwrap() == "vg0/gone" => {
                    return Err(RunError::Failed {
                        command: command.to_string(),
                        exit: crate::system::runner::Exit::Code(5),
                        stderr: "  Failed to find logical volume \"vg0/gone\"\n".into(),
                    });
                }
                "lvs" if command.args.last().unwrap() == "vg0/b" => {
                    r#"{"report":[{"lv":[{"lv_name":"b","vg_name":"vg0","lv_size":"8388608","lv_attr":"-wi-a-----"}]}]}"#
                }
                "lvs" => {
                    r#"{"report":[{"lv":[{"lv_name":"a","vg_name":"vg0","lv_size":"4194304","lv_attr":"-wi-a-----"},{"lv_name":"b","vg_name":"vg0","lv_size":"8388608","lv_attr":"-wi-a-----"}]}]}"#
                }
                "vgs" => {
                    r#"{"report":[{"vg":[{"vg_name":"vg0","vg_size":"62914560","vg_free":"50331648","vg_extent_size":"4194304","vg_extent_count":"15","vg_free_count":"12"}]}]}"#
                }
                _ => "",
            };
            Ok(Output {
                stdout: json.as_bytes().to_vec(),
                stderr: String::new(),
            })
        }
    }

    #[test]
    fn report_is_one_lvs_and_one_vgs_call_with_explicit_fields() {
        let tools = Tools {
            lvm: "/usr/sbin/lvm".into(),
            dmsetup: None,
            udevadm: None,
        };
        let lvm = SystemLvm::new(tools, Recorded(RefCell::new(Vec::new())));
        let report = lvm.report().unwrap();
        assert_eq!(report.lvs.len(), 2);
        assert_eq!(report.vgs[0].vg_free_count, 12);
        let calls = lvm.runner.0.borrow();
        assert_eq!(calls.len(), 2);
        assert!(calls[0].starts_with(
            "/usr/sbin/lvm lvs --reportformat json --units b --nosuffix -o lv_name,vg_name,lv_size"
        ));
        assert!(calls[1].starts_with("/usr/sbin/lvm vgs --reportformat json"));
    }

    /// The real process path: a stand-in `lvm` script that is "in use"
    /// twice, then removes; every call is logged by the script itself.
    #[test]
    fn removal_retries_through_real_processes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("lvm");
        let log = dir.path().join("calls");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$*\" >> {log}\n\
                 n=$(grep -c lvremove {log})\n\
                 if [ \"$n\" -le 2 ]; then echo \"  Logical volume $2 in use.\" >&2; exit 5; fi\n",
                log = log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let tools = Tools {
            lvm: script,
            dmsetup: None,
            udevadm: None,
        };
        let mut lvm = SystemLvm::new(tools, ProcessRunner);
        lvm.remove_policy.first_delay = Duration::from_millis(1);
        let lv = LvPath {
            vg: "vg0".into(),
            lv: "home-snap".into(),
        };
        assert_eq!(
            lvm.remove(&lv, LvKind::Snapshot).unwrap(),
            Removed { attempts: 3 }
        );
        let calls = std::fs::read_to_string(&log).unwrap();
        assert_eq!(calls, "lvremove -f vg0/home-snap\n".repeat(3));
    }

    #[test]
    fn one_lv_is_asked_for_by_path_and_a_missing_one_is_none() {
        let tools = Tools {
            lvm: "lvm".into(),
            dmsetup: None,
            udevadm: None,
        };
        let lvm = SystemLvm::new(tools, Recorded(RefCell::new(Vec::new())));
        let path = |lv: &str| LvPath {
            vg: "vg0".into(),
            lv: lv.into(),
        };
        assert_eq!(lvm.lv(&path("b")).unwrap().unwrap().lv_size, 8 << 20);
        assert!(lvm.lv(&path("gone")).unwrap().is_none());
        assert!(lvm.runner.0.borrow()[0].ends_with(" vg0/b"));
    }
}
