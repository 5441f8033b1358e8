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
    /// append, create, replace or upsert.
    #[arg(long, value_parser = parse_mode, default_value = "append")]
    mode: WriteMode,
    /// Key columns (comma-separated or repeated): primary key, upsert target.
    #[arg(long, value_delimiter = ',')]
    key: Vec<String>,
    /// Reject file (default: TABLE.rejects.csv).
    #[arg(long)]
    reject: Option<PathBuf>,
    /// Field delimiter (one character; `\t` or `tab` for tabs). Default: detected from
    /// the first lines (`,` tab `;` `|`).
    #[arg(long)]
    delimiter: Option<String>,
    /// The first line is data, not a header (columns are column_1..n). Default:
    /// detected (a first row whose values have the types of the rows below is data).
    #[arg(long, conflicts_with = "header")]
    no_header: bool,
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

fn parse_mode(s: &str) -> Result<WriteMode, String> {
    match s {
        "append" => Ok(WriteMode::Append),
        "create" => Ok(WriteMode::Create),
        "replace" => Ok(WriteMode::Replace),
        "upsert" => Ok(WriteMode::Upsert),
        _ => Err(format!(
            "unknown mode {s:?} (append, create, replace, upsert)"
        )),
    }
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

pub fn run(a: LoadArgs) -> i32 {
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
    let mut sink = SinkSpec::new(a.into.clone().unwrap_or_default(), table);
    sink.mode = a.mode;
    sink.key = a.key.clone();
    sink.alter = a.alter;
    let spec = PipelineSpec {
        // No name: the checkpoint identity is a hash of the spec (the same command is
        // the same load; another mode or table is another).
        name: None,
        source,
        transforms: Vec::new(),
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
    progress::run_and_report(Pipeline::from_spec(spec), &a.out)
}
