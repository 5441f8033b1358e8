//! Date/time functions: `date_part` / `extract`, `date_trunc`, `age`.
//!
//! Timestamps are read as the wall-clock time of their own UTC offset (the time as it
//! was written); `epoch` is absolute.

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, NaiveDateTime, Timelike};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sqlparser::ast::DateTimeField;

use super::EvalError;
use super::type_error;
use crate::row::Value;

/// Fields of `date_part` / `extract` on dates and timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateField {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Millisecond,
    Microsecond,
    Dow,
    IsoDow,
    Doy,
    Quarter,
    Week,
    IsoYear,
    Decade,
    Century,
    Millennium,
    Epoch,
}

pub(crate) const DATE_FIELDS: &str = "year, quarter, month, week, day, hour, minute, second, milliseconds, microseconds, dow, isodow, doy, isoyear, decade, century, millennium, epoch";

impl DateField {
    pub(crate) fn parse(name: &str) -> Option<DateField> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "year" | "years" | "y" | "yr" | "yrs" => DateField::Year,
            "month" | "months" | "mon" | "mons" => DateField::Month,
            "day" | "days" | "d" => DateField::Day,
            "hour" | "hours" | "h" | "hr" | "hrs" => DateField::Hour,
            "minute" | "minutes" | "m" | "min" | "mins" => DateField::Minute,
            "second" | "seconds" | "s" | "sec" | "secs" => DateField::Second,
            "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" => DateField::Millisecond,
            "microsecond" | "microseconds" | "us" | "usec" | "usecs" => DateField::Microsecond,
            "dow" | "dayofweek" => DateField::Dow,
            "isodow" => DateField::IsoDow,
            "doy" | "dayofyear" => DateField::Doy,
            "quarter" | "qtr" => DateField::Quarter,
            "week" | "weeks" | "w" | "isoweek" => DateField::Week,
            "isoyear" => DateField::IsoYear,
            "decade" | "decades" => DateField::Decade,
            "century" | "centuries" => DateField::Century,
            "millennium" | "millenniums" | "millennia" | "millenium" => DateField::Millennium,
            "epoch" => DateField::Epoch,
            _ => return None,
        })
    }

    /// Map the field of `EXTRACT(field FROM ...)`.
    pub(crate) fn from_ast(f: &DateTimeField) -> Option<DateField> {
        use DateTimeField as F;
        Some(match f {
            F::Year | F::Years => DateField::Year,
            F::Month | F::Months => DateField::Month,
            F::Week(_) | F::Weeks | F::IsoWeek => DateField::Week,
            F::Day | F::Days => DateField::Day,
            F::DayOfWeek | F::Dow => DateField::Dow,
            F::DayOfYear | F::Doy => DateField::Doy,
            F::Hour | F::Hours => DateField::Hour,
            F::Minute | F::Minutes => DateField::Minute,
            F::Second | F::Seconds => DateField::Second,
            F::Millisecond | F::Milliseconds => DateField::Millisecond,
            F::Microsecond | F::Microseconds => DateField::Microsecond,
            F::Isodow => DateField::IsoDow,
            F::Isoyear => DateField::IsoYear,
            F::Quarter => DateField::Quarter,
            F::Decade => DateField::Decade,
            F::Century => DateField::Century,
            F::Millenium | F::Millennium => DateField::Millennium,
            F::Epoch => DateField::Epoch,
            F::Custom(ident) => return DateField::parse(&ident.value),
            _ => return None,
        })
    }
}

/// Fields that can be taken from `age(a, b)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgeField {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

impl AgeField {
    pub(crate) fn from_date_field(f: DateField) -> Option<AgeField> {
        Some(match f {
            DateField::Year => AgeField::Year,
            DateField::Month => AgeField::Month,
            DateField::Day => AgeField::Day,
            DateField::Hour => AgeField::Hour,
            DateField::Minute => AgeField::Minute,
            DateField::Second => AgeField::Second,
            _ => return None,
        })
    }
}

/// Units of `date_trunc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TruncUnit {
    Millennium,
    Century,
    Decade,
    Year,
    Quarter,
    Month,
    Week,
    Day,
    Hour,
    Minute,
    Second,
    Millisecond,
}

pub(crate) const TRUNC_UNITS: &str = "millennium, century, decade, year, quarter, month, week, day, hour, minute, second, milliseconds";

