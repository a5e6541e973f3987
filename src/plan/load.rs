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
    let invalid = |problems: Vec<Problem>| LoadError::Invalid {
        path: source_name.to_string(),
        source_code: NamedSource::new(source_name, text.to_string()).with_language("yaml"),
        problems,
    };
    if text.len() as u64 > MAX_PLAN_BYTES {
        return Err(LoadError::TooLarge {
            path: source_name.to_string(),
            size: text.len() as u64,
            limit: MAX_PLAN_BYTES,
        });
    }
    let tree = read_tree(text).map_err(|p| invalid(vec![p]))?;
    let mut reader = Reader::default();
    let raw = raw::from_tree(&mut reader, &tree);
    let mut problems = reader.problems;
    let plan = raw.and_then(|raw| validate(&raw, &mut problems));
    match plan {
        Some(plan) if problems.is_empty() => Ok(plan),
        _ => {
            problems.sort_by_key(Problem::offset);
            Err(invalid(problems))
        }
    }
}

/// Bounds on what a plan may cost to parse: plans are tiny, so these are
/// far below the YAML library's defaults, and alias bombs, deep nesting and
/// document storms fail fast with a located error.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_reader_input_bytes: Some(MAX_PLAN_BYTES as usize),
            max_events: 100_000,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_depth: 32,
            max_documents: 1,
            max_nodes: 50_000,
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
        // YAML 1.2: `yes`, `no`, `on`, `off` are strings, not booleans.
        strict_booleans: true,
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
        Problem::new("plan::yaml", format!("YAML error: {message}"), span)
            .label("here")
            .help("fix the YAML syntax here; `snapplan validate` checks the rest once it parses")
    })
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
