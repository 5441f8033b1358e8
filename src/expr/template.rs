//! PostgreSQL's formatting templates: `to_date`, `to_timestamp`, `to_char` and
//! `to_number`. A template is parsed once, at plan time, into fields and literal text.
//!
//! Date and time fields: `YYYY` `YYY` `YY` `Y` `MM` `DD` `DDD` `HH24` `HH12` `HH` `MI`
//! `SS` `MS` `US` `AM`/`PM` (also `am` `pm` `A.M.` `P.M.`), `Mon` `MON` `mon`, `Month`
//! `MONTH` `month`, `Dy` `DY` `dy`, `Day` `DAY` `day`, `TZH` `TZM`, `Q`; the `FM` prefix
//! turns padding off (`FMDD`, `FMMonth`); text in double quotes is literal. Reading, as
//! PostgreSQL: a space matches any run of spaces, other punctuation matches any one
//! non-alphanumeric character, and a number field takes at most its width of digits.
//!
//! Number fields: `9` (a digit, a space when it is a leading zero), `0` (a digit, zeros
//! kept), `.` and `D` (the decimal point), `,` and `G` (a group separator), `L` (the
//! currency symbol `$`), `S` `MI` `PL` `SG` (the sign), `FM`.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use rust_decimal::Decimal;

/// One piece of a date/time template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// A field, and whether `FM` came before it.
    Field(Field, bool),
    /// Literal text (quoted, or punctuation and spaces).
    Lit(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Upper,
    Title,
    Lower,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Year4,
    Year3,
    Year2,
    Year1,
    Month,
    Day,
    DayOfYear,
    Hour24,
    Hour12,
    Minute,
    Second,
    Milli,
    Micro,
    Meridian { upper: bool, dots: bool },
    MonthName { case: Case, short: bool },
    DayName { case: Case, short: bool },
    TzHour,
    TzMinute,
    Quarter,
}

/// The date/time fields, longest first (so that `HH24` is not read as `HH`).
const FIELDS: &[(&str, Field)] = &[
    ("HH24", Field::Hour24),
    ("HH12", Field::Hour12),
    ("YYYY", Field::Year4),
    (
        "MONTH",
        Field::MonthName {
            case: Case::Upper,
            short: false,
        },
    ),
    (
        "Month",
        Field::MonthName {
            case: Case::Title,
            short: false,
        },
    ),
    (
        "month",
        Field::MonthName {
            case: Case::Lower,
            short: false,
        },
    ),
    (
        "A.M.",
        Field::Meridian {
            upper: true,
            dots: true,
        },
    ),
    (
        "P.M.",
        Field::Meridian {
            upper: true,
            dots: true,
        },
    ),
    (
        "a.m.",
        Field::Meridian {
            upper: false,
            dots: true,
        },
    ),
    (
        "p.m.",
        Field::Meridian {
            upper: false,
            dots: true,
        },
    ),
    ("YYY", Field::Year3),
    ("DDD", Field::DayOfYear),
    (
        "MON",
        Field::MonthName {
            case: Case::Upper,
            short: true,
        },
    ),
    (
        "Mon",
        Field::MonthName {
            case: Case::Title,
            short: true,
        },
    ),
    (
        "mon",
        Field::MonthName {
            case: Case::Lower,
            short: true,
        },
    ),
    (
        "DAY",
        Field::DayName {
            case: Case::Upper,
            short: false,
        },
    ),
    (
        "Day",
        Field::DayName {
            case: Case::Title,
            short: false,
        },
    ),
    (
        "day",
        Field::DayName {
            case: Case::Lower,
            short: false,
        },
    ),
    ("TZH", Field::TzHour),
    ("TZM", Field::TzMinute),
    ("YY", Field::Year2),
    ("MM", Field::Month),
    ("DD", Field::Day),
    ("HH", Field::Hour12),
    ("MI", Field::Minute),
    ("SS", Field::Second),
    ("MS", Field::Milli),
    ("US", Field::Micro),
    (
        "AM",
        Field::Meridian {
            upper: true,
            dots: false,
        },
    ),
    (
        "PM",
        Field::Meridian {
            upper: true,
            dots: false,
        },
    ),
    (
        "am",
        Field::Meridian {
            upper: false,
            dots: false,
        },
    ),
    (
        "pm",
        Field::Meridian {
            upper: false,
            dots: false,
        },
    ),
    (
        "DY",
        Field::DayName {
            case: Case::Upper,
            short: true,
        },
    ),
    (
        "Dy",
        Field::DayName {
            case: Case::Title,
            short: true,
        },
    ),
    (
        "dy",
        Field::DayName {
            case: Case::Lower,
            short: true,
        },
    ),
    ("Y", Field::Year1),
    ("Q", Field::Quarter),
];

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// A parsed date/time template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DateTemplate {
    source: String,
    pieces: Vec<Piece>,
}

