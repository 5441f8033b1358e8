//! Type inference: narrow a set of candidate types with every value seen.

use super::DataType;
use super::parse::{
    is_decimal_literal, is_float_literal, parse_date, parse_float, parse_int, parse_timestamp,
};

/// The most places after the point of a column inferred as an exact decimal rather
/// than a float (money, rates, coordinates to the metre).
pub const MONEY_SCALE: u32 = 4;

/// The date layouts inference recognises besides ISO `YYYY-MM-DD`, as PostgreSQL
/// templates (a day or month may be written with one digit).
pub const DATE_LAYOUTS: [&str; 5] = [
    "MM/DD/YYYY",
    "DD/MM/YYYY",
    "DD.MM.YYYY",
    "YYYY/MM/DD",
    "DD-MM-YYYY",
];
const ALL_LAYOUTS: u8 = (1 << DATE_LAYOUTS.len()) - 1;

/// A column as inference found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inferred {
    /// Its type.
    pub ty: DataType,
    /// Its size (an exact decimal's `numeric(p,s)`).
    pub size: super::TypeSize,
    /// The layout of its dates, when they are dates in one of [`DATE_LAYOUTS`].
    pub date_format: Option<&'static str>,
    /// Its values are dates both as `MM/DD/YYYY` and as `DD/MM/YYYY` (every day is 12 or
    /// less): left text.
    pub ambiguous_dates: bool,
    /// Its values are ISO timestamps without an offset (`2021-07-20 14:03:00`): left
    /// text, unless the source has a time zone.
    pub zoneless_timestamps: bool,
}

/// The layouts of [`DATE_LAYOUTS`] `v` is a valid date in (a bit per layout).
fn layouts_of(v: &str) -> u8 {
    if !(8..=10).contains(&v.len()) {
        return 0;
    }
    let sep = match v.bytes().find(|b| !b.is_ascii_digit()) {
        Some(b @ (b'/' | b'.' | b'-')) => b as char,
        _ => return 0,
    };
    let mut it = v.split(sep);
    let (Some(a), Some(b), Some(c), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return 0;
    };
    let num = |p: &str| -> Option<u32> {
        (!p.is_empty() && p.bytes().all(|x| x.is_ascii_digit()))
            .then(|| p.parse().ok())
            .flatten()
    };
    let (Some(x), Some(y), Some(z)) = (num(a), num(b), num(c)) else {
        return 0;
    };
    let ok = |year: u32, month: u32, day: u32| {
        chrono::NaiveDate::from_ymd_opt(year as i32, month, day).is_some()
    };
    let short = |p: &str| p.len() <= 2;
    let mut mask = 0u8;
    match sep {
        '/' if short(a) && short(b) && c.len() == 4 => {
            if ok(z, x, y) {
                mask |= 1 << 0;
            }
            if ok(z, y, x) {
                mask |= 1 << 1;
            }
        }
        '/' if a.len() == 4 && short(b) && short(c) && ok(x, y, z) => mask |= 1 << 3,
        '.' if short(a) && short(b) && c.len() == 4 && ok(z, y, x) => mask |= 1 << 2,
        '-' if short(a) && short(b) && c.len() == 4 && ok(z, y, x) => mask |= 1 << 4,
        _ => {}
    }
    mask
}

/// A set of candidate types (bit set over [`DataType::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeSet(u8);

const fn bit(t: DataType) -> u8 {
    1 << (t as u8)
}

impl TypeSet {
    /// Every type is still possible.
    pub const ANY: TypeSet = TypeSet(0x7f);

    /// True when `t` is still a candidate.
    pub fn contains(self, t: DataType) -> bool {
        self.0 & bit(t) != 0
    }

    /// The candidates that `value` (a non-null field) fits.
    pub fn of(value: &str) -> TypeSet {
        let mut s = bit(DataType::Text);
        let b = value.as_bytes();
        let Some(&first) = b.first() else {
            return TypeSet(s);
        };
        if first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.') {
            if leading_zero(value) {
                // `007` or `01234` is an identifier (a zip code, an account number):
                // reading it as a number would drop the zeros.
                return TypeSet(s);
            }
            if parse_int(value).is_some() {
                s |= bit(DataType::Int);
            }
            let digits = significant_digits(value);
            if is_decimal_literal(value) && digits <= 28 {
                s |= bit(DataType::Decimal);
            }
            // A float only when an f64 holds the value as written (see `float_exact`).
            // Anything else stays decimal (when it fits) or text.
            if is_float_literal(value) && float_exact(value, digits) {
                s |= bit(DataType::Float);
            }
            if b.len() == 10 && parse_date(value).is_some() {
                s |= bit(DataType::Date);
            }
            if b.len() >= 20 && parse_timestamp(value, false).is_some() {
                s |= bit(DataType::Timestamp);
            }
        } else if matches!(first, b't' | b'T' | b'f' | b'F')
            && (value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false"))
        {
            s |= bit(DataType::Bool);
        }
        TypeSet(s)
    }

