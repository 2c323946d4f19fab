//! Properties of the protocol rules, over generated inputs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use proptest::prelude::*;
use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};
use submit_guard_protocol::{Form, canonical_payload, parse_key, parse_retry_after, quote_key};

/// A JSON value whose numbers have at most 15 significant digits.
#[derive(Clone, Debug)]
enum Json {
    Null,
    Bool(bool),
    Number(String),
    Text(String),
    Array(Vec<Json>),
    /// Members with distinct names.
    Object(Vec<(String, Json)>),
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i32>().prop_map(|n| n.to_string()),
        (any::<i32>(), 0u32..6).prop_map(|(n, places)| {
            let scale = 10f64.powi(places as i32);
            format!("{}", f64::from(n) / scale)
        }),
        (1u32..999, -30i32..30).prop_map(|(m, e)| format!("{m}e{e}")),
        Just("-0".to_string()),
        Just("123456789012345".to_string()),
    ]
}

fn json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        number().prop_map(Json::Number),
        any::<String>().prop_map(Json::Text),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

/// How to write a value: which member order, whitespace and escapes.
#[derive(Clone, Debug)]
struct Style {
    seed: u64,
    spaces: bool,
    escape_all: bool,
}

fn style() -> impl Strategy<Value = Style> {
    (any::<u64>(), any::<bool>(), any::<bool>()).prop_map(|(seed, spaces, escape_all)| Style {
        seed,
        spaces,
        escape_all,
    })
}

impl Style {
    fn next(&mut self) -> u64 {
        self.seed = self
            .seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        self.seed >> 33
    }
}

fn write_string(s: &str, style: &Style, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if style.escape_all => out.push_str("\\/"),
            c if (c as u32) < 0x20 || style.escape_all => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(out, "\\u{unit:04X}").unwrap();
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write(value: &Json, style: &mut Style, out: &mut String) {
    let ws = if style.spaces { " \n" } else { "" };
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(n),
        Json::Text(s) => write_string(s, style, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(ws);
                write(item, style, out);
            }
            out.push(']');
        }
        Json::Object(members) => {
            let mut order: Vec<usize> = (0..members.len()).collect();
            for i in (1..order.len()).rev() {
                let j = (style.next() % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
            out.push('{');
            for (n, &i) in order.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(ws);
                write_string(&members[i].0, style, out);
                out.push_str(ws);
                out.push(':');
                write(&members[i].1, style, out);
            }
            out.push_str(ws);
            out.push('}');
        }
    }
}

fn text(value: &Json, mut style: Style) -> String {
    let mut out = String::new();
    write(value, &mut style, &mut out);
    out
}

