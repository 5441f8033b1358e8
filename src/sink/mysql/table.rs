//! MySQL/MariaDB tables: names, introspection, type mapping, DDL.

use mysql::prelude::Queryable;

use super::conn::MyConnect;
use crate::config::WriteMode;
use crate::error::{Error, Result};
use crate::schema::{Column, DataType};
use crate::sink::compat::{Catalog, TableColumn, type_mismatch};
use crate::sink::dialect::{TableName, create_table_sql};
use crate::sink::seam::SinkOptions;

pub(crate) use crate::sink::dialect::quote_backtick as quote;

/// A table name quoted for MySQL (`database.table` or `table`).
pub(crate) type MyName = TableName;

/// Parse a table name for MySQL.
pub(crate) fn parse_name(s: &str) -> Result<TableName, String> {
    TableName::parse(s, quote)
}

/// The target column types rowflow tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MyType {
    Int,
    Decimal,
    Float,
    Bool,
    Date,
    DateTime,
    Text,
    Json,
    Other,
}

impl MyType {
    fn from_info(data_type: &str, column_type: &str) -> MyType {
        match data_type {
            "tinyint" if column_type.starts_with("tinyint(1)") => MyType::Bool,
            "tinyint" | "smallint" | "mediumint" | "int" | "bigint" | "year" => MyType::Int,
            "decimal" => MyType::Decimal,
            "float" | "double" => MyType::Float,
            "bit" if column_type == "bit(1)" => MyType::Bool,
            "date" => MyType::Date,
            "datetime" | "timestamp" => MyType::DateTime,
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum"
            | "set" => MyType::Text,
            "json" => MyType::Json,
            _ => MyType::Other,
        }
    }

    /// The column type of a created table (`key`: part of the primary key, which
    /// cannot be a TEXT column).
    pub(crate) fn for_created(t: DataType, key: bool) -> &'static str {
        match t {
            DataType::Int => "BIGINT",
            DataType::Float => "DOUBLE",
            // Exact: rowflow's decimals have at most 28 digits, all of them kept.
            DataType::Decimal => "DECIMAL(65,28)",
            DataType::Bool => "BOOLEAN",
            DataType::Date => "DATE",
            // UTC, microseconds (MySQL has no type that keeps an offset).
            DataType::Timestamp => "DATETIME(6)",
            DataType::Text if key => "VARCHAR(255)",
            DataType::Text => "LONGTEXT",
        }
    }
}

/// Can values of type `src` go into a column of type `dst`?
pub(crate) fn compatible(src: DataType, dst: MyType) -> bool {
    use DataType as D;
    use MyType as M;
    matches!(
        (src, dst),
        (_, M::Text | M::Other)
            | (D::Int, M::Int | M::Decimal | M::Float | M::Bool | M::Json)
            | (D::Float, M::Float | M::Decimal)
            | (D::Decimal, M::Decimal | M::Float)
            | (D::Bool, M::Bool | M::Int)
            | (D::Date, M::Date | M::DateTime)
            | (D::Timestamp, M::DateTime)
            | (D::Text, M::Json)
    )
}

#[derive(Debug, Clone)]
pub(crate) struct MyColumn {
    pub name: String,
    pub ty: MyType,
    pub column_type: String,
    pub not_null: bool,
    pub has_default: bool,
    /// A generated column (`VIRTUAL`/`STORED`/`PERSISTENT`), which takes no values.
    pub generated: bool,
}

fn db_expr(t: &MyName) -> (&'static str, Option<String>) {
    match &t.schema {
        Some(d) => ("?", Some(d.clone())),
        None => ("DATABASE()", None),
    }
}

