//! Planning the source: the CSV dialect checked, the inputs opened, the header read, and
//! each column's type declared or inferred.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::config::{InferMode, SourceSpec};
use crate::error::{Error, Result};
use crate::schema::{DataType, Schema, TypeSize, dedupe_names};
use crate::source::{CsvOptions, CsvSource, Dialect, InferOptions, Input, Source, infer_types};

/// The source's dialect and limits, checked (no I/O); problems go to `errors`.
pub(crate) fn dialect(src: &SourceSpec, errors: &mut Vec<String>) -> Dialect {
    let dialect = Dialect {
        delimiter: src
            .delimiter
            .as_deref()
            .and_then(|d| one_byte("source.delimiter", d, errors))
            .unwrap_or(b','),
        quote: src
            .quote
            .as_deref()
            .and_then(|q| one_byte("source.quote", q, errors))
            .unwrap_or(b'"'),
        escape: src
            .escape
            .as_deref()
            .and_then(|e| one_byte("source.escape", e, errors)),
        comment: src
            .comment
            .as_deref()
            .and_then(|c| one_byte("source.comment", c, errors)),
    };
    if src.sample_rows == 0 {
        errors.push("source.sample_rows must be at least 1".into());
    }
    if !(1024..=1 << 30).contains(&src.max_record_bytes) {
        errors.push("source.max_record_bytes must be from 1024 to 1073741824 (1 GiB)".into());
    }
    if !(64..=1 << 30).contains(&src.max_header_bytes) {
        errors.push("source.max_header_bytes must be from 64 to 1073741824 (1 GiB)".into());
    }
    let chars = [
        ("delimiter", Some(dialect.delimiter)),
        ("quote", Some(dialect.quote)),
        ("escape", dialect.escape),
        ("comment", dialect.comment),
    ];
    for (i, (a, x)) in chars.iter().enumerate() {
        let Some(x) = x else { continue };
        if matches!(x, b'\n' | b'\r') {
            errors.push(format!(
                "source.{a} cannot be a line end ({:?}): records end at line ends",
                *x as char
            ));
        }
        for (b, y) in &chars[i + 1..] {
            if Some(*x) == *y && !(*a == "quote" && *b == "escape") {
                errors.push(format!(
                    "source.{a} and source.{b} are both {:?}: they must differ",
                    *x as char
                ));
            }
        }
    }
    dialect
}

/// The parts of the dialect a pipeline leaves unset, as detected in its first input.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Detected {
    /// The delimiter, when it was detected.
    pub delimiter: Option<u8>,
    /// The quote character, when it was detected.
    pub quote: Option<u8>,
    /// Whether the first row is a header, when it was detected.
    pub has_header: Option<bool>,
    /// What was detected, in one line.
    #[serde(skip)]
    pub note: String,
}

impl Detected {
    /// As the checkpoint records it (see [`crate::checkpoint::shape::DETECTED_PART`]).
    pub fn record(&self) -> String {
        format!("={}", serde_json::to_string(self).unwrap_or_default())
    }

    /// What [`Detected::record`] wrote, for a run that resumes.
    pub fn from_record(r: &str) -> Option<Detected> {
        let mut d: Detected = serde_json::from_str(r.strip_prefix('=')?).ok()?;
        let mut said = Vec::new();
        if let Some(x) = d.delimiter {
            said.push(format!("delimiter {}", crate::source::shown_delimiter(x)));
        }
        if let Some(x) = d.quote {
            said.push(format!("quote {}", crate::source::shown_delimiter(x)));
        }
        if let Some(h) = d.has_header {
            said.push(if h { "a header row" } else { "no header row" }.to_string());
        }
        d.note = format!("read as the interrupted run detected: {}", said.join(", "));
        Some(d)
    }

    /// `src` with the detected parts set.
    pub fn apply(&self, src: &mut SourceSpec) {
        if let Some(d) = self.delimiter {
            src.delimiter = Some((d as char).to_string());
        }
        if let Some(q) = self.quote {
            src.quote = Some((q as char).to_string());
        }
        if let Some(h) = self.has_header {
            src.has_header = Some(h);
        }
    }