impl DateTemplate {
    /// Parse `fmt`.
    pub(crate) fn parse(fmt: &str) -> Result<DateTemplate, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = fmt;
        while !rest.is_empty() {
            if let Some(q) = rest.strip_prefix('"') {
                let end = q
                    .find('"')
                    .ok_or_else(|| format!("unterminated quoted text in the format {fmt:?}"))?;
                lit.push_str(&q[..end]);
                rest = &q[end + 1..];
                continue;
            }
            let (fm, after) = match rest.strip_prefix("FM") {
                Some(a) => (true, a),
                None => (false, rest),
            };
            if let Some((name, f)) = FIELDS.iter().find(|(n, _)| after.starts_with(n)) {
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                pieces.push(Piece::Field(*f, fm));
                rest = &after[name.len()..];
                continue;
            }
            let c = rest.chars().next().unwrap_or(' ');
            lit.push(c);
            rest = &rest[c.len_utf8()..];
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        if !pieces.iter().any(|p| matches!(p, Piece::Field(..))) {
            return Err(format!("the format {fmt:?} has no date or time field"));
        }
        Ok(DateTemplate {
            source: fmt.to_string(),
            pieces,
        })
    }

    /// Whether the template reads an offset (`TZH`).
    pub(crate) fn has_zone(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Field(Field::TzHour, _)))
    }

    fn fail(&self, input: &str, why: &str) -> String {
        format!(
            "{} does not match the format {:?}: {why}",
            crate::format::quote_value(input),
            self.source
        )
    }

    /// Read `input` as a date and time (`to_timestamp`); without a zone field the
    /// offset is UTC.
    pub(crate) fn read(&self, input: &str) -> Result<DateTime<FixedOffset>, String> {
        let mut s = input;
        let (mut year, mut month, mut day, mut doy) = (None::<i32>, 1u32, 1u32, None::<u32>);
        let (mut hour, mut minute, mut second, mut micro) = (0u32, 0u32, 0u32, 0u32);
        let (mut pm, mut h12) = (None::<bool>, false);
        let (mut tzh, mut tzm, mut tz_neg) = (0i32, 0i32, false);
        for p in &self.pieces {
            match p {
                Piece::Lit(l) => s = self.skip_literal(input, s, l)?,
                Piece::Field(f, _) => {
                    let num = |s: &mut &str, max: usize| -> Result<u32, String> {
                        let t = s.trim_start_matches(' ');
                        let n = t.bytes().take(max).take_while(u8::is_ascii_digit).count();
                        if n == 0 {
                            return Err(self.fail(
                                input,
                                &format!("expected a number at {}", crate::format::quote_value(t)),
                            ));
                        }
                        let v = t[..n]
                            .parse()
                            .map_err(|_| self.fail(input, "number too large"))?;
                        *s = &t[n..];
                        Ok(v)
                    };
                    match *f {
                        Field::Year4 => year = Some(num(&mut s, 4)? as i32),
                        Field::Year3 => year = Some(2000 + num(&mut s, 3)? as i32 % 1000),
                        Field::Year2 => {
                            let y = num(&mut s, 2)? as i32;
                            year = Some(if y < 70 { 2000 + y } else { 1900 + y });
                        }
                        Field::Year1 => year = Some(2000 + num(&mut s, 1)? as i32),
                        Field::Month => month = num(&mut s, 2)?,
                        Field::Day => day = num(&mut s, 2)?,
                        Field::DayOfYear => doy = Some(num(&mut s, 3)?),
                        Field::Hour24 => hour = num(&mut s, 2)?,
                        Field::Hour12 => {
                            hour = num(&mut s, 2)?;
                            h12 = true;
                        }
                        Field::Minute => minute = num(&mut s, 2)?,
                        Field::Second => second = num(&mut s, 2)?,
                        Field::Milli => {
                            let t = s.trim_start_matches(' ');
                            let n = t.bytes().take(3).take_while(u8::is_ascii_digit).count();
                            let v = num(&mut s, 3)?;
                            micro = v * 10u32.pow(3 - n as u32) * 1000;
                        }
                        Field::Micro => {
                            let t = s.trim_start_matches(' ');
                            let n = t.bytes().take(6).take_while(u8::is_ascii_digit).count();
                            let v = num(&mut s, 6)?;
                            micro = v * 10u32.pow(6 - n as u32);
                        }
                        Field::Quarter => {
                            num(&mut s, 1)?;
                        }
                        Field::Meridian { dots, .. } => {
                            let t = s.trim_start_matches(' ');
                            let w = if dots { 4 } else { 2 };
                            let word = t.get(..w).unwrap_or("").to_ascii_uppercase();
                            pm = Some(match word.as_str() {
                                "AM" | "A.M." => false,
                                "PM" | "P.M." => true,
                                _ => return Err(self.fail(input, "expected AM or PM")),
                            });
                            s = &t[w..];
                        }
                        Field::MonthName { short, .. } => {
                            let (i, rest) = name_at(s, &MONTHS, short)
                                .ok_or_else(|| self.fail(input, "expected a month name"))?;
                            month = i as u32 + 1;
                            s = rest;
                        }
                        Field::DayName { short, .. } => {
                            let (_, rest) = name_at(s, &DAYS, short)
                                .ok_or_else(|| self.fail(input, "expected a day name"))?;
                            s = rest;
                        }
                        Field::TzHour => {
                            let t = s.trim_start_matches(' ');
                            let (neg, t) = match t.as_bytes().first() {
                                Some(b'-') => (true, &t[1..]),
                                Some(b'+') => (false, &t[1..]),
                                _ => (false, t),
                            };
                            s = t;
                            tz_neg = neg;
                            tzh = num(&mut s, 2)? as i32;
                        }
                        Field::TzMinute => tzm = num(&mut s, 2)? as i32,
                    }
                }
            }
        }
        if !s.trim().is_empty() {
            return Err(self.fail(
                input,
                &format!("{} is left over", crate::format::quote_value(s.trim())),
            ));
        }
        let year = year.ok_or_else(|| self.fail(input, "the format has no year"))?;
        if let Some(p) = pm {
            if !(1..=12).contains(&hour) {
                return Err(self.fail(input, "the hour must be 1 to 12 with AM/PM"));
            }
            hour = hour % 12 + if p { 12 } else { 0 };
        } else if h12 && !(1..=12).contains(&hour) {
            return Err(self.fail(input, "the hour must be 1 to 12 with HH12"));
        }
        let date = match doy {
            Some(d) => NaiveDate::from_yo_opt(year, d),
            None => NaiveDate::from_ymd_opt(year, month, day),
        }
        .ok_or_else(|| self.fail(input, "no such date"))?;
        let time = NaiveTime::from_hms_micro_opt(hour, minute, second, micro)
            .ok_or_else(|| self.fail(input, "no such time"))?;
        let secs = (tzh * 3600 + tzm * 60) * if tz_neg { -1 } else { 1 };
        let zone =
            FixedOffset::east_opt(secs).ok_or_else(|| self.fail(input, "no such UTC offset"))?;
        NaiveDateTime::new(date, time)
            .and_local_timezone(zone)
            .single()
            .ok_or_else(|| self.fail(input, "no such time"))
    }

    /// Skip a literal of the template in `s`.
    fn skip_literal<'a>(&self, input: &str, s: &'a str, lit: &str) -> Result<&'a str, String> {
        let mut s = s;
        for c in lit.chars() {
            if c == ' ' {
                s = s.trim_start_matches(' ');
            } else if c.is_alphanumeric() {
                s = s.strip_prefix(c).ok_or_else(|| {
                    self.fail(
                        input,
                        &format!("expected {c:?} at {}", crate::format::quote_value(s)),
                    )
                })?;
            } else {
                // Punctuation matches any one non-alphanumeric character (PostgreSQL).
                match s.chars().next() {
                    Some(d) if !d.is_alphanumeric() => s = &s[d.len_utf8()..],
                    _ => {
                        return Err(self.fail(
                            input,
                            &format!("expected {c:?} at {}", crate::format::quote_value(s)),
                        ));
                    }
                }
            }
        }
        Ok(s)
    }

    /// Write `t` with the template (`to_char`).
    pub(crate) fn write(&self, t: &DateTime<FixedOffset>) -> String {
        let mut out = String::new();
        let pad = |out: &mut String, v: i64, w: usize, fm: bool| {
            if fm {
                out.push_str(&v.to_string());
            } else {
                out.push_str(&format!("{v:0w$}"));
            }
        };
        let cased = |s: &str, case: Case| match case {
            Case::Upper => s.to_uppercase(),
            Case::Lower => s.to_lowercase(),
            Case::Title => s.to_string(),
        };
        for p in &self.pieces {
            match p {
                Piece::Lit(l) => out.push_str(l),
                Piece::Field(f, fm) => match *f {
                    Field::Year4 => pad(&mut out, t.year() as i64, 4, *fm),
                    Field::Year3 => pad(&mut out, (t.year() % 1000) as i64, 3, *fm),
                    Field::Year2 => pad(&mut out, (t.year() % 100) as i64, 2, *fm),
                    Field::Year1 => pad(&mut out, (t.year() % 10) as i64, 1, *fm),
                    Field::Month => pad(&mut out, t.month() as i64, 2, *fm),
                    Field::Day => pad(&mut out, t.day() as i64, 2, *fm),
                    Field::DayOfYear => pad(&mut out, t.ordinal() as i64, 3, *fm),
                    Field::Hour24 => pad(&mut out, t.hour() as i64, 2, *fm),
                    Field::Hour12 => pad(&mut out, t.hour12().1 as i64, 2, *fm),
                    Field::Minute => pad(&mut out, t.minute() as i64, 2, *fm),
                    Field::Second => pad(&mut out, t.second() as i64, 2, *fm),
                    Field::Milli => pad(&mut out, (t.nanosecond() / 1_000_000) as i64, 3, false),
                    Field::Micro => pad(&mut out, (t.nanosecond() / 1_000) as i64, 6, false),
                    Field::Quarter => pad(&mut out, (t.month0() / 3 + 1) as i64, 1, true),
                    Field::Meridian { upper, dots } => {
                        let pm = t.hour() >= 12;
                        let s = match (pm, dots) {
                            (false, false) => "AM",
                            (true, false) => "PM",
                            (false, true) => "A.M.",
                            (true, true) => "P.M.",
                        };
                        out.push_str(&if upper {
                            s.to_string()
                        } else {
                            s.to_lowercase()
                        });
                    }
                    Field::MonthName { case, short } => {
                        let name = MONTHS[t.month0() as usize];
                        out.push_str(&name_out(name, case, short, *fm, 9, cased));
                    }
                    Field::DayName { case, short } => {
                        let name = DAYS[t.weekday().num_days_from_sunday() as usize];
                        out.push_str(&name_out(name, case, short, *fm, 9, cased));
                    }
                    Field::TzHour => {
                        let secs = t.offset().local_minus_utc();
                        out.push(if secs < 0 { '-' } else { '+' });
                        out.push_str(&format!("{:02}", secs.abs() / 3600));
                    }
                    Field::TzMinute => {
                        let secs = t.offset().local_minus_utc().abs();
                        out.push_str(&format!("{:02}", secs % 3600 / 60));
                    }
                },
            }
        }
        out
    }
}