/// Why a missing table could not be created here, if it could not: its database does
/// not exist (or the connection names none).
pub(crate) fn cannot_create(conn: &mut mysql::Conn, t: &MyName) -> mysql::Result<Option<String>> {
    let db: Option<String> = match &t.schema {
        Some(d) => Some(d.clone()),
        None => conn
            .query_first::<Option<String>, _>("SELECT DATABASE()")?
            .flatten(),
    };
    let Some(db) = db else {
        return Ok(Some(
            "the URL names no database: add one (mysql://host/db) or qualify the table (db.table)"
                .into(),
        ));
    };
    let found: Option<u32> = conn.exec_first(
        "SELECT 1 FROM information_schema.schemata WHERE schema_name = ?",
        (db.clone(),),
    )?;
    Ok(found
        .is_none()
        .then(|| format!("database {db:?} does not exist")))
}

/// Whether the table exists as far as this user can see (information_schema lists the
/// tables it has some privilege on).
pub(crate) fn exists(conn: &mut mysql::Conn, t: &MyName) -> mysql::Result<bool> {
    let found: Option<u32> = conn.exec_first(
        "SELECT 1 FROM information_schema.tables \
         WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?",
        (t.schema.clone(), t.name.clone()),
    )?;
    Ok(found.is_some())
}

pub(crate) fn table_columns(
    conn: &mut mysql::Conn,
    t: &MyName,
) -> mysql::Result<Option<Vec<MyColumn>>> {
    let (db, dbv) = db_expr(t);
    let sql = format!(
        "SELECT column_name, data_type, column_type, is_nullable, column_default IS NOT NULL, extra \
         FROM information_schema.columns WHERE table_schema = {db} AND table_name = ? ORDER BY ordinal_position"
    );
    let params: Vec<mysql::Value> = dbv
        .into_iter()
        .chain([t.name.clone()])
        .map(Into::into)
        .collect();
    let rows: Vec<(String, String, String, String, bool, String)> = conn.exec(sql, params)?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.into_iter()
            .map(|(name, dt, ct, nullable, has_default, extra)| MyColumn {
                ty: MyType::from_info(&dt.to_ascii_lowercase(), &ct.to_ascii_lowercase()),
                name,
                column_type: ct,
                not_null: nullable == "NO",
                has_default: has_default || !extra.is_empty(),
                // Not MySQL 8's DEFAULT_GENERATED (an expression default).
                generated: {
                    let e = extra.to_ascii_uppercase();
                    e.contains("VIRTUAL GENERATED")
                        || e.contains("STORED GENERATED")
                        || e.contains("PERSISTENT")
                },
            })
            .collect(),
    ))
}

pub(crate) fn has_unique_on(
    conn: &mut mysql::Conn,
    t: &MyName,
    key: &[String],
) -> mysql::Result<bool> {
    let (db, dbv) = db_expr(t);
    let sql = format!(
        "SELECT index_name, COALESCE(column_name, '') FROM information_schema.statistics \
         WHERE table_schema = {db} AND table_name = ? AND non_unique = 0 ORDER BY index_name"
    );
    let params: Vec<mysql::Value> = dbv
        .into_iter()
        .chain([t.name.clone()])
        .map(Into::into)
        .collect();
    let rows: Vec<(String, String)> = conn.exec(sql, params)?;
    let mut want: Vec<String> = key.iter().map(|k| k.to_lowercase()).collect();
    want.sort();
    let mut by_index: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (i, c) in rows {
        by_index.entry(i).or_default().push(c.to_lowercase());
    }
    // An index with an expression part (MySQL 8's functional key parts have no column
    // name) cannot serve as the upsert's key.
    Ok(by_index.into_values().any(|mut cols| {
        cols.sort();
        !cols.iter().any(String::is_empty) && cols == want
    }))
}

