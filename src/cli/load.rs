//! `rowflow load FILE... --into URL [--table NAME] ...`: no pipeline file.

use std::path::PathBuf;

use rowflow::config::{ErrorSpec, PipelineSpec, RuntimeSpec};
use rowflow::{Pipeline, SinkSpec, SourceSpec, WriteMode};

use super::{OutputArgs, fail, progress};

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// CSV files, globs, or - for standard input.
    #[arg(required = true)]
    files: Vec<String>,
    /// Destination URL: sqlite://out.db, postgres://user:pass@host/db, mysql://...
    /// (default: the DATABASE_URL environment variable).
    #[arg(long)]
    into: Option<String>,
    /// Table name (default: the first file's name without extensions).
    #[arg(long)]
    table: Option<String>,
    /// append, create, replace, upsert, or truncate (empty the table, then append).
    #[arg(long, value_parser = parse_mode, default_value = "append")]
    mode: LoadMode,
    /// Key columns (comma-separated or repeated): primary key, upsert target.
    #[arg(long, visible_alias = "pk", value_delimiter = ',')]
    key: Vec<String>,
    /// A column's type instead of the inferred one (repeatable): --type zip=text,
    /// --type amount=numeric(12,2).
    #[arg(long = "type", value_name = "COL=TYPE")]
    types: Vec<String>,
    /// A computed column (repeatable): --compute "total=price * qty". With --where, in
    /// the order given.
    #[arg(long, value_name = "COL=EXPR")]
    compute: Vec<String>,
    /// Keep the rows where the SQL condition is true (repeatable): --where "total > 0".
    #[arg(long = "where", value_name = "EXPR")]
    filter: Vec<String>,
    /// Parallel writers (PostgreSQL, MySQL; default 2 for PostgreSQL, 1 with upsert and for MySQL).
    #[arg(long, value_name = "N")]
    writers: Option<usize>,
    /// Skip the first N data rows of each file (after its header).
    #[arg(long, value_name = "N")]
    skip: Option<u64>,
    /// Plan, connect and check the table, say what a load would do, and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Run the first rows (-n, default 20) and show them; write nothing (no --into
    /// needed).
    #[arg(long, conflicts_with = "dry_run")]
    preview: bool,
    /// With --preview: rows to run.
    #[arg(
        short = 'n',
        long = "rows",
        default_value_t = 20,
        value_name = "N",
        requires = "preview"
    )]
    preview_rows: u64,
    /// With --preview: table (aligned, fits the terminal), csv or json.
    #[arg(long, default_value = "table", value_parser = ["table", "csv", "json"], requires = "preview")]
    preview_format: String,
    /// Set any pipeline key, as `run --set` does: --set runtime.batch_rows=2000.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Reject file (default: TABLE.rejects.csv).
    #[arg(long)]
    reject: Option<PathBuf>,
    /// Field delimiter (one character; `\t` or `tab` for tabs). Default: detected from
    /// the first lines (`,` tab `;` `|`).
    #[arg(long)]
    delimiter: Option<String>,
    /// The first line is data, not a header (columns are column_1..n). Default:
    /// detected (a first row whose values have the types of the rows below is data).
    #[arg(long, visible_aliases = ["no-headers", "no-header-row"], conflicts_with = "header")]
    no_header: bool,
    /// The quote character (default: detected, `"` or `'`).
    #[arg(long, value_name = "C")]
    quote: Option<String>,
    /// The escape character inside quoted fields (default: none, quotes are doubled).
    #[arg(long, value_name = "C")]
    escape: Option<String>,
    /// The first line is a header, whatever it looks like.
    #[arg(long)]
    header: bool,
    /// A field value read as NULL (repeatable: --null NA --null -); an unquoted empty
    /// field is NULL anyway.
    #[arg(long = "null", value_name = "VALUE")]
    null: Vec<String>,
    /// The files' character encoding when it is not UTF-8: windows-1252 (also latin1),
    /// iso-8859-15, shift_jis, ... (WHATWG labels).
    #[arg(long, value_name = "LABEL")]
    encoding: Option<String>,
    /// The time zone of timestamps written without an offset: Europe/Paris, UTC,
    /// +02:00, ... (without it such columns stay text).
    #[arg(long, value_name = "ZONE")]
    timezone: Option<String>,
    /// Column names in snake_case (`First Name` → `first_name`) instead of as written.
    #[arg(long)]
    snake_case: bool,
    /// Input format: csv or jsonl (JSON Lines). Default: jsonl for .jsonl and .ndjson
    /// files, csv otherwise (standard input included).
    #[arg(long, value_parser = parse_format, value_name = "FORMAT")]
    format: Option<rowflow::config::InputFormat>,
    /// Files whose headers differ: columns matched by name, a column missing from a
    /// file is NULL in its rows.
    #[arg(long)]
    union_by_name: bool,
    /// Add the columns an existing table lacks (ALTER TABLE ... ADD COLUMN) before
    /// loading.
    #[arg(long)]
    alter: bool,
    #[command(flatten)]
    out: OutputArgs,
}

