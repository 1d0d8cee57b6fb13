//! The one `--set FIELD=VALUE` path of every planform config (training, recipes,
//! bootstrapping, sweeps).
//!
//! A config is a TOML table. All overrides are applied to the table first, then the owner
//! parses and validates the result **once** — so the order of independent overrides never
//! matters and no half-applied config is ever validated.
//!
//! Rules:
//! - `FIELD` is a dotted path (`optim.lr`, `train.model.size`); tables on the way are
//!   created.
//! - `VALUE` is one TOML value (`3e-4`, `16`, `true`, `"x"`, `[1, 2]`, `{ kind = "random" }`);
//!   text that is not a TOML value is taken as a string (`m-s`, `cuda:1`). Text with more
//!   than one value (a newline and a second key) is an error, not silently cut. `none`
//!   removes the field (back to its default).
//! - Enum variants: setting a `kind` key switches the variant of an internally tagged enum:
//!   when the kind differs from the current one, the table holding it is cleared first.
//!   `kind` overrides are applied before all others, so `trace.probabilities=[…]` may come
//!   before or after `trace.kind=dualformer`. For externally tagged enums the owner passes
//!   [`Exclusive`] groups: setting a key under one member removes the others
//!   (`model.size` vs `model.custom` vs `model.decoder-only`).
//! - The same field set twice to different values is an error (`--set` against a typed
//!   flag that means the same field, or two `--set`s).

use std::fmt;

/// A failed override: which one and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideError {
    /// The override as written (`optim.lr=3e-4`).
    pub origin: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for OverrideError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--set {}: {}", self.origin, self.message)
    }
}

impl std::error::Error for OverrideError {}

/// One parsed `FIELD=VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// Path keys.
    pub path: Vec<String>,
    /// New value; `None` removes the field.
    pub value: Option<toml::Value>,
    /// As written, for messages.
    pub origin: String,
}

/// Members of an externally tagged enum, as dotted paths: setting anything under one
/// removes the others.
pub type Exclusive<'a> = &'a [&'a str];

impl Override {
    /// Parses `FIELD=VALUE` (both trimmed).
    pub fn parse(assignment: &str) -> Result<Override, OverrideError> {
        let err = |message: &str| OverrideError {
            origin: assignment.to_string(),
            message: message.to_string(),
        };
        let (field, value) = assignment
            .split_once('=')
            .ok_or_else(|| err("expected FIELD=VALUE"))?;
        Override::new(field.trim(), value.trim()).map_err(|e| OverrideError {
            origin: assignment.to_string(),
            message: e.message,
        })
    }

    /// An override of `field` (dotted) with `value` (TOML text, see the module docs).
    pub fn new(field: &str, value: &str) -> Result<Override, OverrideError> {
        let origin = format!("{field}={value}");
        let err = |message: String| OverrideError {
            origin: origin.clone(),
            message,
        };
        let path: Vec<String> = field.split('.').map(|k| k.trim().to_string()).collect();
        if path.iter().any(String::is_empty) {
            return Err(err("empty key in the field path".into()));
        }
        Ok(Override {
            path,
            value: parse_value(value).map_err(err)?,
            origin,
        })
    }

    /// An override with the path prefixed by `prefix` (e.g. `train`).
    pub fn prefixed(&self, prefix: &str) -> Override {
        let mut path: Vec<String> = prefix.split('.').map(str::to_string).collect();
        path.extend(self.path.iter().cloned());
        Override {
            path,
            value: self.value.clone(),
            origin: self.origin.clone(),
        }
    }

    /// The dotted field path.
    pub fn field(&self) -> String {
        self.path.join(".")
    }

    fn is_kind(&self) -> bool {
        self.path.last().is_some_and(|k| k == "kind") && self.path.len() > 1
    }

    fn err(&self, message: impl Into<String>) -> OverrideError {
        OverrideError {
            origin: self.origin.clone(),
            message: message.into(),
        }
    }
}

/// `--set a=1, b=2`: the overrides as written, for messages.
pub fn describe(overrides: &[Override]) -> String {
    let all: Vec<&str> = overrides.iter().map(|o| o.origin.as_str()).collect();
    format!("--set {}", all.join(", "))
}

/// `VALUE` as TOML (`None` for `none`).
pub fn parse_value(value: &str) -> Result<Option<toml::Value>, String> {
    if value == "none" {
        return Ok(None);
    }
    match toml::from_str::<toml::Table>(&format!("v = {value}")) {
        Ok(mut t) if t.len() == 1 => Ok(t.remove("v")),
        Ok(t) => Err(format!(
            "the value holds more than one TOML value ({} keys after the newline); one value per --set",
            t.len() - 1
        )),
        Err(_) if value.contains('\n') => Err("a multi-line value is not one TOML value".into()),
        Err(_) => Ok(Some(toml::Value::String(value.to_string()))),
    }
}

/// Applies `overrides` to `table` (see the module docs). On error the table may be partly
/// changed; callers work on a copy.
pub fn apply(
    table: &mut toml::Table,
    overrides: &[Override],
    exclusive: &[Exclusive],
) -> Result<(), OverrideError> {
    // The same field twice with different values is a conflict.
    for (i, a) in overrides.iter().enumerate() {
        if let Some(b) = overrides[..i]
            .iter()
            .find(|b| b.path == a.path && b.value != a.value)
        {
            return Err(a.err(format!(
                "conflicts with {} (the same field set twice)",
                b.origin
            )));
        }
    }
    let (kinds, rest): (Vec<&Override>, Vec<&Override>) =
        overrides.iter().partition(|o| o.is_kind());
    for o in kinds.into_iter().chain(rest) {
        apply_one(table, o, exclusive)?;
    }
    Ok(())
}

fn apply_one(
    table: &mut toml::Table,
    o: &Override,
    exclusive: &[Exclusive],
) -> Result<(), OverrideError> {
    let field = o.field();
    for group in exclusive {
        let mine = group
            .iter()
            .find(|m| field == **m || field.starts_with(&format!("{m}.")));
        if let Some(mine) = mine {
            for other in group.iter().filter(|m| *m != mine) {
                remove_path(table, other);
            }
        }
    }
    let (last, parents) = o.path.split_last().expect("a path has a key");
    let mut t = table;
    for (i, key) in parents.iter().enumerate() {
        let entry = t
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| o.err(format!("`{}` is not a table", o.path[..=i].join("."))))?;
    }
    if o.is_kind() && t.get(last) != o.value.as_ref() {
        t.clear();
    }
    match &o.value {
        Some(v) => {
            t.insert(last.clone(), v.clone());
        }
        None => {
            t.remove(last);
        }
    }
    Ok(())
}

