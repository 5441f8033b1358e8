//! Connecting to PostgreSQL: URL options, TLS with rustls, and telling connection
//! failures (retried) from SQL errors (reported).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use postgres::config::SslMode;
use postgres::{Client, NoTls};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::error::{Error, Result};
use crate::redact::{redact_url, scrub, url_secrets};

/// How the server's certificate is checked (libpq's `sslmode` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    /// `disable`: no TLS.
    Off,
    /// `prefer` (default) and `require`: encrypted, certificate not checked (as libpq).
    Encrypt,
    /// `verify-ca`: the certificate must chain to a trusted root.
    Chain,
    /// `verify-full`: the chain and the host name.
    Full,
}

/// A parsed PostgreSQL URL, ready to open connections.
pub(crate) struct PgConnect {
    config: postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    /// Redacted URL, for messages.
    pub(crate) display: String,
    /// The URL's secrets, scrubbed from messages.
    secrets: Vec<String>,
}

impl PgConnect {
    /// Parse `url`. Besides the options tokio-postgres knows, `sslmode` takes every libpq
    /// value (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`) and
    /// `sslrootcert=PATH` names the trusted root certificates (PEM); without it the
    /// system's roots are trusted. `sslcert=PATH` and `sslkey=PATH` give a client
    /// certificate and its key (PEM), for servers that authenticate clients by
    /// certificate.
    pub(crate) fn parse(url: &str) -> Result<Self> {
        let display = redact_url(url);
        let secrets = url_secrets(url);
        let bad = |m: String| Error::Config(scrub(&format!("sink url {display}: {m}"), &secrets));
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, q),
            None => (url, ""),
        };
        let mut kept = Vec::new();
        let mut verify = Verify::Encrypt;
        let mut mode = SslMode::Prefer;
        let mut root_cert = None;
        let (mut cert, mut key) = (None, None);
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match k {
                "sslmode" => {
                    (mode, verify) = match v {
                        "disable" => (SslMode::Disable, Verify::Off),
                        "allow" | "prefer" => (SslMode::Prefer, Verify::Encrypt),
                        "require" => (SslMode::Require, Verify::Encrypt),
                        "verify-ca" => (SslMode::Require, Verify::Chain),
                        "verify-full" => (SslMode::Require, Verify::Full),
                        other => {
                            return Err(bad(format!(
                                "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
                            )));
                        }
                    }
                }
                "sslrootcert" => root_cert = Some(crate::redact::percent_decode(v)),
                "sslcert" => cert = Some(crate::redact::percent_decode(v)),
                "sslkey" => key = Some(crate::redact::percent_decode(v)),
                _ => kept.push(kv),
            }
        }
        const DRIVER: [&str; 13] = [
            "user",
            "password",
            "dbname",
            "options",
            "application_name",
            "connect_timeout",
            "keepalives",
            "keepalives_idle",
            "target_session_attrs",
            "channel_binding",
            "host",
            "hostaddr",
            "port",
        ];
        for kv in &kept {
            let k = kv.split_once('=').map_or(*kv, |(k, _)| k);
            // Only a name is named: text after a `?` inside a password is left to the
            // driver (whose message is scrubbed), never echoed.
            let a_name = !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if a_name
                && !DRIVER.contains(&k)
                && k != "load_balance_hosts"
                && k != "tcp_user_timeout"
            {
                let all: Vec<&str> = ["sslmode", "sslrootcert", "sslcert", "sslkey"]
                    .into_iter()
                    .chain(DRIVER)
                    .collect();
                return Err(bad(format!(
                    "unknown URL parameter {k:?}{}; the parameters are {}",
                    crate::format::closest(k, all.iter().copied())
                        .map(|c| format!(" (did you mean {c:?}?)"))
                        .unwrap_or_default(),
                    all.join(", ")
                )));
            }
        }
        let rebuilt = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config = postgres::Config::from_str(&rebuilt).map_err(|e| bad(e.to_string()))?;
        config.ssl_mode(mode);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("rowflow");
        }
        // A server that vanishes (no reset) is noticed within a minute, not hours.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        config.tcp_user_timeout(Duration::from_secs(60));
        let identity = match (cert, key) {
            (None, None) => None,
            (Some(c), Some(k)) => Some(client_identity(&c, &k).map_err(&bad)?),
            _ => return Err(bad("sslcert and sslkey go together".into())),
        };
        let tls = match verify {
            Verify::Off if identity.is_some() => {
                return Err(bad(
                    "sslcert and sslkey need TLS: not sslmode=disable".into()
                ));
            }
            Verify::Off => None,
            v => Some(tokio_postgres_rustls::MakeRustlsConnect::new(
                client_config(v, root_cert.as_deref(), identity).map_err(bad)?,
            )),
        };
        Ok(PgConnect {
            config,
            tls,
            display,
            secrets,
        })
    }

    /// Open a connection.
    pub(crate) fn connect(&self) -> Result<Client> {
        let r = match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(NoTls),
        };
        r.map_err(|e| {
            let host = match self.config.get_hosts().first() {
                Some(postgres::config::Host::Tcp(h)) => h.clone(),
                #[cfg(unix)]
                Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
                None => "localhost".to_string(),
            };
            let port = self.config.get_ports().first().copied().unwrap_or(5432);
            let doing = if e.as_db_error().is_none() {
                format!(
                    "connecting to {host}:{port} (is the PostgreSQL server running there, and \
                     accepting TCP connections on that port?)"
                )
            } else {
                format!("connecting to {host}:{port}")
            };
            self.error(&e, &doing)
        })
    }

    /// Turn a driver error into a fatal [`Error::Sink`] or a retryable
    /// [`Error::Connection`], with the password scrubbed from the message.
    pub(crate) fn error(&self, e: &postgres::Error, doing: &str) -> Error {
        // A prepared statement that already exists, or no longer does, on a connection
        // that prepared nothing of the kind: a pooler that hands each transaction to
        // another server connection.
        let pooler = match e.code().map(|c| c.code()) {
            Some("42P05") | Some("26000") => {
                " (this looks like a connection pooler in transaction mode, such as PgBouncer \
                 before 1.21: rowflow needs session pooling, a pooler that keeps prepared \
                 statements (PgBouncer 1.21+ with max_prepared_statements), or a direct \
                 connection)"
            }
            _ => "",
        };
        crate::sink::seam::destination_error(
            &self.display,
            &self.secrets,
            format!("{doing}: {}{pooler}", describe(e)),
            is_connection_error(e),
        )
    }

    /// Scrub the password from a message.
    pub(crate) fn scrub(&self, msg: &str) -> String {
        scrub(msg, &self.secrets)
    }
}

