//! Text → typed value, with the exact rules documented in `docs/pipeline.md`.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use std::str::FromStr;

use super::DataType;
use crate::row::Value;

/// Parse one non-null field as `ty`. The error is a short reason such as
/// `"abc" is not a valid int`.
pub fn parse_value(text: &str, ty: DataType) -> Result<Value, String> {
    let bad = || format!("{} is not a valid {ty}", crate::format::quote_value(text));
    match ty {
        DataType::Text => Ok(Value::Text(text.to_string())),
        DataType::Int => parse_int(text.trim()).map(Value::Int).ok_or_else(|| {
            if is_integer_literal(text.trim()) {
                format!(
                    "{} is out of range for int (use decimal or text)",
                    crate::format::quote_value(text)
                )
            } else {
                bad()
            }
        }),
        DataType::Float => parse_float(text.trim()).map(Value::Float).ok_or_else(|| {
            if is_float_literal(text.trim()) {
                format!(
                    "{} is out of range for float (use decimal or text)",
                    crate::format::quote_value(text)
                )
            } else {
                bad()
            }
        }),
        DataType::Decimal => parse_decimal(text.trim())
            .map(Value::Decimal)
            .ok_or_else(bad),
        DataType::Bool => parse_bool(text.trim()).map(Value::Bool).ok_or_else(bad),
        DataType::Date => parse_date(text.trim()).map(Value::Date).ok_or_else(bad),
        DataType::Timestamp => parse_timestamp(text.trim(), true)
            .map(Value::Timestamp)
            .ok_or_else(|| {
                if fraction_digits(text.trim()) > 9 {
                    format!(
                        "{} has more than 9 fractional digits of a second: nanoseconds are the \
                         finest rowflow keeps (round the value, or load it as text)",
                        crate::format::quote_value(text)
                    )
                } else {
                    bad()
                }
            }),
    }
}

/// Digits after the seconds' decimal point of a timestamp (`HH:MM:SS.fffff...`).
fn fraction_digits(s: &str) -> usize {
    let b = s.as_bytes();
    if b.len() < 20 || b[19] != b'.' {
        return 0;
    }
    b[20..].iter().take_while(|c| c.is_ascii_digit()).count()
}

/// A leap second (`23:59:60`, any `:60`) as PostgreSQL reads it: the first second of the
/// next minute (the fraction kept). chrono holds it as second 59 with a nanosecond count
/// of a second or more.
fn leap_to_next_minute(t: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
    use chrono::Timelike;
    let ns = t.nanosecond();
    if ns < 1_000_000_000 {
        return t;
    }
    t.with_nanosecond(ns - 1_000_000_000)
        .and_then(|x| x.checked_add_signed(chrono::TimeDelta::seconds(1)))
        .unwrap_or(t)
}

/// `[+-]digits` that fits in i64.
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    if !is_integer_literal(s) {
        return None;
    }
    s.parse::<i64>().ok()
}

pub(crate) fn is_integer_literal(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A plain decimal literal: `[+-]digits[.digits]` or `[+-].digits`, no exponent.
pub(crate) fn is_decimal_literal(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    (!int.is_empty() || !frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// A numeric literal with digits (decimal form, optionally with an exponent).
/// Words such as `inf` or `NaN` are accepted only by [`parse_float`] for explicit
/// float columns, never by inference.
pub(crate) fn is_float_literal(s: &str) -> bool {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    is_decimal_literal(mantissa)
        && exp.is_none_or(|e| {
            let d = e.strip_prefix(['+', '-']).unwrap_or(e);
            !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
        })
}

pub(crate) fn parse_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "nan" => return Some(f64::NAN),
        "inf" | "infinity" | "+inf" | "+infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    if !is_float_literal(s) {
        return None;
    }
    // Out of range, as in PostgreSQL: a literal that overflows to infinity, or a
    // non-zero literal that underflows to zero (subnormals are accepted).
    let v = s.parse::<f64>().ok()?;
    let nonzero = || {
        let mantissa = s.split(['e', 'E']).next().unwrap_or(s);
        mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b))
    };
    if v.is_infinite() || (v == 0.0 && nonzero()) {
        return None;
    }
    Some(v)
}

