//! Rows → `COPY` data, on the worker threads.
//!
//! The binary format (`COPY ... (FORMAT binary)`) is used whenever every target column
//! has a type rowflow encodes itself: the server then parses nothing. A table with
//! another column type (`inet`, an enum, an array, ...) is loaded in the text format
//! instead, and the server parses those values. Either way, a value that does not fit
//! its column (an int out of range for `integer`, an invalid uuid) is a row error here,
//! naming the column, before anything is sent.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike};

use crate::row::{Batch, PackedRows, Value};
use crate::schema::DataType;

/// The target column types rowflow knows (domains are reduced to their base type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PgType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Date,
    Timestamp,
    Timestamptz,
    /// text, varchar, char, name: the same binary form.
    Text,
    Json,
    Jsonb,
    Uuid,
    /// Anything else: written in the text format, parsed by the server.
    Other,
}

impl PgType {
    /// From a type OID.
    pub(crate) fn from_oid(oid: u32) -> PgType {
        match oid {
            16 => PgType::Bool,
            21 => PgType::Int2,
            23 => PgType::Int4,
            20 => PgType::Int8,
            700 => PgType::Float4,
            701 => PgType::Float8,
            1700 => PgType::Numeric,
            1082 => PgType::Date,
            1114 => PgType::Timestamp,
            1184 => PgType::Timestamptz,
            25 | 1043 | 1042 | 19 => PgType::Text,
            114 => PgType::Json,
            3802 => PgType::Jsonb,
            2950 => PgType::Uuid,
            _ => PgType::Other,
        }
    }

    /// The column type of a created table.
    pub(crate) fn for_created(t: DataType) -> &'static str {
        t.postgres_name()
    }
}

/// Can values of type `src` be written to a column of type `dst` without loss (or
/// with the checks done per value)?
pub(crate) fn compatible(src: DataType, dst: PgType) -> bool {
    use DataType as D;
    use PgType as P;
    matches!(
        (src, dst),
        (_, P::Text | P::Other)
            | (
                D::Int,
                P::Int2
                    | P::Int4
                    | P::Int8
                    | P::Numeric
                    | P::Float4
                    | P::Float8
                    | P::Json
                    | P::Jsonb
            )
            | (D::Float, P::Float4 | P::Float8 | P::Numeric)
            | (D::Decimal, P::Numeric | P::Float4 | P::Float8)
            | (D::Bool, P::Bool)
            | (D::Date, P::Date | P::Timestamp | P::Timestamptz)
            | (D::Timestamp, P::Timestamp | P::Timestamptz)
            | (D::Text, P::Json | P::Jsonb | P::Uuid)
    )
}

/// One output column: its name and the target's type.
#[derive(Debug, Clone)]
pub(crate) struct EncodeColumn {
    pub name: String,
    pub target: PgType,
}

/// Encodes rows into `COPY` tuples (binary or text format).
pub(crate) struct PgEncode {
    pub(crate) columns: Vec<EncodeColumn>,
    pub(crate) binary: bool,
    pub(crate) key_idx: Vec<usize>,
}

/// The 19-byte header of a binary COPY stream.
pub(crate) const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The trailer of a binary COPY stream.
pub(crate) const BINARY_TRAILER: &[u8] = &[0xff, 0xff];

impl crate::sink::seam::Encode for PgEncode {
    fn describe(&self) -> String {
        format!(
            "encode for postgres ({} COPY)",
            if self.binary { "binary" } else { "text" }
        )
    }

    fn encode(&self, batch: &mut Batch) {
        let mut failed = Vec::new();
        let mut packed = PackedRows::with_capacity(batch.rows.len(), batch.rows.len() * 256);
        let mut keys = Vec::with_capacity(batch.rows.len() * self.key_idx.len());
        for (n, row) in batch.rows.iter_mut().enumerate() {
            match packed.push_with(|out| self.encode_into(&row.values, out)) {
                Ok(()) => crate::sink::server::take_keys(row, &self.key_idx, &mut keys),
                Err(reason) => failed.push((n, reason)),
            }
        }
        batch.reject_indexes(failed);
        packed.trim();
        batch.encoded = Some(crate::row::Encoded::new(crate::sink::seam::Packed {
            rows: packed,
            keys,
        }));
    }
}

