//! Splitting inputs into chunks for a distributed or sharded load: a file or object is a
//! chunk, and a large plain file is cut into byte ranges ([`Part`]s) that start and end
//! where records start.
//!
//! Where a record starts cannot be told from the bytes around an offset (a newline may
//! be inside a quoted field that opened a megabyte earlier), so the split reads the file
//! once from its start with the same record reader a run uses, in the same dialect, and
//! cuts after the first record that ends past each multiple of the chunk size. A cut is
//! therefore exactly a position a run's reader stops at between two records, with the
//! line counter it has there: reading a range gives the same records, with the same
//! line numbers, as reading the whole file gives between its ends (the same mechanism
//! that resumes an interrupted run at its checkpoint). A quoted field with newlines is
//! never cut, and a range never starts inside one.
//!
//! Compressed inputs cannot be read from the middle: each is one chunk, as is each
//! remote object (splitting one would mean downloading it whole to plan the load).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use super::input::{Compression, Input, Part, open_input};
use super::reader::{Dialect, RecordReader};
use crate::error::{Error, Result};

/// How to split.
#[derive(Debug, Clone)]
pub struct SplitOptions {
    /// The dialect the inputs are read with.
    pub dialect: Dialect,
    /// Bytes of a chunk, about (a chunk ends at the first record boundary at or past it).
    pub chunk_bytes: u64,
    /// A larger record is skipped over as a run's reader skips it (it is rejected when
    /// the chunk is read).
    pub max_record: usize,
    /// Set, the split stops with [`Error::Interrupted`].
    pub stop: Arc<AtomicBool>,
}

/// The chunks of `inputs`, in order: each input whole, or (plain local files larger than
/// the chunk size) its ranges.
pub fn chunk_inputs(inputs: &[Input], opts: &SplitOptions) -> Result<Vec<Input>> {
    let mut out = Vec::new();
    for input in inputs {
        match input {
            Input::File(_) if input.size().is_some_and(|s| s > opts.chunk_bytes) => {
                out.extend(split_file(input, opts)?);
            }
            Input::Stdin => {
                return Err(Error::Config(
                    "standard input cannot be split into chunks for other processes to read: \
                     give files or URLs"
                        .into(),
                ));
            }
            _ => out.push(input.clone()),
        }
    }
    Ok(out)
}

