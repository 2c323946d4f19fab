//! RFC 8785 (JSON Canonicalization Scheme) over `serde_json`'s parser.

use super::cmp_utf16;
use alloc::vec::Vec;
use serde_json::Value;

/// The JCS form of `body`, or `None` if it is not JSON that a double and a
/// Unicode string can hold (see the module docs of `canonical`).
pub(super) fn canonical(body: &[u8]) -> Option<Vec<u8>> {
    // serde_json refuses lone surrogates, out-of-range numbers and nesting
    // deeper than 127 arrays or objects; with `float_roundtrip` it reads the nearest double.
    let value: Value = serde_json::from_slice(body).ok()?;
    if !numbers_are_exact(body) {
        return None;
    }
    let mut out = Vec::with_capacity(body.len());
    write(&value, &mut out);
    Some(out)
}

/// The most significant digits a number may have: two different decimals of
/// at most 15 significant digits are always two different doubles
/// (`f64::DIGITS`), so no two different numbers become one.
pub(crate) const MAX_DIGITS: usize = f64::DIGITS as usize;

/// Whether every number in `json` (already known to parse) has at most
/// [`MAX_DIGITS`] significant digits. `9007199254740993` does not: as a
/// double it is `9007199254740992`, another number, so a body holding it is
/// compared byte for byte instead.
fn numbers_are_exact(json: &[u8]) -> bool {
    let mut bytes = json.iter().peekable();
    while let Some(&b) = bytes.next() {
        match b {
            b'"' => {
                // Skip the string; escapes are two characters or more, and
                // only the escaped quote matters here.
                while let Some(&c) = bytes.next() {
                    match c {
                        b'"' => break,
                        b'\\' => {
                            bytes.next();
                        }
                        _ => {}
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                // Significant digits: mantissa digits, less leading and
                // trailing zeros.
                let mut digits = 0usize;
                let mut zeros = 0usize;
                let mut exponent = false;
                let mut c = b;
                loop {
                    match c {
                        b'e' | b'E' => exponent = true,
                        b'0' if !exponent => zeros += 1,
                        b'1'..=b'9' if !exponent => {
                            if digits > 0 {
                                digits += zeros;
                            }
                            digits += 1;
                            zeros = 0;
                        }
                        _ => {}
                    }
                    match bytes.peek() {
                        Some(&&n)
                            if n.is_ascii_digit()
                                || matches!(n, b'.' | b'e' | b'E' | b'+' | b'-') =>
                        {
                            c = n;
                            bytes.next();
                        }
                        _ => break,
                    }
                }
                if digits > MAX_DIGITS {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}

fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n.as_f64().unwrap_or(0.0), out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut members: Vec<_> = map.iter().collect();
            members.sort_by(|a, b| cmp_utf16(a.0, b.0));
            out.push(b'{');
            for (i, (name, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(name, out);
                out.push(b':');
                write(item, out);
            }
            out.push(b'}');
        }
    }
}

/// ECMAScript Number::toString (RFC 8785 §3.2.2.3); `-0` is `0`. serde_json
/// never yields a non-finite number; one would be written as `null`, as
/// `JSON.stringify` does.
fn write_number(n: f64, out: &mut Vec<u8>) {
    if n == 0.0 {
        out.push(b'0');
    } else if n.is_finite() {
        out.extend_from_slice(ryu_js::Buffer::new().format_finite(n).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// RFC 8785 §3.2.2.2: `"` and `\` escaped, the five short escapes, other
/// controls as `\u00xx` (lower-case hex), everything else as itself.
fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0x00..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.push(b'0' + (b >> 4));
                out.push(*HEX.get(usize::from(b & 0xf)).unwrap_or(&b'0'));
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(json: &str) -> Option<alloc::string::String> {
        canonical(json.as_bytes()).map(|c| alloc::string::String::from_utf8(c).unwrap_or_default())
    }

    #[test]
    fn rfc_8785_examples() {
        // RFC 8785 §3.2.3 (sorting) and Appendix B (numbers).
        assert_eq!(
            canon(r#"{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}"#).as_deref(),
            Some("{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}")
        );
        let numbers: &[(&str, &str)] = &[
            ("0", "0"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("1", "1"),
            ("1.0", "1"),
            ("1.00", "1"),
            ("1e0", "1"),
            ("1E2", "100"),
            ("0.1", "0.1"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("1e-6", "0.000001"),
            ("1e-7", "1e-7"),
            ("123456789012345", "123456789012345"),
            ("1234567890123450000000", "1.23456789012345e+21"),
            ("0.000123456789012345", "0.000123456789012345"),
            ("-100.00e-2", "-1"),
            ("4.50", "4.5"),
            ("2e-3", "0.002"),
            ("0.000001", "0.000001"),
            ("1.79769313486231e308", "1.79769313486231e+308"),
            ("5e-324", "5e-324"),
            ("1e-400", "0"),
            ("333333333.333333", "333333333.333333"),
            ("-1e-7", "-1e-7"),
        ];
        for (input, expected) in numbers {
            assert_eq!(canon(input).as_deref(), Some(*expected), "{input}");
        }
    }

    #[test]
    fn strings_use_the_minimal_escapes() {
        let cases: &[(&str, &str)] = &[
            (r#""\u0041\/""#, r#""A/""#),
            (r#""\u00e9""#, "\"é\""),
            ("\"\u{7f}\u{2028}\"", "\"\u{7f}\u{2028}\""),
            (
                r#""\b\f\n\r\t\u0000\u001F\"\\""#,
                r#""\b\f\n\r\t\u0000\u001f\"\\""#,
            ),
            (r#""\ud83d\ude00""#, "\"😀\""),
        ];
        for (input, expected) in cases {
            assert_eq!(canon(input).as_deref(), Some(*expected), "{input}");
        }
    }

    #[test]
    fn what_is_not_canonicalized() {
        for input in [
            "",
            "{",
            "[1,]",
            "{\"a\":1}x",
            "1e400",
            "-1e400",
            r#""\ud800""#,
            r#""\udc00x""#,
            "NaN",
            "'a'",
            "\u{feff}{}",
        ] {
            assert_eq!(canon(input), None, "{input:?}");
        }
        let deep = |n: usize| alloc::format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(canon(&deep(127)).is_some());
        assert_eq!(canon(&deep(128)), None);
    }

    #[test]
    fn numbers_beyond_15_significant_digits_are_compared_as_bytes() {
        for input in [
            "9007199254740993",
            "[1,{\"a\":-9007199254740993}]",
            "1234567890123456",
            "0.1000000000000000055511151231257827",
            "1.7976931348623157e308",
            "1.0000000000000001",
        ] {
            assert_eq!(canon(input), None, "{input}");
        }
        for input in [
            "[\"9007199254740993\"]",
            "{\"1234567890123456\":1}",
            "[\"\\\"\",123456789012345]",
            "1000000000000000000000000e-9",
        ] {
            assert!(canon(input).is_some(), "{input}");
        }
    }

    #[test]
    fn repeated_names_keep_the_last_value() {
        assert_eq!(
            canon(r#"{"a":1,"b":0,"a":2}"#).as_deref(),
            Some(r#"{"a":2,"b":0}"#)
        );
    }
}
