//! The pipeline specification: plain serde types that a pipeline TOML file (or the
//! library builder) produces. Nothing here does work; the private `plan` module validates a spec
//! into a runnable plan.
//!
//! Every option is documented once, here; `docs/pipeline.md` is the reference for users.

mod interpolate;
mod overrides;
#[cfg(test)]
mod reference;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

pub use interpolate::interpolate_env;
pub use overrides::apply_override;

use crate::error::{Error, Result};

/// A whole pipeline: where rows come from, what happens to them, where they go.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Pipeline name (used in logs and, later, checkpoints). Defaults to the file stem.
    #[serde(default)]
    pub name: Option<String>,
    /// The CSV input.
    pub source: SourceSpec,
    /// Transform stages, applied in order.
    #[serde(default, rename = "transform")]
    pub transforms: Vec<TransformSpec>,
    /// The destination.
    pub sink: SinkSpec,
    /// What to do with rows that fail.
    #[serde(default)]
    pub errors: ErrorSpec,
    /// Runtime tuning.
    #[serde(default)]
    pub runtime: RuntimeSpec,
}

/// How the CSV input is read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// One path, a glob (`data/*.csv`), or `-` for standard input. `.gz` and `.zst`
    /// files are decompressed by extension.
    #[serde(default)]
    pub path: Option<String>,
    /// Several paths or globs, read in order (all must have the same header).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Field delimiter, one byte (`","`, `"\t"`, `";"`, `"|"`). Default: detected from
    /// the first input's first lines (`,` `\t` `;` `|`).
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Quote character. Default: detected (`"` or `'`), `"` when nothing tells.
    #[serde(default)]
    pub quote: Option<String>,
    /// Escape character inside quoted fields (e.g. `\`). Default: none (quotes are
    /// escaped by doubling them, RFC 4180).
    #[serde(default)]
    pub escape: Option<String>,
    /// Lines starting with this character are skipped. Default: none.
    #[serde(default)]
    pub comment: Option<String>,
    /// Whether the first record is a header. Default: detected (a first row whose
    /// values have the types of the rows below it is data); when false the columns are
    /// named `column_1`..`column_n`.
    #[serde(default)]
    pub has_header: Option<bool>,
    /// Extra field values read as NULL (an unquoted empty field is always NULL; a quoted
    /// empty field `""` is the empty string).
    #[serde(default)]
    pub null_values: Vec<String>,
    /// `"csv"` or `"jsonl"` (JSON Lines: one object per line). Default: `jsonl` for
    /// `.jsonl` and `.ndjson` files (also compressed), `csv` otherwise.
    #[serde(default)]
    pub format: Option<InputFormat>,
    /// JSON Lines: columns picked by JSON pointer, `{ city = "/address/city" }`.
    #[serde(default)]
    pub fields: IndexMap<String, String>,
    /// Inputs with different headers are loaded together: their columns matched by
    /// name, the union of them (in the order first seen) loaded, a column an input lacks
    /// NULL. Default false: different headers are an error naming the first difference.
    #[serde(default)]
    pub union_by_name: bool,
    /// Data records skipped at the start of every input, after its header (a title or
    /// notes above the data). Default 0. `rowflow load --skip N`.
    #[serde(default)]
    pub skip_rows: u64,
    /// Records with too few or too many fields: `reject` (default), `pad` (missing
    /// fields are NULL), `truncate` (extra fields dropped) or `pad_or_truncate`.
    #[serde(default)]
    pub ragged: Ragged,
    /// The inputs' character encoding, a WHATWG label (`"windows-1252"`, `"latin1"`,
    /// `"iso-8859-15"`, `"shift_jis"`, ...); default UTF-8.
    #[serde(default)]
    pub encoding: Option<String>,
    /// The time zone of timestamps written without an offset (`2021-07-20 14:03`): an
    /// IANA name (`"Europe/Paris"`), `"UTC"` or an offset (`"+02:00"`). Declared
    /// timestamp columns read such values as UTC when it is not set; inference takes
    /// them for timestamps only when it is set.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Type inference: `scan` (default: read every file once before loading) or
    /// `sample` (only the first `sample_rows` records; later values that do not fit are
    /// row errors).
    #[serde(default)]
    pub infer: InferMode,
    /// `"snake_case"`: column names from the header become lower-case words joined by
    /// `_` (`First Name` → `first_name`); `"none"` (default) keeps them as written.
    #[serde(default)]
    pub normalize_names: NormalizeNames,
    /// Records read by `infer = "sample"` (and for standard input). Default 10000.
    #[serde(default = "default_sample_rows")]
    pub sample_rows: usize,
    /// Explicit column types, overriding inference: `column = "type"`, or with the
    /// format its values are written in: `column = { type = "date", format = "MM/DD/YYYY" }`.
    #[serde(default)]
    pub schema: IndexMap<String, ColumnType>,
    /// The largest record, in bytes: a larger one is a row error (its reject entry cut
    /// short), so that memory stays bounded whatever the input. Default 67108864 (64 MiB).
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
    /// The largest header line, in bytes: a larger one is an error (a file that is not
    /// CSV, or read with the wrong delimiter or quote). Default 1048576 (1 MiB).
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// How inputs given as URLs (`s3://`, `gs://`, `az://`, `http(s)://`) are reached:
    /// endpoint, region, credentials options, timeouts.
    #[serde(default)]
    pub storage: StorageSpec,
}

