//! The destination table: its name, what the server says it looks like, whether the
//! rows fit it, and the DDL that creates it.

use postgres::Client;

use super::conn::PgConnect;
use super::encode::{PgType, compatible};
use crate::config::WriteMode;
use crate::error::Result;
use crate::schema::{Column, DataType};
use crate::sink::compat::{Catalog, TableColumn, type_mismatch};
use crate::sink::dialect::{TableName, create_table_sql, quote_ident};
use crate::sink::seam::SinkOptions;

/// A table name quoted for PostgreSQL.
pub(crate) type QualifiedName = TableName;

/// Parse a table name for PostgreSQL.
pub(crate) fn parse_name(s: &str) -> Result<TableName, String> {
    TableName::parse(s, quote_ident)
}

/// A column of an existing table.
#[derive(Debug, Clone)]
pub(crate) struct PgColumn {
    pub name: String,
    pub ty: PgType,
    /// As the server prints it (`integer`, `character varying(20)`).
    pub type_name: String,
    pub not_null: bool,
    /// Has a default, or is an identity or generated column.
    pub has_default: bool,
    /// The server compares values of this column exactly as given: not `char(n)` (which
    /// ignores trailing spaces) and no collation other than the database's default, `C`
    /// or `POSIX` (a nondeterministic one can call `a` and `A` equal).
    pub plain_eq: bool,
    /// A generated column: takes no values.
    pub generated: bool,
    /// An identity `GENERATED ALWAYS`: `COPY` writes the values it is given (as
    /// `OVERRIDING SYSTEM VALUE`), but upsert's `INSERT ... SELECT` may not.
    pub identity_always: bool,
}

/// The existing table's columns, or `None` when there is no such table.
pub(crate) fn table_columns(
    client: &mut Client,
    table: &QualifiedName,
) -> Result<Option<Vec<PgColumn>>, postgres::Error> {
    let oid: Option<u32> = client
        .query_one("SELECT to_regclass($1)::oid", &[&table.sql()])?
        .get(0);
    let Some(oid) = oid else {
        return Ok(None);
    };
    let rows = client.query(
        "SELECT a.attname::text, \
                (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END)::oid, \
                format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '', \
                a.attcollation IN (0, 100, 950, 951) \
                AND (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END) <> 1042, \
                a.attgenerated <> '', a.attidentity = 'a' \
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
         WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        &[&oid],
    )?;
    Ok(Some(
        rows.iter()
            .map(|r| PgColumn {
                name: r.get(0),
                ty: PgType::from_oid(r.get::<_, u32>(1)),
                type_name: r.get(2),
                not_null: r.get(3),
                has_default: r.get(4),
                plain_eq: r.get(5),
                generated: r.get(6),
                identity_always: r.get(7),
            })
            .collect(),
    ))
}

/// Is there a primary key or unique index on exactly the key columns?
pub(crate) fn has_unique_on(
    client: &mut Client,
    table: &QualifiedName,
    key: &[String],
) -> Result<bool, postgres::Error> {
    let rows = client.query(
        "SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i \
         JOIN pg_attribute a ON a.attrelid = i.indrelid \
           AND a.attnum = ANY((i.indkey::int2[])[0:i.indnkeyatts - 1]) \
         WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL \
           AND i.indexprs IS NULL AND i.indisvalid AND i.indimmediate \
         GROUP BY i.indexrelid",
        &[&table.sql()],
    )?;
    let mut want: Vec<&str> = key.iter().map(String::as_str).collect();
    want.sort_unstable();
    Ok(rows.iter().any(|r| {
        let cols: Vec<String> = r.get(0);
        let mut cols: Vec<&str> = cols.iter().map(String::as_str).collect();
        cols.sort_unstable();
        cols == want
    }))
}

/// The longest identifier PostgreSQL keeps (NAMEDATALEN - 1 bytes); a longer one is
/// cut short without an error, so the column would not have the name asked for.
const MAX_IDENT: usize = 63;

