//! The YAML document as a tree of located nodes, before any meaning is given
//! to it. Reading into a generic tree first (instead of straight into typed
//! structs) lets the later passes report every unknown key, wrong type and
//! duplicate at once, each at its own place, instead of stopping at the first.

use std::fmt;

use miette::SourceSpan;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Spanned, Tagged};

/// A YAML node and where it is in the source (byte offsets).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: SourceSpan,
    /// An explicit YAML tag (`!!binary`, `!!str`, `!custom`), as the parser
    /// resolved it. Plans refuse every tag: `!!binary aG9tZQ==` reads as
    /// `home`, which a reviewer of the file cannot see.
    pub tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order, duplicates kept so that they can be reported.
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// What the admin wrote, in words, for "expected X, found Y".
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "a number",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Tagged<Value>>::deserialize(deserializer)?;
        let span = spanned.referenced.span();
        let offset = span.byte_offset().unwrap_or(0);
        let len = span.byte_len().unwrap_or(0);
        let Tagged(value, tag) = spanned.value;
        Ok(Node {
            value,
            tag,
            span: SourceSpan::new(
                usize::try_from(offset).unwrap_or(usize::MAX).into(),
                usize::try_from(len).unwrap_or(0),
            ),
        })
    }
}

impl Node {
    /// Every tagged node of the tree, in document order, at most `max`.
    pub fn tagged(&self, max: usize) -> Vec<(&Node, &str)> {
        let mut found = Vec::new();
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            if found.len() >= max {
                break;
            }
            if let Some(tag) = &node.tag {
                found.push((node, tag.as_str()));
            }
            match &node.value {
                Value::Seq(items) => stack.extend(items.iter().rev()),
                Value::Map(entries) => {
                    stack.extend(entries.iter().rev().flat_map(|(k, v)| [v, k]));
                }
                _ => {}
            }
        }
        found
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(i128::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Value, E> {
        Err(E::custom("binary data is not allowed in a plan"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Node {
        let options = serde_saphyr::options! {
            duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
            strict_booleans: true,
        };
        serde_saphyr::from_str_with_options(text, options).unwrap()
    }

    #[test]
    fn keeps_duplicates_and_byte_spans() {
        let text = "a: 1\nb: 'two'\na: yes\n";
        let Value::Map(entries) = read(text).value else {
            panic!("a mapping")
        };
        let keys: Vec<_> = entries
            .iter()
            .map(|(k, _)| &text[k.span.offset()..k.span.offset() + k.span.len()])
            .collect();
        assert_eq!(keys, ["a", "b", "a"]);
        assert_eq!(entries[1].1.value, Value::Str("two".into()));
        assert_eq!(&text[entries[1].1.span.offset()..][..5], "'two'");
        // YAML 1.2: `yes` is a string, not a boolean.
        assert_eq!(entries[2].1.value, Value::Str("yes".into()));
    }

    #[test]
    fn explicit_tags_are_kept_for_refusal() {
        let node = read("a: !!binary aG9tZQ==\nb: !!str x\nc: [! y, z]\n");
        let tags: Vec<&str> = node.tagged(10).into_iter().map(|(_, t)| t).collect();
        assert_eq!(tags.len(), 3, "{tags:?}");
        assert!(tags[0].ends_with("binary"), "{tags:?}");
        assert!(tags[1].ends_with("str"), "{tags:?}");
        assert!(read("a: b\n").tagged(10).is_empty());
    }

    #[test]
    fn huge_numbers_do_not_wrap() {
        let node = read("n: 99999999999999999999999999999999999999999\n");
        let Value::Map(entries) = node.value else {
            panic!("a mapping")
        };
        assert!(matches!(entries[0].1.value, Value::Float(f) if f > 1e40));
    }
}
