//! SIGINT and SIGTERM during apply: the first asks the run to stop at the
//! next safe point (between steps; a copy at its next chunk) and roll back.
//! Later ones are logged and ignored: killing apply half-way through its
//! rollback would leave services suspended and snapshots filling the VG,
//! the very thing the signal's sender wants to avoid. (SIGKILL cannot be
//! caught; `snapplan recover` is for that.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Installs the handlers; the flag turns true at the first signal.
pub fn install() -> std::io::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let seen = Arc::clone(&flag);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let name = if signal == SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                if seen.swap(true, Ordering::SeqCst) {
                    tracing::warn!(
                        "{name} again: still rolling back (resuming hooks, removing snapshots) \
                         before exiting; SIGKILL would leave them for `snapplan recover`"
                    );
                } else {
                    tracing::warn!("{name}: stopping at the next safe point, then rolling back");
                }
            }
        })?;
    Ok(flag)
}
