//! Column types, schemas, parsing text into typed values, and type inference.
//!
//! Free of async and I/O: everything here works on strings and values.

pub(crate) mod format;
mod infer;
mod parse;
pub(crate) mod zone;

pub use crate::value::{DataType, TypeSize, UnknownType};
pub use infer::{DATE_LAYOUTS, Inferred, Inferrer, TypeSet};
pub use parse::parse_value;

/// A named, typed column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The name exactly as written in the header (or given by a rename).
    pub name: String,
    /// The column's type.
    pub data_type: DataType,
    /// Its declared or inferred size (`numeric(12,2)`, `varchar(40)`), if any.
    pub size: TypeSize,
}

impl Column {
    /// A column of `data_type` with no size.
    pub fn new(name: impl Into<String>, data_type: DataType) -> Self {
        Column {
            name: name.into(),
            data_type,
            size: TypeSize::Any,
        }
    }

    /// The type as written in a pipeline (`int`, `decimal(12,2)`, `varchar(40)`).
    pub fn type_name(&self) -> String {
        match self.size {
            TypeSize::Any => self.data_type.name().to_string(),
            TypeSize::Numeric { .. } => format!("numeric{}", self.size.suffix()),
            TypeSize::Chars(_) => format!("varchar{}", self.size.suffix()),
            TypeSize::Json => "json".to_string(),
        }
    }
}

/// An ordered list of columns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schema {
    /// Columns in order.
    pub columns: Vec<Column>,
}

impl Schema {
    /// Build a schema from `(name, type)` pairs.
    pub fn new(columns: impl IntoIterator<Item = (String, DataType)>) -> Self {
        Schema {
            columns: columns
                .into_iter()
                .map(|(name, data_type)| Column {
                    name,
                    data_type,
                    size: TypeSize::Any,
                })
                .collect(),
        }
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// True when there are no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Index of a column by exact name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Column names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    /// The schema as a pasteable TOML table body (`"name" = "type"` per line).
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        for c in &self.columns {
            out.push_str(&toml_key(&c.name));
            out.push_str(" = \"");
            out.push_str(&c.type_name());
            out.push_str("\"\n");
        }
        out
    }
}

