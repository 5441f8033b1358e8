//! `rowflow preview PIPELINE.toml [-n 20]` (and `rowflow load … --preview`): the
//! pipeline run on the first rows with nothing written, shown as a table that fits the
//! terminal, or as CSV or JSON for scripts.

use std::path::PathBuf;

use rowflow::Pipeline;
use rowflow::preview::Preview;
use rowflow::value::Value;

use super::fail;

#[derive(Debug, clap::Args)]
pub struct PreviewArgs {
    /// The pipeline file (TOML).
    pipeline: PathBuf,
    /// Override a setting of the file.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    #[command(flatten)]
    show: ShowArgs,
}

/// How a preview is shown (shared with `load --preview`).
#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    /// Rows to run through the pipeline.
    #[arg(short = 'n', long = "rows", default_value_t = 20, value_name = "N")]
    pub rows: u64,
    /// table (aligned, fits the terminal), csv or json.
    #[arg(long = "format", default_value = "table", value_parser = ["table", "csv", "json"])]
    pub format: String,
    /// Do not call the http stages: their columns are NULL.
    #[arg(long = "no-http")]
    pub no_http: bool,
}

pub fn run(a: PreviewArgs) -> i32 {
    if let Some(hint) = super::run::data_file_hint(&a.pipeline) {
        return fail(hint);
    }
    match Pipeline::from_file(&a.pipeline, &a.set) {
        Ok(p) => show(p, &a.show),
        Err(e) => fail(e),
    }
}

/// Preview `pipeline` and print it.
pub fn show(pipeline: Pipeline, how: &ShowArgs) -> i32 {
    let rt = match super::runtime(pipeline.spec().runtime.async_threads) {
        Ok(rt) => rt,
        Err(e) => return fail(format!("starting the runtime: {e}")),
    };
    let p = match rt.block_on(pipeline.preview(how.rows.max(1), !how.no_http)) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    if how.format != "json" {
        for n in &p.notes {
            eprintln!("rowflow: note: {}", super::words(n));
        }
    }
    match how.format.as_str() {
        "json" => println!("{}", json(&p)),
        "csv" => csv_out(&p),
        _ => table(&p, how.rows),
    }
    0
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        other => other.to_string(),
    }
}

fn json(p: &Preview) -> serde_json::Value {
    let value = |v: &Value| match v {
        Value::Null => serde_json::Value::Null,
        Value::Int(i) => (*i).into(),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| f.to_string().into()),
        Value::Bool(b) => (*b).into(),
        other => other.to_string().into(),
    };
    let rows: Vec<serde_json::Value> = p
        .rows
        .iter()
        .map(|(line, vals)| {
            let mut m = serde_json::Map::new();
            m.insert("_line".into(), (*line).into());
            for (c, v) in p.columns.iter().zip(vals) {
                m.insert(c.clone(), value(v));
            }
            serde_json::Value::Object(m)
        })
        .collect();
    serde_json::json!({
        "columns": p.columns.iter().zip(&p.types).map(|(c, t)| serde_json::json!({"name": c, "type": t})).collect::<Vec<_>>(),
        "rows": rows,
        "rejected": p.rejected.iter().map(|(l, e)| serde_json::json!({"_line": l, "_error": e})).collect::<Vec<_>>(),
        "rows_read": p.read,
        "rows_filtered": p.filtered,
        "http_requests": p.http_requests,
        "notes": p.notes,
    })
}

fn csv_out(p: &Preview) {
    let mut w = csv::Writer::from_writer(std::io::stdout());
    let _ = w.write_record(&p.columns);
    for (_, vals) in &p.rows {
        let _ = w.write_record(vals.iter().map(|v| match v {
            Value::Null => String::new(),
            other => other.to_string(),
        }));
    }
    let _ = w.flush();
    for (line, e) in &p.rejected {
        eprintln!("rowflow: line {line} rejected: {e}");
    }
}

