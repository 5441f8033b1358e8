//! The record reader: `csv_core` driven over our own buffer, so that each record comes
//! with its exact start line and byte offset, and with which empty fields were quoted
//! (`""` is an empty string, an unquoted empty field is NULL).

use std::io::{self, Read};

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

const INITIAL_BUF: usize = 256 * 1024;

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
        if keep_from > 0 {
            self.buf.copy_within(keep_from..self.len, 0);
            self.buf_offset += keep_from as u64;
            self.pos -= keep_from;
            self.len -= keep_from;
        }
        if self.len == self.buf.len() {
            // A record longer than the buffer: grow (memory is bounded by the record).
            let n = self.buf.len() * 2;
            self.buf.resize(n, 0);
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
    pub fn read(&mut self) -> io::Result<Option<(RecordStart, RawRecord)>> {
        if !self.started {
            self.started = true;
            self.refill(0)?;
            if self.buf[..self.len].starts_with(b"\xef\xbb\xbf") {
                self.pos = 3;
            }
        }
        let mut rec_start = self.pos;
        let line_before = self.core.line();
        let (mut nout, mut nend) = (0usize, 0usize);
        loop {
            if self.pos == self.len && !self.eof {
                // An empty input means "end of data" to csv_core: never give it one early.
                let keep = rec_start;
                self.refill(keep)?;
                rec_start = 0;
                continue;
            }
            let input = &self.buf[self.pos..self.len];
            let input_was_empty = input.is_empty();
            let (res, nin, o, e) =
                self.core
                    .read_record(input, &mut self.out[nout..], &mut self.ends[nend..]);
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
                    let n = self.out.len() * 2;
                    self.out.resize(n, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                ReadRecordResult::Record => break,
                ReadRecordResult::End => return Ok(None),
            }
        }
        let raw = &self.buf[rec_start..self.pos];
        let (skip, skipped_lines) = skip_prefix(raw, self.dialect.comment);
        let start = RecordStart {
            line: line_before + skipped_lines,
            byte: self.buf_offset + (rec_start + skip) as u64,
        };
        let ends = &self.ends[..nend];
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
        Ok(Some((start, record)))
    }
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
            if b == d.quote {
                in_quotes = true;
            }
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
        while let Some((s, rec)) = r.read().unwrap() {
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
        while let Some((s, rec)) = r.read().unwrap() {
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
}
