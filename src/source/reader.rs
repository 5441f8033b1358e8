//! The record reader: `csv_core` driven over our own buffer, so that each record comes
//! with its exact start line and byte offset, and with which empty fields were quoted
//! (`""` is an empty string, an unquoted empty field is NULL).

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use csv_core::{ReadRecordResult, Reader as CoreReader, ReaderBuilder as CoreBuilder};

use crate::row::RawRecord;

/// The CSV dialect, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// Field delimiter.
    pub delimiter: u8,
    /// Quote character.
    pub quote: u8,
    /// Escape character inside quotes, if any (otherwise quotes are doubled).
    pub escape: Option<u8>,
    /// Comment character at the start of a line, if any.
    pub comment: Option<u8>,
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect {
            delimiter: b',',
            quote: b'"',
            escape: None,
            comment: None,
        }
    }
}

impl Dialect {
    fn core(&self) -> CoreReader {
        CoreBuilder::new()
            .delimiter(self.delimiter)
            .quote(self.quote)
            .escape(self.escape)
            .double_quote(true)
            .comment(self.comment)
            .build()
    }
}

/// Where a record starts: physical line (1-based) and byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordStart {
    /// 1-based physical line.
    pub line: u64,
    /// Byte offset in the (decompressed) stream.
    pub byte: u64,
}

/// A record as read: where it starts, its fields, and why it is not a record that can
/// be loaded, when it is not (larger than the limit, or a quoted field never closed
/// before the end of the input). Such a record still comes back, with its fields cut
/// short, so that it is rejected with its line rather than lost.
#[derive(Debug, Clone)]
pub struct ReadRecord {
    /// Where it starts.
    pub start: RecordStart,
    /// Its fields (cut to their first bytes when `problem` is set).
    pub raw: RawRecord,
    /// Why it cannot be loaded.
    pub problem: Option<String>,
}

const INITIAL_BUF: usize = 256 * 1024;

/// Bytes of each field kept of a record that cannot be loaded (for the reject file).
const KEPT_FIELD_BYTES: usize = 256;
/// Fields kept of such a record.
const KEPT_FIELDS: usize = 64;

/// The default largest record: larger ones are row errors.
pub const DEFAULT_MAX_RECORD: usize = 64 << 20;

/// The error a reader returns when its stop flag is set while it reads.
#[derive(Debug)]
pub struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reading stopped")
    }
}

impl std::error::Error for Stopped {}

/// Whether an I/O error is a reader's [`Stopped`].
pub fn is_stopped(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<Stopped>())
}

/// The error a reader returns for a record over the limit when it must not skip it (a
/// header).
#[derive(Debug)]
pub struct TooLarge(pub usize);

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "longer than {} bytes", self.0)
    }
}

impl std::error::Error for TooLarge {}

/// Where a record's bytes leave the parser, fed as they come: csv_core's states for
/// fields and quotes (a quote opens a quoted field only at the start of a field; within
/// one, a quote ends it unless doubled, and an escape takes the next byte).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Quotes {
    /// At the start of a field.
    #[default]
    FieldStart,
    /// In an unquoted field (a quote here is a literal byte).
    Field,
    /// In a quoted field.
    Quoted,
    /// After an escape in a quoted field.
    Escaped,
    /// After a quote in a quoted field: it closed the field unless another follows.
    AfterQuote,
}

impl Quotes {
    fn feed(&mut self, bytes: &[u8], d: &Dialect) {
        let ends = |b: u8| b == d.delimiter || b == b'\n' || b == b'\r';
        for &b in bytes {
            *self = match *self {
                Quotes::FieldStart if b == d.quote => Quotes::Quoted,
                Quotes::FieldStart | Quotes::Field | Quotes::AfterQuote if ends(b) => {
                    Quotes::FieldStart
                }
                Quotes::FieldStart | Quotes::Field => Quotes::Field,
                Quotes::Quoted if b == d.quote => Quotes::AfterQuote,
                Quotes::Quoted if Some(b) == d.escape => Quotes::Escaped,
                Quotes::Quoted | Quotes::Escaped => Quotes::Quoted,
                Quotes::AfterQuote if b == d.quote => Quotes::Quoted,
                Quotes::AfterQuote => Quotes::Field,
            };
        }
    }

