//! Dialect detection: the delimiter, the quote character and whether the first row is
//! a header, for a file nobody described, from a sample of its first lines.
//!
//! Each candidate dialect reads the sample with the run's own record reader; the one
//! under which most records have the first record's number of fields (two or more)
//! wins, then the one with more fields, then the usual one (`,` before tab, `;` and
//! `|`; `"` before `'`). The header is found as DuckDB finds it: when every column of
//! the rest of the sample has a type and the first row's values fit those types, the
//! first row is data; when some value of it does not fit (`id` above numbers), or
//! every column is text, it is a header.

use std::io::Cursor;

use super::reader::{Dialect, RecordReader};
use crate::row::RawRecord;
use crate::schema::{DataType, Inferrer};

/// Bytes of an input's start read to detect its dialect.
pub const SAMPLE_BYTES: usize = 64 * 1024;
/// Records of the sample looked at.
const SAMPLE_RECORDS: usize = 1000;
/// The delimiters tried, the usual first.
pub const DELIMITERS: [u8; 4] = [b',', b'\t', b';', b'|'];
/// The quote characters tried, the usual first.
const QUOTES: [u8; 2] = [b'"', b'\''];

/// What to detect: the parts the pipeline does not set.
#[derive(Debug, Clone)]
pub struct Unknowns {
    /// Detect the delimiter (else `base.delimiter` is used).
    pub delimiter: bool,
    /// Detect the quote character (else `base.quote`).
    pub quote: bool,
    /// Detect whether the first row is a header (else this).
    pub has_header: Option<bool>,
}

/// What the sample showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniffed {
    /// The dialect, with the detected parts filled in.
    pub dialect: Dialect,
    /// Whether the first row is a header.
    pub has_header: bool,
    /// Records of the sample that were read.
    pub records: usize,
    /// Why the header was judged so, for the note.
    pub header_reason: &'static str,
}

/// Detect what `want` asks for in `sample` (an input's first bytes; `complete` when it
/// holds the whole input, else its last, possibly cut, line is not looked at), reading
/// with `base` (escape and comment characters, and the parts already set). NULL markers
/// `null_values` are left out of the header test.
pub fn sniff(
    sample: &[u8],
    complete: bool,
    base: Dialect,
    want: &Unknowns,
    null_values: &[String],
) -> Sniffed {
    let delimiters: Vec<u8> = if want.delimiter {
        DELIMITERS.to_vec()
    } else {
        vec![base.delimiter]
    };
    let quotes: Vec<u8> = if want.quote {
        // `'` only where nothing is quoted with `"` and some value starts with `'`: a
        // quoted value with newlines misread under the wrong quote looks like many tidy
        // records.
        let single = !sample.contains(&b'"')
            && sample.iter().enumerate().any(|(i, b)| {
                *b == b'\''
                    && (i == 0 || matches!(sample[i - 1], b'\n' | b'\r') || {
                        DELIMITERS.contains(&sample[i - 1])
                    })
            });
        QUOTES
            .iter()
            .copied()
            .filter(|q| *q == b'"' || single)
            .collect()
    } else {
        vec![base.quote]
    };
    let mut best: Option<(Score, Dialect, Vec<RawRecord>)> = None;
    for (qi, &quote) in quotes.iter().enumerate() {
        for (di, &delimiter) in delimiters.iter().enumerate() {
            let d = Dialect {
                delimiter,
                quote,
                ..base
            };
            if d.escape == Some(delimiter)
                || d.comment == Some(delimiter)
                || (d.comment == Some(quote))
            {
                continue;
            }
            let records = read_sample(sample, complete, d);
            let score = Score::of(&records, di, qi);
            if best.as_ref().is_none_or(|(b, _, _)| score > *b) {
                best = Some((score, d, records.into_iter().map(|r| r.0).collect()));
            }
        }
    }
    let (_, dialect, records) = best.unwrap_or((Score::default(), base, Vec::new()));
    let (has_header, header_reason) = match want.has_header {
        Some(h) => (h, "set"),
        None => header_test(&records, null_values),
    };
    Sniffed {
        dialect,
        has_header,
        records: records.len(),
        header_reason,
    }
}

