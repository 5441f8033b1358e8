//! Sink URLs: parsing and redaction.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// A parsed destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkTarget {
    /// An SQLite database file.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
}

impl SinkTarget {
    /// Parse `sqlite://relative/path.db` or `sqlite:///absolute/path.db`.
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
        let scheme = url.split("://").next().unwrap_or(url);
        Err(Error::Config(format!(
            "unsupported sink url {:?} (scheme {scheme:?}); supported: sqlite://PATH",
            redact_url(url)
        )))
    }

    /// A display form safe for logs.
    pub fn display(&self) -> String {
        match self {
            SinkTarget::Sqlite { path } => format!("sqlite://{}", path.display()),
        }
    }
}

/// Hide the password of a `scheme://user:password@host/...` URL.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (auth, tail) = rest.split_at(auth_end);
    match auth.rfind('@') {
        Some(at) => {
            let creds = &auth[..at];
            let host = &auth[at + 1..];
            match creds.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
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
    }
}
