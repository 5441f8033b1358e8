//! JSON Lines: one object per line, read by the CSV record reader with a dialect under
//! which a line is one field (so positions, resume, compression, remote inputs and
//! ranges work as for CSV), then laid out as columns: the top-level keys, and values
//! picked by JSON pointer (`fields`). A string is its text, `null` is NULL, a number is
//! its digits as written, an object or array is its JSON text.

use std::collections::HashMap;

use serde_json::value::RawValue;

use super::reader::Dialect;
use crate::row::RawRecord;

/// The dialect that reads a line as one field: JSON has no raw control characters, so
/// neither the delimiter (unit separator) nor the quote (record separator) occurs.
pub const LINE_DIALECT: Dialect = Dialect {
    delimiter: 0x1f,
    quote: 0x1e,
    escape: None,
    comment: None,
};

/// Columns of a JSON Lines input.
#[derive(Debug, Clone)]
pub struct JsonLayout {
    /// Column names: the keys found, then the `fields` columns.
    pub names: Vec<String>,
    /// Per column: the top-level key, and the rest of its JSON pointer (empty for the
    /// key itself).
    paths: Vec<(String, String)>,
    /// The columns each top-level key feeds.
    index: HashMap<String, Vec<usize>>,
    /// How the keys were found, for the message about an unknown key.
    found_in: String,
}

/// A JSON pointer's first segment and the rest (`/address/city` → `address`, `/city`).
fn split_pointer(p: &str) -> (String, String) {
    let p = p.strip_prefix('/').unwrap_or(p);
    let (first, rest) = match p.find('/') {
        Some(i) => (&p[..i], &p[i..]),
        None => (p, ""),
    };
    (
        first.replace("~1", "/").replace("~0", "~"),
        rest.to_string(),
    )
}

impl JsonLayout {
    /// The layout of the keys of `sample` (lines, first seen first), the columns
    /// `declared` names that no line had, then `fields` (name → JSON pointer).
    pub fn discover<'a>(
        sample: impl IntoIterator<Item = &'a [u8]>,
        declared: &[String],
        fields: &[(String, String)],
        found_in: String,
    ) -> JsonLayout {
        let mut names: Vec<String> = Vec::new();
        for line in sample {
            if let Ok(obj) = serde_json::from_slice::<HashMap<String, &RawValue>>(line) {
                // HashMap order is not the line's: take keys in the order written.
                let mut keys: Vec<(usize, &String)> =
                    obj.keys().map(|k| (position_of(line, k), k)).collect();
                keys.sort();
                for (_, k) in keys {
                    if !names.contains(k) {
                        names.push(k.clone());
                    }
                }
            }
        }
        for d in declared {
            if !names.contains(d) && !fields.iter().any(|(n, _)| n == d) {
                names.push(d.clone());
            }
        }
        let mut paths: Vec<(String, String)> =
            names.iter().map(|n| (n.clone(), String::new())).collect();
        for (name, pointer) in fields {
            names.push(name.clone());
            paths.push(split_pointer(pointer));
        }
        let mut index: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, (top, _)) in paths.iter().enumerate() {
            index.entry(top.clone()).or_default().push(i);
        }
        JsonLayout {
            names,
            paths,
            index,
            found_in,
        }
    }

    /// `line` as a record of the columns, or why it cannot be one.
    pub fn fields(&self, line: &RawRecord) -> Result<RawRecord, String> {
        let bytes = match (line.len(), line.get(0)) {
            (1, Some(b)) => b,
            _ => {
                return Err(
                    "the line is not one JSON object (it holds a control character)".into(),
                );
            }
        };
        let entries: Entries = serde_json::from_slice(bytes).map_err(|e| {
            if bytes.first() == Some(&b'{') {
                format!("the line is not valid JSON: {e}")
            } else {
                format!("the line is not a JSON object: {e}")
            }
        })?;
        // Each column's value (a repeated key: the last one, as JSON parsers do).
        let mut slots: Vec<Option<&RawValue>> = vec![None; self.paths.len()];
        for (k, v) in &entries.0 {
            match self.index.get(k.as_ref()) {
                Some(cols) => {
                    for &c in cols {
                        slots[c] = Some(v);
                    }
                }
                None => {
                    return Err(format!(
                        "key {:?} is not a column (the columns are the keys of {}): declare it \
                         in [source.schema] to load it",
                        k.as_ref(),
                        self.found_in
                    ));
                }
            }
        }
        let mut buf = Vec::with_capacity(bytes.len());
        let mut ends = Vec::with_capacity(self.paths.len());
        let mut quoted_empty = Vec::new();
        for (i, ((_, rest), slot)) in self.paths.iter().zip(&slots).enumerate() {
            if let Some(raw) = slot {
                let start = buf.len();
                let is_value = if rest.is_empty() {
                    push_text(raw.get(), &mut buf)?
                } else {
                    let v: serde_json::Value =
                        serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
                    match v.pointer(rest) {
                        None | Some(serde_json::Value::Null) => false,
                        Some(serde_json::Value::String(t)) => {
                            buf.extend_from_slice(t.as_bytes());
                            true
                        }
                        Some(other) => {
                            buf.extend_from_slice(other.to_string().as_bytes());
                            true
                        }
                    }
                };
                if is_value && buf.len() == start {
                    quoted_empty.push(i as u32);
                }
            }
            ends.push(buf.len());
        }
        Ok(RawRecord::from_slices(&buf, ends.into_iter(), quoted_empty))
    }
}

