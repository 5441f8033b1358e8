//! Plain HTTP(S) inputs: one URL each (HTTP has no listing), query string kept (so
//! presigned S3 URLs and Azure SAS URLs work). A server that sends no `Content-Length`
//! or ignores `Range` still loads.

use std::sync::Arc;
use std::time::Duration;

use super::{Access, Found, block, shown};
use crate::error::{Error, Result};

/// One HTTP(S) object.
pub(crate) struct HttpObject {
    pub(crate) client: reqwest::Client,
    pub(crate) url: reqwest::Url,
}

/// A failed request: whether asking again may help, and what to say.
pub(crate) struct Fail {
    pub(crate) retry: bool,
    pub(crate) message: String,
}

fn client(read_timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(crate::tls::client_config())
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(read_timeout)
        .build()
        .map_err(|e| Error::Config(format!("HTTP client: {e}")))
}

/// What a status says about the object, for messages.
fn status_message(status: reqwest::StatusCode) -> String {
    match status.as_u16() {
        401 | 403 => format!(
            "access denied ({status}): the URL's signature may have expired, or the server \
             wants credentials"
        ),
        404 | 410 => format!("no such object ({status})"),
        412 => "the object changed while it was being read (its ETag is not the one it had \
                when the load started); run again to load it as it is now"
            .to_string(),
        _ => format!("the server answered {status}"),
    }
}

/// Size and ETag of the URL: HEAD, or (for a URL signed for GET only) the first byte.
pub(crate) fn resolve(url: &str, read_timeout: Duration) -> Result<Found> {
    let name = shown(url);
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| Error::Config(format!("{name}: not a valid URL ({e})")))?;
    let client = client(read_timeout)?;
    let (c, u) = (client.clone(), parsed.clone());
    let answer = block(async move {
        let head = c.head(u.clone()).send().await?;
        if head.status().is_success() {
            return Ok(head);
        }
        // Presigned URLs are signed for one method: ask for the first byte instead.
        c.get(u)
            .header(reqwest::header::RANGE, "bytes=0-0")
            .send()
            .await
    })
    .map_err(|e| Error::Input {
        file: name.clone(),
        message: describe(e),
    })?;
    let status = answer.status();
    if !status.is_success() {
        return Err(Error::Input {
            file: name,
            message: status_message(status),
        });
    }
    let headers = answer.headers();
    let size = if status == reqwest::StatusCode::PARTIAL_CONTENT {
        headers
            .get(reqwest::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit('/').next())
            .and_then(|t| t.parse::<u64>().ok())
    } else {
        headers
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let etag = headers
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .filter(|e| !e.starts_with("W/"))
        .map(String::from);
    // Without an ETag, the Last-Modified date pins the object (its `version`).
    let modified = headers
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.to_ascii_lowercase().starts_with("text/html") {
        return Err(Error::Input {
            file: name,
            message: "the URL answers with an HTML page (Content-Type text/html), not a CSV \
                      file: a directory listing, a login or an error page?"
                .into(),
        });
    }
    Ok(Found {
        url: url.to_string(),
        size,
        etag,
        version: modified,
        access: Access::Http(Arc::new(HttpObject {
            client,
            url: parsed,
        })),
    })
}

/// reqwest's message, with its causes, without the URL it carries (it may hold a
/// signature).
pub(crate) fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(inner) = src {
        s.push_str(&format!(": {inner}"));
        src = inner.source();
    }
    crate::redact::redact_text(&s)
}

impl HttpObject {
    /// GET from `pos` on (a plain GET at 0). The answer's own status is checked here;
    /// a server that ignores `Range` answers 200, which the caller handles by skipping.
    pub(crate) async fn get(
        &self,
        pos: u64,
        until: Option<u64>,
        validator: Option<&str>,
    ) -> std::result::Result<reqwest::Response, Fail> {
        let mut req = self.client.get(self.url.clone());
        if let Some(u) = until {
            req = req.header(reqwest::header::RANGE, format!("bytes={pos}-{}", u - 1));
        } else if pos > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={pos}-"));
            if let Some(v) = validator {
                req = req.header(reqwest::header::IF_RANGE, v);
            }
        }
        let answer = req.send().await.map_err(|e| Fail {
            retry: true,
            message: describe(e),
        })?;
        let status = answer.status();
        if status.is_success() {
            return Ok(answer);
        }
        Err(Fail {
            retry: status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408,
            message: status_message(status),
        })
    }
}