/// How well a dialect reads the sample; larger is better.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Score {
    /// The first record splits into two fields or more.
    splits: bool,
    /// Records with as many fields as the first.
    consistent: usize,
    /// Fields of the first record.
    fields: usize,
    /// Records that could not be read (a quote never closed), fewer is better.
    unreadable: std::cmp::Reverse<usize>,
    /// The usual candidates first.
    usual: std::cmp::Reverse<(usize, usize)>,
}

impl Score {
    fn of(records: &[(RawRecord, bool)], delimiter_rank: usize, quote_rank: usize) -> Score {
        let fields = records.first().map_or(0, |r| r.0.len());
        Score {
            splits: fields >= 2,
            consistent: records
                .iter()
                .filter(|(r, ok)| *ok && r.len() == fields)
                .count(),
            fields,
            unreadable: std::cmp::Reverse(records.iter().filter(|(_, ok)| !ok).count()),
            usual: std::cmp::Reverse((quote_rank, delimiter_rank)),
        }
    }
}

/// The sample's records under `d` (each with whether it was read whole), without the
/// last one when the sample is cut short.
fn read_sample(sample: &[u8], complete: bool, d: Dialect) -> Vec<(RawRecord, bool)> {
    let mut reader = RecordReader::new(Cursor::new(sample), d);
    reader.set_max_record(sample.len().max(1024), true);
    let mut out = Vec::new();
    while out.len() <= SAMPLE_RECORDS {
        match reader.read() {
            Ok(Some(r)) => out.push((r.raw, r.problem.is_none())),
            _ => break,
        }
    }
    if !complete && out.len() > 1 {
        out.pop();
    }
    out.truncate(SAMPLE_RECORDS);
    out
}

/// Whether the first of `records` is a header, and why.
fn header_test(records: &[RawRecord], null_values: &[String]) -> (bool, &'static str) {
    let Some(first) = records.first() else {
        return (true, "the input is empty");
    };
    let n = first.len();
    let rest: Vec<&RawRecord> = records[1..].iter().filter(|r| r.len() == n).collect();
    if rest.is_empty() {
        return (true, "there is no other row to compare it with");
    }
    let mut below = Inferrer::new(n);
    super::infer::feed_records(&mut below, rest.iter().copied(), null_values);
    let below = below.finish();
    let mut with_first = Inferrer::new(n);
    super::infer::feed_records(
        &mut with_first,
        std::iter::once(first).chain(rest.iter().copied()),
        null_values,
    );
    let with_first = with_first.finish();
    if below
        .iter()
        .zip(&with_first)
        .any(|(b, w)| *b != DataType::Text && *w == DataType::Text)
    {
        return (
            true,
            "some of its values do not have the type of the values below them",
        );
    }
    if below.iter().all(|t| *t == DataType::Text) {
        return (true, "every column is text");
    }
    (false, "its values have the types of the values below them")
}

/// A column name that holds one of the delimiters tried other than `delimiter`: a sign
/// the file is read with the wrong one.
pub fn suspicious_name(names: &[String], delimiter: u8) -> Option<(&str, u8)> {
    names.iter().find_map(|n| {
        DELIMITERS
            .iter()
            .copied()
            .filter(|d| *d != delimiter && (*d != b',' || names.len() == 1))
            .find(|d| n.as_bytes().contains(d))
            .map(|d| (n.as_str(), d))
    })
}

