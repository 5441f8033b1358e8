//! Keeping secrets out of what rowflow shows: the password and secret query parameters
//! of a URL hidden in the URL shown (`user:***@host`), and scrubbed from any message
//! (plain and percent-encoded). A leaf: every part that prints a URL or a database's
//! message goes through here.

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
pub(crate) fn percent_encode(s: &str, lower: bool) -> String {
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

/// Query parameters that sign a URL rather than name what it points to: Azure SAS
/// fields, and (by prefix) `X-Amz-*` and `X-Goog-*`.
const SIGNING_PARAMS: &[&str] = &[
    "sv",
    "ss",
    "srt",
    "sp",
    "se",
    "st",
    "spr",
    "sig",
    "sr",
    "si",
    "sdd",
    "skoid",
    "sktid",
    "skt",
    "ske",
    "sks",
    "skv",
    "saoid",
    "suoid",
    "scid",
    "sip",
    "signature",
    "expires",
    "awsaccesskeyid",
    "googleaccessid",
];

fn is_signing_param(k: &str) -> bool {
    let lower = k.to_ascii_lowercase();
    lower.starts_with("x-amz-")
        || lower.starts_with("x-goog-")
        || SIGNING_PARAMS.contains(&lower.as_str())
        || is_secret_param(k)
}

/// Whether an HTTP(S) URL carries query parameters that sign it or hold a secret
/// (`X-Amz-Signature`, `sig`, `token`, ...).
pub(crate) fn has_signing_params(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, q)| {
        q.split('&')
            .any(|p| !p.is_empty() && is_signing_param(p.split('=').next().unwrap_or(p)))
    })
}

/// A remote object's URL as rowflow names it (messages, progress, checkpoints): for
/// HTTP(S), without the query parameters that sign it (a presigned URL's `X-Amz-*`, a
/// SAS's `sig`, `se`, ...: secret, and new every time the URL is made) and without a
/// fragment, while parameters that name the object (`?day=1`) stay; the password hidden.
/// Other schemes (`s3://`, ...) are kept as they are: a key may hold `?` or `#`.
pub fn object_url(url: &str) -> String {
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return redact_url(url);
    }
    let url = url.split('#').next().unwrap_or(url);
    let Some((base, query)) = url.split_once('?') else {
        return redact_url(url);
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !is_signing_param(p.split('=').next().unwrap_or(p)))
        .collect();
    if kept.is_empty() {
        redact_url(base)
    } else {
        redact_url(&format!("{base}?{}", kept.join("&")))
    }
}

/// Hide the password of a `scheme://user:password@host/...` URL.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return redact_key_values(url);
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

/// Hide the password of a `host=h user=u password=p` connection string (libpq's
/// key-value form, which rowflow does not take but a user may try).
fn redact_key_values(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(eq) = rest.find('=') {
        let key_start = rest[..eq].rfind([' ', '"', '(']).map_or(0, |i| i + 1);
        let key = &rest[key_start..eq];
        out.push_str(&rest[..=eq]);
        rest = &rest[eq + 1..];
        if !is_secret_param(key) || rest.is_empty() {
            continue;
        }
        // The value: quoted to its closing quote, else to the next space.
        let end = match rest.chars().next() {
            Some(q @ ('\'' | '"')) => rest[1..].find(q).map_or(rest.len(), |i| i + 2),
            _ => rest.find([' ', '"', ')']).unwrap_or(rest.len()),
        };
        out.push_str("***");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
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
    fn key_value_connection_strings_hide_their_password() {
        for (s, want) in [
            (
                "host=h user=u password=LitSecret2 dbname=d",
                "host=h user=u password=*** dbname=d",
            ),
            (
                "host=h password='Lit Secret3' dbname=d",
                "host=h password=*** dbname=d",
            ),
            (
                "\"host=h password=x\" (scheme y)",
                "\"host=h password=***\" (scheme y)",
            ),
        ] {
            assert_eq!(redact_url(s), want, "{s}");
        }
    }
}
