//! Sink URLs: parsing and redaction.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::redact::{redact_url, url_password, url_secrets};

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
        let why = match url.split_once("://") {
            Some((s, _)) => format!("rowflow does not write to {s}:// databases"),
            // A file name: most likely a SQLite database.
            None if !url.contains(':') => {
                format!("a destination is a URL (did you mean sqlite://{url}, a SQLite file?)")
            }
            None => "a destination is a URL that starts with its database's scheme".to_string(),
        };
        Err(Error::Config(format!(
            "the destination {:?} is not one rowflow can write to: {why}. Destinations are \
             sqlite://PATH, postgres://USER@HOST:PORT/DB and mysql://USER@HOST:PORT/DB (also \
             mariadb://; a password goes after the user, USER:PASSWORD@)",
            redact_url(url)
        )))
    }

    /// The database file, for a database that is one (SQLite).
    pub fn database_file(&self) -> Option<&std::path::Path> {
        match self {
            SinkTarget::Sqlite { path } => Some(path),
            SinkTarget::Postgres { .. } | SinkTarget::Mysql { .. } => None,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::*;

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
