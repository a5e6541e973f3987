//! How a bad plan is reported: every problem of a file at once, each with
//! the file name, line and column, the offending text underlined and what to
//! do about it. Cron mails and CI logs are read by people who did not write
//! the plan, so each message names the key and the fix.

use std::fmt;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};

/// One thing wrong with a plan, at one place (plus related places, such as
/// the first definition of a duplicate key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Stable identifier of the kind of problem, e.g. `plan::unknown_key`.
    pub code: &'static str,
    pub message: String,
    /// The primary label first.
    pub labels: Vec<(SourceSpan, String)>,
    pub help: Option<String>,
}

impl Problem {
    pub fn new(code: &'static str, message: impl Into<String>, at: SourceSpan) -> Self {
        Problem {
            code,
            message: message.into(),
            labels: vec![(at, String::new())],
            help: None,
        }
    }

    /// Text for the primary label (what is underlined).
    pub fn label(mut self, text: impl Into<String>) -> Self {
        self.labels[0].1 = text.into();
        self
    }

    /// Another place that explains this problem.
    pub fn also(mut self, at: SourceSpan, text: impl Into<String>) -> Self {
        self.labels.push((at, text.into()));
        self
    }

    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = Some(text.into());
        self
    }

    /// Where the problem is (the primary label), for sorting.
    pub fn offset(&self) -> usize {
        self.labels[0].0.offset()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().enumerate().map(
            |(i, (span, text))| {
                let text = (!text.is_empty()).then(|| text.clone());
                if i == 0 {
                    LabeledSpan::new_primary_with_span(text, *span)
                } else {
                    LabeledSpan::new_with_span(text, *span)
                }
            },
        )))
    }
}

/// Why a plan could not be loaded.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum LoadError {
    /// The file could not be read at all (missing, unreadable, a directory).
    #[error("cannot read plan {path}: {reason}")]
    #[diagnostic(code(plan::unreadable))]
    Unreadable {
        path: String,
        reason: String,
        #[help]
        help: Option<String>,
    },

    /// Plans are small; anything this big is a mistake or an attack.
    #[error("plan {path} is too large ({size} bytes)")]
    #[diagnostic(
        code(plan::too_large),
        help("a plan is at most {limit} bytes; is this the right file?")
    )]
    TooLarge { path: String, size: u64, limit: u64 },

    /// The file is not UTF-8 text.
    #[error("plan {path} is not UTF-8 text")]
    #[diagnostic(
        code(plan::not_utf8),
        help("save the plan as UTF-8 (plans are plain text; is this the right file?)")
    )]
    NotUtf8 {
        path: String,
        #[source_code]
        source_code: NamedSource<String>,
        #[label("invalid UTF-8 here")]
        at: SourceSpan,
    },

    /// YAML that parsed but is not a valid plan, or did not parse: every
    /// problem found, in file order.
    #[error("{}", summary(path, problems))]
    Invalid {
        path: String,
        #[source_code]
        source_code: NamedSource<String>,
        #[related]
        problems: Vec<Problem>,
    },
}

fn summary(path: &str, problems: &[Problem]) -> String {
    let (more, listed): (Vec<&Problem>, Vec<&Problem>) =
        problems.iter().partition(|p| p.code == MORE_PROBLEMS_CODE);
    let hidden: usize = more
        .iter()
        .filter_map(|p| p.message.split(' ').next()?.parse::<usize>().ok())
        .sum();
    match (listed.len(), hidden) {
        (1, 0) => format!("{path} is not a valid plan: 1 problem"),
        (n, 0) => format!("{path} is not a valid plan: {n} problems"),
        (n, hidden) => format!(
            "{path} is not a valid plan: {} problems (the first {n} shown)",
            n + hidden
        ),
    }
}

/// The code of the last problem of a truncated list, whose message starts
/// with the number of problems not shown.
pub const MORE_PROBLEMS_CODE: &str = "plan::more_problems";

impl LoadError {
    /// The problems found in the plan's content (empty when the file could
    /// not be read or decoded).
    pub fn problems(&self) -> &[Problem] {
        match self {
            LoadError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

/// Longest word (in bytes) compared for a suggestion. Similarity costs the
/// product of the two lengths, and no key or volume name is longer than
/// LVM's 127 characters: anything longer is no typo of one.
pub const MAX_SUGGESTED_LEN: usize = 128;

/// The closest of `candidates` to `word`, if one is close enough to be a
/// likely typo. Bounded: words and candidates longer than
/// [`MAX_SUGGESTED_LEN`] are not compared.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    if word.len() > MAX_SUGGESTED_LEN {
        return None;
    }
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| c.len() <= MAX_SUGGESTED_LEN)
        .map(|c| (strsim::jaro_winkler(&word, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Longest value echoed in a message, in characters.
pub const MAX_ECHOED_CHARS: usize = 80;

/// `value` quoted for a message, as `{:?}` shows it, cut to
/// [`MAX_ECHOED_CHARS`] with its full length said.
pub fn quoted(value: &str) -> String {
    match value.char_indices().nth(MAX_ECHOED_CHARS) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!(
            "{:?}... ({} characters in all)",
            &value[..cut],
            value.chars().count()
        ),
    }
}

/// `value` for a message in backquotes (a name): control characters
/// escaped, cut to [`MAX_ECHOED_CHARS`].
pub fn shown(value: &str) -> String {
    crate::printable::excerpt(value, MAX_ECHOED_CHARS)
}

/// At most `max` of `names`, joined by `, `, then how many more there are.
pub fn some_of<'a>(names: impl IntoIterator<Item = &'a str>, max: usize) -> String {
    let mut shown_names = Vec::new();
    let mut more = 0usize;
    for name in names {
        if shown_names.len() < max {
            shown_names.push(shown(name));
        } else {
            more += 1;
        }
    }
    let mut text = shown_names.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// Renders a diagnostic the way the tests and `--color never` show it: no
/// colour, fixed width, so that the output is stable.
pub fn render_plain(diagnostic: &dyn Diagnostic) -> String {
    let mut out = String::new();
    // Falls back to the bare message should a span ever be out of range.
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .with_links(false)
        .render_report(&mut out, diagnostic)
        .map_or_else(|_| format!("{diagnostic}\n"), |()| out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let keys = ["snapshot_size", "bandwidth", "verify"];
        assert_eq!(did_you_mean("snapshot_sise", keys), Some("snapshot_size"));
        assert_eq!(did_you_mean("bandwith", keys), Some("bandwidth"));
        assert_eq!(did_you_mean("colour", keys), None);
    }

    #[test]
    fn suggestions_cost_little_whatever_the_input() {
        // A million-character word against a long name is not compared at
        // all (quadratic similarity took seconds); the corpus test measures it.
        let word = "x".repeat(1_000_000);
        let long = "x".repeat(100_000);
        assert_eq!(did_you_mean(&word, [long.as_str(), "x"]), None);
        assert_eq!(did_you_mean("xx", [long.as_str()]), None);
        assert_eq!(did_you_mean("volums", ["volumes"]), Some("volumes"));
    }

    #[test]
    fn echoed_values_are_bounded() {
        assert_eq!(quoted("a\nb"), "\"a\\nb\"");
        let long = "y".repeat(5000);
        assert!(quoted(&long).len() < 150);
        assert!(quoted(&long).ends_with("(5000 characters in all)"));
        assert_eq!(some_of(["a", "b", "c"], 2), "a, b and 1 more");
        assert_eq!(shown("a\u{1b}[2J"), "a\\x1b[2J");
    }
}