    /// The detected parts as `--set` assignments (what a distributed load's workers read
    /// with, so that no worker detects anything of its own).
    pub fn assignments(&self) -> Vec<String> {
        let lit = |c: u8| {
            if c == b'\'' {
                "\"'\"".to_string()
            } else if c == b'\t' {
                "\"\\t\"".to_string()
            } else {
                format!("'{}'", c as char)
            }
        };
        let mut out = Vec::new();
        if let Some(d) = self.delimiter {
            out.push(format!("source.delimiter={}", lit(d)));
        }
        if let Some(q) = self.quote {
            out.push(format!("source.quote={}", lit(q)));
        }
        if let Some(h) = self.has_header {
            out.push(format!("source.has_header={h}"));
        }
        out
    }
}

/// What of the dialect `src` leaves to detection (`None`: everything is set).
pub(crate) fn unknowns(src: &SourceSpec) -> Option<crate::source::Unknowns> {
    let want = crate::source::Unknowns {
        delimiter: src.delimiter.is_none(),
        quote: src.quote.is_none(),
        has_header: src.has_header,
    };
    (want.delimiter || want.quote || want.has_header.is_none()).then_some(want)
}

/// What detection `want` found in input `name`, as the load records and says it.
fn detected(
    want: &crate::source::Unknowns,
    found: &crate::source::Sniffed,
    name: &str,
) -> Detected {
    use crate::source::shown_delimiter;
    let mut said = Vec::new();
    if want.delimiter {
        said.push(format!(
            "delimiter {}",
            shown_delimiter(found.dialect.delimiter)
        ));
    }
    if want.quote && found.dialect.quote != b'"' {
        said.push(format!("quote {}", shown_delimiter(found.dialect.quote)));
    }
    if want.has_header.is_none() {
        said.push(if found.has_header {
            format!("a header row ({})", found.header_reason)
        } else {
            format!(
                "no header row: columns are named column_1, column_2, ... ({}; set has_header = \
                 true if it is one)",
                found.header_reason
            )
        });
    }
    Detected {
        delimiter: want.delimiter.then_some(found.dialect.delimiter),
        quote: want.quote.then_some(found.dialect.quote),
        has_header: want.has_header.is_none().then_some(found.has_header),
        note: format!(
            "detected in the first {} lines of {name}: {}",
            found.records,
            said.join(", ")
        ),
    }
}

/// A dialect character: one ASCII byte (`\t` and `tab` spell a tab).
fn one_byte(key: &str, s: &str, errors: &mut Vec<String>) -> Option<u8> {
    let s = if s == "\\t" || s == "tab" { "\t" } else { s };
    match s.as_bytes() {
        [b] if b.is_ascii() => Some(*b),
        _ => {
            errors.push(format!("{key} must be a single ASCII character, got {s:?}"));
            None
        }
    }
}

/// A source, planned: open at its first record, with its columns' names and types.
pub struct SourcePlan {
    pub(crate) source: CsvSource,
    /// The header as read.
    pub header: Vec<String>,
    /// The input's columns (empty and repeated names renamed) and their types.
    pub schema: Schema,
    /// What planning decided (renamed columns, how types were found), one line each.
    pub notes: Vec<String>,
    /// The hint for a value that does not parse as its inferred type.
    pub(crate) type_hint: Option<String>,
    /// The format declared for each column, if any.
    pub(crate) formats: Vec<Option<std::sync::Arc<crate::schema::format::ValueFormat>>>,
    /// Each column's own NULL markers (besides the source's).
    pub(crate) column_nulls: Vec<Vec<String>>,
    /// The inputs' encoding, when it is not UTF-8.
    pub(crate) encoding: Option<&'static encoding_rs::Encoding>,
    /// The dialect parts the pipeline left unset, as detected in the first input.
    pub detected: Option<Detected>,
    /// The layout inference found for each column of dates not written `YYYY-MM-DD`.
    pub inferred_formats: Vec<Option<&'static str>>,
    /// JSON Lines: the columns the decode stage lays each line out as.
    pub(crate) json: Option<crate::source::JsonLayout>,
}