pub(crate) fn parse_decimal(s: &str) -> Option<Decimal> {
    if is_decimal_literal(s) {
        Decimal::from_str_exact(s).ok()
    } else if is_float_literal(s) {
        Decimal::from_scientific(s).ok()
    } else {
        None
    }
}

pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "on" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// Strict `YYYY-MM-DD` (hand-parsed: this runs for every date field).
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    NaiveDate::from_ymd_opt(
        digits(&b[0..4])? as i32,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
    )
}

/// The common shape `YYYY-MM-DD[T ]HH:MM:SS[.fraction](Z|±HH:MM)`, hand-parsed.
fn parse_timestamp_fast(s: &str) -> Option<DateTime<FixedOffset>> {
    let b = s.as_bytes();
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let date = parse_date(&s[..10])?;
    let (h, mi, sec) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    let mut i = 19;
    let mut nanos = 0u32;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &b[start..i];
        if frac.is_empty() || frac.len() > 9 {
            return None;
        }
        nanos = digits(frac)? * 10u32.pow(9 - frac.len() as u32);
    }
    let offset = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
            let v = (digits(&[*oh1, *oh2])? * 3600 + digits(&[*om1, *om2])? * 60) as i32;
            if *sign == b'-' { -v } else { v }
        }
        _ => return None,
    };
    let tz = FixedOffset::east_opt(offset)?;
    let naive = date.and_hms_nano_opt(h, mi, sec, nanos)?;
    naive.and_local_timezone(tz).single()
}

/// RFC 3339 (`T` or a space between date and time, `Z` or `±HH:MM`). With
/// `allow_naive`, a date-time without an offset is taken as UTC.
pub(crate) fn parse_timestamp(s: &str, allow_naive: bool) -> Option<DateTime<FixedOffset>> {
    parse_timestamp_any(s, allow_naive).map(leap_to_next_minute)
}

