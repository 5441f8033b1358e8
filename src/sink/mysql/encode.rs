//! Rows → `LOAD DATA` lines, on the worker threads: values checked and normalised
//! ([`MyEncode`]), then written as lines (tab-separated, `\N` for NULL, backslash
//! escapes), which are read back into `INSERT` parameters when the sink falls back to
//! statements.

use crate::row::{Batch, PackedRows, Value};
use crate::schema::DataType;
use crate::sink::server::take_keys;

/// Checks and normalises values on the worker threads: NULL keys and NaN/infinite
/// floats are row errors, timestamps become UTC, dates must be within year 1..9999.
pub(crate) struct MyEncode {
    pub(super) names: Vec<String>,
    pub(super) key_idx: Vec<usize>,
}

impl MyEncode {
    pub(super) fn check(&self, values: &mut [Value]) -> std::result::Result<(), String> {
        for &k in &self.key_idx {
            if values.get(k).is_none_or(Value::is_null) {
                return Err(format!(
                    "sink: key column {:?} is NULL (a key identifies the row; it cannot be NULL)",
                    self.names[k]
                ));
            }
        }
        for (i, v) in values.iter_mut().enumerate() {
            let bad = |m: &str| format!("sink: column {:?}: {m}", self.names[i]);
            match v {
                Value::Float(f) if !f.is_finite() => {
                    return Err(bad(&format!(
                        "{f} cannot be stored in MySQL (no NaN or infinity)"
                    )));
                }
                Value::Timestamp(t) => {
                    let utc =
                        t.with_timezone(&chrono::FixedOffset::east_opt(0).unwrap_or(*t.offset()));
                    if !(1..=9999).contains(&chrono::Datelike::year(&utc)) {
                        return Err(bad(
                            "timestamp out of MySQL's range (years 1 to 9999 in UTC)",
                        ));
                    }
                    *t = utc;
                }
                Value::Date(d) if !(1..=9999).contains(&chrono::Datelike::year(d)) => {
                    return Err(bad("date out of MySQL's range (years 1 to 9999)"));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl crate::sink::seam::Encode for MyEncode {
    fn describe(&self) -> String {
        "check for mysql".into()
    }

    fn encode(&self, batch: &mut Batch) {
        let failed: Vec<(usize, String)> = batch
            .rows
            .iter_mut()
            .enumerate()
            .filter_map(|(n, r)| self.check(&mut r.values).err().map(|e| (n, e)))
            .collect();
        batch.reject_indexes(failed);
        let mut packed = PackedRows::with_capacity(batch.rows.len(), batch.rows.len() * 192);
        let mut keys = Vec::with_capacity(batch.rows.len() * self.key_idx.len());
        for r in &mut batch.rows {
            packed
                .push_with(|b| {
                    infile_row(b, &r.values);
                    Ok::<(), ()>(())
                })
                .expect("infile_row does not fail");
            // The INSERT fallback binds the line's fields ([`line_params`]).
            take_keys(r, &self.key_idx, &mut keys);
        }
        packed.trim();
        batch.encoded = Some(crate::row::Encoded::new(crate::sink::seam::Packed {
            rows: packed,
            keys,
        }));
    }
}

/// The fields of a `LOAD DATA` line (as [`infile_row`] writes it) as `INSERT`
/// parameters, for columns of `types`: `\N` is NULL; integers and booleans are bound as
/// integers and floats as doubles (as their values would be: a `BIT` column takes the
/// number, not its digits); every other field is its unescaped text, which the server
/// converts to the column's type as `LOAD DATA` does.
pub(super) fn line_params(line: &[u8], types: &[DataType], out: &mut Vec<mysql::Value>) {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    for (i, field) in line.split(|&b| b == b'\t').enumerate() {
        if field == b"\\N" {
            out.push(mysql::Value::NULL);
            continue;
        }
        let text = std::str::from_utf8(field).ok();
        let number = match types.get(i) {
            Some(DataType::Int | DataType::Bool) => {
                text.and_then(|t| t.parse().ok()).map(mysql::Value::Int)
            }
            Some(DataType::Float) => text.and_then(|t| t.parse().ok()).map(mysql::Value::Double),
            _ => None,
        };
        if let Some(v) = number {
            out.push(v);
            continue;
        }
        let mut text = Vec::with_capacity(field.len());
        let mut bytes = field.iter();
        while let Some(&b) = bytes.next() {
            if b != b'\\' {
                text.push(b);
                continue;
            }
            text.push(match bytes.next() {
                Some(b't') => b'\t',
                Some(b'n') => b'\n',
                Some(b'r') => b'\r',
                Some(b'0') => 0,
                Some(&other) => other,
                None => b'\\',
            });
        }
        out.push(mysql::Value::Bytes(text));
    }
}

/// A value as the binary protocol binds it.
pub(super) fn bind(v: &Value) -> mysql::Value {
    use chrono::{Datelike, Timelike};
    match v {
        Value::Null => mysql::Value::NULL,
        Value::Int(x) => mysql::Value::Int(*x),
        Value::Float(x) => mysql::Value::Double(*x),
        Value::Decimal(d) => mysql::Value::Bytes(d.to_string().into_bytes()),
        Value::Bool(b) => mysql::Value::Int(i64::from(*b)),
        Value::Date(d) => {
            mysql::Value::Date(d.year() as u16, d.month() as u8, d.day() as u8, 0, 0, 0, 0)
        }
        Value::Timestamp(t) => {
            // Microseconds, rounded half to even (as PostgreSQL); 999999.5 µs and
            // above would carry into the next second, so it stays at 999999.
            let nanos = t.nanosecond() % 1_000_000_000;
            let (q, r) = (nanos / 1000, nanos % 1000);
            let micros = if r > 500 || (r == 500 && q % 2 == 1) {
                (q + 1).min(999_999)
            } else {
                q
            };
            mysql::Value::Date(
                t.year() as u16,
                t.month() as u8,
                t.day() as u8,
                t.hour() as u8,
                t.minute() as u8,
                t.second() as u8,
                micros,
            )
        }
        Value::Text(s) => mysql::Value::Bytes(s.as_bytes().to_vec()),
    }
}

/// A row in `LOAD DATA`'s format: tab-separated, `\N` for NULL, backslash escapes.
/// Written by hand (this runs for every value of every row): text is copied in runs
/// between the bytes that need escaping, integers and dates without `fmt`.
pub(super) fn infile_row(out: &mut Vec<u8>, values: &[Value]) {
    use chrono::Datelike;
    use std::io::Write;
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        match v {
            Value::Null => out.extend_from_slice(b"\\N"),
            Value::Int(x) => push_int(out, *x),
            // Debug is the shortest text that reads back as the same double.
            Value::Float(x) => {
                let _ = write!(out, "{x:?}");
            }
            Value::Decimal(d) => {
                let _ = write!(out, "{d}");
            }
            Value::Bool(b) => out.push(if *b { b'1' } else { b'0' }),
            Value::Date(d) => push_date(out, d.year(), d.month(), d.day()),
            Value::Timestamp(t) => {
                if let mysql::Value::Date(y, mo, d, h, mi, s, us) = bind(v) {
                    push_date(out, i32::from(y), u32::from(mo), u32::from(d));
                    out.push(b' ');
                    push_digits(out, u32::from(h), 2);
                    out.push(b':');
                    push_digits(out, u32::from(mi), 2);
                    out.push(b':');
                    push_digits(out, u32::from(s), 2);
                    out.push(b'.');
                    push_digits(out, us, 6);
                } else {
                    let _ = write!(out, "{t}");
                }
            }
            Value::Text(s) => {
                let bytes = s.as_bytes();
                let mut start = 0;
                for (i, &c) in bytes.iter().enumerate() {
                    let esc: &[u8] = match c {
                        b'\\' => b"\\\\",
                        b'\t' => b"\\t",
                        b'\n' => b"\\n",
                        b'\r' => b"\\r",
                        0 => b"\\0",
                        _ => continue,
                    };
                    out.extend_from_slice(&bytes[start..i]);
                    out.extend_from_slice(esc);
                    start = i + 1;
                }
                out.extend_from_slice(&bytes[start..]);
            }
        }
    }
    out.push(b'\n');
}

/// `x` in decimal.
fn push_int(out: &mut Vec<u8>, x: i64) {
    let mut buf = [0u8; 20];
    let mut n = x.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if x < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[at..]);
}

/// `x` in decimal with at least `width` digits (zero-padded).
fn push_digits(out: &mut Vec<u8>, x: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut n = x;
    let mut at = buf.len();
    while n > 0 || buf.len() - at < width {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&buf[at..]);
}

/// `YYYY-MM-DD` (a negative or five-digit year as chrono writes it).
fn push_date(out: &mut Vec<u8>, y: i32, m: u32, d: u32) {
    if (0..=9999).contains(&y) {
        push_digits(out, y as u32, 4);
    } else {
        use std::io::Write;
        let _ = write!(out, "{y:+05}");
    }
    out.push(b'-');
    push_digits(out, m, 2);
    out.push(b'-');
    push_digits(out, d, 2);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_bind_in_utc_microseconds() {
        let enc = MyEncode {
            names: vec!["t".into()],
            key_idx: vec![],
        };
        let mut v = vec![Value::Timestamp(
            chrono::DateTime::parse_from_rfc3339("2024-03-01T01:30:00.0000015+02:00").unwrap(),
        )];
        enc.check(&mut v).unwrap();
        assert_eq!(bind(&v[0]), mysql::Value::Date(2024, 2, 29, 23, 30, 0, 2));
        let mut nan = vec![Value::Float(f64::NAN)];
        assert!(enc.check(&mut nan).unwrap_err().contains("column \"t\""));
    }

    #[test]
    fn infile_rows_are_escaped_and_formatted() {
        use chrono::{DateTime, NaiveDate};
        let mut out = Vec::new();
        // The check stage has made timestamps UTC by now.
        let ts = DateTime::parse_from_rfc3339("2021-03-04T03:06:07.5Z").unwrap();
        infile_row(
            &mut out,
            &[
                Value::Int(0),
                Value::Int(-42),
                Value::Int(i64::MIN),
                Value::Int(i64::MAX),
                Value::Null,
                Value::Text("a\tb\nc\\d\re\0f".into()),
                Value::Text(String::new()),
                Value::Text("\\".into()),
                Value::Date(NaiveDate::from_ymd_opt(7, 1, 2).unwrap()),
                Value::Date(NaiveDate::from_ymd_opt(-1, 12, 31).unwrap()),
                Value::Timestamp(ts),
                Value::Float(0.1),
                Value::Bool(true),
            ],
        );
        let want = format!(
            "0\t-42\t{}\t{}\t\\N\ta\\tb\\nc\\\\d\\re\\0f\t\t\\\\\t0007-01-02\t-0001-12-31\t\
             2021-03-04 03:06:07.500000\t0.1\t1\n",
            i64::MIN,
            i64::MAX
        );
        assert_eq!(String::from_utf8(out.clone()).unwrap(), want);
        // The INSERT fallback reads the same line back: NULL, and every other field's
        // text with the escapes undone (the text "\\N" is not NULL).
        use DataType as D;
        let types = [
            D::Int,
            D::Int,
            D::Int,
            D::Int,
            D::Int,
            D::Text,
            D::Text,
            D::Text,
            D::Date,
            D::Date,
            D::Timestamp,
            D::Float,
            D::Bool,
        ];
        let mut params = Vec::new();
        line_params(&out, &types, &mut params);
        let text = |s: &str| mysql::Value::Bytes(s.as_bytes().to_vec());
        assert_eq!(
            params,
            [
                mysql::Value::Int(0),
                mysql::Value::Int(-42),
                mysql::Value::Int(i64::MIN),
                mysql::Value::Int(i64::MAX),
                mysql::Value::NULL,
                text("a\tb\nc\\d\re\0f"),
                text(""),
                text("\\"),
                text("0007-01-02"),
                text("-0001-12-31"),
                text("2021-03-04 03:06:07.500000"),
                mysql::Value::Double(0.1),
                mysql::Value::Int(1),
            ]
        );
        let mut out = Vec::new();
        infile_row(
            &mut out,
            &[Value::Text("\\N".into()), Value::Null, Value::Float(-1e300)],
        );
        let mut params = Vec::new();
        line_params(&out, &[D::Text, D::Int, D::Float], &mut params);
        assert_eq!(
            params,
            [
                text("\\N"),
                mysql::Value::NULL,
                mysql::Value::Double(-1e300)
            ]
        );
    }
}