/// A month or day name for output: short (3 letters) or full, padded to `width` unless
/// `fm` (as PostgreSQL does).
fn name_out(
    name: &str,
    case: Case,
    short: bool,
    fm: bool,
    width: usize,
    cased: impl Fn(&str, Case) -> String,
) -> String {
    let n = if short { &name[..3] } else { name };
    let s = cased(n, case);
    if short || fm {
        s
    } else {
        format!("{s:width$}")
    }
}

/// The index of the name (full or its first 3 letters) `s` starts with, and the rest.
fn name_at<'a>(s: &'a str, names: &[&str], short: bool) -> Option<(usize, &'a str)> {
    let t = s.trim_start_matches(' ');
    let lower = t.to_ascii_lowercase();
    for (i, n) in names.iter().enumerate() {
        let full = n.to_ascii_lowercase();
        if !short && lower.starts_with(&full) {
            return Some((i, &t[full.len()..]));
        }
    }
    for (i, n) in names.iter().enumerate() {
        let abbr = n[..3].to_ascii_lowercase();
        if lower.starts_with(&abbr) {
            return Some((i, &t[3..]));
        }
    }
    None
}

/// A parsed number template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NumberTemplate {
    source: String,
    /// Digit positions before the decimal point: true for `0`.
    int: Vec<bool>,
    /// Digit positions after it.
    frac: usize,
    /// Group separators: after how many integer digits (from the left of `int`).
    groups: Vec<usize>,
    /// `L` and where (before the digits).
    currency: bool,
    /// `S`, `MI`, `SG`, `PL`: an explicit sign, before or after the number.
    sign: Option<bool>,
    fm: bool,
}