/// A delimiter as a person reads it.
pub fn shown(b: u8) -> String {
    match b {
        b'\t' => "tab".to_string(),
        b => format!("'{}'", b as char),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Unknowns {
        Unknowns {
            delimiter: true,
            quote: true,
            has_header: None,
        }
    }

    fn detect(s: &str) -> Sniffed {
        sniff(s.as_bytes(), true, Dialect::default(), &all(), &[])
    }

    #[test]
    fn the_common_delimiters_are_found() {
        let d = detect("id,name,amount\n1,a,2.5\n2,b,3\n");
        assert_eq!(d.dialect.delimiter, b',');
        assert!(d.has_header);
        let d = detect("id;name;amount\n1;Müller;1,5\n2;b;3,25\n");
        assert_eq!(d.dialect.delimiter, b';', "decimal commas do not fool it");
        let d = detect("a\tb\n1\t2\n");
        assert_eq!(d.dialect.delimiter, b'\t');
        let d = detect("a|b|c\n1|x, y|2\n3|z|4\n");
        assert_eq!(
            d.dialect.delimiter, b'|',
            "commas inside values do not fool it"
        );
        // Semicolons inside quoted values of a comma file.
        let d = detect("id,note\n1,\"a;b;c\"\n2,\"d;e\"\n");
        assert_eq!(d.dialect.delimiter, b',');
        assert_eq!(d.dialect.quote, b'"');
    }

    #[test]
    fn one_column_stays_one_column() {
        let d = detect("name\nO'Brien; Jr\nSmith\n");
        assert_eq!(d.dialect.delimiter, b',');
        assert_eq!(d.dialect.quote, b'"');
    }

    #[test]
    fn a_single_quote_is_found_when_it_quotes() {
        let d = detect("id,name\n1,'Smith, J'\n2,'Doe, A'\n");
        assert_eq!(d.dialect.quote, b'\'');
        assert_eq!(d.dialect.delimiter, b',');
        // An apostrophe inside a value is no quote.
        let d = detect("id,name\n1,O'Brien\n2,D'Arcy\n");
        assert_eq!(d.dialect.quote, b'"');
    }

    #[test]
    fn a_quoted_value_with_newlines_is_not_read_with_another_quote() {
        // Under `'`, each line of the long value would be a tidy record of two fields.
        let s = format!("id,blob\n1,\"{}\"\n2,x\n", "ab,'c\n".repeat(50));
        assert_eq!(detect(&s).dialect.quote, b'"');
        // A quote never closed: the rest of the sample is one field, still `"`.
        let mut s = String::from("id,name\n");
        for i in 1..50 {
            s.push_str(&format!("{i},n{i}\n"));
        }
        s.push_str("50,\"never closed\n51,x\n");
        let d = detect(&s);
        assert_eq!((d.dialect.delimiter, d.dialect.quote), (b',', b'"'));
    }

    #[test]
    fn quoted_newlines_and_a_cut_last_line() {
        let s = "a;b\n1;\"x\ny\"\n2;\"z\"\n3;\"unfinished";
        let d = sniff(s.as_bytes(), false, Dialect::default(), &all(), &[]);
        assert_eq!(d.dialect.delimiter, b';');
        assert_eq!(d.records, 3, "the cut line is not looked at");
    }

    #[test]
    fn the_header_is_told_from_data() {
        assert!(detect("id,amount\n1,2.5\n2,3\n").has_header);
        assert!(!detect("1,2.5\n2,3\n3,4\n").has_header);
        assert!(!detect("2021-01-01,5\n2021-01-02,6\n").has_header);
        assert!(detect("name,city\nbob,paris\n").has_header, "all text");
        assert!(detect("id,name\n").has_header, "nothing to compare");
        // A NULL in the first row fits any type.
        assert!(!detect("1,,x\n2,3,y\n").has_header);
        let nulls = vec!["NA".to_string()];
        let s = "1,NA\n2,3\n";
        let d = sniff(s.as_bytes(), true, Dialect::default(), &all(), &nulls);
        assert!(!d.has_header);
    }

    #[test]
    fn what_is_set_is_kept() {
        let want = Unknowns {
            delimiter: false,
            quote: false,
            has_header: Some(true),
        };
        let d = sniff(b"1;2\n3;4\n", true, Dialect::default(), &want, &[]);
        assert_eq!(d.dialect.delimiter, b',');
        assert!(d.has_header);
    }

    #[test]
    fn names_holding_a_delimiter_are_suspicious() {
        let names = vec!["id;name".to_string()];
        assert_eq!(suspicious_name(&names, b','), Some(("id;name", b';')));
        let names = vec!["a".to_string(), "Price, USD".to_string()];
        assert_eq!(suspicious_name(&names, b';'), None);
    }
}