/// The encoding `src.encoding` names (`None`: UTF-8), or an error in `errors`.
pub(crate) fn encoding(
    src: &SourceSpec,
    errors: &mut Vec<String>,
) -> Option<&'static encoding_rs::Encoding> {
    let label = src.encoding.as_deref()?;
    match encoding_rs::Encoding::for_label(label.trim().as_bytes()) {
        Some(e) if e == encoding_rs::UTF_8 => None,
        Some(e) if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE => {
            errors.push(format!(
                "source.encoding: {label:?}: a UTF-16 file is read without this setting when it \
                 starts with a byte order mark (as Excel's \"Unicode text\" writes it): remove \
                 the setting; convert one without a mark first (iconv -f UTF-16LE -t UTF-8 FILE \
                 > FILE.utf8.csv)"
            ));
            None
        }
        Some(e) if !e.is_ascii_compatible() => {
            errors.push(format!(
                "source.encoding: {label:?} is not read yet (only encodings where ASCII stays \
                 ASCII, such as windows-1252, iso-8859-15 or shift_jis)"
            ));
            None
        }
        Some(e) => Some(e),
        None => {
            errors.push(format!(
                "source.encoding: unknown encoding {label:?} (a WHATWG label such as \
                 \"windows-1252\", \"latin1\", \"iso-8859-15\", \"utf-8\")"
            ));
            None
        }
    }
}

impl SourcePlan {
    /// Plan the source `spec` describes over its inputs (globs resolved): the header is
    /// read and the types inferred as a run would (`rowflow schema`).
    pub fn new(spec: &SourceSpec) -> Result<SourcePlan> {
        let mut errors = Vec::new();
        dialect(spec, &mut errors);
        if !errors.is_empty() {
            return Err(Error::Plan(errors));
        }
        let inputs = crate::source::resolve_inputs_except(&spec.all_paths(), None, &spec.storage)?;
        let d = dialect(spec, &mut errors);
        let plan = SourcePlan::open(spec, d, inputs, Arc::default(), &mut errors)?;
        if !errors.is_empty() {
            return Err(Error::Plan(errors));
        }
        Ok(plan)
    }

