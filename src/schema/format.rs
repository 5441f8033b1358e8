//! Values written in a declared format (`[source.schema] col = { type = "date", format =
//! "MM/DD/YYYY" }`): dates and timestamps read with a PostgreSQL template, numbers with
//! a `to_number` template or with their separators and symbols named.

use crate::config::ColumnFormat;
use crate::expr::template::{DateTemplate, NumberTemplate};
use crate::row::Value;
use crate::value::DataType;

use super::zone::Zone;

/// How a column's text becomes its value.
#[derive(Debug, Clone)]
pub(crate) enum ValueFormat {
    /// A date by a template.
    Date(DateTemplate),
    /// A timestamp by a template; without `TZH` in it, in the zone (UTC when none).
    Timestamp(DateTemplate, Option<Zone>),
    /// A timestamp as usual (ISO), one without an offset read in the zone.
    Zoned(Zone),
    /// A number by a `to_number` template.
    Template(NumberTemplate, DataType),
    /// A number with other separators, symbols stripped.
    Separators {
        ty: DataType,
        decimal: char,
        thousands: Option<char>,
        strip: Vec<char>,
        shown: String,
    },
}

/// One character of a setting, or an error naming it.
fn one_char(col: &str, key: &str, v: &str) -> Result<char, String> {
    let mut it = v.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(format!(
            "source.schema.{col}.{key}: {v:?} must be one character"
        )),
    }
}

impl ValueFormat {
    /// The format `f` declares for column `col` of type `ty` (`None`: the type's usual
    /// text); `zone`: the source's time zone for timestamps written without one.
    pub(crate) fn of(
        col: &str,
        f: &ColumnFormat,
        ty: DataType,
        zone: Option<Zone>,
    ) -> Result<Option<ValueFormat>, String> {
        let zone = match &f.timezone {
            Some(_) if ty != DataType::Timestamp => {
                return Err(format!(
                    "source.schema.{col}: timezone is for timestamps, not {ty}"
                ));
            }
            Some(z) => {
                Some(Zone::parse(z).map_err(|e| format!("source.schema.{col}.timezone: {e}"))?)
            }
            None => zone,
        };
        let number_keys =
            f.decimal_separator.is_some() || f.thousands.is_some() || f.strip.is_some();
        let numeric = matches!(ty, DataType::Int | DataType::Float | DataType::Decimal);
        if number_keys && !numeric {
            return Err(format!(
                "source.schema.{col}: decimal_separator, thousands and strip are for numbers, not {ty}"
            ));
        }
        let bad = |e: String| format!("source.schema.{col}: {e}");
        match (ty, &f.format) {
            (DataType::Date, Some(t)) => Ok(Some(ValueFormat::Date(
                DateTemplate::parse(t).map_err(bad)?,
            ))),
            (DataType::Timestamp, Some(t)) => Ok(Some(ValueFormat::Timestamp(
                DateTemplate::parse(t).map_err(bad)?,
                zone,
            ))),
            (_, Some(t)) if numeric => {
                if number_keys {
                    return Err(format!(
                        "source.schema.{col}: give either format or decimal_separator/thousands/strip, not both"
                    ));
                }
                Ok(Some(ValueFormat::Template(
                    NumberTemplate::parse(t).map_err(bad)?,
                    ty,
                )))
            }
            (_, Some(_)) => Err(format!(
                "source.schema.{col}: a format is for dates, timestamps and numbers, not {ty}"
            )),
            (_, None) if number_keys => {
                let thousands = match &f.thousands {
                    Some(t) => Some(one_char(col, "thousands", t)?),
                    None => None,
                };
                // `thousands = "."` alone means the other convention: `1.234,5`.
                let decimal = match &f.decimal_separator {
                    Some(d) => one_char(col, "decimal_separator", d)?,
                    None if thousands == Some('.') => ',',
                    None => '.',
                };
                if thousands == Some(decimal) {
                    return Err(format!(
                        "source.schema.{col}: the decimal separator and thousands are the same"
                    ));
                }
                let mut shown = format!("decimal separator {decimal:?}");
                if let Some(t) = thousands {
                    shown.push_str(&format!(", thousands {t:?}"));
                }
                if let Some(s) = &f.strip {
                    shown.push_str(&format!(", {s:?} stripped"));
                }
                Ok(Some(ValueFormat::Separators {
                    ty,
                    decimal,
                    thousands,
                    strip: f.strip.as_deref().unwrap_or("").chars().collect(),
                    shown,
                }))
            }
            (DataType::Timestamp, None) => Ok(zone.map(ValueFormat::Zoned)),
            (_, None) => Ok(None),
        }
    }

