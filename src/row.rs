//! Rows and values: the data that flows between stages.
//!
//! A [`Row`] is a vector of typed [`Value`]s plus the [`Position`] of the record it came
//! from. The position travels with the row through every stage so that errors, the
//! reject file and checkpoints can always say *which* input record they are about.

use std::fmt;

pub use crate::value::Value;

/// A batch's rows as a sink's encoder prepared them: a value of the sink's own type,
/// which only that sink reads back.
pub struct Encoded(pub Box<dyn std::any::Any + Send>);

impl Encoded {
    /// `value`, to be read back as a `T` by [`Encoded::take`].
    pub fn new<T: Send + 'static>(value: T) -> Self {
        Encoded(Box::new(value))
    }

    /// The `T` inside, if it is one.
    pub fn take<T: 'static>(self) -> Option<T> {
        self.0.downcast::<T>().ok().map(|b| *b)
    }
}

impl fmt::Debug for Encoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Encoded(..)")
    }
}

/// Where a record starts in its input.
///
/// `line` is the physical line where the record starts (1-based; the header, when there
/// is one, is line 1), `record` is the 1-based number of the data record within its file
/// (the header is not counted) and `byte` the offset of its first byte in the
/// (decompressed) stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Index of the input file in the source's file list.
    pub file: u32,
    /// 1-based data record number within the file.
    pub record: u64,
    /// 1-based physical line where the record starts.
    pub line: u64,
    /// Byte offset of the record's first byte.
    pub byte: u64,
}

/// One record as the CSV reader produced it: unescaped field bytes, not yet checked for
/// UTF-8 nor typed. Fields are stored back to back with their end offsets (the layout of
/// `csv::ByteRecord`), plus which empty fields were written quoted (`""`): those are
/// empty strings, while unquoted empty fields are NULL.
///
/// The end offsets and the bytes share one allocation (`words`: the `n` ends, then the
/// bytes packed four to a word): a record costs one allocation, not two, which counts at
/// millions of records.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RawRecord {
    words: Vec<u32>,
    n: u32,
    nbytes: u32,
    quoted_empty: Vec<u32>,
}

impl fmt::Debug for RawRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRecord")
            .field("buf", &String::from_utf8_lossy(self.bytes()))
            .field("ends", &self.ends())
            .field("quoted_empty", &self.quoted_empty)
            .finish()
    }
}