    /// Still inside a quoted field at the end of the input.
    fn unterminated(&self) -> bool {
        matches!(self, Quotes::Quoted | Quotes::Escaped)
    }
}

/// Reads records one at a time from any `Read`.
pub struct RecordReader<R> {
    rdr: R,
    core: CoreReader,
    dialect: Dialect,
    buf: Vec<u8>,
    /// Unconsumed input is `buf[pos..len]`.
    pos: usize,
    len: usize,
    /// Stream offset of `buf[0]`.
    buf_offset: u64,
    eof: bool,
    started: bool,
    out: Vec<u8>,
    ends: Vec<usize>,
    /// Records larger than this (in bytes of input, of fields, or fields times 8) are
    /// not kept: see [`ReadRecord::problem`].
    max_record: usize,
    /// Skip over a record larger than `max_record` (the default) rather than fail.
    skip_oversized: bool,
    /// Checked at every refill: set, the reader stops with [`Stopped`].
    stop: Option<Arc<AtomicBool>>,
}

impl<R: Read> RecordReader<R> {
    /// A reader over `rdr` with `dialect`.
    pub fn new(rdr: R, dialect: Dialect) -> Self {
        RecordReader {
            rdr,
            core: dialect.core(),
            dialect,
            buf: vec![0; INITIAL_BUF],
            pos: 0,
            len: 0,
            buf_offset: 0,
            eof: false,
            started: false,
            out: vec![0; 4096],
            ends: vec![0; 64],
            max_record: DEFAULT_MAX_RECORD,
            skip_oversized: true,
            stop: None,
        }
    }

    /// A reader over `rdr` that continues a stream at `byte` (the offset `rdr` starts
    /// at), where the line counter stood at `line`: what [`RecordReader::next_position`]
    /// said after the last record read before. It reads the same records, with the same
    /// positions, as the first reader would have from there.
    pub fn resume(rdr: R, dialect: Dialect, line: u64, byte: u64) -> Self {
        let mut r = RecordReader::new(rdr, dialect);
        r.started = true;
        r.buf_offset = byte;
        r.core.set_line(line);
        r
    }

    /// Records larger than `max` bytes come back with a problem (or, with `skip` false,
    /// fail with [`TooLarge`]) instead of growing the buffers further.
    pub fn set_max_record(&mut self, max: usize, skip: bool) {
        self.max_record = max.max(1);
        self.skip_oversized = skip;
    }

    /// Stop reading (with [`Stopped`]) once `stop` is set, within a buffer's worth of
    /// input.
    pub fn set_stop(&mut self, stop: Arc<AtomicBool>) {
        self.stop = Some(stop);
    }