/// Refuse names PostgreSQL would cut short: the table's, its schema's and every
/// column's.
pub(crate) fn check_name_lengths(table: &QualifiedName, opts: &SinkOptions) -> Result<(), String> {
    let names = table
        .schema
        .iter()
        .map(|s| ("schema", s))
        .chain([("table", &table.name)])
        .chain(opts.schema.columns.iter().map(|c| ("column", &c.name)));
    for (what, name) in names {
        if name.contains('\0') {
            return Err(format!(
                "{what} name {name:?} contains a NUL byte, which PostgreSQL does not allow in \
                 names: rename it in the pipeline (a `rename` stage)"
            ));
        }
        if name.len() > MAX_IDENT {
            return Err(format!(
                "{what} name {name:?} is {} bytes long; PostgreSQL keeps at most {MAX_IDENT} \
                 and would cut it short: rename it in the pipeline (a `rename` stage) or the table",
                name.len()
            ));
        }
    }
    Ok(())
}

/// Why a missing table could not be created here, if it could not: its schema does not
/// exist, or this user may not create tables in it.
pub(crate) fn cannot_create(
    client: &mut postgres::Client,
    table: &QualifiedName,
) -> Result<Option<String>, postgres::Error> {
    let row = client.query_opt(
        "SELECT n.nspname::text, has_schema_privilege(n.oid, 'CREATE') FROM pg_namespace n \
         WHERE n.nspname = COALESCE($1, current_schema())",
        &[&table.schema],
    )?;
    Ok(match row {
        None => Some(match &table.schema {
            Some(s) => format!("schema {s:?} does not exist"),
            None => "the search_path names no schema that exists".to_string(),
        }),
        Some(r) if !r.get::<_, bool>(1) => Some(format!(
            "this user may not create tables in schema {:?}",
            r.get::<_, String>(0)
        )),
        Some(_) => None,
    })
}

impl TableColumn for PgColumn {
    fn name(&self) -> &str {
        &self.name
    }

    fn required(&self) -> bool {
        self.not_null && !self.has_default
    }

    fn refuses(&self, c: &Column, mode: WriteMode) -> Option<String> {
        if self.generated {
            Some(format!(
                "column {:?} is generated by the table (GENERATED ALWAYS AS) and takes no \
                 values; leave it out of the pipeline (a `drop` stage)",
                c.name
            ))
        } else if self.identity_always && mode == WriteMode::Upsert {
            Some(format!(
                "column {:?} is an identity GENERATED ALWAYS, which upsert's INSERT may \
                 not set; leave it out of the pipeline, or make it GENERATED BY DEFAULT",
                c.name
            ))
        } else if !compatible(c.data_type, self.ty) {
            Some(type_mismatch(c, &self.type_name))
        } else {
            None
        }
    }
}

/// The destination table on a connection, for the compatibility check.
pub(crate) struct PgCatalog<'a> {
    pub client: &'a mut Client,
    pub connect: &'a PgConnect,
    pub table: &'a QualifiedName,
}

impl Catalog for PgCatalog<'_> {
    type Column = PgColumn;

    fn target(&self) -> &str {
        &self.connect.display
    }

    fn table_sql(&self) -> String {
        self.table.sql()
    }

    fn columns(&mut self) -> Result<Option<Vec<PgColumn>>> {
        table_columns(self.client, self.table)
            .map_err(|e| self.connect.error(&e, "reading the table's definition"))
    }

    fn cannot_create(&mut self) -> Result<Option<String>> {
        cannot_create(self.client, self.table)
            .map_err(|e| self.connect.error(&e, "reading the schema"))
    }

    fn replace_blockers(&mut self) -> Result<Option<String>> {
        let deps = dependents(self.client, self.table)
            .map_err(|e| self.connect.error(&e, "reading what depends on the table"))?;
        Ok((!deps.is_empty()).then(|| cannot_replace(self.table, &deps)))
    }

    fn has_unique_on(&mut self, _cols: &[PgColumn], key: &[String]) -> Result<bool> {
        has_unique_on(self.client, self.table, key)
            .map_err(|e| self.connect.error(&e, "reading the table's indexes"))
    }
}

/// `CREATE TABLE` for the output schema, with the key as primary key.
pub(crate) fn create_sql(table: &QualifiedName, opts: &SinkOptions) -> String {
    let ty = |c: &Column, _key: bool| created_type(c);
    create_table_sql(&table.sql(), opts, quote_ident, ty, false, "")
}

/// The type of a created column, its size included (`numeric(12,2)`, `varchar(40)`).
pub(crate) fn created_type(c: &Column) -> String {
    match (c.data_type, c.size) {
        (DataType::Decimal, crate::schema::TypeSize::Numeric { .. })
        | (DataType::Text, crate::schema::TypeSize::Chars(_)) => format!(
            "{}{}",
            if c.data_type == DataType::Decimal {
                "numeric"
            } else {
                "varchar"
            },
            c.size.suffix()
        ),
        (DataType::Text, crate::schema::TypeSize::Json) => "jsonb".to_string(),
        (t, _) => PgType::for_created(t).to_string(),
    }
}

