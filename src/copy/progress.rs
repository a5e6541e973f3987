//! Progress of a long copy. On a terminal an indicatif bar; in cron and
//! logs a plain line every ~10 s (a bar's carriage returns make a mess of a
//! log file). The engine only calls a [`ProgressSink`]; apply can pass its
//! own to log in its format.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::human;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Copy,
    Verify,
}

impl Phase {
    fn label(self) -> &'static str {
        match self {
            Phase::Copy => "copy",
            Phase::Verify => "verify",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressUpdate {
    pub phase: Phase,
    /// Bytes read (and hashed) so far in this phase.
    pub done: u64,
    pub total: u64,
    pub written: u64,
    pub skipped: u64,
    pub elapsed: Duration,
}

impl ProgressUpdate {
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn eta(&self) -> Option<Duration> {
        let rate = self.rate();
        (self.done > 0 && rate > 0.0)
            .then(|| Duration::from_secs_f64((self.total - self.done) as f64 / rate))
    }

    /// `copy: 45% 921.6 MiB of 2.0 GiB, 120.3 MiB/s, ETA 0:00:09`
    pub fn line(&self) -> String {
        let percent = if self.total == 0 {
            100.0
        } else {
            self.done as f64 * 100.0 / self.total as f64
        };
        let eta = self.eta().map_or_else(|| "?".to_string(), format_duration);
        format!(
            "{}: {percent:.0}% {} of {}, {}, ETA {eta}",
            self.phase.label(),
            human::bytes(self.done),
            human::bytes(self.total),
            human::rate(self.rate()),
        )
    }
}

pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Receives progress; called by the engine after each chunk, from the
/// thread that called it. Sinks rate-limit their own output.
pub trait ProgressSink: Sync {
    fn update(&self, update: &ProgressUpdate);
    /// The phase ended (the bar is cleared; the summary comes from the caller).
    fn finish(&self, _update: &ProgressUpdate) {}
}

/// Shows nothing.
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn update(&self, _: &ProgressUpdate) {}
}

/// A plain line on stderr every `interval`.
pub struct PlainLines {
    interval: Duration,
    last: Mutex<Option<Instant>>,
}

impl PlainLines {
    pub fn every(interval: Duration) -> Self {
        PlainLines {
            interval,
            last: Mutex::new(None),
        }
    }

    /// Whether a line is due now (the first comes after one interval).
    fn due(&self, now: Instant) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let since = *last.get_or_insert(now);
        if now.duration_since(since) >= self.interval {
            *last = Some(now);
            true
        } else {
            false
        }
    }
}

impl ProgressSink for PlainLines {
    fn update(&self, update: &ProgressUpdate) {
        if self.due(Instant::now()) {
            eprintln!("{}", update.line());
        }
    }
}

/// An indicatif bar on stderr with bytes, rate and ETA.
pub struct Bar {
    bar: indicatif::ProgressBar,
    phase: Mutex<Option<Phase>>,
}

impl Bar {
    pub fn new(target: indicatif::ProgressDrawTarget) -> Self {
        let bar = indicatif::ProgressBar::with_draw_target(Some(0), target);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>6} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Bar {
            bar,
            phase: Mutex::new(None),
        }
    }
}

impl ProgressSink for Bar {
    fn update(&self, update: &ProgressUpdate) {
        let mut phase = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        if *phase != Some(update.phase) {
            *phase = Some(update.phase);
            self.bar.reset();
            self.bar.set_prefix(update.phase.label());
            self.bar.set_length(update.total);
        }
        self.bar.set_position(update.done);
    }

    fn finish(&self, _update: &ProgressUpdate) {
        self.bar.finish_and_clear();
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// How progress is shown (the command line's `--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar on a terminal, a plain line every ~10 s otherwise.
    Auto,
    /// A bar even when stderr is not a terminal.
    Always,
    /// Only the final summary line.
    Never,
}

/// The sink for `mode`, given whether stderr is a terminal.
pub fn sink_for(mode: ProgressMode) -> Box<dyn ProgressSink> {
    sink_for_terminal(mode, std::io::stderr().is_terminal())
}

fn sink_for_terminal(mode: ProgressMode, terminal: bool) -> Box<dyn ProgressSink> {
    match (mode, terminal) {
        (ProgressMode::Never, _) => Box::new(NoProgress),
        (ProgressMode::Auto, true) => Box::new(Bar::new(indicatif::ProgressDrawTarget::stderr())),
        (ProgressMode::Auto, false) => Box::new(PlainLines::every(Duration::from_secs(10))),
        (ProgressMode::Always, _) => Box::new(Bar::new(indicatif::ProgressDrawTarget::term_like(
            Box::new(StderrTerm),
        ))),
    }
}

/// stderr as indicatif's terminal even when it is not one (`--progress
/// always`, e.g. under `script` or a CI log viewer that renders `\r`).
#[derive(Debug)]
struct StderrTerm;

impl StderrTerm {
    /// CSI n A/B/C/D; nothing for 0 (terminals read `CSI 0 A` as 1).
    fn move_cursor(&self, n: usize, direction: char) -> std::io::Result<()> {
        use indicatif::TermLike;
        if n == 0 {
            return Ok(());
        }
        self.write_str(&format!("\x1b[{n}{direction}"))
    }
}

impl indicatif::TermLike for StderrTerm {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.move_cursor(n, 'A')
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.move_cursor(n, 'B')
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.move_cursor(n, 'C')
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.move_cursor(n, 'D')
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.write_str(&format!("{s}\n"))
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        use std::io::Write;
        std::io::stderr().write_all(s.as_bytes())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.write_str("\r\x1b[2K")
    }
    fn flush(&self) -> std::io::Result<()> {
        use std::io::Write;
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_percent_bytes_rate_and_eta() {
        let update = ProgressUpdate {
            phase: Phase::Copy,
            done: 1 << 30,
            total: 2 << 30,
            written: 0,
            skipped: 0,
            elapsed: Duration::from_secs(8),
        };
        assert_eq!(
            update.line(),
            "copy: 50% 1.0 GiB of 2.0 GiB, 128.0 MiB/s, ETA 0:00:08"
        );
    }

    #[test]
    fn eta_unknown_before_the_first_byte() {
        let update = ProgressUpdate {
            phase: Phase::Verify,
            done: 0,
            total: 10,
            written: 0,
            skipped: 0,
            elapsed: Duration::ZERO,
        };
        assert!(update.line().ends_with("ETA ?"), "{}", update.line());
    }

    #[test]
    fn plain_lines_wait_an_interval_between_lines() {
        let lines = PlainLines::every(Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(!lines.due(t0));
        assert!(!lines.due(t0 + Duration::from_secs(9)));
        assert!(lines.due(t0 + Duration::from_secs(10)));
        assert!(!lines.due(t0 + Duration::from_secs(15)));
        assert!(lines.due(t0 + Duration::from_secs(21)));
    }
}