    /// Before the first record is read: the input's first bytes (at most `n`), read
    /// without consuming them, and whether they are all of it. A read that gives less
    /// than asked once two lines are in ends the look (a pipe gives what it has: a
    /// stream that is still being written is not waited for).
    pub fn peek_head(&mut self, n: usize) -> io::Result<(&[u8], bool)> {
        debug_assert!(!self.started, "peek_head after reading began");
        let n = n.min(self.buf.len() - 1);
        while self.len <= n && !self.eof {
            if self
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
            {
                return Err(io::Error::other(Stopped));
            }
            let want = self.buf.len() - self.len;
            match self.rdr.read(&mut self.buf[self.len..]) {
                Ok(0) => self.eof = true,
                Ok(got) => {
                    self.len += got;
                    let lines = self.buf[..self.len]
                        .iter()
                        .filter(|b| **b == b'\n')
                        .take(2)
                        .count();
                    if got < want && lines >= 2 {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let complete = self.eof && self.len <= n;
        Ok((&self.buf[..self.len.min(n)], complete))
    }

    /// Read with `dialect` instead: only before the first record is read.
    pub fn set_dialect(&mut self, dialect: Dialect) {
        debug_assert!(!self.started, "set_dialect after reading began");
        self.core = dialect.core();
        self.dialect = dialect;
    }

    /// Bytes consumed so far (stream offset of the next unread byte).
    pub fn offset(&self) -> u64 {
        self.buf_offset + self.pos as u64
    }

    /// Where reading would continue: the line counter and the byte offset.
    pub fn next_position(&self) -> (u64, u64) {
        (self.core.line(), self.offset())
    }

    /// Move `buf[keep_from..len]` to the front and read more input.
    fn refill(&mut self, keep_from: usize) -> io::Result<usize> {
        if self
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
        {
            return Err(io::Error::other(Stopped));
        }
        if keep_from > 0 {
            self.buf.copy_within(keep_from..self.len, 0);
            self.buf_offset += keep_from as u64;
            self.pos -= keep_from;
            self.len -= keep_from;
        }
        if self.len == self.buf.len() {
            // A record longer than the buffer: grow, up to just past `max_record` (a
            // record that needs more is over the limit and is skipped, not kept).
            grow(
                &mut self.buf,
                self.max_record.max(INITIAL_BUF) + INITIAL_BUF,
            );
        }
        loop {
            match self.rdr.read(&mut self.buf[self.len..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.len += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Read the next record, or `None` at the end of input.
    pub fn read(&mut self) -> io::Result<Option<ReadRecord>> {
        if !self.started {
            self.started = true;
            // What `peek_head` read is there already: reading more would wait on a
            // stream.
            if self.len == 0 {
                self.refill(0)?;
            }
            if self.buf[..self.len].starts_with(b"\xef\xbb\xbf") {
                self.pos = 3;
            }
        }
        let mut rec_start = self.pos;
        let line_before = self.core.line();
        let (mut nout, mut nend) = (0usize, 0usize);
        // Set once the record is over the limit: what is kept of it, where it starts,
        // its size so far and its quotes.
        let mut over: Option<(RawRecord, RecordStart, u64, Quotes)> = None;
        let ended_at_eof;
        loop {
            if self.pos == self.len && !self.eof {
                // An empty input means "end of data" to csv_core: never give it one early.
                // Past the limit nothing of the record is kept.
                let keep = if over.is_some() { self.pos } else { rec_start };
                self.refill(keep)?;
                rec_start = 0;
                continue;
            }
            let input = &self.buf[self.pos..self.len];
            let input_was_empty = input.is_empty();
            let (res, nin, o, e) =
                self.core
                    .read_record(input, &mut self.out[nout..], &mut self.ends[nend..]);
            if let Some((_, _, size, quotes)) = over.as_mut() {
                quotes.feed(&self.buf[self.pos..self.pos + nin], &self.dialect);
                *size += nin as u64;
            }
            self.pos += nin;
            nout += o;
            nend += e;
            match res {
                ReadRecordResult::InputEmpty => {
                    if self.eof && input_was_empty {
                        // csv_core ends on an empty input; it never asks twice.
                        return Ok(None);
                    }
                    // Loop: refill, or give csv_core the empty input that ends the data.
                }
                ReadRecordResult::OutputFull => {
                    if over.is_some() {
                        nout = 0;
                    } else {
                        // Up to just past the limit, which the check below then sees.
                        grow(&mut self.out, self.max_record + 4096);
                    }
                }
                ReadRecordResult::OutputEndsFull => {
                    if over.is_some() {
                        nend = 0;
                    } else {
                        let n = (self.ends.len() * 2).min(self.max_record / 8 + 64);
                        self.ends.resize(n.max(self.ends.len() + 1), 0);
                    }
                }
                ReadRecordResult::Record => {
                    ended_at_eof = self.eof && input_was_empty;
                    break;
                }
                ReadRecordResult::End => return Ok(None),
            }
            if over.is_none()
                && (self.pos - rec_start > self.max_record
                    || nout > self.max_record
                    || nend > self.max_record / 8)
            {
                if !self.skip_oversized {
                    return Err(io::Error::other(TooLarge(self.max_record)));
                }
                let raw = &self.buf[rec_start..self.pos];
                let (skip, skipped_lines) = skip_prefix(raw, self.dialect.comment);
                let start = RecordStart {
                    line: line_before + skipped_lines,
                    byte: self.buf_offset + (rec_start + skip) as u64,
                };
                let mut quotes = Quotes::default();
                quotes.feed(&raw[skip..], &self.dialect);
                let kept = cut_fields(&self.out[..nout], &self.ends[..nend]);
                over = Some((kept, start, (self.pos - rec_start - skip) as u64, quotes));
                nout = 0;
                nend = 0;
            }
        }
        if let Some((kept, start, size, quotes)) = over {
            return Ok(Some(self.oversized(
                kept,
                start,
                size,
                &quotes,
                ended_at_eof,
            )));
        }
        Ok(Some(self.record(
            rec_start,
            line_before,
            nout,
            nend,
            ended_at_eof,
        )))
    }

    /// The record over the limit, with its fields cut, once its end is found; the
    /// buffers it grew are given back.
    #[cold]
    fn oversized(
        &mut self,
        kept: RawRecord,
        start: RecordStart,
        size: u64,
        quotes: &Quotes,
        ended_at_eof: bool,
    ) -> ReadRecord {
        // Give back the memory the record took.
        self.out = vec![0; 4096];
        self.ends = vec![0; 64];
        if self.buf.len() > INITIAL_BUF && self.len - self.pos <= INITIAL_BUF {
            let mut small = vec![0; INITIAL_BUF];
            small[..self.len - self.pos].copy_from_slice(&self.buf[self.pos..self.len]);
            self.buf_offset += self.pos as u64;
            self.len -= self.pos;
            self.pos = 0;
            self.buf = small;
        }
        let open = if ended_at_eof && quotes.unterminated() {
            ", and a quoted field in it is never closed before the end of the input"
        } else {
            ""
        };
        ReadRecord {
            start,
            raw: kept,
            problem: Some(format!(
                "the record is larger than source.max_record_bytes = {} ({size} bytes{open}); \
                 it is in the reject file with each field cut to its first {KEPT_FIELD_BYTES} bytes",
                self.max_record
            )),
        }
    }

    /// The record just read (`nout` bytes of fields, `nend` field ends), with its start
    /// and, when the input ended inside a quoted field, the problem.
    #[inline]
    fn record(
        &self,
        rec_start: usize,
        line_before: u64,
        nout: usize,
        nend: usize,
        ended_at_eof: bool,
    ) -> ReadRecord {
        let raw = &self.buf[rec_start..self.pos];
        let (skip, skipped_lines) = skip_prefix(raw, self.dialect.comment);
        let start = RecordStart {
            line: line_before + skipped_lines,
            byte: self.buf_offset + (rec_start + skip) as u64,
        };
        let problem = if ended_at_eof {
            let mut q = Quotes::default();
            q.feed(&raw[skip..], &self.dialect);
            q.unterminated().then(|| {
                let lines = raw[skip..].iter().filter(|&&b| b == b'\n').count();
                format!(
                    "a quoted field in this record is never closed: it runs to the end of the input \
                     ({} bytes, {lines} line ends), so the lines after it were not read as records",
                    raw.len() - skip
                )
            })
        } else {
            None
        };
        let ends = &self.ends[..nend];
        if problem.is_some() {
            let kept = cut_fields(&self.out[..nout], ends);
            return ReadRecord {
                start,
                raw: kept,
                problem,
            };
        }
        let mut quoted_empty = Vec::new();
        let mut prev = 0usize;
        let mut has_empty = false;
        for &e in ends {
            if e == prev {
                has_empty = true;
                break;
            }
            prev = e;
        }
        if has_empty {
            quoted_empty = find_quoted_empties(&raw[skip..], ends, &self.dialect);
        }
        let record = RawRecord::from_slices(&self.out[..nout], ends.iter().copied(), quoted_empty);
        ReadRecord {
            start,
            raw: record,
            problem: None,
        }
    }
}

/// Past this size a buffer grows straight to its largest size instead of doubling: the
/// allocator keeps what a buffer outgrows, so doubling up to 64 MiB would hold about as
/// much again in freed blocks.
const DOUBLE_UP_TO: usize = 4 << 20;

/// Grow `v` (full) for more bytes: twice its size while small, then straight to `max`,
/// always with room for at least one more byte. The new memory comes zeroed from a fresh
/// allocation (pages the system gives zeroed are not touched until used).
fn grow(v: &mut Vec<u8>, max: usize) {
    let want = if v.len() < DOUBLE_UP_TO {
        (v.len() * 2).min(max)
    } else {
        max
    }
    .max(v.len() + 1);
    let mut bigger = vec![0u8; want];
    bigger[..v.len()].copy_from_slice(v);
    *v = bigger;
}

/// The fields parsed so far (`ends` within `out`, then the one being parsed), each cut to
/// its first bytes, at most [`KEPT_FIELDS`] of them.
fn cut_fields(out: &[u8], ends: &[usize]) -> RawRecord {
    let mut fields: Vec<&[u8]> = Vec::new();
    let mut prev = 0;
    for &e in ends.iter().chain(std::iter::once(&out.len())) {
        let e = e.min(out.len());
        if fields.len() == KEPT_FIELDS || e < prev {
            break;
        }
        let f = &out[prev..e];
        let mut cut = f.len().min(KEPT_FIELD_BYTES);
        // Whole UTF-8 characters.
        while cut < f.len() && cut > 0 && (f[cut] & 0xC0) == 0x80 {
            cut -= 1;
        }
        fields.push(&f[..cut]);
        prev = e;
    }
    if ends.last() == Some(&out.len()) {
        fields.pop();
    }
    RawRecord::from_fields(fields)
}

/// Blank lines and comment lines before a record are skipped by the parser; find where
/// the record really starts and how many lines were skipped.
fn skip_prefix(raw: &[u8], comment: Option<u8>) -> (usize, u64) {
    let mut i = 0;
    let mut lines = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'\n' {
            lines += 1;
            i += 1;
        } else if b == b'\r' {
            i += 1;
        } else if Some(b) == comment {
            match raw[i..].iter().position(|&c| c == b'\n') {
                Some(n) => {
                    i += n + 1;
                    lines += 1;
                }
                None => i = raw.len(),
            }
        } else {
            break;
        }
    }
    (i, lines)
}

/// For a record's raw bytes, the indexes of empty fields that were written quoted.
fn find_quoted_empties(raw: &[u8], ends: &[usize], d: &Dialect) -> Vec<u32> {
    let mut out = Vec::new();
    let mut field = 0usize;
    let mut field_start = true;
    let mut in_quotes = false;
    let mut i = 0;
    let is_empty = |k: usize| {
        let end = ends.get(k).copied();
        let start = if k == 0 {
            Some(0)
        } else {
            ends.get(k - 1).copied()
        };
        matches!((start, end), (Some(s), Some(e)) if s == e)
    };
    while i < raw.len() {
        let b = raw[i];
        if in_quotes {
            if Some(b) == d.escape {
                i += 2;
                continue;
            }
            if b == d.quote {
                if raw.get(i + 1) == Some(&d.quote) {
                    i += 2;
                    continue;
                }
                in_quotes = false;
            }
            i += 1;
            continue;
        }
        if field_start && b == d.quote {
            if is_empty(field) {
                out.push(field as u32);
            }
            in_quotes = true;
            field_start = false;
        } else if b == d.delimiter {
            field += 1;
            field_start = true;
        } else if b == b'\n' || b == b'\r' {
            break;
        } else {
            // A quote within an unquoted field is a literal byte (as in csv_core).
            field_start = false;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &[u8], d: Dialect) -> Vec<(RecordStart, Vec<String>, Vec<u32>)> {
        let mut r = RecordReader::new(data, d);
        let mut v = Vec::new();
        while let Some(ReadRecord {
            start: s, raw: rec, ..
        }) = r.read().unwrap()
        {
            let fields = rec
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            let q = (0..rec.len())
                .filter(|&i| rec.is_quoted_empty(i))
                .map(|i| i as u32)
                .collect();
            v.push((s, fields, q));
        }
        v
    }

    #[test]
    fn positions_quotes_and_newlines() {
        let data = b"\xef\xbb\xbfa,b\r\n1,\"x\r\ny\"\r\n\r\n2,\"\"\r\n3,\n";
        let recs = read_all(data, Dialect::default());
        assert_eq!(recs.len(), 4);
        assert_eq!(recs[0].1, ["a", "b"]);
        assert_eq!(recs[0].0, RecordStart { line: 1, byte: 3 });
        assert_eq!(recs[1].1, ["1", "x\r\ny"]);
        assert_eq!(recs[1].0.line, 2);
        assert_eq!(recs[1].0.byte, 8);
        assert_eq!(recs[2].1, ["2", ""]);
        assert_eq!(recs[2].0.line, 5, "blank line 4 skipped");
        assert_eq!(recs[2].2, [1], "quoted empty");
        assert_eq!(recs[3].1, ["3", ""]);
        assert!(recs[3].2.is_empty(), "unquoted empty is NULL");
        assert_eq!(recs[3].0.line, 6);
    }

    #[test]
    fn comments_and_tabs() {
        let d = Dialect {
            delimiter: b'\t',
            comment: Some(b'#'),
            ..Dialect::default()
        };
        let recs = read_all(b"#c1\nx\ty\n# c2\n1\t\"a\tb\"\n", d);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].0.line, 2);
        assert_eq!(recs[1].0.line, 4);
        assert_eq!(recs[1].1, ["1", "a\tb"]);
    }

    #[test]
    fn escape_char() {
        let d = Dialect {
            escape: Some(b'\\'),
            ..Dialect::default()
        };
        let recs = read_all(b"\"a\\\"b\",\"\"\n", d);
        assert_eq!(recs[0].1, ["a\"b", ""]);
        assert_eq!(recs[0].2, [1]);
    }

    #[test]
    fn huge_field_grows_buffers() {
        let big = "z".repeat(3 * INITIAL_BUF);
        let data = format!("h\n\"{big}\"\nnext\n");
        let recs = read_all(data.as_bytes(), Dialect::default());
        assert_eq!(recs[1].1[0].len(), big.len());
        assert_eq!(recs[2].1, ["next"]);
        assert_eq!(recs[2].0.line, 3);
    }

    /// A reader that returns one byte at a time exercises every refill path.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn byte_at_a_time_input_gives_same_records() {
        let data = b"a,b\n1,\"q\"\"x\"\n\"\",\n2,\"multi\nline\"\n";
        let whole = read_all(data, Dialect::default());
        let mut r = RecordReader::new(Trickle(data), Dialect::default());
        let mut n = 0;
        while let Some(ReadRecord {
            start: s, raw: rec, ..
        }) = r.read().unwrap()
        {
            assert_eq!(s, whole[n].0);
            let fields: Vec<String> = rec
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            assert_eq!(fields, whole[n].1);
            n += 1;
        }
        assert_eq!(n, 4);
        assert_eq!(whole[2].2, [0]);
        assert_eq!(whole[3].0.line, 4);
    }

    fn problems(data: &[u8], d: Dialect, max: usize) -> Vec<(u64, Vec<String>, Option<String>)> {
        let mut r = RecordReader::new(data, d);
        r.set_max_record(max, true);
        let mut v = Vec::new();
        while let Some(rec) = r.read().unwrap() {
            let fields = rec
                .raw
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            v.push((rec.start.line, fields, rec.problem));
        }
        v
    }

    #[test]
    fn a_quote_never_closed_is_a_problem_of_its_record_only() {
        let recs = problems(b"h\n1\n\"open\n2\n3\n", Dialect::default(), 1 << 20);
        assert_eq!(recs.len(), 3, "{recs:?}");
        assert!(recs[1].2.is_none());
        assert_eq!(recs[2].0, 3, "the record where the quote opened");
        let why = recs[2].2.as_deref().unwrap();
        assert!(why.contains("never closed"), "{why}");
        // Closed quotes, doubled quotes and an escape are fine, also at the very end.
        let d = Dialect {
            escape: Some(b'\\'),
            ..Dialect::default()
        };
        for ok in [
            &b"a\n\"x\"\"y\""[..],
            b"a\n\"x\\\"y\"",
            b"a\n\"\"",
            b"a\nb\"c\"",
        ] {
            let recs = problems(ok, d, 1 << 20);
            assert!(
                recs.iter().all(|r| r.2.is_none()),
                "{:?}: {recs:?}",
                String::from_utf8_lossy(ok)
            );
        }
        let recs = problems(b"a\n\"x\\\"", d, 1 << 20);
        assert!(
            recs[1].2.is_some(),
            "an escaped quote does not close: {recs:?}"
        );
        // A quote inside an unquoted field is a literal byte, and with the escape being
        // the quote, a closing quote still closes.
        let recs = problems(b"a,b\n1,12\" screen", Dialect::default(), 1 << 20);
        assert!(recs[1].2.is_none(), "{recs:?}");
        assert_eq!(recs[1].1, ["1", "12\" screen"]);
        let same = Dialect {
            escape: Some(b'"'),
            ..Dialect::default()
        };
        let recs = problems(b"a\n\"x\"", same, 1 << 20);
        assert!(recs[1].2.is_none(), "{recs:?}");
    }

    #[test]
    fn a_record_over_the_limit_is_cut_and_reading_goes_on() {
        let big = "z".repeat(100_000);
        let data = format!("h1,h2\nok,1\n{big},\"{big}\nmore\"\nafter,2\n");
        let recs = problems(data.as_bytes(), Dialect::default(), 10_000);
        assert_eq!(
            recs.len(),
            4,
            "{:?}",
            recs.iter().map(|r| (r.0, &r.2)).collect::<Vec<_>>()
        );
        assert_eq!(recs[2].0, 3);
        let why = recs[2].2.as_deref().unwrap();
        assert!(
            why.contains("larger than source.max_record_bytes = 10000"),
            "{why}"
        );
        assert!(recs[2].1.iter().all(|f| f.len() <= KEPT_FIELD_BYTES), "cut");
        assert_eq!(recs[3].1, ["after", "2"]);
        assert_eq!(recs[3].0, 5, "line numbers go on");
        assert!(recs[3].2.is_none());
        // A huge record at the end whose quote never closes says so too.
        let data = format!("h\n\"{big}");
        let recs = problems(data.as_bytes(), Dialect::default(), 10_000);
        assert!(
            recs[1].2.as_deref().unwrap().contains("never closed"),
            "{recs:?}"
        );
    }

    #[test]
    fn a_header_over_the_limit_fails_at_once_and_a_stop_stops() {
        // An endless line (no end of line ever): the header limit ends it.
        let endless = std::io::repeat(b'x');
        let mut r = RecordReader::new(endless, Dialect::default());
        r.set_max_record(4096, false);
        let e = r.read().unwrap_err();
        assert!(e.get_ref().is_some_and(|x| x.is::<TooLarge>()), "{e}");
        // Skipping an endless record stops when told to.
        let mut r = RecordReader::new(std::io::repeat(b'x'), Dialect::default());
        r.set_max_record(4096, true);
        let stop = Arc::new(AtomicBool::new(false));
        r.set_stop(stop.clone());
        let t = std::thread::spawn(move || r.read().map(|_| ()));
        std::thread::sleep(std::time::Duration::from_millis(50));
        stop.store(true, Ordering::Relaxed);
        let e = t.join().unwrap().unwrap_err();
        assert!(is_stopped(&e), "{e}");
    }
}
