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

/// `Idempotency-Key`: the request header carrying the key.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// `Idempotent-Replayed: true` marks a response served from the store.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// `Idempotency-Retention: <seconds>` advertises how long keys are remembered.
pub const IDEMPOTENCY_RETENTION: HeaderName = HeaderName::from_static("idempotency-retention");

pub use submit_guard_protocol::{KeyError, MAX_KEY_LEN};

/// The response headers stored with a completed request and replayed, unless
/// the config names others. `Set-Cookie` is never stored.
pub const STORED_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::LOCATION, header::ETAG];

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

/// Parses one header value; see [`parse_key`] and
/// [`submit_guard_protocol::parse_key`], the rule both halves share.
pub fn parse_key_value(raw: &[u8]) -> Result<String, KeyError> {
    submit_guard_protocol::parse_key(raw).map(submit_guard_protocol::Key::into_string)
}

/// The request fingerprint: SHA-256 (hex) of method, path with query, and
/// the canonical body, as [`submit_guard_protocol::fingerprint_hex`]
/// defines it: JSON (an `application/json` or `+json` type, or no type and a
/// body that parses) per RFC 8785 (members sorted, ECMAScript numbers,
/// minimal escapes), `application/x-www-form-urlencoded` and
/// `multipart/form-data` as their fields sorted, anything else (including
/// JSON that does not parse) as raw bytes. The browser client compares
/// payloads by the same rule (`js/canonical.js`, the same vectors).
pub fn fingerprint(method: &Method, path: &str, content_type: Option<&str>, body: &[u8]) -> String {
    let canonical = submit_guard_protocol::canonical_payload(content_type, body);
    submit_guard_protocol::fingerprint_hex(method.as_str(), path, &canonical)
}

/// Whether `media` is a JSON media type (`application/json` or
/// `application/*+json`, parameters allowed).
pub fn is_json(media: &str) -> bool {
    submit_guard_protocol::is_json(media)
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