/// The terminal's width: `COLUMNS`, else the width of the terminal on standard output
/// or standard error, if either is one.
pub fn terminal_width() -> Option<usize> {
    if let Some(c) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(c);
    }
    #[cfg(unix)]
    for fd in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: TIOCGWINSZ fills the winsize struct passed by pointer; nothing else.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_col > 0 {
            return Some(ws.ws_col as usize);
        }
    }
    None
}

/// The width a table may take (120 when not on a terminal).
fn width() -> usize {
    terminal_width().unwrap_or(120)
}

/// `s` in at most `w` characters (cut with `…`).
fn fit(s: &str, w: usize) -> String {
    let s = s.replace(['\n', '\r', '\t'], " ");
    if s.chars().count() <= w {
        return s;
    }
    let mut out: String = s.chars().take(w.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn table(p: &Preview, asked: u64) {
    const MAX_COL: usize = 32;
    let total = width();
    let line_w = p
        .rows
        .iter()
        .map(|(l, _)| l.to_string().len())
        .chain(p.rejected.iter().map(|(l, _)| l.to_string().len()))
        .max()
        .unwrap_or(1)
        .max(4);
    // Each column as wide as its name or widest value, at most MAX_COL; as many
    // columns as fit.
    let mut widths = Vec::new();
    let mut used = line_w;
    for (i, c) in p.columns.iter().enumerate() {
        let w = p
            .rows
            .iter()
            .map(|(_, v)| text(&v[i]).chars().count())
            .chain([c.chars().count()])
            .max()
            .unwrap_or(1)
            .min(MAX_COL);
        if used + 2 + w > total && !widths.is_empty() {
            break;
        }
        used += 2 + w;
        widths.push(w);
    }
    let shown = widths.len();
    let row = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, (c, w)) in cells
            .iter()
            .zip(std::iter::once(&line_w).chain(&widths))
            .enumerate()
        {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(&format!("{:<w$}", fit(c, *w), w = *w));
        }
        s.trim_end().to_string()
    };
    println!(
        "{}",
        row(std::iter::once("line".to_string())
            .chain(p.columns.iter().take(shown).cloned())
            .collect())
    );
    println!(
        "{}",
        row(std::iter::once("-".repeat(line_w))
            .chain(widths.iter().map(|w| "-".repeat(*w)))
            .collect())
    );
    // Rows and failures in input order.
    let mut items: Vec<(u64, Result<&Vec<Value>, &String>)> = p
        .rows
        .iter()
        .map(|(l, v)| (*l, Ok(v)))
        .chain(p.rejected.iter().map(|(l, e)| (*l, Err(e))))
        .collect();
    items.sort_by_key(|(l, _)| *l);
    for (line, item) in items {
        match item {
            Ok(vals) => println!(
                "{}",
                row(std::iter::once(line.to_string())
                    .chain(vals.iter().take(shown).map(text))
                    .collect())
            ),
            Err(e) => println!(
                "{:<line_w$}  {}",
                line,
                fit(
                    &format!("REJECTED: {e}"),
                    total.saturating_sub(line_w + 2).max(20)
                )
            ),
        }
    }
    println!();
    if shown < p.columns.len() {
        println!(
            "({} more columns not shown: {}; use --format csv or json, or a wider terminal)",
            p.columns.len() - shown,
            p.columns[shown..].join(", ")
        );
    }
    let rows = |n: u64| rowflow::format::plural(n, "row");
    println!(
        "preview of up to {} ({} read: {} shown, {} filtered out, {} rejected){}; nothing was written",
        rows(asked),
        p.read,
        p.rows.len(),
        p.filtered,
        p.rejected.len(),
        if p.http_requests > 0 {
            format!(
                "; the HTTP stages were called for these rows only ({})",
                rowflow::format::plural(p.http_requests, "request")
            )
        } else {
            String::new()
        }
    );
}
