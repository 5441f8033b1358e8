//! The TLS client configuration every HTTPS client of rowflow uses: rustls with the
//! `ring` provider and the machine's root certificates (no aws-lc, no cmake).

use std::sync::Arc;

/// A client configuration with the `ring` provider and the native roots.
pub(crate) fn client_config() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        // ring supports every default protocol version.
        .unwrap_or_else(|_| unreachable!("ring supports TLS 1.2 and 1.3"))
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Make `ring` the process's default provider, for clients built by other crates
/// (`object_store`'s) that take the default. Harmless when one is installed already.
pub(crate) fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
