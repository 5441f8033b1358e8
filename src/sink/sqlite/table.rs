//! SQLite tables: what an existing one looks like, whether the rows fit it, and the SQL
//! that creates it, inserts into it and keeps its checkpoints.

use rusqlite::{Connection, OptionalExtension, params};

use crate::config::WriteMode;
use crate::error::Result;
use crate::schema::{Column, DataType};
use crate::sink::compat::{Catalog, TableColumn};
use crate::sink::dialect::{column_list, create_table_sql, on_conflict, quote_ident};
use crate::sink::seam::SinkOptions;
use crate::sink::seam::sink_err;

/// The declared type for a column of a created table.
pub(super) fn sqlite_type(t: DataType) -> &'static str {
    match t {
        DataType::Int => "INTEGER",
        DataType::Float => "REAL",
        DataType::Decimal => "TEXT",
        DataType::Bool => "BOOLEAN",
        DataType::Date => "DATE",
        DataType::Timestamp => "TIMESTAMP",
        DataType::Text => "TEXT",
    }
}

/// The declared type of a created column, its size included: a `numeric(p,s)` of at
/// most 15 digits is `NUMERIC(p,s)` (NUMERIC affinity: stored as a number, compared and
/// sorted as one, exact to its 15 digits), a larger or unbounded decimal stays `TEXT`
/// (every digit kept, compared as text); `varchar(n)` is `VARCHAR(n)` (TEXT affinity).
pub(super) fn sized_type(c: &Column) -> String {
    match (c.data_type, c.size) {
        (DataType::Decimal, crate::schema::TypeSize::Numeric { precision, scale })
            if precision <= 15 =>
        {
            format!("NUMERIC({precision},{scale})")
        }
        (DataType::Text, crate::schema::TypeSize::Chars(n)) => format!("VARCHAR({n})"),
        (t, _) => sqlite_type(t).to_string(),
    }
}

/// SQLite's type affinity for a declared type (the rules of section 3.1 of its docs).
pub(super) fn affinity(declared: &str) -> &'static str {
    let d = declared.to_ascii_uppercase();
    if d.contains("INT") {
        "INTEGER"
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        "TEXT"
    } else if d.contains("BLOB") || d.is_empty() {
        "BLOB"
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        "REAL"
    } else {
        "NUMERIC"
    }
}

pub(super) struct SqliteColumn {
    name: String,
    declared: String,
    not_null: bool,
    has_default: bool,
    pk: i64,
}

