//! The pure rules of the Idempotency-Key protocol: parsing the key,
//! fingerprinting the request, and the shape of a stored response.
//!
//! Nothing here touches the network or the store; the claim / replay /
//! conflict decisions themselves are made atomically by the store
//! ([`crate::IdempotencyStore::claim`]) from the values computed here.

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// `Idempotency-Key`: the request header carrying the key.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// `Idempotent-Replayed: true` marks a response served from the store.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// `Idempotency-Retention: <seconds>` advertises how long keys are remembered.
pub const IDEMPOTENCY_RETENTION: HeaderName = HeaderName::from_static("idempotency-retention");

/// The longest key accepted, in characters.
pub const MAX_KEY_LEN: usize = 255;

/// The response headers stored with a completed request and replayed, unless
/// the config names others. `Set-Cookie` is never stored.
pub const STORED_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::LOCATION, header::ETAG];

/// Why an `Idempotency-Key` header was rejected (always a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The header appears on more than one line.
    #[error("Idempotency-Key must appear once, found {0} header lines")]
    Repeated(usize),
    /// The key is empty.
    #[error("Idempotency-Key must not be empty")]
    Empty,
    /// The key is longer than [`MAX_KEY_LEN`].
    #[error("Idempotency-Key must be at most {MAX_KEY_LEN} characters, got {0}")]
    TooLong(usize),
    /// The key holds a byte outside printable ASCII.
    #[error("Idempotency-Key must be printable ASCII")]
    NotPrintable,
    /// The key holds a comma (it would read as a list).
    #[error("Idempotency-Key must not contain a comma")]
    Comma,
    /// A quoted key is not a valid RFC 8941 sf-string.
    #[error("Idempotency-Key is not a valid quoted string: {0}")]
    BadQuoting(&'static str),
}

/// Reads the `Idempotency-Key` from `headers`.
///
/// `Ok(None)` when absent. The key may be bare (`abc`) or an RFC 8941
/// sf-string (`"abc"`, with `\"` and `\\` escapes); both normalize to the
/// same key. Rejected: several header lines, empty, over 255 characters,
/// anything but printable ASCII, a comma, or broken quoting.
pub fn parse_key(headers: &HeaderMap) -> Result<Option<String>, KeyError> {
    let mut values = headers.get_all(&IDEMPOTENCY_KEY).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    let extra = values.count();
    if extra > 0 {
        return Err(KeyError::Repeated(extra + 1));
    }
    parse_key_value(first.as_bytes()).map(Some)
}

/// Parses one header value; see [`parse_key`].
pub fn parse_key_value(raw: &[u8]) -> Result<String, KeyError> {
    let raw = raw.trim_ascii();
    if raw.iter().any(|&b| !(0x20..=0x7e).contains(&b)) {
        return Err(KeyError::NotPrintable);
    }
    let key = if raw.first() == Some(&b'"') {
        unquote(raw)?
    } else {
        if raw.iter().any(|&b| b == b'"' || b == b'\\') {
            return Err(KeyError::BadQuoting(
                "a bare key must not contain '\"' or '\\'",
            ));
        }
        // Every byte is printable ASCII, so this cannot fail.
        String::from_utf8_lossy(raw).into_owned()
    };
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong(key.len()));
    }
    if key.contains(',') {
        return Err(KeyError::Comma);
    }
    Ok(key)
}

/// Decodes an RFC 8941 sf-string (`raw` starts with `"`).
fn unquote(raw: &[u8]) -> Result<String, KeyError> {
    let mut out = String::with_capacity(raw.len());
    let mut bytes = raw[1..].iter();
    loop {
        match bytes.next() {
            None => return Err(KeyError::BadQuoting("missing closing quote")),
            Some(b'"') => break,
            Some(b'\\') => match bytes.next() {
                Some(&c @ (b'"' | b'\\')) => out.push(char::from(c)),
                _ => {
                    return Err(KeyError::BadQuoting(
                        "only \\\" and \\\\ escapes are allowed",
                    ));
                }
            },
            Some(&c) => out.push(char::from(c)),
        }
    }
    if bytes.next().is_some() {
        return Err(KeyError::BadQuoting("text after the closing quote"));
    }
    Ok(out)
}