impl RawRecord {
    /// Build from each field's bytes (`None`: an empty field), copied once.
    pub fn from_pieces(pieces: &[Option<&[u8]>], quoted_empty: Vec<u32>) -> Self {
        let n = pieces.len();
        let nbytes: usize = pieces.iter().flatten().map(|p| p.len()).sum();
        let mut words = Vec::with_capacity(n + nbytes.div_ceil(4));
        let mut end = 0usize;
        words.extend(pieces.iter().map(|p| {
            end += p.map_or(0, <[u8]>::len);
            end as u32
        }));
        words.resize(n + nbytes.div_ceil(4), 0);
        let mut at = 0usize;
        for p in pieces.iter().flatten() {
            // SAFETY: `words` holds `ceil(nbytes / 4)` initialised words after the `n`
            // ends, room for the `nbytes` bytes of the pieces, written one after another
            // from `at`; the pieces are not in `words`.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    p.as_ptr(),
                    words.as_mut_ptr().add(n).cast::<u8>().add(at),
                    p.len(),
                );
            }
            at += p.len();
        }
        RawRecord {
            words,
            n: n as u32,
            nbytes: nbytes as u32,
            quoted_empty,
        }
    }

    /// Build from parts; `ends[i]` is the end of field `i` in `buf`.
    pub fn from_parts(buf: Vec<u8>, ends: Vec<u32>, quoted_empty: Vec<u32>) -> Self {
        Self::from_slices(&buf, ends.iter().map(|&e| e as usize), quoted_empty)
    }

    /// Build from the field bytes and the end offsets of the fields in them.
    pub fn from_slices(
        buf: &[u8],
        ends: impl ExactSizeIterator<Item = usize>,
        quoted_empty: Vec<u32>,
    ) -> Self {
        let n = ends.len();
        let len = n + buf.len().div_ceil(4);
        let mut words = Vec::with_capacity(len);
        words.extend(ends.map(|e| e.min(buf.len()) as u32));
        words.resize(len, 0);
        // SAFETY: `words` holds `ceil(buf.len() / 4)` initialised words after the `n`
        // ends, room for `buf.len()` bytes; the two buffers are distinct.
        unsafe {
            std::ptr::copy_nonoverlapping(
                buf.as_ptr(),
                words.as_mut_ptr().add(n).cast::<u8>(),
                buf.len(),
            );
        }
        RawRecord {
            words,
            n: n as u32,
            nbytes: buf.len() as u32,
            quoted_empty,
        }
    }

    /// Build from field values (none of them quoted-empty).
    pub fn from_fields<I, F>(fields: I) -> Self
    where
        I: IntoIterator<Item = F>,
        F: AsRef<[u8]>,
    {
        let mut buf = Vec::new();
        let mut ends = Vec::new();
        for f in fields {
            buf.extend_from_slice(f.as_ref());
            ends.push(buf.len());
        }
        Self::from_slices(&buf, ends.into_iter(), Vec::new())
    }

    fn ends(&self) -> &[u32] {
        &self.words[..self.n as usize]
    }

    /// Every field's bytes, back to back.
    fn bytes(&self) -> &[u8] {
        let tail = &self.words[self.n as usize..];
        // SAFETY: the words after the ends hold `nbytes` bytes (built by
        // `from_slices`, which allocates `ceil(nbytes / 4)` of them); every `u32` is
        // initialised, and `u8` has no alignment requirement.
        unsafe { std::slice::from_raw_parts(tail.as_ptr().cast::<u8>(), self.nbytes as usize) }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.n as usize
    }

    /// True when the record has no fields.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Field `i` as bytes.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len() {
            return None;
        }
        self.bytes().get(self.range(i))
    }

    /// The byte range of field `i` in the record's buffer (empty past the last field).
    pub fn range(&self, i: usize) -> std::ops::Range<usize> {
        let ends = self.ends();
        let Some(&end) = ends.get(i) else {
            return 0..0;
        };
        let start = if i == 0 { 0 } else { ends[i - 1] as usize };
        start..end as usize
    }

    /// The whole buffer (every field, back to back) as text, when it is valid UTF-8.
    /// A field is then valid UTF-8 too if its range falls on character boundaries
    /// (`str::get` checks that).
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.bytes()).ok()
    }

    /// Iterate over the fields.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// True when field `i` is empty and was written as `""`.
    pub fn is_quoted_empty(&self, i: usize) -> bool {
        self.quoted_empty.contains(&(i as u32))
    }

    /// The three parts (`buf`, `ends`, `quoted_empty`), for serialization.
    pub fn parts(&self) -> (&[u8], &[u32], &[u32]) {
        (self.bytes(), self.ends(), &self.quoted_empty)
    }

    /// Bytes held (for memory accounting).
    pub fn heap_size(&self) -> usize {
        4 * self.words.capacity() + 4 * self.quoted_empty.capacity()
    }
}

/// A row in flight: its values (in the order of the stage's schema), where it came from,
/// and the original CSV fields (kept for the reject file).
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// Where the record starts in the input.
    pub pos: Position,
    /// Values, one per column of the current schema.
    pub values: Vec<Value>,
    /// The original fields as read, for the reject file.
    pub raw: RawRecord,
}

/// A row that did not make it, with the reason. It is written to the reject file with
/// its original fields, its line and the reason.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// Where the record starts in the input.
    pub pos: Position,
    /// The original fields as read.
    pub raw: RawRecord,
    /// The reason, naming the stage and the column.
    pub reason: String,
}

/// The unit that crosses stage boundaries: a run of consecutive input records.
///
/// Every record of the range is accounted for exactly once: in `rows` (still flowing),
/// in `rejected`, or in `filtered` (dropped by the user's filter).
#[derive(Debug, Default)]
pub struct Batch {
    /// Sequence number, from 0, in input order.
    pub seq: u64,
    /// Rows still flowing.
    pub rows: Vec<Row>,
    /// Rows that failed somewhere upstream.
    pub rejected: Vec<Rejected>,
    /// Number of rows dropped by filters (not errors).
    pub filtered: u64,
    /// Number of input records this batch covers (rows + rejected + filtered).
    pub records: u64,
    /// Input bytes this batch covers (for progress).
    pub bytes: u64,
    /// Position of the first record of this batch.
    pub first: Position,
    /// Position just past the last record of this batch: where a resumed run would
    /// start (`record` is the last record's number).
    pub end: Position,
    /// The sink's own encoding of `rows`, made by its encoder on a worker thread (the
    /// last CPU step): what it holds is the sink's business.
    pub encoded: Option<Encoded>,
}