/// `[source.storage]`: how remote inputs are reached. Credentials come from the
/// providers' usual environment variables (`AWS_ACCESS_KEY_ID`, `GOOGLE_*`, `AZURE_*`,
/// ...) unless `options` sets them; nothing here is ever printed.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorageSpec {
    /// The endpoint of an S3-compatible store (MinIO, Ceph, R2, a local server), e.g.
    /// `http://127.0.0.1:9000`. Default: `AWS_ENDPOINT_URL`, else the provider's own.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The region (S3). Default: `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Allow plain `http://` endpoints. Default false (true when `endpoint` is an
    /// `http://` URL).
    #[serde(default)]
    pub allow_http: bool,
    /// Send requests unsigned (public buckets). Default false.
    #[serde(default)]
    pub anonymous: bool,
    /// Seconds a read may wait for the next bytes before the connection is taken as
    /// stalled and the read is retried from where it stopped. Default 60. (There is no
    /// limit on a whole download: a 30-minute stream is fine while bytes flow.)
    #[serde(default = "default_read_timeout")]
    pub read_timeout: f64,
    /// Reconnections in a row without progress before an input fails (each resumes with
    /// a ranged request from the last byte received). Default 10.
    #[serde(default = "default_storage_retries")]
    pub retries: u32,
    /// Further settings passed to the store as they are, by the `object_store` names
    /// (`aws_access_key_id`, `aws_secret_access_key`, `google_service_account`,
    /// `azure_storage_account_key`, ...); values may use `${ENV}`. Never printed.
    #[serde(default)]
    pub options: IndexMap<String, String>,
}

impl Default for StorageSpec {
    fn default() -> Self {
        StorageSpec {
            endpoint: None,
            region: None,
            allow_http: false,
            anonymous: false,
            read_timeout: default_read_timeout(),
            retries: default_storage_retries(),
            options: IndexMap::new(),
        }
    }
}

impl std::fmt::Debug for StorageSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Option values may be secrets: only their names are shown.
        f.debug_struct("StorageSpec")
            .field(
                "endpoint",
                &self.endpoint.as_deref().map(crate::redact::redact_url),
            )
            .field("region", &self.region)
            .field("allow_http", &self.allow_http)
            .field("anonymous", &self.anonymous)
            .field("read_timeout", &self.read_timeout)
            .field("retries", &self.retries)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Policy for records with the wrong number of fields.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Ragged {
    /// A row error (default).
    #[default]
    Reject,
    /// Missing trailing fields are NULL; extra fields are still an error.
    Pad,
    /// Extra trailing fields are dropped; missing fields are still an error.
    Truncate,
    /// Both.
    PadOrTruncate,
}

/// A column's declared type: a type name, or a type with the format of its values.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ColumnType {
    /// `"date"`, `"decimal"`, ...
    Name(String),
    /// `{ type = "date", format = "MM/DD/YYYY" }` and the like.
    Formatted(ColumnFormat),
}

impl ColumnType {
    /// The type's name.
    pub fn type_name(&self) -> &str {
        match self {
            ColumnType::Name(n) => n,
            ColumnType::Formatted(f) => &f.type_name,
        }
    }

    /// How the type and format are shown (in the load's shape, in messages).
    pub fn shown(&self) -> String {
        match self {
            ColumnType::Name(n) => n.clone(),
            ColumnType::Formatted(f) => serde_json::to_string(f).unwrap_or_default(),
        }
    }
}

impl From<&str> for ColumnType {
    fn from(s: &str) -> Self {
        ColumnType::Name(s.to_string())
    }
}

impl From<String> for ColumnType {
    fn from(s: String) -> Self {
        ColumnType::Name(s)
    }
}

/// A declared type with the format its values are written in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ColumnFormat {
    /// The type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Dates and timestamps: a PostgreSQL template (`MM/DD/YYYY`, `DD.MM.YYYY HH24:MI`);
    /// numbers: a `to_number` template (`L9G999D99`).
    #[serde(default)]
    pub format: Option<String>,
    /// Numbers: the decimal separator (`","` for `1.234,56`).
    #[serde(default)]
    pub decimal_separator: Option<String>,
    /// Numbers: the group separator, skipped (`"."` for `1.234,56`).
    #[serde(default)]
    pub thousands: Option<String>,
    /// Numbers: characters removed first (currency symbols, spaces: `"$€£ "`).
    #[serde(default)]
    pub strip: Option<String>,
    /// Field values read as NULL in this column, besides the source's `null_values`
    /// (`["NA", "-"]`).
    #[serde(default)]
    pub null_values: Vec<String>,
    /// Timestamps: the time zone of values written without one (overrides
    /// `source.timezone`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// What the inputs hold.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    /// CSV (any dialect).
    Csv,
    /// JSON Lines: one JSON object per line.
    Jsonl,
}

/// How header names are turned into column names.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NormalizeNames {
    /// As written.
    #[default]
    None,
    /// Lower-case words joined by `_`.
    SnakeCase,
}

/// How column types are inferred.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InferMode {
    /// Read the whole input once first (files only; stdin falls back to `sample`).
    #[default]
    Scan,
    /// Read the first `sample_rows` records.
    Sample,
}

/// One transform stage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TransformSpec {
    /// Computed columns: `name = "SQL expression"`, evaluated in order (a later column
    /// may use an earlier one). A name that exists is replaced in place; a new name is
    /// appended.
    Compute {
        /// Column name → SQL expression.
        columns: IndexMap<String, String>,
    },
    /// Keep only rows for which the SQL boolean expression is true (NULL drops the row).
    Filter {
        /// The condition.
        #[serde(rename = "where")]
        condition: String,
    },
    /// Keep only these columns, in this order.
    Select {
        /// Column names.
        columns: Vec<String>,
    },
    /// Drop these columns.
    Drop {
        /// Column names.
        columns: Vec<String>,
    },
    /// Rename columns: `old = "new"`.
    Rename {
        /// Old name → new name.
        columns: IndexMap<String, String>,
    },
    /// Change column types: `column = "type"` (a value that does not convert is a row
    /// error).
    Cast {
        /// Column name → type.
        columns: IndexMap<String, String>,
    },
    /// A whole `SELECT expr AS name, ... FROM input [WHERE cond]` as one stage.
    Sql {
        /// The query; the table name after FROM is ignored (it is always the input).
        query: String,
    },
    /// Call an HTTP API for every row (or batch of rows) and put parts of the response
    /// into new columns.
    Http(Box<HttpSpec>),
}