/// The ranges of one plain file (itself whole when it is compressed).
fn split_file(input: &Input, opts: &SplitOptions) -> Result<Vec<Input>> {
    let name = input.display();
    let (rdr, compression) = open_input(input, Arc::new(AtomicU64::new(0)))?;
    if compression != Compression::None {
        return Ok(vec![input.clone()]);
    }
    let mut reader = RecordReader::new(rdr, opts.dialect);
    reader.set_max_record(opts.max_record, true);
    reader.set_stop(opts.stop.clone());
    let mut parts = Vec::new();
    let (mut start, mut line) = (0u64, 1u64);
    loop {
        let rec = reader.read().map_err(|e| {
            if super::reader::is_stopped(&e) {
                Error::Interrupted(format!("splitting {name} stopped"))
            } else {
                Error::io(&name, e)
            }
        })?;
        let (next_line, next_byte) = reader.next_position();
        if rec.is_none() {
            // The last range ends at the end of the file, trailing blank lines included.
            if next_byte > start || parts.is_empty() {
                parts.push(Part {
                    of: input.clone(),
                    start,
                    end: next_byte,
                    line,
                });
            } else if let Some(last) = parts.last_mut() {
                last.end = next_byte;
            }
            break;
        }
        if next_byte - start >= opts.chunk_bytes {
            parts.push(Part {
                of: input.clone(),
                start,
                end: next_byte,
                line,
            });
            (start, line) = (next_byte, next_line);
        }
    }
    if parts.len() == 1 {
        return Ok(vec![input.clone()]);
    }
    Ok(parts
        .into_iter()
        .map(|p| Input::Part(Arc::new(p)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{CsvOptions, CsvSource, Source, SourceRecord};

    fn read_all(inputs: Vec<Input>, has_header: bool) -> Vec<SourceRecord> {
        let mut out = Vec::new();
        for input in inputs {
            let mut src =
                CsvSource::open(CsvOptions::new(vec![input], Dialect::default(), has_header))
                    .unwrap();
            let mut batch = Vec::new();
            loop {
                batch.clear();
                src.read_batch(7, 1 << 20, &mut batch).unwrap();
                if batch.is_empty() {
                    break;
                }
                out.append(&mut batch);
            }
        }
        out
    }

    fn opts(chunk: u64) -> SplitOptions {
        SplitOptions {
            dialect: Dialect::default(),
            chunk_bytes: chunk,
            max_record: crate::source::DEFAULT_MAX_RECORD,
            stop: Arc::default(),
        }
    }

    /// A file whose records have quoted fields with newlines, doubled quotes and
    /// delimiters, CRLF and LF endings and blank lines, so that every possible cut point
    /// is near something a naive split would get wrong.
    fn tricky(seed: u64, rows: usize) -> String {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut s = String::from("id,text,n\n");
        for i in 0..rows {
            let text = match next() % 7 {
                0 => "\"line one\nline two\n\nline four\"".to_string(),
                1 => "\"a \"\"quoted\"\" word, and a comma\"".to_string(),
                2 => "\"\n\"".to_string(),
                3 => "plain".to_string(),
                4 => "\"ends with newline\n\"".to_string(),
                5 => String::new(),
                _ => format!("\"{}\"", "x\n".repeat((next() % 5) as usize)),
            };
            let end = if next() % 4 == 0 { "\r\n" } else { "\n" };
            s.push_str(&format!("{i},{text},{}{end}", next() % 1000));
            if next() % 11 == 0 {
                s.push('\n');
            }
        }
        s
    }

    #[test]
    fn ranges_read_exactly_as_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        for seed in 0..40u64 {
            let path = dir.path().join(format!("t{seed}.csv"));
            std::fs::write(&path, tricky(seed, 60)).unwrap();
            let whole = read_all(vec![Input::File(path.clone())], true);
            for chunk in [1u64, 17, 64, 333] {
                let parts = chunk_inputs(&[Input::File(path.clone())], &opts(chunk)).unwrap();
                assert!(parts.len() > 1, "seed {seed}: {} parts", parts.len());
                // The ranges tile the file.
                let mut at = 0;
                for p in &parts {
                    let Input::Part(p) = p else {
                        panic!("not a part")
                    };
                    assert_eq!(p.start, at);
                    at = p.end;
                }
                assert_eq!(at, std::fs::metadata(&path).unwrap().len());
                let got = read_all(parts, true);
                assert_eq!(got.len(), whole.len(), "seed {seed} chunk {chunk}");
                for (a, b) in got.iter().zip(&whole) {
                    assert_eq!(a.raw, b.raw, "seed {seed} chunk {chunk}");
                    assert_eq!(
                        (a.pos.line, a.pos.byte),
                        (b.pos.line, b.pos.byte),
                        "seed {seed} chunk {chunk}"
                    );
                    assert_eq!(a.problem, b.problem);
                }
            }
        }
    }

    #[test]
    fn headerless_files_and_an_unterminated_quote_split_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.csv");
        std::fs::write(&path, "1,\"a\nb\"\n2,x\n3,\"never closed\n4,y\n").unwrap();
        let whole = read_all(vec![Input::File(path.clone())], false);
        let parts = chunk_inputs(&[Input::File(path.clone())], &opts(4)).unwrap();
        assert_eq!(parts.len(), 3);
        let got = read_all(parts, false);
        assert_eq!(got.len(), whole.len());
        for (a, b) in got.iter().zip(&whole) {
            assert_eq!(
                (&a.raw, a.pos.line, &a.problem),
                (&b.raw, b.pos.line, &b.problem)
            );
        }
        assert!(got.last().unwrap().problem.is_some());
    }

    #[test]
    fn small_compressed_and_remote_inputs_stay_whole() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("s.csv");
        std::fs::write(&small, "a\n1\n").unwrap();
        let gz = dir.path().join("g.csv.gz");
        let mut enc =
            flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), Default::default());
        std::io::Write::write_all(&mut enc, tricky(1, 500).as_bytes()).unwrap();
        enc.finish().unwrap();
        let inputs = [Input::File(small), Input::File(gz)];
        assert_eq!(chunk_inputs(&inputs, &opts(10)).unwrap(), inputs.to_vec());
        assert!(chunk_inputs(&[Input::Stdin], &opts(10)).is_err());
    }
}