/// A lost or refused connection, or a server shutting down: worth reconnecting.
pub(crate) fn is_connection_error(e: &postgres::Error) -> bool {
    match e.code() {
        Some(code) => {
            let c = code.code();
            // Lost connections, server shutdown/startup, too many connections, a
            // session closed for being idle (idle_session_timeout, or
            // idle_in_transaction_session_timeout when the input stalls mid-transaction),
            // and the transient aborts a replay of the same transaction cures: deadlock,
            // serialization failure, lock not available. (Not 57014, a cancelled
            // statement: under statement_timeout it would fail the same way again.)
            c.starts_with("08")
                || matches!(
                    c,
                    "57P01"
                        | "57P02"
                        | "57P03"
                        | "57P05"
                        | "25P03"
                        | "53300"
                        | "40P01"
                        | "40001"
                        | "55P03"
                )
        }
        // No SQLSTATE: I/O, a closed connection, a timeout, a failed connect. Not a
        // message the driver could not even encode (a NUL byte in a name or a query),
        // which no reconnection cures.
        None => {
            let text = e.to_string();
            e.as_db_error().is_none()
                && !text.contains("invalid")
                && !text.contains("encoding message")
                && !text.contains("embedded null")
        }
    }
}

/// The server refusing the rows it was sent, not the load as a whole: worth isolating
/// the offending rows (halving the `COPY`) and rejecting them with the message.
///
/// An allow-list of SQLSTATE classes, so that an error about the load (permission
/// denied, disk full, out of memory, a read-only server, a dropped column, a cancelled
/// statement) fails the run instead of sending every row to the reject file:
/// - class 22, data exceptions: a value out of range, an invalid byte sequence, a
///   string too long, a bad value for the column's type;
/// - class 23, integrity constraints: unique, NOT NULL, CHECK, foreign key, exclusion;
/// - class P0, PL/pgSQL: a trigger refusing the row (`RAISE EXCEPTION`, `ASSERT`);
/// - 54000, a program limit tied to a row: an index entry too large to store.
pub(crate) fn is_row_error(e: &postgres::Error) -> bool {
    match e.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("22") || c.starts_with("23") || c.starts_with("P0") || c == "54000"
        }
        None => false,
    }
}

