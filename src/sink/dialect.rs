//! SQL dialect details shared by sinks: identifier quoting and qualified table names.

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

/// A table name as the pipeline gives it: `table` or `schema.table` (`database.table`
/// for MySQL), each part as written. A part in double quotes or backticks may contain a
/// dot (`"my.table"`); a doubled quote inside stands for one. Rendered with the
/// dialect's quoting, so every part is always quoted.
#[derive(Debug, Clone)]
pub(crate) struct TableName {
    /// The schema (PostgreSQL) or database (MySQL), if given.
    pub schema: Option<String>,
    /// The table.
    pub name: String,
    quote: fn(&str) -> String,
}

impl TableName {
    /// Parse `s`, to be quoted with `quote`.
    pub(crate) fn parse(s: &str, quote: fn(&str) -> String) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut cur = String::new();
        let mut open: Option<char> = None;
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match (open, c) {
                (Some(q), c) if c == q && chars.peek() == Some(&q) => {
                    chars.next();
                    cur.push(q);
                }
                (Some(q), c) if c == q => open = None,
                (None, '"' | '`') => open = Some(c),
                (None, '.') => parts.push(std::mem::take(&mut cur)),
                (_, c) => cur.push(c),
            }
        }
        if open.is_some() {
            return Err(format!("table name {s:?} has an unclosed quote"));
        }
        parts.push(cur);
        match parts.as_slice() {
            [n] if !n.is_empty() => Ok(TableName {
                schema: None,
                name: n.clone(),
                quote,
            }),
            [sch, n] if !sch.is_empty() && !n.is_empty() => Ok(TableName {
                schema: Some(sch.clone()),
                name: n.clone(),
                quote,
            }),
            _ => Err(format!(
                "table name {s:?} must be `table` or `schema.table` (quote a name that contains a dot)"
            )),
        }
    }

    /// The quoted SQL form.
    pub(crate) fn sql(&self) -> String {
        match &self.schema {
            Some(s) => format!("{}.{}", (self.quote)(s), (self.quote)(&self.name)),
            None => (self.quote)(&self.name),
        }
    }

    /// Another table in the same schema.
    pub(crate) fn sibling(&self, name: &str) -> TableName {
        TableName {
            schema: self.schema.clone(),
            name: name.to_string(),
            quote: self.quote,
        }
    }
}

/// Quote a MySQL identifier with backticks, doubling any backtick inside.
pub(crate) fn quote_backtick(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        let q = TableName::parse("analytics.users", quote_ident).unwrap();
        assert_eq!(q.schema.as_deref(), Some("analytics"));
        assert_eq!(q.sql(), "\"analytics\".\"users\"");
        let q = TableName::parse("\"my.table\"", quote_ident).unwrap();
        assert_eq!((q.schema, q.name.as_str()), (None, "my.table"));
        let q = TableName::parse("\"a\"\"b\".\"Q1 2026\"", quote_ident).unwrap();
        assert_eq!(q.sql(), "\"a\"\"b\".\"Q1 2026\"");
        let q = TableName::parse("test.`my.table`", quote_backtick).unwrap();
        assert_eq!(q.sql(), "`test`.`my.table`");
        assert_eq!(q.sibling("x").sql(), "`test`.`x`");
        assert_eq!(quote_backtick("a`b"), "`a``b`");
        assert!(TableName::parse("a.b.c", quote_ident).is_err());
        assert!(
            TableName::parse("\"open", quote_ident)
                .unwrap_err()
                .contains("unclosed")
        );
        assert!(TableName::parse("", quote_ident).is_err());
    }

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