/// An HTTP enrichment stage (see docs/pipeline.md, "The http stage"). Its `Debug` hides
/// header values and the URL's secrets.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    /// Name, used in reject reasons, progress and the summary. Default `http`.
    #[serde(default = "default_http_name")]
    pub name: String,
    /// HTTP method. Default `GET` (`POST` in batch mode).
    #[serde(default)]
    pub method: Option<String>,
    /// URL template: `{column}` (or `{"column name"}`) is replaced by the row's value,
    /// URL-encoded.
    pub url: String,
    /// Request headers. Values may use `${ENV}` for secrets; they are never printed.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// JSON body template: `{column}` is replaced by the value as JSON (a string is
    /// quoted and escaped, NULL is `null`).
    #[serde(default)]
    pub body: Option<String>,
    /// Requests in flight at most, for the whole stage. Default 16.
    #[serde(default = "default_http_concurrency")]
    pub concurrency: usize,
    /// Requests per second at most, retries included. Default: no limit.
    #[serde(default)]
    pub rate_limit: Option<f64>,
    /// Requests that may go at once before `rate_limit` applies. Default 1.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Seconds each attempt may take (connecting, sending, the whole response).
    /// Default 10.
    #[serde(default = "default_http_timeout")]
    pub timeout: f64,
    /// Retries after a connection error, a timeout, a 429 or a 5xx (never after another
    /// 4xx). Default 3.
    #[serde(default = "default_http_retries")]
    pub retries: u32,
    /// Seconds before the first retry; each next one waits twice as long (with
    /// jitter), at least what `Retry-After` asks. Default 0.2.
    #[serde(default = "default_http_backoff")]
    pub backoff: f64,
    /// The longest wait between two attempts from the backoff alone. Default 10.
    #[serde(default = "default_http_max_backoff")]
    pub max_backoff: f64,
    /// New columns from the JSON response: `column = "/json/pointer"` (text) or
    /// `column = { pointer = "/score", type = "float" }`.
    #[serde(default)]
    pub fields: IndexMap<String, HttpField>,
    /// A new text column with the whole response body.
    #[serde(default)]
    pub body_column: Option<String>,
    /// A new int column with the final HTTP status.
    #[serde(default)]
    pub status_column: Option<String>,
    /// Send identical requests once per run (a bounded LRU of `cache_size` answers).
    #[serde(default)]
    pub cache: bool,
    /// Answers the cache keeps. Default 10000.
    #[serde(default = "default_http_cache_size")]
    pub cache_size: usize,
    /// Bytes the cache keeps at most (keys and answers; the least recently used go
    /// first). Default 67108864 (64 MiB).
    #[serde(default = "default_http_cache_bytes")]
    pub cache_bytes: usize,
    /// The largest answer taken, in bytes; a larger one is a row error (refused from its
    /// `Content-Length` before it is read, when it has one). Default 8388608 (8 MiB).
    #[serde(default = "default_http_max_response_bytes")]
    pub max_response_bytes: usize,
    /// Attempts in a row that find the API unreachable (a connection error, a timeout, a
    /// 502, 503 or 504) after which it is taken as down: the run stops with exit 2 and
    /// the rows not done are left for a resumed run, instead of each row being retried and
    /// rejected. Any other answer starts the count again. 0: never. Default 20.
    #[serde(default = "default_http_max_consecutive_failures")]
    pub max_consecutive_failures: u32,
    /// Keep input order (default). `false` lets fast rows pass slow ones.
    #[serde(default = "default_true")]
    pub ordered: bool,
    /// Batch mode: up to this many rows per request, the body a JSON array of each
    /// row's `body` (or of the row as an object), the response a JSON array.
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Batch mode: match response items to rows by this column (the item's field of the
    /// same name) instead of by position.
    #[serde(default)]
    pub batch_key: Option<String>,
    /// Where the stage's permits come from when its `rate_limit` is shared with other
    /// processes (the workers of a distributed load); `None`: a limiter of its own.
    #[serde(skip)]
    pub(crate) shared_rate: Option<SharedRate>,
}

