//! The JSON documents other programs read, as contracts: each carries a
//! `format_version` and has a JSON Schema (draft-07) generated from the
//! Rust type that writes it, so the schema cannot drift from the output.
//! schemas/ holds them (`snapplan schema KIND`); a test keeps the files in
//! sync, and docs list the fields.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;

/// Which document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// A plan file (what editors check as you type).
    Plan,
    /// `snapplan plan --format json`.
    PlanOutput,
    /// `snapplan check --format json`.
    Check,
    /// `snapplan report --format json`.
    Report,
    /// A run record, `<state_dir>/<plan>/runs/<run id>.json`.
    RunRecord,
    /// `snapplan generations --format json`.
    Generations,
}

impl Contract {
    pub const ALL: [Contract; 6] = [
        Contract::Plan,
        Contract::PlanOutput,
        Contract::Check,
        Contract::Report,
        Contract::RunRecord,
        Contract::Generations,
    ];

    /// Its file under schemas/ (and /usr/share/snapplan/ when installed).
    pub fn file_name(self) -> &'static str {
        match self {
            Contract::Plan => "plan.schema.json",
            Contract::PlanOutput => "plan-output.schema.json",
            Contract::Check => "check.schema.json",
            Contract::Report => "report.schema.json",
            Contract::RunRecord => "run-record.schema.json",
            Contract::Generations => "generations.schema.json",
        }
    }

    /// The schema as pretty JSON with a trailing newline.
    pub fn schema_json(self) -> String {
        match self {
            Contract::Plan => crate::plan::schema::plan_schema_json(),
            Contract::PlanOutput => pretty(crate::graph::render_json::schema()),
            Contract::Check => pretty(schema_for::<crate::check::CheckReport>()),
            Contract::Report => {
                pretty(schema_for::<crate::report::render::ReportDocument<'static>>())
            }
            Contract::RunRecord => pretty(schema_for::<crate::state::runs::RunRecordFile>()),
            Contract::Generations => {
                pretty(schema_for::<crate::generations::GenerationsDocument>())
            }
        }
    }
}

fn schema_for<T: JsonSchema>() -> schemars::Schema {
    SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<T>()
}

fn pretty(schema: schemars::Schema) -> String {
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serialises to JSON");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every document schema names its format version as a required field.
    #[test]
    fn every_output_schema_requires_its_format_version() {
        for contract in Contract::ALL {
            if contract == Contract::Plan {
                continue;
            }
            let schema: serde_json::Value = serde_json::from_str(&contract.schema_json()).unwrap();
            assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
            assert!(
                schema["properties"]["format_version"].is_object(),
                "{contract:?}"
            );
            // Records written before the field existed are version 1.
            if contract == Contract::RunRecord {
                continue;
            }
            let required = schema["required"].as_array().unwrap();
            assert!(
                required.iter().any(|r| r == "format_version"),
                "{contract:?}: format_version is not required"
            );
        }
    }
}
