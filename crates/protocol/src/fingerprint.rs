//! The request fingerprint the server stores with a key.

use crate::canonical::Canonical;
use alloc::string::String;
use sha2::{Digest, Sha256};

/// SHA-256 of the request's method, path with query, and canonical body.
///
/// The bytes hashed are `METHOD "\n" path-and-query "\n"`, then
/// `"canonical\n"` and the canonical body, or `"raw\n"` and the body when no
/// rule applied ([`Canonical::is_raw`]). Method and path are hashed as given:
/// the caller passes the method as sent (`POST`) and the request target,
/// neither of which can hold a line break in HTTP.
pub fn fingerprint(method: &str, path_and_query: &str, body: &Canonical<'_>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b"\n");
    hasher.update(path_and_query.as_bytes());
    hasher.update(b"\n");
    hasher.update(if body.is_raw() {
        &b"raw\n"[..]
    } else {
        b"canonical\n"
    });
    hasher.update(body.bytes());
    hasher.finalize().into()
}

/// [`fingerprint`] as 64 lower-case hex digits, the form stored records hold.
pub fn fingerprint_hex(method: &str, path_and_query: &str, body: &Canonical<'_>) -> String {
    to_hex(&fingerprint(method, path_and_query, body))
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        for nibble in [b >> 4, b & 0xf] {
            out.push(char::from(*HEX.get(usize::from(nibble)).unwrap_or(&b'0')));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical_payload;

    #[test]
    fn the_hashed_layout_is_the_stored_one() {
        // SHA-256 of "POST\n/p\nraw\n": records stored before this crate hold it.
        let empty = canonical_payload(Some("text/plain"), b"");
        assert_eq!(
            fingerprint_hex("POST", "/p", &empty),
            "7bdd63af5fdd809fdc37af0c315bd4f1110fe1af465e7d175f9b4e057e375699"
        );
        // SHA-256 of "POST\n/p\ncanonical\n{\"a\":1}".
        let json = canonical_payload(Some("application/json"), b"{ \"a\" : 1 }");
        assert_eq!(
            fingerprint_hex("POST", "/p", &json),
            "aeb68a1a0970f6114766d62d2fcbdda4715b6c72809177f2b4263125613fd3d2"
        );
    }

    #[test]
    fn method_path_and_body_each_count() {
        let body = canonical_payload(Some("application/json"), br#"{"name":"acme"}"#);
        let base = fingerprint("POST", "/api/orgs", &body);
        assert_ne!(base, fingerprint("PUT", "/api/orgs", &body));
        assert_ne!(base, fingerprint("POST", "/api/orgs?x=1", &body));
        let other = canonical_payload(Some("application/json"), br#"{"name":"acme2"}"#);
        assert_ne!(base, fingerprint("POST", "/api/orgs", &other));
        // The same bytes, raw and canonical, differ.
        let raw = canonical_payload(Some("text/plain"), br#"{"name":"acme"}"#);
        assert_ne!(base, fingerprint("POST", "/api/orgs", &raw));
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(to_hex(&[0x00, 0xab, 0xff, 0x10]), "00abff10");
    }
}
