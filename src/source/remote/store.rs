//! Objects in S3, GCS and Azure through `object_store`: the store for a URL (with
//! credentials from the environment and `[source.storage]`), a HEAD for one object, a
//! listing for a glob.

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt};

use super::{Access, Found, block, shown};
use crate::config::StorageSpec;
use crate::error::{Error, Result};

/// An object store and where one object (or a glob's directory) is in it.
pub(crate) struct Located {
    pub(crate) store: Arc<dyn ObjectStore>,
    /// The object's key.
    pub(crate) path: Path,
    /// Which credentials the store uses, for a 403 (never the secret itself).
    pub(crate) credentials: String,
}

/// `https://ACCOUNT.blob.core.windows.net/...` without a query string (a SAS URL is read
/// as a plain HTTPS URL).
pub(crate) fn is_azure_https(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("HTTPS://"))
    else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or("");
    !url.contains('?')
        && (host.ends_with(".blob.core.windows.net") || host.ends_with(".dfs.core.windows.net"))
}

/// Split `scheme://bucket/key` (the key may hold glob characters, `?` included).
fn split(url: &str) -> Result<(String, String, String)> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| Error::Config(format!("{url:?} is not a URL")))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::Config(format!(
            "{}: the URL names no bucket (write {scheme}://BUCKET/KEY)",
            shown(url)
        )));
    }
    Ok((
        scheme.to_ascii_lowercase(),
        bucket.to_string(),
        key.to_string(),
    ))
}

/// The key up to the directory of its first glob character, and whether there is one.
fn literal_dir(key: &str) -> (String, bool) {
    match key.find(['*', '?', '[']) {
        None => (key.to_string(), false),
        Some(i) => {
            let dir = key[..i].rfind('/').map_or("", |j| &key[..j]);
            (dir.to_string(), true)
        }
    }
}

fn client_options(spec: &StorageSpec, allow_http: bool) -> ClientOptions {
    // No limit on a whole request (a large object streams for as long as it takes);
    // a read that waits longer than read_timeout for bytes is retried by the reader.
    ClientOptions::new()
        .with_timeout_disabled()
        .with_connect_timeout(std::time::Duration::from_secs(30))
        .with_allow_http(allow_http || spec.allow_http)
}

/// A key id shown as its first and last four characters.
fn masked(id: &str) -> String {
    if id.len() <= 8 {
        "…".to_string()
    } else {
        format!("{}…{}", &id[..4], &id[id.len() - 4..])
    }
}

const ANONYMOUS: &str = "no credentials (anonymous = true)";

/// Anonymous access, the `options` by their names, the client options, then build: the
/// same steps for every provider's builder (`$key` is its configuration key type).
macro_rules! finish {
    ($b:expr, $key:ty, $spec:expr, $plain_http:expr, $bad:expr) => {{
        let mut b = $b;
        if $spec.anonymous {
            b = b.with_skip_signature(true);
        }
        for (k, v) in &$spec.options {
            let key: $key = k.to_ascii_lowercase().parse().map_err(|e| {
                Error::Config(format!(
                    "source.storage.options: {k:?} is not a setting of this store ({e})"
                ))
            })?;
            b = b.with_config(key, v.clone());
        }
        let store = b
            .with_client_options(client_options($spec, $plain_http))
            .build()
            .map_err($bad)?;
        Arc::new(store) as Arc<dyn ObjectStore>
    }};
}

