//! Static types at plan time (unification, literal coercion) and casts at row time.

use std::borrow::Cow;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use sqlparser::ast::{self, ExactNumberInfo};
use sqlparser::tokenizer::Span;

use super::EvalError;
use super::node::Node;
use super::text;
use crate::row::Value;
use crate::schema::{DataType, parse_value};

/// What kind of literal a compiled subexpression is, for PostgreSQL-style coercion of
/// untyped literals (`visits > '10'` compares as int).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lit {
    /// Not a bare literal.
    No,
    /// The `NULL` literal: adopts any type.
    Null,
    /// A string literal: adopts the other operand's type, parsed at plan time.
    Str,
}

/// A compiled subexpression with its static type.
#[derive(Debug, Clone)]
pub(crate) struct Typed {
    pub node: Node,
    pub ty: DataType,
    pub lit: Lit,
    /// The column name when the subexpression is a bare column reference.
    pub col: Option<String>,
    /// Where it is in the SQL text.
    pub span: Span,
}

impl Typed {
    pub(crate) fn new(node: Node, ty: DataType, span: Span) -> Typed {
        Typed {
            node,
            ty,
            lit: Lit::No,
            col: None,
            span,
        }
    }

    /// The string of a string literal.
    pub(crate) fn str_lit(&self) -> Option<&str> {
        match (&self.node, self.lit) {
            (Node::Const(Value::Text(s)), Lit::Str) => Some(s),
            _ => None,
        }
    }

    /// ` (column "x")` when this is a column reference, for messages.
    pub(crate) fn col_note(&self) -> String {
        match &self.col {
            Some(c) => format!(" (column \"{c}\")"),
            None => String::new(),
        }
    }

    /// Type name for messages: string literals are "unknown"-typed text.
    pub(crate) fn type_name(&self) -> &'static str {
        match self.lit {
            Lit::Null => "null",
            _ => self.ty.name(),
        }
    }
}

/// Fold a node whose inputs are all constants into a constant. Errors are left for
/// row time (the branch may never be taken, as in `CASE WHEN false THEN 1/0 END`).
pub(crate) fn fold(node: Node) -> Node {
    if matches!(node, Node::Const(_)) || !node.is_const() {
        return node;
    }
    match node.eval(&[]) {
        Ok(v) => Node::Const(v.into_owned()),
        Err(_) => node,
    }
}

/// Numeric widening rank.
fn rank(t: DataType) -> u8 {
    match t {
        DataType::Int => 0,
        DataType::Decimal => 1,
        _ => 2,
    }
}

/// The common type of two known types, if any (numbers widen int → decimal → float,
/// date widens to timestamp).
pub(crate) fn common(a: DataType, b: DataType) -> Option<DataType> {
    if a == b {
        return Some(a);
    }
    if a.is_numeric() && b.is_numeric() {
        return Some(if rank(a) >= rank(b) { a } else { b });
    }
    match (a, b) {
        (DataType::Date, DataType::Timestamp) | (DataType::Timestamp, DataType::Date) => {
            Some(DataType::Timestamp)
        }
        _ => None,
    }
}

/// Resolve the common type of several subexpressions, PostgreSQL-style: typed
/// expressions decide, string literals follow, NULL adopts anything; all-literal is text.
pub(crate) fn unify(items: &[&Typed]) -> Result<DataType, (DataType, DataType)> {
    let mut ty: Option<DataType> = None;
    for t in items.iter().filter(|t| t.lit == Lit::No) {
        ty = Some(match ty {
            None => t.ty,
            Some(prev) => common(prev, t.ty).ok_or((prev, t.ty))?,
        });
    }
    Ok(ty.unwrap_or(DataType::Text))
}

/// Parse a literal string as `ty` at plan time. Timestamps also accept a bare date and
/// `+HH` offsets; numbers may carry surrounding spaces.
pub(crate) fn parse_literal(s: &str, ty: DataType) -> Result<Value, String> {
    if ty == DataType::Timestamp {
        return parse_timestamp_lenient(s)
            .map(Value::Timestamp)
            .ok_or_else(|| format!("{} is not a valid timestamp", crate::format::quote_value(s)));
    }
    parse_value(s, ty)
}

