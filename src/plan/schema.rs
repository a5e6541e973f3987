//! The plan's JSON Schema (draft-07), generated from the plan as written
//! ([`super::raw::RawPlan`]), so editors complete and check plans with the
//! same keys, patterns and descriptions snapplan itself uses.

use schemars::Schema;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use serde_json::Value;

use super::raw::RawPlan;

/// The schema as pretty-printed JSON with a trailing newline, exactly as
/// `snapplan schema` prints it and schemas/plan.schema.json holds it.
pub fn plan_schema_json() -> String {
    let generator = SchemaSettings::draft07()
        .with_transform(RecursiveTransform(no_null))
        .with_transform(RecursiveTransform(unwrap_descriptions))
        .into_generator();
    let schema = generator.into_root_schema_for::<RawPlan>();
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serialises to JSON");
    text.push('\n');
    text
}

/// An optional key is left out, never written as `null` (snapplan refuses
/// `key:` with no value, which is usually a mis-indented block): the schema
/// says so too, instead of schemars' default of allowing null.
fn no_null(schema: &mut Schema) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            object.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(any_of)) = object.get("anyOf") {
        let rest: Vec<Value> = any_of
            .iter()
            .filter(|s| s.get("type").and_then(Value::as_str) != Some("null"))
            .cloned()
            .collect();
        if rest.len() == 1 {
            object.remove("anyOf");
            object.insert("allOf".into(), Value::Array(rest));
        }
    }
}

/// Doc comments are wrapped at 100 columns; editors wrap descriptions
/// themselves, so single line breaks become spaces (blank lines stay).
fn unwrap_descriptions(schema: &mut Schema) {
    if let Some(Value::String(text)) = schema.get_mut("description") {
        *text = text
            .split("\n\n")
            .map(|paragraph| paragraph.replace('\n', " "))
            .collect::<Vec<_>>()
            .join("\n\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::raw;

    fn schema() -> Value {
        serde_json::from_str(&plan_schema_json()).unwrap()
    }

    fn keys(object: &Value) -> Vec<String> {
        let mut keys: Vec<String> = object["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    fn sorted(keys: &[&str]) -> Vec<String> {
        let mut keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        keys.sort();
        keys
    }

    /// The reader's key lists and the schema cannot drift apart: a key the
    /// schema offers is a key snapplan reads, and the other way round.
    #[test]
    fn reader_keys_equal_schema_keys() {
        let s = schema();
        let d = &s["definitions"];
        assert_eq!(keys(&s), sorted(raw::PLAN_KEYS));
        assert_eq!(keys(&d["Defaults"]), sorted(raw::DEFAULTS_KEYS));
        assert_eq!(keys(&d["Hooks"]), sorted(raw::HOOKS_KEYS));
        assert_eq!(keys(&d["Target"]), sorted(raw::TARGET_KEYS));
        assert_eq!(keys(&d["Iscsi"]), sorted(raw::ISCSI_KEYS));
        assert_eq!(keys(&d["Retention"]), sorted(raw::RETENTION_KEYS));
        assert_eq!(keys(&d["Volume"]), sorted(raw::VOLUME_KEYS));
    }

    /// Every key has a description and forbids unknown siblings; nothing
    /// accepts null.
    #[test]
    fn every_key_is_described_and_strict() {
        let s = schema();
        let mut objects = vec![&s];
        objects.extend(s["definitions"].as_object().unwrap().values());
        for object in objects {
            assert_eq!(object["additionalProperties"], Value::Bool(false));
            for (key, property) in object["properties"].as_object().unwrap() {
                let description = property["description"].as_str().unwrap_or_default();
                assert!(description.len() > 10, "`{key}` lacks a description");
            }
        }
        assert!(!plan_schema_json().contains("\"null\""));
    }

    /// docs/plan.md documents every key the schema knows.
    #[test]
    fn plan_reference_documents_every_key() {
        let doc = include_str!("../../docs/plan.md");
        let all = [
            raw::PLAN_KEYS,
            raw::DEFAULTS_KEYS,
            raw::HOOKS_KEYS,
            raw::TARGET_KEYS,
            raw::VOLUME_KEYS,
        ];
        for key in all.concat() {
            assert!(
                doc.contains(&format!("| `{key}` |")),
                "docs/plan.md lacks a row for `{key}`"
            );
        }
        for key in raw::ISCSI_KEYS {
            assert!(
                doc.contains(&format!("| `iscsi.{key}` |")),
                "docs/plan.md lacks `iscsi.{key}`"
            );
        }
    }
}