impl PgEncode {
    /// One tuple, or the reason the row cannot be written.
    pub(crate) fn encode(&self, values: &[Value]) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        self.encode_into(values, &mut out)?;
        Ok(out)
    }

    /// Append one tuple to `out`, or give the reason the row cannot be written (what
    /// was appended is then the caller's to drop).
    pub(crate) fn encode_into(&self, values: &[Value], out: &mut Vec<u8>) -> Result<(), String> {
        for &k in &self.key_idx {
            if values.get(k).is_none_or(Value::is_null) {
                return Err(format!(
                    "sink: key column {:?} is NULL (a key identifies the row; it cannot be NULL)",
                    self.columns[k].name
                ));
            }
        }
        // Sized for the whole tuple (text as is, other values at most 16 bytes) so the
        // buffer is allocated once.
        let size: usize = values
            .iter()
            .map(|v| match v {
                Value::Text(t) => t.len() + 6,
                _ => 20,
            })
            .sum();
        out.reserve(2 + size);
        if self.binary {
            out.extend_from_slice(&(values.len() as i16).to_be_bytes());
        }
        for (i, (v, c)) in values.iter().zip(&self.columns).enumerate() {
            let r = if self.binary {
                binary_value(out, v, c.target)
            } else {
                if i > 0 {
                    out.push(b'\t');
                }
                text_value(out, v, c.target)
            };
            r.map_err(|e| format!("sink: column {:?}: {e}", c.name))?;
        }
        if !self.binary {
            out.push(b'\n');
        }
        Ok(())
    }
}

