//! The typed values rows carry and their types: a leaf that rows, schemas, expressions
//! and sinks all build on.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;

/// The column types rowflow knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataType {
    /// 64-bit signed integer (`int`, `bigint`, `integer`).
    Int,
    /// 64-bit float (`float`, `double`, `double precision`, `real`, `float8`).
    Float,
    /// Exact decimal, up to 28 significant digits (`decimal`, `numeric`).
    Decimal,
    /// Boolean (`bool`, `boolean`).
    Bool,
    /// Calendar date, `YYYY-MM-DD` (`date`).
    Date,
    /// Instant with a UTC offset, RFC 3339 (`timestamp`, `timestamptz`).
    Timestamp,
    /// UTF-8 text (`text`, `varchar`, `string`).
    Text,
}

impl DataType {
    /// Every type, in the order inference prefers them.
    pub const ALL: [DataType; 7] = [
        DataType::Int,
        DataType::Decimal,
        DataType::Float,
        DataType::Bool,
        DataType::Date,
        DataType::Timestamp,
        DataType::Text,
    ];

    /// The canonical name, as printed by `rowflow schema` and accepted in pipeline files.
    pub fn name(self) -> &'static str {
        match self {
            DataType::Int => "int",
            DataType::Float => "float",
            DataType::Decimal => "decimal",
            DataType::Bool => "bool",
            DataType::Date => "date",
            DataType::Timestamp => "timestamp",
            DataType::Text => "text",
        }
    }

    /// The PostgreSQL spelling: what expressions (PostgreSQL-flavoured) cast to, and the
    /// column type of a table rowflow creates in PostgreSQL.
    pub fn postgres_name(self) -> &'static str {
        match self {
            DataType::Int => "bigint",
            DataType::Float => "double precision",
            DataType::Decimal => "numeric",
            DataType::Bool => "boolean",
            DataType::Date => "date",
            DataType::Timestamp => "timestamptz",
            DataType::Text => "text",
        }
    }

    /// True for int, float and decimal.
    pub fn is_numeric(self) -> bool {
        matches!(self, DataType::Int | DataType::Float | DataType::Decimal)
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for an unknown type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown type `{0}` (expected one of: int, float, decimal, numeric(p,s), bool, date, timestamp, text, varchar(n), json)"
)]
pub struct UnknownType(pub String);

impl FromStr for DataType {
    type Err = UnknownType;

    /// Accepts the canonical names and the usual SQL spellings, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase();
        let norm = norm.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(match norm.as_str() {
            "int" | "integer" | "bigint" | "int8" | "int4" | "smallint" | "i64" => DataType::Int,
            "float" | "double" | "double precision" | "real" | "float8" | "float4" | "f64" => {
                DataType::Float
            }
            "decimal" | "numeric" => DataType::Decimal,
            "bool" | "boolean" => DataType::Bool,
            "date" => DataType::Date,
            "timestamp" | "timestamptz" | "timestamp with time zone" | "datetime" => {
                DataType::Timestamp
            }
            "text" | "varchar" | "string" | "char" | "character varying" => DataType::Text,
            _ => return Err(UnknownType(s.to_string())),
        })
    }
}

/// What a declared type adds to its [`DataType`]: a decimal's precision and scale
/// (`numeric(12,2)`), or a text's largest length in characters (`varchar(40)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TypeSize {
    /// No bound: `numeric`, `text`, and every other type.
    #[default]
    Any,
    /// `numeric(precision, scale)`: values are rounded to `scale` places (half away
    /// from zero, as PostgreSQL does) and may have at most `precision - scale` digits
    /// before the point.
    Numeric {
        /// Significant digits in all (1 to 28).
        precision: u32,
        /// Digits after the point (at most `precision`).
        scale: u32,
    },
    /// `varchar(n)`: at most `n` characters.
    Chars(u32),
    /// `json`: text that is one JSON value (nested values of JSON Lines; `jsonb` in a
    /// created PostgreSQL table).
    Json,
}