impl TruncUnit {
    pub(crate) fn parse(name: &str) -> Option<TruncUnit> {
        Some(match DateField::parse(name)? {
            DateField::Millennium => TruncUnit::Millennium,
            DateField::Century => TruncUnit::Century,
            DateField::Decade => TruncUnit::Decade,
            DateField::Year => TruncUnit::Year,
            DateField::Quarter => TruncUnit::Quarter,
            DateField::Month => TruncUnit::Month,
            DateField::Week => TruncUnit::Week,
            DateField::Day => TruncUnit::Day,
            DateField::Hour => TruncUnit::Hour,
            DateField::Minute => TruncUnit::Minute,
            DateField::Second => TruncUnit::Second,
            DateField::Millisecond => TruncUnit::Millisecond,
            _ => return None,
        })
    }
}

/// `d + n` days.
pub(crate) fn add_days(d: NaiveDate, n: i64) -> Option<NaiveDate> {
    if n >= 0 {
        d.checked_add_days(Days::new(n.unsigned_abs()))
    } else {
        d.checked_sub_days(Days::new(n.unsigned_abs()))
    }
}

/// Wall-clock date-time of a date (midnight) or timestamp (in its own offset).
fn local(v: &Value) -> Result<Option<NaiveDateTime>, EvalError> {
    match v {
        Value::Null => Ok(None),
        Value::Date(d) => Ok(Some(d.and_time(chrono::NaiveTime::MIN))),
        Value::Timestamp(t) => Ok(Some(t.naive_local())),
        other => Err(type_error("date or timestamp", other)),
    }
}

/// A field value: integral or with a fraction (seconds, epoch).
enum Part {
    Int(i64),
    Dec(Decimal),
}

fn finish(p: Part, decimal: bool) -> Value {
    match (p, decimal) {
        (Part::Int(i), false) => Value::Float(i as f64),
        (Part::Int(i), true) => Value::Decimal(Decimal::from(i)),
        (Part::Dec(d), false) => Value::Float(d.to_f64().unwrap_or(f64::NAN)),
        (Part::Dec(d), true) => Value::Decimal(d),
    }
}

/// Seconds with microseconds as a decimal with scale 6. (chrono's range, ±262,000
/// years, keeps the mantissa far below decimal's 96 bits; zero is a safe fallback.)
fn micro_dec(whole: i64, micros: i64) -> Decimal {
    let total = i128::from(whole) * 1_000_000 + i128::from(micros);
    Decimal::try_from_i128_with_scale(total, 6).unwrap_or(Decimal::ZERO)
}

/// `date_part(field, v)` (float) or `extract(field from v)` (decimal).
pub(crate) fn date_part(field: DateField, v: &Value, decimal: bool) -> Result<Value, EvalError> {
    let Some(dt) = local(v)? else {
        return Ok(Value::Null);
    };
    let year = i64::from(dt.year());
    let micros = i64::from(dt.nanosecond() / 1000);
    let sec = i64::from(dt.second());
    let part = match field {
        DateField::Year => Part::Int(year),
        DateField::Month => Part::Int(i64::from(dt.month())),
        DateField::Day => Part::Int(i64::from(dt.day())),
        DateField::Hour => Part::Int(i64::from(dt.hour())),
        DateField::Minute => Part::Int(i64::from(dt.minute())),
        DateField::Second => Part::Dec(micro_dec(sec, micros)),
        DateField::Millisecond => Part::Dec(
            Decimal::try_from_i128_with_scale(i128::from(sec * 1_000_000 + micros), 3)
                .unwrap_or(Decimal::ZERO),
        ),
        DateField::Microsecond => Part::Int(sec * 1_000_000 + micros),
        DateField::Dow => Part::Int(i64::from(dt.weekday().num_days_from_sunday())),
        DateField::IsoDow => Part::Int(i64::from(dt.weekday().number_from_monday())),
        DateField::Doy => Part::Int(i64::from(dt.ordinal())),
        DateField::Quarter => Part::Int(i64::from((dt.month() - 1) / 3 + 1)),
        DateField::Week => Part::Int(i64::from(dt.iso_week().week())),
        DateField::IsoYear => Part::Int(i64::from(dt.iso_week().year())),
        DateField::Decade => Part::Int(year.div_euclid(10)),
        DateField::Century => Part::Int(if year > 0 {
            (year + 99) / 100
        } else {
            -((99 - (year - 1)) / 100)
        }),
        DateField::Millennium => Part::Int(if year > 0 {
            (year + 999) / 1000
        } else {
            -((999 - (year - 1)) / 1000)
        }),
        DateField::Epoch => match v {
            Value::Timestamp(t) => Part::Dec(micro_dec(
                t.timestamp(),
                i64::from(t.timestamp_subsec_micros()),
            )),
            _ => Part::Int(dt.and_utc().timestamp()),
        },
    };
    Ok(finish(part, decimal))
}