/// The table's storage engine when it has no transactions (MyISAM, Aria, MEMORY...):
/// there a refused or interrupted batch cannot be rolled back, so row isolation and
/// resuming would leave rows written twice.
pub(crate) fn non_transactional_engine(
    conn: &mut mysql::Conn,
    t: &MyName,
) -> mysql::Result<Option<String>> {
    let (db, dbv) = db_expr(t);
    let sql = format!(
        "SELECT t.engine FROM information_schema.tables t \
         JOIN information_schema.engines e ON e.engine = t.engine \
         WHERE t.table_schema = {db} AND t.table_name = ? AND e.transactions <> 'YES'"
    );
    let params: Vec<mysql::Value> = dbv
        .into_iter()
        .chain([t.name.clone()])
        .map(Into::into)
        .collect();
    conn.exec_first(sql, params)
}

impl TableColumn for MyColumn {
    fn name(&self) -> &str {
        &self.name
    }

    fn required(&self) -> bool {
        self.not_null && !self.has_default
    }

    fn refuses(&self, c: &Column, _mode: WriteMode) -> Option<String> {
        if self.generated {
            Some(format!(
                "column {:?} is generated by the table and takes no values; leave it out of \
                 the pipeline (a `drop` stage)",
                c.name
            ))
        } else if !compatible(c.data_type, self.ty) {
            Some(type_mismatch(c, &self.column_type))
        } else {
            None
        }
    }
}

/// The destination table on a connection, for the compatibility check.
pub(crate) struct MyCatalog<'a> {
    pub conn: &'a mut mysql::Conn,
    pub connect: &'a MyConnect,
    pub table: &'a MyName,
}

impl MyCatalog<'_> {
    fn read(&self, e: mysql::Error) -> Error {
        self.connect.error(&e, "reading the table's definition")
    }
}

impl Catalog for MyCatalog<'_> {
    type Column = MyColumn;

    fn target(&self) -> &str {
        &self.connect.display
    }

    fn table_sql(&self) -> String {
        self.table.sql()
    }

    /// MySQL compares column names without regard to case.
    fn same_name(a: &str, b: &str) -> bool {
        a.eq_ignore_ascii_case(b)
    }

    fn columns(&mut self) -> Result<Option<Vec<MyColumn>>> {
        table_columns(self.conn, self.table).map_err(|e| self.read(e))
    }

    fn cannot_create(&mut self) -> Result<Option<String>> {
        cannot_create(self.conn, self.table).map_err(|e| self.read(e))
    }

    fn replace_blockers(&mut self) -> Result<Option<String>> {
        let deps = dependents(self.conn, self.table)
            .map_err(|e| self.connect.error(&e, "reading what depends on the table"))?;
        Ok((!deps.is_empty()).then(|| cannot_replace(self.table, &deps)))
    }

    fn has_unique_on(&mut self, _cols: &[MyColumn], key: &[String]) -> Result<bool> {
        has_unique_on(self.conn, self.table, key).map_err(|e| self.read(e))
    }

    /// An engine without transactions: a refused or interrupted batch could not be
    /// rolled back (rows would be written twice).
    fn table_problems(&mut self) -> Result<Vec<String>> {
        let engine = non_transactional_engine(self.conn, self.table).map_err(|e| self.read(e))?;
        Ok(engine
            .map(|e| {
                format!(
                    "the table's engine {e} has no transactions, so a refused or interrupted batch \
                     could not be rolled back (rows would be written twice); convert it with \
                     ALTER TABLE ... ENGINE=InnoDB"
                )
            })
            .into_iter()
            .collect())
    }
}

/// The binary collation created tables get: one without PAD SPACE where the server has
/// it (MariaDB's `utf8mb4_nopad_bin`, MySQL 8's `utf8mb4_0900_bin`), so that `'a'` and
/// `'a '` are different values and keys, as in PostgreSQL and SQLite; else
/// `utf8mb4_bin`.
pub(crate) fn exact_collation(conn: &mut mysql::Conn) -> mysql::Result<&'static str> {
    let have: Vec<String> = conn.query(
        "SELECT collation_name FROM information_schema.collations \
         WHERE collation_name IN ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin')",
    )?;
    Ok(["utf8mb4_nopad_bin", "utf8mb4_0900_bin"]
        .into_iter()
        .find(|c| have.iter().any(|h| h == c))
        .unwrap_or("utf8mb4_bin"))
}

