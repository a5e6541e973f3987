//! Reading a plan: file -> text -> YAML tree -> plan as written -> plan as
//! meant. Each stage collects what it can before giving up, so that an
//! admin sees every problem of a file in one go.

use std::io::Read;
use std::path::Path;

use miette::{NamedSource, SourceSpan};

pub use super::diagnostic::LoadError;
use super::diagnostic::Problem;
use super::model::Plan;
use super::raw::{self, Reader};
use super::tree::Node;
use super::validate::validate;

/// Plans are a few hundred bytes; anything over this is not a plan, and
/// refusing it early bounds what a hostile file can cost.
pub const MAX_PLAN_BYTES: u64 = 1024 * 1024;

/// Reads and validates the plan at `path`.
pub fn load(path: &Path) -> Result<Plan, LoadError> {
    let name = path.display().to_string();
    let unreadable = |e: std::io::Error| LoadError::Unreadable {
        path: name.clone(),
        help: Some(match e.kind() {
            std::io::ErrorKind::NotFound => {
                "check the path; plans are usually in /etc/snapplan/".into()
            }
            std::io::ErrorKind::PermissionDenied => {
                "run as a user that may read the plan (snapplan apply runs as root)".into()
            }
            _ => "check that the path names a readable plan file".into(),
        }),
        reason: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if meta.is_dir() {
        return Err(LoadError::Unreadable {
            path: name,
            reason: "it is a directory".into(),
            help: Some("name the plan file itself, e.g. plans/home-server.yaml".into()),
        });
    }
    // `take` bounds the read even for files whose size the metadata does
    // not tell (pipes, /dev/zero).
    let mut bytes = Vec::new();
    file.take(MAX_PLAN_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_PLAN_BYTES {
        return Err(LoadError::TooLarge {
            path: name,
            size: meta.len().max(bytes.len() as u64),
            limit: MAX_PLAN_BYTES,
        });
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            return Err(LoadError::NotUtf8 {
                source_code: NamedSource::new(&name, lossy),
                path: name,
                at: SourceSpan::new(at.into(), '\u{FFFD}'.len_utf8()),
            });
        }
    };
    parse(&name, &text)
}

/// Validates the plan text `text`; `source_name` is what diagnostics call
/// the file.
pub fn parse(source_name: &str, text: &str) -> Result<Plan, LoadError> {
    let source_name = &*crate::printable::escape(source_name);
    if text.len() as u64 > MAX_PLAN_BYTES {
        return Err(LoadError::TooLarge {
            path: source_name.to_string(),
            size: text.len() as u64,
            limit: MAX_PLAN_BYTES,
        });
    }
    let invalid = |mut problems: Vec<Problem>| {
        for problem in &mut problems {
            for (span, _) in &mut problem.labels {
                *span = within(text, *span);
            }
        }
        problems.sort_by_key(Problem::offset);
        let mut problems = shown(problems);
        let display = for_display(text, &mut problems);
        for problem in &mut problems {
            tidy(problem);
        }
        LoadError::Invalid {
            path: source_name.to_string(),
            source_code: NamedSource::new(source_name, display).with_language("yaml"),
            problems,
        }
    };
    let tree = read_tree(text).map_err(|p| invalid(vec![p]))?;
    let mut problems = tag_problems(&tree);
    let mut reader = Reader::default();
    let raw = raw::from_tree(&mut reader, &tree);
    problems.append(&mut reader.problems);
    let plan = raw.and_then(|raw| validate(&raw, &mut problems));
    match plan {
        Some(plan) if problems.is_empty() => Ok(plan),
        _ => Err(invalid(problems)),
    }
}

/// Explicit YAML tags, each a problem. A tag changes what a value is
/// without the change being visible: `!!binary aG9tZQ==` is the string
/// `home`, `!!str 1` is text. A plan is reviewed as text, so what it says
/// must be what it reads as.
fn tag_problems(tree: &Node) -> Vec<Problem> {
    tree.tagged(MAX_PROBLEMS_SHOWN + 1)
        .into_iter()
        .map(|(node, tag)| {
            Problem::new(
                "plan::yaml_tag",
                format!(
                    "YAML tag `{}` is not allowed in a plan",
                    crate::printable::excerpt(&spelled(tag), 60)
                ),
                node.span,
            )
            .label("tagged value")
            .help("remove the tag and write the value as plain text (quote it if it must be a string); a tag hides from a reviewer what the value really is")
        })
        .collect()
}

/// A resolved tag as it is usually written: `!!binary`, `!custom`.
fn spelled(tag: &str) -> String {
    match tag.strip_prefix("tag:yaml.org,2002:") {
        Some(core) => format!("!!{core}"),
        None => tag.to_string(),
    }
}

/// Longest message, label or help shown, in characters; values inside are
/// cut shorter where they are echoed, this bounds whatever slipped through.
const MAX_MESSAGE_CHARS: usize = 1000;

/// A problem's texts as they may be printed: control characters escaped
/// (a value can hold a newline or a terminal escape), length bounded.
fn tidy(problem: &mut Problem) {
    use crate::printable::excerpt;
    problem.message = excerpt(&problem.message, MAX_MESSAGE_CHARS);
    for (_, label) in &mut problem.labels {
        *label = excerpt(label, MAX_MESSAGE_CHARS);
    }
    if let Some(help) = &mut problem.help {
        *help = excerpt(help, MAX_MESSAGE_CHARS);
    }
}

/// Longest source line a diagnostic shows, in bytes; the rest of a longer
/// line is replaced by `...`.
pub const MAX_SHOWN_LINE: usize = 200;

/// The plan text as diagnostics show it, with the problems' spans moved to
/// match: every character that would act on the terminal replaced by a
/// visible one of the same length in bytes (`?`, `¿`, `\u{fffd}`), so
/// that offsets and columns stay right, and lines longer than
/// [`MAX_SHOWN_LINE`] cut, so that a megabyte-long line is not printed once
/// per label. Line numbers never change.
fn for_display(text: &str, problems: &mut [Problem]) -> String {
    // Per line: where it starts in `text`, where in the result, and how many
    // of its bytes were kept.
    let mut lines: Vec<(usize, usize, usize)> = Vec::new();
    let mut out = String::with_capacity(text.len().min(1 << 16));
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix("\r\n") {
            Some(body) => (body, "\r\n"),
            None => match line.strip_suffix('\n') {
                Some(body) => (body, "\n"),
                None => (line, ""),
            },
        };
        let mut keep = body.len();
        if keep > MAX_SHOWN_LINE {
            keep = MAX_SHOWN_LINE;
            while !body.is_char_boundary(keep) {
                keep -= 1;
            }
        }
        lines.push((start, out.len(), keep));
        for c in body[..keep].chars() {
            if crate::printable::is_unsafe(c) && c != '\t' {
                out.push(match c.len_utf8() {
                    1 => '?',
                    2 => '\u{bf}',
                    _ => '\u{fffd}',
                });
                for _ in 3..c.len_utf8() {
                    out.push('?');
                }
            } else {
                out.push(c);
            }
        }
        if keep < body.len() {
            out.push_str("...");
        }
        out.push_str(end);
        start += line.len();
    }
    let map = |offset: usize| -> usize {
        let i = lines
            .partition_point(|&(s, _, _)| s <= offset)
            .saturating_sub(1);
        match lines.get(i) {
            Some(&(s, d, keep)) => d + (offset - s).min(keep),
            None => 0,
        }
    };
    for problem in problems {
        for (span, _) in &mut problem.labels {
            let from = map(span.offset());
            let to = map(span.offset() + span.len()).max(from);
            *span = within(&out, SourceSpan::new(from.into(), to - from));
        }
    }
    out
}

