//! Text helpers: rendering values as text, and the string functions.
//!
//! Functions that only cut a string (`trim`, `split_part`, `substr`, `left`, `right`)
//! work on byte ranges so that a borrowed input stays borrowed and an owned input is
//! cut in place: no allocation.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::ops::Range;

use regex::{NoExpand, Regex};

use super::EvalError;
use crate::row::Value;

/// Upper bound for strings built by padding functions.
const MAX_BUILT_LEN: usize = 10_000_000;

/// Text form of a value (as in `||` and `CAST(x AS text)`). NULL renders as "".
pub(crate) fn render(v: &Value) -> String {
    let mut s = String::new();
    render_into(v, &mut s);
    s
}

/// Append the text form of a value.
pub(crate) fn render_into(v: &Value, out: &mut String) {
    // Writing to a String cannot fail, so the fmt::Results below are ignored.
    match v {
        Value::Null => {}
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => fmt_float(*f, out),
        Value::Decimal(d) => {
            let _ = write!(out, "{d}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // Same text as the rest of the crate (`Value`'s Display): `YYYY-MM-DD` and
        // RFC 3339 with the value's own offset.
        Value::Date(_) | Value::Timestamp(_) => {
            let _ = write!(out, "{v}");
        }
        Value::Text(s) => out.push_str(s),
    }
}

/// PostgreSQL's float8 output: shortest round-trip digits, exponent form when the
/// decimal exponent is below -4 or at least 15, `NaN`, `Infinity`, `-Infinity`.
pub(crate) fn fmt_float(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..15).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "{mantissa}e{sign}{:02}", exp.unsigned_abs());
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Keep `range` of `s` (a range of byte offsets on char boundaries).
pub(crate) fn slice_cow(s: Cow<'_, str>, range: Range<usize>) -> Cow<'_, str> {
    if range.start == 0 && range.end == s.len() {
        return s;
    }
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(b.get(range).unwrap_or("")),
        Cow::Owned(mut o) => {
            if range.start > range.end || range.end > o.len() {
                return Cow::Borrowed("");
            }
            if !o.is_char_boundary(range.start) || !o.is_char_boundary(range.end) {
                return Cow::Borrowed("");
            }
            o.truncate(range.end);
            o.drain(..range.start);
            Cow::Owned(o)
        }
    }
}

/// Byte offset of the `n`-th character (0-based); the length when `n` is past the end.
pub(crate) fn byte_at_char(s: &str, n: usize) -> usize {
    if s.is_ascii() {
        return n.min(s.len());
    }
    s.char_indices().nth(n).map(|(i, _)| i).unwrap_or(s.len())
}

/// Number of characters.
pub(crate) fn char_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// Which sides `trim` works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrimSide {
    Both,
    Leading,
    Trailing,
}

/// Range left after removing `chars` (any of them) from the chosen sides.
pub(crate) fn trim_range(s: &str, chars: &str, side: TrimSide) -> Range<usize> {
    let (start, end) = if chars == " " {
        (
            if side == TrimSide::Trailing {
                0
            } else {
                s.len() - s.trim_start_matches(' ').len()
            },
            if side == TrimSide::Leading {
                s.len()
            } else {
                s.trim_end_matches(' ').len()
            },
        )
    } else {
        let is_trim = |c: char| chars.contains(c);
        (
            if side == TrimSide::Trailing {
                0
            } else {
                s.len() - s.trim_start_matches(is_trim).len()
            },
            if side == TrimSide::Leading {
                s.len()
            } else {
                s.trim_end_matches(is_trim).len()
            },
        )
    };
    if end < start {
        start..start
    } else {
        start..end
    }
}

