//! Fuzz targets: each takes arbitrary bytes, runs a parser of untrusted
//! input and checks its invariants, panicking when one fails.
//!
//! The drivers are `fuzz/` (cargo-fuzz, nightly) and [`run_targets`]
//! (stable, `examples/fuzz.rs`); both call these functions, so a crash found
//! by either replays with a plain test. [`TARGETS`] lists them by name.
//!
//! Another crate's parsers plug in the same way: a `fn(&[u8])` that panics
//! when an invariant fails, a `fuzz/fuzz_targets/<name>.rs` wrapper for
//! cargo-fuzz, seeds in `fuzz/corpus/<name>/`, and an example that calls
//! [`run_targets`] with its own list.

mod driver;

pub use driver::run_targets;

use crate::canonical::{Entry, Form, canonical_payload, parse_multipart};
use crate::{fingerprint, parse_key, parse_retry_after, quote_key};
use alloc::string::String;
use alloc::vec::Vec;

/// A fuzz target: panics when an invariant fails.
pub type Target = fn(&[u8]);

/// Every target, by name (the names of the `fuzz/` targets and corpora).
pub const TARGETS: [(&str, Target); 7] = [
    ("key", key),
    ("json", json),
    ("urlencoded", urlencoded),
    ("multipart", multipart),
    ("content_type", content_type),
    ("fingerprint", fingerprint_target),
    ("retry_after", retry_after),
];

/// The key parser: a parsed key obeys the syntax and its quoted form parses
/// back to it.
pub fn key(data: &[u8]) {
    let Ok(key) = parse_key(data) else { return };
    let text = key.as_str();
    assert!(
        !text.is_empty() && text.len() <= crate::MAX_KEY_LEN,
        "{text:?}"
    );
    assert!(
        text.bytes().all(|b| (0x20..=0x7e).contains(&b)) && !text.contains(','),
        "{text:?}"
    );
    assert_eq!(parse_key(quote_key(&key)).as_ref(), Ok(&key));
    let bare = !text.contains(['"', '\\']) && text.trim() == text;
    if bare {
        assert_eq!(parse_key(text).as_ref(), Ok(&key));
    }
}

/// JSON: the canonical form is JSON, is its own canonical form, and is the
/// same whatever the whitespace around the tokens.
pub fn json(data: &[u8]) {
    check_idempotent(Some("application/json"), data);
}

/// URL-encoded: the canonical form is its own canonical form.
pub fn urlencoded(data: &[u8]) {
    check_idempotent(Some("application/x-www-form-urlencoded"), data);
}