    /// Narrow by one more value.
    pub fn narrow(&mut self, value: &str) {
        // Fast path: once only text remains nothing can change.
        if self.0 != bit(DataType::Text) {
            self.0 &= TypeSet::of(value).0;
        }
    }

    /// The type to use: the most specific candidate. Integers that also fit a decimal
    /// stay `int`; plain decimals become `float` when every value has at most 15
    /// significant digits (an f64 holds them exactly as written), `decimal` otherwise.
    pub fn resolve(self, saw_value: bool, max_digits: u32) -> DataType {
        self.resolve_with(saw_value, max_digits, None)
    }

    /// [`TypeSet::resolve`], where `money` is the largest scale of a column whose values
    /// all are plain decimals and some have a point: up to [`MONEY_SCALE`] places it
    /// stays an exact decimal (`105.10`, `1812.46`), never a float.
    fn resolve_with(self, saw_value: bool, max_digits: u32, money: Option<u32>) -> DataType {
        if !saw_value {
            return DataType::Text;
        }
        if self.contains(DataType::Int) {
            return DataType::Int;
        }
        if self.contains(DataType::Decimal) {
            if money.is_some_and(|s| s <= MONEY_SCALE) {
                return DataType::Decimal;
            }
            return if max_digits <= 15 && self.contains(DataType::Float) {
                DataType::Float
            } else {
                DataType::Decimal
            };
        }
        for t in [
            DataType::Float,
            DataType::Bool,
            DataType::Date,
            DataType::Timestamp,
        ] {
            if self.contains(t) {
                return t;
            }
        }
        DataType::Text
    }
}

fn leading_zero(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    b.len() > 1 && b[0] == b'0' && b[1].is_ascii_digit()
}

/// True when an f64 holds the number written in `s` exactly as written: it is within
/// range (no overflow to infinity, no underflow to zero) and, beyond 15 significant
/// digits, the shortest text that reads back as the same f64 is the same number
/// (`0.30000000000000004` is exact; `0.1234567890123456789` would be rounded).
fn float_exact(s: &str, digits: u32) -> bool {
    let Some(v) = parse_float(s) else {
        return false;
    };
    digits <= 15 || canonical(s).is_some_and(|c| Some(c) == canonical(&format!("{v:e}")))
}

/// A number's text as (negative, significant digits, exponent), with the value
/// `0.DIGITS × 10^exponent`; zero is `(false, [], 0)`. `None` for an exponent that does
/// not fit an i64.
fn canonical(s: &str) -> Option<(bool, Vec<u8>, i64)> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i64>().ok()?),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    let lead = digits.iter().take_while(|&&d| d == b'0').count();
    digits.drain(..lead);
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        return Some((false, digits, 0));
    }
    let exp = exp.checked_add(i64::try_from(int.len()).ok()?)?;
    Some((neg, digits, exp.checked_sub(i64::try_from(lead).ok()?)?))
}

/// Significant digits of the mantissa (the exponent of `1.5e10` does not count).
fn significant_digits(s: &str) -> u32 {
    let mantissa = s.split(['e', 'E']).next().unwrap_or(s);
    let digits = mantissa.bytes().filter(u8::is_ascii_digit);
    let mut n = 0u32;
    let mut leading = true;
    for d in digits {
        if leading && d == b'0' {
            continue;
        }
        leading = false;
        n += 1;
    }
    n
}