impl TypeSize {
    /// A type name with its size (`numeric(12,2)`, `decimal(10)`, `varchar(40)`,
    /// `character varying(40)`, or any plain name [`DataType`] accepts).
    pub fn parse_type(s: &str) -> Result<(DataType, TypeSize), UnknownType> {
        let bad = || UnknownType(s.to_string());
        let Some(open) = s.find('(') else {
            if matches!(s.trim().to_ascii_lowercase().as_str(), "json" | "jsonb") {
                return Ok((DataType::Text, TypeSize::Json));
            }
            return Ok((s.parse()?, TypeSize::Any));
        };
        let base: DataType = s[..open].parse().map_err(|_| bad())?;
        let args = s[open + 1..].trim_end().strip_suffix(')').ok_or_else(bad)?;
        let nums: Vec<u32> = args
            .split(',')
            .map(|a| a.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        let name = s[..open].trim().to_ascii_lowercase();
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        match (base, name.as_str(), nums.as_slice()) {
            (DataType::Decimal, _, [p]) | (DataType::Decimal, _, [p, _])
                if !(1..=28).contains(p) =>
            {
                Err(UnknownType(format!(
                    "{s} (a numeric precision is from 1 to 28)"
                )))
            }
            (DataType::Decimal, _, [p]) => Ok((
                base,
                TypeSize::Numeric {
                    precision: *p,
                    scale: 0,
                },
            )),
            (DataType::Decimal, _, [p, sc]) if sc <= p => Ok((
                base,
                TypeSize::Numeric {
                    precision: *p,
                    scale: *sc,
                },
            )),
            (DataType::Decimal, _, [_, _]) => Err(UnknownType(format!(
                "{s} (the scale cannot be larger than the precision)"
            ))),
            (DataType::Text, "varchar" | "character varying", [n]) if *n >= 1 => {
                Ok((base, TypeSize::Chars(*n)))
            }
            _ => Err(bad()),
        }
    }

    /// `value` as a column of this size holds it: a decimal rounded to the scale, or
    /// why it does not fit.
    pub fn fit(self, value: Value) -> Result<Value, String> {
        match (self, value) {
            (TypeSize::Numeric { precision, scale }, Value::Decimal(d)) => {
                // Rounded when it has more places than the scale; fewer are kept as
                // written (the servers pad them; SQLite's text keeps them as given).
                let r = if d.scale() > scale {
                    d.round_dp_with_strategy(
                        scale,
                        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                    )
                } else {
                    d
                };
                let int_digits = {
                    let t = r.abs().trunc();
                    if t.is_zero() {
                        0
                    } else {
                        t.to_string().len() as u32
                    }
                };
                if int_digits > precision - scale {
                    return Err(format!(
                        "{d} does not fit numeric({precision},{scale}) (at most {} digits before \
                         the point)",
                        precision - scale
                    ));
                }
                Ok(Value::Decimal(r))
            }
            (TypeSize::Chars(n), Value::Text(t)) => {
                let len = t.chars().count();
                if len > n as usize {
                    return Err(format!(
                        "a value of {len} characters does not fit varchar({n})"
                    ));
                }
                Ok(Value::Text(t))
            }
            (TypeSize::Json, Value::Text(t)) => {
                match serde_json::from_str::<serde::de::IgnoredAny>(&t) {
                    Ok(_) => Ok(Value::Text(t)),
                    Err(e) => Err(format!("the value is not valid JSON ({e})")),
                }
            }
            (_, v) => Ok(v),
        }
    }

    /// The size as written after a type name (`(12,2)`, `(40)`), empty for none.
    pub fn suffix(self) -> String {
        match self {
            TypeSize::Any | TypeSize::Json => String::new(),
            TypeSize::Numeric { precision, scale } => format!("({precision},{scale})"),
            TypeSize::Chars(n) => format!("({n})"),
        }
    }
}

/// One typed value. `Null` is SQL NULL.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// 64-bit signed integer.
    Int(i64),
    /// 64-bit float.
    Float(f64),
    /// Exact decimal (up to 28 significant digits).
    Decimal(Decimal),
    /// Boolean.
    Bool(bool),
    /// Calendar date.
    Date(NaiveDate),
    /// Instant with the UTC offset it was written with.
    Timestamp(DateTime<FixedOffset>),
    /// UTF-8 text.
    Text(String),
}

impl Value {
    /// True for SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The type of a non-null value; `None` for NULL.
    pub fn data_type(&self) -> Option<DataType> {
        Some(match self {
            Value::Null => return None,
            Value::Int(_) => DataType::Int,
            Value::Float(_) => DataType::Float,
            Value::Decimal(_) => DataType::Decimal,
            Value::Bool(_) => DataType::Bool,
            Value::Date(_) => DataType::Date,
            Value::Timestamp(_) => DataType::Timestamp,
            Value::Text(_) => DataType::Text,
        })
    }
}

/// Text form used for display, the reject file and text-typed sinks. NULL prints as
/// the empty string; timestamps as RFC 3339 with their offset; dates as `YYYY-MM-DD`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Decimal(v) => write!(f, "{v}"),
            Value::Bool(v) => f.write_str(if *v { "true" } else { "false" }),
            Value::Date(v) => write_date(f, *v),
            Value::Timestamp(v) => write_timestamp(f, v),
            Value::Text(v) => f.write_str(v),
        }
    }
}

fn write_date(f: &mut impl fmt::Write, d: NaiveDate) -> fmt::Result {
    use chrono::Datelike;
    let y = d.year();
    if (0..=9999).contains(&y) {
        write!(f, "{y:04}-{:02}-{:02}", d.month(), d.day())
    } else {
        write!(f, "{y:+05}-{:02}-{:02}", d.month(), d.day())
    }
}

/// RFC 3339 with the value's own offset (`+00:00` for UTC), fractional seconds only
/// when present. Written by hand: this runs for every timestamp a sink stores as text.
fn write_timestamp(f: &mut impl fmt::Write, t: &DateTime<FixedOffset>) -> fmt::Result {
    use chrono::Timelike;
    write_date(f, t.date_naive())?;
    let (h, m, s) = (t.hour(), t.minute(), t.second());
    write!(f, "T{h:02}:{m:02}:{s:02}")?;
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        if nanos.is_multiple_of(1_000_000) {
            write!(f, ".{:03}", nanos / 1_000_000)?;
        } else if nanos.is_multiple_of(1_000) {
            write!(f, ".{:06}", nanos / 1_000)?;
        } else {
            write!(f, ".{nanos:09}")?;
        }
    }
    let off = t.offset().local_minus_utc();
    let sign = if off < 0 { '-' } else { '+' };
    let off = off.abs();
    write!(f, "{sign}{:02}:{:02}", off / 3600, (off % 3600) / 60)
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
