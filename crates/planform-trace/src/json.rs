//! Strict JSON parsing for task input: like `serde_json::Value`, but an object that
//! names the same key twice is an error instead of silently keeping the last value.

use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A `serde_json::Value` whose objects had no duplicate keys (at any depth).
pub(crate) struct StrictValue(pub(crate) Value);

/// Parses `text` as JSON, rejecting duplicate object keys at any depth.
pub(crate) fn parse_strict(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str::<StrictValue>(text).map(|v| v.0)
}

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key `{key}` in an object (each field may appear once)"
                )));
            }
            let StrictValue(v) = map.next_value_seed(Seed)?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

struct Seed;

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = StrictValue;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<StrictValue, D::Error> {
        StrictValue::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_serde_json_without_duplicates() {
        for text in [
            r#"{"a": 1, "b": [1, -2, 3.5, "x", null, true, {"c": {}}], "d": {"e": [[]]}}"#,
            "[]",
            "12345678901234567890",
            "-1",
            "\"s\"",
        ] {
            let want: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parse_strict(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn duplicates_at_any_depth_are_errors() {
        for text in [
            r#"{"a": 1, "a": 2}"#,
            r#"{"a": 1, "a": 1}"#,
            r#"{"x": [{"k": 0, "k": 0}]}"#,
            r#"{"o": {"p": {"q": 1, "q": 2}}}"#,
        ] {
            let e = parse_strict(text).unwrap_err().to_string();
            assert!(e.contains("duplicate key"), "{text}: {e}");
        }
    }
}