/// `lower(s)`: unchanged input is passed through.
pub(crate) fn lower(s: Cow<'_, str>) -> Cow<'_, str> {
    if s.is_ascii() {
        if !s.bytes().any(|b| b.is_ascii_uppercase()) {
            return s;
        }
        return match s {
            Cow::Borrowed(b) => Cow::Owned(b.to_ascii_lowercase()),
            Cow::Owned(mut o) => {
                o.make_ascii_lowercase();
                Cow::Owned(o)
            }
        };
    }
    Cow::Owned(s.to_lowercase())
}

/// `upper(s)`: unchanged input is passed through.
pub(crate) fn upper(s: Cow<'_, str>) -> Cow<'_, str> {
    if s.is_ascii() {
        if !s.bytes().any(|b| b.is_ascii_lowercase()) {
            return s;
        }
        return match s {
            Cow::Borrowed(b) => Cow::Owned(b.to_ascii_uppercase()),
            Cow::Owned(mut o) => {
                o.make_ascii_uppercase();
                Cow::Owned(o)
            }
        };
    }
    Cow::Owned(s.to_uppercase())
}

/// `initcap(s)`: first letter of each alphanumeric run upper case, the rest lower case.
pub(crate) fn initcap(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_alnum = false;
    for c in s.chars() {
        if prev_alnum {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        prev_alnum = c.is_alphanumeric();
    }
    out
}

/// `substr(s, start [, count])` with PostgreSQL semantics (1-based; a start before 1
/// shortens the result; a negative count is an error).
pub(crate) fn substr_range(
    s: &str,
    start: i64,
    count: Option<i64>,
) -> Result<Range<usize>, EvalError> {
    let first = start.max(1);
    let end = match count {
        Some(n) if n < 0 => return Err(EvalError::new("negative substring length not allowed")),
        Some(n) => Some(start.saturating_add(n)),
        None => None,
    };
    if let Some(e) = end
        && e <= first
    {
        return Ok(0..0);
    }
    let to_usize = |v: i64| usize::try_from(v).unwrap_or(usize::MAX);
    let b_start = byte_at_char(s, to_usize(first - 1));
    let b_end = match end {
        Some(e) => {
            let rest = s.get(b_start..).unwrap_or("");
            b_start + byte_at_char(rest, to_usize(e - first))
        }
        None => s.len(),
    };
    Ok(b_start..b_end)
}

/// `left(s, n)`: first n chars; negative n: all but the last |n|.
pub(crate) fn left_range(s: &str, n: i64) -> Range<usize> {
    let abs = usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX);
    if n >= 0 {
        0..byte_at_char(s, abs)
    } else {
        let keep = char_len(s).saturating_sub(abs);
        0..byte_at_char(s, keep)
    }
}

/// `right(s, n)`: last n chars; negative n: all but the first |n|.
pub(crate) fn right_range(s: &str, n: i64) -> Range<usize> {
    let abs = usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX);
    if n >= 0 {
        let skip = char_len(s).saturating_sub(abs);
        byte_at_char(s, skip)..s.len()
    } else {
        byte_at_char(s, abs)..s.len()
    }
}

/// `split_part(s, delim, n)`: PostgreSQL 14+ (negative n counts from the end, a field
/// past the end is empty, n = 0 is an error). `None` means the empty string.
pub(crate) fn split_part_range(
    s: &str,
    delim: &str,
    n: i64,
) -> Result<Option<Range<usize>>, EvalError> {
    if n == 0 {
        return Err(EvalError::new("field position must not be zero"));
    }
    if delim.is_empty() {
        return Ok(if n == 1 || n == -1 {
            Some(0..s.len())
        } else {
            None
        });
    }
    let index = if n > 0 {
        n - 1
    } else {
        let fields = i64::try_from(s.matches(delim).count())
            .unwrap_or(i64::MAX)
            .saturating_add(1);
        let i = fields + n;
        if i < 0 {
            return Ok(None);
        }
        i
    };
    // A one-byte delimiter (the usual case) is searched as a byte (memchr-like).
    let single = match delim.as_bytes() {
        [b] => Some(*b),
        _ => None,
    };
    let find = |rest: &str| match single {
        Some(b) => rest.bytes().position(|x| x == b),
        None => rest.find(delim),
    };
    let mut start = 0usize;
    let mut field = 0i64;
    loop {
        let rest = s.get(start..).unwrap_or("");
        match find(rest) {
            Some(i) => {
                if field == index {
                    return Ok(Some(start..start + i));
                }
                start += i + delim.len();
                field += 1;
            }
            None => {
                return Ok(if field == index {
                    Some(start..s.len())
                } else {
                    None
                });
            }
        }
    }
}

/// `replace(s, from, to)`; an empty `from` leaves `s` unchanged.
pub(crate) fn replace<'a>(s: Cow<'a, str>, from: &str, to: &str) -> Cow<'a, str> {
    if from.is_empty() || !s.contains(from) {
        return s;
    }
    Cow::Owned(s.replace(from, to))
}

/// `strpos(s, sub)`: 1-based char position, 0 when absent.
pub(crate) fn strpos(s: &str, sub: &str) -> i64 {
    match s.find(sub) {
        Some(i) => i64::try_from(char_len(s.get(..i).unwrap_or(""))).unwrap_or(i64::MAX) + 1,
        None => 0,
    }
}

/// `reverse(s)` by characters.
pub(crate) fn reverse(s: &str) -> String {
    s.chars().rev().collect()
}

/// `lpad` / `rpad`.
pub(crate) fn pad(s: &str, len: i64, fill: &str, left: bool) -> Result<String, EvalError> {
    if len <= 0 {
        return Ok(String::new());
    }
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > MAX_BUILT_LEN {
        return Err(EvalError::new("requested length too large"));
    }
    let have = char_len(s);
    if have >= len {
        return Ok(s.get(..byte_at_char(s, len)).unwrap_or(s).to_string());
    }
    if fill.is_empty() {
        return Ok(s.to_string());
    }
    let padding: String = fill.chars().cycle().take(len - have).collect();
    Ok(if left {
        padding + s
    } else {
        format!("{s}{padding}")
    })
}

/// Lower-case hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Both indexes are below 16.
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// `md5(s)` as lower-case hex.
pub(crate) fn md5_hex(s: &str) -> String {
    use md5::{Digest, Md5};
    hex(Md5::digest(s.as_bytes()).as_slice())
}