/// Per-column inference state for a whole input.
#[derive(Debug, Clone)]
pub struct Inferrer {
    /// Per column, the date layouts of [`DATE_LAYOUTS`] every value so far fits.
    layouts: Vec<u8>,
    sets: Vec<TypeSet>,
    seen: Vec<bool>,
    digits: Vec<u32>,
    /// Per column, while it may be a decimal: the most digits before the point, the
    /// most after it, and whether a value had a point.
    shape: Vec<(u32, u32, bool)>,
    /// Per column, with [`Inferrer::with_json`]: every value so far is a JSON object
    /// or array.
    json: Option<Vec<bool>>,
    /// Per column: every value so far is a timestamp, with or without an offset.
    zoneless: Vec<bool>,
}

impl Inferrer {
    /// State for `n` columns.
    pub fn new(n: usize) -> Self {
        Inferrer {
            sets: vec![TypeSet::ANY; n],
            seen: vec![false; n],
            digits: vec![0; n],
            shape: vec![(0, 0, false); n],
            layouts: vec![ALL_LAYOUTS; n],
            json: None,
            zoneless: vec![true; n],
        }
    }

    /// Also find columns whose values are all JSON objects or arrays (JSON Lines'
    /// nested values): text of size [`TypeSize::Json`](super::TypeSize::Json).
    pub fn with_json(mut self) -> Self {
        self.json = Some(vec![true; self.sets.len()]);
        self
    }

    /// Feed one non-null field of column `i`.
    pub fn feed(&mut self, i: usize, value: &str) {
        let Some(set) = self.sets.get_mut(i) else {
            return;
        };
        set.narrow(value);
        self.seen[i] = true;
        if let Some(j) = self.json.as_mut().and_then(|j| j.get_mut(i))
            && *j
        {
            *j = value.starts_with(['{', '['])
                && serde_json::from_str::<serde::de::IgnoredAny>(value).is_ok();
        }
        // Timestamps, some (when the column ends as text) without an offset. While
        // every value has one, the type set says so already: nothing parsed twice.
        if self.zoneless[i] && !set.contains(DataType::Timestamp) {
            self.zoneless[i] = super::parse::is_zoneless_timestamp(value)
                || (value.len() >= 20 && parse_timestamp(value, false).is_some());
        }
        if self.layouts[i] != 0 {
            self.layouts[i] &= layouts_of(value);
        }
        if set.contains(DataType::Decimal) {
            self.digits[i] = self.digits[i].max(significant_digits(value));
            let body = value.strip_prefix(['+', '-']).unwrap_or(value);
            let (int, frac, point) = match body.split_once('.') {
                Some((a, b)) => (a, b, true),
                None => (body, "", false),
            };
            let int_digits = int.trim_start_matches('0').len() as u32;
            let sh = &mut self.shape[i];
            *sh = (
                sh.0.max(int_digits),
                sh.1.max(frac.len() as u32),
                sh.2 || point,
            );
        }
    }

    /// True once every column is known to be text (nothing more to learn).
    pub fn all_text(&self) -> bool {
        self.sets.iter().all(|s| *s == TypeSet(bit(DataType::Text)))
    }

    /// The inferred type of each column.
    pub fn finish(&self) -> Vec<DataType> {
        self.finish_sized().into_iter().map(|(t, _)| t).collect()
    }

    /// Each column as inferred: its type, size, and the layout of its dates when they
    /// are not ISO (`MM/DD/YYYY`), or why they were left text.
    pub fn finish_full(&self) -> Vec<Inferred> {
        self.finish_sized()
            .into_iter()
            .enumerate()
            .map(|(i, (ty, size))| {
                let l = self.layouts[i];
                let mut out = Inferred {
                    ty,
                    size,
                    date_format: None,
                    ambiguous_dates: false,
                    zoneless_timestamps: false,
                };
                if ty == DataType::Text && self.seen[i] && self.zoneless[i] {
                    out.zoneless_timestamps = true;
                }
                if ty == DataType::Text && self.seen[i] && l != 0 {
                    if l.count_ones() == 1 {
                        out.ty = DataType::Date;
                        out.date_format = Some(DATE_LAYOUTS[l.trailing_zeros() as usize]);
                    } else {
                        out.ambiguous_dates = true;
                    }
                }
                out
            })
            .collect()
    }