fn parse_timestamp_any(s: &str, allow_naive: bool) -> Option<DateTime<FixedOffset>> {
    if s.len() < 19 || fraction_digits(s) > 9 {
        return None;
    }
    if let Some(t) = parse_timestamp_fast(s) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%#z") {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z") {
        return Some(t);
    }
    if allow_naive {
        return naive_timestamp(s).map(|t| t.and_utc().fixed_offset());
    }
    None
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.fraction]` without an offset.
fn naive_timestamp(s: &str) -> Option<NaiveDateTime> {
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|fmt| NaiveDateTime::parse_from_str(s, fmt).ok())
}

/// A timestamp with its offset as written, or without one read in `zone` (see
/// [`Zone::localize`](super::zone::Zone::localize)).
pub(crate) fn parse_timestamp_in(
    s: &str,
    zone: &super::zone::Zone,
) -> Option<DateTime<FixedOffset>> {
    if let Some(t) = parse_timestamp(s, false) {
        return Some(t);
    }
    if s.len() < 19 || fraction_digits(s) > 9 {
        return None;
    }
    zone.localize(naive_timestamp(s)?).map(leap_to_next_minute)
}

/// A value of an ISO timestamp without an offset (`2021-07-20 14:03:00`), the shape
/// inference leaves text unless a zone is set.
pub(crate) fn is_zoneless_timestamp(s: &str) -> bool {
    s.len() >= 19
        && s.as_bytes()[0].is_ascii_digit()
        && fraction_digits(s) <= 9
        && naive_timestamp(s).is_some()
}

impl FromStr for Value {
    type Err = std::convert::Infallible;
    /// Text value; use [`parse_value`] for typed parsing.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Value::Text(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leap_seconds_roll_over_and_sub_nanoseconds_are_refused() {
        let ts = |s: &str| match parse_value(s, DataType::Timestamp) {
            Ok(Value::Timestamp(t)) => Ok(t.to_rfc3339()),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        // As PostgreSQL: '2016-12-31 23:59:60'::timestamptz is 2017-01-01 00:00:00.
        assert_eq!(
            ts("2016-12-31T23:59:60Z").unwrap(),
            "2017-01-01T00:00:00+00:00"
        );
        assert_eq!(
            ts("2016-12-31 23:59:60.5+00:00").unwrap(),
            "2017-01-01T00:00:00.500+00:00"
        );
        assert_eq!(
            ts("2020-06-30T12:34:60Z").unwrap(),
            "2020-06-30T12:35:00+00:00"
        );
        assert_eq!(
            ts("2020-01-01T00:00:00.123456789Z").unwrap(),
            "2020-01-01T00:00:00.123456789+00:00"
        );
        let e = ts("2020-01-01T00:00:00.1234567891Z").unwrap_err();
        assert!(e.contains("more than 9 fractional digits"), "{e}");
    }

    #[test]
    fn ints() {
        assert_eq!(parse_value("42", DataType::Int), Ok(Value::Int(42)));
        assert_eq!(parse_value(" -7 ", DataType::Int), Ok(Value::Int(-7)));
        assert!(parse_value("1.5", DataType::Int).is_err());
        let e = parse_value("99999999999999999999", DataType::Int).unwrap_err();
        assert!(e.contains("out of range"), "{e}");
        assert_eq!(
            parse_value("-9223372036854775808", DataType::Int),
            Ok(Value::Int(i64::MIN))
        );
    }

    #[test]
    fn decimals_are_exact() {
        let Value::Decimal(d) = parse_value("12.50", DataType::Decimal).unwrap() else {
            panic!()
        };
        assert_eq!(d.to_string(), "12.50");
        assert!(parse_value("1e3", DataType::Decimal).is_ok());
        assert!(parse_value("abc", DataType::Decimal).is_err());
    }

    #[test]
    fn floats() {
        assert_eq!(
            parse_value("1e3", DataType::Float),
            Ok(Value::Float(1000.0))
        );
        assert!(matches!(parse_value("NaN", DataType::Float), Ok(Value::Float(f)) if f.is_nan()));
        assert!(parse_value("1,5", DataType::Float).is_err());
        assert!(!is_float_literal("inf"));
        assert!(is_float_literal("-.5e-3"));
        assert!(!is_float_literal("."));
    }

    #[test]
    fn dates_and_timestamps() {
        assert!(parse_value("2024-02-29", DataType::Date).is_ok());
        assert!(parse_value("2023-02-29", DataType::Date).is_err());
        assert!(parse_value("2024-2-9", DataType::Date).is_err());
        let Value::Timestamp(t) =
            parse_value("2021-03-04T05:06:07+05:30", DataType::Timestamp).unwrap()
        else {
            panic!()
        };
        assert_eq!(t.timestamp(), 1614814567);
        assert_eq!(t.offset().local_minus_utc(), 19800);
        assert!(parse_timestamp("2021-03-04T05:06:07Z", false).is_some());
        assert!(parse_timestamp("2021-03-04 05:06:07.123+01:00", false).is_some());
        assert!(parse_timestamp("2021-03-04 05:06:07", false).is_none());
        assert!(parse_timestamp("2021-03-04 05:06:07", true).is_some());
    }

    #[test]
    fn fast_timestamp_path_agrees_with_chrono() {
        for s in [
            "2021-03-04T05:06:07+05:30",
            "2021-03-04 05:06:07Z",
            "2021-03-04T05:06:07.5-08:00",
            "2021-03-04T05:06:07.123456789+00:00",
            "1970-01-01T00:00:00Z",
        ] {
            let fast = parse_timestamp_fast(s).unwrap();
            let chrono = DateTime::parse_from_rfc3339(&s.replace(' ', "T")).unwrap();
            assert_eq!(fast, chrono, "{s}");
            assert_eq!(fast.offset(), chrono.offset(), "{s}");
        }
        for bad in [
            "2021-03-04T25:06:07Z",
            "2021-13-04T05:06:07Z",
            "2021-03-04T05:06:07+5:30",
            "2021-03-04T05:06:07.",
        ] {
            assert!(parse_timestamp_fast(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn bools() {
        assert_eq!(parse_value("TRUE", DataType::Bool), Ok(Value::Bool(true)));
        assert_eq!(parse_value("0", DataType::Bool), Ok(Value::Bool(false)));
        assert!(parse_value("maybe", DataType::Bool).is_err());
    }
}
