//! A deterministic generator of the standard `users` workload (see `bench/README.md`):
//! the same `(rows, seed)` always gives the same bytes. Used by `rowflow generate`, the
//! benchmark and the tests.
//!
//! Columns: `id, first_name, last_name, email, birthdate, signup_ts, country, plan,
//! monthly_spend, visits, notes`, with the quirks of real exports: non-ASCII names,
//! e-mails with upper case and stray spaces, RFC 3339 timestamps with offsets (some
//! `Z`), decimals with 2 places, and notes with commas, quotes, newlines, emoji and
//! empty values.

use std::io::{self, Write};

use chrono::{DateTime, Duration, FixedOffset, NaiveDate};

/// SplitMix64: small, fast, and good enough for synthetic data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Paul",
    "Emily",
    "Andrew",
    "Donna",
    "Kevin",
    "Carol",
    "Brian",
    "Amanda",
    "George",
    "Melissa",
    "Edward",
    "Rebecca",
    "Ryan",
    "Laura",
    "Jacob",
    "Amy",
    "Eric",
    "Anna",
    "Noah",
    "Emma",
    "Olivia",
    "Henry",
];
const FIRST_UNI: &[(&str, &str)] = &[
    ("José", "jose"),
    ("Zoë", "zoe"),
    ("Łukasz", "lukasz"),
    ("Björn", "bjorn"),
    ("Søren", "soren"),
    ("François", "francois"),
    ("Mónica", "monica"),
    ("Jürgen", "jurgen"),
    ("Chloé", "chloe"),
    ("李", "li"),
    ("Дмитрий", "dmitry"),
    ("Αλέξανδρος", "alexandros"),
    ("Nguyễn", "nguyen"),
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "O'Brien",
    "Van der Berg",
    "McDonald",
];
const LAST_UNI: &[(&str, &str)] = &[
    ("Müller", "muller"),
    ("Øvergaard", "overgaard"),
    ("Łęcki", "lecki"),
    ("Fernández", "fernandez"),
    ("Dvořák", "dvorak"),
    ("Şahin", "sahin"),
    ("Größ", "gross"),
    ("Núñez", "nunez"),
    ("王", "wang"),
    ("Иванов", "ivanov"),
    ("Παπαδόπουλος", "papadopoulos"),
    ("Trần", "tran"),
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "yahoo.com",
    "yahoo.com",
    "hotmail.com",
    "hotmail.com",
    "outlook.com",
    "outlook.com",
    "icloud.com",
    "aol.com",
    "proton.me",
    "gmx.de",
    "web.de",
    "mail.ru",
    "yandex.ru",
    "qq.com",
    "163.com",
    "orange.fr",
    "free.fr",
    "libero.it",
    "btinternet.com",
    "comcast.net",
    "verizon.net",
    "example.com",
    "example.org",
    "acme.io",
    "initech.com",
    "globex.com",
    "umbrella.co",
    "hooli.xyz",
    "piedpiper.com",
    "stark-industries.com",
    "wayne.enterprises",
    "soylent.co",
    "wonka.biz",
    "tyrell.ai",
    "cyberdyne.systems",
    "aperture.science",
    "mit.edu",
    "ox.ac.uk",
];
const COUNTRIES: &[&str] = &[
    "US", "US", "US", "US", "US", "US", "GB", "GB", "DE", "DE", "FR", "IN", "IN", "BR", "CA", "AU",
    "JP", "ES", "IT", "NL", "SE", "NO", "PL", "MX", "AR", "ZA", "NG", "KR", "NZ", "IE",
];
const OFFSETS: &[(&str, i32)] = &[
    ("+00:00", 0),
    ("+01:00", 3600),
    ("+02:00", 7200),
    ("-05:00", -18000),
    ("-08:00", -28800),
    ("+05:30", 19800),
    ("+09:00", 32400),
    ("-03:00", -10800),
    ("+10:00", 36000),
    ("-04:00", -14400),
    ("+03:00", 10800),
    ("+08:00", 28800),
];
const WORDS: &[&str] = &[
    "customer",
    "asked",
    "about",
    "billing",
    "upgrade",
    "downgrade",
    "invoice",
    "refund",
    "support",
    "ticket",
    "called",
    "emailed",
    "prefers",
    "phone",
    "contact",
    "renewal",
    "discount",
    "trial",
    "expired",
    "onboarding",
    "webinar",
    "feedback",
    "positive",
    "negative",
    "churn",
    "risk",
    "high",
    "low",
    "priority",
    "account",
    "manager",
    "migration",
    "import",
    "export",
    "api",
    "integration",
    "dashboard",
    "report",
    "weekly",
    "monthly",
    "contract",
    "signed",
    "pending",
    "approval",
    "security",
    "sso",
    "mobile",
    "browser",
];
const UNI_BITS: &[&str] = &[
    "café",
    "naïve",
    "façade",
    "Zürich",
    "São Paulo",
    "Kraków",
    "日本語のメモ",
    "привет",
    "→ follow-up",
    "✓ done",
    "🚀",
    "😀 happy",
    "€ pricing",
    "½ off",
];

fn notes(r: &mut Rng) -> String {
    if r.unit() < 0.03 {
        return String::new();
    }
    let k = 2 + r.below(8) as usize;
    let mut words: Vec<String> = (0..k).map(|_| r.pick(WORDS).to_string()).collect();
    let y = r.unit();
    if y < 0.05 {
        let i = r.below(k as u64 - 1) as usize;
        words[i].push(',');
    } else if y < 0.07 {
        let i = r.below(k as u64) as usize;
        words[i] = format!("\"{}\"", words[i]);
    } else if y < 0.08 {
        let i = 1 + r.below(k as u64 - 1) as usize;
        words[i] = format!("\n{}", words[i]);
    }
    if r.unit() < 0.04 {
        let i = r.below(words.len() as u64 + 1) as usize;
        words.insert(i, r.pick(UNI_BITS).to_string());
    }
    words.join(" ").replace(" \n", "\n")
}