impl NumberTemplate {
    /// Parse `fmt`.
    pub(crate) fn parse(fmt: &str) -> Result<NumberTemplate, String> {
        let mut t = NumberTemplate {
            source: fmt.to_string(),
            int: Vec::new(),
            frac: 0,
            groups: Vec::new(),
            currency: false,
            sign: None,
            fm: false,
        };
        let mut point = false;
        let mut rest = fmt;
        let digits = |t: &NumberTemplate| t.int.len();
        while !rest.is_empty() {
            let upper = rest.to_ascii_uppercase();
            let (len, what) = if upper.starts_with("FM") {
                (2, "FM")
            } else if upper.starts_with("MI") || upper.starts_with("SG") || upper.starts_with("PL")
            {
                (2, "S")
            } else {
                (1, &rest[..rest.chars().next().map_or(1, char::len_utf8)])
            };
            match what.to_ascii_uppercase().as_str() {
                "FM" => t.fm = true,
                "S" => t.sign = Some(digits(&t) > 0 || point),
                "9" | "0" if point => t.frac += 1,
                "9" => t.int.push(false),
                "0" => t.int.push(true),
                "." | "D" if !point => point = true,
                "," | "G" if !point => t.groups.push(digits(&t)),
                "L" => t.currency = true,
                " " => {}
                other => {
                    return Err(format!(
                        "the number format {fmt:?} has {other:?}, which is not one of 9 0 . , D G L S \
                         MI PL SG FM"
                    ));
                }
            }
            rest = &rest[len..];
        }
        if t.int.is_empty() && t.frac == 0 {
            return Err(format!("the number format {fmt:?} has no digit (9 or 0)"));
        }
        Ok(t)
    }