/// Timestamps as PostgreSQL accepts them: RFC 3339 / `YYYY-MM-DD HH:MM:SS[.f][offset]`,
/// a bare date (midnight UTC), and offsets written `+HH` or `+HHMM`.
pub(crate) fn parse_timestamp_lenient(s: &str) -> Option<DateTime<FixedOffset>> {
    if let Ok(Value::Timestamp(t)) = parse_value(s, DataType::Timestamp) {
        return Some(t);
    }
    let t = s.trim();
    if let Ok(Value::Date(d)) = parse_value(t, DataType::Date) {
        return Some(date_to_ts(d));
    }
    // `... +05` / `... -0330`: normalise the offset to `+HH:MM`.
    let bytes = t.as_bytes();
    for width in [3usize, 5] {
        if bytes.len() > width + 10 {
            let cut = bytes.len() - width;
            let off = t.get(cut..)?;
            let body = t.get(..cut)?;
            let sign_ok = off.starts_with('+') || off.starts_with('-');
            let digits_ok = off.bytes().skip(1).all(|b| b.is_ascii_digit());
            if sign_ok && digits_ok {
                let fixed = if width == 3 {
                    format!("{body}{off}:00")
                } else {
                    format!("{body}{}:{}", off.get(..3)?, off.get(3..)?)
                };
                if let Ok(Value::Timestamp(ts)) = parse_value(&fixed, DataType::Timestamp) {
                    return Some(ts);
                }
            }
        }
    }
    None
}

/// Midnight UTC of a date.
pub(crate) fn date_to_ts(d: NaiveDate) -> DateTime<FixedOffset> {
    d.and_time(chrono::NaiveTime::MIN).and_utc().fixed_offset()
}

/// Decimal → float (always representable, possibly rounded).
pub(crate) fn dec_to_f64(d: Decimal) -> f64 {
    // Fast and correctly rounded when the mantissa and the power of ten are both exact
    // in a float: one IEEE division (the common case: money with 2 places).
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    let m = d.mantissa();
    if m.unsigned_abs() < (1u128 << 53)
        && let Some(p) = usize::try_from(d.scale()).ok().and_then(|s| POW10.get(s))
    {
        return m as f64 / p;
    }
    d.to_f64().unwrap_or(f64::NAN)
}

/// Float → decimal through the shortest decimal form (`0.1` stays `0.1`).
pub(crate) fn f64_to_dec(f: f64) -> Result<Decimal, EvalError> {
    if !f.is_finite() {
        return Err(EvalError::new(format!(
            "cannot convert {} to decimal",
            text::render(&Value::Float(f))
        )));
    }
    Decimal::from_str(&f.to_string())
        .or_else(|_| Decimal::from_scientific(&format!("{f:e}")))
        .map_err(|_| {
            EvalError::new(format!(
                "{} is out of range for decimal",
                text::render(&Value::Float(f))
            ))
        })
}

/// Float → int: rounds half to even (PostgreSQL's `rint`), errors when out of range.
pub(crate) fn f64_to_int(f: f64) -> Result<i64, EvalError> {
    let r = f.round_ties_even();
    // 2^63 is exactly representable; every float below it in magnitude fits in i64.
    if r.is_nan() || !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&r) {
        return Err(EvalError::new("integer out of range"));
    }
    Ok(r as i64)
}

/// Decimal → int: rounds half away from zero, errors when out of range.
pub(crate) fn dec_to_int(d: Decimal) -> Result<i64, EvalError> {
    d.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
        .ok_or_else(|| EvalError::new("integer out of range"))
}

/// The target of a cast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CastTo {
    Int,
    Float,
    /// `numeric(p, s)`: round to scale `s` and check precision `p`.
    Decimal {
        precision: Option<u32>,
        scale: Option<u32>,
    },
    Bool,
    Date,
    Timestamp,
    /// `varchar(n)`: truncate to n characters.
    Text {
        max_chars: Option<u32>,
    },
}