/// The fields of PostgreSQL's `age(a, b)` interval: years, months, days, hours,
/// minutes, seconds, microseconds (all with the sign of `a - b`).
pub(crate) fn age(a: NaiveDateTime, b: NaiveDateTime) -> [i64; 7] {
    let flip = a < b;
    let f = |x: &NaiveDateTime| {
        [
            i64::from(x.year()),
            i64::from(x.month()),
            i64::from(x.day()),
            i64::from(x.hour()),
            i64::from(x.minute()),
            i64::from(x.second()),
            i64::from(x.nanosecond() / 1000),
        ]
    };
    let (t1, t2) = (f(&a), f(&b));
    let mut d: [i64; 7] = [0; 7];
    for (i, slot) in d.iter_mut().enumerate() {
        *slot = t1[i] - t2[i];
    }
    let [
        mut year,
        mut mon,
        mut mday,
        mut hour,
        mut min,
        mut sec,
        mut usec,
    ] = d;
    if flip {
        (year, mon, mday, hour, min, sec, usec) = (-year, -mon, -mday, -hour, -min, -sec, -usec);
    }
    while usec < 0 {
        usec += 1_000_000;
        sec -= 1;
    }
    while sec < 0 {
        sec += 60;
        min -= 1;
    }
    while min < 0 {
        min += 60;
        hour -= 1;
    }
    while hour < 0 {
        hour += 24;
        mday -= 1;
    }
    // Borrow days from the month of the earlier date, as PostgreSQL does.
    let earlier = if flip { &a } else { &b };
    let borrow = days_in_month(earlier.year(), earlier.month());
    while mday < 0 {
        mday += borrow;
        mon -= 1;
    }
    while mon < 0 {
        mon += 12;
        year -= 1;
    }
    if flip {
        [-year, -mon, -mday, -hour, -min, -sec, -usec]
    } else {
        [year, mon, mday, hour, min, sec, usec]
    }
}

/// The year field of `age(a, b)` without the other fields: whole years from the
/// earlier to the later value, with the sign of `a - b`. (Equal to `age(a, b)[0]`: the
/// year is borrowed from exactly when the later month/day/time is before the earlier.)
pub(crate) fn age_whole_years(a: NaiveDateTime, b: NaiveDateTime) -> i64 {
    let (hi, lo, sign) = if a >= b { (a, b, 1) } else { (b, a, -1) };
    let mut years = i64::from(hi.year()) - i64::from(lo.year());
    if (hi.month(), hi.day(), hi.time()) < (lo.month(), lo.day(), lo.time()) {
        years -= 1;
    }
    sign * years
}

fn days_in_month(year: i32, month: u32) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            if leap { 29 } else { 28 }
        }
    }
}

/// Whole years from `b` to `a` (negative when `a` is earlier), as `age_years(a, b)`.
pub(crate) fn age_years(a: &Value, b: &Value) -> Result<Value, EvalError> {
    let (Some(x), Some(y)) = (local(a)?, local(b)?) else {
        return Ok(Value::Null);
    };
    Ok(Value::Int(age_whole_years(x, y)))
}

/// `date_part(field, age(a, b))` / `extract(field from age(a, b))`.
pub(crate) fn age_part(
    field: AgeField,
    a: &Value,
    b: &Value,
    decimal: bool,
) -> Result<Value, EvalError> {
    let (Some(x), Some(y)) = (local(a)?, local(b)?) else {
        return Ok(Value::Null);
    };
    if field == AgeField::Year {
        return Ok(finish(Part::Int(age_whole_years(x, y)), decimal));
    }
    let [years, months, days, hours, minutes, seconds, micros] = age(x, y);
    let part = match field {
        AgeField::Year => Part::Int(years),
        AgeField::Month => Part::Int(months),
        AgeField::Day => Part::Int(days),
        AgeField::Hour => Part::Int(hours),
        AgeField::Minute => Part::Int(minutes),
        AgeField::Second => Part::Dec(micro_dec(seconds, micros)),
    };
    Ok(finish(part, decimal))
}

