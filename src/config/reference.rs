//! `docs/pipeline.md`'s option tables checked against the config structs, key by key and
//! default by default: every key a section's struct has is a row of its table, every row
//! is a key, and every default the table gives is the value serde gives when the key is
//! left out. A new option, a renamed one or a changed default fails here until the
//! reference says the same.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use super::{ErrorSpec, HttpSpec, PipelineSpec, RuntimeSpec, SinkSpec, SourceSpec, TransformSpec};

const DOC: &str = include_str!("../../docs/pipeline.md");

/// The `| key | default | meaning |` tables, by the heading above them.
fn doc_tables() -> BTreeMap<String, Vec<(String, String)>> {
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut heading = String::new();
    let mut in_table = false;
    for line in DOC.lines() {
        if let Some(h) = line
            .strip_prefix("## ")
            .or_else(|| line.strip_prefix("### "))
        {
            heading = h.trim().to_string();
            in_table = false;
        } else if line.starts_with("| key | default | meaning |") {
            in_table = true;
            out.entry(heading.clone()).or_default();
        } else if in_table && line.starts_with("|---") {
        } else if in_table && line.starts_with('|') {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let key = cells[1].trim_matches('`').to_string();
            let default = cells[2].to_string();
            out.entry(heading.clone()).or_default().push((key, default));
        } else {
            in_table = false;
        }
    }
    out
}

/// The struct's keys and the value of each when left out, from the smallest TOML it
/// accepts (`required`).
fn defaults<T: DeserializeOwned + Serialize>(required: &str) -> BTreeMap<String, Json> {
    let spec: T = toml::from_str(required).expect("the required keys parse");
    match serde_json::to_value(&spec).expect("a spec serializes") {
        Json::Object(m) => m.into_iter().collect(),
        other => panic!("not a table: {other}"),
    }
}

/// The first `code` span of a cell, read as a TOML value; `None` for prose.
fn doc_value(cell: &str) -> Option<toml::Value> {
    let start = cell.find('`')?;
    let rest = &cell[start + 1..];
    let token = &rest[..rest.find('`')?];
    let table: toml::Table = toml::from_str(&format!("v = {token}")).ok()?;
    table.get("v").cloned()
}

fn same(doc: &toml::Value, json: &Json) -> bool {
    match (doc, json) {
        (toml::Value::String(a), Json::String(b)) => a == b,
        (toml::Value::Boolean(a), Json::Bool(b)) => a == b,
        (toml::Value::Integer(a), Json::Number(b)) => b.as_f64() == Some(*a as f64),
        (toml::Value::Float(a), Json::Number(b)) => b.as_f64() == Some(*a),
        (toml::Value::Array(a), Json::Array(b)) => a.is_empty() && b.is_empty(),
        (toml::Value::Table(a), Json::Object(b)) => a.is_empty() && b.is_empty(),
        _ => false,
    }
}

/// Checks one section; returns every difference, so one run lists them all.
fn check(
    heading: &str,
    struct_keys: BTreeMap<String, Json>,
    required: &[&str],
    computed: &[&str],
    not_options: &[&str],
) -> Vec<String> {
    let tables = doc_tables();
    let Some(rows) = tables.get(heading) else {
        return vec![format!(
            "docs/pipeline.md has no option table under \"{heading}\""
        )];
    };
    let mut problems = Vec::new();
    let keys: Vec<&String> = struct_keys
        .keys()
        .filter(|k| !not_options.contains(&k.as_str()))
        .collect();
    for k in &keys {
        if !rows.iter().any(|(d, _)| d == *k) {
            problems.push(format!(
                "{heading}: `{k}` is an option but not in the table"
            ));
        }
    }
    for (key, cell) in rows {
        let Some(value) = struct_keys.get(key) else {
            problems.push(format!(
                "{heading}: the table lists `{key}`, which is not an option"
            ));
            continue;
        };
        let unset = value.is_null() || value == &Json::String(String::new());
        if computed.contains(&key.as_str()) {
            // Chosen when the run starts (per database, from the file's name, ...): the
            // struct leaves it unset and the table says how it is chosen.
            if !unset {
                problems.push(format!(
                    "{heading}: `{key}` is listed as computed but defaults to {value}"
                ));
            }
        } else if cell.starts_with("see ") {
            // A table of its own, checked under its own heading.
            if !value.is_object() {
                problems.push(format!(
                    "{heading}: `{key}` points to another table but is not a table"
                ));
            }
        } else if cell == "—" {
            if !(required.contains(&key.as_str()) || value.is_null()) {
                problems.push(format!(
                    "{heading}: `{key}` has no default in the table but defaults to {value}"
                ));
            }
        } else if cell == "none" {
            if !value.is_null() {
                problems.push(format!(
                    "{heading}: `{key}` defaults to none in the table but to {value}"
                ));
            }
        } else {
            match doc_value(cell) {
                Some(d) if same(&d, value) => {}
                Some(d) => problems.push(format!(
                    "{heading}: `{key}` defaults to {d} in the table but to {value}"
                )),
                None => problems.push(format!(
                    "{heading}: the default of `{key}` ({cell:?}) is neither a value nor \
                     listed as computed"
                )),
            }
        }
    }
    for c in computed {
        if !rows.iter().any(|(k, _)| k == c) {
            problems.push(format!(
                "{heading}: `{c}` is listed as computed but not in the table"
            ));
        }
    }
    problems
}

