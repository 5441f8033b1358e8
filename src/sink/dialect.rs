//! SQL dialect details shared by sinks: identifier quoting.

/// Quote an identifier with double quotes, doubling any quote inside. Every identifier
/// rowflow sends to a database goes through here (or its dialect's equivalent), so a
/// header such as `id"; DROP TABLE x; --` is just a column with that name.
pub fn quote_ident(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 2);
    s.push('"');
    for c in name.chars() {
        if c == '"' {
            s.push('"');
        }
        s.push(c);
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_doubles() {
        assert_eq!(quote_ident("a"), "\"a\"");
        assert_eq!(
            quote_ident("id\"; DROP TABLE x; --"),
            "\"id\"\"; DROP TABLE x; --\""
        );
        assert_eq!(quote_ident("select"), "\"select\"");
    }
}
