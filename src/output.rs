//! Where snapplan's own words go, in one place: results on stdout,
//! messages and diagnostics on stderr (or, with `--log-format json`, as log
//! events, so that stderr holds nothing but JSON lines).
//!
//! `println!` panics when its reader has gone (`snapplan report | head -1`),
//! and a panic is exit 101 with a message: here a closed stdout only drops
//! the rest of the output, so the command ends quietly with the status it
//! would have had (as `ripgrep` does). Any other write error is remembered
//! and turned into a failure by [`finish`]. snapplan ignores SIGPIPE (Rust
//! does by default) rather than dying of it, so that a closed pipe can never
//! cut an apply short before its rollback.

use std::fmt;
use std::io::{ErrorKind, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

static JSON_LOG: AtomicBool = AtomicBool::new(false);
static JOURNAL: AtomicBool = AtomicBool::new(false);
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDOUT_ERROR: Mutex<Option<String>> = Mutex::new(None);

/// Set once by the command line: messages become log events.
pub fn set_json_log(on: bool) {
    JSON_LOG.store(on, Ordering::SeqCst);
}

/// Set once by the command line when stderr is systemd's journal stream:
/// error and warning messages then carry their syslog priority (`<3>`,
/// `<4>`) on every line, as log lines do.
pub fn set_journal(on: bool) {
    JOURNAL.store(on, Ordering::SeqCst);
}

/// True with `--log-format json`: stderr must hold only JSON lines.
pub fn json_log() -> bool {
    JSON_LOG.load(Ordering::SeqCst)
}

/// Writes to stdout (use [`crate::out!`] and [`crate::outln!`]).
pub fn stdout(args: fmt::Arguments<'_>) {
    if STDOUT_CLOSED.load(Ordering::SeqCst) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        stdout_failed(e);
    }
}

fn stdout_failed(e: std::io::Error) {
    STDOUT_CLOSED.store(true, Ordering::SeqCst);
    if e.kind() != ErrorKind::BrokenPipe {
        let mut first = STDOUT_ERROR.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert_with(|| e.to_string());
    }
}

/// Flushes stdout at the end of a command: `Err` with the reason when the
/// output could not be written (a full disk, say), never for a reader that
/// went away.
pub fn finish() -> Result<(), String> {
    if !STDOUT_CLOSED.load(Ordering::SeqCst)
        && let Err(e) = std::io::stdout().lock().flush()
    {
        stdout_failed(e);
    }
    match STDOUT_ERROR
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        Some(reason) => Err(reason),
        None => Ok(()),
    }
}

/// One message for the admin (use [`crate::errln!`]). As text it is written
/// to stderr exactly as given; as JSON it is a log event whose level comes
/// from its prefix (`error:`, `warning:`, `note:`) and whose message is the
/// rest. A stderr that cannot be written is ignored: there is nowhere left
/// to say so.
pub fn message(text: &str) {
    let (level, rest) = if let Some(rest) = text.strip_prefix("error: ") {
        (Level::Error, rest)
    } else if let Some(rest) = text.strip_prefix("warning: ") {
        (Level::Warning, rest)
    } else if let Some(rest) = text.strip_prefix("note: ") {
        (Level::Info, rest)
    } else {
        (Level::Info, text)
    };
    say(level, text, rest);
}

#[derive(Clone, Copy)]
enum Level {
    Error,
    Warning,
    Info,
}

/// `text` on stderr as written, or `event_text` as an event.
fn say(level: Level, text: &str, event_text: &str) {
    if json_log() {
        let event_text = event_text.trim_end_matches('\n');
        match level {
            Level::Error => tracing::error!("{event_text}"),
            Level::Warning => tracing::warn!("{event_text}"),
            Level::Info => tracing::info!("{event_text}"),
        }
        return;
    }
    let prefix = match level {
        _ if !JOURNAL.load(Ordering::SeqCst) => "",
        Level::Error => "<3>",
        Level::Warning => "<4>",
        Level::Info => "",
    };
    let mut stderr = std::io::stderr().lock();
    if prefix.is_empty() {
        let _ = stderr.write_all(text.as_bytes());
    } else {
        for line in text.lines() {
            let _ = writeln!(stderr, "{prefix}{line}");
        }
    }
}

/// A diagnostic (a bad plan, a typed error): miette's report on stderr, or
/// with `--log-format json` log events: one error for the diagnostic, its
/// `diagnostic` field holding miette's whole JSON report, then one error
/// per related problem (every problem of a bad plan) with its `code`, `at`
/// (`file:line:column`), `label` and `help` as fields.
pub fn diagnostic(report: &miette::Report) {
    if !json_log() {
        let text = format!("{report:?}\n");
        say(Level::Error, &text, &text);
        return;
    }
    let top: &dyn miette::Diagnostic = report.as_ref();
    let json = diagnostic_json(top);
    let code = top.code().map(|c| c.to_string());
    let at = location(top, top);
    tracing::error!(code, at, diagnostic = %json, "{report}");
    for problem in top.related().into_iter().flatten() {
        let code = problem.code().map(|c| c.to_string());
        let help = problem.help().map(|h| h.to_string());
        let label = problem
            .labels()
            .and_then(|mut l| l.next())
            .and_then(|l| l.label().map(str::to_string));
        let at = location(problem, top);
        tracing::error!(code, at, label, help, "{problem}");
    }
}

/// `file:line:column` (1-based) of a diagnostic's first label, in its own
/// source or its parent's.
fn location(
    diagnostic: &dyn miette::Diagnostic,
    parent: &dyn miette::Diagnostic,
) -> Option<String> {
    let span = diagnostic.labels()?.next()?;
    let source = diagnostic.source_code().or(parent.source_code())?;
    let contents = source.read_span(span.inner(), 0, 0).ok()?;
    let name = contents.name().unwrap_or("");
    Some(format!(
        "{name}:{}:{}",
        contents.line() + 1,
        contents.column() + 1
    ))
}

/// miette's JSON report of one diagnostic, on one line.
pub fn diagnostic_json(diagnostic: &dyn miette::Diagnostic) -> String {
    let mut out = String::new();
    match miette::JSONReportHandler::new().render_report(&mut out, diagnostic) {
        Ok(()) => out,
        Err(_) => serde_json::json!({ "message": diagnostic.to_string() }).to_string(),
    }
}

/// `print!` that survives a closed stdout; see the module doc.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::stdout(format_args!($($arg)*)) };
}

/// `println!` that survives a closed stdout; see the module doc.
#[macro_export]
macro_rules! outln {
    () => { $crate::output::stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` for messages: a log event with `--log-format json`.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::output::message(&format!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` for messages: a log event with `--log-format json`.
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => { $crate::output::message(&format!($($arg)*)) };
}
