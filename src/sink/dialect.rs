//! SQL dialect details shared by sinks: identifier quoting, qualified table names, and
//! the statements every dialect builds alike (`CREATE TABLE` for the pipeline's columns,
//! the upsert clause), one builder per dialect.

use crate::schema::Column;
use crate::sink::seam::SinkOptions;

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

/// The pipeline's columns, quoted with `quote`.
pub(crate) fn column_list(opts: &SinkOptions, quote: fn(&str) -> String) -> Vec<String> {
    opts.schema.columns.iter().map(|c| quote(&c.name)).collect()
}

/// `CREATE TABLE` for the pipeline's columns, of the types `column_type` gives (it is told
/// whether the column is part of the key), key columns NOT NULL, the key as primary key
/// (unless `column_type` declares it inline: `inline_key`), then `options`.
pub(crate) fn create_table_sql(
    table_sql: &str,
    opts: &SinkOptions,
    quote: fn(&str) -> String,
    column_type: impl Fn(&Column, bool) -> String,
    inline_key: bool,
    options: &str,
) -> String {
    let mut cols: Vec<String> = opts
        .schema
        .columns
        .iter()
        .map(|c| {
            let key = opts.key.contains(&c.name);
            let not_null = if key { " NOT NULL" } else { "" };
            format!("{} {}{not_null}", quote(&c.name), column_type(c, key))
        })
        .collect();
    if !opts.key.is_empty() && !inline_key {
        let k: Vec<String> = opts.key.iter().map(|k| quote(k)).collect();
        cols.push(format!("PRIMARY KEY ({})", k.join(", ")));
    }
    format!("CREATE TABLE {table_sql} ({}){options}", cols.join(", "))
}

/// The non-key columns of an upsert, each set to `new(quoted name)`.
fn upsert_sets(
    opts: &SinkOptions,
    quote: fn(&str) -> String,
    new: impl Fn(&str) -> String,
) -> Vec<String> {
    opts.schema
        .columns
        .iter()
        .filter(|c| !opts.key.contains(&c.name))
        .map(|c| {
            let q = quote(&c.name);
            format!("{q} = {}", new(&q))
        })
        .collect()
}

/// PostgreSQL's and SQLite's upsert clause: `ON CONFLICT (key) DO UPDATE SET c =
/// excluded.c, ...` (`excluded` spelled as given), or `DO NOTHING` when every column is
/// part of the key.
pub(crate) fn on_conflict(opts: &SinkOptions, excluded: &str) -> String {
    let keys: Vec<String> = opts.key.iter().map(|k| quote_ident(k)).collect();
    let sets = upsert_sets(opts, quote_ident, |q| format!("{excluded}.{q}"));
    let action = if sets.is_empty() {
        "DO NOTHING".to_string()
    } else {
        format!("DO UPDATE SET {}", sets.join(", "))
    };
    format!("ON CONFLICT ({}) {action}", keys.join(", "))
}

/// MySQL's upsert clause: `ON DUPLICATE KEY UPDATE c = VALUES(c), ...`; with only key
/// columns, a duplicate changes nothing (`k = k`).
pub(crate) fn on_duplicate_key(opts: &SinkOptions) -> String {
    let sets = upsert_sets(opts, quote_backtick, |q| format!("VALUES({q})"));
    let sets = if sets.is_empty() {
        let k = quote_backtick(&opts.key[0]);
        format!("{k} = {k}")
    } else {
        sets.join(", ")
    };
    format!("ON DUPLICATE KEY UPDATE {sets}")
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
