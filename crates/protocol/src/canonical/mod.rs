//! Payload equality: the canonical form of a request body.
//!
//! Two bodies are the same payload when their canonical forms are equal
//! bytes. The browser client (`js/canonical.js`) and the server use this one
//! definition, checked against the shared table `tests/vectors/payload.json`.
//!
//! | declared type | canonical form |
//! |---|---|
//! | `application/json`, `application/*+json`, or none with a non-empty body | RFC 8785 (JCS), see below |
//! | `application/x-www-form-urlencoded` | pairs decoded and sorted, re-encoded (WHATWG URL) |
//! | `multipart/form-data` | the fields, sorted (RFC 7578) |
//! | anything else, or a body that does not parse as its type | the raw bytes |
//!
//! Falling back to the raw bytes is always sound: identical bytes are the
//! same payload. It only misses some equalities, never invents one.
//!
//! # JSON
//! RFC 8785: object members sorted by the UTF-16 code units of their names
//! at every depth, no whitespace, strings with the minimal escapes (so
//! `"\u0041"` is `"A"` and `"\/"` is `"/"`), numbers as ECMAScript's
//! Number-to-String writes the nearest IEEE 754 double (so `1.0`, `1e0` and
//! `1.00` are `1`, `1e2` is `100` and `-0` is `0`). Array order is kept.
//!
//! Where RFC 8785 leaves I-JSON, we decide:
//! - a repeated member name keeps its last value, as `JSON.parse` does;
//! - a body with a number of more than 15 significant digits
//!   (`9007199254740993`, which as a double is `9007199254740992`) is
//!   compared as raw bytes: two different numbers must never make one
//!   payload, and up to 15 digits no two do;
//! - so is a body with a number out of the double range (`1e400`), a lone
//!   surrogate escape (`"\ud800"`), or more than 127 nested arrays and
//!   objects, since no double, Unicode string or parser limit holds them.
//!
//! # URL-encoded
//! Pairs are decoded as the WHATWG URL standard's
//! `application/x-www-form-urlencoded` parser does (`+` is a space, `%41` is
//! `A`, invalid UTF-8 becomes U+FFFD), sorted by name and then value (UTF-16
//! code units), and written back with its serializer. So the order of pairs,
//! including pairs with a repeated name, does not matter.
//!
//! # Multipart
//! The parts of a `multipart/form-data` body (RFC 7578, delimited by the
//! `boundary` parameter) become entries, sorted as pairs are: a text field is
//! its name and value; a file is its name, file name, content type (lower
//! case, `application/octet-stream` if absent) and bytes. The boundary, the
//! order of parts, the preamble and epilogue and other part headers do not
//! matter. Each entry is written as `t` (text) or `f` (file) followed by its
//! fields, each as `<UTF-8 length>:<bytes>`. A body that does not follow the
//! grammar (no closing delimiter, a part without `Content-Disposition:
//! form-data; name=…`, folded headers) is compared as raw bytes.

mod form;
mod json;
mod multipart;

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::cmp::Ordering;

pub use multipart::{Entry, parse_multipart};

/// Which rule produced a [`Canonical`] payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Form {
    /// RFC 8785 JSON.
    Json,
    /// Sorted `application/x-www-form-urlencoded` pairs.
    UrlEncoded,
    /// Sorted `multipart/form-data` entries.
    Multipart,
    /// The body as it came.
    Raw,
}

/// A request body in canonical form: equal bytes mean the same payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canonical<'a> {
    form: Form,
    bytes: Cow<'a, [u8]>,
}

impl<'a> Canonical<'a> {
    /// The rule that produced it.
    pub fn form(&self) -> Form {
        self.form
    }

    /// Whether the body is compared as it came (no rule applied).
    pub fn is_raw(&self) -> bool {
        self.form == Form::Raw
    }

    /// The canonical bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The canonical bytes, borrowed from the body when they are the raw body.
    pub fn into_bytes(self) -> Cow<'a, [u8]> {
        self.bytes
    }
}