/// The request fingerprint: SHA-256 (hex) of method, path with query, and
/// the canonical body.
///
/// JSON bodies are canonicalized (object keys sorted at every depth, no
/// whitespace), `application/x-www-form-urlencoded` bodies have their
/// decoded pairs sorted, and anything else (including JSON that does not
/// parse) is hashed as raw bytes.
pub fn fingerprint(method: &Method, path: &str, content_type: Option<&str>, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_str());
    hasher.update(b"\n");
    hasher.update(path);
    hasher.update(b"\n");
    let media = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    let canonical = match media.as_deref() {
        Some("application/x-www-form-urlencoded") => Some(canonical_form(body)),
        Some(m) if is_json(m) => canonical_json(body),
        None if !body.is_empty() => canonical_json(body),
        _ => None,
    };
    match canonical {
        Some(c) => {
            hasher.update(b"canonical\n");
            hasher.update(c);
        }
        None => {
            hasher.update(b"raw\n");
            hasher.update(body);
        }
    }
    format!("{:x}", hasher.finalize())
}

/// Whether `media` (lowercase, without parameters) is a JSON media type.
pub fn is_json(media: &str) -> bool {
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

fn canonical_json(body: &[u8]) -> Option<Vec<u8>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut out = Vec::with_capacity(body.len());
    write_canonical(&value, &mut out);
    Some(out)
}

/// Writes `value` with object keys sorted, independent of serde_json's
/// `preserve_order` feature.
fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(k).unwrap_or_default());
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        scalar => out.extend(serde_json::to_vec(scalar).unwrap_or_default()),
    }
}