pub(super) fn table_columns(
    conn: &Connection,
    table: &str,
) -> rusqlite::Result<Option<Vec<SqliteColumn>>> {
    let exists: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            params![table],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Ok(None);
    }
    let mut stmt = conn.prepare(
        "SELECT name, type, \"notnull\", dflt_value IS NOT NULL, pk FROM pragma_table_info(?1)",
    )?;
    let cols = stmt
        .query_map(params![table], |r| {
            Ok(SqliteColumn {
                name: r.get(0)?,
                declared: r.get(1)?,
                not_null: r.get(2)?,
                has_default: r.get(3)?,
                pk: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(cols))
}

/// Do SQLite and rowflow agree on which key values of the existing table are equal?
/// Only then may rows be reordered by key: the sort keeps the input order among keys
/// rowflow calls equal, and the first occurrence (or with upsert the last) must stay the
/// one SQLite sees first (last). Not so when a text key has a collation (`NOCASE`
/// calls `a` and `A` equal, `RTRIM` ignores trailing spaces), or a key column has REAL
/// affinity (integers beyond 2^53 and decimals are rounded).
pub(super) fn exact_key_order(
    conn: &Connection,
    opts: &SinkOptions,
    cols: &[SqliteColumn],
) -> rusqlite::Result<bool> {
    let sql: Option<String> = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
            params![opts.table],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    let collate = sql.is_some_and(|s| s.to_ascii_uppercase().contains("COLLATE"));
    Ok(opts.key.iter().all(|k| {
        let text = opts
            .schema
            .columns
            .iter()
            .any(|c| &c.name == k && c.data_type == DataType::Text);
        let real = cols
            .iter()
            .any(|t| &t.name == k && affinity(&t.declared) == "REAL");
        !(real || (text && collate))
    }))
}

/// Is there a primary key or unique index on exactly `key`?
pub(super) fn has_unique_on(
    conn: &Connection,
    table: &str,
    cols: &[SqliteColumn],
    key: &[String],
) -> rusqlite::Result<bool> {
    let mut pk: Vec<(i64, &str)> = cols
        .iter()
        .filter(|c| c.pk > 0)
        .map(|c| (c.pk, c.name.as_str()))
        .collect();
    pk.sort();
    let pk: Vec<&str> = pk.into_iter().map(|(_, n)| n).collect();
    let mut want: Vec<&str> = key.iter().map(String::as_str).collect();
    want.sort();
    let mut pk_sorted = pk.clone();
    pk_sorted.sort();
    if pk_sorted == want {
        return Ok(true);
    }
    let mut idx = conn.prepare("SELECT name FROM pragma_index_list(?1) WHERE \"unique\" = 1")?;
    let names = idx
        .query_map(params![table], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for n in names {
        let mut info = conn.prepare("SELECT name FROM pragma_index_info(?1)")?;
        let mut icols = info
            .query_map(params![n], |r| r.get::<_, Option<String>>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect::<Vec<_>>();
        icols.sort();
        if icols.iter().map(String::as_str).collect::<Vec<_>>() == want {
            return Ok(true);
        }
    }
    Ok(false)
}

impl TableColumn for SqliteColumn {
    fn name(&self) -> &str {
        &self.name
    }

    /// Not an INTEGER PRIMARY KEY (an alias of the rowid, which SQLite fills).
    fn required(&self) -> bool {
        let is_rowid = self.pk == 1
            && affinity(&self.declared) == "INTEGER"
            && self.declared.eq_ignore_ascii_case("INTEGER");
        self.not_null && !self.has_default && !is_rowid
    }

    fn refuses(&self, c: &Column, _mode: WriteMode) -> Option<String> {
        let aff = affinity(&self.declared);
        if c.data_type == DataType::Text && matches!(aff, "INTEGER" | "REAL" | "NUMERIC") {
            return Some(format!(
                "column {:?} is text but the table declares it {:?} ({aff} affinity), \
                 which would turn values such as \"007\" into numbers; cast it in the \
                 pipeline or change the table",
                c.name, self.declared
            ));
        }
        if c.data_type == DataType::Int && aff == "REAL" {
            return Some(format!(
                "column {:?} is int but the table declares it {:?} (REAL affinity), \
                 which loses precision above 2^53",
                c.name, self.declared
            ));
        }
        None
    }
}

/// The destination table in a database, for the compatibility check.
pub(super) struct SqliteCatalog<'a> {
    pub conn: &'a Connection,
    pub target: &'a str,
    pub table: &'a str,
}

impl Catalog for SqliteCatalog<'_> {
    type Column = SqliteColumn;

    fn target(&self) -> &str {
        self.target
    }

    fn table_sql(&self) -> String {
        format!("{:?}", self.table)
    }

    fn columns(&mut self) -> Result<Option<Vec<SqliteColumn>>> {
        table_columns(self.conn, self.table).map_err(|e| sink_err(self.target, e))
    }

    fn has_unique_on(&mut self, cols: &[SqliteColumn], key: &[String]) -> Result<bool> {
        has_unique_on(self.conn, self.table, cols, key).map_err(|e| sink_err(self.target, e))
    }
}

pub(super) fn create_sql(opts: &SinkOptions) -> String {
    // A single integer key is declared inline: INTEGER PRIMARY KEY makes it the rowid.
    let single_int_key = opts.key.len() == 1
        && opts
            .schema
            .columns
            .iter()
            .any(|c| c.name == opts.key[0] && c.data_type == DataType::Int);
    let ty = |c: &Column, key: bool| {
        let t = sized_type(c);
        if key && single_int_key {
            format!("{t} PRIMARY KEY")
        } else {
            t.to_string()
        }
    };
    create_table_sql(
        &quote_ident(&opts.table),
        opts,
        quote_ident,
        ty,
        single_int_key,
        "",
    )
}

pub(super) fn insert_sql(opts: &SinkOptions, rows: usize) -> String {
    let names = column_list(opts, quote_ident);
    let n = names.len();
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let params: Vec<String> = (1..=n).map(|i| format!("?{}", r * n + i)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES {}",
        quote_ident(&opts.table),
        names.join(", "),
        values.join(", ")
    );
    if opts.mode == WriteMode::Upsert {
        sql.push(' ');
        sql.push_str(&on_conflict(opts, "excluded"));
    }
    sql
}

/// The checkpoint table (see [`crate::checkpoint`]).
pub(super) fn checkpoint_table_sql() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (pipeline TEXT NOT NULL, target_table TEXT NOT NULL, \
         input_id TEXT NOT NULL, writer INTEGER NOT NULL, input TEXT NOT NULL, run_id TEXT NOT NULL, \
         txn INTEGER NOT NULL, state TEXT NOT NULL, updated_at TEXT NOT NULL, \
         PRIMARY KEY (pipeline, target_table, input_id, writer))",
        quote_ident(crate::checkpoint::TABLE)
    )
}

pub(super) fn checkpoint_upsert_sql() -> String {
    format!(
        "INSERT INTO {} (pipeline, target_table, input_id, writer, input, run_id, txn, state, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) \
         ON CONFLICT (pipeline, target_table, input_id, writer) DO UPDATE SET input = excluded.input, \
         run_id = excluded.run_id, txn = excluded.txn, state = excluded.state, updated_at = excluded.updated_at",
        quote_ident(crate::checkpoint::TABLE)
    )
}
