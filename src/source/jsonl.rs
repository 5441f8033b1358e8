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
        JsonLayout {
            names,
            paths,
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
        let obj: HashMap<String, &RawValue> = serde_json::from_slice(bytes).map_err(|e| {
            if bytes.first() == Some(&b'{') {
                format!("the line is not valid JSON: {e}")
            } else {
                format!("the line is not a JSON object: {e}")
            }
        })?;
        if let Some(k) = obj
            .keys()
            .find(|k| !self.paths.iter().any(|(top, _)| top == *k))
        {
            return Err(format!(
                "key {k:?} is not a column (the columns are the keys of {}): declare it in \
                 [source.schema] to load it",
                self.found_in
            ));
        }
        let mut buf = Vec::with_capacity(bytes.len());
        let mut ends = Vec::with_capacity(self.paths.len());
        let mut quoted_empty = Vec::new();
        for (i, (top, rest)) in self.paths.iter().enumerate() {
            if let Some(raw) = obj.get(top) {
                let text = if rest.is_empty() {
                    raw_text(raw.get())?
                } else {
                    let v: serde_json::Value =
                        serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
                    match v.pointer(rest) {
                        None | Some(serde_json::Value::Null) => None,
                        Some(serde_json::Value::String(s)) => Some(s.clone()),
                        Some(other) => Some(other.to_string()),
                    }
                };
                match text {
                    Some(t) if t.is_empty() => quoted_empty.push(i as u32),
                    Some(t) => buf.extend_from_slice(t.as_bytes()),
                    None => {}
                }
            }
            ends.push(buf.len());
        }
        Ok(RawRecord::from_slices(&buf, ends.into_iter(), quoted_empty))
    }
}

/// A value's text: a string's contents, `None` for `null`, anything else as written.
fn raw_text(raw: &str) -> Result<Option<String>, String> {
    match raw.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(raw)
            .map(Some)
            .map_err(|e| e.to_string()),
        Some(b'n') if raw == "null" => Ok(None),
        _ => Ok(Some(raw.to_string())),
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
    }
}