/// A rate limit shared with other processes: every attempt waits for a permit from it.
pub trait RatePermits: Send + Sync {
    /// Wait for one permit.
    fn acquire(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;
}

/// A handle on a [`RatePermits`] (equal to itself only).
#[derive(Clone)]
pub struct SharedRate(pub std::sync::Arc<dyn RatePermits>);

impl PartialEq for SharedRate {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl HttpSpec {
    /// A `GET` stage calling `url` (a template: `{column}` is the row's value,
    /// URL-encoded), with the defaults of the pipeline file.
    pub fn get(url: impl Into<String>) -> Self {
        HttpSpec {
            name: default_http_name(),
            method: None,
            url: url.into(),
            headers: IndexMap::new(),
            body: None,
            concurrency: default_http_concurrency(),
            rate_limit: None,
            burst: default_burst(),
            timeout: default_http_timeout(),
            retries: default_http_retries(),
            backoff: default_http_backoff(),
            max_backoff: default_http_max_backoff(),
            fields: IndexMap::new(),
            body_column: None,
            status_column: None,
            cache: false,
            cache_size: default_http_cache_size(),
            cache_bytes: default_http_cache_bytes(),
            max_response_bytes: default_http_max_response_bytes(),
            max_consecutive_failures: default_http_max_consecutive_failures(),
            ordered: true,
            batch_size: None,
            batch_key: None,
            shared_rate: None,
        }
    }
    /// A `POST` stage with a JSON body template (`{column}` is the value as JSON).
    pub fn post(url: impl Into<String>, body: impl Into<String>) -> Self {
        HttpSpec {
            method: Some("POST".into()),
            body: Some(body.into()),
            ..HttpSpec::get(url)
        }
    }
    /// The stage's name (in reject reasons and the summary).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
    /// A request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }
    /// Requests in flight at most.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }
    /// Requests per second at most (retries included), with a burst.
    pub fn rate_limit(mut self, per_second: f64, burst: u32) -> Self {
        self.rate_limit = Some(per_second);
        self.burst = burst;
        self
    }
    /// Seconds per attempt.
    pub fn timeout(mut self, seconds: f64) -> Self {
        self.timeout = seconds;
        self
    }
    /// Retries, and the first backoff in seconds.
    pub fn retries(mut self, n: u32, backoff: f64) -> Self {
        self.retries = n;
        self.backoff = backoff;
        self
    }
    /// A new column from the JSON response at `pointer`, of type `data_type`
    /// (`"int"`, `"float"`, `"text"`...).
    pub fn field(
        mut self,
        column: impl Into<String>,
        pointer: impl Into<String>,
        data_type: &str,
    ) -> Self {
        self.fields.insert(
            column.into(),
            HttpField::Typed {
                pointer: pointer.into(),
                data_type: Some(data_type.to_string()),
            },
        );
        self
    }
    /// Send identical requests once.
    pub fn cache(mut self, yes: bool) -> Self {
        self.cache = yes;
        self
    }
    /// `false` lets fast rows pass slow ones.
    pub fn ordered(mut self, yes: bool) -> Self {
        self.ordered = yes;
        self
    }
    /// Batch mode: up to `rows` rows per request.
    pub fn batch(mut self, rows: usize) -> Self {
        self.batch_size = Some(rows);
        self
    }
}

/// One column taken from an HTTP response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum HttpField {
    /// A JSON pointer; the column is text.
    Pointer(String),
    /// A JSON pointer and the column's type.
    Typed {
        /// The JSON pointer (`/data/score`).
        pointer: String,
        /// The column's type. Default `text`.
        #[serde(rename = "type", default)]
        data_type: Option<String>,
    },
}

/// The destination. Its `Debug` hides the URL's password.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SinkSpec {
    /// `sqlite://relative/path.db`, `sqlite:///absolute/path.db`,
    /// `postgres://user:password@host:port/db?sslmode=...` or
    /// `mysql://user:password@host:port/db`. Default: the `DATABASE_URL` environment
    /// variable.
    #[serde(default)]
    pub url: String,
    /// Table name (created if missing). For PostgreSQL and MySQL it may be qualified
    /// with a schema or database: `analytics.users`; quote a name that contains a dot
    /// (`'"my.table"'`).
    pub table: String,
    /// `append` (default), `create` (the table must not exist), `replace` (drop and
    /// recreate) or `upsert` (needs `key`).
    #[serde(default)]
    pub mode: WriteMode,
    /// Key columns: the primary key of a created table, and the conflict target of
    /// `upsert`. One column may be written as a string (`key = "id"`).
    #[serde(default, deserialize_with = "one_or_many")]
    pub key: Vec<String>,
    /// Empty the existing table (`TRUNCATE`, keeping its definition) in the first
    /// transaction. Default false.
    #[serde(default)]
    pub truncate: bool,
    /// Add the pipeline's columns that an existing table lacks (`ALTER TABLE … ADD
    /// COLUMN`, nullable, committed before any row is loaded), as sqlite-utils
    /// `--alter`. Default false: a missing column is an error before loading.
    #[serde(default)]
    pub alter: bool,
    /// Rows per transaction (a transaction also ends every 30 seconds). Default
    /// 1000000 for SQLite (which rewrites the pages a transaction touched at each
    /// commit, so few large transactions load much faster) and for MySQL into a keyed
    /// table (InnoDB fills a table much faster from one sorted pass), 12500 for
    /// PostgreSQL and 50000 for MySQL without a key (the sink keeps an open
    /// transaction's rows in memory to replay them after a lost connection). Not set, SQLite's and MySQL's
    /// transactions into a keyed table grow: each after the first takes at least three times the
    /// rows written before it, so that keys in random order cost linear time.
    #[serde(default)]
    pub commit_rows: Option<usize>,
    /// Keyed tables (SQLite, MySQL): rows a writer sorts in memory before it writes
    /// them, as one sorted run, to a temporary file; a transaction's runs are merged
    /// when it ends. Bounds the memory a large transaction takes. Default 32768 for
    /// SQLite, 65536 for MySQL.
    #[serde(default)]
    pub sort_run_rows: Option<usize>,
    /// Parallel writers (PostgreSQL and MySQL): connections that each write their own
    /// batches in their own transactions. Default 2 for PostgreSQL (1 with `upsert`),
    /// 1 for MySQL (faster with 2, but past its memory bound) and SQLite (one writer).
    #[serde(default)]
    pub writers: Option<usize>,
    /// Seconds to keep reconnecting (with backoff) to a server that went away before
    /// the run fails. Default 60.
    #[serde(default = "default_reconnect_timeout")]
    pub reconnect_timeout: u64,
}

