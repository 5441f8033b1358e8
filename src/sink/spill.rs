//! Sorted runs spilled to anonymous temporary files, merged back in key order.
//!
//! A keyed SQLite table loads several times faster when rows arrive in key order (the
//! B-tree is filled left to right, touching each page once) than in input order (every
//! insert lands on a random page). The sink sorts what it holds into runs, writes each
//! run to a temporary file, and at commit merges the runs, so memory stays bounded by
//! one run whatever the transaction size. The files are unlinked at creation and
//! vanish with their handles.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use crate::row::{Position, RawRecord, Row, Value};

fn put_u32(w: &mut impl Write, v: u32) -> io::Result<()> {
    w.write_all(&v.to_le_bytes())
}
fn put_u64(w: &mut impl Write, v: u64) -> io::Result<()> {
    w.write_all(&v.to_le_bytes())
}
fn put_bytes(w: &mut impl Write, b: &[u8]) -> io::Result<()> {
    put_u32(w, b.len() as u32)?;
    w.write_all(b)
}
fn put_u32s(w: &mut impl Write, v: &[u32]) -> io::Result<()> {
    put_u32(w, v.len() as u32)?;
    v.iter().try_for_each(|x| put_u32(w, *x))
}

fn get_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}
fn get_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}
fn get_bytes(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let n = get_u32(r)? as usize;
    let mut v = vec![0; n];
    r.read_exact(&mut v)?;
    Ok(v)
}
fn get_u32s(r: &mut impl Read) -> io::Result<Vec<u32>> {
    let n = get_u32(r)? as usize;
    (0..n).map(|_| get_u32(r)).collect()
}

/// Serialize one row (position, values as the sink binds them, original fields).
fn write_row(w: &mut impl Write, row: &Row) -> io::Result<()> {
    write_parts(w, &row.pos, &row.values, &row.raw)
}

fn write_parts(
    w: &mut impl Write,
    pos: &Position,
    values: &[Value],
    raw: &RawRecord,
) -> io::Result<()> {
    put_u32(w, pos.file)?;
    put_u64(w, pos.record)?;
    put_u64(w, pos.line)?;
    put_u64(w, pos.byte)?;
    put_u32(w, values.len() as u32)?;
    for v in values {
        match v {
            Value::Null => w.write_all(&[0])?,
            Value::Int(x) => {
                w.write_all(&[1])?;
                w.write_all(&x.to_le_bytes())?;
            }
            Value::Float(x) => {
                w.write_all(&[2])?;
                w.write_all(&x.to_bits().to_le_bytes())?;
            }
            Value::Text(s) => {
                w.write_all(&[3])?;
                put_bytes(w, s.as_bytes())?;
            }
            Value::Bool(b) => {
                w.write_all(&[1])?;
                w.write_all(&(*b as i64).to_le_bytes())?;
            }
            // Dates, timestamps and decimals are stored as their text form.
            other => {
                w.write_all(&[3])?;
                put_bytes(w, other.to_string().as_bytes())?;
            }
        }
    }
    let (buf, ends, quoted) = raw.parts();
    put_bytes(w, buf)?;
    put_u32s(w, ends)?;
    put_u32s(w, quoted)
}

fn read_row(r: &mut impl Read) -> io::Result<Row> {
    let pos = Position {
        file: get_u32(r)?,
        record: get_u64(r)?,
        line: get_u64(r)?,
        byte: get_u64(r)?,
    };
    let n = get_u32(r)? as usize;
    let mut values = Vec::with_capacity(n);
    for _ in 0..n {
        let mut tag = [0];
        r.read_exact(&mut tag)?;
        values.push(match tag[0] {
            0 => Value::Null,
            1 => Value::Int(get_u64(r)? as i64),
            2 => Value::Float(f64::from_bits(get_u64(r)?)),
            3 => Value::Text(
                String::from_utf8(get_bytes(r)?)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
            ),
            t => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("spill file: unknown value tag {t}"),
                ));
            }
        });
    }
    let raw = RawRecord::from_parts(get_bytes(r)?, get_u32s(r)?, get_u32s(r)?);
    Ok(Row { pos, values, raw })
}

/// A row in the spill format: position, values (int, float, text or NULL), original
/// fields. Built on the worker threads; the sink sorts, spills and binds these.
pub(crate) fn encode_row(row: &Row) -> Vec<u8> {
    let mut v = Vec::with_capacity(64 + row.raw.heap_size() + 24 * row.values.len());
    // Writing into a Vec cannot fail.
    let _ = write_row(&mut v, row);
    v
}

