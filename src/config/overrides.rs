//! `--set dotted.key=value` overrides applied to the parsed pipeline file.

use crate::error::{Error, Result};

/// Apply one `dotted.key=value` override. The value is read as a TOML value when it
/// parses as one (`10`, `true`, `["a", "b"]`), otherwise as a string; it stays a string
/// when it replaces a string (`sink.table=2024`). Array elements are addressed by index
/// (`transform.0.where=...`).
pub fn apply_override(root: &mut toml::Value, assignment: &str) -> Result<()> {
    apply(root, assignment, false)
}

/// [`apply_override`], reading the value as a string whatever it looks like.
pub(crate) fn apply_override_as_string(root: &mut toml::Value, assignment: &str) -> Result<()> {
    apply(root, assignment, true)
}

fn apply(root: &mut toml::Value, assignment: &str, as_string: bool) -> Result<()> {
    let Some((key, raw)) = assignment.split_once('=') else {
        return Err(Error::Config(format!(
            "--set {assignment:?}: expected key=value, e.g. source.path=big.csv"
        )));
    };
    let typed = |old: Option<&toml::Value>| match old {
        _ if as_string => toml::Value::String(raw.to_string()),
        Some(toml::Value::String(_)) => toml::Value::String(raw.to_string()),
        _ => parse_value(raw),
    };
    let parts: Vec<&str> = key.trim().split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(Error::Config(format!(
            "--set {assignment:?}: empty key segment"
        )));
    }
    let bad = |why: &str| Error::Config(format!("--set {assignment:?}: {why}"));
    let (last, path) = parts.split_last().ok_or_else(|| bad("empty key"))?;
    let mut cur: &mut toml::Value = root;
    for p in path {
        cur = match cur {
            toml::Value::Table(t) => t
                .entry(p.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new())),
            toml::Value::Array(a) => {
                let i: usize = p
                    .parse()
                    .map_err(|_| bad(&format!("`{p}` is not an index")))?;
                let n = a.len();
                a.get_mut(i)
                    .ok_or_else(|| bad(&format!("index {i} out of range (there are {n})")))?
            }
            _ => return Err(bad(&format!("`{p}` is not a table"))),
        };
    }
    match cur {
        toml::Value::Table(t) => {
            let value = typed(t.get(*last));
            t.insert(last.to_string(), value);
        }
        toml::Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| bad(&format!("`{last}` is not an index")))?;
            let n = a.len();
            let slot = a
                .get_mut(i)
                .ok_or_else(|| bad(&format!("index {i} out of range (there are {n})")))?;
            *slot = typed(Some(slot));
        }
        _ => return Err(bad("parent is not a table")),
    }
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_indexed() {
        let mut v: toml::Value = toml::from_str("[a]\nb = 1\n[[t]]\nx = 'y'\n").unwrap();
        apply_override(&mut v, "a.b=2").unwrap();
        apply_override(&mut v, "a.c=hello world").unwrap();
        apply_override(&mut v, "t.0.x=z").unwrap();
        assert_eq!(v["a"]["b"].as_integer(), Some(2));
        assert_eq!(v["a"]["c"].as_str(), Some("hello world"));
        assert_eq!(v["t"][0]["x"].as_str(), Some("z"));
        assert!(apply_override(&mut v, "t.5.x=z").is_err());
        assert!(apply_override(&mut v, "novalue").is_err());
        apply_override(&mut v, "t.0.x=2024").unwrap();
        assert_eq!(
            v["t"][0]["x"].as_str(),
            Some("2024"),
            "a string stays a string"
        );
        apply_override_as_string(&mut v, "a.d=true").unwrap();
        assert_eq!(v["a"]["d"].as_str(), Some("true"));
    }
}