/// Encoded rows back to back in one buffer: a batch of them costs two allocations, not
/// one per row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackedRows {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl PackedRows {
    /// Room for `rows` rows of `bytes` bytes in all.
    pub fn with_capacity(rows: usize, bytes: usize) -> Self {
        PackedRows {
            buf: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(rows),
        }
    }

    /// From separate rows.
    pub fn from_rows<I, R>(rows: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: AsRef<[u8]>,
    {
        let mut p = PackedRows::default();
        for r in rows {
            p.push(r.as_ref());
        }
        p
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Row `i` (panics past the last row, like indexing).
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }

    /// Every row, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Every row's bytes, back to back.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Give back spare room over a quarter of what is used (rows are kept until their
    /// transaction commits, so room reserved for them counts).
    pub fn trim(&mut self) {
        if self.buf.capacity() > self.buf.len() + self.buf.len() / 4 {
            self.buf.shrink_to_fit();
        }
    }

    /// Append a row.
    pub fn push(&mut self, row: &[u8]) {
        self.buf.extend_from_slice(row);
        self.ends.push(self.buf.len());
    }

    /// Append the row that `write` appends to the buffer; when it fails, nothing it
    /// wrote is kept.
    pub fn push_with<E>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let at = self.buf.len();
        match write(&mut self.buf) {
            Ok(()) => {
                self.ends.push(self.buf.len());
                Ok(())
            }
            Err(e) => {
                self.buf.truncate(at);
                Err(e)
            }
        }
    }
}

impl Batch {
    /// Move the rows at these indexes (ascending) to the rejected list.
    pub fn reject_indexes(&mut self, failed: Vec<(usize, String)>) {
        if failed.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut self.rows);
        let mut failed = failed.into_iter().peekable();
        for (n, row) in rows.into_iter().enumerate() {
            match failed.next_if(|(i, _)| *i == n) {
                Some((_, reason)) => self.reject(row, reason),
                None => self.rows.push(row),
            }
        }
    }

    /// Move a row to the rejected list with a reason.
    pub fn reject(&mut self, row: Row, reason: String) {
        self.rejected.push(Rejected {
            pos: row.pos,
            raw: row.raw,
            reason,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, NaiveDate};

    #[test]
    fn packed_rows_keep_rows_and_drop_failed_ones() {
        let mut p = PackedRows::with_capacity(2, 8);
        p.push(b"ab");
        assert_eq!(
            p.push_with(|b| {
                b.extend_from_slice(b"half");
                Err("bad")
            }),
            Err("bad")
        );
        p.push_with(|b| {
            b.push(b'c');
            Ok::<(), ()>(())
        })
        .unwrap();
        p.push(b"");
        assert_eq!(p.len(), 3);
        assert_eq!(p.iter().collect::<Vec<_>>(), [&b"ab"[..], b"c", b""]);
        assert_eq!(p.bytes(), b"abc");
        assert_eq!(PackedRows::from_rows([&b"ab"[..], b"c", b""]), p);
    }

    #[test]
    fn raw_records_keep_their_fields() {
        for fields in [
            vec![],
            vec!["".to_string()],
            vec!["a".into(), "".into(), "bcd".into(), "é李😀".into()],
            vec!["x".repeat(9), "yy".into()],
        ] {
            let r = RawRecord::from_fields(&fields);
            assert_eq!(r.len(), fields.len());
            let got: Vec<&[u8]> = r.iter().collect();
            let want: Vec<&[u8]> = fields.iter().map(|f| f.as_bytes()).collect();
            assert_eq!(got, want);
            assert_eq!(r.get(fields.len()), None);
            let (buf, ends, q) = r.parts();
            assert_eq!(buf, fields.concat().as_bytes());
            assert_eq!(
                RawRecord::from_parts(buf.to_vec(), ends.to_vec(), q.to_vec()),
                r
            );
        }
        let q = RawRecord::from_parts(b"ab".to_vec(), vec![1, 1, 2], vec![1]);
        assert!(q.is_quoted_empty(1) && !q.is_quoted_empty(0));
        assert_eq!(q.get(1), Some(&b""[..]));
        assert_eq!(q.get(2), Some(&b"b"[..]));
    }

    #[test]
    fn display_matches_chrono_rfc3339() {
        for s in [
            "2021-03-04T05:06:07+05:30",
            "2021-03-04T05:06:07.123-08:00",
            "1999-12-31T23:59:59.000001+00:00",
            "2021-03-04T05:06:07.123456789+01:00",
        ] {
            let t = DateTime::parse_from_rfc3339(s).unwrap();
            assert_eq!(Value::Timestamp(t).to_string(), t.to_rfc3339());
        }
        let z = DateTime::parse_from_rfc3339("2021-03-04T05:06:07Z").unwrap();
        assert_eq!(Value::Timestamp(z).to_string(), "2021-03-04T05:06:07+00:00");
        let d = NaiveDate::from_ymd_opt(7, 1, 2).unwrap();
        assert_eq!(Value::Date(d).to_string(), "0007-01-02");
    }
}