/// The server's message with its detail, hint and column, or the driver's error.
pub(crate) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = db.message().to_string();
            if let Some(d) = db.detail() {
                s.push_str(": ");
                s.push_str(d);
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!(" (hint: {h})"));
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(&format!(": {inner}"));
                src = inner.source();
            }
            s
        }
    }
}

/// A client certificate chain and its private key, from PEM files.
type Identity = (
    Vec<CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
);

/// Read a client certificate (`sslcert`) and its key (`sslkey`).
fn client_identity(cert: &str, key: &str) -> std::result::Result<Identity, String> {
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(cert).map_err(|e| format!("sslcert {cert}: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| format!("sslcert {cert}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("sslcert {cert}: no certificate in the file"));
    }
    let pem = std::fs::read(key).map_err(|e| format!("sslkey {key}: {e}"))?;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| format!("sslkey {key}: {e}"))?;
    Ok((certs, key))
}

fn client_config(
    verify: Verify,
    root_cert: Option<&str>,
    identity: Option<Identity>,
) -> std::result::Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    // The client's side: a certificate when one is given.
    let finish =
        |b: rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>| {
            match identity {
                Some((certs, key)) => b
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| format!("sslcert/sslkey: {e}")),
                None => Ok(b.with_no_client_auth()),
            }
        };
    if verify == Verify::Encrypt {
        return finish(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider))),
        );
    }
    let mut roots = rustls::RootCertStore::empty();
    match root_cert {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| format!("sslrootcert {path}: {e}"))?;
            let certs = rustls::pki_types::pem::PemObject::pem_slice_iter(&pem)
                .collect::<std::result::Result<Vec<CertificateDer<'static>>, _>>()
                .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            if certs.is_empty() {
                return Err(format!("sslrootcert {path}: no certificate in the file"));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            }
        }
        None => {
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(c);
            }
        }
    }
    let webpki =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("TLS setup: {e}"))?;
    if verify == Verify::Full {
        return finish(builder.with_webpki_verifier(webpki));
    }
    finish(
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki))),
    )
}

/// `require`: encrypt, accept any certificate (libpq's behaviour without a root cert).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must verify; the host name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        use rustls::CertificateError as C;
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                C::NotValidForName | C::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_options() {
        let c = PgConnect::parse(
            "postgres://u:pw@127.0.0.1:5432/test?sslmode=verify-ca&sslrootcert=/nonexistent.pem",
        );
        let e = c.err().unwrap().to_string();
        assert!(e.contains("sslrootcert /nonexistent.pem"), "{e}");
        assert!(!e.contains("pw@"), "{e}");
        let c = PgConnect::parse("postgres://u:pw@127.0.0.1/test?sslmode=disable").unwrap();
        assert!(c.tls.is_none());
        assert_eq!(c.display, "postgres://u:***@127.0.0.1/test?sslmode=disable");
        assert!(PgConnect::parse("postgres://h/db?sslmode=sometimes").is_err());
        assert!(PgConnect::parse("postgres://h/db?bogus=1").is_err());
    }
}