/// The columns a created table would have, as the encoder sees them.
pub(crate) fn created_columns(opts: &SinkOptions) -> Vec<PgColumn> {
    opts.schema
        .columns
        .iter()
        .map(|c| PgColumn {
            name: c.name.clone(),
            ty: match c.data_type {
                DataType::Int => PgType::Int8,
                DataType::Float => PgType::Float8,
                DataType::Decimal => PgType::Numeric,
                DataType::Bool => PgType::Bool,
                DataType::Date => PgType::Date,
                DataType::Timestamp => PgType::Timestamptz,
                DataType::Text if c.size == crate::schema::TypeSize::Json => PgType::Jsonb,
                DataType::Text => PgType::Text,
            },
            type_name: created_type(c),
            not_null: opts.key.contains(&c.name),
            has_default: false,
            plain_eq: true,
            generated: false,
            identity_always: false,
        })
        .collect()
}

/// The checkpoint table, in the target table's schema.
pub(crate) fn checkpoint_table_sql(table: &QualifiedName) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (pipeline text NOT NULL, target_table text NOT NULL, \
         input_id text NOT NULL, writer integer NOT NULL, input text NOT NULL, run_id text NOT NULL, \
         txn bigint NOT NULL, state text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), \
         PRIMARY KEY (pipeline, target_table, input_id, writer))",
        table.sibling(crate::checkpoint::TABLE).sql()
    )
}

/// Upsert of this run's checkpoint row (parameters: pipeline, table, input id, writer,
/// input, run id, txn, state).
pub(crate) fn checkpoint_upsert_sql(table: &QualifiedName) -> String {
    format!(
        "INSERT INTO {} AS c (pipeline, target_table, input_id, writer, input, run_id, txn, state, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) \
         ON CONFLICT (pipeline, target_table, input_id, writer) DO UPDATE SET input = EXCLUDED.input, \
         run_id = EXCLUDED.run_id, txn = EXCLUDED.txn, state = EXCLUDED.state, updated_at = now()",
        table.sibling(crate::checkpoint::TABLE).sql()
    )
}

/// Objects that depend on the table and that dropping it (`replace`) would fail on, or
/// with CASCADE take with it: views and materialized views on it, and foreign keys of
/// other tables that reference it.
pub(crate) fn dependents(
    client: &mut Client,
    table: &QualifiedName,
) -> Result<Vec<String>, postgres::Error> {
    let rows = client.query(
        "SELECT DISTINCT CASE v.relkind WHEN 'm' THEN 'materialized view ' ELSE 'view ' END \
                || v.oid::regclass::text \
         FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class \
         WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = to_regclass($1) \
           AND v.oid <> to_regclass($1) \
         UNION ALL \
         SELECT 'foreign key ' || quote_ident(c.conname) || ' of table ' || c.conrelid::regclass::text \
         FROM pg_constraint c \
         WHERE c.contype = 'f' AND c.confrelid = to_regclass($1) AND c.conrelid <> to_regclass($1) \
         UNION ALL \
         SELECT 'table ' || i.inhrelid::regclass::text || ', which inherits from it' \
         FROM pg_inherits i WHERE i.inhparent = to_regclass($1) \
         UNION ALL \
         SELECT DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid) || ', which uses its row type' \
         FROM pg_depend d JOIN pg_class t ON t.oid = to_regclass($1) \
         WHERE d.refclassid = 'pg_type'::regclass AND d.refobjid = t.reltype AND d.deptype = 'n' \
         ORDER BY 1",
        &[&table.sql()],
    )?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}

/// The refusal of a `replace` of a table that other objects depend on.
pub(crate) fn cannot_replace(table: &QualifiedName, deps: &[String]) -> String {
    format!(
        "table {} cannot be replaced: {} depend{} on it, and mode = \"replace\" drops the table \
         (the database would refuse, or with CASCADE drop {}). Drop or change {} first, or keep \
         the table and empty it instead: mode = \"append\" with truncate = true (a foreign key \
         that references the table prevents that too)",
        table.sql(),
        deps.join(", "),
        if deps.len() == 1 { "s" } else { "" },
        if deps.len() == 1 { "it" } else { "them" },
        if deps.len() == 1 { "it" } else { "them" },
    )
}
