//! Sink URLs: parsing and redaction.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// A parsed destination.
#[derive(Clone, PartialEq, Eq)]
pub enum SinkTarget {
    /// An SQLite database file.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A PostgreSQL server.
    Postgres {
        /// The full URL, password included: never displayed (see `display`).
        url: String,
    },
    /// A MySQL or MariaDB server.
    Mysql {
        /// The full URL, password included: never displayed (see `display`).
        url: String,
    },
}

/// Debug output shows the redacted URL, never the password.
impl std::fmt::Debug for SinkTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl SinkTarget {
    /// Parse `sqlite://relative/path.db`, `sqlite:///absolute/path.db`,
    /// `postgres://...` (or `postgresql://`) and `mysql://...` (or `mariadb://`).
    pub fn parse(url: &str) -> Result<Self> {
        if let Some(rest) = url.strip_prefix("sqlite://") {
            let path = rest.split('?').next().unwrap_or(rest);
            if path.is_empty() {
                return Err(Error::Config(format!(
                    "sink url {url:?} has no path (e.g. sqlite://out.db or sqlite:///tmp/out.db)"
                )));
            }
            return Ok(SinkTarget::Sqlite {
                path: PathBuf::from(path),
            });
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            return Err(Error::Config(format!(
                "sink url {url:?}: write sqlite://{rest} (relative) or sqlite:///{} (absolute)",
                rest.trim_start_matches('/')
            )));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(SinkTarget::Postgres {
                url: url.to_string(),
            });
        }
        if url.starts_with("mysql://") {
            return Ok(SinkTarget::Mysql {
                url: url.to_string(),
            });
        }
        if let Some(rest) = url.strip_prefix("mariadb://") {
            return Ok(SinkTarget::Mysql {
                url: format!("mysql://{rest}"),
            });
        }
        if url.is_empty() {
            return Err(Error::Config(
                "sink.url is not set and neither is DATABASE_URL".into(),
            ));
        }
        let scheme = url.split("://").next().unwrap_or(url);
        Err(Error::Config(format!(
            "unsupported sink url {:?} (scheme {scheme:?}); supported: sqlite://PATH, \
             postgres://USER:PASSWORD@HOST:PORT/DB, mysql://USER:PASSWORD@HOST:PORT/DB",
            redact_url(url)
        )))
    }

    /// A display form safe for logs (passwords replaced by `***`).
    pub fn display(&self) -> String {
        match self {
            SinkTarget::Sqlite { path } => format!("sqlite://{}", path.display()),
            SinkTarget::Postgres { url } | SinkTarget::Mysql { url } => redact_url(url),
        }
    }

    /// The password in the URL, if any (to scrub it from messages).
    pub fn password(&self) -> Option<String> {
        match self {
            SinkTarget::Sqlite { .. } => None,
            SinkTarget::Postgres { url } | SinkTarget::Mysql { url } => url_password(url),
        }
    }

    /// Every secret in the URL (the password, secret query parameters), to scrub from
    /// messages.
    pub fn secrets(&self) -> Vec<String> {
        match self {
            SinkTarget::Sqlite { .. } => Vec::new(),
            SinkTarget::Postgres { url } | SinkTarget::Mysql { url } => url_secrets(url),
        }
    }
}

/// Where the credentials of `scheme://user:password@host/...` end: the offset in `rest`
/// (what follows `://`) of the `@` before the host, if there is one.
///
/// For the database schemes this follows the drivers, which take everything up to an
/// `@` as the credentials, so a password may hold `/`, `?` or `#` unencoded: the last
/// `@` before the first `?` or `#` after the first `@`. Other URLs (HTTP) end the
/// authority at the first `/`, `?` or `#` (RFC 3986), so an `@` in a path or query is
/// not taken for one.
fn credentials_end(scheme: &str, rest: &str) -> Option<usize> {
    let db = matches!(
        scheme.to_ascii_lowercase().as_str(),
        "postgres" | "postgresql" | "mysql" | "mariadb"
    );
    if db {
        let first = rest.find('@')?;
        let query = rest[first..]
            .find(['?', '#'])
            .map_or(rest.len(), |i| first + i);
        rest[..query].rfind('@')
    } else {
        let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        rest[..auth_end].rfind('@')
    }
}