/// Append `len` then the bytes written by `f`.
fn field(
    out: &mut Vec<u8>,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), String>,
) -> Result<(), String> {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    f(out)?;
    let len = (out.len() - at - 4) as i32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

const PG_EPOCH_DAYS: i32 = 730_120; // days from 0001-01-01 (CE day 1) to 2000-01-01
const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

fn pg_date(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - PG_EPOCH_DAYS
}

/// Microseconds since 2000-01-01 00:00 UTC, rounded half to even like the server.
fn pg_micros(t: &DateTime<FixedOffset>) -> Result<i64, String> {
    let secs = t.timestamp();
    let nanos = i64::from(t.nanosecond() % 1_000_000_000);
    let mut micros = nanos / 1000;
    let rem = nanos % 1000;
    if rem > 500 || (rem == 500 && micros % 2 == 1) {
        micros += 1;
    }
    secs.checked_mul(1_000_000)
        .and_then(|s| s.checked_add(micros))
        .and_then(|m| m.checked_sub(PG_EPOCH_UNIX_MICROS))
        .ok_or_else(|| "timestamp out of range".to_string())
}

fn binary_value(out: &mut Vec<u8>, v: &Value, t: PgType) -> Result<(), String> {
    use PgType as P;
    if let Value::Null = v {
        out.extend_from_slice(&(-1i32).to_be_bytes());
        return Ok(());
    }
    field(out, |out| {
        match (v, t) {
            (Value::Int(x), P::Int8) => out.extend_from_slice(&x.to_be_bytes()),
            (Value::Int(x), P::Int4) => out.extend_from_slice(
                &i32::try_from(*x)
                    .map_err(|_| format!("{x} is out of range for integer"))?
                    .to_be_bytes(),
            ),
            (Value::Int(x), P::Int2) => out.extend_from_slice(
                &i16::try_from(*x)
                    .map_err(|_| format!("{x} is out of range for smallint"))?
                    .to_be_bytes(),
            ),
            (Value::Int(x), P::Float8) => out.extend_from_slice(&int_float8(*x)?.to_be_bytes()),
            (Value::Int(x), P::Float4) => out.extend_from_slice(&int_float4(*x)?.to_be_bytes()),
            (Value::Int(x), P::Numeric) => numeric(out, &x.to_string(), 0),
            (Value::Float(x), P::Float8) => out.extend_from_slice(&x.to_be_bytes()),
            (Value::Float(x), P::Float4) => out.extend_from_slice(&float4(*x)?.to_be_bytes()),
            (Value::Float(x), P::Numeric) => float_numeric(out, *x),
            (Value::Decimal(d), P::Numeric) => numeric(out, &d.to_string(), d.scale() as u16),
            (Value::Decimal(d), P::Float8 | P::Float4) => {
                let f: f64 = d
                    .to_string()
                    .parse()
                    .map_err(|_| format!("{d} is not a number"))?;
                if t == P::Float8 {
                    out.extend_from_slice(&f.to_be_bytes())
                } else {
                    out.extend_from_slice(&float4(f)?.to_be_bytes())
                }
            }
            (Value::Bool(b), P::Bool) => out.push(u8::from(*b)),
            (Value::Date(d), P::Date) => out.extend_from_slice(&pg_date(*d).to_be_bytes()),
            (Value::Date(d), P::Timestamp | P::Timestamptz) => {
                let micros = i64::from(pg_date(*d)) * 86_400_000_000;
                out.extend_from_slice(&micros.to_be_bytes())
            }
            // Both kinds get the UTC instant (a `timestamp` column gets UTC wall time).
            (Value::Timestamp(ts), P::Timestamptz | P::Timestamp) => {
                out.extend_from_slice(&pg_micros(ts)?.to_be_bytes())
            }
            (Value::Text(s), P::Text | P::Json) => out.extend_from_slice(s.as_bytes()),
            (Value::Text(s), P::Jsonb) => {
                out.push(1);
                out.extend_from_slice(s.as_bytes())
            }
            (Value::Int(x), P::Json) => out.extend_from_slice(x.to_string().as_bytes()),
            (Value::Int(x), P::Jsonb) => {
                out.push(1);
                out.extend_from_slice(x.to_string().as_bytes())
            }
            (Value::Text(s), P::Uuid) => out.extend_from_slice(&parse_uuid(s)?),
            (v, P::Text) => out.extend_from_slice(v.to_string().as_bytes()),
            (v, t) => {
                return Err(format!(
                    "cannot write a {} value to a {t:?} column",
                    type_name(v)
                ));
            }
        }
        Ok(())
    })
}

fn type_name(v: &Value) -> String {
    v.data_type().map_or("NULL".into(), |t| t.to_string())
}

/// The text format: `\N` for NULL, backslash escapes for the separators.
fn text_value(out: &mut Vec<u8>, v: &Value, t: PgType) -> Result<(), String> {
    let text = match (v, t) {
        (Value::Null, _) => {
            out.extend_from_slice(b"\\N");
            return Ok(());
        }
        (Value::Text(s), _) => {
            escape(out, s.as_bytes());
            return Ok(());
        }
        // A `timestamp` column gets UTC wall time, as in the binary format.
        (Value::Timestamp(ts), PgType::Timestamp) => {
            ts.naive_utc().format("%Y-%m-%d %H:%M:%S%.f").to_string()
        }
        (Value::Date(d), PgType::Timestamptz) => format!("{d} 00:00:00+00"),
        (Value::Int(x), PgType::Int4) if i32::try_from(*x).is_err() => {
            return Err(format!("{x} is out of range for integer"));
        }
        (Value::Int(x), PgType::Int2) if i16::try_from(*x).is_err() => {
            return Err(format!("{x} is out of range for smallint"));
        }
        // The server would round these silently; the binary format refuses them.
        (Value::Int(x), PgType::Float8) => int_float8(*x)?.to_string(),
        (Value::Int(x), PgType::Float4) => int_float4(*x)?.to_string(),
        (Value::Float(x), PgType::Float4) => float4(*x)?.to_string(),
        (v, _) => v.to_string(),
    };
    escape(out, text.as_bytes());
    Ok(())
}

/// An integer as double precision, only when exact.
fn int_float8(x: i64) -> Result<f64, String> {
    let f = x as f64;
    if f as i128 != i128::from(x) {
        return Err(format!("{x} cannot be stored exactly in double precision"));
    }
    Ok(f)
}

/// An integer as real, only when exact.
fn int_float4(x: i64) -> Result<f32, String> {
    let f = x as f32;
    if f as i128 != i128::from(x) {
        return Err(format!("{x} cannot be stored exactly in real"));
    }
    Ok(f)
}

/// A float as real: out of range (overflow, or a non-zero value that would become 0)
/// is an error, as the server's own `real` input says.
fn float4(x: f64) -> Result<f32, String> {
    let f = x as f32;
    if (f.is_infinite() && x.is_finite()) || (f == 0.0 && x != 0.0) {
        return Err(format!("{x} is out of range for type real"));
    }
    Ok(f)
}

fn escape(out: &mut Vec<u8>, b: &[u8]) {
    for &c in b {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            c => out.push(c),
        }
    }
}

