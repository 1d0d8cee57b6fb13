//! Strict JSON parsing for task input: an object that names the same key twice is an
//! error instead of silently keeping the last value (what `serde_json` does).
//!
//! - [`RawTask`]: one pass from text to the typed task fields (the fast path of
//!   `Task::from_json`, also used by the dataset reader for every row).
//! - [`StrictValue`]: a `serde_json::Value` with the same rule at any depth (unknown
//!   fields of a task, and `Deserialize for Task`).

use std::fmt;
use std::io::Write;

use crate::error::{Error, Result as TaskResult};
use crate::maze::{MazeTask, RawMaze};
use crate::sokoban::{RawLevel, SokobanLevel};
use crate::task::{domain_of_fields, Domain};

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A `serde_json::Value` whose objects had no duplicate keys (at any depth).
pub(crate) struct StrictValue(pub(crate) Value);

/// Parses `text` as JSON, rejecting duplicate object keys at any depth.
#[cfg(test)]
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

/// The fields of a task object as given (any domain), each seen at most once.
#[derive(Default)]
pub(crate) struct RawTask {
    width: Option<i64>,
    height: Option<i64>,
    start: Option<[i64; 2]>,
    goal: Option<[i64; 2]>,
    worker: Option<[i64; 2]>,
    boxes: Option<Vec<[i64; 2]>>,
    docks: Option<Vec<[i64; 2]>>,
    walls: Option<Vec<[i64; 2]>>,
}

fn json_err(e: impl fmt::Display) -> Error {
    Error::Json(e.to_string())
}

fn missing(field: &str) -> Error {
    Error::Json(format!("missing field `{field}`"))
}

impl RawTask {
    /// Parses one JSON object; duplicate keys (known or not, at any depth) are errors.
    pub(crate) fn parse(text: &str) -> TaskResult<Self> {
        serde_json::from_str(text).map_err(json_err)
    }

    /// The domain by the fields present (both or neither is an error).
    pub(crate) fn domain(&self) -> TaskResult<Domain> {
        domain_of_fields(|f| match f {
            "start" => self.start.is_some(),
            "goal" => self.goal.is_some(),
            "worker" => self.worker.is_some(),
            "boxes" => self.boxes.is_some(),
            "docks" => self.docks.is_some(),
            _ => false,
        })
    }

    /// The validated maze (errors as `Error::Json`, naming the problem).
    pub(crate) fn into_maze(self) -> TaskResult<MazeTask> {
        let raw = RawMaze {
            width: self.width.ok_or_else(|| missing("width"))?,
            height: self.height.ok_or_else(|| missing("height"))?,
            start: self.start.ok_or_else(|| missing("start"))?,
            goal: self.goal.ok_or_else(|| missing("goal"))?,
            walls: self.walls.ok_or_else(|| missing("walls"))?,
        };
        MazeTask::try_from(raw).map_err(json_err)
    }

    /// The validated Sokoban level (errors as `Error::Json`, naming the problem).
    pub(crate) fn into_sokoban(self) -> TaskResult<SokobanLevel> {
        let raw = RawLevel {
            width: self.width.ok_or_else(|| missing("width"))?,
            height: self.height.ok_or_else(|| missing("height"))?,
            worker: self.worker.ok_or_else(|| missing("worker"))?,
            boxes: self.boxes.ok_or_else(|| missing("boxes"))?,
            docks: self.docks.ok_or_else(|| missing("docks"))?,
            walls: self.walls.ok_or_else(|| missing("walls"))?,
        };
        SokobanLevel::try_from(raw).map_err(json_err)
    }
}

impl<'de> Deserialize<'de> for RawTask {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RawTaskVisitor)
    }
}

struct RawTaskVisitor;

fn duplicate<E: de::Error>(key: &str) -> E {
    E::custom(format_args!(
        "duplicate key `{key}` in an object (each field may appear once)"
    ))
}

impl<'de> Visitor<'de> for RawTaskVisitor {
    type Value = RawTask;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object (a maze or a Sokoban level)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawTask, A::Error> {
        fn set<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
            map: &mut A,
            slot: &mut Option<T>,
            key: &str,
        ) -> Result<(), A::Error> {
            if slot.is_some() {
                return Err(duplicate(key));
            }
            *slot = Some(map.next_value()?);
            Ok(())
        }
        let mut raw = RawTask::default();
        let mut others: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "width" => set(&mut map, &mut raw.width, &key)?,
                "height" => set(&mut map, &mut raw.height, &key)?,
                "start" => set(&mut map, &mut raw.start, &key)?,
                "goal" => set(&mut map, &mut raw.goal, &key)?,
                "worker" => set(&mut map, &mut raw.worker, &key)?,
                "boxes" => set(&mut map, &mut raw.boxes, &key)?,
                "docks" => set(&mut map, &mut raw.docks, &key)?,
                "walls" => set(&mut map, &mut raw.walls, &key)?,
                other => {
                    if others.iter().any(|k| k == other) {
                        return Err(duplicate(other));
                    }
                    others.push(other.to_string());
                    // Ignored, but checked for duplicate keys too.
                    let StrictValue(_) = map.next_value()?;
                }
            }
        }
        Ok(raw)
    }
}

struct Seed;

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = StrictValue;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<StrictValue, D::Error> {
        StrictValue::deserialize(d)
    }
}

/// Python's `json.dumps` defaults: separators `", "` and `": "`, `ensure_ascii=True` (the
/// golden task files and the public ProsQA files are written this way).
pub(crate) struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        s: &str,
    ) -> std::io::Result<()> {
        for ch in s.chars() {
            if ch.is_ascii() {
                w.write_all(&[ch as u8])?;
            } else {
                let mut buf = [0u16; 2];
                for unit in ch.encode_utf16(&mut buf) {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
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
    fn raw_task_refuses_non_objects_and_duplicates() {
        for text in ["[1, 2]", "3", "\"x\"", "null", "not json"] {
            assert!(RawTask::parse(text).is_err(), "{text}");
        }
        let e = RawTask::parse(r#"{"width": 3, "x": {"y": 1, "y": 2}}"#)
            .err()
            .unwrap();
        assert!(e.to_string().contains("duplicate key `y`"), "{e}");
        let e = RawTask::parse(r#"{"x": 1, "width": 3, "x": 1}"#)
            .err()
            .unwrap();
        assert!(e.to_string().contains("duplicate key `x`"), "{e}");
        let e = RawTask::parse(r#"{"width": 3, "width": 3}"#).err().unwrap();
        assert!(e.to_string().contains("duplicate key `width`"), "{e}");
        // An escaped key is the same key.
        let e = RawTask::parse(r#"{"width": 3, "w\u0069dth": 3}"#)
            .err()
            .unwrap();
        assert!(e.to_string().contains("duplicate key `width`"), "{e}");
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