/// The row back from its encoding (for the reject file).
pub(crate) fn decode_row(blob: &[u8]) -> io::Result<Row> {
    read_row(&mut &blob[..])
}

/// A server sink's held row in the spill format: position, key values (as
/// [`encode_row`] writes values, so [`blob_key`] reads them), original fields, then the
/// row as the sink sends it (`payload`).
pub(crate) fn encode_keyed(
    pos: &Position,
    keys: &[Value],
    raw: &RawRecord,
    payload: &[u8],
) -> Vec<u8> {
    let mut v = Vec::with_capacity(64 + raw.heap_size() + 16 * keys.len() + payload.len());
    // Writing into a Vec cannot fail.
    let _ = write_parts(&mut v, pos, keys, raw);
    let _ = put_bytes(&mut v, payload);
    v
}

/// An [`encode_keyed`] row back: the row (its values are the keys) and the payload.
pub(crate) fn decode_keyed(blob: &[u8]) -> io::Result<(Row, Vec<u8>)> {
    let mut r = blob;
    let row = read_row(&mut r)?;
    let payload = get_bytes(&mut r)?;
    Ok((row, payload))
}

/// The payload of an [`encode_keyed`] row, without decoding the rest.
pub(crate) fn keyed_payload(blob: &[u8]) -> io::Result<&[u8]> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "corrupt encoded row");
    let mut at = 4 + 8 + 8 + 8; // position
    let u32_at = |at: usize| -> io::Result<usize> {
        let b = blob.get(at..at + 4).ok_or_else(bad)?;
        Ok(u32::from_le_bytes(b.try_into().map_err(|_| bad())?) as usize)
    };
    let n = u32_at(at)?;
    at += 4;
    for _ in 0..n {
        let tag = *blob.get(at).ok_or_else(bad)?;
        at += 1;
        at += match tag {
            0 => 0,
            1 | 2 => 8,
            3 => 4 + u32_at(at)?,
            _ => return Err(bad()),
        };
    }
    // The original fields: bytes, then two lists of u32.
    at += 4 + u32_at(at)?;
    at += 4 + 4 * u32_at(at)?;
    at += 4 + 4 * u32_at(at)?;
    let len = u32_at(at)?;
    blob.get(at + 4..at + 4 + len).ok_or_else(bad)
}

/// A row's position in key order. Rows of one table all have the same shape, so the
/// variants are never compared with each other.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SortKey {
    /// The common case, a single int key: no allocation.
    Int(i64),
    /// Anything else.
    Parts(Vec<KeyPart>),
}

/// One key value, totally ordered (floats by their IEEE total order).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum KeyPart {
    Int(i64),
    Float(i64),
    Text(Vec<u8>),
}

impl KeyPart {
    fn float(x: f64) -> KeyPart {
        // The IEEE 754 total order as a signed integer, with -0 as 0 (SQLite calls them
        // equal).
        let x = if x == 0.0 { 0.0 } else { x };
        let bits = x.to_bits() as i64;
        KeyPart::Float(bits ^ (((bits >> 63) as u64) >> 1) as i64)
    }
}

/// The sort key of an encoded row: the values at `key_idx`.
pub(crate) fn blob_key(key_idx: &[usize], blob: &[u8]) -> SortKey {
    let mut vals = Vec::with_capacity(16);
    if blob_values(blob, &mut vals).is_err() {
        return SortKey::Parts(Vec::new());
    }
    let part = |v: &BindVal<'_>| match v {
        BindVal::Int(x) => KeyPart::Int(*x),
        BindVal::Float(x) => KeyPart::float(*x),
        BindVal::Text(t) => KeyPart::Text(t.to_vec()),
        BindVal::Null => KeyPart::Text(Vec::new()),
    };
    match key_idx {
        [i] => match vals.get(*i) {
            Some(BindVal::Int(x)) => SortKey::Int(*x),
            Some(v) => SortKey::Parts(vec![part(v)]),
            None => SortKey::Parts(Vec::new()),
        },
        _ => SortKey::Parts(
            key_idx
                .iter()
                .filter_map(|&i| vals.get(i))
                .map(part)
                .collect(),
        ),
    }
}

/// A value borrowed from an encoded row, ready to bind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BindVal<'a> {
    Null,
    Int(i64),
    Float(f64),
    Text(&'a [u8]),
}