    /// Read `input` as a number (`to_number`): digits, the decimal point and a sign are
    /// taken, group separators, the currency symbol and spaces skipped.
    pub(crate) fn read(&self, input: &str) -> Result<Decimal, String> {
        let fail = |why: &str| {
            format!(
                "{} does not match the number format {:?}: {why}",
                crate::format::quote_value(input),
                self.source
            )
        };
        let mut digits = String::new();
        let (mut neg, mut point, mut frac) = (false, false, 0usize);
        let s = input.trim();
        let s = match s.strip_prefix('(').and_then(|x| x.strip_suffix(')')) {
            Some(inner) => {
                neg = true;
                inner
            }
            None => s,
        };
        for c in s.chars() {
            match c {
                '0'..='9' => {
                    digits.push(c);
                    if point {
                        frac += 1;
                    }
                }
                '.' if !point => point = true,
                '-' => neg = true,
                '+' | ',' | ' ' | '$' | '€' | '£' | '¥' => {}
                other => return Err(fail(&format!("unexpected {other:?}"))),
            }
        }
        if digits.is_empty() {
            return Err(fail("no digits"));
        }
        if frac > self.frac {
            // PostgreSQL keeps the template's fraction digits; more are cut off.
            digits.truncate(digits.len() - (frac - self.frac));
            frac = self.frac;
        }
        let int_digits = digits.len() - frac;
        if int_digits > self.int.len().max(1) && !(self.int.is_empty() && int_digits == 1) {
            return Err(fail(&format!(
                "{int_digits} digits before the decimal point, the format has {}",
                self.int.len()
            )));
        }
        let mut d = Decimal::from_str_exact(&digits).map_err(|e| fail(&e.to_string()))?;
        d.set_scale(frac as u32).map_err(|e| fail(&e.to_string()))?;
        Ok(if neg { -d } else { d })
    }