/// The canonical form of `body`, sent with the `Content-Type` header
/// `content_type` (`None` when the request has none). Never fails: a body
/// that does not parse as its declared type is kept as raw bytes. See the
/// [module docs](self) for each rule.
pub fn canonical_payload<'a>(content_type: Option<&str>, body: &'a [u8]) -> Canonical<'a> {
    let media = content_type.map(MediaType::parse);
    let canonical = match &media {
        Some(m) if m.is("application/x-www-form-urlencoded") => {
            Some((Form::UrlEncoded, form::canonical(body)))
        }
        Some(m) if m.is("multipart/form-data") => m
            .boundary()
            .and_then(|boundary| multipart::canonical(&boundary, body))
            .map(|c| (Form::Multipart, c)),
        Some(m) if m.is_json() => json::canonical(body).map(|c| (Form::Json, c)),
        None if !body.is_empty() => json::canonical(body).map(|c| (Form::Json, c)),
        _ => None,
    };
    match canonical {
        Some((form, bytes)) => Canonical {
            form,
            bytes: Cow::Owned(bytes),
        },
        None => Canonical {
            form: Form::Raw,
            bytes: Cow::Borrowed(body),
        },
    }
}

/// The entries of a `multipart/form-data` body sent with the `Content-Type`
/// `content_type`, in order, by the same grammar the canonical form uses;
/// `None` when the type is not `multipart/form-data`, has no valid
/// `boundary`, or the body does not follow the grammar. For servers that
/// read form fields, so they accept exactly the bodies the fingerprint
/// understands.
pub fn multipart_entries<'a>(content_type: &str, body: &'a [u8]) -> Option<Vec<Entry<'a>>> {
    let media = MediaType::parse(content_type);
    if !media.is("multipart/form-data") {
        return None;
    }
    parse_multipart(&media.boundary()?, body)
}

/// Whether `content_type` declares JSON: `application/json` or
/// `application/<anything>+json`, whatever its parameters.
pub fn is_json(content_type: &str) -> bool {
    MediaType::parse(content_type).is_json()
}

/// A `Content-Type` value: the media type, lower case, and the parameters.
struct MediaType<'a> {
    essence: alloc::string::String,
    params: &'a str,
}

impl<'a> MediaType<'a> {
    fn parse(value: &'a str) -> Self {
        let (essence, params) = value.split_once(';').unwrap_or((value, ""));
        Self {
            essence: essence.trim().to_ascii_lowercase(),
            params,
        }
    }

    fn is(&self, essence: &str) -> bool {
        self.essence == essence
    }

    fn is_json(&self) -> bool {
        self.essence == "application/json"
            || (self.essence.starts_with("application/") && self.essence.ends_with("+json"))
    }

    /// The `boundary` parameter (RFC 2046 §5.1.1: 1 to 70 characters),
    /// unquoted.
    fn boundary(&self) -> Option<Vec<u8>> {
        let mut rest = self.params.as_bytes();
        loop {
            rest = rest.trim_ascii_start();
            let eq = rest.iter().position(|&b| b == b'=')?;
            let (name, after) = rest.split_at(eq);
            let after = after.get(1..)?.trim_ascii_start();
            let (value, next) = match after.split_first() {
                Some((b'"', quoted)) => unquote(quoted)?,
                _ => {
                    let end = after.iter().position(|&b| b == b';').unwrap_or(after.len());
                    let (value, next) = after.split_at(end);
                    (value.trim_ascii_end().to_vec(), next)
                }
            };
            if name.trim_ascii().eq_ignore_ascii_case(b"boundary") {
                return (1..=70).contains(&value.len()).then_some(value);
            }
            let next = next.trim_ascii_start();
            rest = next.strip_prefix(b";")?;
        }
    }
}

