//! Are the tools there? A missing `lvm` is the first thing to say on a
//! machine without lvm2, before anything that would need it.

use super::facts::{Need, ToolFact};
use super::outcome::{CheckKind, CheckResult, Status};
use crate::system::tools::{SBIN_DIRS, package_of};

pub fn check(tools: &[ToolFact]) -> Vec<CheckResult> {
    tools
        .iter()
        .map(|tool| match (&tool.found, tool.need) {
            (Some(path), _) => CheckResult::new(
                CheckKind::Tool,
                tool.name,
                Status::Pass,
                format!("{} ({})", path.display(), tool.purpose),
            ),
            (None, Need::Unneeded(why)) => CheckResult::new(
                CheckKind::Tool,
                tool.name,
                Status::Pass,
                format!("not installed, not needed: {why}"),
            ),
            (None, need) => CheckResult::new(
                CheckKind::Tool,
                tool.name,
                if need == Need::Required {
                    Status::Fail
                } else {
                    Status::Warn
                },
                format!(
                    "`{}` not found in $PATH or {} (it {})",
                    tool.name,
                    SBIN_DIRS.join(", "),
                    tool.purpose
                ),
            )
            .advice(format!("install {}", package_of(tool.name))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(name: &'static str, need: Need, found: bool) -> ToolFact {
        ToolFact {
            name,
            need,
            purpose: "does things",
            found: found.then(|| format!("/usr/sbin/{name}").into()),
        }
    }

    #[test]
    fn present_tools_pass_with_their_path() {
        let rows = check(&[fact("lvm", Need::Required, true)]);
        assert_eq!(rows[0].status, Status::Pass);
        assert!(rows[0].detail.starts_with("/usr/sbin/lvm"));
    }

    #[test]
    fn missing_required_tool_fails_naming_it_and_its_package() {
        let rows = check(&[
            fact("lvm", Need::Required, false),
            fact("iscsiadm", Need::Required, false),
        ]);
        assert!(rows.iter().all(|r| r.status == Status::Fail));
        assert!(rows[0].detail.contains("`lvm` not found"));
        assert_eq!(rows[0].advice.as_deref(), Some("install lvm2 (dmsetup)"));
        assert!(rows[1].advice.as_deref().unwrap().contains("open-iscsi"));
    }

    #[test]
    fn missing_optional_tool_only_warns() {
        let rows = check(&[fact("udevadm", Need::Optional, false)]);
        assert_eq!(rows[0].status, Status::Warn);
    }

    #[test]
    fn missing_unneeded_tool_passes_saying_why() {
        let rows = check(&[fact(
            "udevadm",
            Need::Unneeded("udev is not running here"),
            false,
        )]);
        assert_eq!(rows[0].status, Status::Pass);
        assert!(rows[0].detail.contains("udev is not running"));
    }
}