/// The store for `scheme://bucket`, and which credentials it uses.
fn store_for(
    scheme: &str,
    bucket: &str,
    url: &str,
    spec: &StorageSpec,
) -> Result<(Arc<dyn ObjectStore>, String)> {
    // The store's HTTP client takes the process's default TLS provider.
    crate::tls::install_default_provider();
    let bad = |e: object_store::Error| Error::Config(format!("{}: {}", shown(url), e));
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let has_option = |k: &str| spec.options.keys().any(|o| o.eq_ignore_ascii_case(k));
    match scheme {
        "s3" | "s3a" => {
            use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
            let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
            let endpoint = spec
                .endpoint
                .clone()
                .or_else(|| env("AWS_ENDPOINT_URL_S3"))
                .or_else(|| env("AWS_ENDPOINT_URL"));
            let plain_http = endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://"));
            if let Some(e) = &endpoint {
                b = b.with_endpoint(e);
            }
            match spec.region.clone().or_else(|| env("AWS_REGION")) {
                Some(r) => b = b.with_region(r),
                None if env("AWS_DEFAULT_REGION").is_none() => b = b.with_region("us-east-1"),
                None => {}
            }
            let credentials = if spec.anonymous {
                ANONYMOUS.to_string()
            } else if has_option("aws_access_key_id") {
                let id = spec
                    .options
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("aws_access_key_id"))
                    .map(|(_, v)| masked(v))
                    .unwrap_or_default();
                format!("the access key {id} from source.storage.options")
            } else if let Some(id) = env("AWS_ACCESS_KEY_ID") {
                format!("the access key {} from AWS_ACCESS_KEY_ID", masked(&id))
            } else {
                "the default credential chain (no AWS_ACCESS_KEY_ID is set: web identity, \
                 container or instance credentials)"
                    .to_string()
            };
            Ok((
                finish!(b, AmazonS3ConfigKey, spec, plain_http, bad),
                credentials,
            ))
        }
        "gs" => {
            use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
            let mut b = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
            // An emulator (gcp-storage-emulator, fake-gcs-server) or a private endpoint.
            if let Some(e) = &spec.endpoint {
                b = b.with_base_url(e.trim_end_matches('/'));
            }
            let credentials = if spec.anonymous {
                ANONYMOUS.to_string()
            } else if env("GOOGLE_SERVICE_ACCOUNT").is_some()
                || env("GOOGLE_APPLICATION_CREDENTIALS").is_some()
                || has_option("google_service_account")
            {
                "the service account given in the environment or source.storage.options".to_string()
            } else {
                "the default credentials (application default or instance metadata)".to_string()
            };
            let plain_http = spec
                .endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://"));
            Ok((
                finish!(b, GoogleConfigKey, spec, plain_http, bad),
                credentials,
            ))
        }
        _ => {
            use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
            let mut b = MicrosoftAzureBuilder::from_env().with_url(url);
            if let Some(e) = &spec.endpoint {
                b = b.with_endpoint(e.clone());
            }
            let credentials = if spec.anonymous {
                ANONYMOUS.to_string()
            } else {
                "the account key, SAS or identity from the AZURE_* environment or \
                 source.storage.options"
                    .to_string()
            };
            let plain_http = spec
                .endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://"));
            Ok((
                finish!(b, AzureConfigKey, spec, plain_http, bad),
                credentials,
            ))
        }
    }
}

/// What a store error means, in a plain sentence (the object is named by the caller).
pub(crate) fn store_message(e: &object_store::Error, credentials: &str) -> String {
    use object_store::Error as E;
    let detail = || crate::redact::redact_text(&e.to_string());
    match e {
        E::NotFound { .. } => format!("no such object (or no such bucket): {}", detail()),
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
            format!("access denied, using {credentials}: {}", detail())
        }
        E::Precondition { .. } => "the object changed while it was being read (its ETag is \
                                   not the one it had when the load started); run again to \
                                   load it as it is now"
            .to_string(),
        _ => detail(),
    }
}

/// A store error on the object shown as `what`.
fn store_error(e: &object_store::Error, what: &str, credentials: &str) -> Error {
    Error::Input {
        file: what.to_string(),
        message: store_message(e, credentials),
    }
}

/// One object by its key: its size, ETag and version (the error gives the credentials
/// back, for the message).
fn head(
    store: Arc<dyn ObjectStore>,
    path: Path,
    base: &str,
    credentials: String,
) -> std::result::Result<Found, (object_store::Error, String)> {
    let s = store.clone();
    let meta = match block(async move { s.head(&path).await }) {
        Ok(m) => m,
        Err(e) => return Err((e, credentials)),
    };
    Ok(object_found(base, meta, store, credentials))
}

