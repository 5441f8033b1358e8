//! Connecting to MySQL/MariaDB: URL options, TLS, the session's settings, and telling
//! connection failures (reconnected and replayed) from row errors (bisected) and
//! fatal ones.

use mysql::{Conn, OptsBuilder};

use crate::error::{Error, Result};
use crate::redact::{redact_url, scrub, url_secrets};

/// A parsed MySQL URL.
pub(crate) struct MyConnect {
    pub(crate) opts: mysql::Opts,
    pub(crate) display: String,
    /// The URL's secrets, scrubbed from messages.
    pub(crate) secrets: Vec<String>,
}

impl MyConnect {
    /// Parse `mysql://user:password@host:port/db`. TLS: `ssl-mode=DISABLED` (default),
    /// `REQUIRED` (encrypted, certificate not checked), `VERIFY_CA`, `VERIFY_IDENTITY`,
    /// `ssl-ca=PATH` for the trusted roots, and `ssl-cert=PATH` with `ssl-key=PATH` for a
    /// client certificate (PEM) when the server asks for one (`REQUIRE X509`).
    pub(crate) fn parse(url: &str) -> Result<Self> {
        let display = redact_url(url);
        let secrets = url_secrets(url);
        let bad = |m: String| Error::Config(scrub(&format!("sink url {display}: {m}"), &secrets));
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let mut ssl: Option<mysql::SslOpts> = None;
        let mut ca = None;
        let (mut cert, mut key) = (None, None);
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match k.replace('_', "-").to_ascii_lowercase().as_str() {
                "ssl-mode" | "sslmode" => {
                    ssl = match v.to_ascii_uppercase().replace('-', "_").as_str() {
                        "DISABLED" | "DISABLE" => None,
                        "REQUIRED" | "REQUIRE" => Some(
                            mysql::SslOpts::default()
                                .with_danger_accept_invalid_certs(true)
                                .with_danger_skip_domain_validation(true),
                        ),
                        "VERIFY_CA" => {
                            Some(mysql::SslOpts::default().with_danger_skip_domain_validation(true))
                        }
                        "VERIFY_IDENTITY" | "VERIFY_FULL" => Some(mysql::SslOpts::default()),
                        other => {
                            return Err(bad(format!(
                                "ssl-mode={other} is not one of DISABLED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY"
                            )));
                        }
                    }
                }
                "ssl-ca" | "sslrootcert" => ca = Some(crate::redact::percent_decode(v)),
                "ssl-cert" | "sslcert" => cert = Some(crate::redact::percent_decode(v)),
                "ssl-key" | "sslkey" => key = Some(crate::redact::percent_decode(v)),
                _ => kept.push(kv),
            }
        }
        let rebuilt = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let opts = mysql::Opts::from_url(&rebuilt).map_err(|e| {
            let mut m = e.to_string();
            let k = m
                .split('`')
                .nth(1)
                .unwrap_or("")
                .trim_end_matches('\'')
                .to_string();
            // Only a name is named (text after a `?` in a password never is).
            let a_name = !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if m.contains("Unknown URL parameter") && a_name {
                m = format!(
                    "unknown URL parameter {k:?}{}: rowflow reads ssl-mode, ssl-ca, ssl-cert and \
                     ssl-key, and the driver the mysql crate's own (compress, \
                     tcp_keepalive_time_ms, socket, ...)",
                    crate::format::closest(&k, ["ssl-mode", "ssl-ca", "ssl-cert", "ssl-key"])
                        .map(|c| format!(" (did you mean {c:?}?)"))
                        .unwrap_or_default()
                );
            }
            bad(m)
        })?;