/// Write `rows` workload rows (plus the header) to `out`.
pub fn users<W: Write>(rows: u64, seed: u64, out: W) -> io::Result<()> {
    let mut r = Rng::new(seed);
    // A random permutation of 1..=rows without materialising it: an affine map modulo
    // a prime ≥ rows, skipping values out of range (cycle walking).
    let p = next_prime(rows.max(2));
    let a = 1 + r.below(p - 1);
    let b = r.below(p);
    let mut x = 0u64;
    let mut next_id = move || loop {
        let v = ((a as u128 * x as u128 + b as u128) % p as u128) as u64;
        x += 1;
        if v < rows {
            return v + 1;
        }
    };
    let base = NaiveDate::from_ymd_opt(1940, 1, 1).expect("valid constant date");
    let span_days = (NaiveDate::from_ymd_opt(2007, 12, 31).expect("valid constant date") - base)
        .num_days() as u64
        + 1;
    let ts_lo = 1_420_070_400i64; // 2015-01-01T00:00:00Z
    let ts_span = 1_767_225_600i64 - ts_lo; // up to 2026-01-01
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(io::BufWriter::with_capacity(1 << 20, out));
    let io_err = |e: csv::Error| io::Error::other(e.to_string());
    w.write_record([
        "id",
        "first_name",
        "last_name",
        "email",
        "birthdate",
        "signup_ts",
        "country",
        "plan",
        "monthly_spend",
        "visits",
        "notes",
    ])
    .map_err(io_err)?;
    for _ in 0..rows {
        let id = next_id();
        let (first, fa) = if r.unit() < 0.06 {
            let (f, a) = *r.pick(FIRST_UNI);
            (f.to_string(), a.to_string())
        } else {
            let f = *r.pick(FIRST);
            (f.to_string(), f.to_lowercase())
        };
        let (last, la) = if r.unit() < 0.06 {
            let (l, a) = *r.pick(LAST_UNI);
            (l.to_string(), a.to_string())
        } else {
            let l = *r.pick(LAST);
            (l.to_string(), l.to_lowercase().replace(['\'', ' '], ""))
        };
        let mut local = format!("{fa}.{la}");
        if r.below(100) < 60 {
            local.push_str(&r.below(1000).to_string());
        }
        let mut email = format!("{local}@{}", r.pick(DOMAINS));
        let x = r.unit();
        if x < 0.06 {
            email = email.to_uppercase();
        } else if x < 0.12 {
            let mut c = email.chars();
            let head: String = c
                .next()
                .map(|h| h.to_uppercase().collect())
                .unwrap_or_default();
            email = format!("{head}{}", c.as_str())
                .replace("@g", "@G")
                .replace(".com", ".Com");
        }
        let x = r.unit();
        if x < 0.02 {
            email = format!(" {email}");
        } else if x < 0.04 {
            email = format!("{email}  ");
        } else if x < 0.06 {
            email = format!("  {email} ");
        }
        let birth = base + Duration::days(r.below(span_days) as i64);
        let ts = ts_lo + r.below(ts_span as u64) as i64;
        let (suffix, off) = *r.pick(OFFSETS);
        let tz = FixedOffset::east_opt(off).expect("valid constant offset");
        let dt = DateTime::from_timestamp(ts, 0)
            .expect("in range")
            .with_timezone(&tz);
        let mut sts = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
        if suffix == "+00:00" && r.unit() < 0.35 {
            sts.push('Z');
        } else {
            sts.push_str(suffix);
        }
        let plan_roll = r.below(10);
        let plan = match plan_roll {
            0..=5 => "free",
            6..=8 => "pro",
            _ => "enterprise",
        };
        let cents = match plan {
            "free" if r.unit() < 0.7 => 0,
            "free" => 1 + r.below(1999),
            "pro" => 900 + r.below(14100),
            _ => 5000 + r.below(245000),
        };
        let spend = format!("{}.{:02}", cents / 100, cents % 100);
        let visits = (-(1.0 - r.unit()).ln() * 120.0) as u64;
        let country = *r.pick(COUNTRIES);
        let n = notes(&mut r);
        w.write_record([
            id.to_string().as_str(),
            &first,
            &last,
            &email,
            &birth.format("%Y-%m-%d").to_string(),
            &sts,
            country,
            plan,
            &spend,
            &visits.to_string(),
            &n,
        ])
        .map_err(io_err)?;
    }
    w.flush()?;
    Ok(())
}

fn next_prime(n: u64) -> u64 {
    let is_prime = |k: u64| {
        if k < 2 {
            return false;
        }
        let mut d = 2;
        while d * d <= k {
            if k.is_multiple_of(d) {
                return false;
            }
            d += 1;
        }
        true
    };
    let mut k = n;
    while !is_prime(k) {
        k += 1;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_complete() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        users(500, 7, &mut a).unwrap();
        users(500, 7, &mut b).unwrap();
        assert_eq!(a, b);
        let mut rdr = csv::Reader::from_reader(&a[..]);
        let mut ids: Vec<u64> = rdr
            .records()
            .map(|r| r.unwrap()[0].parse().unwrap())
            .collect();
        ids.sort();
        assert_eq!(ids, (1..=500).collect::<Vec<_>>());
        let mut c = Vec::new();
        users(500, 8, &mut c).unwrap();
        assert_ne!(a, c);
    }
}