/// `sha256(s)` as lower-case hex.
pub(crate) fn sha256_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex(Sha256::digest(s.as_bytes()).as_slice())
}

/// Translate a PostgreSQL replacement string (`\1`..`\9`, `\&`, `\\`) for the regex
/// crate. Returns the text and whether it contains group references (`expand`); when it
/// does not, the text is the literal replacement.
pub(crate) fn pg_replacement(repl: &str) -> (String, bool) {
    let mut expand = false;
    let mut literal = String::with_capacity(repl.len());
    let mut templ = String::with_capacity(repl.len() + 8);
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek().copied() {
                Some(d @ '1'..='9') => {
                    chars.next();
                    expand = true;
                    templ.push_str("${");
                    templ.push(d);
                    templ.push('}');
                }
                Some('&') => {
                    chars.next();
                    expand = true;
                    templ.push_str("${0}");
                }
                Some('\\') => {
                    chars.next();
                    literal.push('\\');
                    templ.push('\\');
                }
                _ => {
                    literal.push('\\');
                    templ.push('\\');
                }
            },
            '$' => {
                literal.push('$');
                templ.push_str("$$");
            }
            other => {
                literal.push(other);
                templ.push(other);
            }
        }
    }
    if expand {
        (templ, true)
    } else {
        (literal, false)
    }
}

/// Apply a compiled regex replacement; an input without a match is passed through.
pub(crate) fn regex_replace<'a>(
    s: Cow<'a, str>,
    re: &Regex,
    repl: &str,
    expand: bool,
    global: bool,
) -> Cow<'a, str> {
    let out = match (expand, global) {
        (true, true) => re.replace_all(&s, repl),
        (true, false) => re.replace(&s, repl),
        (false, true) => re.replace_all(&s, NoExpand(repl)),
        (false, false) => re.replace(&s, NoExpand(repl)),
    };
    match out {
        Cow::Borrowed(_) => {
            drop(out);
            s
        }
        Cow::Owned(o) => Cow::Owned(o),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut s = String::new();
        fmt_float(v, &mut s);
        s
    }

    #[test]
    fn floats_render_like_postgres() {
        assert_eq!(f(1.5), "1.5");
        assert_eq!(f(100.0), "100");
        assert_eq!(f(199.92), "199.92");
        assert_eq!(f(1e20), "1e+20");
        assert_eq!(f(1.5e-7), "1.5e-07");
        assert_eq!(f(0.0001), "0.0001");
        assert_eq!(f(123456789012345.0), "123456789012345");
        assert_eq!(f(1234567890123456.0), "1.234567890123456e+15");
        assert_eq!(f(f64::NAN), "NaN");
        assert_eq!(f(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(f(0.0), "0");
    }

    #[test]
    fn ranges() {
        assert_eq!(substr_range("hello", 2, Some(3)).unwrap(), 1..4);
        assert_eq!(substr_range("hello", 0, Some(3)).unwrap(), 0..2);
        assert_eq!(substr_range("hello", -5, Some(3)).unwrap(), 0..0);
        assert_eq!(substr_range("hello", 4, None).unwrap(), 3..5);
        assert_eq!(substr_range("hello", 9, None).unwrap(), 5..5);
        assert!(substr_range("hello", 1, Some(-1)).is_err());
        assert_eq!(substr_range("héllo", 2, Some(2)).unwrap(), 1..4);
        assert_eq!(split_part_range("a,b,c", ",", 2).unwrap(), Some(2..3));
        assert_eq!(split_part_range("a,b,c", ",", -1).unwrap(), Some(4..5));
        assert_eq!(split_part_range("a,b,c", ",", 4).unwrap(), None);
        assert_eq!(split_part_range("a,b,c", ",", -4).unwrap(), None);
        assert!(split_part_range("a", ",", 0).is_err());
        assert_eq!(trim_range("  a b  ", " ", TrimSide::Both), 2..5);
        assert_eq!(trim_range("    ", " ", TrimSide::Both), 4..4);
        assert_eq!(left_range("abcde", -2), 0..3);
        assert_eq!(right_range("abcde", -2), 2..5);
        assert_eq!(right_range("abcde", 9), 0..5);
    }

    #[test]
    fn replacement_syntax() {
        assert_eq!(pg_replacement(r"\2-\1"), ("${2}-${1}".to_string(), true));
        assert_eq!(pg_replacement(r"$x"), ("$x".to_string(), false));
        assert_eq!(pg_replacement(r"[\&] $"), ("[${0}] $$".to_string(), true));
        assert_eq!(pg_replacement(r"a\\b"), (r"a\b".to_string(), false));
    }

    #[test]
    fn slicing_owned_and_borrowed() {
        assert_eq!(slice_cow(Cow::Owned("hello".to_string()), 1..3), "el");
        assert!(matches!(
            slice_cow(Cow::Borrowed("hello"), 1..3),
            Cow::Borrowed("el")
        ));
    }
}