/// Multipart (boundary `XyZ`): what parses, written again with another
/// boundary and the parts reversed, has the same canonical form.
pub fn multipart(data: &[u8]) {
    const TYPE: &str = "multipart/form-data; boundary=XyZ";
    let canonical = canonical_payload(Some(TYPE), data);
    let Some(entries) = parse_multipart(b"XyZ", data) else {
        assert!(canonical.is_raw());
        return;
    };
    assert_eq!(canonical.form(), Form::Multipart);
    let mut boundary = String::from("re-written");
    while memchr::memmem::find(data, boundary.as_bytes()).is_some() {
        boundary.push('-');
    }
    let mut body = Vec::new();
    for entry in entries.iter().rev() {
        body.extend_from_slice(b"--");
        body.extend_from_slice(boundary.as_bytes());
        body.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
        body.extend_from_slice(entry.name());
        body.push(b'"');
        let content = match entry {
            Entry::Text { value, .. } => value,
            Entry::File {
                filename,
                content_type,
                content,
                ..
            } => {
                body.extend_from_slice(b"; filename=\"");
                body.extend_from_slice(filename);
                body.extend_from_slice(b"\"\r\nContent-Type: ");
                body.extend_from_slice(content_type.as_bytes());
                content
            }
        };
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--");
    body.extend_from_slice(boundary.as_bytes());
    body.extend_from_slice(b"--\r\n");
    let again = alloc::format!("multipart/form-data; boundary=\"{boundary}\"");
    let rewritten = canonical_payload(Some(&again), &body);
    assert_eq!(rewritten, canonical, "{:?}", String::from_utf8_lossy(&body));
}

/// Any `Content-Type` (the first line) with any body (the rest): no panic,
/// and the JSON and URL-encoded forms are their own canonical forms.
pub fn content_type(data: &[u8]) {
    let (content_type, body) = split_line(data);
    let content_type = String::from_utf8_lossy(content_type);
    check_idempotent(Some(&content_type), body);
    check_idempotent(None, body);
}

/// The fingerprint: method and path (the first two lines) and a JSON body
/// hash the same as the same request with the body in canonical form.
pub fn fingerprint_target(data: &[u8]) {
    let (method, rest) = split_line(data);
    let (path, body) = split_line(rest);
    let (method, path) = (
        String::from_utf8_lossy(method),
        String::from_utf8_lossy(path),
    );
    let json = Some("application/json");
    let canonical = canonical_payload(json, body);
    let digest = fingerprint(&method, &path, &canonical);
    if !canonical.is_raw() {
        let again = canonical_payload(json, canonical.bytes());
        assert_eq!(fingerprint(&method, &path, &again), digest);
    }
}

/// `Retry-After` (first 8 bytes: `now` in ms, then the value): a delay is
/// the same at any `now`; a date one second later is one second nearer.
pub fn retry_after(data: &[u8]) {
    let mut now = [0u8; 8];
    let split = data.len().min(8);
    let (head, value) = data.split_at(split);
    now.get_mut(..split)
        .unwrap_or_default()
        .copy_from_slice(head);
    // Keep `now` within a few millennia so that +1 s cannot overflow.
    let now_ms = u64::from_le_bytes(now) % 200_000_000_000_000;
    let value = String::from_utf8_lossy(value);
    let Some(wait) = parse_retry_after(&value, now_ms) else {
        assert_eq!(parse_retry_after(&value, now_ms + 1000), None);
        return;
    };
    let later = parse_retry_after(&value, now_ms + 1000);
    let is_delay = value
        .trim_matches([' ', '\t'])
        .bytes()
        .all(|b| b.is_ascii_digit());
    if is_delay {
        assert_eq!(later, Some(wait));
    } else {
        assert_eq!(
            later,
            Some(wait.saturating_sub(1000)),
            "{value:?} at {now_ms}"
        );
    }
}

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(at) => (
            data.get(..at).unwrap_or_default(),
            data.get(at + 1..).unwrap_or_default(),
        ),
        None => (data, &[]),
    }
}

fn check_idempotent(content_type: Option<&str>, body: &[u8]) {
    let canonical = canonical_payload(content_type, body);
    match canonical.form() {
        Form::Json | Form::UrlEncoded => {
            let again = canonical_payload(content_type, canonical.bytes());
            assert_eq!(
                again,
                canonical,
                "not idempotent: {:?}",
                String::from_utf8_lossy(body)
            );
        }
        Form::Multipart => {}
        Form::Raw => assert_eq!(canonical.bytes(), body),
    }
    if canonical.form() == Form::Json {
        // Whitespace between tokens never matters.
        let spaced: Vec<u8> = canonical.bytes().iter().fold(Vec::new(), |mut out, &b| {
            out.push(b);
            if matches!(b, b'{' | b'[' | b',' | b':') {
                out.extend_from_slice(b" \n\t");
            }
            out
        });
        // Only when the separators sit outside strings: parse to be sure.
        if serde_json::from_slice::<serde_json::Value>(&spaced).is_ok() {
            let again = canonical_payload(content_type, &spaced);
            if again.form() == Form::Json {
                assert_eq!(again, canonical);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_target_accepts_anything_small() {
        let samples: &[&[u8]] = &[
            b"", b"\n", b"\n\n", b"\xff", b"{}", b"a=1", b"--XyZ--", b"\"k\"",
        ];
        for (name, target) in super::TARGETS {
            for sample in samples {
                std::eprintln!("{name} {sample:?}");
                target(sample);
            }
        }
    }
}
