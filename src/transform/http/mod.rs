//! The `http` stage: call an API for every row (or batch of rows) and put parts of the
//! answer into new columns.
//!
//! The runtime runs it as an async stage, so at most `concurrency` requests are in
//! flight for the whole stage (a row waiting to retry keeps its place). Each attempt
//! first waits on the stage's one rate limiter (`rate_limit`, retries included). A row
//! whose request fails for good (a 4xx, a 5xx or a timeout after the retries, a body
//! that is not JSON, a field of the wrong type) is a row error with the status and a
//! short reason, and follows the error policy.

mod client;
mod response;
mod stats;
mod template;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use self::client::{Caller, CallerOptions};
use self::response::{Field, Mapping, parse_json};
pub use self::stats::HttpStats;
use self::template::{Escape, Template};
use crate::config::{HttpField, HttpSpec};
use crate::row::{Row, Value};
use crate::schema::{Column, DataType, Schema};
use crate::transform::{AsyncOutcome, AsyncWork};

/// A planned HTTP stage: what the runtime runs, the schema after it, its counters.
pub struct HttpPlan {
    /// The work, per row or per group of rows.
    pub work: AsyncWork,
    /// The schema after the stage (the input's columns, then the new ones).
    pub output: Schema,
    /// The stage's counters (progress and the report read them).
    pub stats: Arc<HttpStats>,
    /// A one-line description for plans (no header values: they may be secrets).
    pub describe: String,
}

struct Inner {
    caller: Caller,
    url: Template,
    body: Option<Template>,
    mapping: Mapping,
    width: usize,
    /// Batch mode: match response items by this input column (and the item's field of
    /// that name), or by position.
    batch_key: Option<(usize, String)>,
    /// Batch mode without a body template: every input column, as a JSON object.
    columns: Vec<String>,
}

fn secs(name: &str, v: f64, errors: &mut Vec<String>) -> Duration {
    if v.is_finite() && v > 0.0 && v < 1e9 {
        Duration::from_secs_f64(v)
    } else {
        errors.push(format!(
            "{name} must be a positive number of seconds, got {v}"
        ));
        Duration::from_secs(1)
    }
}

