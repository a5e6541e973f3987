//! `snapplan validate`: checks plans without touching the system, for
//! editors, pre-commit hooks and CI.

use std::path::PathBuf;

use crate::ExitCode;
use crate::plan;

const AFTER_HELP: &str = "\
Examples:
  snapplan validate plans/home-server.yaml
  snapplan validate plans/*.yaml          # in CI or a pre-commit hook
  snapplan validate --color never /etc/snapplan/*.yaml 2>problems.txt
  snapplan validate --format json plans/*.yaml | jq '.plans[] | select(.valid | not)'";

/// Check plans without touching the system
///
/// Reports every mistake snapplan can find without looking at the machine,
/// all at once and each at its place in the file: YAML syntax, unknown or
/// missing keys, bad sizes, rates and durations, invalid names, colliding
/// volumes, unknown or cyclic `after:`.
#[derive(Debug, clap::Args)]
#[command(after_help = crate::exit_code::command_help(AFTER_HELP, crate::exit_code::VALIDATE))]
pub struct Args {
    /// Plan files to check; each is reported, valid or not.
    #[arg(required = true, value_name = "PLAN")]
    pub plans: Vec<PathBuf>,
    /// `text`: one line per valid plan on stdout, diagnostics on stderr.
    /// `json`: one document on stdout for CI bots, each invalid plan with
    /// miette's JSON report of its problems (docs/plan.md lists the fields).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// The version of `validate --format json`'s document; it changes only
/// when a field changes meaning or goes away.
pub const FORMAT_VERSION: u32 = 1;

pub fn run(args: Args) -> super::Result {
    let mut all_valid = true;
    let mut documents = Vec::new();
    for path in &args.plans {
        let result = plan::load(path);
        all_valid &= result.is_ok();
        match args.format {
            Format::Text => match result {
                Ok(plan) => {
                    let n = plan.volumes.len();
                    let noun = if n == 1 { "volume" } else { "volumes" };
                    crate::outln!("{}: valid ({n} {noun})", path.display());
                }
                Err(error) => crate::output::diagnostic(&miette::Report::new(error)),
            },
            Format::Json => documents.push(json_entry(path, result)),
        }
    }
    if args.format == Format::Json {
        let document = serde_json::json!({
            "format_version": FORMAT_VERSION,
            "valid": all_valid,
            "plans": documents,
        });
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&document).expect("JSON values serialise")
        );
    }
    Ok(if all_valid {
        ExitCode::Success
    } else {
        ExitCode::Usage
    })
}

/// One plan's entry: `{"path", "valid", "volumes"}` or `{"path", "valid",
/// "diagnostic"}` with miette's JSON report (message, code, severity, help,
/// filename, labels with byte offsets and 1-based `line`/`column`, related
/// problems).
fn json_entry(
    path: &std::path::Path,
    result: Result<plan::Plan, plan::diagnostic::LoadError>,
) -> serde_json::Value {
    let path = path.display().to_string();
    match result {
        Ok(plan) => serde_json::json!({
            "path": path,
            "valid": true,
            "volumes": plan.volumes.len(),
        }),
        Err(error) => {
            let text = crate::output::diagnostic_json(&error);
            let mut diagnostic: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| serde_json::json!({ "message": error.to_string() }));
            if let plan::diagnostic::LoadError::Invalid { source_code, .. } = &error {
                add_line_columns(&mut diagnostic, source_code.inner());
            }
            serde_json::json!({
                "path": path,
                "valid": false,
                "diagnostic": diagnostic,
            })
        }
    }
}

/// Bots annotate pull requests by line: every label of the report gets the
/// 1-based `line` and `column` of its offset (columns count characters).
fn add_line_columns(diagnostic: &mut serde_json::Value, source: &str) {
    if let Some(labels) = diagnostic["labels"].as_array_mut() {
        for label in labels {
            let Some(offset) = label["span"]["offset"].as_u64() else {
                continue;
            };
            let offset = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(source.len());
            let Some(before) = source.get(..offset) else {
                continue;
            };
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            label["line"] = line.into();
            label["column"] = column.into();
        }
    }
    if let Some(related) = diagnostic["related"].as_array_mut() {
        for problem in related {
            add_line_columns(problem, source);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_get_their_line_and_column() {
        let mut d = serde_json::json!({
            "labels": [],
            "related": [{"labels": [{"span": {"offset": 9, "length": 1}}], "related": []}],
        });
        add_line_columns(&mut d, "a: 1\nbé: 2\n");
        let label = &d["related"][0]["labels"][0];
        assert_eq!(
            (label["line"].as_u64(), label["column"].as_u64()),
            (Some(2), Some(4))
        );
    }
}