/// A uuid as 16 bytes from its text form (hex, with or without hyphens and braces).
fn parse_uuid(s: &str) -> Result<[u8; 16], String> {
    let hex: Vec<u8> = s
        .trim_start_matches('{')
        .trim_end_matches('}')
        .bytes()
        .filter(|&c| c != b'-')
        .collect();
    let bad = || {
        format!(
            "invalid input syntax for type uuid: {}",
            crate::format::quote_value(s)
        )
    };
    if hex.len() != 32 {
        return Err(bad());
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let h = (pair[0] as char).to_digit(16).ok_or_else(bad)?;
        let l = (pair[1] as char).to_digit(16).ok_or_else(bad)?;
        out[i] = (h * 16 + l) as u8;
    }
    Ok(out)
}

/// A float as numeric: its shortest exact text (as the server's float8 → numeric).
fn float_numeric(out: &mut Vec<u8>, x: f64) {
    const NAN: u16 = 0xC000;
    const PINF: u16 = 0xD000;
    const NINF: u16 = 0xF000;
    let special = if x.is_nan() {
        Some(NAN)
    } else if x == f64::INFINITY {
        Some(PINF)
    } else if x == f64::NEG_INFINITY {
        Some(NINF)
    } else {
        None
    };
    if let Some(sign) = special {
        numeric_header(out, 0, 0, sign, 0);
        return;
    }
    let s = format!("{x:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    // value = d.ddd × 10^exp → digits with `exp + 1` before the point.
    let point = exp + 1;
    let scale = (digits.len() as i64 - point).max(0) as u16;
    numeric_digits(
        out,
        neg,
        digits.trim_end_matches('0').as_bytes(),
        point,
        scale,
    );
}

/// A decimal number's text (`-123.4500`) as numeric, with display scale `scale`.
fn numeric(out: &mut Vec<u8>, text: &str, scale: u16) {
    let neg = text.starts_with('-');
    let body = text.trim_start_matches(['-', '+']);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let all: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    let lead = all.iter().take_while(|&&d| d == b'0').count();
    let digits = &all[lead..];
    let end = digits.iter().rposition(|&d| d != b'0').map_or(0, |i| i + 1);
    let point = int.len() as i64 - lead as i64;
    numeric_digits(out, neg, &digits[..end], point, scale);
}

fn numeric_header(out: &mut Vec<u8>, ndigits: i16, weight: i16, sign: u16, dscale: u16) {
    out.extend_from_slice(&ndigits.to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&dscale.to_be_bytes());
}

/// The numeric binary form of `0.DIGITS × 10^point` (DIGITS: ASCII, no leading or
/// trailing zeros; empty for zero): base-10000 groups aligned on the decimal point.
fn numeric_digits(out: &mut Vec<u8>, neg: bool, digits: &[u8], point: i64, dscale: u16) {
    if digits.is_empty() {
        numeric_header(out, 0, 0, 0, dscale);
        return;
    }
    let weight = (point + 3).div_euclid(4) - 1;
    let pad = ((weight + 1) * 4 - point) as usize;
    let mut padded = vec![b'0'; pad];
    padded.extend_from_slice(digits);
    while !padded.len().is_multiple_of(4) {
        padded.push(b'0');
    }
    let groups: Vec<i16> = padded
        .chunks(4)
        .map(|g| {
            g.iter()
                .fold(0i16, |acc, &d| acc * 10 + i16::from(d - b'0'))
        })
        .collect();
    let n = groups.iter().rposition(|&g| g != 0).map_or(0, |i| i + 1);
    numeric_header(
        out,
        n as i16,
        weight as i16,
        if neg { 0x4000 } else { 0 },
        dscale,
    );
    for g in &groups[..n] {
        out.extend_from_slice(&g.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(text: &str, scale: u16) -> Vec<u8> {
        let mut out = Vec::new();
        numeric(&mut out, text, scale);
        out
    }

    fn be16(v: &[i16]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_be_bytes()).collect()
    }

    #[test]
    fn numeric_binary_form() {
        // 12345.678: groups 1 | 2345 . 6780, weight 1, dscale 3.
        assert_eq!(num("12345.678", 3), be16(&[3, 1, 0, 3, 1, 2345, 6780]));
        // -0.0001: one group 1 at weight -1.
        assert_eq!(num("-0.0001", 4), be16(&[1, -1, 0x4000u16 as i16, 4, 1]));
        // 0.00001: group 1000 at weight -2.
        assert_eq!(num("0.00001", 5), be16(&[1, -2, 0, 5, 1000]));
        // 10000: one group 1 at weight 1 (trailing zero groups dropped).
        assert_eq!(num("10000", 0), be16(&[1, 1, 0, 0, 1]));
        assert_eq!(num("0.00", 2), be16(&[0, 0, 0, 2]));
        let mut out = Vec::new();
        float_numeric(&mut out, 1.5e10);
        assert_eq!(out, num("15000000000", 0));
        let mut out = Vec::new();
        float_numeric(&mut out, 0.25);
        assert_eq!(out, num("0.25", 2));
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(pg_date(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap()), 0);
        assert_eq!(pg_date(NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()), -1);
        let t = DateTime::parse_from_rfc3339("2000-01-01T01:00:00+01:00").unwrap();
        assert_eq!(pg_micros(&t).unwrap(), 0);
        let t = DateTime::parse_from_rfc3339("2000-01-01T00:00:00.0000015Z").unwrap();
        assert_eq!(pg_micros(&t).unwrap(), 2, "1.5 µs rounds half to even");
    }

    #[test]
    fn range_and_uuid_errors() {
        let enc = PgEncode {
            columns: vec![
                EncodeColumn {
                    name: "n".into(),
                    target: PgType::Int4,
                },
                EncodeColumn {
                    name: "u".into(),
                    target: PgType::Uuid,
                },
            ],
            binary: true,
            key_idx: vec![],
        };
        let e = enc.encode(&[Value::Int(1 << 40), Value::Null]).unwrap_err();
        assert_eq!(
            e,
            "sink: column \"n\": 1099511627776 is out of range for integer"
        );
        let e = enc
            .encode(&[Value::Int(1), Value::Text("nope".into())])
            .unwrap_err();
        assert!(e.contains("column \"u\"") && e.contains("uuid"), "{e}");
        let ok = enc
            .encode(&[
                Value::Int(7),
                Value::Text("123e4567-e89b-12d3-a456-426614174000".into()),
            ])
            .unwrap();
        assert_eq!(ok.len(), 2 + 4 + 4 + 4 + 16);
        let text = PgEncode {
            binary: false,
            ..enc
        };
        assert_eq!(
            text.encode(&[Value::Int(7), Value::Text("a\tb\\".into())])
                .unwrap(),
            b"7\ta\\tb\\\\\n"
        );
        assert_eq!(
            text.encode(&[Value::Null, Value::Null]).unwrap(),
            b"\\N\t\\N\n"
        );
    }

    #[test]
    fn floats_refuse_what_they_cannot_hold_in_both_formats() {
        for binary in [true, false] {
            let enc = PgEncode {
                columns: vec![
                    EncodeColumn {
                        name: "d".into(),
                        target: PgType::Float8,
                    },
                    EncodeColumn {
                        name: "r".into(),
                        target: PgType::Float4,
                    },
                ],
                binary,
                key_idx: vec![],
            };
            let e = enc
                .encode(&[Value::Int((1 << 53) + 1), Value::Null])
                .unwrap_err();
            assert!(e.contains("column \"d\"") && e.contains("exactly"), "{e}");
            let e = enc.encode(&[Value::Null, Value::Float(1e-50)]).unwrap_err();
            assert!(
                e.contains("column \"r\"") && e.contains("out of range"),
                "{e}"
            );
            let e = enc.encode(&[Value::Null, Value::Float(1e300)]).unwrap_err();
            assert!(e.contains("out of range"), "{e}");
            let e = enc
                .encode(&[Value::Null, Value::Int(16_777_217)])
                .unwrap_err();
            assert!(e.contains("exactly in real"), "{e}");
            assert!(
                enc.encode(&[Value::Int(1 << 53), Value::Float(0.0)])
                    .is_ok()
            );
        }
    }
}