/// An object a HEAD or a listing found, at `base` (`scheme://bucket`).
fn object_found(
    base: &str,
    meta: object_store::ObjectMeta,
    store: Arc<dyn ObjectStore>,
    credentials: String,
) -> Found {
    Found {
        url: format!("{base}/{}", meta.location),
        size: Some(meta.size),
        etag: meta.e_tag,
        version: meta.version,
        access: Access::Store(Arc::new(Located {
            store,
            path: meta.location,
            credentials,
        })),
    }
}

/// The objects a store URL names.
pub(crate) fn resolve(pattern: &str, spec: &StorageSpec) -> Result<Vec<Found>> {
    let (scheme, bucket, key) = split(pattern)?;
    let (store, credentials) = store_for(&scheme, &bucket, pattern, spec)?;
    let base = format!("{scheme}://{bucket}");
    let (dir, glob) = literal_dir(&key);
    if !glob {
        if key.is_empty() || key.ends_with('/') {
            return Err(Error::Config(format!(
                "{}: the URL names a bucket or a folder, not an object (give a key, or a \
                 glob such as {base}/{key}*.csv)",
                shown(pattern)
            )));
        }
        let path =
            Path::parse(&key).map_err(|e| Error::Config(format!("{}: {e}", shown(pattern))))?;
        return head(store, path, &base, credentials)
            .map(|found| vec![found])
            .map_err(|(e, credentials)| store_error(&e, &shown(pattern), &credentials));
    }
    // A key that holds `*`, `?` or `[` itself names that object when it exists.
    if let Ok(path) = Path::parse(&key)
        && let Ok(found) = head(store.clone(), path, &base, credentials.clone())
    {
        return Ok(vec![found]);
    }
    let matcher = glob::Pattern::new(&key)
        .map_err(|e| Error::Config(format!("invalid glob {}: {e}", shown(pattern))))?;
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let s = store.clone();
    let prefix = (!dir.is_empty()).then(|| Path::from(dir.as_str()));
    let listed = block(async move { s.list(prefix.as_ref()).try_collect::<Vec<_>>().await })
        .map_err(|e| store_error(&e, &shown(pattern), &credentials))?;
    let mut found: Vec<_> = listed
        .into_iter()
        .filter(|m| matcher.matches_with(m.location.as_ref(), opts))
        .collect();
    found.sort_by(|a, b| a.location.as_ref().cmp(b.location.as_ref()));
    if found.is_empty() {
        return Err(Error::Config(format!(
            "no object matches {} (listed {}/{dir})",
            shown(pattern),
            base
        )));
    }
    Ok(found
        .into_iter()
        .map(|m| object_found(&base, m, store.clone(), credentials.clone()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_glob_lists_from_the_directory_of_its_first_wildcard() {
        assert_eq!(
            literal_dir("exports/2026-*/part-*.csv.gz"),
            ("exports".to_string(), true)
        );
        assert_eq!(literal_dir("part-*.csv"), (String::new(), true));
        assert_eq!(literal_dir("a/b/c.csv"), ("a/b/c.csv".to_string(), false));
        assert_eq!(literal_dir("a/b?.csv"), ("a".to_string(), true));
    }

    #[test]
    fn urls_split_into_scheme_bucket_and_key() {
        assert_eq!(
            split("S3://bk/a/b.csv").unwrap(),
            ("s3".into(), "bk".into(), "a/b.csv".into())
        );
        assert!(split("s3:///k").is_err());
        assert!(is_azure_https("https://acct.blob.core.windows.net/c/k.csv"));
        assert!(!is_azure_https(
            "https://acct.blob.core.windows.net/c/k.csv?sv=1&sig=2"
        ));
        assert!(!is_azure_https("https://example.com/k.csv"));
        assert_eq!(masked("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
    }
}
