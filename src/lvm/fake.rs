//! An in-memory LVM for unit tests of check and apply: a [`SystemReport`]
//! that `remove` changes, every call recorded, and failures scripted.

use std::cell::RefCell;
use std::collections::VecDeque;

use super::runner::{Exit, Output, RunError};
use super::{Lv, LvKind, Lvm, LvmError, Pv, RemoveError, Removed, SystemReport};
use crate::plan::LvPath;

type RunHook = Box<dyn FnMut(&[String], &mut SystemReport) -> Result<Output, RunError>>;

pub struct FakeLvm {
    pub state: RefCell<SystemReport>,
    /// Every call, as `lvs`, `lvremove vg/lv`, or the argv given to `run`.
    pub calls: RefCell<Vec<String>>,
    /// Answers for `run`, in order; `Ok` with empty output when exhausted.
    /// Use [`FakeLvm::on_run`] to change the state as the command would.
    pub run_results: RefCell<VecDeque<Result<Output, RunError>>>,
    on_run: RefCell<Option<RunHook>>,
    /// Failures for `remove`, in order; success when exhausted.
    pub remove_failures: RefCell<VecDeque<RemoveError>>,
    /// Makes `report` fail with this lvm2 stderr.
    pub report_error: RefCell<Option<String>>,
}

impl FakeLvm {
    pub fn new(state: SystemReport) -> Self {
        FakeLvm {
            state: RefCell::new(state),
            calls: RefCell::new(Vec::new()),
            run_results: RefCell::new(VecDeque::new()),
            on_run: RefCell::new(None),
            remove_failures: RefCell::new(VecDeque::new()),
            report_error: RefCell::new(None),
        }
    }

    /// Called for every `run` that has no scripted result.
    pub fn on_run(
        &self,
        hook: impl FnMut(&[String], &mut SystemReport) -> Result<Output, RunError> + 'static,
    ) {
        *self.on_run.borrow_mut() = Some(Box::new(hook));
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    /// A failed lvm2 command, as the real runner reports it.
    pub fn failure(args: &[&str], stderr: &str) -> RunError {
        RunError::Failed {
            command: format!("lvm {}", args.join(" ")),
            exit: Exit::Code(5),
            stderr: stderr.to_string(),
        }
    }
}

impl Lvm for FakeLvm {
    fn report(&self) -> Result<SystemReport, LvmError> {
        self.calls.borrow_mut().push("report".into());
        if let Some(stderr) = self.report_error.borrow().as_ref() {
            return Err(Self::failure(&["lvs"], stderr).into());
        }
        Ok(self.state.borrow().clone())
    }

    fn lv(&self, path: &LvPath) -> Result<Option<Lv>, LvmError> {
        self.calls.borrow_mut().push(format!("lvs {path}"));
        Ok(self.state.borrow().lv(path).cloned())
    }

    fn pvs(&self) -> Result<Vec<Pv>, LvmError> {
        self.calls.borrow_mut().push("pvs".into());
        Ok(Vec::new())
    }

    fn run(&self, args: &[String]) -> Result<Output, RunError> {
        self.calls.borrow_mut().push(args.join(" "));
        if let Some(result) = self.run_results.borrow_mut().pop_front() {
            return result;
        }
        match self.on_run.borrow_mut().as_mut() {
            Some(hook) => hook(args, &mut self.state.borrow_mut()),
            None => Ok(Output::default()),
        }
    }

    fn remove(&self, lv: &LvPath, _kind: LvKind) -> Result<Removed, RemoveError> {
        self.calls.borrow_mut().push(format!("lvremove {lv}"));
        if let Some(err) = self.remove_failures.borrow_mut().pop_front() {
            return Err(err);
        }
        let mut state = self.state.borrow_mut();
        let before = state.lvs.len();
        state
            .lvs
            .retain(|l| !(l.vg_name == lv.vg && l.lv_name == lv.lv));
        Ok(Removed {
            attempts: u32::from(state.lvs.len() < before),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::system;

    #[test]
    fn remove_changes_the_state_and_scripted_failures_come_first() {
        let fake = FakeLvm::new(system().lv("vg0", "s", 8, "swi-a-s---").build());
        let path = LvPath {
            vg: "vg0".into(),
            lv: "s".into(),
        };
        fake.remove_failures
            .borrow_mut()
            .push_back(RemoveError::Failed {
                lv: path.clone(),
                source: FakeLvm::failure(&["lvremove", "-f", "vg0/s"], "  Permission denied\n"),
            });
        assert!(fake.remove(&path, LvKind::Snapshot).is_err());
        assert!(fake.lv(&path).unwrap().is_some());
        assert_eq!(fake.remove(&path, LvKind::Snapshot).unwrap().attempts, 1);
        assert!(fake.lv(&path).unwrap().is_none());
        assert_eq!(
            fake.calls(),
            vec!["lvremove vg0/s", "lvs vg0/s", "lvremove vg0/s", "lvs vg0/s"]
        );
    }

    #[test]
    fn run_hook_can_create_what_the_command_would() {
        let fake = FakeLvm::new(SystemReport::default());
        fake.on_run(|args, state| {
            if args[0] == "lvcreate" {
                let mut lv = system()
                    .lv("vg0", "new", 4, "-wi-a-----")
                    .build()
                    .lvs
                    .remove(0);
                lv.lv_tags = vec!["snapplan".into()];
                state.lvs.push(lv);
            }
            Ok(Output::default())
        });
        fake.run(&["lvcreate".into(), "-n".into(), "new".into()])
            .unwrap();
        assert_eq!(fake.report().unwrap().lvs.len(), 1);
    }
}