/// How rows are written into the table.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// Insert; create the table if missing.
    #[default]
    Append,
    /// Create the table; fail if it exists.
    Create,
    /// Drop the table if it exists, then create it.
    Replace,
    /// Insert, or update the row with the same `key`.
    Upsert,
}

/// Per-row error policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ErrorSpec {
    /// `reject` (default: write the row to the reject file and go on), `skip` (count it
    /// and go on) or `fail` (stop at the first bad row).
    #[serde(default)]
    pub on_error: OnError,
    /// Abort the run when more than this many rows have failed. Default: no limit.
    #[serde(default)]
    pub max_errors: Option<u64>,
    /// The reject file (CSV: original fields + `_line` + `_error`). Default:
    /// `<table>.rejects.csv` in the current directory. Created only when a row fails.
    #[serde(default)]
    pub reject_file: Option<PathBuf>,
}

impl Default for ErrorSpec {
    fn default() -> Self {
        ErrorSpec {
            on_error: OnError::Reject,
            max_errors: None,
            reject_file: None,
        }
    }
}

/// What happens to a row that fails.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Write it to the reject file and go on.
    #[default]
    Reject,
    /// Count it and go on.
    Skip,
    /// Stop the run.
    Fail,
}

/// Runtime tuning. The defaults suit most inputs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSpec {
    /// Records per batch. Default 4096.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
    /// Bytes of records per batch at most (a batch ends at `batch_rows` or at this,
    /// whichever comes first): with `channel_batches` and `workers` it bounds the memory
    /// rows in flight take, whatever their size. Default 8388608 (8 MiB).
    #[serde(default = "default_batch_bytes")]
    pub batch_bytes: usize,
    /// Batches buffered between two stages. Default 4.
    #[serde(default = "default_channel_batches")]
    pub channel_batches: usize,
    /// Threads for CPU stages (decoding, expressions). Default: number of cores.
    #[serde(default)]
    pub workers: Option<usize>,
    /// Threads of the CLI's async runtime, which runs the HTTP stages (their connections
    /// and calls) and moves batches between stages; CPU stages have their own threads.
    /// Default 1: one thread keeps a stage's connections together, so no call wakes
    /// another thread (measured: a quarter less CPU per request than two threads), and
    /// it sends tens of thousands of requests per second. A library caller chooses its
    /// own runtime.
    #[serde(default = "default_async_threads")]
    pub async_threads: usize,
}