    /// Open `inputs` with `dialect`, read the header and find the types: those declared
    /// in `[source.schema]` (problems with them go to `errors`), the rest inferred from a
    /// sample or a scan of the whole input. Once `stop` is set, reading stops with
    /// [`Error::Interrupted`].
    pub(crate) fn open(
        src: &SourceSpec,
        dialect: Dialect,
        inputs: Vec<Input>,
        stop: Arc<AtomicBool>,
        errors: &mut Vec<String>,
    ) -> Result<SourcePlan> {
        // JSON Lines: a line is one field, laid out as the columns by the source.
        let jsonl = src.is_jsonl();
        let resolved_json;
        let (src, dialect) = if jsonl {
            let mut s = src.clone();
            s.has_header = Some(false);
            s.delimiter = Some("\u{1f}".into());
            s.quote = Some("\u{1e}".into());
            if s.union_by_name {
                errors.push(
                    "source.union_by_name is for CSV headers; JSON Lines columns are \
                             matched by key already"
                        .into(),
                );
            }
            resolved_json = s;
            (&resolved_json, crate::source::LINE_DIALECT)
        } else {
            if !src.fields.is_empty() {
                errors.push(
                    "source.fields picks values of JSON Lines inputs by JSON pointer: set \
                     format = \"jsonl\" (or name the files .jsonl)"
                        .into(),
                );
            }
            (src, dialect)
        };
        let has_stdin = inputs.contains(&Input::Stdin);
        let has_remote = inputs.iter().any(|i| matches!(i, Input::Remote(_)));
        let encoding = encoding(src, errors);
        let opts = CsvOptions {
            max_record: src.max_record_bytes,
            max_header: src.max_header_bytes,
            stop,
            encoding,
            ..CsvOptions::new(inputs, dialect, src.has_header.unwrap_or(true))
        };
        let want = unknowns(src);
        if src.union_by_name && src.has_header == Some(false) {
            errors.push(
                "source.union_by_name matches columns by their names in the header: it needs \
                 has_header = true"
                    .into(),
            );
        }
        let opts = CsvOptions {
            json: jsonl.then(|| crate::source::JsonColumns::Discover {
                sample: src.sample_rows,
                declared: src.schema.keys().cloned().collect(),
                fields: src
                    .fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            }),
            detect: want.clone(),
            null_values: src.null_values.clone(),
            union_by_name: src.union_by_name && src.has_header != Some(false),
            ..opts
        };
        let mut source = CsvSource::open(opts)?;
        // Read as detected from here on.
        let opts = source.options().clone();
        let dialect = opts.dialect;
        let detected = match (&want, source.detected()) {
            (Some(w), Some(found)) => Some(detected(w, found, &source.input_name(0))),
            _ => None,
        };
        let header: Vec<String> = source.columns().to_vec();
        let (written, mut notes) = dedupe_names(&header);
        if let Some(d) = &detected {
            notes.insert(0, d.note.clone());
        }
        if let Some(u) = source.union_note() {
            notes.push(u);
        }
        let names = match src.normalize_names {
            crate::config::NormalizeNames::None => written.clone(),
            crate::config::NormalizeNames::SnakeCase => {
                let names: Vec<String> = written
                    .iter()
                    .map(|n| crate::schema::snake_case(n))
                    .collect();
                for (i, n) in names.iter().enumerate() {
                    if let Some(j) = names[..i].iter().position(|m| m == n) {
                        errors.push(format!(
                            "source.normalize_names: columns {:?} and {:?} both become {n:?}; rename \
                             one in the file, or keep the names as written",
                            written[j], written[i]
                        ));
                    }
                }
                if names != written {
                    notes.push("column names normalized to snake_case".into());
                }
                names
            }
        };
        if opts.has_header
            && let Some((name, d)) = crate::source::suspicious_name(&written, dialect.delimiter)
        {
            notes.push(format!(
                "warning: the column name {name:?} holds {}, and the delimiter is {}: if it \
                 separates the columns, set source.delimiter = {:?}",
                crate::source::shown_delimiter(d),
                crate::source::shown_delimiter(dialect.delimiter),
                (d as char).to_string()
            ));
        }
        // `[source.schema]` may name a column as written or as normalized.
        let zone = source_zone(src, errors);
        let (explicit, mut formats) = declared_types(src, &names, &written, zone, errors);
        // The layouts found for dates not written `YYYY-MM-DD`, by column.
        let mut inferred_formats: Vec<Option<&'static str>> = vec![None; names.len()];
        let mut type_hint = None;
        let types: Vec<(DataType, TypeSize)> = if explicit.iter().all(Option::is_some) {
            notes.push("all column types are declared in [source.schema]; no inference".into());
            explicit
                .iter()
                .map(|t| t.unwrap_or((DataType::Text, TypeSize::Any)))
                .collect()
        } else {
            let inferred = if has_stdin || has_remote || src.infer == InferMode::Sample {
                let sample = source.peek(src.sample_rows)?;
                let mut inf = crate::schema::Inferrer::new(names.len());
                if jsonl {
                    inf = inf.with_json();
                }
                // (`skip_rows` of the first input: the sample is mostly its rows.)
                crate::source::infer::feed_records(
                    &mut inf,
                    sample.iter().skip(src.skip_rows as usize),
                    &src.null_values,
                );
                notes.push(format!(
                    "types inferred from the first {} records{}",
                    sample.len(),
                    if has_stdin && src.infer == InferMode::Scan {
                        " (standard input cannot be scanned twice)"
                    } else if has_remote && src.infer == InferMode::Scan {
                        " (a remote input is not downloaded twice to infer types: a later value \
                         that does not parse as the inferred type is a row error, one that does \
                         is stored as that type; declare the columns in [source.schema] to keep \
                         every value exactly)"
                    } else {
                        ""
                    }
                ));
                type_hint = Some(format!(
                    "types were inferred from the first {} rows; declare this column's type in [source.schema]",
                    sample.len()
                ));
                // Later values are not known: an exact decimal stays unbounded.
                inf.finish_full()
                    .into_iter()
                    .map(|t| crate::schema::Inferred {
                        size: match t.size {
                            TypeSize::Json => TypeSize::Json,
                            _ => TypeSize::Any,
                        },
                        ..t
                    })
                    .collect()
            } else {
                let t0 = std::time::Instant::now();
                let infer = InferOptions {
                    null_values: src.null_values.clone(),
                    limit: None,
                    json: jsonl,
                    skip_rows: src.skip_rows,
                };
                let t = infer_types(&opts, names.len(), &infer)?;
                notes.push(format!(
                    "types inferred by scanning the whole input ({:.2} s)",
                    t0.elapsed().as_secs_f64()
                ));
                t
            };
            let mut types = Vec::with_capacity(names.len());
            for (i, (e, inf)) in explicit.iter().zip(inferred).enumerate() {
                if let Some(e) = e {
                    types.push(*e);
                    continue;
                }
                if let Some(layout) = inf.date_format {
                    notes.push(format!(
                        "column {:?}: dates read as {layout} (declare another format in \
                         [source.schema] if that is wrong)",
                        names[i]
                    ));
                    inferred_formats[i] = Some(layout);
                    formats[i] = crate::expr::template::DateTemplate::parse(layout)
                        .ok()
                        .map(|t| Arc::new(crate::schema::format::ValueFormat::Date(t)));
                }
                if inf.ambiguous_dates {
                    notes.push(format!(
                        "column {:?}: its dates read both as MM/DD/YYYY and as DD/MM/YYYY (no \
                         day above 12), so it is kept as text; declare it, e.g. [source.schema] \
                         {} = {{ type = \"date\", format = \"DD/MM/YYYY\" }}",
                        names[i],
                        crate::schema::toml_key(&names[i])
                    ));
                }
                if inf.zoneless_timestamps {
                    let key = crate::schema::toml_key(&names[i]);
                    match zone {
                        Some(z) => {
                            notes.push(format!(
                                "column {:?}: timestamps without an offset, read in {z}                                  (source.timezone)",
                                names[i]
                            ));
                            formats[i] =
                                Some(Arc::new(crate::schema::format::ValueFormat::Zoned(z)));
                            types.push((DataType::Timestamp, TypeSize::Any));
                            continue;
                        }
                        None => notes.push(format!(
                            "column {:?}: its values are timestamps without a time zone, so it                              is kept as text; set source.timezone (\"UTC\", \"Europe/Paris\",                              \"+02:00\", ...) to load them as timestamps, or declare it:                              [source.schema] {key} = {{ type = \"timestamp\", timezone = \"UTC\" }}",
                            names[i]
                        )),
                    }
                }
                types.push((inf.ty, inf.size));
            }
            types
        };
        // JSON Lines are laid out as columns by the decode stage, on every core.
        let json = source.leave_json_to_decode();
        let mut schema = Schema::new(names.iter().cloned().zip(types.iter().map(|t| t.0)));
        for (c, (_, size)) in schema.columns.iter_mut().zip(&types) {
            c.size = *size;
        }
        Ok(SourcePlan {
            source,
            header,
            schema,
            notes,
            type_hint,
            encoding,
            detected,
            inferred_formats,
            json,
            column_nulls: src.schema.iter().fold(
                vec![Vec::new(); names.len()],
                |mut acc, (col, t)| {
                    if let (crate::config::ColumnType::Formatted(f), Some(i)) = (
                        t,
                        names
                            .iter()
                            .position(|n| n == col)
                            .or_else(|| written.iter().position(|n| n == col)),
                    ) {
                        acc[i] = f.null_values.clone();
                    }
                    acc
                },
            ),
            formats,
        })
    }
}