    /// The inferred type of each column, with the size every value seen fits: an
    /// exact decimal's `numeric(p,s)` (unbounded when it would need more than 28 digits).
    pub fn finish_sized(&self) -> Vec<(DataType, super::TypeSize)> {
        (0..self.sets.len())
            .map(|i| {
                let (int_digits, scale, point) = self.shape[i];
                let money = point.then_some(scale);
                let t = self.sets[i].resolve_with(self.seen[i], self.digits[i], money);
                let size = match t {
                    DataType::Decimal if point && int_digits + scale <= 28 => {
                        super::TypeSize::Numeric {
                            precision: (int_digits + scale).max(1),
                            scale,
                        }
                    }
                    DataType::Text if self.seen[i] && self.json.as_ref().is_some_and(|j| j[i]) => {
                        super::TypeSize::Json
                    }
                    _ => super::TypeSize::Any,
                };
                (t, size)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn infer(values: &[&str]) -> DataType {
        let mut inf = Inferrer::new(1);
        for v in values {
            inf.feed(0, v);
        }
        inf.finish()[0]
    }

    #[test]
    fn picks_most_specific() {
        assert_eq!(infer(&["1", "-2", "+3"]), DataType::Int);
        // A few places after the point: exact (money), never a float.
        assert_eq!(infer(&["1", "2.5"]), DataType::Decimal);
        assert_eq!(infer(&["1.5", "1e3"]), DataType::Float, "an exponent");
        assert_eq!(infer(&["3.14159", "2"]), DataType::Float, "five places");
        assert_eq!(infer(&["0.1234567890123456789"]), DataType::Decimal);
        assert_eq!(infer(&["99999999999999999999"]), DataType::Decimal);
        assert_eq!(infer(&["true", "False"]), DataType::Bool);
        assert_eq!(infer(&["2024-01-01"]), DataType::Date);
        assert_eq!(
            infer(&["2024-01-01T00:00:00Z", "2024-01-01 10:00:00+01:00"]),
            DataType::Timestamp
        );
        assert_eq!(infer(&["2024-01-01 10:00:00"]), DataType::Text);
        assert_eq!(infer(&["2024-01-01", "x"]), DataType::Text);
        assert_eq!(infer(&[]), DataType::Text);
        assert_eq!(infer(&["inf"]), DataType::Text);
        assert_eq!(infer(&["007"]), DataType::Text);
        assert_eq!(infer(&["0", "0.5"]), DataType::Decimal);
        assert_eq!(infer(&[" 1"]), DataType::Text);
    }

    #[test]
    fn date_layouts_are_found_and_ambiguity_kept_as_text() {
        let full = |values: &[&str]| {
            let mut inf = Inferrer::new(1);
            for v in values {
                inf.feed(0, v);
            }
            inf.finish_full()[0]
        };
        let us = full(&["07/20/2021", "12/31/1999", "1/2/2000"]);
        assert_eq!(
            (us.ty, us.date_format),
            (DataType::Date, Some("MM/DD/YYYY"))
        );
        let eu = full(&["20/07/2021", "03/04/2021"]);
        assert_eq!(eu.date_format, Some("DD/MM/YYYY"), "the 20th decides");
        let de = full(&["20.07.2021", "1.2.2000"]);
        assert_eq!(de.date_format, Some("DD.MM.YYYY"));
        assert_eq!(full(&["2021/07/20"]).date_format, Some("YYYY/MM/DD"));
        assert_eq!(full(&["20-07-2021"]).date_format, Some("DD-MM-YYYY"));
        let amb = full(&["03/04/2021", "05/06/2021"]);
        assert_eq!((amb.ty, amb.ambiguous_dates), (DataType::Text, true));
        // One value that is no date: text, not ambiguous.
        let mixed = full(&["07/20/2021", "soon"]);
        assert_eq!((mixed.ty, mixed.ambiguous_dates), (DataType::Text, false));
        assert_eq!(
            full(&["02/30/2021"]).ty,
            DataType::Text,
            "no 30th of February"
        );
        assert_eq!(full(&["2021-07-20"]).ty, DataType::Date);
        assert_eq!(
            full(&["2021-07-20"]).date_format,
            None,
            "ISO needs no format"
        );
    }

    #[test]
    fn money_gets_the_size_of_its_values() {
        let sized = |values: &[&str]| {
            let mut inf = Inferrer::new(1);
            for v in values {
                inf.feed(0, v);
            }
            inf.finish_sized()[0]
        };
        let n = |precision, scale| {
            (
                DataType::Decimal,
                crate::schema::TypeSize::Numeric { precision, scale },
            )
        };
        assert_eq!(sized(&["105.10", "1812.46", "-5"]), n(6, 2));
        assert_eq!(sized(&["0.0001", "12"]), n(6, 4));
        assert_eq!(sized(&["0.5"]), n(1, 1));
        // Beyond 28 digits in all: unbounded.
        assert_eq!(
            sized(&["12345678901234567890123456.5", "0.1234"]),
            (DataType::Decimal, crate::schema::TypeSize::Any)
        );
        assert_eq!(
            sized(&["1", "2"]),
            (DataType::Int, crate::schema::TypeSize::Any)
        );
    }

    #[test]
    fn json_values_only_when_asked_and_every_value_is_one() {
        use crate::schema::TypeSize;
        let sized = |json: bool, values: &[&str]| {
            let mut inf = Inferrer::new(1);
            if json {
                inf = inf.with_json();
            }
            for v in values {
                inf.feed(0, v);
            }
            inf.finish_sized()[0]
        };
        let obj = ["{\"city\":\"Paris\"}", "[1,2]", "[]"];
        assert_eq!(sized(true, &obj), (DataType::Text, TypeSize::Json));
        // CSV: text stays text, as written.
        assert_eq!(sized(false, &obj), (DataType::Text, TypeSize::Any));
        // A value that is not an object or array, or not JSON at all: text.
        assert_eq!(
            sized(true, &["[1,2]", "plain"]),
            (DataType::Text, TypeSize::Any)
        );
        assert_eq!(
            sized(true, &["[1,2", "{}"]),
            (DataType::Text, TypeSize::Any)
        );
        assert_eq!(sized(true, &["1", "2"]), (DataType::Int, TypeSize::Any));
    }

    #[test]
    fn timestamps_without_an_offset_are_flagged_not_typed() {
        let full = |values: &[&str]| {
            let mut inf = Inferrer::new(1);
            for v in values {
                inf.feed(0, v);
            }
            inf.finish_full()[0]
        };
        let f = full(&[
            "2021-07-20 14:03:00",
            "2021-07-20T14:03:00.5",
            "2021-07-20 14:03:00Z",
        ]);
        assert_eq!((f.ty, f.zoneless_timestamps), (DataType::Text, true));
        let f = full(&["2021-07-20 14:03:00Z"]);
        assert_eq!((f.ty, f.zoneless_timestamps), (DataType::Timestamp, false));
        let f = full(&["2021-07-20 14:03:00", "soon"]);
        assert_eq!((f.ty, f.zoneless_timestamps), (DataType::Text, false));
        let f = full(&["2021-07-20"]);
        assert_eq!((f.ty, f.zoneless_timestamps), (DataType::Date, false));
    }

    #[test]
    fn never_lossy() {
        // Too many digits for an f64 (or for a decimal): decimal, else text.
        assert_eq!(infer(&["1.5", "1234567890.1234567"]), DataType::Decimal);
        assert_eq!(
            infer(&["123456789012345678901234567890"]),
            DataType::Text,
            "30 digits fit neither i64, f64 exactly, nor a 28-digit decimal"
        );
        assert_eq!(
            infer(&["1.0000000000000000000000000000001"]),
            DataType::Text
        );
        assert_eq!(infer(&[&"9".repeat(400)]), DataType::Text);
        // Out of f64's range.
        assert_eq!(infer(&["1e400"]), DataType::Text);
        assert_eq!(infer(&["1E-400"]), DataType::Text);
        assert_eq!(infer(&["1.2345678901234567890e5"]), DataType::Text);
        // 17 digits that no f64 holds (the nearest one prints as ...568e21).
        assert_eq!(infer(&["12345678901234567e5"]), DataType::Text);
        // A float's shortest form (up to 17 digits) is exact; so is a short mantissa.
        assert_eq!(infer(&[&format!("{:e}", 1.0f64 / 3.0)]), DataType::Float);
        assert_eq!(infer(&["3.0000000000000004e-1"]), DataType::Float);
        assert_eq!(infer(&["1.5e300", "2"]), DataType::Float);
        // Plain numbers past 15 digits are decimals (exact), even when a float fits.
        assert_eq!(infer(&["0.30000000000000004"]), DataType::Decimal);
        assert_eq!(canonical("-0012.3400e2"), Some((true, b"1234".to_vec(), 4)));
        assert_eq!(canonical("0.000"), Some((false, vec![], 0)));
    }
}