/// The values of an encoded row, appended to `out`.
pub(crate) fn blob_values<'a>(blob: &'a [u8], out: &mut Vec<BindVal<'a>>) -> io::Result<()> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "corrupt encoded row");
    let take = |at: &mut usize, n: usize| -> io::Result<&'a [u8]> {
        let s = blob.get(*at..*at + n).ok_or_else(bad)?;
        *at += n;
        Ok(s)
    };
    let mut at = 4 + 8 + 8 + 8; // position
    let n = u32::from_le_bytes(take(&mut at, 4)?.try_into().map_err(|_| bad())?) as usize;
    for _ in 0..n {
        let tag = take(&mut at, 1)?[0];
        out.push(match tag {
            0 => BindVal::Null,
            1 => BindVal::Int(i64::from_le_bytes(
                take(&mut at, 8)?.try_into().map_err(|_| bad())?,
            )),
            2 => BindVal::Float(f64::from_bits(u64::from_le_bytes(
                take(&mut at, 8)?.try_into().map_err(|_| bad())?,
            ))),
            3 => {
                let len = u32::from_le_bytes(take(&mut at, 4)?.try_into().map_err(|_| bad())?);
                BindVal::Text(take(&mut at, len as usize)?)
            }
            _ => return Err(bad()),
        });
    }
    Ok(())
}

/// Bytes read ahead from each run while they are merged (the page cache does the rest).
const MERGE_BUFFER: usize = 64 * 1024;

/// Runs a sink lets a transaction make before it merges them into one
/// ([`Runs::compact`]); with [`MERGE_BUFFER`], 16 MiB of read buffers at most.
pub(super) const MAX_OPEN_RUNS: usize = 256;

/// Sorted runs waiting to be merged.
#[derive(Default)]
pub(super) struct Runs {
    files: Vec<(File, usize)>,
}

impl Runs {
    /// True when nothing was spilled.
    pub(super) fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Write one sorted run of encoded rows to a new anonymous temporary file.
    pub(super) fn spill<B: AsRef<[u8]>>(
        &mut self,
        blobs: impl ExactSizeIterator<Item = B>,
    ) -> io::Result<()> {
        let n = blobs.len();
        let file = tempfile::tempfile()?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        for b in blobs {
            put_bytes(&mut w, b.as_ref())?;
        }
        let file = w.into_inner().map_err(|e| e.into_error())?;
        self.files.push((file, n));
        Ok(())
    }

    /// How many runs there are.
    pub(super) fn len(&self) -> usize {
        self.files.len()
    }

    /// Merge every run into one, in key order and stably (see [`Runs::merge`]): a
    /// transaction that grows past [`MAX_OPEN_RUNS`] runs keeps few files open and few
    /// read buffers for its final merge.
    pub(super) fn compact<K: Ord>(&mut self, key: impl Fn(&[u8]) -> K) -> io::Result<()> {
        let rows: usize = self.files.iter().map(|(_, n)| n).sum();
        let mut w = BufWriter::with_capacity(1 << 20, tempfile::tempfile()?);
        let mut merge = self.merge(key)?;
        while let Some(b) = merge.next_blob()? {
            put_bytes(&mut w, &b)?;
        }
        drop(merge);
        let file = w.into_inner().map_err(|e| e.into_error())?;
        self.files = vec![(file, rows)];
        Ok(())
    }

    /// Drop every run (rollback).
    pub(super) fn clear(&mut self) {
        self.files.clear();
    }

    /// Merge the runs in key order; rows with equal keys come out in run order (input
    /// order), so the merge is stable. The runs stay: they can be merged again (a server
    /// sink's replay), one merge at a time.
    pub(super) fn merge<K, F>(&self, key: F) -> io::Result<Merge<'_, K, F>>
    where
        K: Ord,
        F: Fn(&[u8]) -> K,
    {
        let mut readers = Vec::new();
        for (f, n) in &self.files {
            let mut f = f;
            f.seek(SeekFrom::Start(0))?;
            readers.push((BufReader::with_capacity(MERGE_BUFFER, f), *n));
        }
        let mut m = Merge {
            heads: (0..readers.len()).map(|_| None).collect(),
            readers,
            heap: BinaryHeap::new(),
            key,
        };
        for run in 0..m.readers.len() {
            m.advance(run)?;
        }
        Ok(m)
    }
}

/// An iterator over merged runs.
pub(super) struct Merge<'a, K, F> {
    readers: Vec<(BufReader<&'a File>, usize)>,
    heads: Vec<Option<Vec<u8>>>,
    /// (key of the run's head, run): the smallest on top; ties go to the earlier run.
    heap: BinaryHeap<Reverse<(K, usize)>>,
    key: F,
}