/// The password of `scheme://user:password@host/...` (percent-decoded) or of a
/// `password=` query parameter.
pub(crate) fn url_password(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if let Some(at) = credentials_end(scheme, rest)
        && let Some((_, pw)) = rest[..at].split_once(':')
        && !pw.is_empty()
    {
        return Some(percent_decode(pw));
    }
    params(url)
        .find_map(|(k, v)| (k == "password").then(|| percent_decode(v)))
        .filter(|p| !p.is_empty())
}

/// Every secret of a URL, to scrub from messages (percent-decoded): the password of its
/// credentials and the values of the query parameters named like secrets.
pub(crate) fn url_secrets(url: &str) -> Vec<String> {
    let mut out: Vec<String> = url_password(url).into_iter().collect();
    for (k, v) in params(url) {
        let v = percent_decode(v);
        if is_secret_param(k) && !v.is_empty() && !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The `key=value` pairs of a URL: every piece after a `?` or `&`, wherever it is
/// (a query may follow an `@` the drivers take for the end of the credentials).
fn params(url: &str) -> impl Iterator<Item = (&str, &str)> {
    url.split(['?', '&'])
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k, v.split('#').next().unwrap_or(v)))
}

/// `s` with every byte outside RFC 3986's unreserved characters percent-encoded, with
/// upper- or (`lower`) lower-case hex digits (`%2F`, `%2f`: encoders write either).
fn percent_encode(s: &str, lower: bool) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else if lower {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Replace every occurrence of `secret` (and its percent-encoded form) in `msg`.
pub(crate) fn scrub(msg: &str, secrets: &[String]) -> String {
    let mut out = msg.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s.as_str(), "***");
        for encoded in [percent_encode(s, false), percent_encode(s, true)] {
            if encoded != *s {
                out = out.replace(&encoded, "***");
            }
        }
    }
    out
}

