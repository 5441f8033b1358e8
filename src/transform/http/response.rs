//! Response → new columns: JSON pointers into typed values, the whole body, the status.

use crate::row::Value;
use crate::schema::{DataType, parse_value};

/// One column taken from the JSON response.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// Output column index.
    pub column: usize,
    /// Column name, for messages.
    pub name: String,
    pub pointer: String,
    pub data_type: DataType,
}

/// How a response fills a row's new columns.
#[derive(Debug, Clone, Default)]
pub(crate) struct Mapping {
    pub fields: Vec<Field>,
    pub body_column: Option<usize>,
    pub status_column: Option<usize>,
}

impl Mapping {
    /// Fill `values` from a response: `status`, the whole `body`, and the fields of its
    /// JSON (`json`, parsed once by the caller when `needs_json`).
    pub(crate) fn apply(
        &self,
        status: u16,
        body: &[u8],
        json: Option<&serde_json::Value>,
        values: &mut [Value],
    ) -> Result<(), String> {
        if let Some(c) = self.status_column {
            values[c] = Value::Int(i64::from(status));
        }
        if let Some(c) = self.body_column {
            values[c] = Value::Text(
                String::from_utf8(body.to_vec())
                    .map_err(|_| "the response body is not valid UTF-8".to_string())?,
            );
        }
        if let Some(json) = json {
            for f in &self.fields {
                values[f.column] = match json.pointer(&f.pointer) {
                    None => Value::Null,
                    Some(v) => convert(v, f.data_type)
                        .map_err(|e| format!("column {:?} (from {}): {e}", f.name, f.pointer))?,
                };
            }
        }
        Ok(())
    }

    /// Whether the body must be parsed as JSON.
    pub(crate) fn needs_json(&self) -> bool {
        !self.fields.is_empty()
    }
}

/// Parse a body as JSON, with a short reason when it is not.
pub(crate) fn parse_json(body: &[u8]) -> Result<serde_json::Value, String> {
    serde_json::from_slice(body).map_err(|e| {
        let start: String = String::from_utf8_lossy(body).chars().take(60).collect();
        format!("the response is not valid JSON ({e}): {start:?}")
    })
}

/// A JSON value as a value of type `t`.
fn convert(v: &serde_json::Value, t: DataType) -> Result<Value, String> {
    use serde_json::Value as J;
    let bad = || {
        format!(
            "{} is not a valid {t}",
            crate::format::quote_value(&v.to_string())
        )
    };
    Ok(match (v, t) {
        (J::Null, _) => Value::Null,
        (J::String(s), DataType::Text) => Value::Text(s.clone()),
        (other, DataType::Text) => Value::Text(other.to_string()),
        (J::String(s), t) => parse_value(s, t)?,
        (J::Number(n), DataType::Int) => Value::Int(n.as_i64().ok_or_else(bad)?),
        (J::Number(n), DataType::Float) => Value::Float(n.as_f64().ok_or_else(bad)?),
        (J::Number(n), DataType::Decimal) => parse_value(&n.to_string(), DataType::Decimal)?,
        (J::Bool(b), DataType::Bool) => Value::Bool(*b),
        _ => return Err(bad()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_types_and_missing_values() {
        let m = Mapping {
            fields: vec![
                Field {
                    column: 0,
                    name: "score".into(),
                    pointer: "/data/score".into(),
                    data_type: DataType::Float,
                },
                Field {
                    column: 1,
                    name: "n".into(),
                    pointer: "/n".into(),
                    data_type: DataType::Int,
                },
                Field {
                    column: 2,
                    name: "tags".into(),
                    pointer: "/tags".into(),
                    data_type: DataType::Text,
                },
                Field {
                    column: 3,
                    name: "gone".into(),
                    pointer: "/nope".into(),
                    data_type: DataType::Int,
                },
            ],
            body_column: None,
            status_column: Some(4),
        };
        let body = br#"{"data": {"score": 0.5}, "n": 3, "tags": ["a", "b"]}"#;
        let json = parse_json(body).unwrap();
        let mut v = vec![Value::Null; 5];
        m.apply(200, body, Some(&json), &mut v).unwrap();
        assert_eq!(
            v,
            [
                Value::Float(0.5),
                Value::Int(3),
                Value::Text("[\"a\",\"b\"]".into()),
                Value::Null,
                Value::Int(200)
            ]
        );
        let json = parse_json(br#"{"n": 1.5}"#).unwrap();
        let e = m.apply(200, b"", Some(&json), &mut v).unwrap_err();
        assert!(e.contains("\"n\"") && e.contains("1.5"), "{e}");
        assert!(
            parse_json(b"<html>")
                .unwrap_err()
                .contains("not valid JSON")
        );
    }
}