const JSON: Option<&str> = Some("application/json");
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn quoted_keys_parse_back(key in "[ -+\\--~]{1,255}") {
        // Printable ASCII without ',' (0x2c), 1 to 255 characters.
        let parsed = parse_key(format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\"")))
            .expect("a valid key in sf-string form");
        prop_assert_eq!(parsed.as_str(), key.as_str());
        prop_assert_eq!(parse_key(quote_key(&parsed)), Ok(parsed));
    }

    #[test]
    fn json_member_order_whitespace_and_escapes_do_not_matter(
        value in json(), a in style(), b in style()
    ) {
        let (ta, tb) = (text(&value, a), text(&value, b));
        let (ca, cb) = (canonical_payload(JSON, ta.as_bytes()), canonical_payload(JSON, tb.as_bytes()));
        prop_assert_eq!(ca.form(), Form::Json, "{}", ta);
        prop_assert_eq!(&ca, &cb, "{} vs {}", ta, tb);
        // Idempotent, and valid JSON with the same value.
        prop_assert_eq!(&canonical_payload(JSON, ca.bytes()), &ca);
        let parsed: serde_json::Value = serde_json::from_slice(ca.bytes()).unwrap();
        let original: serde_json::Value = serde_json::from_str(&ta).unwrap();
        prop_assert!(same_json(&parsed, &original));
    }

    #[test]
    fn json_values_that_differ_have_different_forms(value in json(), other in json()) {
        let (ta, tb) = (text(&value, style_plain()), text(&other, style_plain()));
        let (va, vb): (serde_json::Value, serde_json::Value) =
            (serde_json::from_str(&ta).unwrap(), serde_json::from_str(&tb).unwrap());
        let same = canonical_payload(JSON, ta.as_bytes()) == canonical_payload(JSON, tb.as_bytes());
        prop_assert_eq!(same, same_json(&va, &vb), "{} vs {}", ta, tb);
    }

    #[test]
    fn form_pair_order_does_not_matter(
        pairs in prop::collection::vec((any::<String>(), any::<String>()), 0..8),
        seed in any::<u64>(),
        plus in any::<bool>(),
    ) {
        let encode = |pairs: &[(String, String)]| {
            let body = form_body(pairs);
            if plus { body } else { body.replace('+', "%20") }
        };
        let mut shuffled = pairs.clone();
        let mut style = Style { seed, spaces: false, escape_all: false };
        for i in (1..shuffled.len()).rev() {
            let j = (style.next() % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        let (a, b) = (encode(&pairs), encode(&shuffled));
        let ca = canonical_payload(FORM, a.as_bytes());
        prop_assert_eq!(&ca, &canonical_payload(FORM, b.as_bytes()));
        prop_assert_eq!(&canonical_payload(FORM, ca.bytes()), &ca);
    }

    #[test]
    fn multipart_boundary_and_part_order_do_not_matter(
        parts in prop::collection::vec(("[a-z%]{1,8}", "[^\r]{0,16}", any::<bool>()), 0..6),
        rotate in 0usize..6,
    ) {
        let body = |boundary: &str, parts: &[(String, String, bool)]| {
            let mut out = String::from("preamble\r\n");
            for (name, value, file) in parts {
                write!(out, "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").unwrap();
                if *file {
                    out.push_str("; filename=\"f.bin\"\r\nContent-Type: application/octet-stream");
                }
                write!(out, "\r\n\r\n{value}\r\n").unwrap();
            }
            write!(out, "--{boundary}--\r\n").unwrap();
            out
        };
        let mut rotated = parts.clone();
        if !rotated.is_empty() {
            let n = rotate % rotated.len();
            rotated.rotate_left(n);
        }
        let a = body("AaB03x", &parts);
        let b = body("----WebKitFormBoundary7MA4YWxkTrZu0gW", &rotated);
        let ca = canonical_payload(Some("multipart/form-data; boundary=AaB03x"), a.as_bytes());
        let cb = canonical_payload(
            Some("multipart/form-data; boundary=\"----WebKitFormBoundary7MA4YWxkTrZu0gW\""),
            b.as_bytes(),
        );
        prop_assert_eq!(ca.form(), Form::Multipart);
        prop_assert_eq!(ca, cb);
    }

    #[test]
    fn retry_after_dates_agree_with_httpdate(secs in 0u64..253_402_300_800, now in 0u64..253_402_300_800_000) {
        // httpdate (an independent implementation) writes the IMF-fixdate.
        let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
        prop_assert_eq!(parse_retry_after(&date, now), Some((secs * 1000).saturating_sub(now)), "{}", date);
        prop_assert_eq!(
            httpdate::parse_http_date(&date).ok(),
            Some(UNIX_EPOCH + Duration::from_secs(secs))
        );
    }

    #[test]
    fn retry_after_seconds(n in any::<u32>(), now in any::<u64>()) {
        prop_assert_eq!(parse_retry_after(&n.to_string(), now), Some(u64::from(n) * 1000));
    }
}

fn style_plain() -> Style {
    Style {
        seed: 1,
        spaces: false,
        escape_all: false,
    }
}

/// JSON equality with numbers compared as doubles (`-0` equal to `0`).
fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

fn form_body(pairs: &[(String, String)]) -> String {
    let encode = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b' ' => out.push('+'),
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    out.push(char::from(b))
                }
                _ => write!(out, "%{b:02X}").unwrap(),
            }
        }
        out
    };
    pairs
        .iter()
        .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}