/// Hide the secrets of every URL in a message (a parse error quoting a line of the
/// pipeline file, a driver's error naming the address): each `scheme://...` up to the
/// next space or quote goes through [`redact_url`].
pub fn redact_text(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find("://") {
        let start = rest[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
            .map_or(0, |j| j + 1);
        let end = rest[i + 3..]
            .find(|c: char| c.is_whitespace() || "\"'`<>".contains(c))
            .map_or(rest.len(), |j| i + 3 + j);
        out.push_str(&rest[..start]);
        out.push_str(&redact_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Hide the password of a `scheme://user:password@host/...` URL.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match credentials_end(scheme, rest) {
        Some(at) => {
            let creds = &rest[..at];
            let after = &rest[at + 1..];
            match creds.split_once(':') {
                Some((user, _)) => redact_query(&format!("{scheme}://{user}:***@{after}")),
                None => redact_query(url),
            }
        }
        None => redact_query(url),
    }
}

/// Query parameters that commonly carry a secret (compared without case, `-` and `_`).
const SECRET_PARAMS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "token",
    "accesstoken",
    "authtoken",
    "key",
    "apikey",
    "secret",
    "clientsecret",
    "sig",
    "signature",
    "auth",
    "sslpassword",
];

fn is_secret_param(k: &str) -> bool {
    let norm: String = k
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_PARAMS.contains(&norm.as_str())
}

/// Hide the values of query parameters named like secrets (`password`, `token`,
/// `api_key`, `sig`...).
fn redact_query(url: &str) -> String {
    // Every piece after a `?` or `&`, wherever it is: a query after an `@` that was
    // taken for the end of the credentials is still hidden.
    let mut out = String::with_capacity(url.len());
    let mut first = true;
    for piece in url.split_inclusive(['?', '&']) {
        let (body, sep) = match piece.char_indices().last() {
            Some((i, c)) if c == '?' || c == '&' => (&piece[..i], &piece[i..]),
            _ => (piece, ""),
        };
        match body.split_once('=') {
            Some((k, v)) if !first && is_secret_param(k) => {
                // A fragment after the value stays.
                let frag = v.find('#').map_or("", |i| &v[i..]);
                out.push_str(&format!("{k}=***{frag}{sep}"));
            }
            _ => out.push_str(piece),
        }
        first = false;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls() {
        assert_eq!(
            SinkTarget::parse("sqlite://out/x.db").unwrap(),
            SinkTarget::Sqlite {
                path: "out/x.db".into()
            }
        );
        assert_eq!(
            SinkTarget::parse("sqlite:///tmp/x.db").unwrap(),
            SinkTarget::Sqlite {
                path: "/tmp/x.db".into()
            }
        );
        assert!(SinkTarget::parse("sqlite:x.db").is_err());
        assert!(matches!(
            SinkTarget::parse("mariadb://root@127.0.0.1/test").unwrap(),
            SinkTarget::Mysql { url } if url == "mysql://root@127.0.0.1/test"
        ));
        let e = SinkTarget::parse("mongo://u:secret@h/db")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("postgres://u:p%40ss@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite:///a@b.db"), "sqlite:///a@b.db");
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=s3cret&sslmode=require"),
            "postgres://h/db?user=u&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("https://api/x?id={id}&api_key=k1&Access-Token=t2&sig=s3&page=2"),
            "https://api/x?id={id}&api_key=***&Access-Token=***&sig=***&page=2"
        );
        assert_eq!(
            url_password("postgres://u:p%40ss@h/db").as_deref(),
            Some("p@ss")
        );
        assert_eq!(url_password("mysql://u@h/db"), None);
        assert_eq!(
            redact_text("line 3: url = \"postgres://u:pw@h/db?token=t\" and mysql://a:b@c"),
            "line 3: url = \"postgres://u:***@h/db?token=***\" and mysql://a:***@c"
        );
        // Passwords holding the characters that end an RFC 3986 authority: the drivers
        // read them up to the `@`, and so does the redaction.
        for (url, pw, shown) in [
            ("postgres://u:pa/ss@h/db", "pa/ss", "postgres://u:***@h/db"),
            (
                "postgres://u:a?b#c@h:5432/db?sslmode=require",
                "a?b#c",
                "postgres://u:***@h:5432/db?sslmode=require",
            ),
            ("mysql://u:x@y/z@h/db", "x@y/z", "mysql://u:***@h/db"),
            (
                "postgresql://u:p@h/db?application_name=a@b",
                "p",
                "postgresql://u:***@h/db?application_name=a@b",
            ),
        ] {
            assert_eq!(url_password(url).as_deref(), Some(pw), "{url}");
            assert_eq!(redact_url(url), shown);
            assert_eq!(
                redact_text(&format!("bad url {url}: x")),
                format!("bad url {shown}: x")
            );
        }
        // An HTTP URL's query may hold an `@` and a port a `:`; neither is a password.
        assert_eq!(
            redact_url("http://127.0.0.1:8080/x?email=a@b"),
            "http://127.0.0.1:8080/x?email=a@b"
        );
        // The percent-encoded form of a password is scrubbed too.
        assert_eq!(
            scrub(
                "url postgres://u:p%2Fw%40rd@h and p/w@rd",
                &["p/w@rd".to_string()]
            ),
            "url postgres://u:***@h and ***"
        );
        assert_eq!(
            scrub("Hunter2%2fx", &["Hunter2/x".to_string()]),
            "***",
            "lower-case hex"
        );
        // A query value with an `@` (taken by the driver for the end of the
        // credentials): the query's password is hidden all the same.
        let azure = "postgres://h:5432/db?user=me@corp&password=pw9&sslmode=require";
        let shown = redact_url(azure);
        assert!(!shown.contains("pw9"), "{shown}");
        assert!(url_secrets(azure).contains(&"pw9".to_string()));
        assert_eq!(
            redact_url("postgres://u:p@h/db?password=pw9#frag"),
            "postgres://u:***@h/db?password=***#frag"
        );
        let t = SinkTarget::parse("postgres://u:hunter2@h/db").unwrap();
        assert!(!format!("{t:?}").contains("hunter2"));
        assert_eq!(scrub("failed for hunter2", &t.secrets()), "failed for ***");
    }
}
