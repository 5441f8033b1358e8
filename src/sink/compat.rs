//! Whether an existing table can take the pipeline's rows, checked the same way for
//! every database: each backend describes its table ([`Catalog`], [`TableColumn`]),
//! and the rules (and their messages) are here once.

use crate::config::WriteMode;
use crate::error::Result;
use crate::schema::Column;
use crate::sink::{SinkOptions, TableStatus, sink_err};

/// A column of an existing table.
pub(crate) trait TableColumn {
    /// Its name.
    fn name(&self) -> &str;
    /// It must be given a value: NOT NULL, without a default, not filled by the table.
    fn required(&self) -> bool;
    /// Why the pipeline's column `c` cannot be written into it (a generated column, a
    /// type that does not fit), if it cannot.
    fn refuses(&self, c: &Column, mode: WriteMode) -> Option<String>;
}

/// An existing table, as a backend reads it.
pub(crate) trait Catalog {
    /// A column as the backend describes it.
    type Column: TableColumn;
    /// The destination, redacted, for messages.
    fn target(&self) -> &str;
    /// The table's name, for messages.
    fn table_sql(&self) -> String;
    /// Whether two column names are the same column (MySQL ignores case).
    fn same_name(a: &str, b: &str) -> bool {
        a == b
    }
    /// The table's columns, or `None` when there is no such table.
    fn columns(&mut self) -> Result<Option<Vec<Self::Column>>>;
    /// Why the missing table could not be created, if it could not.
    fn cannot_create(&mut self) -> Result<Option<String>> {
        Ok(None)
    }
    /// Why the table could not be replaced (objects that depend on it), if it could not.
    fn replace_blockers(&mut self) -> Result<Option<String>> {
        Ok(None)
    }
    /// Whether a primary key or unique index covers exactly `key`.
    fn has_unique_on(&mut self, cols: &[Self::Column], key: &[String]) -> Result<bool>;
    /// Problems of the table as a whole (MySQL: an engine without transactions).
    fn table_problems(&mut self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// The message for a pipeline column whose type does not fit the table's.
pub(crate) fn type_mismatch(c: &Column, table_type: &str) -> String {
    format!(
        "column {:?} is {} in the pipeline but {table_type} in the table; cast it in the \
         pipeline (a `cast` stage) or change the table",
        c.name, c.data_type
    )
}

/// Why the existing table with columns `cols` cannot take the pipeline's rows (none:
/// it can).
pub(crate) fn incompatibilities<C: Catalog>(
    cat: &mut C,
    opts: &SinkOptions,
    cols: &[C::Column],
) -> Result<Vec<String>> {
    let mut problems = cat.table_problems()?;
    for c in &opts.schema.columns {
        match cols.iter().find(|t| C::same_name(t.name(), &c.name)) {
            // Added before loading (see `missing_columns`).
            None if opts.alter => {}
            None => problems.push(format!(
                "column {:?} is missing from the table (set sink.alter = true to add it)",
                c.name
            )),
            Some(t) => problems.extend(t.refuses(c, opts.mode)),
        }
    }
    for t in cols {
        let provided = opts
            .schema
            .columns
            .iter()
            .any(|c| C::same_name(&c.name, t.name()));
        if !provided && t.required() {
            problems.push(format!(
                "the table's column {:?} is NOT NULL without a default, and the pipeline does not produce it",
                t.name()
            ));
        }
    }
    if opts.mode == WriteMode::Upsert && !cat.has_unique_on(cols, &opts.key)? {
        problems.push(format!(
            "upsert needs a primary key or unique index on ({}) in the existing table",
            opts.key.join(", ")
        ));
    }
    Ok(problems)
}

/// The pipeline's columns that the existing table (with columns `cols`) lacks: with
/// `alter`, the sink adds them before loading.
pub(crate) fn missing_columns<'a, C: Catalog>(
    opts: &'a SinkOptions,
    cols: &[C::Column],
) -> Vec<&'a Column> {
    opts.schema
        .columns
        .iter()
        .filter(|c| !cols.iter().any(|t| C::same_name(t.name(), &c.name)))
        .collect()
}

