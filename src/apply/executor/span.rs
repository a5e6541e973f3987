//! Threads the executor starts log in the run's span. A new thread starts
//! outside every span, so without this the watchdog's warnings (a snapshot
//! filling up, the reason a copy stopped) would lack the plan and run id
//! that `--log-format json` promises on every event.

use std::thread::{Scope, ScopedJoinHandle};

/// `scope.spawn(f)`, with `f` run inside the caller's current span and
/// subscriber.
pub(super) fn spawn_in_span<'scope, 'env, T: Send + 'scope>(
    scope: &'scope Scope<'scope, 'env>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> ScopedJoinHandle<'scope, T> {
    let span = tracing::Span::current();
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    scope.spawn(move || tracing::dispatcher::with_default(&dispatch, || span.in_scope(f)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_event_from_a_spawned_thread_carries_the_run_span() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let run = tracing::info_span!("run", plan = "nightly", run_id = "r-1");
            let _entered = run.enter();
            std::thread::scope(|s| {
                spawn_in_span(s, || tracing::warn!("from the watchdog"))
                    .join()
                    .unwrap();
                // What a bare spawn does: no span, and no subscriber either.
                s.spawn(|| tracing::warn!("lost")).join().unwrap();
            });
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line = text
            .lines()
            .find(|l| l.contains("from the watchdog"))
            .expect("the thread's event was logged");
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(event["span"]["name"], "run");
        assert_eq!(event["span"]["run_id"], "r-1");
        assert!(!text.contains("lost"));
    }
}