/// Most problems shown for one file: beyond this the admin learns nothing
/// new, and rendering thousands of snippets would take minutes.
pub const MAX_PROBLEMS_SHOWN: usize = 50;

/// The first [`MAX_PROBLEMS_SHOWN`] problems, then one that says how many
/// more there are and points at the next.
fn shown(mut problems: Vec<Problem>) -> Vec<Problem> {
    if problems.len() <= MAX_PROBLEMS_SHOWN {
        return problems;
    }
    let more = problems.len() - MAX_PROBLEMS_SHOWN;
    let next = problems[MAX_PROBLEMS_SHOWN].labels[0].0;
    problems.truncate(MAX_PROBLEMS_SHOWN);
    problems.push(
        Problem::new(
            super::diagnostic::MORE_PROBLEMS_CODE,
            format!("{more} more problems are not shown"),
            next,
        )
        .label("the next one is here")
        .help("fix the problems above and run `snapplan validate` again"),
    );
    problems
}

/// Bounds on what a plan may cost to parse: plans are tiny, so these are
/// far below the YAML library's defaults, and alias bombs, deep nesting and
/// document storms fail fast with a located error.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_reader_input_bytes: Some(MAX_PLAN_BYTES as usize),
            max_events: 10_000,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_depth: 16,
            max_documents: 2,
            max_nodes: 5_000,
            max_total_scalar_bytes: MAX_PLAN_BYTES as usize,
            max_merge_keys: 100,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 10_000,
            max_replay_stack_depth: 16,
            max_alias_expansions_per_anchor: 100,
        },
        // Duplicates reach the tree so that both places can be shown.
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        // A tag snapplan does not know (`!secret x`) would be silently
        // dropped otherwise.
        reject_unsupported_tags: true,
        // YAML 1.2: `yes`, `no`, `on`, `off` are strings, not booleans.
        strict_booleans: true,
        // YAML 1.2 again: `1_000` is a string, not a number.
        underscored_numbers_as_strings: true,
        with_snippet: false,
    }
}

