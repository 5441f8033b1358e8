//! The inference pre-pass: read the input (or a sample) and find each column's type.

use super::csv::{CsvOptions, CsvSource};
use super::{Input, Source};
use crate::error::Result;
use crate::row::RawRecord;
use crate::schema::Inferrer;

/// What the pre-pass needs besides the inputs.
#[derive(Debug, Clone, Default)]
pub struct InferOptions {
    /// Field values read as NULL (besides the unquoted empty field).
    pub null_values: Vec<String>,
    /// Stop after this many records (sampling); `None` reads everything.
    pub limit: Option<usize>,
    /// Find columns of JSON objects and arrays (JSON Lines).
    pub json: bool,
    /// Data records left out at the start of every input (`source.skip_rows`).
    pub skip_rows: u64,
}

/// Feed records into an inferrer, honouring NULL rules. Invalid UTF-8 makes a column
/// text (the row itself is rejected later by decoding).
pub fn feed_records<'a>(
    inf: &mut Inferrer,
    records: impl IntoIterator<Item = &'a RawRecord>,
    null_values: &[String],
) {
    for rec in records {
        feed_one(inf, rec, null_values);
    }
}

fn feed_one(inf: &mut Inferrer, rec: &RawRecord, null_values: &[String]) {
    for (i, f) in rec.iter().enumerate() {
        if f.is_empty() {
            if rec.is_quoted_empty(i) {
                inf.feed(i, "");
            }
            continue;
        }
        match std::str::from_utf8(f) {
            Ok(s) if null_values.iter().any(|n| n == s) => {}
            Ok(s) => inf.feed(i, s),
            Err(_) => inf.feed(i, "\u{FFFD}"),
        }
    }
}

/// Infer column types by reading the inputs (a fresh pass; standard input is not
/// allowed here, sample it with [`CsvSource::peek`] instead).
pub fn infer_types(
    opts: &CsvOptions,
    ncols: usize,
    io: &InferOptions,
) -> Result<Vec<crate::schema::Inferred>> {
    debug_assert!(!opts.inputs.contains(&Input::Stdin));
    let mut src = CsvSource::open(opts.clone())?;
    let mut inf = Inferrer::new(ncols);
    if io.json {
        inf = inf.with_json();
    }
    let mut batch = Vec::with_capacity(4096);
    let mut seen = 0usize;
    loop {
        batch.clear();
        let want = io.limit.map_or(4096, |l| (l - seen).min(4096));
        if want == 0 {
            break;
        }
        src.read_batch(want, usize::MAX, &mut batch)?;
        if batch.is_empty() {
            break;
        }
        seen += batch.len();
        // A record that cannot be loaded (too large, a quote never closed) is rejected
        // later; it says nothing about the columns' types.
        for r in batch
            .iter()
            .filter(|r| r.problem.is_none() && r.pos.record > io.skip_rows)
        {
            feed_one(&mut inf, &r.raw, &io.null_values);
        }
        if inf.all_text() {
            break;
        }
    }
    Ok(inf.finish_full())
}
