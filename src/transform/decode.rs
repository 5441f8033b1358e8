//! Decoding: raw CSV fields → typed values, with the NULL and ragged-row rules.

use std::sync::Arc;

use super::Transform;
use crate::config::Ragged;
use crate::row::{Batch, Value};
use crate::schema::{DataType, Schema, parse_value};

/// How raw fields become values.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// The input schema (names and types), one column per CSV field.
    pub schema: Arc<Schema>,
    /// Field values read as NULL besides the unquoted empty field.
    pub null_values: Vec<String>,
    /// What to do with records that have too few or too many fields.
    pub ragged: Ragged,
    /// Added to type errors when types were inferred from a sample, e.g. a hint to
    /// declare the column in `[source.schema]`.
    pub type_hint: Option<String>,
    /// Room to reserve in each row for columns later stages add.
    pub row_capacity: usize,
    /// The format declared for each column's values, if any.
    pub formats: Vec<Option<Arc<crate::schema::format::ValueFormat>>>,
    /// Each column's own NULL markers (besides `null_values`).
    pub column_nulls: Vec<Vec<String>>,
    /// The input's encoding, when it is not UTF-8: fields are decoded with it.
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// JSON Lines: each record is a line, laid out as the columns here.
    pub json: Option<Arc<crate::source::JsonLayout>>,
}

/// The decode stage.
pub struct Decode {
    opts: DecodeOptions,
    types: Vec<DataType>,
    /// A field that is not UTF-8 was reported with the whole hint once.
    said_encoding: std::sync::atomic::AtomicBool,
}

impl Decode {
    /// A decode stage for this schema.
    pub fn new(opts: DecodeOptions) -> Self {
        let types = opts.schema.columns.iter().map(|c| c.data_type).collect();
        Decode {
            opts,
            types,
            said_encoding: Default::default(),
        }
    }

    fn decode_row(&self, raw: &crate::row::RawRecord, out: &mut Vec<Value>) -> Result<(), String> {
        match &self.opts.json {
            Some(layout) => self.decode_fields(&layout.fields(raw)?, out),
            None => self.decode_fields(raw, out),
        }
    }

    fn decode_fields(
        &self,
        raw: &crate::row::RawRecord,
        out: &mut Vec<Value>,
    ) -> Result<(), String> {
        let n = self.types.len();
        let got = raw.len();
        if got != n {
            let pad = matches!(self.opts.ragged, Ragged::Pad | Ragged::PadOrTruncate);
            let trunc = matches!(self.opts.ragged, Ragged::Truncate | Ragged::PadOrTruncate);
            let ok = (got < n && pad) || (got > n && trunc);
            if !ok {
                let hint = if got < n {
                    "set source.ragged = \"pad\" to read missing fields as NULL"
                } else {
                    "set source.ragged = \"truncate\" to drop extra fields"
                };
                return Err(format!("decode: expected {n} fields, found {got} ({hint})"));
            }
        }
        out.clear();
        out.reserve(self.opts.row_capacity.max(n));
        // One UTF-8 check for the whole record (much cheaper than one per field); a
        // field is then valid when it starts and ends on character boundaries.
        let whole = raw.as_str();
        for (i, ty) in self.types.iter().enumerate() {
            let Some(bytes) = raw.get(i) else {
                out.push(Value::Null);
                continue;
            };
            let col = &self.opts.schema.columns[i].name;
            if bytes.is_empty() {
                if raw.is_quoted_empty(i) && !self.opts.null_values.iter().any(String::is_empty) {
                    if *ty == DataType::Text {
                        out.push(Value::Text(String::new()));
                        continue;
                    }
                    return Err(format!(
                        "decode: column {col:?}: \"\" (a quoted empty string) is not a valid {ty}; \
                         leave the field unquoted for NULL, or add \"\" to source.null_values"
                    ));
                }
                out.push(Value::Null);
                continue;
            }
            let decoded;
            let text = match (self.opts.encoding, whole.and_then(|w| w.get(raw.range(i)))) {
                (None, Some(t)) => t,
                (Some(enc), _) => {
                    decoded = enc.decode_without_bom_handling(bytes).0;
                    &*decoded
                }
                (None, None) => std::str::from_utf8(bytes).map_err(|e| {
                    // The first time, the whole story; then the short line.
                    let hint = if self
                        .said_encoding
                        .swap(true, std::sync::atomic::Ordering::Relaxed)
                    {
                        "(see the first such error: set source.encoding)"
                    } else {
                        crate::source::NOT_UTF8_HINT
                    };
                    format!(
                        "decode: column {col:?}: invalid UTF-8 at byte {} of the field: {hint}",
                        e.valid_up_to()
                    )
                })?,
            };
            if (!self.opts.null_values.is_empty()
                && self.opts.null_values.iter().any(|n| n == text))
                || self
                    .opts
                    .column_nulls
                    .get(i)
                    .is_some_and(|ns| ns.iter().any(|n| n == text))
            {
                out.push(Value::Null);
                continue;
            }
            let v = if let Some(Some(f)) = self.opts.formats.get(i) {
                f.parse(text)
                    .map_err(|e| format!("decode: column {col:?}: {e}"))?
            } else if *ty == DataType::Text {
                Value::Text(text.to_string())
            } else {
                parse_value(text, *ty).map_err(|e| match &self.opts.type_hint {
                    Some(h) => format!("decode: column {col:?}: {e} ({h})"),
                    None => format!("decode: column {col:?}: {e}"),
                })?
            };
            out.push(v);
        }
        Ok(())
    }
}

