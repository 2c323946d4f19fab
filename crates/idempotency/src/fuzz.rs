//! Fuzz targets (feature `fuzz`): each takes arbitrary bytes, runs code that
//! reads untrusted input and checks its invariants, panicking when one
//! fails. The drivers are `fuzz/` (cargo-fuzz, nightly) and
//! `examples/fuzz.rs` (the stable driver,
//! `submit_guard_protocol::fuzz::run_targets`).

use crate::principal::{ANONYMOUS, DefaultPrincipal};
use http::{HeaderMap, HeaderName, HeaderValue};

/// A fuzz target: panics when an invariant fails.
pub type Target = fn(&[u8]);

/// Every target, by name (the names of the `fuzz/` targets and corpora).
pub const TARGETS: [(&str, Target); 1] = [("principal", principal)];

/// The header names a line can carry, chosen by its first byte.
const NAMES: [&str; 6] = [
    "authorization",
    "x-api-key",
    "cookie",
    "x-token",
    "x-other",
    "proxy-authorization",
];

/// The API-key headers and session cookie of the second policy the bytes
/// can pick (the first is the default: `X-API-Key` and `sid`).
const CUSTOM_KEYS: [&str; 2] = ["x-api-key", "x-token"];
const CUSTOM_COOKIE: &str = "__Host-session";

/// The default principal policy ([`DefaultPrincipal`]). The first byte
/// picks the policy (the default, or `X-API-Key` + `X-Token` and the cookie
/// `__Host-session`); the rest is two requests' header lines, separated by
/// an empty line, each line one byte for the header name then the value
/// (bytes `HeaderValue` refuses are dropped).
///
/// Checks: the principal is deterministic; two requests get the same
/// principal exactly when they carry the same credential, as the module docs
/// define it (every `Authorization` line; else the named API-key headers;
/// else the session cookie's value; else every `Cookie` line), whatever
/// other headers come with them; anonymous exactly when there is none.
pub fn principal(data: &[u8]) {
    let Some((&policy_byte, rest)) = data.split_first() else {
        return;
    };
    let custom = policy_byte & 1 == 1;
    let secret = [policy_byte; 32];
    let policy = if custom {
        DefaultPrincipal::new(secret)
            .api_key_headers(CUSTOM_KEYS.map(HeaderName::from_static))
            .session_cookie(CUSTOM_COOKIE)
    } else {
        DefaultPrincipal::new(secret)
    };
    let (keys, cookie): (&[&str], &str) = if custom {
        (&CUSTOM_KEYS, CUSTOM_COOKIE)
    } else {
        (&["x-api-key"], "sid")
    };
    let (a, b) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (
            rest.get(..at).unwrap_or_default(),
            rest.get(at + 2..).unwrap_or_default(),
        ),
        None => (rest, &[][..]),
    };
    let a = headers(a);
    let b = headers(b);
    // The first request without the headers that carry no credential.
    let mut bare = a.clone();
    for name in ["x-other", "proxy-authorization"] {
        bare.remove(name);
    }
    if !custom {
        bare.remove("x-token");
    }
    let requests = [a, b, bare];
    let found: Vec<(String, Credential)> = requests
        .iter()
        .map(|h| {
            let p = policy.of_headers(h);
            assert_eq!(p, policy.of_headers(&h.clone()), "not deterministic");
            (p, credential(h, keys, cookie))
        })
        .collect();
    for (p, cred) in &found {
        assert_eq!(
            p == ANONYMOUS,
            *cred == Credential::None,
            "{p} for {cred:?}"
        );
        assert!(p.starts_with(cred.kind()), "{p} for {cred:?}");
    }
    for (i, (p, c)) in found.iter().enumerate() {
        for (q, d) in found.iter().skip(i + 1) {
            assert_eq!(p == q, c == d, "{p} / {q} for {c:?} / {d:?}");
        }
    }
}

/// The credential a request carries, by the rules in the `principal` docs.
#[derive(Debug, PartialEq, Eq)]
enum Credential {
    Authorization(Vec<Vec<u8>>),
    ApiKeys(Vec<(String, Vec<u8>)>),
    Session(Vec<u8>),
    Cookies(Vec<Vec<u8>>),
    None,
}

impl Credential {
    fn kind(&self) -> &'static str {
        match self {
            Self::Authorization(_) => "auth:",
            Self::ApiKeys(_) => "key:",
            Self::Session(_) => "sid:",
            Self::Cookies(_) => "cookie:",
            Self::None => ANONYMOUS,
        }
    }
}

fn credential(headers: &HeaderMap, keys: &[&str], cookie: &str) -> Credential {
    let values = |name: &str| -> Vec<Vec<u8>> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.as_bytes().to_vec())
            .collect()
    };
    let auth = values("authorization");
    if !auth.is_empty() {
        return Credential::Authorization(auth);
    }
    let api: Vec<(String, Vec<u8>)> = keys
        .iter()
        .flat_map(|k| values(k).into_iter().map(|v| ((*k).to_owned(), v)))
        .collect();
    if !api.is_empty() {
        return Credential::ApiKeys(api);
    }
    let cookies = values("cookie");
    // RFC 6265 §5.4: pairs split on ';', name and value trimmed; the first
    // pair with the session cookie's exact name and a value.
    for line in &cookies {
        for pair in line.split(|&b| b == b';') {
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (name, value) = pair.split_at(eq);
            let value = value.get(1..).unwrap_or_default().trim_ascii();
            if name.trim_ascii() == cookie.as_bytes() && !value.is_empty() {
                return Credential::Session(value.to_vec());
            }
        }
    }
    if cookies.iter().any(|line| !line.trim_ascii().is_empty()) {
        return Credential::Cookies(cookies);
    }
    Credential::None
}

/// Header lines: a name byte, then the value.
fn headers(data: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some((&which, value)) = line.split_first() else {
            continue;
        };
        let name = NAMES
            .get(usize::from(which) % NAMES.len())
            .copied()
            .unwrap_or("x-other");
        // What a field value may hold: visible ASCII, space, tab, obs-text.
        let value: Vec<u8> = value
            .iter()
            .copied()
            .filter(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
            .collect();
        let value = HeaderValue::from_bytes(&value);
        assert!(value.is_ok(), "HeaderValue refused {value:?}");
        if let Ok(value) = value {
            map.append(HeaderName::from_static(name), value);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_target_accepts_anything_small() {
        let samples: &[&[u8]] = &[
            b"",
            b"\x00",
            b"\x00\n\n",
            b"\x00\x00Basic a\n\n\x00Basic b",
            b"\x01\x03t\n\n\x01x-api-key",
            b"\x00\x02sid=a; x=1\n\n\x02x=2; sid=a",
            b"\x00\x02sid=\n\n\x02  ",
            b"\x00\x04noise\n\x00\xff\x7f\r",
        ];
        for sample in samples {
            super::principal(sample);
        }
    }
}