/// A column's declared value format.
/// `source.timezone`, parsed (a problem goes to `errors`).
pub(crate) fn source_zone(
    src: &SourceSpec,
    errors: &mut Vec<String>,
) -> Option<crate::schema::zone::Zone> {
    let z = src.timezone.as_deref()?;
    match crate::schema::zone::Zone::parse(z) {
        Ok(z) => Some(z),
        Err(e) => {
            errors.push(format!("source.timezone: {e}"));
            None
        }
    }
}

type Formats = Vec<Option<std::sync::Arc<crate::schema::format::ValueFormat>>>;

/// The types `[source.schema]` declares, by column of `names` (None: to infer), and the
/// formats their values are written in.
fn declared_types(
    src: &SourceSpec,
    names: &[String],
    written: &[String],
    zone: Option<crate::schema::zone::Zone>,
    errors: &mut Vec<String>,
) -> (Vec<Option<(DataType, TypeSize)>>, Formats) {
    let mut explicit: Vec<Option<(DataType, TypeSize)>> = vec![None; names.len()];
    let mut formats: Formats = vec![None; names.len()];
    for (col, declared) in &src.schema {
        let (ty, size) = match TypeSize::parse_type(declared.type_name()) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("source.schema.{col}: {e}"));
                continue;
            }
        };
        let format = match declared {
            crate::config::ColumnType::Formatted(f) => {
                match crate::schema::format::ValueFormat::of(col, f, ty, zone) {
                    Ok(v) => v.map(std::sync::Arc::new),
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                }
            }
            crate::config::ColumnType::Name(_) => match (ty, zone) {
                (DataType::Timestamp, Some(z)) => Some(std::sync::Arc::new(
                    crate::schema::format::ValueFormat::Zoned(z),
                )),
                _ => None,
            },
        };
        match names
            .iter()
            .position(|n| n == col)
            .or_else(|| written.iter().position(|n| n == col))
        {
            Some(i) => {
                explicit[i] = Some((ty, size));
                formats[i] = format;
            }
            None => errors.push(format!(
                "source.schema: no column {col:?} in the input{}",
                crate::format::did_you_mean(col, names)
            )),
        }
    }
    (explicit, formats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SourceSpec {
        SourceSpec::paths(["x.csv"])
    }

    #[test]
    fn dialect_characters_are_single_bytes_that_differ() {
        let mut s = spec();
        s.delimiter = Some("tab".into());
        let mut errors = Vec::new();
        assert_eq!(dialect(&s, &mut errors).delimiter, b'\t');
        assert!(errors.is_empty(), "{errors:?}");

        s.delimiter = Some(";;".into());
        s.quote = Some(";".into());
        s.comment = Some("\n".into());
        let mut errors = Vec::new();
        dialect(&s, &mut errors);
        assert!(
            errors
                .iter()
                .any(|e| e.contains("source.delimiter must be a single")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("source.comment cannot be a line end")),
            "{errors:?}"
        );

        let mut s = spec();
        s.quote = Some(",".into());
        let mut errors = Vec::new();
        dialect(&s, &mut errors);
        assert_eq!(
            errors,
            vec!["source.delimiter and source.quote are both ',': they must differ"]
        );
    }

    #[test]
    fn limits_are_checked() {
        let mut s = spec();
        s.sample_rows = 0;
        s.max_record_bytes = 10;
        s.max_header_bytes = 1;
        let mut errors = Vec::new();
        dialect(&s, &mut errors);
        assert_eq!(errors.len(), 3, "{errors:?}");
    }

    #[test]
    fn declared_types_are_used_and_unknown_columns_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        std::fs::write(&path, "id,name,,name\n1,x,2,y\n2,z,3,w\n").unwrap();
        let mut s = SourceSpec::paths(vec![path.to_string_lossy().into_owned()]);
        s.schema.insert("id".into(), "text".into());
        s.schema.insert("nmae".into(), "int".into());
        s.schema.insert("name".into(), "bogus".into());
        let mut errors = Vec::new();
        let d = dialect(&s, &mut errors);
        let inputs = vec![Input::File(path)];
        let plan = SourcePlan::open(&s, d, inputs, Arc::default(), &mut errors).unwrap();
        assert_eq!(plan.header, vec!["id", "name", "", "name"]);
        let cols: Vec<(String, DataType)> = plan
            .schema
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type))
            .collect();
        assert_eq!(cols[0], ("id".into(), DataType::Text), "declared");
        assert_eq!(cols[2].1, DataType::Int, "inferred");
        assert_ne!(cols[3].0, "name", "a repeated name is renamed");
        assert!(
            errors
                .iter()
                .any(|e| e.contains("no column \"nmae\"") && e.contains("name")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.starts_with("source.schema.name:")),
            "{errors:?}"
        );
        assert!(
            plan.notes
                .iter()
                .any(|n| n.contains("scanning the whole input")),
            "{:?}",
            plan.notes
        );
    }
}
