//! `application/x-www-form-urlencoded` (WHATWG URL §5): pairs sorted.

use super::cmp_utf16;
use alloc::string::String;
use alloc::vec::Vec;

/// The body's pairs, decoded, sorted by name then value, and re-encoded.
/// Every byte sequence parses, so this never fails.
pub(super) fn canonical(body: &[u8]) -> Vec<u8> {
    let mut pairs: Vec<_> = form_urlencoded::parse(body).collect();
    pairs.sort_by(|a, b| cmp_utf16(&a.0, &b.0).then_with(|| cmp_utf16(&a.1, &b.1)));
    form_urlencoded::Serializer::new(String::with_capacity(body.len()))
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(body: &str) -> String {
        String::from_utf8(canonical(body.as_bytes())).unwrap_or_default()
    }

    #[test]
    fn pairs_are_decoded_sorted_and_re_encoded() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("b=2&a=1", "a=1&b=2"),
            ("a=2&a=1&a=10", "a=1&a=10&a=2"),
            ("a=%41&b=x%20y", "a=A&b=x+y"),
            ("b=x+y", "b=x+y"),
            ("a", "a="),
            ("&&a=1&&", "a=1"),
            ("?a=1", "%3Fa=1"),
            ("a=%zz", "a=%25zz"),
            ("a=%FF", "a=%EF%BF%BD"),
            ("n=%C3%A9&m=~*-._!", "m=%7E*-._%21&n=%C3%A9"),
            ("a=1=2", "a=1%3D2"),
        ];
        for (body, expected) in cases {
            assert_eq!(canon(body), *expected, "{body:?}");
        }
    }
}