/// Columns to add to an existing table before loading (`alter`): the statements, and
/// the note that says so.
pub(crate) struct AddColumns {
    /// `ALTER TABLE … ADD COLUMN`, one per column.
    pub sql: Vec<String>,
    /// One line for the run's notes.
    pub note: String,
}

/// [`AddColumns`] for `missing` (nullable columns, of the type a created table would
/// give them): `table_sql` is the quoted table, `column_type` the backend's created
/// type; `if_not_exists` where the database has it (another run may add the same
/// column meanwhile). `None` when nothing is missing.
pub(crate) fn add_columns(
    table_sql: &str,
    missing: &[&Column],
    quote: fn(&str) -> String,
    column_type: impl Fn(&Column) -> String,
    if_not_exists: bool,
) -> Option<AddColumns> {
    if missing.is_empty() {
        return None;
    }
    let defs: Vec<String> = missing
        .iter()
        .map(|c| format!("{} {}", quote(&c.name), column_type(c)))
        .collect();
    Some(AddColumns {
        sql: defs
            .iter()
            .map(|d| {
                let ine = if if_not_exists { "IF NOT EXISTS " } else { "" };
                format!("ALTER TABLE {table_sql} ADD COLUMN {ine}{d}")
            })
            .collect(),
        note: format!(
            "sink.alter: added {} to table {table_sql} before loading: {}",
            if defs.len() == 1 {
                "a column"
            } else {
                "columns"
            },
            defs.join(", ")
        ),
    })
}

/// Refuse the existing table when it cannot take the pipeline's rows.
pub(crate) fn ensure_fits<C: Catalog>(
    cat: &mut C,
    opts: &SinkOptions,
    cols: &[C::Column],
) -> Result<()> {
    let problems = incompatibilities(cat, opts, cols)?;
    if problems.is_empty() {
        return Ok(());
    }
    Err(sink_err(
        cat.target(),
        format!(
            "table {} is not compatible: {}",
            cat.table_sql(),
            problems.join("; ")
        ),
    ))
}

/// The refusal of `mode = "create"` into a table that exists.
pub(crate) fn already_exists(cat: &impl Catalog) -> crate::error::Error {
    sink_err(
        cat.target(),
        format!(
            "table {} already exists (mode = \"create\")",
            cat.table_sql()
        ),
    )
}

/// Check the destination without changing it (for `rowflow check`): what a run would do
/// with the table, or why it would refuse it.
pub(crate) fn check<C: Catalog>(cat: &mut C, opts: &SinkOptions) -> Result<TableStatus> {
    match (cat.columns()?, opts.mode) {
        (None, _) => match cat.cannot_create()? {
            None => Ok(TableStatus::Missing),
            Some(why) => Err(sink_err(
                cat.target(),
                format!("table {} cannot be created: {why}", cat.table_sql()),
            )),
        },
        (Some(_), WriteMode::Replace) => match cat.replace_blockers()? {
            None => Ok(TableStatus::WillReplace),
            Some(why) => Err(sink_err(cat.target(), why)),
        },
        (Some(_), WriteMode::Create) => Err(already_exists(cat)),
        (Some(cols), _) => {
            ensure_fits(cat, opts, &cols)?;
            let missing = missing_columns::<C>(opts, &cols);
            if missing.is_empty() {
                Ok(TableStatus::Compatible)
            } else {
                Ok(TableStatus::WillAddColumns(
                    missing.iter().map(|c| c.name.clone()).collect(),
                ))
            }
        }
    }
}

/// The refusal of a run that planned to create the table when another run created it
/// first.
pub(crate) fn created_meanwhile(target: &str, table_sql: &str) -> crate::error::Error {
    sink_err(
        target,
        format!(
            "table {table_sql} was created by another run while this one started (it did not \
             exist when this run planned it); nothing was written: run again to load into it"
        ),
    )
}