impl CastTo {
    pub(crate) fn plain(ty: DataType) -> CastTo {
        match ty {
            DataType::Int => CastTo::Int,
            DataType::Float => CastTo::Float,
            DataType::Decimal => CastTo::Decimal {
                precision: None,
                scale: None,
            },
            DataType::Bool => CastTo::Bool,
            DataType::Date => CastTo::Date,
            DataType::Timestamp => CastTo::Timestamp,
            DataType::Text => CastTo::Text { max_chars: None },
        }
    }

    pub(crate) fn data_type(self) -> DataType {
        match self {
            CastTo::Int => DataType::Int,
            CastTo::Float => DataType::Float,
            CastTo::Decimal { .. } => DataType::Decimal,
            CastTo::Bool => DataType::Bool,
            CastTo::Date => DataType::Date,
            CastTo::Timestamp => DataType::Timestamp,
            CastTo::Text { .. } => DataType::Text,
        }
    }

    fn has_modifier(self) -> bool {
        matches!(
            self,
            CastTo::Decimal { scale: Some(_), .. }
                | CastTo::Decimal {
                    precision: Some(_),
                    ..
                }
                | CastTo::Text { max_chars: Some(_) }
        )
    }
}

/// Whether a cast from `from` to `to` exists (text converts to anything by parsing).
pub(crate) fn castable(from: DataType, to: DataType) -> bool {
    use DataType::*;
    if from == to || from == Text || to == Text {
        return true;
    }
    match from {
        Int => matches!(to, Float | Decimal | Bool),
        Float | Decimal => matches!(to, Int | Float | Decimal),
        Bool => to == Int,
        Date => to == Timestamp,
        Timestamp => to == Date,
        Text => true,
    }
}

/// Map a SQL type from the AST (`double precision`, `numeric(12,2)`, `varchar(10)`,
/// `timestamptz`, ...) to a cast target.
pub(crate) fn cast_target(dt: &ast::DataType) -> Result<CastTo, String> {
    use ast::DataType as A;
    let numeric = |info: &ExactNumberInfo| -> Result<CastTo, String> {
        Ok(match info {
            ExactNumberInfo::None => CastTo::Decimal {
                precision: None,
                scale: None,
            },
            ExactNumberInfo::Precision(p) => CastTo::Decimal {
                precision: Some(check_precision(*p)?),
                scale: Some(0),
            },
            ExactNumberInfo::PrecisionAndScale(p, s) => {
                let p = check_precision(*p)?;
                let s = u32::try_from(*s)
                    .ok()
                    .filter(|s| *s <= p && *s <= 28)
                    .ok_or_else(|| {
                        format!(
                            "numeric scale {s} must be between 0 and the precision {p} (at most 28)"
                        )
                    })?;
                CastTo::Decimal {
                    precision: Some(p),
                    scale: Some(s),
                }
            }
        })
    };
    let text_len = |len: &Option<ast::CharacterLength>| -> CastTo {
        let max_chars = match len {
            Some(ast::CharacterLength::IntegerLength { length, .. }) => u32::try_from(*length).ok(),
            _ => None,
        };
        CastTo::Text { max_chars }
    };
    Ok(match dt {
        A::Numeric(info) | A::Decimal(info) | A::Dec(info) => numeric(info)?,
        A::Varchar(len) | A::CharacterVarying(len) | A::CharVarying(len) | A::Nvarchar(len) => {
            text_len(len)
        }
        // char(n) pads in PostgreSQL; we only support it without a length.
        A::Char(None) | A::Character(None) => CastTo::Text { max_chars: None },
        A::Timestamp(..) | A::Datetime(_) | A::TimestampNtz(_) => CastTo::Timestamp,
        A::Date => CastTo::Date,
        A::Bool | A::Boolean => CastTo::Bool,
        A::Text | A::String(_) => CastTo::Text { max_chars: None },
        A::DoublePrecision
        | A::Double(_)
        | A::Float8
        | A::Float64
        | A::Real
        | A::Float4
        | A::Float32 => CastTo::Float,
        A::Float(_) => CastTo::Float,
        A::Int(_)
        | A::Integer(_)
        | A::BigInt(_)
        | A::SmallInt(_)
        | A::Int2(_)
        | A::Int4(_)
        | A::Int8(_)
        | A::Int64 => CastTo::Int,
        other => {
            // Custom names such as `timestamptz` or `int8` spelled as identifiers.
            let name = other.to_string();
            let base = name.split('(').next().unwrap_or(&name);
            match DataType::from_str(base) {
                Ok(t) => CastTo::plain(t),
                Err(_) => {
                    return Err(format!(
                        "unsupported type `{name}` (supported: int, bigint, float, double precision, numeric[(p,s)], decimal, bool, date, timestamp, timestamptz, text, varchar[(n)])"
                    ));
                }
            }
        }
    })
}