/// A TOML key: bare when it can be, otherwise a basic string with escapes.
pub fn toml_key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        return name.to_string();
    }
    let mut s = String::with_capacity(name.len() + 2);
    s.push('"');
    for c in name.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if c.is_control() => s.push_str(&format!("\\u{:04X}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// `name` in snake case: lower-case letters and digits, every other run of characters
/// one `_`, none at the ends (`"First Name"` → `first_name`, `"Total ($)"` → `total`,
/// `"userID"` → `user_id`); a name that would be empty is `column`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && prev_lower && !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
            out.extend(c.to_lowercase());
        } else {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    let out = out.trim_end_matches('_').to_string();
    if out.is_empty() { "column".into() } else { out }
}

/// Make header names usable as column names, deterministically:
/// an empty name becomes `column_N` (N = 1-based position) and a repeated name gets a
/// suffix `_2`, `_3`, ... (the first occurrence keeps its name). Names are compared
/// ignoring ASCII case, as SQLite and MySQL compare column names (`Id` and `id` are one
/// column there). Returns the new names and a note per renamed column.
pub fn dedupe_names(names: &[String]) -> (Vec<String>, Vec<String>) {
    use std::collections::{HashMap, HashSet};
    // Sets and a next suffix per base keep this linear: a header of 20,000 copies of one
    // name is renamed in milliseconds.
    let all: HashSet<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    let mut used: HashSet<String> = HashSet::with_capacity(names.len());
    let mut next_suffix: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    let mut notes = Vec::new();
    let mut renamed = 0usize;
    for (i, name) in names.iter().enumerate() {
        let mut candidate = if name.is_empty() {
            format!("column_{}", i + 1)
        } else {
            name.clone()
        };
        let first_use = !name.is_empty() && !used.contains(&name.to_ascii_lowercase());
        if !first_use {
            let base = candidate.clone();
            let key = base.to_ascii_lowercase();
            let taken = |c: &str| {
                let c = c.to_ascii_lowercase();
                used.contains(&c) || all.contains(&c)
            };
            let mut k = next_suffix.get(&key).copied().unwrap_or(2);
            if next_suffix.contains_key(&key) || taken(&candidate) {
                candidate = format!("{base}_{k}");
                while taken(&candidate) {
                    k += 1;
                    candidate = format!("{base}_{k}");
                }
                k += 1;
            }
            next_suffix.insert(key, k);
            renamed += 1;
            if notes.len() < 20 {
                let what = if name.is_empty() {
                    "empty"
                } else {
                    "duplicate"
                };
                notes.push(format!(
                    "column {} has a {what} name {}; renamed to {}",
                    i + 1,
                    crate::format::quote_value(name),
                    crate::format::quote_value(&candidate)
                ));
            }
        }
        used.insert(candidate.to_ascii_lowercase());
        out.push(candidate);
    }
    if renamed > notes.len() {
        notes.push(format!(
            "... and {} more columns renamed the same way",
            renamed - notes.len()
        ));
    }
    (out, notes)
}

#[cfg(test)]
mod snake_tests {
    #[test]
    fn names_become_snake_case() {
        for (a, b) in [
            ("First Name", "first_name"),
            ("Total ($)", "total"),
            ("userID", "user_id"),
            ("e-mail  address", "e_mail_address"),
            ("Prénom", "prénom"),
            ("2021 Sales", "2021_sales"),
            ("***", "column"),
            ("already_snake", "already_snake"),
        ] {
            assert_eq!(super::snake_case(a), b, "{a}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_of_one_name_repeated_is_renamed_in_linear_time() {
        let names: Vec<String> = (0..20_000).map(|_| "x".to_string()).collect();
        let (out, notes) = dedupe_names(&names);
        assert_eq!(out[0], "x");
        assert_eq!(out[1], "x_2");
        assert_eq!(out[19_999], "x_20000");
        let distinct: std::collections::HashSet<String> =
            out.iter().map(|n| n.to_ascii_lowercase()).collect();
        assert_eq!(distinct.len(), 20_000);
        assert_eq!(notes.len(), 21, "20 notes and a summary");
        // A name that is someone else's suffix is kept free: `x,x,x_2` gives `x_3`.
        let (out, _) = dedupe_names(&["x".into(), "x".into(), "x_2".into()]);
        assert_eq!(out, ["x", "x_3", "x_2"]);
    }

    #[test]
    fn type_names_round_trip() {
        for t in DataType::ALL {
            assert_eq!(t.name().parse::<DataType>().unwrap(), t);
        }
        assert_eq!(
            "Double  Precision".parse::<DataType>().unwrap(),
            DataType::Float
        );
        assert!("blob".parse::<DataType>().is_err());
    }

    #[test]
    fn dedupe_is_deterministic() {
        let names: Vec<String> = ["a", "", "a", "b", "a", "column_2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (out, notes) = dedupe_names(&names);
        assert_eq!(out, ["a", "column_2_2", "a_2", "b", "a_3", "column_2"]);
        assert_eq!(notes.len(), 3);
        let names: Vec<String> = ["Id", "id", "ID_2"].iter().map(|s| s.to_string()).collect();
        let (out, _) = dedupe_names(&names);
        assert_eq!(
            out,
            ["Id", "id_3", "ID_2"],
            "names that differ only in case clash"
        );
    }

    #[test]
    fn toml_keys_quote_when_needed() {
        assert_eq!(toml_key("plain_1"), "plain_1");
        assert_eq!(toml_key("has space"), "\"has space\"");
        assert_eq!(toml_key("q\"uote"), "\"q\\\"uote\"");
        assert_eq!(toml_key(""), "\"\"");
    }
}