fn read_tree(text: &str) -> Result<Node, Problem> {
    serde_saphyr::from_str_with_options::<Node>(text, yaml_options()).map_err(|e| {
        use serde_saphyr::MessageFormatter;
        let e = e.without_snippet();
        let message = serde_saphyr::UserMessageFormatter
            .format_message(e)
            .into_owned();
        let span = e.location().map_or(SourceSpan::new(0.into(), 0), |l| {
            let offset = l
                .span()
                .byte_offset()
                .map(|o| usize::try_from(o).unwrap_or(usize::MAX))
                .unwrap_or_else(|| offset_of(text, l.line(), l.column()));
            SourceSpan::new(offset.min(text.len()).into(), 0)
        });
        use serde_saphyr::Error as E;
        // Alias errors may arrive wrapped (with their alias location), so
        // the message is checked as well as the variant.
        let too_costly = matches!(
            e,
            E::Budget { .. }
                | E::AliasReplayCounterOverflow { .. }
                | E::AliasReplayLimitExceeded { .. }
                | E::AliasExpansionLimitExceeded { .. }
                | E::AliasReplayStackDepthExceeded { .. }
        ) || message.starts_with("YAML document too large or too complex");
        if too_costly {
            let detail = message
                .strip_prefix("YAML document too large or too complex: ")
                .unwrap_or(&message);
            Problem::new(
                "plan::too_complex",
                format!("this YAML is too large or too deeply nested for a plan ({detail})"),
                span,
            )
            .label("limit reached here")
            .help("a plan is small: at most 5000 YAML values (several hundred volumes), 16 levels deep, 1000 aliases and 10000 replayed alias events; is this the right file?")
        } else if matches!(e, E::MultipleDocuments { .. }) {
            Problem::new("plan::yaml", "a plan is one YAML document, this file has several", span)
                .label("a second document starts here")
                .help("put each plan in its own file")
        } else {
            Problem::new("plan::yaml", format!("YAML error: {message}"), span)
                .label("here")
                .help("fix the YAML syntax here; `snapplan validate` checks the rest once it parses")
        }
    })
}