/// An RFC 9110 quoted-string after its opening quote: the value and what
/// follows the closing quote.
fn unquote(quoted: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut value = Vec::new();
    let mut bytes = quoted.iter().enumerate();
    while let Some((i, &b)) = bytes.next() {
        match b {
            b'"' => return Some((value, quoted.get(i + 1..)?)),
            b'\\' => value.push(*bytes.next()?.1),
            _ => value.push(b),
        }
    }
    None
}

/// Orders strings by their UTF-16 code units, as RFC 8785 and JavaScript's
/// default sort do (UTF-8 byte order differs for characters above U+FFFF).
pub(crate) fn cmp_utf16(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declared_type_picks_the_rule() {
        let json = br#"{"b":1,"a":2}"#;
        let cases: &[(Option<&str>, &[u8], Form)] = &[
            (Some("application/json"), json, Form::Json),
            (Some("Application/JSON; charset=utf-8"), json, Form::Json),
            (Some("application/problem+json"), json, Form::Json),
            (Some("application/vnd.api+json ; x=1"), json, Form::Json),
            (None, json, Form::Json),
            (None, b"", Form::Raw),
            (None, b"not json", Form::Raw),
            (Some("text/plain"), json, Form::Raw),
            (Some(""), json, Form::Raw),
            (Some("application/jsonx"), json, Form::Raw),
            (Some("text/+json"), json, Form::Raw),
            (Some("application/json"), b"{", Form::Raw),
            (
                Some("application/x-www-form-urlencoded"),
                b"b=1&a=2",
                Form::UrlEncoded,
            ),
            (
                Some("application/x-www-form-urlencoded"),
                b"",
                Form::UrlEncoded,
            ),
            (
                Some("multipart/form-data; boundary=X"),
                b"--X--",
                Form::Multipart,
            ),
            (
                Some("multipart/form-data; boundary=\"X\""),
                b"--X--",
                Form::Multipart,
            ),
            (Some("multipart/form-data"), b"--X--", Form::Raw),
            (Some("multipart/form-data; boundary=Y"), b"--X--", Form::Raw),
            (Some("application/octet-stream"), b"\x00\xff", Form::Raw),
        ];
        for (ct, body, form) in cases {
            assert_eq!(
                canonical_payload(*ct, body).form(),
                *form,
                "{ct:?} {body:?}"
            );
        }
        let raw = canonical_payload(Some("text/plain"), b" x ");
        assert!(raw.is_raw());
        assert_eq!(raw.bytes(), b" x ");
        assert!(matches!(raw.into_bytes(), Cow::Borrowed(_)));
    }

    #[test]
    fn boundary_parameter() {
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("multipart/form-data; boundary=abc", Some(b"abc")),
            ("multipart/form-data;boundary=abc;charset=x", Some(b"abc")),
            (
                "multipart/form-data; charset=\"a;b\"; BOUNDARY = abc ",
                Some(b"abc"),
            ),
            (
                "multipart/form-data; boundary=\"a b\\\"c\"",
                Some(b"a b\"c"),
            ),
            ("multipart/form-data; boundary=\"abc", None),
            ("multipart/form-data; boundary=", None),
            ("multipart/form-data; x", None),
        ];
        for (ct, expected) in cases {
            let boundary = MediaType::parse(ct).boundary();
            assert_eq!(boundary.as_deref(), *expected, "{ct}");
        }
        let long = alloc::format!("multipart/form-data; boundary={}", "b".repeat(71));
        assert_eq!(MediaType::parse(&long).boundary(), None);
    }

    #[test]
    fn utf16_order_differs_from_utf8_above_the_bmp() {
        // U+FF61 sorts after U+1F600 in UTF-16 (0xFF61 > 0xD83D), before it in UTF-8.
        assert_eq!(cmp_utf16("\u{ff61}", "\u{1f600}"), Ordering::Greater);
        assert!("\u{ff61}" < "\u{1f600}");
        assert_eq!(cmp_utf16("a", "b"), Ordering::Less);
        assert_eq!(cmp_utf16("é", "é"), Ordering::Equal);
    }
}