fn canonical_form(body: &[u8]) -> Vec<u8> {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    pairs.sort();
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

/// A response as data: what a handler produces inside its transaction and
/// what the store keeps for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Header name (lowercase) and value pairs.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// A JSON reply.
    pub fn json(status: StatusCode, value: &impl Serialize) -> Self {
        Self {
            status: status.as_u16(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// 2xx and 3xx replies commit their effects and are stored; anything
    /// else rolls back and releases the key.
    pub fn is_success(&self) -> bool {
        (200..400).contains(&self.status)
    }

    /// The headers kept for replay: only [`STORED_HEADERS`].
    pub fn stored_headers(&self) -> Vec<(String, String)> {
        self.stored_headers_of(&STORED_HEADERS)
    }

    /// The headers kept for replay: those named in `allowed`, never `Set-Cookie`.
    pub fn stored_headers_of(&self, allowed: &[HeaderName]) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter(|(name, _)| {
                !name.eq_ignore_ascii_case(header::SET_COOKIE.as_str())
                    && allowed
                        .iter()
                        .any(|h| h.as_str().eq_ignore_ascii_case(name))
            })
            .cloned()
            .collect()
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = status;
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) =
                (HeaderName::try_from(name), HeaderValue::try_from(value))
            {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str) -> Result<String, KeyError> {
        parse_key_value(raw.as_bytes())
    }

    #[test]
    fn bare_and_quoted_keys_normalize_to_the_same_key() {
        assert_eq!(key("abc").unwrap(), "abc");
        assert_eq!(key("\"abc\"").unwrap(), "abc");
        assert_eq!(key(r#""a\"b\\c""#).unwrap(), r#"a"b\c"#);
        assert_eq!(key("  padded  ").unwrap(), "padded");
        assert_eq!(key("has space").unwrap(), "has space");
        assert_eq!(key(&"k".repeat(255)).unwrap().len(), 255);
    }

    #[test]
    fn malformed_keys_are_rejected() {
        let cases: &[(&str, KeyError)] = &[
            ("", KeyError::Empty),
            ("\"\"", KeyError::Empty),
            ("a,b", KeyError::Comma),
            ("\"a,b\"", KeyError::Comma),
            ("a\tb", KeyError::NotPrintable),
            ("caf\u{e9}", KeyError::NotPrintable),
            ("\"abc", KeyError::BadQuoting("missing closing quote")),
            (
                "\"a\\qb\"",
                KeyError::BadQuoting("only \\\" and \\\\ escapes are allowed"),
            ),
            (
                "\"abc\";p=1",
                KeyError::BadQuoting("text after the closing quote"),
            ),
            (
                "ab\"c",
                KeyError::BadQuoting("a bare key must not contain '\"' or '\\'"),
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(key(raw).as_ref(), Err(expected), "{raw:?}");
        }
        assert_eq!(key(&"k".repeat(256)), Err(KeyError::TooLong(256)));
    }

    #[test]
    fn repeated_header_lines_are_rejected() {
        let mut headers = HeaderMap::new();
        headers.append(IDEMPOTENCY_KEY, HeaderValue::from_static("a"));
        assert_eq!(parse_key(&headers), Ok(Some("a".into())));
        headers.append(IDEMPOTENCY_KEY, HeaderValue::from_static("a"));
        assert_eq!(parse_key(&headers), Err(KeyError::Repeated(2)));
        assert_eq!(parse_key(&HeaderMap::new()), Ok(None));
    }

    #[test]
    fn fingerprints_are_lowercase_hex_as_stored() {
        // Stored records (SQLite files) depend on this exact form.
        // SHA-256 of "POST\n/p\nraw\n": the method, the path, an empty raw body.
        assert_eq!(
            fingerprint(&Method::POST, "/p", Some("text/plain"), b""),
            "7bdd63af5fdd809fdc37af0c315bd4f1110fe1af465e7d175f9b4e057e375699"
        );
    }

    #[test]
    fn fingerprint_ignores_json_key_order_and_form_pair_order() {
        let post = Method::POST;
        let json = Some("application/json; charset=utf-8");
        let a = fingerprint(
            &post,
            "/api/orgs",
            json,
            br#"{"name":"acme","n":{"b":1,"a":[2,{"y":1,"x":0}]}}"#,
        );
        let b = fingerprint(
            &post,
            "/api/orgs",
            json,
            br#"{ "n":{"a":[2,{"x":0,"y":1}],"b":1}, "name":"acme" }"#,
        );
        assert_eq!(a, b);
        let c = fingerprint(&post, "/api/orgs", json, br#"{"name":"acme2"}"#);
        assert_ne!(a, c);
        let form = Some("application/x-www-form-urlencoded");
        assert_eq!(
            fingerprint(&post, "/p", form, b"b=2&a=1&a=0"),
            fingerprint(&post, "/p", form, b"a=0&a=1&b=2")
        );
        assert_eq!(
            fingerprint(&post, "/p", form, b"a=%41"),
            fingerprint(&post, "/p", form, b"a=A")
        );
    }

    #[test]
    fn fingerprint_covers_method_path_and_raw_bytes() {
        let body = br#"{"name":"acme"}"#;
        let json = Some("application/json");
        let base = fingerprint(&Method::POST, "/api/orgs", json, body);
        assert_ne!(base, fingerprint(&Method::PUT, "/api/orgs", json, body));
        assert_ne!(
            base,
            fingerprint(&Method::POST, "/api/orgs?x=1", json, body)
        );
        let text = Some("text/plain");
        assert_ne!(
            fingerprint(&Method::POST, "/p", text, b"{\"a\":1,\"b\":2}"),
            fingerprint(&Method::POST, "/p", text, b"{\"b\":2,\"a\":1}")
        );
    }

    #[test]
    fn only_allow_listed_headers_are_stored() {
        let reply = Reply::json(StatusCode::CREATED, &serde_json::json!({}))
            .with_header("Location", "/api/orgs/1")
            .with_header("set-cookie", "sid=x")
            .with_header("etag", "\"v1\"")
            .with_header("x-other", "1");
        let stored: Vec<_> = reply.stored_headers().into_iter().map(|(n, _)| n).collect();
        assert_eq!(stored, ["content-type", "location", "etag"]);
        let custom = [header::SET_COOKIE, HeaderName::from_static("x-other")];
        let stored: Vec<_> = reply
            .stored_headers_of(&custom)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(stored, ["x-other"]);
        assert!(reply.is_success());
    }
}
