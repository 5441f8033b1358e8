//! A guard against Rust `Debug` output in what users read: no message, log line or
//! printed text in `src/` formats an error with `{:?}` (which prints a foreign error as
//! `DriverError { ... }`, `Os { code: 111, kind: ... }`). Names and values are quoted
//! with `{:?}` on purpose (`column "id"`); errors go through `Display`.
//!
//! The scan reads the formatting macros of every source file (tests left out), pairs
//! each `{:?}` with its argument, and flags the arguments that are errors by their
//! name (`e`, `err`, `error`, `cause`, `*_err`, `*_error`).

use std::path::Path;

/// Macros whose text a user can see (messages, progress, logs at -v/-vv).
const MACROS: &[&str] = &[
    "format!(",
    "format_args!(",
    "write!(",
    "writeln!(",
    "print!(",
    "println!(",
    "eprint!(",
    "eprintln!(",
    "info!(",
    "warn!(",
    "debug!(",
    "error!(",
    "trace!(",
];

/// Whether an argument expression is an error, by its last name.
fn is_error_name(expr: &str) -> bool {
    let e = expr.trim().trim_start_matches('&').trim();
    let last = e
        .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
        .find(|s| !s.is_empty())
        .unwrap_or("");
    // A method call's result (`e.kind()`) is the method's; only plain names and fields.
    if e.ends_with(')') {
        return false;
    }
    matches!(last, "e" | "err" | "error" | "cause")
        || last.ends_with("_err")
        || last.ends_with("_error")
}

/// The end (exclusive) of the string literal starting at `i` (`"` or `r#"`).
fn literal_end(b: &[u8], i: usize) -> Option<usize> {
    if b[i] == b'r' {
        let mut j = i + 1;
        let mut hashes = 0;
        while j < b.len() && b[j] == b'#' {
            hashes += 1;
            j += 1;
        }
        if j >= b.len() || b[j] != b'"' {
            return None;
        }
        j += 1;
        while j < b.len() {
            if b[j] == b'"'
                && b[j + 1..]
                    .iter()
                    .take(hashes)
                    .filter(|&&c| c == b'#')
                    .count()
                    == hashes
            {
                return Some(j + 1 + hashes);
            }
            j += 1;
        }
        return None;
    }
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// The top-level arguments of the macro call whose `(` is at `open`.
fn arguments(src: &str, open: usize) -> Vec<String> {
    let b = src.as_bytes();
    let mut depth = 0usize;
    let mut args = Vec::new();
    let mut start = open + 1;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = literal_end(b, i).unwrap_or(b.len());
                continue;
            }
            b'r' if b.get(i + 1).is_some_and(|c| *c == b'"' || *c == b'#')
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                if let Some(end) = literal_end(b, i) {
                    i = end;
                    continue;
                }
            }
            // A char literal ('x', '\n', '"'), not a lifetime.
            b'\'' if b.get(i + 2) == Some(&b'\'') => {
                i += 3;
                continue;
            }
            b'\'' if b.get(i + 1) == Some(&b'\\') => {
                i += b[i + 2..]
                    .iter()
                    .position(|c| *c == b'\'')
                    .map_or(2, |p| p + 3);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    args.push(src[start..i].trim().to_string());
                    return args;
                }
            }
            b',' if depth == 1 => {
                args.push(src[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    args
}

/// The placeholders of a format string: (name or index, or None for the next
/// positional one; whether it is `Debug`).
fn placeholders(lit: &str) -> Vec<(Option<String>, bool)> {
    let mut out = Vec::new();
    let mut chars = lit.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
            }
            '{' => {
                let inner: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let (arg, spec) = inner.split_once(':').unwrap_or((&inner, ""));
                let arg = arg.trim();
                out.push((
                    (!arg.is_empty()).then(|| arg.to_string()),
                    spec.ends_with('?'),
                ));
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
            }
            _ => {}
        }
    }
    out
}

/// The `{:?}` of errors in `src` (a file's text), as `line: argument`.
fn debug_errors(src: &str) -> Vec<String> {
    // Test modules (at the end of a file, by this codebase's habit) are left out.
    let src = match src.find("\n#[cfg(test)]") {
        Some(at) => &src[..at],
        None => src,
    };
    let mut found: Vec<(usize, String)> = Vec::new();
    for m in MACROS {
        let mut from = 0;
        while let Some(at) = src[from..].find(m) {
            let open = from + at + m.len() - 1;
            from = open + 1;
            let before = src[..from - m.len()].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // e.g. `eprintln!(` found as `println!(`
            }
            let args = arguments(src, open);
            let Some(fmt_at) = args
                .iter()
                .position(|a| a.starts_with('"') || a.starts_with("r#\"") || a.starts_with("r\""))
            else {
                continue;
            };
            let lit = &args[fmt_at];
            let rest = &args[fmt_at + 1..];
            let named = |n: &str| {
                rest.iter().find_map(|a| {
                    let (k, v) = a.split_once('=')?;
                    (k.trim() == n && !v.starts_with('=')).then(|| v.trim().to_string())
                })
            };
            let mut next = 0;
            for (arg, debug) in placeholders(lit) {
                let expr = match arg {
                    None => {
                        next += 1;
                        rest.get(next - 1).cloned()
                    }
                    Some(a) if a.chars().all(|c| c.is_ascii_digit()) => {
                        rest.get(a.parse::<usize>().unwrap_or(usize::MAX)).cloned()
                    }
                    Some(a) => named(&a).or(Some(a)),
                };
                if let Some(expr) = expr
                    && debug
                    && is_error_name(&expr)
                {
                    let line = src[..open].lines().count();
                    found.push((line, format!("line {line}: {m}... {{:?}} of `{expr}`")));
                }
            }
        }
    }
    found.sort();
    found.into_iter().map(|(_, f)| f).collect()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs")
            && p.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(p);
        }
    }
}

#[test]
fn no_error_is_shown_with_debug_formatting() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 50, "the sources were found: {}", files.len());
    let mut found = Vec::new();
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        for d in debug_errors(&src) {
            found.push(format!("{}: {d}", f.strip_prefix(root).unwrap().display()));
        }
    }
    assert!(
        found.is_empty(),
        "errors shown with {{:?}} (use Display, or say what happened in words):\n{}",
        found.join("\n")
    );
}

/// The scan finds what it is for and leaves names alone.
#[test]
fn the_scan_finds_debug_errors() {
    let src = r#"
fn f() {
    let a = format!("connecting: {e:?}");
    let b = format!("{}: {:?}", path.display(), err);
    eprintln!("{what}: {why:?} {x:?}", what = 1, x = io_error);
    let c = format!("column {:?} is {}", c.name, t);
    let d = format!("{{e:?}} {0:?}", self.source_error);
    tracing::debug!("retry {n}: {:?}", e.kind());
    let s = format!("a \" quote {:?} {:?}", ',', cause);
}
"#;
    let found = debug_errors(src);
    assert_eq!(found.len(), 5, "{found:#?}");
    for (f, arg) in found
        .iter()
        .zip(["e", "err", "io_error", "self.source_error", "cause"])
    {
        assert!(f.ends_with(&format!("`{arg}`")), "{f}");
    }
}