impl Default for RuntimeSpec {
    fn default() -> Self {
        RuntimeSpec {
            batch_rows: default_batch_rows(),
            batch_bytes: default_batch_bytes(),
            channel_batches: default_channel_batches(),
            workers: None,
            async_threads: default_async_threads(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_sample_rows() -> usize {
    10_000
}
fn default_http_name() -> String {
    "http".into()
}
fn default_read_timeout() -> f64 {
    60.0
}
fn default_storage_retries() -> u32 {
    10
}
fn default_burst() -> u32 {
    1
}
fn default_http_concurrency() -> usize {
    16
}
fn default_http_timeout() -> f64 {
    10.0
}
fn default_http_retries() -> u32 {
    3
}
fn default_http_backoff() -> f64 {
    0.2
}
fn default_http_max_backoff() -> f64 {
    10.0
}
fn default_http_cache_size() -> usize {
    10_000
}
fn default_http_cache_bytes() -> usize {
    64 << 20
}
fn default_http_max_response_bytes() -> usize {
    8 << 20
}
fn default_http_max_consecutive_failures() -> u32 {
    20
}
fn default_reconnect_timeout() -> u64 {
    60
}
fn default_batch_rows() -> usize {
    4096
}
fn default_batch_bytes() -> usize {
    8 << 20
}
fn default_max_record_bytes() -> usize {
    crate::source::DEFAULT_MAX_RECORD
}
fn default_max_header_bytes() -> usize {
    crate::source::DEFAULT_MAX_HEADER
}
fn default_async_threads() -> usize {
    1
}

fn default_channel_batches() -> usize {
    4
}

impl SourceSpec {
    /// A source reading these paths with the default dialect.
    pub fn paths(paths: impl IntoIterator<Item = impl Into<String>>) -> Self {
        SourceSpec {
            path: None,
            paths: paths.into_iter().map(Into::into).collect(),
            delimiter: None,
            quote: None,
            escape: None,
            comment: None,
            has_header: None,
            union_by_name: false,
            skip_rows: 0,
            timezone: None,
            format: None,
            fields: IndexMap::new(),
            null_values: Vec::new(),
            ragged: Ragged::default(),
            encoding: None,
            normalize_names: NormalizeNames::None,
            infer: InferMode::default(),
            sample_rows: default_sample_rows(),
            schema: IndexMap::new(),
            max_record_bytes: default_max_record_bytes(),
            max_header_bytes: default_max_header_bytes(),
            storage: StorageSpec::default(),
        }
    }

    /// Whether the inputs are JSON Lines: `format = "jsonl"`, or no format and a first
    /// path ending in `.jsonl` or `.ndjson` (before `.gz` or `.zst`).
    pub fn is_jsonl(&self) -> bool {
        match self.format {
            Some(f) => f == InputFormat::Jsonl,
            None => self.all_paths().first().is_some_and(|p| {
                let p = p.to_ascii_lowercase();
                let p = p
                    .strip_suffix(".gz")
                    .or_else(|| p.strip_suffix(".zst"))
                    .unwrap_or(&p);
                p.ends_with(".jsonl") || p.ends_with(".ndjson")
            }),
        }
    }

    /// All paths and globs, `path` first.
    pub fn all_paths(&self) -> Vec<String> {
        self.path.iter().chain(&self.paths).cloned().collect()
    }
}

impl SinkSpec {
    /// A sink writing to `table` at `url`, appending.
    pub fn new(url: impl Into<String>, table: impl Into<String>) -> Self {
        SinkSpec {
            url: url.into(),
            table: table.into(),
            mode: WriteMode::default(),
            key: Vec::new(),
            truncate: false,
            alter: false,
            commit_rows: None,
            sort_run_rows: None,
            writers: None,
            reconnect_timeout: default_reconnect_timeout(),
        }
    }
}

/// A list of names, or one name as a string (`key = "id"` for `key = ["id"]`).
fn one_or_many<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(
        match OneOrMany::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected a column name or a list of them (\"id\" or [\"a\", \"b\"])",
            )
        })? {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        },
    )
}

/// The line and column of the problem `e` found in the pipeline `text` (deserializing
/// the text again, which keeps positions), and a likely key for an unknown one.
fn locate(text: &str, e: Error) -> Error {
    let Error::Config(msg) = &e else {
        return e;
    };
    let core = msg.strip_prefix("invalid pipeline file: ").unwrap_or(msg);
    let first = core.lines().next().unwrap_or_default();
    let Err(again) = toml::from_str::<PipelineSpec>(text) else {
        return e;
    };
    if first.is_empty() || !again.to_string().contains(first) {
        return e;
    }
    let Some(span) = again.span() else {
        return e;
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    // `unknown field `bogus`, expected one of `a`, `b``: the closest of them.
    let hint = first
        .strip_prefix("unknown field `")
        .and_then(|r| r.split_once('`'))
        .and_then(|(name, rest)| {
            let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
            crate::format::closest(name, expected.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
        })
        .unwrap_or_default();
    let mut lines = core.lines();
    let head = lines.next().unwrap_or_default();
    let rest: Vec<&str> = lines.collect();
    Error::Config(format!(
        "invalid pipeline file: line {line}, column {column}: {head}{hint}{}{}",
        if rest.is_empty() { "" } else { "\n" },
        rest.join("\n")
    ))
}

impl PipelineSpec {
    /// Parse a pipeline from TOML text: `${VAR}` references in the file are replaced by
    /// environment variables, then `overrides` (`dotted.key=value`) are applied.
    pub fn from_toml(text: &str, overrides: &[String]) -> Result<Self> {
        Self::parse(text, None, overrides)
            .map_err(|e| Error::Config(crate::redact::redact_text(&e.to_string())))
    }

    /// Read and parse a pipeline file. Relative paths written in the file (source paths,
    /// sqlite URLs, the reject file) are relative to the file's directory; paths given
    /// with `--set` overrides are relative to the current directory.
    pub fn from_file(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let base = path.parent().unwrap_or(Path::new(""));
        // A parse error may quote the file's line or a `--set` value: a URL there
        // keeps its password out of the message.
        let mut spec = Self::parse(&text, Some(base), overrides).map_err(|e| {
            let e = e.to_string();
            // A `--set` value's problem is not the file's.
            Error::Config(crate::redact::redact_text(&if e.starts_with("--set ") {
                e
            } else {
                format!("{}: {e}", path.display())
            }))
        })?;
        if spec.name.is_none() {
            spec.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        Ok(spec)
    }

    /// A pipeline as a distributed load stored it: its file's text, the file's directory
    /// and `--set` overrides; `${VAR}` references are expanded from this process's
    /// environment.
    pub(crate) fn from_parts(
        text: &str,
        base: Option<&Path>,
        overrides: &[String],
        name: &str,
    ) -> Result<Self> {
        let mut spec = Self::parse(text, base, overrides)
            .map_err(|e| Error::Config(crate::redact::redact_text(&e.to_string())))?;
        spec.name = Some(name.to_string());
        Ok(spec)
    }

    /// The pipeline `text` written again from its values: the same settings, `${VAR}`
    /// references unexpanded, without the file's comments.
    pub(crate) fn without_comments(text: &str) -> Result<String> {
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| Error::Config(format!("invalid pipeline file: {e}")))?;
        toml::to_string(&table).map_err(|e| Error::Config(format!("pipeline file: {e}")))
    }

    /// Secrets written as they are in the pipeline `text` with `overrides` (before
    /// `${VAR}` expansion): a password in the sink URL, an `http` header or a storage
    /// option that looks like a credential. Each is named by its key.
    pub(crate) fn literal_secrets(text: &str, overrides: &[String]) -> Result<Vec<String>> {
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| Error::Config(format!("invalid pipeline file: {e}")))?;
        let mut value = toml::Value::Table(table);
        for o in overrides {
            apply_override(&mut value, o)?;
        }
        // Written out: no reference at all, or a reference with a default value (the
        // default travels as it is written).
        let literal = |v: &str| {
            !v.is_empty()
                && (!v.contains("${")
                    || v.split("${").skip(1).any(|r| {
                        r.split('}')
                            .next()
                            .and_then(|inner| inner.split_once(":-"))
                            .is_some_and(|(_, d)| !d.is_empty())
                    }))
        };
        let secretish = |k: &str| {
            let k = k.to_ascii_lowercase();
            [
                "auth",
                "token",
                "key",
                "secret",
                "password",
                "cookie",
                "signature",
                "credential",
            ]
            .iter()
            .any(|s| k.contains(s))
        };
        // A password in a URL is a secret in any part: `pre${VAR}` stores `pre`.
        let any_literal = |v: &str| {
            literal(v) || {
                let mut outside = String::new();
                let mut rest = v;
                while let Some(i) = rest.find("${") {
                    outside.push_str(&rest[..i]);
                    rest = rest[i..].find('}').map_or("", |j| &rest[i + j + 1..]);
                }
                outside.push_str(rest);
                !outside.is_empty()
            }
        };
        let mut found = Vec::new();
        if let Some(url) = value
            .get("sink")
            .and_then(|s| s.get("url"))
            .and_then(|u| u.as_str())
            && crate::redact::url_secrets(url)
                .iter()
                .any(|s| any_literal(s))
        {
            found.push("sink.url (its password)".to_string());
        }
        let source = value.get("source");
        let paths = source.and_then(|s| s.get("path")).into_iter().chain(
            source
                .and_then(|s| s.get("paths"))
                .and_then(|p| p.as_array())
                .into_iter()
                .flatten(),
        );
        for p in paths.filter_map(|p| p.as_str()) {
            let signed = crate::redact::has_signing_params(p) && literal(p);
            let password = crate::redact::url_secrets(p).iter().any(|s| any_literal(s));
            if p.contains("://") && (signed || password) {
                found.push(format!(
                    "source.path {} ({})",
                    crate::redact::object_url(p),
                    if signed {
                        "a signed URL: its signature is a credential"
                    } else {
                        "a password in the URL"
                    }
                ));
            }
        }
        if let Some(opts) = value
            .get("source")
            .and_then(|s| s.get("storage"))
            .and_then(|s| s.get("options"))
            .and_then(|o| o.as_table())
        {
            for (k, v) in opts {
                if secretish(k) && v.as_str().is_some_and(literal) {
                    found.push(format!("source.storage.options.{k}"));
                }
            }
        }
        if let Some(ts) = value.get("transform").and_then(|t| t.as_array()) {
            for (i, t) in ts.iter().enumerate() {
                if let Some(h) = t.get("headers").and_then(|h| h.as_table()) {
                    for (k, v) in h {
                        if secretish(k) && v.as_str().is_some_and(literal) {
                            found.push(format!("transform.{i}.headers.{k}"));
                        }
                    }
                }
                if let Some(url) = t.get("url").and_then(|u| u.as_str())
                    && (crate::redact::url_secrets(url)
                        .iter()
                        .any(|s| any_literal(s))
                        || (crate::redact::has_signing_params(url) && literal(url)))
                {
                    found.push(format!("transform.{i}.url (a secret in it)"));
                }
            }
        }
        Ok(found)
    }

    fn parse(text: &str, base: Option<&Path>, overrides: &[String]) -> Result<Self> {
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| Error::Config(format!("invalid pipeline file: {e}")))?;
        let mut value = toml::Value::Table(table);
        interpolate::interpolate_value(&mut value, &|k| std::env::var(k).ok())?;
        if let Some(base) = base {
            relativize(&mut value, base);
        }
        let without = value.clone();
        Self::from_value(value, overrides).map_err(|e| {
            // A `--set` value is to blame when the file alone is fine.
            if !overrides.is_empty() && Self::from_value(without, &[]).is_ok() {
                return Error::Config(format!(
                    "--set {}: {}",
                    overrides.join(" --set "),
                    e.to_string().trim_start_matches("invalid pipeline file: ")
                ));
            }
            locate(text, e)
        })
    }

    /// This spec with `--set`-style overrides applied (`rowflow load --set`): the keys
    /// and values checked as a file's are.
    pub fn with_overrides(&self, overrides: &[String]) -> Result<Self> {
        let value = toml::Value::try_from(self)
            .map_err(|e| Error::Config(format!("the pipeline cannot be written as TOML: {e}")))?;
        Self::from_value(value, overrides)
            .map_err(|e| Error::Config(crate::redact::redact_text(&e.to_string())))
    }

    /// The spec `value` holds once `overrides` are applied.
    fn from_value(mut value: toml::Value, overrides: &[String]) -> Result<Self> {
        let base_value = value.clone();
        for o in overrides {
            apply_override(&mut value, o)?;
        }
        match value.try_into() {
            Ok(spec) => Ok(spec),
            // `--set transform.0.where=true` or `--set sink.table=2024` on a key the file
            // does not have: the value looked like a bool or a number, but the setting
            // is a string. Try once more with every override read as a string.
            Err(first) if !overrides.is_empty() => {
                let mut value = base_value;
                for o in overrides {
                    overrides::apply_override_as_string(&mut value, o)?;
                }
                value.try_into().map_err(|_: toml::de::Error| {
                    Error::Config(format!("invalid pipeline file: {first}"))
                })
            }
            Err(e) => Err(Error::Config(format!("invalid pipeline file: {e}"))),
        }
    }
}

impl PipelineSpec {
    /// The reject file (none with `on_error = "skip"`): `errors.reject_file`, or
    /// `<table>.rejects.csv` in the current directory.
    pub fn reject_path(&self) -> Option<PathBuf> {
        match self.errors.on_error {
            OnError::Skip => None,
            _ => Some(self.errors.reject_file.clone().unwrap_or_else(|| {
                let safe: String = self
                    .sink
                    .table
                    .chars()
                    .map(|c| {
                        if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                PathBuf::from(format!("{safe}.rejects.csv"))
            })),
        }
    }
}

/// Make the file's relative paths relative to `base` (the pipeline file's directory).
fn relativize(root: &mut toml::Value, base: &Path) {
    if base.as_os_str().is_empty() {
        return;
    }
    let fix = |p: &str| -> String {
        // URLs (s3://, https://, ...) are not paths.
        if p == "-" || Path::new(p).is_absolute() || p.contains("://") {
            p.to_string()
        } else {
            base.join(p).to_string_lossy().into_owned()
        }
    };
    let fix_value = |v: &mut toml::Value| {
        if let toml::Value::String(s) = v {
            *s = fix(s);
        }
    };
    if let Some(src) = root.get_mut("source") {
        if let Some(p) = src.get_mut("path") {
            fix_value(p);
        }
        if let Some(toml::Value::Array(ps)) = src.get_mut("paths") {
            ps.iter_mut().for_each(fix_value);
        }
    }
    if let Some(toml::Value::String(url)) = root.get_mut("sink").and_then(|s| s.get_mut("url"))
        && let Some(rest) = url.strip_prefix("sqlite://")
        && !rest.starts_with('/')
        && !rest.is_empty()
    {
        *url = format!("sqlite://{}", fix(rest));
    }
    if let Some(r) = root
        .get_mut("errors")
        .and_then(|e| e.get_mut("reject_file"))
    {
        fix_value(r);
    }
}

/// `Debug` of a spec with secrets hidden: every field as the pipeline file would write it,
/// with `url` through [`redact_url`](crate::redact::redact_url) and each header value as
/// `***`. Built from the serialized form, so a new field shows up by itself.
fn debug_redacted<T: Serialize>(
    name: &str,
    spec: &T,
    f: &mut std::fmt::Formatter<'_>,
) -> std::fmt::Result {
    let mut d = f.debug_struct(name);
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(spec) {
        for (k, mut v) in fields {
            match (k.as_str(), &mut v) {
                ("url", serde_json::Value::String(u)) => *u = crate::redact::redact_url(u),
                ("headers", serde_json::Value::Object(h)) => {
                    h.values_mut().for_each(|x| *x = "***".into())
                }
                _ => {}
            }
            d.field(&k, &format_args!("{v}"));
        }
    }
    d.finish_non_exhaustive()
}

impl std::fmt::Debug for SinkSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_redacted("SinkSpec", self, f)
    }
}

impl std::fmt::Debug for HttpSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_redacted("HttpSpec", self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let spec = PipelineSpec::from_toml(
            r#"
            [source]
            path = "in.csv"
            [[transform]]
            type = "http"
            url = "https://api.example.com/v1?id={id}&api_key=k3y-s3cret"
            headers = { Authorization = "Bearer t0ken-s3cret" }
            [sink]
            url = "postgres://loader:pa55-s3cret@db.example.com/prod"
            table = "t"
            "#,
            &[],
        )
        .unwrap();
        let shown = format!("{spec:?} {:#?}", spec.sink);
        assert!(!shown.contains("s3cret"), "{shown}");
        for visible in [
            "loader:***@db.example.com",
            "Authorization",
            "api.example.com",
            "\"t\"",
        ] {
            assert!(shown.contains(visible), "{visible}: {shown}");
        }
    }