/// `span` moved inside `text` and onto character boundaries: a label
/// outside the source would make the diagnostic itself fail to render.
fn within(text: &str, span: SourceSpan) -> SourceSpan {
    let mut start = span.offset().min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = span
        .offset()
        .saturating_add(span.len())
        .clamp(start, text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    SourceSpan::new(start.into(), end - start)
}

/// Byte offset of 1-based `line` and `column` (in characters) in `text`,
/// clamped to the text.
fn offset_of(text: &str, line: u64, column: u64) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(usize::try_from(line.saturating_sub(1)).unwrap_or(usize::MAX))
        .map(str::len)
        .sum();
    let rest = &text[line_start..];
    let skip = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
    line_start
        + rest
            .char_indices()
            .nth(skip)
            .map_or(rest.find('\n').unwrap_or(rest.len()), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOME: &str = include_str!("../../plans/home-server.yaml");

    /// Pieces of YAML and plan syntax, so that random documents get past
    /// the tokenizer often enough to reach the deeper stages.
    const TOKENS: &[&str] = &[
        "\n",
        "  ",
        "- ",
        ": ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&a ",
        "*a",
        "<<: *a",
        "!!str ",
        "\"",
        "'",
        "#",
        "|",
        ">",
        "---",
        "...",
        "~",
        "null",
        "true",
        "yes",
        "1",
        "-1",
        "1e400",
        "0x1F",
        "99999999999999999999999",
        "2GiB",
        "20%",
        "60MiB/s",
        "unlimited",
        "1h30m",
        "0s",
        "version",
        "name",
        "target",
        "vg",
        "volumes",
        "lv",
        "vg0/root",
        "after",
        "hooks",
        "dir",
        "timeout",
        "iscsi",
        "portal",
        "iqn",
        "snapshot_size",
        "bandwidth",
        "verify",
        "\u{0}",
        "é",
        "\t",
        "%YAML 1.2",
        "? ",
    ];

    fn parse_never_panics(text: &str) {
        // Ok or Err are both fine; a panic fails the test. Rendering must
        // succeed too (spans must lie inside the text).
        if let Err(e) = parse("fuzz.yaml", text) {
            let mut out = String::new();
            miette::GraphicalReportHandler::new()
                .render_report(&mut out, &e)
                .expect("every label lies inside the source");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn random_text_never_panics(text in ".{0,400}") {
            parse_never_panics(&text);
        }

        #[test]
        fn token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..120)) {
            parse_never_panics(&tokens.concat());
        }

        #[test]
        fn mutated_plans_never_panic(
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, prop::sample::select(TOKENS)), 1..8)
        ) {
            let mut text: Vec<char> = HOME.chars().collect();
            for (at, kind, token) in edits {
                let i = at.index(text.len() + 1);
                match kind {
                    0 => { text.splice(i..i, token.chars()); }
                    1 => { if i < text.len() { text.remove(i); } }
                    _ => { text.truncate(i); }
                }
            }
            parse_never_panics(&text.into_iter().collect::<String>());
        }
    }

    #[test]
    fn thousands_of_problems_are_cut_to_the_first_ones() {
        let mut text = String::from("version: 1\nname: x\ntarget: {vg: b}\nvolumes:\n");
        for i in 0..1000 {
            text.push_str(&format!("  - {{lv: l{i}}}\n"));
        }
        let error = parse("many.yaml", &text).unwrap_err();
        let problems = error.problems();
        assert_eq!(problems.len(), MAX_PROBLEMS_SHOWN + 1);
        assert_eq!(
            problems[MAX_PROBLEMS_SHOWN].message,
            "950 more problems are not shown"
        );
        assert!(
            error
                .to_string()
                .ends_with("1000 problems (the first 50 shown)")
        );
    }

    #[test]
    fn spans_are_kept_inside_the_text() {
        let text = "aé";
        let span = |o: usize, l: usize| SourceSpan::new(o.into(), l);
        assert_eq!(within(text, span(0, 1)), span(0, 1));
        assert_eq!(within(text, span(2, 0)), span(1, 2));
        assert_eq!(within(text, span(1, 1)), span(1, 2));
        assert_eq!(within(text, span(usize::MAX, 5)), span(3, 0));
        assert_eq!(within(text, span(1, usize::MAX)), span(1, 2));
    }

    #[test]
    fn offsets_from_line_and_column() {
        let text = "ab\ncdé\nf";
        assert_eq!(offset_of(text, 1, 1), 0);
        assert_eq!(offset_of(text, 2, 3), 5);
        assert_eq!(offset_of(text, 3, 1), 8);
        assert_eq!(offset_of(text, 2, 99), 7);
        assert_eq!(offset_of(text, 99, 1), text.len());
    }
}
