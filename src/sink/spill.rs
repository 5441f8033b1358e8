//! Sorted runs spilled to anonymous temporary files, merged back in key order.
//!
//! A keyed SQLite table loads several times faster when rows arrive in key order (the
//! B-tree is filled left to right, touching each page once) than in input order (every
//! insert lands on a random page). The sink sorts what it holds into runs, writes each
//! run to a temporary file, and at commit merges the runs, so memory stays bounded by
//! one run whatever the transaction size. The files are unlinked at creation and
//! vanish with their handles.

use std::cmp::Ordering;
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
    put_u32(w, row.pos.file)?;
    put_u64(w, row.pos.record)?;
    put_u64(w, row.pos.line)?;
    put_u64(w, row.pos.byte)?;
    put_u32(w, row.values.len() as u32)?;
    for v in &row.values {
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
    let (buf, ends, quoted) = row.raw.parts();
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

    /// Write one sorted run to a new anonymous temporary file.
    pub(super) fn spill(&mut self, rows: &[Row]) -> io::Result<()> {
        let file = tempfile::tempfile()?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        for r in rows {
            write_row(&mut w, r)?;
        }
        let file = w.into_inner().map_err(|e| e.into_error())?;
        self.files.push((file, rows.len()));
        Ok(())
    }

    /// Drop every run (rollback).
    pub(super) fn clear(&mut self) {
        self.files.clear();
    }

    /// Merge the runs in key order; rows with equal keys come out in run order (input
    /// order), so the merge is stable.
    pub(super) fn merge<F>(&mut self, cmp: F) -> io::Result<Merge<F>>
    where
        F: Fn(&Row, &Row) -> Ordering,
    {
        let mut readers = Vec::new();
        for (mut f, n) in self.files.drain(..) {
            f.seek(SeekFrom::Start(0))?;
            readers.push((BufReader::with_capacity(256 * 1024, f), n));
        }
        let mut heads = Vec::with_capacity(readers.len());
        for (r, n) in readers.iter_mut() {
            heads.push(if *n > 0 {
                *n -= 1;
                Some(read_row(r)?)
            } else {
                None
            });
        }
        Ok(Merge {
            readers,
            heads,
            cmp,
        })
    }
}

/// An iterator over merged runs.
pub(super) struct Merge<F> {
    readers: Vec<(BufReader<File>, usize)>,
    heads: Vec<Option<Row>>,
    cmp: F,
}

impl<F: Fn(&Row, &Row) -> Ordering> Merge<F> {
    /// The next row in key order.
    pub(super) fn next_row(&mut self) -> io::Result<Option<Row>> {
        // Few runs (a transaction's worth): a linear scan beats a heap's bookkeeping.
        let mut best: Option<usize> = None;
        for (i, h) in self.heads.iter().enumerate() {
            if let Some(row) = h {
                let better = match best.and_then(|b| self.heads[b].as_ref()) {
                    None => true,
                    Some(cur) => (self.cmp)(row, cur) == Ordering::Less,
                };
                if better {
                    best = Some(i);
                }
            }
        }
        let Some(i) = best else {
            return Ok(None);
        };
        let (r, left) = &mut self.readers[i];
        let next = if *left > 0 {
            *left -= 1;
            Some(read_row(r)?)
        } else {
            None
        };
        Ok(std::mem::replace(&mut self.heads[i], next))
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

    #[test]
    fn runs_merge_in_key_order_and_stably() {
        let mut runs = Runs::default();
        runs.spill(&[row(1, "a"), row(4, "a"), row(9, "a")])
            .unwrap();
        runs.spill(&[row(2, "b"), row(4, "b")]).unwrap();
        runs.spill(&[]).unwrap();
        runs.spill(&[row(0, "c"), row(4, "c"), row(10, "c")])
            .unwrap();
        let key = |r: &Row| match r.values[0] {
            Value::Int(k) => k,
            _ => unreachable!("test rows have int keys"),
        };
        let mut m = runs.merge(|a, b| key(a).cmp(&key(b))).unwrap();
        let mut got = Vec::new();
        while let Some(r) = m.next_row().unwrap() {
            let Value::Text(t) = &r.values[1] else {
                panic!()
            };
            got.push(format!("{}{t}", key(&r)));
            assert_eq!(r.pos.line, 7);
            assert_eq!(r.raw.get(1), Some(&b"b"[..]));
            assert_eq!(r.values[3], Value::Float(0.5));
        }
        assert_eq!(got, ["0c", "1a", "2b", "4a", "4b", "4c", "9a", "10c"]);
    }
}
