//! The `Idempotency-Key` header value.
//!
//! draft-ietf-httpapi-idempotency-key-header-07 §2 defines the field as an
//! RFC 8941 Item of type sf-string: `"` + printable ASCII with `\"` and `\\`
//! escapes + `"`. Clients in the wild also send the bare token (`abc`), so
//! both forms are accepted and normalize to the same [`Key`].

use alloc::string::String;
use core::fmt;

/// The longest key accepted, in characters.
pub const MAX_KEY_LEN: usize = 255;

/// A valid idempotency key: 1 to [`MAX_KEY_LEN`] printable ASCII characters,
/// no comma. Built by [`parse_key`]; [`quote_key`] writes it back.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(String);

impl Key {
    /// The key as text (unquoted, unescaped).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as an owned `String`.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Key> for String {
    fn from(key: Key) -> Self {
        key.0
    }
}

/// Why an `Idempotency-Key` header was rejected (the server answers 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The header appears on more than one line. [`parse_key`] sees one
    /// value and never returns this; a caller that reads the header lines
    /// reports it with their count.
    Repeated(usize),
    /// The key is empty.
    Empty,
    /// The key is longer than [`MAX_KEY_LEN`]; holds its length.
    TooLong(usize),
    /// The key holds a byte outside printable ASCII.
    NotPrintable,
    /// The key holds a comma (it would read as a list).
    Comma,
    /// A quoted key is not a valid RFC 8941 sf-string; says what is wrong.
    BadQuoting(&'static str),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Repeated(n) => {
                write!(
                    f,
                    "Idempotency-Key must appear once, found {n} header lines"
                )
            }
            Self::Empty => f.write_str("Idempotency-Key must not be empty"),
            Self::TooLong(n) => write!(
                f,
                "Idempotency-Key must be at most {MAX_KEY_LEN} characters, got {n}"
            ),
            Self::NotPrintable => f.write_str("Idempotency-Key must be printable ASCII"),
            Self::Comma => f.write_str("Idempotency-Key must not contain a comma"),
            Self::BadQuoting(why) => {
                write!(f, "Idempotency-Key is not a valid quoted string: {why}")
            }
        }
    }
}

impl core::error::Error for KeyError {}

/// Parses one `Idempotency-Key` header value.
///
/// Surrounding spaces are ignored. The key may be bare (`abc`) or an RFC 8941
/// sf-string (`"abc"`, with `\"` and `\\` escapes); both give the same key.
/// Rejected: empty, over 255 characters, anything but printable ASCII, a
/// comma, a bare key holding `"` or `\`, or broken quoting (no closing
/// quote, another escape, text after the closing quote — so parameters such
/// as `"k";a=1` are refused rather than ignored).
pub fn parse_key(value: impl AsRef<[u8]>) -> Result<Key, KeyError> {
    let raw = value.as_ref().trim_ascii();
    if raw.iter().any(|&b| !(0x20..=0x7e).contains(&b)) {
        return Err(KeyError::NotPrintable);
    }
    let key = match raw.split_first() {
        Some((b'"', rest)) => unquote(rest)?,
        _ => {
            if raw.iter().any(|&b| b == b'"' || b == b'\\') {
                return Err(KeyError::BadQuoting(
                    "a bare key must not contain '\"' or '\\'",
                ));
            }
            raw.iter().map(|&b| char::from(b)).collect()
        }
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
    Ok(Key(key))
}

/// Decodes the rest of an sf-string after its opening quote.
fn unquote(rest: &[u8]) -> Result<String, KeyError> {
    let mut out = String::with_capacity(rest.len());
    let mut bytes = rest.iter();
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

/// Writes `key` as an RFC 8941 sf-string, the form the draft specifies for
/// the header: `"` + the key with `"` and `\` escaped + `"`.
pub fn quote_key(key: &Key) -> String {
    let mut out = String::with_capacity(key.0.len() + 2);
    out.push('"');
    for c in key.0.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str) -> Result<String, KeyError> {
        parse_key(raw).map(Key::into_string)
    }

    #[test]
    fn bare_and_quoted_keys_normalize_to_the_same_key() {
        let cases: &[(&str, &str)] = &[
            ("abc", "abc"),
            ("\"abc\"", "abc"),
            (r#""a\"b\\c""#, r#"a"b\c"#),
            ("  padded  ", "padded"),
            (" \"padded\" ", "padded"),
            ("has space", "has space"),
            ("\" inner \"", " inner "),
            (
                "8e2b6c1a-6f0e-4d5c-9a57-0c1f3b0f7a10",
                "8e2b6c1a-6f0e-4d5c-9a57-0c1f3b0f7a10",
            ),
            ("~!@#$%^&*()_+{}|:<>?", "~!@#$%^&*()_+{}|:<>?"),
        ];
        for (raw, expected) in cases {
            assert_eq!(key(raw).as_deref(), Ok(*expected), "{raw:?}");
        }
        let long = "k".repeat(MAX_KEY_LEN);
        assert_eq!(key(&long).as_deref(), Ok(long.as_str()));
        assert_eq!(
            key(&alloc::format!("\"{long}\"")).as_deref(),
            Ok(long.as_str())
        );
    }

    #[test]
    fn malformed_keys_are_rejected() {
        let cases: &[(&str, KeyError)] = &[
            ("", KeyError::Empty),
            ("   ", KeyError::Empty),
            ("\"\"", KeyError::Empty),
            ("a,b", KeyError::Comma),
            ("\"a,b\"", KeyError::Comma),
            ("a\tb", KeyError::NotPrintable),
            ("a\u{7f}", KeyError::NotPrintable),
            ("caf\u{e9}", KeyError::NotPrintable),
            ("\"abc", KeyError::BadQuoting("missing closing quote")),
            ("\"abc\\\"", KeyError::BadQuoting("missing closing quote")),
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
            (
                "a\\b",
                KeyError::BadQuoting("a bare key must not contain '\"' or '\\'"),
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(key(raw).as_ref(), Err(expected), "{raw:?}");
        }
        assert_eq!(key(&"k".repeat(256)), Err(KeyError::TooLong(256)));
        // The length is that of the key, not of its quoted form.
        let escaped = alloc::format!("\"{}\"", "\\\\".repeat(200));
        assert_eq!(key(&escaped).map(|k| k.len()), Ok(200));
    }

    #[test]
    fn quote_key_writes_an_sf_string() {
        let cases: &[(&str, &str)] = &[
            ("abc", "\"abc\""),
            (r#"a"b\c"#, r#""a\"b\\c""#),
            (" x ", "\" x \""),
        ];
        for (raw, quoted) in cases {
            let parsed = parse_key(alloc::format!(
                "\"{}\"",
                raw.replace('\\', "\\\\").replace('"', "\\\"")
            ));
            let parsed = parsed.unwrap_or_else(|e| unreachable!("{raw:?}: {e}"));
            assert_eq!(quote_key(&parsed), *quoted);
            assert_eq!(parse_key(quote_key(&parsed)), Ok(parsed));
        }
    }

    #[test]
    fn errors_name_what_was_wrong() {
        assert_eq!(
            alloc::format!("{}", KeyError::TooLong(300)),
            "Idempotency-Key must be at most 255 characters, got 300"
        );
        assert_eq!(
            alloc::format!("{}", KeyError::Repeated(2)),
            "Idempotency-Key must appear once, found 2 header lines"
        );
    }
}