fn check_precision(p: u64) -> Result<u32, String> {
    u32::try_from(p)
        .ok()
        .filter(|p| (1..=28).contains(p))
        .ok_or_else(|| format!("numeric precision {p} must be between 1 and 28"))
}

/// Apply `numeric(p, s)`: round half away from zero to `s` places, then check that the
/// integer part has at most `p - s` digits.
fn apply_numeric_mod(
    mut d: Decimal,
    precision: Option<u32>,
    scale: Option<u32>,
) -> Result<Decimal, EvalError> {
    if let Some(s) = scale {
        d = d.round_dp_with_strategy(s, RoundingStrategy::MidpointAwayFromZero);
        d.rescale(s);
    }
    if let Some(p) = precision {
        let s = scale.unwrap_or(0);
        let int_part = d.abs().trunc();
        let digits = if int_part.is_zero() {
            0
        } else {
            u32::try_from(int_part.to_string().trim_start_matches('-').len()).unwrap_or(u32::MAX)
        };
        if digits > p.saturating_sub(s) {
            return Err(EvalError::new(format!(
                "numeric field overflow: {d} does not fit numeric({p},{s}) (at most {} digits before the point)",
                p.saturating_sub(s)
            )));
        }
    }
    Ok(d)
}

fn cast_error(v: &Value, to: CastTo) -> EvalError {
    match v {
        Value::Text(s) => EvalError::new(format!(
            "cannot cast {} to {}",
            crate::format::quote_value(s),
            to.data_type()
        )),
        other => EvalError::new(format!(
            "cannot cast {} {} to {}",
            other.data_type().map(|t| t.name()).unwrap_or("null"),
            text::render(other),
            to.data_type()
        )),
    }
}

