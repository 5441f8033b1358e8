//! The rows of a server sink's open transaction, kept until it commits so that they can
//! be sent again after a lost connection (PostgreSQL and MySQL share this).

use crate::row::{PackedRows, Rejected, Row, Value};
use crate::sink::seam::Written;

/// The rows of one written batch.
pub(crate) struct Chunk {
    /// Position and original fields of each row (the values too, when the sink sends
    /// from them).
    pub rows: Vec<Row>,
    /// Each row as the sink sends it, made by its encoder (empty when it sends values).
    pub tuples: PackedRows,
    /// The key values of each row (the same number per row, back to back) when the sink
    /// keeps them here rather than in the rows; else empty.
    pub keys: Vec<Value>,
    /// Reported to the runtime as written (false while its first write is in doubt).
    pub reported: bool,
}

impl Chunk {
    /// Whether every row has its encoded form.
    pub fn encoded(&self) -> bool {
        self.tuples.len() == self.rows.len()
    }
}

/// The open transaction's chunks, and rows done with (freed by the runtime).
#[derive(Default)]
pub(crate) struct Held {
    pub chunks: Vec<Chunk>,
    spent: Vec<Vec<Row>>,
}

impl Held {
    /// Keep a batch's rows (before sending them: if the connection drops while they
    /// are sent, a replay sends them again), with each row's key values (the same
    /// number per row, back to back; or none). Returns the chunk's index.
    pub fn push_keyed(&mut self, rows: Vec<Row>, tuples: PackedRows, keys: Vec<Value>) -> usize {
        self.chunks.push(Chunk {
            rows,
            tuples,
            keys,
            reported: false,
        });
        self.chunks.len() - 1
    }

    /// Chunk `c` was sent: `written` rows went in and `refused` (index, reason) did not.
    /// Refused rows leave the chunk (a replay does not send them again) and become
    /// rejects; rows counted before and refused now (in a replay) are `revoked`.
    pub fn sent(
        &mut self,
        c: usize,
        written: u64,
        refused: Vec<(usize, String)>,
        out: &mut Written,
    ) {
        let chunk = &mut self.chunks[c];
        if chunk.reported {
            out.revoked += refused.len() as u64;
        } else {
            out.rows += written;
        }
        chunk.reported = true;
        if refused.is_empty() {
            return;
        }
        let encoded = chunk.encoded();
        let rows = std::mem::take(&mut chunk.rows);
        let tuples = std::mem::take(&mut chunk.tuples);
        let nkeys = chunk.keys.len() / rows.len().max(1);
        let mut keys = std::mem::take(&mut chunk.keys).into_iter();
        let mut refused = refused.into_iter().peekable();
        for (i, row) in rows.into_iter().enumerate() {
            let row_keys = keys.by_ref().take(nkeys);
            match refused.next_if(|(k, _)| *k == i) {
                Some((_, reason)) => {
                    row_keys.for_each(drop);
                    out.rejected.push(Rejected {
                        pos: row.pos,
                        raw: row.raw,
                        reason: format!("sink: {reason}"),
                    })
                }
                None => {
                    chunk.rows.push(row);
                    chunk.keys.extend(row_keys);
                    if encoded {
                        chunk.tuples.push(tuples.get(i));
                    }
                }
            }
        }
    }

    /// The transaction is over (committed or rolled back): its rows are done with.
    pub fn clear(&mut self) {
        for c in self.chunks.drain(..) {
            self.spent.push(c.rows);
        }
    }

    /// Rows done with, for the runtime to free.
    pub fn take_spent(&mut self) -> Vec<Vec<Row>> {
        std::mem::take(&mut self.spent)
    }
}

/// Move a row's key values (the columns `key_idx`, in key order) to the end of `keys`
/// and drop the rest of its values: once a server sink's encoder has made the row's
/// encoded form, the sink needs only that, the position, the original fields and the
/// key (to send rows in key order).
pub(crate) fn take_keys(row: &mut Row, key_idx: &[usize], keys: &mut Vec<Value>) {
    let mut values = std::mem::take(&mut row.values);
    keys.extend(key_idx.iter().map(|&k| match values.get_mut(k) {
        Some(v) => std::mem::replace(v, Value::Null),
        None => Value::Null,
    }));
}

/// The stable key order of held rows `idx` ((chunk, row) pairs) by the chunks' key
/// values (`nkeys` per row, as [`take_keys`] left them): see [`crate::sink::seam::key_order`].
pub(crate) fn held_key_order(chunks: &[Chunk], idx: &[(usize, usize)], nkeys: usize) -> Vec<usize> {
    let k: Vec<usize> = (0..nkeys).collect();
    let keys = |j: usize| {
        let (c, i) = idx[j];
        &chunks[c].keys[i * nkeys..(i + 1) * nkeys]
    };
    crate::sink::seam::key_order(idx.len(), keys, &k)
}

/// A batch's rows with their encoded forms: as the encoder made them, or (rows that did
/// not go through it, none in a planned run) made now by `encode`, whose failures are
/// rejects.
pub(crate) fn encoded_rows(
    rows: Vec<Row>,
    tuples: PackedRows,
    out: &mut Written,
    mut encode: impl FnMut(&mut Row) -> Result<Option<Vec<u8>>, String>,
) -> (Vec<Row>, PackedRows) {
    if tuples.len() == rows.len() {
        return (rows, tuples);
    }
    let mut kept = Vec::with_capacity(rows.len());
    let mut tuples = PackedRows::default();
    for mut row in rows {
        match encode(&mut row) {
            Ok(t) => {
                if let Some(t) = t {
                    tuples.push(&t);
                }
                kept.push(row);
            }
            Err(reason) => out.rejected.push(Rejected {
                pos: row.pos,
                raw: row.raw,
                reason,
            }),
        }
    }
    (kept, tuples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::{Position, RawRecord};

    fn rows(n: usize) -> Vec<Row> {
        (0..n)
            .map(|i| Row {
                pos: Position {
                    record: i as u64 + 1,
                    ..Default::default()
                },
                values: Vec::new(),
                raw: RawRecord::from_fields([i.to_string()]),
            })
            .collect()
    }

    #[test]
    fn refused_rows_leave_and_replays_revoke() {
        let mut h = Held::default();
        let keys = vec![Value::Int(10), Value::Int(11), Value::Int(12)];
        let c = h.push_keyed(rows(3), PackedRows::from_rows(["a", "b", "c"]), keys);
        let mut out = Written::default();
        h.sent(c, 2, vec![(1, "bad".into())], &mut out);
        assert_eq!((out.rows, out.rejected.len(), out.revoked), (2, 1, 0));
        assert_eq!(out.rejected[0].reason, "sink: bad");
        assert_eq!(h.chunks[0].tuples, PackedRows::from_rows(["a", "c"]));
        assert_eq!(h.chunks[0].keys, [Value::Int(10), Value::Int(12)]);
        // A replay refuses one more: it was counted, so it is revoked.
        let mut again = Written::default();
        h.sent(c, 1, vec![(0, "now bad".into())], &mut again);
        assert_eq!((again.rows, again.revoked), (0, 1));
        assert_eq!(h.chunks[0].rows.len(), 1);
        assert_eq!(h.chunks[0].keys, [Value::Int(12)]);
        h.clear();
        assert_eq!(h.take_spent().len(), 1);
    }
}