impl<K: Ord, F: Fn(&[u8]) -> K> Merge<'_, K, F> {
    /// Read the next row of `run` into its head slot.
    fn advance(&mut self, run: usize) -> io::Result<()> {
        let (r, left) = &mut self.readers[run];
        if *left == 0 {
            return Ok(());
        }
        *left -= 1;
        let blob = get_bytes(r)?;
        self.heap.push(Reverse(((self.key)(&blob), run)));
        self.heads[run] = Some(blob);
        Ok(())
    }

    /// The next encoded row in key order.
    pub(super) fn next_blob(&mut self) -> io::Result<Option<Vec<u8>>> {
        let Some(Reverse((_, run))) = self.heap.pop() else {
            return Ok(None);
        };
        let row = self.heads[run].take();
        self.advance(run)?;
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: i64, tag: &str) -> Row {
        Row {
            pos: Position {
                file: 1,
                record: key as u64,
                line: 7,
                byte: 99,
            },
            values: vec![
                Value::Int(key),
                Value::Text(tag.into()),
                Value::Null,
                Value::Float(0.5),
            ],
            raw: RawRecord::from_parts(b"ab".to_vec(), vec![1, 2], vec![]),
        }
    }

    fn key(blob: &[u8]) -> i64 {
        let mut v = Vec::new();
        blob_values(blob, &mut v).unwrap();
        match v[0] {
            BindVal::Int(k) => k,
            _ => unreachable!("test rows have int keys"),
        }
    }

    #[test]
    fn encoding_round_trips() {
        let r = row(5, "x");
        let blob = encode_row(&r);
        let back = decode_row(&blob).unwrap();
        assert_eq!(back.pos, r.pos);
        assert_eq!(back.values, r.values);
        assert_eq!(back.raw, r.raw);
        let mut v = Vec::new();
        blob_values(&blob, &mut v).unwrap();
        assert_eq!(
            v,
            [
                BindVal::Int(5),
                BindVal::Text(b"x"),
                BindVal::Null,
                BindVal::Float(0.5)
            ]
        );
        assert!(
            blob_values(&blob[..30], &mut Vec::new()).is_err(),
            "truncated"
        );
    }

    #[test]
    fn runs_merge_in_key_order_and_stably() {
        let mut runs = Runs::default();
        let enc = |rows: Vec<Row>| rows.iter().map(encode_row).collect::<Vec<_>>();
        for run in [
            enc(vec![row(1, "a"), row(4, "a"), row(9, "a")]),
            enc(vec![row(2, "b"), row(4, "b")]),
            enc(vec![]),
            enc(vec![row(0, "c"), row(4, "c"), row(10, "c")]),
        ] {
            runs.spill(run.iter().map(Vec::as_slice)).unwrap();
        }
        let mut m = runs.merge(key).unwrap();
        let mut got = Vec::new();
        while let Some(b) = m.next_blob().unwrap() {
            let r = decode_row(&b).unwrap();
            let Value::Text(t) = &r.values[1] else {
                panic!()
            };
            got.push(format!("{}{t}", key(&b)));
            assert_eq!(r.pos.line, 7);
            assert_eq!(r.raw.get(1), Some(&b"b"[..]));
        }
        assert_eq!(got, ["0c", "1a", "2b", "4a", "4b", "4c", "9a", "10c"]);
        // The runs stay: a second merge gives the same rows again.
        let mut m = runs.merge(key).unwrap();
        let mut n = 0;
        while m.next_blob().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 8);
    }

    #[test]
    fn keyed_rows_round_trip_and_sort_by_their_keys() {
        let pos = row(3, "").pos;
        let raw = RawRecord::from_parts(b"xyz".to_vec(), vec![1, 3], vec![]);
        let keys = [Value::Int(-4), Value::Text("2020-01-02".into())];
        let blob = encode_keyed(&pos, &keys, &raw, b"line\tbytes\n");
        let (back, payload) = decode_keyed(&blob).unwrap();
        assert_eq!(
            (back.pos, &back.values[..], &back.raw),
            (pos, &keys[..], &raw)
        );
        assert_eq!(payload, b"line\tbytes\n");
        assert_eq!(keyed_payload(&blob).unwrap(), b"line\tbytes\n");
        assert!(keyed_payload(&blob[..blob.len() - 1]).is_err(), "truncated");
        assert_eq!(blob_key(&[0], &blob), SortKey::Int(-4));
        assert_eq!(
            blob_key(&[0, 1], &blob),
            SortKey::Parts(vec![
                KeyPart::Int(-4),
                KeyPart::Text(b"2020-01-02".to_vec())
            ])
        );
        assert!(decode_keyed(&blob[..blob.len() - 1]).is_err(), "truncated");
    }
}
