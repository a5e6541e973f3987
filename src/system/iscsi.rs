//! open-iscsi's `iscsiadm`: discovery, login and logout of the target that
//! holds the backup VG. The command lines are the ones `snapplan plan`
//! prints (`graph::argv`).

use super::SystemError;
use super::runner::{CommandLine, Exit, ProcessRunner, RunError, Runner};
use super::tools::{self, ToolMissing};
use crate::graph::argv as commands;

/// iscsiadm's exit status when a session to log in to already exists
/// (ISCSI_ERR_SESS_EXISTS) and when there is none to log out of
/// (ISCSI_ERR_NO_OBJS_FOUND).
const ISCSI_SESSION_EXISTS: i32 = 15;
const ISCSI_NO_SESSION: i32 = 21;

pub fn discover(portal: &str) -> Result<(), SystemError> {
    run(&commands::iscsi_discover(portal))
}

/// A login to a target already logged in to finds the system as the step
/// wants it: success, so `--phase login` run before `all` does not fail.
pub fn login(portal: &str, iqn: &str) -> Result<(), SystemError> {
    let argv = commands::iscsi_login(portal, iqn);
    already_done(&argv, ISCSI_SESSION_EXISTS, run(&argv))
}

/// A logout with no session is success: a `recover` after a run that died
/// before its login worked must not fail on it.
pub fn logout(portal: &str, iqn: &str) -> Result<(), SystemError> {
    let argv = commands::iscsi_logout(portal, iqn);
    already_done(&argv, ISCSI_NO_SESSION, run(&argv))
}

fn run(argv: &[String]) -> Result<(), SystemError> {
    let path = tools::find(tools::ISCSIADM).ok_or(ToolMissing {
        tool: tools::ISCSIADM,
    })?;
    let command = CommandLine::new(path).args(argv[1..].iter().cloned());
    ProcessRunner.run(&command)?;
    Ok(())
}

fn already_done(
    argv: &[String],
    status: i32,
    result: Result<(), SystemError>,
) -> Result<(), SystemError> {
    match result {
        Err(SystemError::Run(RunError::Failed {
            exit: Exit::Code(code),
            ..
        })) if code == status => {
            tracing::info!(
                "{}: nothing to do (iscsiadm exit status {code}: {})",
                argv.join(" "),
                if code == ISCSI_SESSION_EXISTS {
                    "already logged in"
                } else {
                    "no session"
                }
            );
            Ok(())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(code: i32) -> Result<(), SystemError> {
        Err(SystemError::Run(RunError::Failed {
            command: "iscsiadm".into(),
            exit: Exit::Code(code),
            stderr: "iscsiadm: ...".into(),
        }))
    }

    #[test]
    fn iscsiadm_login_to_an_existing_session_and_logout_without_one_succeed() {
        let login = commands::iscsi_login("192.0.2.10:3260", "iqn.2026-01.org.example:b");
        let logout = commands::iscsi_logout("192.0.2.10:3260", "iqn.2026-01.org.example:b");
        let ok = |r: Result<(), SystemError>| r.is_ok();
        assert!(ok(already_done(&login, ISCSI_SESSION_EXISTS, failed(15))));
        assert!(ok(already_done(&logout, ISCSI_NO_SESSION, failed(21))));
        assert!(!ok(already_done(&login, ISCSI_SESSION_EXISTS, failed(21))));
        assert!(!ok(already_done(&logout, ISCSI_NO_SESSION, failed(15))));
        assert!(!ok(already_done(&login, ISCSI_SESSION_EXISTS, failed(8))));
        assert!(ok(already_done(&logout, ISCSI_NO_SESSION, Ok(()))));
    }
}
