//! The log on stderr, in the form its reader wants:
//! - on a terminal or in a cron mail: plain lines with a timestamp;
//! - under systemd (stderr is the journal, `JOURNAL_STREAM` says so): each
//!   line starts with its syslog priority (`<3>` for an error), so that
//!   `journalctl -p err -u 'snapplan@*'` finds failures, and carries no
//!   timestamp of its own (the journal stamps every line);
//! - with `--log-format json`: one JSON object per line, the message at the
//!   top level, and the `run` span (plan, run id) on every event of a run.
//!   [`crate::output`] turns snapplan's other stderr messages into events
//!   then, so that stderr holds nothing but JSON lines.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::{Color, GlobalArgs, LogFormat};

/// The environment variable systemd sets to the device and inode
/// (`DEV:INODE`) of the journal stream it connected stdout/stderr to.
pub const JOURNAL_STREAM_ENV: &str = "JOURNAL_STREAM";

pub fn install(global: &GlobalArgs) {
    use std::io::IsTerminal;
    let level = match global.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SNAPPLAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    crate::output::set_json_log(global.log_format == LogFormat::Json);
    let journal = stderr_is_journal();
    crate::output::set_journal(journal);
    // A log line that cannot be written is dropped: telling about it on
    // the same closed stderr would fail again.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    let _ = match global.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text if journal => builder
            .with_ansi(false)
            .event_format(JournalFormat)
            .try_init(),
        LogFormat::Text if std::io::stderr().is_terminal() && global.color != Color::Never => {
            builder.with_ansi(true).with_target(false).try_init()
        }
        // Cron mail and files: a newline or escape inside a hook's name or
        // LVM's stderr must not forge a log line (docs/security.md).
        LogFormat::Text => builder
            .with_ansi(false)
            .with_target(false)
            .with_writer(|| OneLine(std::io::stderr()))
            .try_init(),
    };
}

/// Writes each formatted event as one line: every control or bidi
/// character in it is escaped ([`crate::printable::escape`]) but the
/// newline that ends it. The formatter hands over one event per write.
struct OneLine<W>(W);

impl<W: std::io::Write> std::io::Write for OneLine<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(bytes);
        let (body, end) = match text.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (&*text, ""),
        };
        let line = format!("{}{end}", crate::printable::escape(body));
        self.0.write_all(line.as_bytes())?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// True when stderr is the journal stream systemd named in
/// `JOURNAL_STREAM` (not merely inherited by a child whose stderr was
/// redirected elsewhere, which is why the device and inode are compared).
pub fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os(JOURNAL_STREAM_ENV) else {
        return false;
    };
    let Ok(stat) = rustix::fs::fstat(std::io::stderr()) else {
        return false;
    };
    names_stream(&value.to_string_lossy(), stat.st_dev, stat.st_ino)
}

/// Whether `DEV:INODE` (decimal, as systemd writes it) names this file.
fn names_stream(value: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = value.trim().split_once(':') else {
        return false;
    };
    d.parse::<u64>() == Ok(dev) && i.parse::<u64>() == Ok(ino)
}

/// The syslog priority journald reads from a `<N>` line prefix.
pub fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// `<3>ERROR run{plan=home run_id=...}: message`: the priority prefix for
/// journald, the level word for people reading `journalctl` output in a
/// mail, the spans as the plain format shows them, no timestamp. One line
/// per event: journald reads each line as an entry of its own, so a newline
/// inside a value is escaped rather than allowed to start a forged entry.
pub struct JournalFormat;

impl<S, N> FormatEvent<S, N> for JournalFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = *event.metadata().level();
        let mut line = String::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                line.push_str(span.name());
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    line.push('{');
                    line.push_str(fields);
                    line.push('}');
                }
                line.push_str(": ");
            }
        }
        ctx.field_format()
            .format_fields(Writer::new(&mut line), event)?;
        // One entry per event: a newline inside a value (a hook's name,
        // LVM's stderr) is escaped, so it cannot forge an entry of its own
        // with a priority of its choosing.
        writeln!(
            writer,
            "<{}>{level:>5} {}",
            priority(level),
            crate::printable::escape(&line)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_named_by_device_and_inode() {
        assert!(names_stream("64768:1234", 64768, 1234));
        assert!(!names_stream("64768:1235", 64768, 1234));
        assert!(!names_stream("garbage", 64768, 1234));
        assert!(!names_stream("", 0, 0));
    }

    #[test]
    fn a_newline_or_escape_in_a_logged_value_cannot_forge_a_line() {
        use std::io::Write;
        let mut out = OneLine(Vec::new());
        out.write_all(b" INFO hook 10-db\n2026-12-02 ERROR fake\x1b[2J ran\n")
            .unwrap();
        out.write_all(b" INFO plain\n").unwrap();
        let text = String::from_utf8(out.0).unwrap();
        assert_eq!(
            text,
            " INFO hook 10-db\\n2026-12-02 ERROR fake\\x1b[2J ran\n INFO plain\n"
        );
    }

    #[test]
    fn errors_and_warnings_have_their_syslog_priorities() {
        assert_eq!(priority(Level::ERROR), 3);
        assert_eq!(priority(Level::WARN), 4);
        assert_eq!(priority(Level::INFO), 6);
        assert_eq!(priority(Level::DEBUG), 7);
    }
}