/// `date_trunc(unit, v)`: a timestamp in the value's own offset (UTC for dates).
pub(crate) fn date_trunc(unit: TruncUnit, v: &Value) -> Result<Value, EvalError> {
    let offset: FixedOffset = match v {
        Value::Null => return Ok(Value::Null),
        Value::Timestamp(t) => *t.offset(),
        Value::Date(_) => {
            FixedOffset::east_opt(0).ok_or_else(|| EvalError::new("invalid offset"))?
        }
        other => return Err(type_error("date or timestamp", other)),
    };
    let Some(dt) = local(v)? else {
        return Ok(Value::Null);
    };
    let date = dt.date();
    let y = dt.year();
    let ymd = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1);
    let first_year = |start: i32| ymd(start, 1);
    let day: Option<NaiveDate> = match unit {
        TruncUnit::Millennium => first_year(if y > 0 {
            ((y - 1) / 1000) * 1000 + 1
        } else {
            y
        }),
        TruncUnit::Century => first_year(if y > 0 { ((y - 1) / 100) * 100 + 1 } else { y }),
        TruncUnit::Decade => first_year(y - y.rem_euclid(10)),
        TruncUnit::Year => first_year(y),
        TruncUnit::Quarter => ymd(y, ((dt.month() - 1) / 3) * 3 + 1),
        TruncUnit::Month => ymd(y, dt.month()),
        TruncUnit::Week => add_days(date, -i64::from(dt.weekday().num_days_from_monday())),
        _ => Some(date),
    };
    let Some(day) = day else {
        return Err(EvalError::new("date out of range"));
    };
    let (h, m, s, ns) = match unit {
        TruncUnit::Hour => (dt.hour(), 0, 0, 0),
        TruncUnit::Minute => (dt.hour(), dt.minute(), 0, 0),
        TruncUnit::Second => (dt.hour(), dt.minute(), dt.second(), 0),
        TruncUnit::Millisecond => (
            dt.hour(),
            dt.minute(),
            dt.second(),
            (dt.nanosecond() / 1_000_000) * 1_000_000,
        ),
        _ => (0, 0, 0, 0),
    };
    let naive = day
        .and_hms_nano_opt(h, m, s, ns)
        .ok_or_else(|| EvalError::new("date out of range"))?;
    let ts: Option<DateTime<FixedOffset>> = naive.and_local_timezone(offset).single();
    ts.map(Value::Timestamp)
        .ok_or_else(|| EvalError::new("date out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDateTime {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .unwrap()
            .and_time(chrono::NaiveTime::MIN)
    }

    #[test]
    fn age_like_postgres() {
        assert_eq!(age(d("2026-01-01"), d("2000-01-02"))[..3], [25, 11, 30]);
        assert_eq!(age(d("2026-01-01"), d("2000-01-01"))[..3], [26, 0, 0]);
        assert_eq!(age(d("2000-01-02"), d("2026-01-01"))[..3], [-25, -11, -30]);
        assert_eq!(age(d("2024-03-01"), d("2024-02-29"))[..3], [0, 0, 1]);
        assert_eq!(age(d("2023-03-30"), d("2023-01-31"))[..3], [0, 1, 30]);
    }

    #[test]
    fn whole_years_agree_with_age() {
        let base = NaiveDate::from_ymd_opt(1999, 12, 25)
            .unwrap()
            .and_time(chrono::NaiveTime::MIN);
        let mut seed = 7u64;
        for _ in 0..20_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let a = base + chrono::Duration::seconds(((seed >> 20) % 400_000_000) as i64);
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let b = base + chrono::Duration::seconds(((seed >> 20) % 400_000_000) as i64);
            assert_eq!(age_whole_years(a, b), age(a, b)[0], "{a} {b}");
            let (da, db) = (
                a.date().and_time(chrono::NaiveTime::MIN),
                b.date().and_time(chrono::NaiveTime::MIN),
            );
            assert_eq!(age_whole_years(da, db), age(da, db)[0], "{da} {db}");
        }
    }
}
