//! URL and body templates: `{column}` (or `{"column name"}`) placeholders, resolved to
//! column indexes at plan time and filled per row without parsing again.

use crate::row::Value;
use crate::schema::Schema;

/// A parsed template: literal text and column references.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Column(usize),
}

/// How a value is written into a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escape {
    /// Percent-encoded (RFC 3986: everything but unreserved characters); NULL is empty.
    Url,
    /// As a JSON value: strings quoted and escaped, numbers and booleans bare, NULL
    /// `null`.
    Json,
}

impl Template {
    /// Parse `text`. `{name}` (name: letters, digits, `_`, not starting with a digit) and
    /// `{"any name"}` are placeholders and must name a column of `schema`; any other
    /// brace is literal, so JSON bodies need no escaping.
    pub(crate) fn parse(text: &str, schema: &Schema) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            lit.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match placeholder(after) {
                Some((name, used)) => {
                    let i = schema.index_of(&name).ok_or_else(|| {
                        let names: Vec<String> = schema.names().map(String::from).collect();
                        format!(
                            "placeholder {{{name}}} in {text:?} names no column{}",
                            crate::format::did_you_mean(&name, &names)
                        )
                    })?;
                    if !lit.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Column(i));
                    rest = &after[used..];
                }
                None => {
                    lit.push('{');
                    rest = after;
                }
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Text(lit));
        }
        Ok(Template { parts })
    }

    /// The columns the template reads.
    pub(crate) fn columns(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Column(i) => Some(*i),
            Part::Text(_) => None,
        })
    }

    /// Fill the template with a row's values.
    pub(crate) fn render(&self, values: &[Value], escape: Escape, out: &mut String) {
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Column(i) => {
                    let v = values.get(*i).unwrap_or(&Value::Null);
                    match escape {
                        Escape::Url => url_encode(&v.to_string(), out),
                        Escape::Json => json_value(v, out),
                    }
                }
            }
        }
    }
}

/// `name}` or `"any name"}` at the start of `s`: the column name and the bytes used.
fn placeholder(s: &str) -> Option<(String, usize)> {
    if let Some(q) = s.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = q.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => name.push(chars.next()?.1),
                '"' => {
                    return q[i + 1..].starts_with('}').then(|| (name, 1 + i + 2));
                }
                c => name.push(c),
            }
        }
        return None;
    }
    let end = s.find('}')?;
    let name = &s[..end];
    let mut chars = name.chars();
    let first = chars.next()?;
    let ident =
        (first.is_alphabetic() || first == '_') && chars.all(|c| c.is_alphanumeric() || c == '_');
    ident.then(|| (name.to_string(), end + 1))
}

/// Percent-encode everything but RFC 3986's unreserved characters.
pub(crate) fn url_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// A value as JSON.
pub(crate) fn json_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Int(x) => out.push_str(&x.to_string()),
        Value::Float(x) if x.is_finite() => out.push_str(&format!("{x:?}")),
        Value::Float(_) => out.push_str("null"),
        Value::Decimal(d) => out.push_str(&d.to_string()),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        other => {
            // Serializing a string cannot fail.
            out.push_str(&serde_json::to_string(&other.to_string()).unwrap_or_default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::DataType;

    fn schema() -> Schema {
        Schema::new([
            ("id".to_string(), DataType::Int),
            ("email".to_string(), DataType::Text),
            ("odd name".to_string(), DataType::Text),
        ])
    }

    #[test]
    fn url_templates_encode_values() {
        let t = Template::parse("http://h/u/{id}?e={email}&n={\"odd name\"}", &schema()).unwrap();
        let mut out = String::new();
        t.render(
            &[
                Value::Int(7),
                Value::Text("a+b@x.io&z=1".into()),
                Value::Text("é /".into()),
            ],
            Escape::Url,
            &mut out,
        );
        assert_eq!(out, "http://h/u/7?e=a%2Bb%40x.io%26z%3D1&n=%C3%A9%20%2F");
        assert_eq!(t.columns().collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn json_bodies_keep_their_braces() {
        let t = Template::parse(r#"{"user": {"id": {id}, "email": {email}}}"#, &schema()).unwrap();
        let mut out = String::new();
        t.render(
            &[Value::Int(1), Value::Text("q\"uote".into()), Value::Null],
            Escape::Json,
            &mut out,
        );
        assert_eq!(out, r#"{"user": {"id": 1, "email": "q\"uote"}}"#);
        let mut out = String::new();
        t.render(
            &[Value::Null, Value::Null, Value::Null],
            Escape::Json,
            &mut out,
        );
        assert_eq!(out, r#"{"user": {"id": null, "email": null}}"#);
    }

    #[test]
    fn unknown_placeholders_are_plan_errors() {
        let e = Template::parse("http://h/{emial}", &schema()).unwrap_err();
        assert!(e.contains("{emial}") && e.contains("email"), "{e}");
    }
}