    /// Write `v` with the template (`to_char`): rounded to the template's fraction
    /// digits, `#`s when it does not fit.
    pub(crate) fn write(&self, v: Decimal) -> String {
        let r = v.round_dp_with_strategy(
            self.frac as u32,
            rust_decimal::RoundingStrategy::MidpointAwayFromZero,
        );
        let neg = r.is_sign_negative() && !r.is_zero();
        let abs = r.abs();
        let text = format!("{:.*}", self.frac, abs);
        let (ip, fp) = text.split_once('.').unwrap_or((text.as_str(), ""));
        let ip = if ip == "0" && !self.int.is_empty() && !self.int.iter().any(|z| *z) {
            ""
        } else {
            ip
        };
        let width = self.int.len();
        if ip.len() > width {
            let hashes = "#".repeat(width) + if self.frac > 0 { "." } else { "" };
            return format!(" {hashes}{}", "#".repeat(self.frac));
        }
        // The integer part, right-aligned in its positions: a `0` position (and any
        // after it) shows a zero, a `9` position before the first digit a space.
        let mut cells: Vec<Option<char>> = vec![None; width];
        let offset = width - ip.len();
        for (i, c) in ip.chars().enumerate() {
            cells[offset + i] = Some(c);
        }
        let first_zero = self.int.iter().position(|z| *z).unwrap_or(width);
        for (i, cell) in cells.iter_mut().enumerate() {
            if cell.is_none() && i >= first_zero {
                *cell = Some('0');
            }
        }
        let mut out = String::new();
        let mut started = false;
        for (i, cell) in cells.iter().enumerate() {
            if self.groups.contains(&i) && i > 0 {
                out.push(if started { ',' } else { ' ' });
            }
            match cell {
                Some(c) => {
                    started = true;
                    out.push(*c);
                }
                None => out.push(' '),
            }
        }
        if self.frac > 0 {
            out.push('.');
            out.push_str(fp);
        }
        // The sign goes just before the first digit (or at the end with a trailing S).
        let sign = if neg {
            "-"
        } else if self.sign.is_some() {
            "+"
        } else {
            " "
        };
        let body = if self.fm {
            out.trim_start().to_string()
        } else {
            out
        };
        let lead = body.len() - body.trim_start().len();
        let (pad, digits) = body.split_at(lead);
        let cur = if self.currency { "$" } else { "" };
        match self.sign {
            Some(true) => format!("{pad}{cur}{digits}{sign}"),
            _ if self.fm && !neg => format!("{cur}{digits}"),
            _ => format!("{pad}{sign}{cur}{digits}"),
        }
    }
}