        if let (Some(s), Some(ca)) = (ssl.as_mut(), ca) {
            *s = s
                .clone()
                .with_root_cert_path(Some(std::path::PathBuf::from(ca)));
        }
        match (cert, key) {
            (None, None) => {}
            (Some(cert), Some(key)) => {
                // Opened here, so that a missing or unreadable file is a clear error now
                // (not a failed connection on every attempt).
                for (what, path) in [("ssl-cert", &cert), ("ssl-key", &key)] {
                    std::fs::File::open(path).map_err(|e| bad(format!("{what} {path}: {e}")))?;
                }
                let Some(s) = ssl.as_mut() else {
                    return Err(bad(
                        "ssl-cert and ssl-key need TLS: add ssl-mode=REQUIRED, VERIFY_CA or VERIFY_IDENTITY".into(),
                    ));
                };
                *s = s
                    .clone()
                    .with_client_identity(Some(mysql::ClientIdentity::new(
                        std::path::PathBuf::from(cert),
                        std::path::PathBuf::from(key),
                    )));
            }
            _ => return Err(bad("ssl-cert and ssl-key go together".into())),
        }
        let opts: mysql::Opts = OptsBuilder::from_opts(opts)
            .ssl_opts(ssl)
            .tcp_connect_timeout(Some(std::time::Duration::from_secs(10)))
            .read_timeout(Some(std::time::Duration::from_secs(600)))
            .stmt_cache_size(64)
            .init(vec![
                "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,\
                 ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
                "SET SESSION time_zone = '+00:00'",
                // Fewer gap locks, so parallel writers do not deadlock each other.
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                "SET NAMES utf8mb4",
            ])
            .into();
        Ok(MyConnect {
            opts,
            display,
            secrets,
        })
    }

    pub(crate) fn connect(&self) -> Result<Conn> {
        Conn::new(self.opts.clone()).map_err(|e| {
            let at = format!(
                "{}:{}",
                self.opts.get_ip_or_hostname(),
                self.opts.get_tcp_port()
            );
            let doing = match &e {
                mysql::Error::DriverError(mysql::DriverError::CouldNotConnect(_))
                | mysql::Error::IoError(_) => format!(
                    "connecting to {at} (is the MySQL or MariaDB server running there, and \
                     listening on that port?)"
                ),
                _ => format!("connecting to {at}"),
            };
            self.error(&e, &doing)
        })
    }

    pub(crate) fn error(&self, e: &mysql::Error, doing: &str) -> Error {
        crate::sink::seam::destination_error(
            &self.display,
            &self.secrets,
            format!("{doing}: {}", describe(e)),
            is_connection_error(e),
        )
    }
}

pub(crate) fn describe(e: &mysql::Error) -> String {
    match e {
        mysql::Error::MySqlError(m) if m.code == 1046 => format!(
            "{} (MySQL error 1046): the URL names no database and the table is not qualified \
             with one; add it to the URL (mysql://USER@HOST:PORT/DATABASE) or to the table \
             (DATABASE.TABLE)",
            m.message
        ),
        mysql::Error::MySqlError(m) => format!("{} (MySQL error {})", m.message, m.code),
        // The driver's own words, not its `DriverError { … }` wrapping.
        mysql::Error::DriverError(mysql::DriverError::CouldNotConnect(Some((_, why, _)))) => {
            why.clone()
        }
        mysql::Error::DriverError(d) => d.to_string(),
        mysql::Error::IoError(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// Lost connections, and errors after which the server has rolled the transaction
/// back (deadlock) or may have (lock wait timeout): reconnect and replay.
pub(crate) fn is_connection_error(e: &mysql::Error) -> bool {
    match e {
        mysql::Error::MySqlError(m) => matches!(
            m.code,
            1053 | 1205 | 1213 | 1317 | 1927 | 2006 | 2013 | 4031 | 1040
        ),
        mysql::Error::IoError(_) | mysql::Error::CodecError(_) => true,
        mysql::Error::DriverError(d) => !matches!(
            d,
            mysql::DriverError::MismatchedStmtParams(..)
                | mysql::DriverError::Params(_)
                | mysql::DriverError::MixedParams
        ),
        _ => false,
    }
}

/// A server error about the row's values: the statement changed nothing, and
/// bisecting finds the row.
pub(crate) fn is_row_error(e: &mysql::Error) -> bool {
    matches!(
        e,
        mysql::Error::MySqlError(m) if matches!(
            m.code,
            1048 | 1062 | 1264 | 1265 | 1292 | 1300 | 1364 | 1365 | 1366 | 1367 | 1406 | 1411
                | 1451 | 1452 | 1690 | 3819 | 4025 | 1918 | 3140
                // A partition for the value missing, a duplicate entry reported with the
                // key's name or in an unknown index, and a trigger's `SIGNAL SQLSTATE
                // '45000'` refusing the row.
                | 1526 | 1586 | 1859 | 1644
        )
    )
}
