//! How counts and values are shown to people: numbers with thousands separators,
//! values quoted short in messages. A leaf: it imports nothing of the crate.

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` and a noun, plural when `n` is not 1: `1 row`, `1,000 rows`.
pub fn plural(n: u64, noun: &str) -> String {
    format!("{} {noun}{}", thousands(n), if n == 1 { "" } else { "s" })
}

/// The candidate closest to `name` (ignoring case), if it is close enough to be a
/// likely typo: at most a third of its characters (and at least 2) differ.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lname = name.to_lowercase();
    let limit = (lname.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(&lname, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The end of a message about an unknown column: ` (did you mean "x"?)`, or the columns
/// there are.
pub fn did_you_mean(name: &str, names: &[String]) -> String {
    match closest(name, names.iter().map(String::as_str)) {
        Some(n) => format!(" (did you mean {n:?}?)"),
        None => format!(" (columns: {})", names.join(", ")),
    }
}

/// The most of a value an error message quotes, in bytes.
pub const QUOTED_BYTES: usize = 200;

/// A value as error messages quote it: in quotes, escaped, and cut to its first
/// [`QUOTED_BYTES`] bytes with its length said, so that a huge value never floods a
/// message, a log or the reject file.
pub fn quote_value(s: &str) -> String {
    if s.len() <= QUOTED_BYTES {
        return format!("{s:?}");
    }
    let mut cut = QUOTED_BYTES;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{:?}... ({} bytes)", &s[..cut], s.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_values_are_cut_when_quoted() {
        assert_eq!(super::quote_value("ab\"c"), "\"ab\\\"c\"");
        let long = "é".repeat(1000);
        let q = super::quote_value(&long);
        assert!(q.len() < 260, "{q}");
        assert!(q.ends_with("... (2000 bytes)"), "{q}");
    }
}