/// Evaluate a formatting function on a value that is not NULL; a value that does not
/// fit its template is a row error naming the value and the template.
pub(crate) fn apply(
    f: &super::node::Formatted,
    v: &crate::row::Value,
) -> Result<crate::row::Value, super::EvalError> {
    use super::node::Formatted as F;
    use crate::row::Value as V;
    let err = super::EvalError::new;
    let text = |v: &V| match v {
        V::Text(s) => Ok(s.clone()),
        other => Ok(super::text::render(other)),
    };
    Ok(match f {
        F::ToDate(t) => V::Date(t.read(&text(v)?).map_err(err)?.naive_local().date()),
        F::ToTimestamp(t) => V::Timestamp(t.read(&text(v)?).map_err(err)?),
        F::ToNumber(t) => V::Decimal(t.read(&text(v)?).map_err(err)?),
        F::CharDate(t) => V::Text(match v {
            V::Date(d) => t.write(&d.and_time(NaiveTime::MIN).and_utc().fixed_offset()),
            V::Timestamp(ts) => t.write(ts),
            other => return Err(err(format!("to_char() cannot format {other:?} as a date"))),
        }),
        F::CharNumber(t) => {
            V::Text(t.write(match v {
                V::Int(i) => Decimal::from(*i),
                V::Decimal(d) => *d,
                V::Float(x) => {
                    Decimal::try_from(*x).map_err(|_| {
                        err(format!("to_char(): {x} cannot be formatted as a number"))
                    })?
                }
                other => {
                    return Err(err(format!(
                        "to_char() cannot format {other:?} as a number"
                    )));
                }
            }))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn dates_read_in_common_layouts() {
        for (input, fmt, want) in [
            ("07/20/2021", "MM/DD/YYYY", "2021-07-20T00:00:00+00:00"),
            ("20.07.2021", "DD.MM.YYYY", "2021-07-20T00:00:00+00:00"),
            ("2021/7/2", "YYYY/MM/DD", "2021-07-02T00:00:00+00:00"),
            ("20 Jul 2021", "DD Mon YYYY", "2021-07-20T00:00:00+00:00"),
            (
                "July 20, 2021",
                "Month DD, YYYY",
                "2021-07-20T00:00:00+00:00",
            ),
            (
                "Tue, 20 Jul 21",
                "Dy, DD Mon YY",
                "2021-07-20T00:00:00+00:00",
            ),
            (
                "07/20/2021 03:04:05 PM",
                "MM/DD/YYYY HH12:MI:SS AM",
                "2021-07-20T15:04:05+00:00",
            ),
            (
                "2021-07-20 12:30:00.25 +05:30",
                "YYYY-MM-DD HH24:MI:SS.MS TZH:TZM",
                "2021-07-20T12:30:00.250+05:30",
            ),
            (
                "2021-07-20T01:02:03.000004-08",
                "YYYY-MM-DD\"T\"HH24:MI:SS.US TZH",
                "2021-07-20T01:02:03.000004-08:00",
            ),
            ("2021-201", "YYYY-DDD", "2021-07-20T00:00:00+00:00"),
        ] {
            let t = DateTemplate::parse(fmt).unwrap();
            assert_eq!(t.read(input).unwrap(), ts(want), "{input} / {fmt}");
        }
    }

    #[test]
    fn a_date_that_does_not_fit_names_the_value_and_the_format() {
        let t = DateTemplate::parse("MM/DD/YYYY").unwrap();
        for bad in ["2021-07-20", "13/01/2021", "07/20/2021 x", "07/32/2021", ""] {
            let e = t.read(bad).unwrap_err();
            assert!(e.contains("MM/DD/YYYY"), "{bad}: {e}");
        }
        assert!(DateTemplate::parse("hello").is_err());
        assert!(DateTemplate::parse("\"YYYY").is_err());
    }

    #[test]
    fn dates_write_like_postgresql() {
        let t = ts("2021-07-04T15:04:05.123456+05:30");
        for (fmt, want) in [
            ("YYYY-MM-DD", "2021-07-04"),
            ("DD.MM.YYYY HH24:MI", "04.07.2021 15:04"),
            ("FMMonth FMDD, YYYY", "July 4, 2021"),
            ("Month", "July     "),
            ("Dy DD Mon YYYY", "Sun 04 Jul 2021"),
            ("HH12:MI AM", "03:04 PM"),
            ("HH:MI:SS.MS", "03:04:05.123"),
            ("US", "123456"),
            (
                "YYYY-MM-DD\"T\"HH24:MI:SSTZH:TZM",
                "2021-07-04T15:04:05+05:30",
            ),
            ("Q", "3"),
            ("DAY", "SUNDAY   "),
        ] {
            assert_eq!(DateTemplate::parse(fmt).unwrap().write(&t), want, "{fmt}");
        }
    }

    #[test]
    fn numbers_read_and_write_like_postgresql() {
        for (input, fmt, want) in [
            ("$1,812.46", "L9,999.99", "1812.46"),
            ("1,812.46", "9G999D99", "1812.46"),
            ("-12.5", "S99.9", "-12.5"),
            ("12.5-", "99.9S", "-12.5"),
            ("(7.25)", "999.99", "-7.25"),
            ("3.14159", "9.99", "3.14"),
        ] {
            let t = NumberTemplate::parse(fmt).unwrap();
            assert_eq!(t.read(input).unwrap().to_string(), want, "{input} / {fmt}");
        }
        let t = NumberTemplate::parse("999").unwrap();
        assert!(t.read("abc").unwrap_err().contains("999"));
        assert!(t.read("12345").is_err());
        for (v, fmt, want) in [
            ("1812.456", "FM9,999.00", "1,812.46"),
            ("1812.456", "9,999.99", " 1,812.46"),
            ("5", "000", " 005"),
            ("5", "999", "   5"),
            ("-5.5", "99.9", " -5.5"),
            ("0.5", "9.99", "  .50"),
            ("0.5", "0.99", " 0.50"),
            ("12345", "999", " ###"),
            ("42", "FM999", "42"),
            ("42", "S999", " +42"),
            ("-42", "FMS999", "-42"),
            ("1812.46", "FML9,999.99", "$1,812.46"),
        ] {
            let t = NumberTemplate::parse(fmt).unwrap();
            assert_eq!(t.write(v.parse().unwrap()), want, "{v} / {fmt}");
        }
        assert!(NumberTemplate::parse("YYYY").is_err());
    }
}
