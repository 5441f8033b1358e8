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
    /// Every column is a top-level key (no `fields` pointers): lines may be read
    /// without a JSON parser ([`JsonLayout::flat_fields`]).
    top_level_only: bool,
}

/// The first byte at or after `i` that is not JSON whitespace.
fn skip_ws(line: &[u8], mut i: usize) -> usize {
    while matches!(line.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The contents of the string that opens at `i` (the range between its quotes), when it
/// has no escape and no control character (`None` otherwise, or when it is not one).
fn flat_string(line: &[u8], i: usize) -> Option<(usize, usize)> {
    if line.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    let len = line[start..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    (line[start + len] == b'"').then_some((start, start + len))
}

/// The end of the JSON number that starts at `i` (`-?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?`),
/// or `None` when it is not one.
fn number_end(line: &[u8], mut i: usize) -> Option<usize> {
    let digits = |i: usize| line[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if line.get(i) == Some(&b'-') {
        i += 1;
    }
    match line.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i += digits(i),
        _ => return None,
    }
    if line.get(i) == Some(&b'.') {
        let n = digits(i + 1);
        if n == 0 {
            return None;
        }
        i += 1 + n;
    }
    if matches!(line.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(line.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let n = digits(i);
        if n == 0 {
            return None;
        }
        i += n;
    }
    Some(i)
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
        let mut known: std::collections::HashSet<String> = std::collections::HashSet::new();
        for line in sample {
            // Keys in the order written.
            if let Ok(entries) = serde_json::from_slice::<Entries>(line) {
                for (k, _) in &entries.0 {
                    if !known.contains(k.as_ref()) {
                        known.insert(k.as_ref().to_string());
                        names.push(k.as_ref().to_string());
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
            top_level_only: paths.iter().all(|(_, rest)| rest.is_empty())
                && index.values().all(|c| c.len() == 1),
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
        if self.top_level_only
            && let Some(r) = self.flat_fields(bytes)
        {
            return r;
        }
        self.parsed_fields(bytes)
    }

    /// The common case read without a JSON parser: an object of strings without
    /// escapes, numbers, `true`, `false` and `null`, each checked against the JSON
    /// grammar. `None` for anything else (nesting, escapes, broken JSON), left to
    /// serde_json ([`JsonLayout::parsed_fields`]), which reads it or says what is wrong.
    fn flat_fields(&self, line: &[u8]) -> Option<Result<RawRecord, String>> {
        // Strings are copied as bytes: the line must be UTF-8 (serde_json says why not).
        std::str::from_utf8(line).ok()?;
        let mut slots: Vec<Option<&[u8]>> = vec![None; self.paths.len()];
        let mut quoted = Vec::new();
        let mut i = skip_ws(line, 0);
        if line.get(i) != Some(&b'{') {
            return None;
        }
        i = skip_ws(line, i + 1);
        // The column after the last one found: keys usually come in the same order.
        let mut next = 0usize;
        if line.get(i) == Some(&b'}') {
            i += 1;
        } else {
            loop {
                let (k0, k1) = flat_string(line, i)?;
                let key = &line[k0..k1];
                i = skip_ws(line, k1 + 1);
                if line.get(i) != Some(&b':') {
                    return None;
                }
                i = skip_ws(line, i + 1);
                let (value, end) = match line.get(i)? {
                    b'"' => {
                        let (v0, v1) = flat_string(line, i)?;
                        (Some(&line[v0..v1]), v1 + 1)
                    }
                    b'n' if line[i..].starts_with(b"null") => (None, i + 4),
                    b't' if line[i..].starts_with(b"true") => (Some(&line[i..i + 4]), i + 4),
                    b'f' if line[i..].starts_with(b"false") => (Some(&line[i..i + 5]), i + 5),
                    b'-' | b'0'..=b'9' => {
                        let e = number_end(line, i)?;
                        (Some(&line[i..e]), e)
                    }
                    _ => return None,
                };
                let col = if self
                    .paths
                    .get(next)
                    .is_some_and(|(k, _)| k.as_bytes() == key)
                {
                    next
                } else {
                    let key = std::str::from_utf8(key).ok()?;
                    match self.index.get(key).map(Vec::as_slice) {
                        Some([c]) => *c,
                        _ => return None,
                    }
                };
                slots[col] = value;
                let is_string = line[i] == b'"';
                match (
                    is_string && value.is_some_and(<[u8]>::is_empty),
                    quoted.iter().position(|&q| q == col as u32),
                ) {
                    (true, None) => quoted.push(col as u32),
                    (false, Some(p)) => {
                        quoted.swap_remove(p);
                    }
                    _ => {}
                }
                next = col + 1;
                i = skip_ws(line, end);
                match line.get(i)? {
                    b',' => i = skip_ws(line, i + 1),
                    b'}' => {
                        i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        if skip_ws(line, i) != line.len() {
            return None;
        }
        quoted.sort_unstable();
        Some(Ok(RawRecord::from_pieces(&slots, quoted)))
    }

    /// `line` read by serde_json: any JSON, and the message for a line that is not an
    /// object of known keys.
    fn parsed_fields(&self, bytes: &[u8]) -> Result<RawRecord, String> {
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

    /// The reader without a parser gives what serde_json gives for every line it takes,
    /// and leaves every line it must not take (broken, nested, escaped) to serde_json.
    #[test]
    fn flat_lines_read_as_serde_json_reads_them() {
        let l = JsonLayout::discover(
            [&br#"{"id": 1, "name": "a", "amount": 1.5, "ok": true}"#[..]],
            &[],
            &[],
            "x".into(),
        );
        assert!(l.top_level_only);
        let flat = [
            r#"{"id": 1, "name": "a", "amount": 1.5, "ok": true}"#,
            r#"  {"name":"b","id":-0,"amount":-12.50e+3,"ok":false}  "#,
            r#"{"id": null, "name": "", "amount": 0.1E9}"#,
            r#"{"name": "", "name": 7}"#,
            r#"{"name": 7, "name": ""}"#,
            r#"{}"#,
            "{\t\"id\" :\r\n 3 }",
            r#"{"name": "Zoë ☃ 𝄞"}"#,
        ];
        for line in flat {
            let got = l.flat_fields(line.as_bytes());
            assert!(got.is_some(), "taken: {line}");
            assert_eq!(got.unwrap(), l.parsed_fields(line.as_bytes()), "{line}");
        }
        let left = [
            r#"{"id": 01}"#,
            r#"{"id": 1.}"#,
            r#"{"id": .5}"#,
            r#"{"id": 1e}"#,
            r#"{"id": -}"#,
            r#"{"id": +1}"#,
            r#"{"id": 1 2}"#,
            r#"{"id": tru}"#,
            r#"{"id": truex}"#,
            r#"{"id": nul}"#,
            r#"{"id": 1,}"#,
            r#"{"id": 1} x"#,
            r#"{"id": 1"#,
            r#"{"id" 1}"#,
            r#"{id: 1}"#,
            r#"{"name": "a\"b"}"#,
            r#"{"name": "tab	in"}"#,
            r#"{"name": [1]}"#,
            r#"{"name": {"a": 1}}"#,
            r#"{"other": 1}"#,
            r#"[1, 2]"#,
            r#""x""#,
            "",
        ];
        for line in left {
            assert!(l.flat_fields(line.as_bytes()).is_none(), "left: {line}");
        }
        assert!(
            l.flat_fields(b"{\"name\": \"\xff\"}").is_none(),
            "not UTF-8"
        );
    }

    proptest::proptest! {
        /// Objects built from JSON's pieces, then perhaps broken at one byte: whatever
        /// the reader without a parser takes, it reads as serde_json does.
        #[test]
        fn flat_reading_never_differs(
            entries in proptest::collection::vec((0usize..3, 0usize..12, 0usize..3), 0..5),
            cut in proptest::option::of((0usize..60, 0usize..8)),
        ) {
            const KEYS: [&str; 3] = ["id", "name", "other"];
            const VALUES: [&str; 12] = [
                "1", "-0", "12.50", "1e5", "-2.5E-3", "null", "true", "false", "\"\"",
                "\"Zoë\"", "\"a\\\"b\"", "[1]",
            ];
            const WS: [&str; 3] = ["", " ", "\t\r\n"];
            let mut line = String::from("{");
            for (n, (k, v, w)) in entries.iter().enumerate() {
                if n > 0 {
                    line.push(',');
                }
                line.push_str(&format!("{0}\"{1}\"{0}:{0}{2}{0}", WS[*w], KEYS[*k], VALUES[*v]));
            }
            line.push('}');
            let mut bytes = line.into_bytes();
            if let Some((at, b)) = cut {
                let at = at % (bytes.len() + 1);
                let with = [b'"', b',', b'}', b'x', b'0', b'.', b'\\', b' '][b];
                if at < bytes.len() { bytes[at] = with } else { bytes.push(with) }
            }
            let l = JsonLayout::discover(
                [&br#"{"id": 1, "name": "a"}"#[..]],
                &["other".to_string()],
                &[],
                "x".into(),
            );
            if let Some(r) = l.flat_fields(&bytes) {
                proptest::prop_assert_eq!(r, l.parsed_fields(&bytes), "{}", String::from_utf8_lossy(&bytes));
            }
        }
    }
}