/// Cast a value at row time. The pair of types was checked by [`castable`] at plan time.
pub(crate) fn cast<'a>(v: Cow<'a, Value>, to: &CastTo) -> Result<Cow<'a, Value>, EvalError> {
    let to = *to;
    if v.is_null() {
        return Ok(v);
    }
    if v.data_type() == Some(to.data_type()) && !to.has_modifier() {
        return Ok(v);
    }
    let out = match (&*v, to) {
        (Value::Text(s), CastTo::Text { max_chars: Some(n) }) => {
            let end = text::byte_at_char(s, usize::try_from(n).unwrap_or(usize::MAX));
            if end == s.len() {
                return Ok(v);
            }
            Value::Text(s.get(..end).unwrap_or(s).to_string())
        }
        (other, CastTo::Text { max_chars }) => {
            let mut s = text::render(other);
            if let Some(n) = max_chars {
                let end = text::byte_at_char(&s, usize::try_from(n).unwrap_or(usize::MAX));
                s.truncate(end);
            }
            Value::Text(s)
        }
        (Value::Text(s), CastTo::Decimal { precision, scale }) => {
            match parse_value(s, DataType::Decimal) {
                Ok(Value::Decimal(d)) => Value::Decimal(apply_numeric_mod(d, precision, scale)?),
                _ => return Err(cast_error(&v, to)),
            }
        }
        (Value::Text(s), CastTo::Timestamp) => match parse_timestamp_lenient(s) {
            Some(t) => Value::Timestamp(t),
            None => return Err(cast_error(&v, to)),
        },
        (Value::Text(s), _) => match parse_value(s, to.data_type()) {
            Ok(val) => val,
            Err(_) => return Err(cast_error(&v, to)),
        },
        (Value::Int(i), CastTo::Float) => Value::Float(*i as f64),
        (Value::Int(i), CastTo::Decimal { precision, scale }) => {
            Value::Decimal(apply_numeric_mod(Decimal::from(*i), precision, scale)?)
        }
        (Value::Int(i), CastTo::Bool) => Value::Bool(*i != 0),
        (Value::Float(f), CastTo::Int) => Value::Int(f64_to_int(*f)?),
        (Value::Float(f), CastTo::Decimal { precision, scale }) => {
            Value::Decimal(apply_numeric_mod(f64_to_dec(*f)?, precision, scale)?)
        }
        (Value::Decimal(d), CastTo::Int) => Value::Int(dec_to_int(*d)?),
        (Value::Decimal(d), CastTo::Float) => Value::Float(dec_to_f64(*d)),
        (Value::Decimal(d), CastTo::Decimal { precision, scale }) => {
            Value::Decimal(apply_numeric_mod(*d, precision, scale)?)
        }
        (Value::Bool(b), CastTo::Int) => Value::Int(i64::from(*b)),
        (Value::Date(d), CastTo::Timestamp) => Value::Timestamp(date_to_ts(*d)),
        (Value::Timestamp(t), CastTo::Date) => Value::Date(t.date_naive()),
        _ => return Err(cast_error(&v, to)),
    };
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_timestamps() {
        let t = parse_timestamp_lenient("2020-01-01 00:00:00+00").unwrap();
        assert_eq!(t.timestamp(), 1577836800);
        let t = parse_timestamp_lenient("2020-01-01 05:30:00+0530").unwrap();
        assert_eq!(t.timestamp(), 1577836800);
        let t = parse_timestamp_lenient("2020-01-01").unwrap();
        assert_eq!(t.timestamp(), 1577836800);
        assert!(parse_timestamp_lenient("2020-01-01 25:00:00").is_none());
        assert!(parse_timestamp_lenient("x").is_none());
    }

    #[test]
    fn numeric_modifiers() {
        let d = Decimal::from_str("1234.565").unwrap();
        assert_eq!(
            apply_numeric_mod(d, Some(12), Some(2)).unwrap().to_string(),
            "1234.57"
        );
        assert_eq!(
            apply_numeric_mod(Decimal::from(5), Some(12), Some(2))
                .unwrap()
                .to_string(),
            "5.00"
        );
        assert!(apply_numeric_mod(d, Some(5), Some(2)).is_err());
        assert_eq!(
            apply_numeric_mod(Decimal::from_str("-0.5").unwrap(), Some(3), Some(0))
                .unwrap()
                .to_string(),
            "-1"
        );
    }

    #[test]
    fn float_conversions() {
        assert_eq!(f64_to_int(2.5).unwrap(), 2, "half to even, as PostgreSQL");
        assert_eq!(f64_to_int(3.5).unwrap(), 4);
        assert_eq!(f64_to_int(-2.5).unwrap(), -2);
        assert_eq!(f64_to_int(2.6).unwrap(), 3);
        assert!(f64_to_int(1e19).is_err());
        assert!(f64_to_int(f64::NAN).is_err());
        assert_eq!(f64_to_dec(0.1).unwrap().to_string(), "0.1");
        assert_eq!(f64_to_dec(199.92).unwrap().to_string(), "199.92");
        assert!(f64_to_dec(f64::INFINITY).is_err());
        assert!(f64_to_dec(1e300).is_err());
    }
}
