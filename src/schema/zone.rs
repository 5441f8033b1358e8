//! The time zone of timestamps written without one (`2021-07-20 14:03:00`):
//! `source.timezone` or a column's `timezone`, an IANA name (`Europe/Paris`, through
//! `chrono-tz`'s copy of the tz database), `UTC`, or a fixed offset (`+02:00`).

use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, Offset, TimeZone};

/// A time zone for local date-times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Zone {
    /// A fixed offset from UTC (`UTC` is zero).
    Fixed(FixedOffset),
    /// A zone of the tz database, with its daylight-saving rules.
    Named(chrono_tz::Tz),
}

impl Zone {
    /// `UTC`, `Z`, an offset `±HH:MM` / `±HHMM` / `±HH`, or an IANA name.
    pub(crate) fn parse(s: &str) -> Result<Zone, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("z") {
            return Ok(Zone::Fixed(FixedOffset::east_opt(0).expect("zero offset")));
        }
        if let Some(rest) = t.strip_prefix(['+', '-']) {
            let digits: String = rest.chars().filter(|c| *c != ':').collect();
            let ok = digits.bytes().all(|b| b.is_ascii_digit())
                && matches!(digits.len(), 2 | 4)
                && (rest.len() == digits.len() || rest.as_bytes().get(2) == Some(&b':'));
            let (h, m) = if ok {
                (
                    digits[..2].parse::<i32>().unwrap_or(99),
                    match &digits[2..] {
                        "" => 0,
                        m => m.parse::<i32>().unwrap_or(99),
                    },
                )
            } else {
                (99, 99)
            };
            let secs = (h * 3600 + m * 60) * if t.starts_with('-') { -1 } else { 1 };
            return match (h <= 15 && m < 60)
                .then(|| FixedOffset::east_opt(secs))
                .flatten()
            {
                Some(o) => Ok(Zone::Fixed(o)),
                None => Err(format!(
                    "{s:?} is not a UTC offset (write it as +02:00 or -05:30)"
                )),
            };
        }
        t.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            format!(
                "unknown time zone {s:?} (an IANA name such as \"Europe/Paris\" or \
                 \"America/New_York\", \"UTC\", or an offset such as \"+02:00\")"
            )
        })
    }

    /// The instant `local` names in this zone, as PostgreSQL resolves it: a local time
    /// that occurs twice (the clocks go back) takes the offset after the change; one
    /// that never occurs (the clocks go forward) takes the offset before it, so
    /// `02:30` on a spring-forward night in Paris is `01:30 UTC`.
    pub(crate) fn localize(&self, local: NaiveDateTime) -> Option<DateTime<FixedOffset>> {
        match self {
            Zone::Fixed(o) => local.and_local_timezone(*o).single(),
            Zone::Named(tz) => match tz.from_local_datetime(&local) {
                chrono::LocalResult::Single(t) => Some(t.fixed_offset()),
                chrono::LocalResult::Ambiguous(a, b) => Some(a.max(b).fixed_offset()),
                chrono::LocalResult::None => {
                    // The offset before the gap: that of a local time before it.
                    let before = tz
                        .from_local_datetime(&(local - Duration::hours(3)))
                        .earliest()?
                        .offset()
                        .fix();
                    local.and_local_timezone(before).single()
                }
            },
        }
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Zone::Fixed(o) if o.local_minus_utc() == 0 => f.write_str("UTC"),
            Zone::Fixed(o) => write!(f, "{o}"),
            Zone::Named(tz) => f.write_str(tz.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn utc(z: &Zone, local: &str) -> String {
        z.localize(at(local))
            .unwrap()
            .naive_utc()
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    }

    #[test]
    fn names_offsets_and_errors() {
        assert_eq!(Zone::parse("utc").unwrap().to_string(), "UTC");
        assert_eq!(Zone::parse("+02:00").unwrap().to_string(), "+02:00");
        assert_eq!(Zone::parse("-0530").unwrap().to_string(), "-05:30");
        assert_eq!(Zone::parse("+09").unwrap().to_string(), "+09:00");
        assert_eq!(
            Zone::parse("Europe/Paris").unwrap().to_string(),
            "Europe/Paris"
        );
        for bad in ["+2", "+25:00", "+02:60", "+0a:00", "Mars/Olympus", ""] {
            assert!(Zone::parse(bad).is_err(), "{bad}");
        }
        let e = Zone::parse("Europe/Pariss").unwrap_err();
        assert!(e.contains("IANA"), "{e}");
    }

    #[test]
    fn daylight_saving_as_postgresql() {
        let paris = Zone::parse("Europe/Paris").unwrap();
        assert_eq!(utc(&paris, "2021-07-20 14:03:00"), "2021-07-20 12:03:00");
        assert_eq!(utc(&paris, "2021-01-20 14:03:00"), "2021-01-20 13:03:00");
        // Spring forward (02:00 → 03:00 on 28 March 2021): the offset before, +01.
        assert_eq!(utc(&paris, "2021-03-28 02:30:00"), "2021-03-28 01:30:00");
        // Fall back (03:00 → 02:00 on 31 October 2021): the offset after, +01.
        assert_eq!(utc(&paris, "2021-10-31 02:30:00"), "2021-10-31 01:30:00");
        let ny = Zone::parse("America/New_York").unwrap();
        assert_eq!(utc(&ny, "2021-07-20 14:03:00"), "2021-07-20 18:03:00");
        let fixed = Zone::parse("-05:30").unwrap();
        assert_eq!(utc(&fixed, "2021-07-20 14:03:00"), "2021-07-20 19:33:00");
    }
}