fn remove_path(table: &mut toml::Table, dotted: &str) {
    let keys: Vec<&str> = dotted.split('.').collect();
    let (last, parents) = keys.split_last().expect("non-empty");
    let mut t = table;
    for k in parents {
        match t.get_mut(*k).and_then(|v| v.as_table_mut()) {
            Some(next) => t = next,
            None => return,
        }
    }
    t.remove(*last);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    fn set(t: &mut toml::Table, ovs: &[&str], ex: &[Exclusive]) -> Result<(), OverrideError> {
        let ovs: Vec<Override> = ovs.iter().map(|s| Override::parse(s).unwrap()).collect();
        apply(t, &ovs, ex)
    }

    #[test]
    fn values_are_typed_or_strings() {
        assert_eq!(parse_value("3e-4").unwrap(), Some(toml::Value::Float(3e-4)));
        assert_eq!(parse_value("16").unwrap(), Some(toml::Value::Integer(16)));
        assert_eq!(
            parse_value("m-s").unwrap(),
            Some(toml::Value::String("m-s".into()))
        );
        assert_eq!(parse_value("none").unwrap(), None);
        assert!(
            parse_value("3\nfoo = 1").is_err(),
            "rest must not be dropped"
        );
        assert!(parse_value("\"a\nb").is_err());
        assert!(Override::parse("novalue").is_err());
        assert!(Override::parse("a..b=1").is_err());
    }

    #[test]
    fn order_of_kind_and_fields_does_not_matter() {
        for ovs in [
            ["trace.kind=dualformer", "trace.level3=\"paper\""],
            ["trace.level3=\"paper\"", "trace.kind=dualformer"],
        ] {
            let mut t = table("[trace]\nkind = \"search-augmented\"\nold = 1\n");
            set(&mut t, &ovs, &[]).unwrap();
            let tr = t["trace"].as_table().unwrap();
            assert_eq!(tr.len(), 2, "{tr:?}");
            assert_eq!(tr["kind"].as_str(), Some("dualformer"));
        }
        // The same kind keeps the other fields.
        let mut t = table("[trace]\nkind = \"dualformer\"\nlevel3 = \"paper\"\n");
        set(&mut t, &["trace.kind=dualformer"], &[]).unwrap();
        assert_eq!(t["trace"]["level3"].as_str(), Some("paper"));
    }

    #[test]
    fn exclusive_members_replace_each_other() {
        let ex: &[Exclusive] = &[&["model.size", "model.custom", "model.decoder-only"]];
        let mut t = table("[model]\nsize = \"tiny\"\n");
        set(&mut t, &["model.decoder-only.layers=8"], ex).unwrap();
        let m = t["model"].as_table().unwrap();
        assert!(!m.contains_key("size"));
        assert_eq!(m["decoder-only"]["layers"].as_integer(), Some(8));
        set(&mut t, &["model.size=s"], ex).unwrap();
        assert_eq!(t["model"].as_table().unwrap().len(), 1);
    }

    #[test]
    fn conflicts_and_non_tables_are_errors() {
        let mut t = table("lr = 1.0\n");
        let e = set(&mut t, &["lr=2.0", "lr=3.0"], &[]).unwrap_err();
        assert!(e.to_string().contains("conflicts"), "{e}");
        set(&mut t, &["lr=2.0", "lr=2.0"], &[]).unwrap();
        let e = set(&mut t, &["lr.x=1"], &[]).unwrap_err();
        assert!(e.to_string().contains("not a table"), "{e}");
        set(&mut t, &["lr=none"], &[]).unwrap();
        assert!(!t.contains_key("lr"));
    }
}