impl Transform for Decode {
    fn describe(&self) -> String {
        format!("decode({} columns)", self.types.len())
    }

    fn apply(&self, batch: &mut Batch) {
        // In place: rows are not moved unless one fails.
        let mut failed = Vec::new();
        for (n, row) in batch.rows.iter_mut().enumerate() {
            if let Err(reason) = self.decode_row(&row.raw, &mut row.values) {
                failed.push((n, reason));
            }
        }
        batch.reject_indexes(failed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::{Position, RawRecord, Row};

    fn batch(records: Vec<RawRecord>) -> Batch {
        let mut b = Batch::default();
        for (i, raw) in records.into_iter().enumerate() {
            b.rows.push(Row {
                pos: Position {
                    record: i as u64 + 1,
                    line: i as u64 + 2,
                    ..Position::default()
                },
                values: Vec::new(),
                raw,
            });
        }
        b
    }

    fn decoder(ragged: Ragged) -> Decode {
        Decode::new(DecodeOptions {
            schema: Arc::new(Schema::new([
                ("n".to_string(), DataType::Int),
                ("s".to_string(), DataType::Text),
            ])),
            null_values: vec!["NA".into()],
            ragged,
            type_hint: None,
            row_capacity: 0,
            formats: Vec::new(),
            column_nulls: Vec::new(),
            encoding: None,
            json: None,
        })
    }

    #[test]
    fn nulls_empties_and_types() {
        let mut b = batch(vec![
            RawRecord::from_fields(["1", "x"]),
            RawRecord::from_parts(b"2".to_vec(), vec![1, 1], vec![1]),
            RawRecord::from_fields(["", ""]),
            RawRecord::from_fields(["NA", "NA"]),
            RawRecord::from_fields(["zz", "y"]),
            RawRecord::from_fields([&b"3"[..], &b"\xff"[..]]),
        ]);
        decoder(Ragged::Reject).apply(&mut b);
        let vals: Vec<_> = b.rows.iter().map(|r| r.values.clone()).collect();
        assert_eq!(
            vals,
            vec![
                vec![Value::Int(1), Value::Text("x".into())],
                vec![Value::Int(2), Value::Text(String::new())],
                vec![Value::Null, Value::Null],
                vec![Value::Null, Value::Null],
            ]
        );
        assert_eq!(b.rejected.len(), 2);
        assert!(
            b.rejected[0].reason.contains("column \"n\""),
            "{}",
            b.rejected[0].reason
        );
        assert!(b.rejected[0].reason.contains("not a valid int"));
        assert_eq!(b.rejected[0].pos.line, 6);
        assert!(b.rejected[1].reason.contains("invalid UTF-8"));
    }

    #[test]
    fn utf8_is_checked_per_field_even_when_the_record_is_valid() {
        // The two fields together are "é" (valid), each alone is not.
        let text2 = || {
            Decode::new(DecodeOptions {
                schema: Arc::new(Schema::new([
                    ("a".to_string(), DataType::Text),
                    ("b".to_string(), DataType::Text),
                ])),
                null_values: Vec::new(),
                ragged: Ragged::Reject,
                type_hint: None,
                row_capacity: 0,
                formats: Vec::new(),
                column_nulls: Vec::new(),
                encoding: None,
                json: None,
            })
        };
        let mut b = batch(vec![
            RawRecord::from_fields([&b"\xc3"[..], &b"\xa9"[..]]),
            RawRecord::from_fields(["é", "李x"]),
        ]);
        text2().apply(&mut b);
        assert_eq!(b.rejected.len(), 1);
        assert!(b.rejected[0].reason.contains("column \"a\": invalid UTF-8"));
        assert_eq!(
            b.rows[0].values,
            vec![Value::Text("é".into()), Value::Text("李x".into())]
        );
    }

    #[test]
    fn ragged_rows() {
        let recs = || {
            vec![
                RawRecord::from_fields(["1"]),
                RawRecord::from_fields(["1", "a", "extra"]),
            ]
        };
        let mut b = batch(recs());
        decoder(Ragged::Reject).apply(&mut b);
        assert_eq!(b.rows.len(), 0);
        assert!(b.rejected[0].reason.contains("expected 2 fields, found 1"));
        let mut b = batch(recs());
        decoder(Ragged::PadOrTruncate).apply(&mut b);
        assert_eq!(b.rows.len(), 2);
        assert_eq!(b.rows[0].values, [Value::Int(1), Value::Null]);
        assert_eq!(b.rows[1].values, [Value::Int(1), Value::Text("a".into())]);
    }
}
