//! The shape of a load: what decides which rows an input becomes in the table (the
//! dialect, declared types, every stage and expression, the table, mode and key), as a
//! hash per part. Error policy, tuning, HTTP limits and header values are not part of it:
//! changing them changes how a load runs, not what it writes.
//!
//! A checkpoint records the shape, so a later run over the same input can tell that the
//! pipeline changed, and say what changed (from the parts' names) without storing the
//! expressions themselves (they may hold secrets).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{PipelineSpec, TransformSpec};

/// The part that records the dialect a run detected (`=` and its JSON): kept in the
/// checkpoint so that a resumed run reads the inputs the same way; not in the hash.
pub const DETECTED_PART: &str = "source dialect (detected)";

/// The shape's parts and their hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// Hash of every part.
    pub hash: String,
    /// Part name → `=value` (shown as is) or `#hash`.
    pub parts: BTreeMap<String, String>,
}

fn hashed(text: &str) -> String {
    let h = twox_hash::XxHash3_128::oneshot(text.as_bytes());
    format!("#{:016x}", (h >> 64) as u64)
}

fn shown(text: &str) -> String {
    format!("={text}")
}

impl Shape {
    /// The shape of `spec`, with `library_stages` (name and added columns of each user
    /// function, which cannot be hashed) after its transforms.
    pub fn of(spec: &PipelineSpec, library_stages: &[String]) -> Shape {
        let mut parts = BTreeMap::new();
        let src = &spec.source;
        parts.insert(
            "source dialect".to_string(),
            hashed(&format!(
                "{:?}\u{1f}{:?}\u{1f}{:?}\u{1f}{:?}\u{1f}{}",
                // Written as before the dialect was detected, so that checkpoints of
                // earlier versions keep their shape.
                src.delimiter.as_deref().unwrap_or(","),
                src.quote.as_deref().unwrap_or("\""),
                src.escape,
                src.comment,
                src.has_header.unwrap_or(true)
            )),
        );
        parts.insert(
            "source.null_values".to_string(),
            hashed(&src.null_values.join("\u{1f}")),
        );
        parts.insert(
            "source.ragged".to_string(),
            shown(&format!("{:?}", src.ragged).to_lowercase()),
        );
        if src.normalize_names != crate::config::NormalizeNames::None {
            parts.insert(
                "source.normalize_names".to_string(),
                shown(&format!("{:?}", src.normalize_names)),
            );
        }
        if src.is_jsonl() {
            parts.insert("source.format".to_string(), shown("jsonl"));
            for (name, pointer) in &src.fields {
                parts.insert(format!("source.fields.{name}"), shown(pointer));
            }
        }
        if src.skip_rows > 0 {
            parts.insert(
                "source.skip_rows".to_string(),
                shown(&src.skip_rows.to_string()),
            );
        }
        if src.union_by_name {
            parts.insert("source.union_by_name".to_string(), shown("true"));
        }
        if let Some(e) = &src.encoding {
            parts.insert("source.encoding".to_string(), shown(e));
        }
        if let Some(z) = &src.timezone {
            parts.insert("source.timezone".to_string(), shown(z));
        }
        for (col, ty) in &src.schema {
            parts.insert(format!("source.schema.{col}"), shown(&ty.shown()));
        }
        for (i, t) in spec.transforms.iter().enumerate() {
            let n = i + 1;
            match t {
                TransformSpec::Compute { columns } | TransformSpec::Cast { columns } => {
                    let kind = if matches!(t, TransformSpec::Cast { .. }) {
                        "cast"
                    } else {
                        "compute"
                    };
                    // The order of computed columns matters (a later one may use an
                    // earlier one): it is part of each column's entry.
                    for (k, (name, expr)) in columns.iter().enumerate() {
                        parts.insert(
                            format!("transform {n} ({kind}) column {name:?}"),
                            hashed(&format!("{k}\u{1f}{expr}")),
                        );
                    }
                }
                TransformSpec::Http(h) => {
                    let what = serde_json::json!({
                        "method": h.method, "url": h.url, "body": h.body, "fields": h.fields,
                        "body_column": h.body_column, "status_column": h.status_column,
                        "batch_size": h.batch_size, "batch_key": h.batch_key,
                    });
                    parts.insert(
                        format!("transform {n} (http {})", h.name),
                        hashed(&what.to_string()),
                    );
                }
                other => {
                    let kind = serde_json::to_value(other)
                        .ok()
                        .and_then(|v| v.get("type")?.as_str().map(String::from))
                        .unwrap_or_default();
                    let text = serde_json::to_string(other).unwrap_or_default();
                    parts.insert(format!("transform {n} ({kind})"), hashed(&text));
                }
            }
        }
        for (i, s) in library_stages.iter().enumerate() {
            parts.insert(format!("library stage {}", i + 1), hashed(s));
        }
        let sk = &spec.sink;
        parts.insert("sink.table".into(), shown(&sk.table));
        parts.insert(
            "sink.mode".into(),
            shown(&format!("{:?}", sk.mode).to_lowercase()),
        );
        parts.insert("sink.key".into(), shown(&sk.key.join(", ")));
        parts.insert("sink.truncate".into(), shown(&sk.truncate.to_string()));
        let all: String = parts
            .iter()
            .map(|(k, v)| format!("{k}\u{1f}{v}\u{1e}"))
            .collect();
        Shape {
            hash: hashed(&all)[1..].to_string(),
            parts,
        }
    }