/// The type of a created column (`key`: one of the primary key's), its size included.
pub(crate) fn created_type(c: &Column, key: bool) -> String {
    match (c.data_type, c.size) {
        (DataType::Decimal, crate::schema::TypeSize::Numeric { .. }) => {
            format!("DECIMAL{}", c.size.suffix())
        }
        // VARCHAR(n) of utf8mb4 fits a row up to 16383 characters.
        (DataType::Text, crate::schema::TypeSize::Chars(n)) if n <= 16383 => {
            format!("VARCHAR({n})")
        }
        (t, _) => MyType::for_created(t, key).to_string(),
    }
}

/// `CREATE TABLE` for the output schema, with the key as primary key, in `collation`
/// (see [`exact_collation`]).
pub(crate) fn create_sql(t: &MyName, opts: &SinkOptions, collation: &str) -> String {
    let ty = |c: &Column, key: bool| created_type(c, key);
    // A binary collation: text compares exactly, as in PostgreSQL and SQLite (the
    // default collations would make 'A' and 'a' the same key).
    let options = format!(" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collation}");
    create_table_sql(&t.sql(), opts, quote, ty, false, &options)
}

pub(crate) fn checkpoint_table_sql(t: &MyName) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (pipeline VARCHAR(190) NOT NULL, target_table VARCHAR(190) NOT NULL, \
         input_id CHAR(64) NOT NULL, writer INT NOT NULL, input TEXT NOT NULL, run_id VARCHAR(64) NOT NULL, \
         txn BIGINT NOT NULL, state MEDIUMTEXT NOT NULL, updated_at DATETIME(6) NOT NULL, \
         PRIMARY KEY (pipeline, target_table, input_id, writer)) \
         ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        t.sibling(crate::checkpoint::TABLE).sql()
    )
}

pub(crate) fn checkpoint_upsert_sql(t: &MyName) -> String {
    format!(
        "INSERT INTO {} (pipeline, target_table, input_id, writer, input, run_id, txn, state, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE input = VALUES(input), \
         run_id = VALUES(run_id), txn = VALUES(txn), state = VALUES(state), updated_at = VALUES(updated_at)",
        t.sibling(crate::checkpoint::TABLE).sql()
    )
}

/// Foreign keys of other tables that reference the table: `replace` (which renames and
/// drops it) would break them.
pub(crate) fn dependents(conn: &mut mysql::Conn, t: &MyName) -> mysql::Result<Vec<String>> {
    let rows: Vec<(String, String)> = conn.exec(
        "SELECT CONSTRAINT_NAME, TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS \
         WHERE UNIQUE_CONSTRAINT_SCHEMA = COALESCE(?, DATABASE()) AND REFERENCED_TABLE_NAME = ? \
           AND NOT (CONSTRAINT_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?) \
         ORDER BY TABLE_NAME, CONSTRAINT_NAME",
        (
            t.schema.clone(),
            t.name.clone(),
            t.schema.clone(),
            t.name.clone(),
        ),
    )?;
    Ok(rows
        .into_iter()
        .map(|(c, tbl)| format!("foreign key {} of table {}", quote(&c), quote(&tbl)))
        .collect())
}

/// The refusal of a `replace` of a table that other tables' foreign keys reference.
pub(crate) fn cannot_replace(t: &MyName, deps: &[String]) -> String {
    format!(
        "table {} cannot be replaced: {} reference{} it, and mode = \"replace\" swaps in a new \
         table and drops the old one. Drop or change {} first, or load with mode = \"append\"",
        t.sql(),
        deps.join(", "),
        if deps.len() == 1 { "s" } else { "" },
        if deps.len() == 1 { "it" } else { "them" },
    )
}
