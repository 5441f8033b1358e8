//! Rows → SQLite values, on the worker threads.

use crate::row::{Batch, Row, Value};
use crate::sink::seam::SinkOptions;
use crate::sink::spill::encode_rows;

/// Prepares rows for SQLite on the worker threads, so that the sink thread only binds:
/// dates, timestamps and decimals become text, bools 0/1; rows SQLite cannot store as
/// they are (a NULL key, a NaN) are rejected here. For a keyed table each row is also
/// encoded into the sink's compact format (see `spill`), which the sink sorts, spills
/// and binds without rebuilding rows.
pub(crate) struct SqliteEncode {
    key_idx: Vec<usize>,
    names: Vec<String>,
}

impl SqliteEncode {
    /// An encoder for rows of `schema` written to a table keyed on `key`.
    pub(crate) fn new(opts: &SinkOptions) -> Self {
        SqliteEncode {
            key_idx: opts
                .key
                .iter()
                .filter_map(|k| opts.schema.index_of(k))
                .collect(),
            names: opts.schema.names().map(String::from).collect(),
        }
    }
}

impl crate::sink::seam::Encode for SqliteEncode {
    fn describe(&self) -> String {
        "encode for sqlite".into()
    }

    fn encode(&self, batch: &mut Batch) {
        let mut failed = Vec::new();
        for (n, row) in batch.rows.iter_mut().enumerate() {
            for v in &mut row.values {
                match v {
                    Value::Bool(b) => *v = Value::Int(*b as i64),
                    Value::Date(_) | Value::Timestamp(_) | Value::Decimal(_) => {
                        *v = Value::Text(v.to_string())
                    }
                    _ => {}
                }
            }
            if let Some(reason) = unstorable(row, &self.key_idx, &self.names) {
                failed.push((n, reason));
            }
        }
        batch.reject_indexes(failed);
        if !self.key_idx.is_empty() {
            let blobs = encode_rows(&batch.rows);
            batch.encoded = Some(crate::row::Encoded::new(blobs));
            batch.rows.clear();
        }
    }
}

/// Why SQLite could not store a row as it is, if so (checked on the workers).
pub(super) fn unstorable(row: &Row, key_idx: &[usize], names: &[String]) -> Option<String> {
    let name = |i: usize| names.get(i).map_or("?", String::as_str);
    if let Some(&k) = key_idx.iter().find(|&&k| row.values[k].is_null()) {
        return Some(format!(
            "sink: key column {:?} is NULL (a key identifies the row; it cannot be NULL)",
            name(k)
        ));
    }
    let nan = row
        .values
        .iter()
        .position(|v| matches!(v, Value::Float(f) if f.is_nan()))?;
    Some(format!(
        "sink: column {:?}: NaN cannot be stored in SQLite (it would become NULL)",
        name(nan)
    ))
}