/// Validate an `http` stage against the schema it receives.
pub fn plan(spec: &HttpSpec, input: &Schema) -> Result<HttpPlan, Vec<String>> {
    let mut errors = Vec::new();
    let batch = spec.batch_size;
    if batch == Some(0) {
        errors.push("batch_size must be at least 1".into());
    }
    let request = Request::plan(spec, input, &mut errors);
    let (timeout, backoff, max_backoff) = limits(spec, &mut errors);
    let (output, mapping) = new_columns(spec, input, &mut errors);
    let batch_key = batch_key(spec, input, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let Request {
        method: Some(method),
        url: Some(url),
        body,
        headers,
    } = request
    else {
        return Err(vec!["invalid http stage".into()]);
    };
    let stats = Arc::new(HttpStats::new(&spec.name));
    let caller = Caller::new(
        CallerOptions {
            method: method.clone(),
            headers,
            timeout,
            retries: spec.retries,
            backoff,
            max_backoff,
            rate_limit: spec.rate_limit,
            burst: spec.burst,
            shared_rate: spec.shared_rate.clone(),
            cache_size: spec.cache.then_some(spec.cache_size),
            cache_bytes: spec.cache_bytes,
            concurrency: spec.concurrency,
            max_response: spec.max_response_bytes,
            max_consecutive_failures: spec.max_consecutive_failures,
        },
        stats.clone(),
    )
    .map_err(|e| vec![e])?;
    let describe = describe(spec, &method);
    let inner = Arc::new(Inner {
        caller,
        url,
        body,
        mapping,
        width: output.len(),
        batch_key,
        columns: input.names().map(String::from).collect(),
    });
    Ok(HttpPlan {
        work: work(inner, batch),
        output,
        stats,
        describe,
    })
}

/// The request a stage sends, as far as it is valid (errors are collected).
struct Request {
    method: Option<reqwest::Method>,
    url: Option<Template>,
    body: Option<Template>,
    headers: reqwest::header::HeaderMap,
}

impl Request {
    fn plan(spec: &HttpSpec, input: &Schema, errors: &mut Vec<String>) -> Request {
        let batch = spec.batch_size;
        let method_text = spec
            .method
            .clone()
            .unwrap_or_else(|| if batch.is_some() { "POST" } else { "GET" }.into());
        let method = reqwest::Method::from_bytes(method_text.to_ascii_uppercase().as_bytes())
            .map_err(|_| errors.push(format!("method {method_text:?} is not an HTTP method")))
            .ok();
        let url = Template::parse(&spec.url, input)
            .map_err(|e| errors.push(format!("url: {e}")))
            .ok();
        if let Some(u) = &url
            && batch.is_some()
            && u.columns().next().is_some()
        {
            errors.push(
                "in batch mode the url cannot use row values (each request carries several rows)"
                    .into(),
            );
        }
        if !(spec.url.starts_with("http://") || spec.url.starts_with("https://")) {
            errors.push(format!(
                "url {:?} must start with http:// or https://",
                spec.url
            ));
        }
        let body = spec
            .body
            .as_deref()
            .map(|b| {
                Template::parse(b, input)
                    .map_err(|e| errors.push(format!("body: {e}")))
                    .ok()
            })
            .unwrap_or(None);
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &spec.headers {
            match (
                reqwest::header::HeaderName::from_bytes(k.as_bytes()),
                reqwest::header::HeaderValue::from_str(v),
            ) {
                (Ok(name), Ok(mut value)) => {
                    value.set_sensitive(true);
                    headers.insert(name, value);
                }
                // The value is not repeated: it may be a secret.
                _ => errors.push(format!(
                    "header {k:?} is not a valid HTTP header name and value"
                )),
            }
        }
        Request {
            method,
            url,
            body,
            headers,
        }
    }
}

/// Concurrency, size and rate settings; the timeouts as durations.
fn limits(spec: &HttpSpec, errors: &mut Vec<String>) -> (Duration, Duration, Duration) {
    if spec.concurrency == 0 {
        errors.push("concurrency must be at least 1".into());
    }
    if spec.max_response_bytes == 0 {
        errors.push("max_response_bytes must be at least 1".into());
    }
    if let Some(r) = spec.rate_limit
        && !(r.is_finite() && (1e-6..=1e9).contains(&r))
    {
        errors.push(format!(
            "rate_limit must be a number of requests per second from 0.000001 to 1e9, got {r}"
        ));
    }
    let timeout = secs("timeout", spec.timeout, errors);
    let backoff = secs("backoff", spec.backoff, errors);
    let max_backoff = secs("max_backoff", spec.max_backoff, errors);
    (timeout, backoff, max_backoff)
}

/// The schema after the stage (the input plus the new columns) and where each new
/// column's value comes from.
fn new_columns(spec: &HttpSpec, input: &Schema, errors: &mut Vec<String>) -> (Schema, Mapping) {
    let mut output = input.clone();
    let mut add = |name: &str, t: DataType, errors: &mut Vec<String>| -> usize {
        if output.index_of(name).is_some() {
            errors.push(format!("column {name:?} already exists"));
        }
        output.columns.push(Column {
            name: name.to_string(),
            data_type: t,
            size: crate::schema::TypeSize::Any,
        });
        output.columns.len() - 1
    };
    let mut mapping = Mapping::default();
    for (name, f) in &spec.fields {
        let (pointer, t) = match f {
            HttpField::Pointer(p) => (p.clone(), DataType::Text),
            HttpField::Typed { pointer, data_type } => {
                let t = match data_type.as_deref().map(str::parse::<DataType>) {
                    None => DataType::Text,
                    Some(Ok(t)) => t,
                    Some(Err(e)) => {
                        errors.push(format!("fields.{name}: {e}"));
                        DataType::Text
                    }
                };
                (pointer.clone(), t)
            }
        };
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            errors.push(format!(
                "fields.{name}: {pointer:?} is not a JSON pointer (they start with /, e.g. \"/data/score\")"
            ));
        }
        let column = add(name, t, errors);
        mapping.fields.push(Field {
            column,
            name: name.clone(),
            pointer,
            data_type: t,
        });
    }
    if let Some(c) = &spec.body_column {
        mapping.body_column = Some(add(c, DataType::Text, errors));
    }
    if let Some(c) = &spec.status_column {
        mapping.status_column = Some(add(c, DataType::Int, errors));
    }
    if mapping.fields.is_empty() && mapping.body_column.is_none() && mapping.status_column.is_none()
    {
        errors.push("the stage adds no column: set fields, body_column or status_column".into());
    }
    (output, mapping)
}