/// A line's entries in order, keys borrowed from the line unless they hold escapes.
struct Entries<'a>(Vec<(Key<'a>, &'a RawValue)>);

/// An object key.
enum Key<'a> {
    Borrowed(&'a str),
    Owned(String),
}

impl AsRef<str> for Key<'_> {
    fn as_ref(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> serde::Deserialize<'de> for Entries<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Entries<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = m.next_key::<Key<'de>>()? {
                    let v: &'de RawValue = m.next_value()?;
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Append a value's text to `buf`: a string's contents (unescaped), anything else as
/// written; `false` for `null` (NULL).
fn push_text(raw: &str, buf: &mut Vec<u8>) -> Result<bool, String> {
    match raw.as_bytes().first() {
        Some(b'"') if !raw.contains('\\') => {
            buf.extend_from_slice(&raw.as_bytes()[1..raw.len() - 1]);
            Ok(true)
        }
        Some(b'"') => {
            let s = serde_json::from_str::<String>(raw).map_err(|e| e.to_string())?;
            buf.extend_from_slice(s.as_bytes());
            Ok(true)
        }
        Some(b'n') if raw == "null" => Ok(false),
        _ => {
            buf.extend_from_slice(raw.as_bytes());
            Ok(true)
        }
    }
}

/// Where key `k` is written in `line` (for the order of the columns), roughly: the
/// first `"k"`; keys with escapes come last.
fn position_of(line: &[u8], k: &str) -> usize {
    let needle = format!("\"{k}\"");
    line.windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> RawRecord {
        RawRecord::from_fields([s])
    }

    #[test]
    fn keys_in_order_values_as_text() {
        let lines = [
            r#"{"id": 1, "name": "Zoë", "amount": 105.10, "tags": ["a", "b"], "address": {"city": "Paris"}}"#,
            r#"{"id": 2, "name": "", "extra": null}"#,
        ];
        let l = JsonLayout::discover(
            lines.iter().map(|l| l.as_bytes()),
            &["late".to_string()],
            &[("city".into(), "/address/city".into())],
            "the first lines".into(),
        );
        assert_eq!(
            l.names,
            [
                "id", "name", "amount", "tags", "address", "extra", "late", "city"
            ]
        );
        let r = l.fields(&line(lines[0])).unwrap();
        assert_eq!(r.get(0).unwrap(), b"1");
        assert_eq!(r.get(1).unwrap(), "Zoë".as_bytes());
        assert_eq!(r.get(2).unwrap(), b"105.10", "digits as written");
        assert_eq!(r.get(3).unwrap(), br#"["a", "b"]"#);
        assert_eq!(r.get(7).unwrap(), b"Paris");
        let r = l.fields(&line(lines[1])).unwrap();
        assert!(r.is_quoted_empty(1), "an empty string is not NULL");
        assert!(
            r.get(5).unwrap().is_empty() && !r.is_quoted_empty(5),
            "null is NULL"
        );
        assert!(r.get(7).unwrap().is_empty(), "a missing pointer is NULL");
    }

    #[test]
    fn bad_lines_are_row_errors() {
        let l = JsonLayout::discover([&b"{\"a\": 1}"[..]], &[], &[], "x".into());
        assert!(
            l.fields(&line("[1, 2]"))
                .unwrap_err()
                .contains("not a JSON object")
        );
        assert!(
            l.fields(&line("{\"a\": "))
                .unwrap_err()
                .contains("not valid JSON")
        );
        let e = l.fields(&line("{\"a\": 1, \"b\": 2}")).unwrap_err();
        assert!(e.contains("\"b\" is not a column"), "{e}");
        assert!(
            l.fields(&line("{\"a\": \"x\\ny\"}"))
                .unwrap()
                .get(0)
                .unwrap()
                == b"x\ny"
        );
        // A repeated key: the last one. A key with escapes is matched too.
        assert_eq!(
            l.fields(&line("{\"a\": 1, \"a\": 2}"))
                .unwrap()
                .get(0)
                .unwrap(),
            b"2"
        );
        let esc = JsonLayout::discover([&br#"{"a\"b": "\u00e9"}"#[..]], &[], &[], "x".into());
        assert_eq!(esc.names, ["a\"b"]);
        let r = esc.fields(&line(r#"{"a\"b": "\u00e9"}"#)).unwrap();
        assert_eq!(r.get(0).unwrap(), "é".as_bytes());
    }
}