    /// What changed from `old` to `self`, in plain words (empty when nothing did). The
    /// detected dialect is a record, not a part of what the pipeline says.
    pub fn changes_from(&self, old: &Shape) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in self.parts.iter().filter(|(k, _)| *k != DETECTED_PART) {
            match old.parts.get(k) {
                None => out.push(format!("{k} was added")),
                Some(o) if o == v => {}
                Some(o) => match (o.strip_prefix('='), v.strip_prefix('=')) {
                    (Some(a), Some(b)) => out.push(format!("{k}: {a:?} → {b:?}")),
                    _ => out.push(format!("{k} changed")),
                },
            }
        }
        for k in old.parts.keys().filter(|k| *k != DETECTED_PART) {
            if !self.parts.contains_key(k) {
                out.push(format!("{k} was removed"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: &str) -> PipelineSpec {
        PipelineSpec::from_toml(
            &format!(
                "[source]\npath = \"a.csv\"\n[sink]\nurl = \"sqlite://x.db\"\ntable = \"t\"\n{extra}"
            ),
            &[],
        )
        .unwrap()
    }

    #[test]
    fn expressions_change_the_shape_and_tuning_does_not() {
        let compute = |e: &str| {
            format!("[[transform]]\ntype = \"compute\"\n[transform.columns]\nemail = \"{e}\"\n")
        };
        let a = Shape::of(&spec(&compute("lower(email)")), &[]);
        let b = Shape::of(&spec(&compute("lower(trim(email))")), &[]);
        assert_ne!(a.hash, b.hash);
        assert_eq!(
            b.changes_from(&a),
            ["transform 1 (compute) column \"email\" changed"]
        );
        // Error policy, runtime tuning and commit size are not the shape.
        let tuned = spec(&format!(
            "{}[errors]\nmax_errors = 3\n[runtime]\nbatch_rows = 10\n",
            compute("lower(email)")
        ));
        let mut tuned = tuned;
        tuned.sink.commit_rows = Some(5);
        assert_eq!(Shape::of(&tuned, &[]).hash, a.hash);
        // The mode is shown in the clear.
        let mut up = spec(&compute("lower(email)"));
        up.sink.mode = crate::config::WriteMode::Upsert;
        assert_eq!(
            Shape::of(&up, &[]).changes_from(&a),
            ["sink.mode: \"append\" → \"upsert\""]
        );
        // A stage added.
        let more = spec(&format!(
            "{}[[transform]]\ntype = \"filter\"\nwhere = \"true\"\n",
            compute("lower(email)")
        ));
        assert_eq!(
            Shape::of(&more, &[]).changes_from(&a),
            ["transform 2 (filter) was added"]
        );
    }

    #[test]
    fn http_headers_and_limits_are_not_the_shape_but_the_url_is() {
        let http = |url: &str, extra: &str| {
            spec(&format!(
                "[[transform]]\ntype = \"http\"\nurl = \"{url}\"\n{extra}\n[transform.fields]\ns = \"/s\"\n"
            ))
        };
        let a = Shape::of(&http("http://h/x?id={id}", ""), &[]);
        let b = Shape::of(
            &http(
                "http://h/x?id={id}",
                "concurrency = 3\nrate_limit = 5.0\nheaders = { A = \"secret\" }",
            ),
            &[],
        );
        assert_eq!(a.hash, b.hash);
        let c = Shape::of(&http("http://h/y?id={id}", ""), &[]);
        assert_ne!(a.hash, c.hash);
        assert!(!format!("{b:?}").contains("secret"));
    }
}