/// The column that groups rows into requests in batch mode.
fn batch_key(spec: &HttpSpec, input: &Schema, errors: &mut Vec<String>) -> Option<(usize, String)> {
    let batch = spec.batch_size;
    match (&spec.batch_key, batch) {
        (Some(k), Some(_)) => match input.index_of(k) {
            Some(i) => Some((i, k.clone())),
            None => {
                let names: Vec<String> = input.names().map(String::from).collect();
                errors.push(format!(
                    "batch_key: no column {k:?}{}",
                    crate::format::did_you_mean(k, &names)
                ));
                None
            }
        },
        (Some(_), None) => {
            errors.push("batch_key needs batch_size".into());
            None
        }
        _ => None,
    }
}

/// One line saying what the stage does (the URL without its password).
fn describe(spec: &HttpSpec, method: &reqwest::Method) -> String {
    let mut describe = format!(
        "http {}({method} {}, concurrency {}",
        spec.name,
        crate::redact::redact_url(&spec.url),
        spec.concurrency
    );
    if let Some(r) = spec.rate_limit {
        describe.push_str(&format!(", {r} req/s"));
    }
    if let Some(b) = spec.batch_size {
        describe.push_str(&format!(", {b} rows per request"));
    }
    if spec.cache {
        describe.push_str(", cached");
    }
    describe.push_str(if spec.ordered {
        ", ordered)"
    } else {
        ", unordered)"
    });
    describe
}

/// The async work: one request per row, or per group of rows in batch mode.
fn work(inner: Arc<Inner>, batch: Option<usize>) -> AsyncWork {
    match batch {
        None => AsyncWork::Each(Arc::new(
            move |row: Row| -> BoxFuture<'static, (Row, AsyncOutcome)> {
                let inner = inner.clone();
                Box::pin(async move { inner.one(row).await })
            },
        )),
        Some(n) => AsyncWork::Group(
            n,
            Arc::new(
                move |rows: Vec<Row>| -> BoxFuture<'static, Vec<(Row, AsyncOutcome)>> {
                    let inner = inner.clone();
                    Box::pin(async move { inner.group(rows).await })
                },
            ),
        ),
    }
}

impl Inner {
    async fn one(&self, mut row: Row) -> (Row, AsyncOutcome) {
        row.values.resize(self.width, Value::Null);
        let mut url = String::with_capacity(128);
        self.url.render(&row.values, Escape::Url, &mut url);
        let body = self.body.as_ref().map(|t| {
            let mut b = String::with_capacity(128);
            t.render(&row.values, Escape::Json, &mut b);
            b
        });
        let outcome = match self.caller.call(url, body).await {
            Ok(answer) => {
                let json = if self.mapping.needs_json() {
                    match parse_json(&answer.body) {
                        Ok(j) => Some(j),
                        Err(e) => return (row, AsyncOutcome::Reject(e)),
                    }
                } else {
                    None
                };
                match self.mapping.apply(
                    answer.status,
                    &answer.body,
                    json.as_ref(),
                    &mut row.values,
                ) {
                    Ok(()) => AsyncOutcome::Keep,
                    Err(e) => AsyncOutcome::Reject(e),
                }
            }
            Err(f) if f.down => AsyncOutcome::Stop(f.reason),
            Err(f) => AsyncOutcome::Reject(f.reason),
        };
        (row, outcome)
    }