/// `--mode`: a write mode, or `truncate` (append into the emptied table).
#[derive(Debug, Clone, Copy)]
pub struct LoadMode {
    mode: WriteMode,
    truncate: bool,
}

fn parse_mode(s: &str) -> Result<LoadMode, String> {
    let mode = |mode| LoadMode {
        mode,
        truncate: false,
    };
    match s {
        "append" => Ok(mode(WriteMode::Append)),
        "create" => Ok(mode(WriteMode::Create)),
        "replace" => Ok(mode(WriteMode::Replace)),
        "upsert" => Ok(mode(WriteMode::Upsert)),
        "truncate" => Ok(LoadMode {
            mode: WriteMode::Append,
            truncate: true,
        }),
        _ => Err(format!(
            "unknown mode {s:?} (append, create, replace, upsert, truncate)"
        )),
    }
}

/// `COL=VALUE` split at the first `=`, or the message naming the flag.
fn pair<'a>(flag: &str, s: &'a str) -> Result<(&'a str, &'a str), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => Ok((k.trim(), v.trim())),
        _ => Err(format!(
            "{flag} {s:?}: expected COLUMN=VALUE (e.g. {flag} {})",
            if flag == "--type" {
                "zip=text"
            } else {
                "\"total=price * qty\""
            }
        )),
    }
}

/// The `--compute` and `--where` stages in the order given on the command line
/// (consecutive `--compute`s make one stage: a later column may use an earlier one).
fn stages(
    a: &LoadArgs,
    m: Option<&clap::ArgMatches>,
) -> Result<Vec<rowflow::config::TransformSpec>, String> {
    use rowflow::config::TransformSpec;
    let at = |id: &str, n: usize| -> Vec<usize> {
        m.and_then(|m| m.indices_of(id))
            .map(|i| i.collect())
            .unwrap_or_else(|| (0..n).collect())
    };
    /// A `--compute` (column, expression) or a `--where` condition.
    enum Step {
        Compute(String, String),
        Where(String),
    }
    let mut items: Vec<(usize, Step)> = Vec::new();
    for (i, c) in at("compute", a.compute.len()).into_iter().zip(&a.compute) {
        let (k, v) = pair("--compute", c)?;
        items.push((i, Step::Compute(k.to_string(), v.to_string())));
    }
    for (i, w) in at("filter", a.filter.len()).into_iter().zip(&a.filter) {
        items.push((i, Step::Where(w.clone())));
    }
    items.sort_by_key(|(i, _)| *i);
    let mut out: Vec<TransformSpec> = Vec::new();
    for (_, item) in items {
        match item {
            Step::Compute(col, expr) => match out.last_mut() {
                Some(TransformSpec::Compute { columns }) if !columns.contains_key(&col) => {
                    columns.insert(col, expr);
                }
                _ => {
                    let mut columns = indexmap::IndexMap::new();
                    columns.insert(col, expr);
                    out.push(TransformSpec::Compute { columns });
                }
            },
            Step::Where(condition) => out.push(TransformSpec::Filter { condition }),
        }
    }
    Ok(out)
}