    const MINIMAL: &str = r#"
        [source]
        path = "in.csv"
        [sink]
        url = "sqlite://out.db"
        table = "t"
    "#;

    #[test]
    fn minimal_pipeline_parses_with_defaults() {
        let spec = PipelineSpec::from_toml(MINIMAL, &[]).unwrap();
        assert_eq!(spec.source.delimiter, None, "detected");
        assert_eq!(spec.source.has_header, None, "detected");
        assert_eq!(spec.sink.mode, WriteMode::Append);
        assert_eq!(spec.errors.on_error, OnError::Reject);
        assert!(spec.transforms.is_empty());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let bad = MINIMAL.replace("table = \"t\"", "table = \"t\"\ntabel = \"x\"");
        let e = PipelineSpec::from_toml(&bad, &[]).unwrap_err().to_string();
        assert!(e.contains("tabel"), "{e}");
    }

    #[test]
    fn transforms_keep_column_order() {
        let text = format!(
            "{MINIMAL}\n[[transform]]\ntype = \"compute\"\n[transform.columns]\nz = \"1\"\na = \"2\"\nm = \"3\"\n"
        );
        let spec = PipelineSpec::from_toml(&text, &[]).unwrap();
        let TransformSpec::Compute { columns } = &spec.transforms[0] else {
            panic!("expected compute, got {:?}", spec.transforms[0])
        };
        assert_eq!(columns.keys().collect::<Vec<_>>(), ["z", "a", "m"]);
    }

