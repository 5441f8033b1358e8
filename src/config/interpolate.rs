//! `${VAR}` interpolation in the string values of a pipeline file.

use crate::error::{Error, Result};

/// Replace `${NAME}` with `lookup(NAME)` in `text`; `$${` is a literal `${`. A variable
/// that is not set is an error naming it (`${NAME:-default}` gives a default instead).
pub fn interpolate_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix("${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                return Err(Error::Config(format!(
                    "unterminated `${{` in {text:?} (write `$${{` for a literal `${{`)"
                )));
            };
            let inner = &body[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(Error::Config(format!(
                    "invalid variable name `${{{inner}}}`"
                )));
            }
            let in_userinfo = in_url_userinfo(&out, &body[end + 1..]);
            match (lookup(name), default) {
                // In a URL's `user:password@` part a value is percent-encoded: a password
                // with `@`, `/` or `#` would otherwise end it early (and send the rest
                // as the host, and into messages).
                (Some(v), _) if in_userinfo => {
                    out.push_str(&crate::redact::percent_encode(&v, false))
                }
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(Error::Config(format!(
                        "environment variable {name} is not set (used as `${{{name}}}`; \
                         write `${{{name}:-default}}` to give a default)"
                    )));
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether a reference between `before` (the text so far) and `after` stands in the
/// `user:password@` part of a URL: after `scheme://` with no `/`, `?`, `#` or `@` since,
/// and followed by an `@` before any `/`, `?` or `#`.
fn in_url_userinfo(before: &str, after: &str) -> bool {
    let Some(i) = before.rfind("://") else {
        return false;
    };
    let authority = &before[i + 3..];
    if authority.contains(['/', '?', '#', '@']) {
        return false;
    }
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    after[..end].contains('@')
}

/// Interpolate every string inside a TOML value, recursively.
pub(crate) fn interpolate_value(
    v: &mut toml::Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<()> {
    match v {
        toml::Value::String(s) if s.contains('$') => {
            *s = interpolate_env(s, lookup)?;
        }
        toml::Value::Array(a) => {
            for x in a {
                interpolate_value(x, lookup)?;
            }
        }
        toml::Value::Table(t) => {
            for (_, x) in t.iter_mut() {
                interpolate_value(x, lookup)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_url_is_percent_encoded() {
        let pw = |k: &str| (k == "PW").then(|| "LEAK@a/b:c?d#e".to_string());
        let got = interpolate_env("postgres://u:${PW}@db.example/test", pw).unwrap();
        assert_eq!(got, "postgres://u:LEAK%40a%2Fb%3Ac%3Fd%23e@db.example/test");
        assert_eq!(
            crate::redact::redact_url(&got),
            "postgres://u:***@db.example/test"
        );
        // Elsewhere a value stays as it is.
        assert_eq!(
            interpolate_env("https://h/${PW}?q=${PW}", pw).unwrap(),
            "https://h/LEAK@a/b:c?d#e?q=LEAK@a/b:c?d#e"
        );
        assert_eq!(
            interpolate_env("a ${PW} b", pw).unwrap(),
            "a LEAK@a/b:c?d#e b"
        );
    }

    fn env(k: &str) -> Option<String> {
        (k == "HOME_DIR").then(|| "/home/me".to_string())
    }

    #[test]
    fn replaces_and_escapes() {
        assert_eq!(interpolate_env("${HOME_DIR}/x", env).unwrap(), "/home/me/x");
        assert_eq!(interpolate_env("$${HOME_DIR}", env).unwrap(), "${HOME_DIR}");
        assert_eq!(interpolate_env("cost $5", env).unwrap(), "cost $5");
        assert_eq!(interpolate_env("${NOPE:-dflt}", env).unwrap(), "dflt");
        let e = interpolate_env("${NOPE}", env).unwrap_err().to_string();
        assert!(e.contains("NOPE is not set"), "{e}");
        assert!(interpolate_env("${open", env).is_err());
    }
}