fn parse_format(s: &str) -> Result<rowflow::config::InputFormat, String> {
    match s {
        "csv" => Ok(rowflow::config::InputFormat::Csv),
        "jsonl" | "ndjson" => Ok(rowflow::config::InputFormat::Jsonl),
        _ => Err(format!("unknown format {s:?} (csv, jsonl)")),
    }
}

fn default_table(file: &str) -> String {
    if file == "-" {
        return "stdin".into();
    }
    let name = std::path::Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    let stem = name.split('.').next().unwrap_or(&name);
    let t: String = stem
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if t.is_empty() { "data".into() } else { t }
}

/// `--header` / `--no-header` as `has_header` (`None`: detected).
pub(crate) fn header_flag(header: bool, no_header: bool) -> Option<bool> {
    match (header, no_header) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

pub fn run(a: LoadArgs, matches: Option<&clap::ArgMatches>) -> i32 {
    super::speak_load_flags();
    let env_url = std::env::var("DATABASE_URL").unwrap_or_default();
    let table = a
        .table
        .clone()
        .unwrap_or_else(|| default_table(&a.files[0]));
    let mut source = SourceSpec::paths(a.files.clone());
    source.delimiter = a.delimiter.clone();
    source.has_header = header_flag(a.header, a.no_header);
    source.null_values = a.null.clone();
    source.encoding = a.encoding.clone();
    source.timezone = a.timezone.clone();
    if a.snake_case {
        source.normalize_names = rowflow::config::NormalizeNames::SnakeCase;
    }
    source.format = a.format;
    source.union_by_name = a.union_by_name;
    source.quote = a.quote.clone();
    source.escape = a.escape.clone();
    source.skip_rows = a.skip.unwrap_or(0);
    for t in &a.types {
        match pair("--type", t) {
            Ok((col, ty)) => {
                source.schema.insert(col.to_string(), ty.into());
            }
            Err(e) => return fail(e),
        }
    }
    let transforms = match stages(&a, matches) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    // A preview writes nothing: any destination will do when none is given.
    let into = match (&a.into, a.preview) {
        (None, true) if env_url.trim().is_empty() => "sqlite://preview.db".into(),
        _ => a.into.clone().unwrap_or_default(),
    };
    let mut sink = SinkSpec::new(into, table);
    sink.mode = a.mode.mode;
    sink.truncate = a.mode.truncate;
    sink.key = a.key.clone();
    sink.alter = a.alter;
    sink.writers = a.writers;
    let spec = PipelineSpec {
        // No name: the checkpoint identity is a hash of the spec (the same command is
        // the same load; another mode or table is another).
        name: None,
        source,
        transforms,
        sink,
        errors: ErrorSpec {
            reject_file: a.reject.clone(),
            ..ErrorSpec::default()
        },
        runtime: RuntimeSpec::default(),
    };
    if a.files.is_empty() {
        return fail("no input files");
    }
    if a.into
        .as_deref()
        .unwrap_or(env_url.as_str())
        .trim()
        .is_empty()
        && !a.preview
    {
        return fail(
            "no destination: give --into URL (--into sqlite://out.db, \
             --into postgres://user@host/db, --into mysql://user@host/db) or set DATABASE_URL",
        );
    }
    let spec = if a.set.is_empty() {
        spec
    } else {
        match spec.with_overrides(&a.set) {
            Ok(s) => s,
            Err(e) => return fail(e),
        }
    };
    let pipeline = Pipeline::from_spec(spec);
    if a.dry_run {
        return super::check::check_pipeline(pipeline);
    }
    if a.preview {
        let how = super::preview::ShowArgs {
            rows: a.preview_rows,
            format: a.preview_format.clone(),
            // `load` has no http stage.
            no_http: false,
        };
        return super::preview::show(pipeline, &how);
    }
    progress::run_and_report(pipeline, &a.out)
}