#[test]
fn the_option_tables_match_the_config_structs() {
    let mut problems = Vec::new();
    problems.extend(check(
        "Top level",
        defaults::<PipelineSpec>("[source]\n[sink]\ntable = \"t\"\n"),
        &[],
        &["name"],
        &["source", "transform", "sink", "errors", "runtime"],
    ));
    problems.extend(check(
        "`[source]`",
        defaults::<SourceSpec>(""),
        &[],
        &["delimiter", "quote", "has_header", "format"],
        &[],
    ));
    problems.extend(check(
        "Remote inputs",
        defaults::<super::StorageSpec>(""),
        &[],
        &[],
        &[],
    ));
    problems.extend(check(
        "The `http` stage",
        defaults::<HttpSpec>("url = \"http://h/x\""),
        &["url"],
        &["method"],
        &[],
    ));
    problems.extend(check(
        "`[sink]`",
        defaults::<SinkSpec>("table = \"t\""),
        &["table"],
        &["url", "commit_rows", "sort_run_rows", "writers"],
        &[],
    ));
    problems.extend(check(
        "`[errors]`",
        defaults::<ErrorSpec>(""),
        &[],
        &["reject_file"],
        &[],
    ));
    problems.extend(check(
        "`[runtime]`",
        defaults::<RuntimeSpec>(""),
        &[],
        &["workers"],
        &[],
    ));
    assert!(
        problems.is_empty(),
        "docs/pipeline.md differs from the config:\n{}",
        problems.join("\n")
    );
}

/// The stage types serde accepts, from its own message for an unknown one.
fn transform_types() -> Vec<String> {
    let err = toml::from_str::<TransformSpec>("type = \"no-such-stage\"")
        .expect_err("an unknown stage type is refused")
        .to_string();
    let list = err
        .split("expected one of")
        .nth(1)
        .expect("serde lists the variants");
    list.split(',')
        .map(|s| {
            s.trim()
                .trim_matches(|c: char| c == '`' || c.is_whitespace())
                .to_string()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn the_stage_table_lists_every_stage_type() {
    let types = transform_types();
    assert!(types.len() >= 8, "read {types:?} from serde's message");
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in DOC.lines() {
        if line.starts_with("| `type` | keys | what it does |") {
            in_table = true;
        } else if in_table && line.starts_with("| `") {
            rows.push(
                line.split('|')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .trim_matches('`')
                    .to_string(),
            );
        } else if in_table && !line.starts_with("|---") {
            in_table = false;
        }
    }
    assert_eq!(
        rows, types,
        "the [[transform]] table of docs/pipeline.md and the stage types differ"
    );
}

/// The checker finds what it should: a doc that drifted is caught.
#[test]
fn a_drifted_default_or_key_is_caught() {
    assert_eq!(doc_value("`\",\"`"), Some(toml::Value::String(",".into())));
    assert_eq!(
        doc_value("`67108864` (64 MiB)"),
        Some(toml::Value::Integer(64 << 20))
    );
    assert_eq!(doc_value("file stem"), None);
    let mut keys = defaults::<RuntimeSpec>("");
    keys.insert("batch_rows".into(), Json::from(4097));
    keys.insert("new_option".into(), Json::from(1));
    let problems = check("`[runtime]`", keys, &[], &["workers"], &[]);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`batch_rows` defaults to 4096 in the table but to 4097"))
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`new_option` is an option but not in the table"))
    );
}