    /// Batch mode: one POST with a JSON array of the rows, a JSON array back.
    async fn group(&self, mut rows: Vec<Row>) -> Vec<(Row, AsyncOutcome)> {
        let mut body = String::from("[");
        for (i, row) in rows.iter_mut().enumerate() {
            row.values.resize(self.width, Value::Null);
            if i > 0 {
                body.push(',');
            }
            match &self.body {
                Some(t) => t.render(&row.values, Escape::Json, &mut body),
                None => {
                    body.push('{');
                    for (k, name) in self.columns.iter().enumerate() {
                        if k > 0 {
                            body.push(',');
                        }
                        template::json_value(&Value::Text(name.clone()), &mut body);
                        body.push(':');
                        template::json_value(&row.values[k], &mut body);
                    }
                    body.push('}');
                }
            }
        }
        body.push(']');
        let mut url = String::new();
        self.url.render(&[], Escape::Url, &mut url);
        let all = |rows: Vec<Row>, why: String| {
            rows.into_iter()
                .map(|r| (r, AsyncOutcome::Reject(why.clone())))
                .collect::<Vec<_>>()
        };
        let answer = match self.caller.call(url, Some(body)).await {
            Ok(a) => a,
            Err(f) if f.down => {
                return rows
                    .into_iter()
                    .map(|r| (r, AsyncOutcome::Stop(f.reason.clone())))
                    .collect();
            }
            Err(f) => return all(rows, f.reason),
        };
        let items = match parse_json(&answer.body) {
            Ok(serde_json::Value::Array(items)) => items,
            Ok(_) => return all(rows, "the batch response is not a JSON array".into()),
            Err(e) => return all(rows, e),
        };
        let by_key: Option<std::collections::HashMap<String, &serde_json::Value>> =
            self.batch_key.as_ref().map(|(_, name)| {
                items
                    .iter()
                    .filter_map(|it| it.get(name).map(|k| (json_key(k), it)))
                    .collect()
            });
        if by_key.is_none() && items.len() != rows.len() {
            let why = format!(
                "the batch response has {} items for {} rows (set batch_key to match them by a column)",
                items.len(),
                rows.len()
            );
            return all(rows, why);
        }
        rows.into_iter()
            .enumerate()
            .map(|(i, mut row)| {
                let item = match (&by_key, &self.batch_key) {
                    (Some(map), Some((col, name))) => {
                        let key = json_key(&value_json(&row.values[*col]));
                        match map.get(&key) {
                            Some(it) => *it,
                            None => {
                                let why =
                                    format!("no item with {name} = {key} in the batch response");
                                return (row, AsyncOutcome::Reject(why));
                            }
                        }
                    }
                    _ => &items[i],
                };
                let item_body = item.to_string();
                let outcome = match self.mapping.apply(
                    answer.status,
                    item_body.as_bytes(),
                    Some(item),
                    &mut row.values,
                ) {
                    Ok(()) => AsyncOutcome::Keep,
                    Err(e) => AsyncOutcome::Reject(e),
                };
                (row, outcome)
            })
            .collect()
    }
}

/// A row value as JSON (for matching batch items).
fn value_json(v: &Value) -> serde_json::Value {
    let mut s = String::new();
    template::json_value(v, &mut s);
    serde_json::from_str(&s).unwrap_or(serde_json::Value::Null)
}

/// A JSON scalar as a matching key: `7` and `"7"` match the same row.
fn json_key(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