    #[test]
    fn overrides_apply() {
        let spec = PipelineSpec::from_toml(
            MINIMAL,
            &["source.path=big.csv".into(), "sink.commit_rows=10".into()],
        )
        .unwrap();
        assert_eq!(spec.source.path.as_deref(), Some("big.csv"));
        assert_eq!(spec.sink.commit_rows, Some(10));
    }

    #[test]
    fn relative_paths_follow_the_file_but_overrides_follow_the_cwd() {
        let spec = PipelineSpec::parse(
            MINIMAL,
            Some(Path::new("examples/users")),
            &["sink.url=sqlite://x.db".into()],
        )
        .unwrap();
        assert_eq!(spec.source.path.as_deref(), Some("examples/users/in.csv"));
        assert_eq!(spec.sink.url, "sqlite://x.db");
    }

    #[test]
    fn urls_in_a_pipeline_file_are_not_made_relative_to_it() {
        let toml = "[source]\npaths = [\"s3://b/k.csv\", \"https://h/x.csv?s=1\", \"in.csv\"]\n\
                    [sink]\nurl = \"sqlite://o.db\"\ntable = \"t\"\n";
        let spec = PipelineSpec::parse(toml, Some(Path::new("dir")), &[]).unwrap();
        assert_eq!(
            spec.source.paths,
            ["s3://b/k.csv", "https://h/x.csv?s=1", "dir/in.csv"]
        );
        assert_eq!(spec.sink.url, "sqlite://dir/o.db");
    }
}