    /// The value of `text`, or why it does not match (naming the format).
    pub(crate) fn parse(&self, text: &str) -> Result<Value, String> {
        match self {
            ValueFormat::Date(t) => Ok(Value::Date(t.read(text)?.naive_local().date())),
            ValueFormat::Timestamp(t, zone) => match zone {
                Some(z) if !t.has_zone() => {
                    let local = t.read(text)?.naive_utc();
                    z.localize(local).map(Value::Timestamp).ok_or_else(|| {
                        format!("{} is not a time in {z}", crate::format::quote_value(text))
                    })
                }
                _ => Ok(Value::Timestamp(t.read(text)?)),
            },
            ValueFormat::Zoned(z) => crate::schema::parse::parse_timestamp_in(text.trim(), z)
                .map(Value::Timestamp)
                .ok_or_else(|| {
                    // The usual message (the shapes accepted), and the zone.
                    let e = crate::schema::parse_value(text, DataType::Timestamp)
                        .err()
                        .unwrap_or_else(|| "not a valid timestamp".into());
                    format!("{e} (without an offset: in {z})")
                }),
            ValueFormat::Template(t, ty) => {
                let d = t.read(text)?;
                let as_text = d.to_string();
                crate::schema::parse_value(&as_text, *ty)
            }
            ValueFormat::Separators {
                ty,
                decimal,
                thousands,
                strip,
                shown,
            } => {
                let mut out = String::with_capacity(text.len());
                for c in text.chars() {
                    if strip.contains(&c) || Some(c) == *thousands {
                        continue;
                    }
                    out.push(if c == *decimal { '.' } else { c });
                }
                crate::schema::parse_value(out.trim(), *ty).map_err(|_| {
                    format!(
                        "{} is not a {ty} written with {shown}",
                        crate::format::quote_value(text)
                    )
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(
        ty: &str,
        format: Option<&str>,
        dec: Option<&str>,
        th: Option<&str>,
        strip: Option<&str>,
    ) -> ColumnFormat {
        ColumnFormat {
            type_name: ty.into(),
            format: format.map(Into::into),
            decimal_separator: dec.map(Into::into),
            thousands: th.map(Into::into),
            strip: strip.map(Into::into),
            null_values: Vec::new(),
            timezone: None,
        }
    }

    #[test]
    fn numbers_by_template_or_separators() {
        let t = ValueFormat::of(
            "c",
            &fmt("decimal", Some("L9G999D99"), None, None, None),
            DataType::Decimal,
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            t.parse("$1,812.46").unwrap(),
            Value::Decimal("1812.46".parse().unwrap())
        );
        let s = ValueFormat::of(
            "c",
            &fmt("decimal", None, Some(","), Some("."), Some("€ ")),
            DataType::Decimal,
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            s.parse("1.812,46 €").unwrap(),
            Value::Decimal("1812.46".parse().unwrap())
        );
        let e = s.parse("1,2,3").unwrap_err();
        assert!(e.contains("decimal separator ','"), "{e}");
        let i = ValueFormat::of(
            "c",
            &fmt("int", None, None, Some("."), None),
            DataType::Int,
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(i.parse("-1.200").unwrap(), Value::Int(-1200));
        assert!(i.parse("1,5").is_err());
        let f = ValueFormat::of(
            "c",
            &fmt("float", None, Some(","), None, None),
            DataType::Float,
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(f.parse("2,5").unwrap(), Value::Float(2.5));
        // A date with neither key is read the usual way.
        assert!(
            ValueFormat::of(
                "c",
                &fmt("date", None, None, None, None),
                DataType::Date,
                None
            )
            .unwrap()
            .is_none()
        );
        for (f, ty) in [
            (fmt("date", Some("9,999"), None, None, None), DataType::Date),
            (
                fmt("int", Some("999"), Some(","), None, None),
                DataType::Int,
            ),
            (fmt("text", Some("YYYY"), None, None, None), DataType::Text),
            (fmt("int", None, Some(",,"), None, None), DataType::Int),
        ] {
            assert!(ValueFormat::of("c", &f, ty, None).is_err(), "{f:?}");
        }
    }
}
