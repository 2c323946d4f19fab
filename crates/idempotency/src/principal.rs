//! Who is asking: records are scoped by principal, so one user never sees
//! another's replay, nor learns (from a 422) that another used a key.
//!
//! [`DefaultPrincipal`] never lets two distinct credentials share a record:
//!
//! 1. any `Authorization` header, whatever its scheme and bytes (`Basic`,
//!    `Digest`, `Bearer<TAB>…`, non-ASCII): `auth:` + a MAC of every
//!    `Authorization` line;
//! 2. else any of the API-key headers the app names (default `X-API-Key`):
//!    `key:` + a MAC of their names and values;
//! 3. else the session cookie (default `sid`, exact, case-sensitive name,
//!    non-empty value): `sid:` + a MAC of its value, whatever other cookies
//!    come with it;
//! 4. else, if the request carries any cookie at all: `cookie:` + a MAC of
//!    every `Cookie` line. Cookies the app did not name may still be
//!    credentials (another session cookie, `SID`, a framework's token), and
//!    the safe failure is to keep two users apart: the cost is that a retry
//!    whose unnamed cookies changed is a new request. Name the session
//!    cookie so that only it counts;
//! 5. else `anonymous`: the request carries no credential at all.
//!
//! The MAC is HMAC-SHA-256 keyed with a server secret, truncated to 128
//! bits, in hex: credentials are never stored, and a principal cannot be
//! reversed offline into a weak token without the secret. Keep the secret
//! stable across restarts (records made under another secret belong to
//! nobody), and apart from the records where you can: whoever holds both
//! can test guesses of a weak token against a principal.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use http::header::{AUTHORIZATION, COOKIE};
use http::request::Parts;
use http::{HeaderMap, HeaderName};
use sha2::Sha256;

/// The principal of requests without any credential.
pub const ANONYMOUS: &str = "anonymous";

/// Names the principal of a request. Implemented for closures
/// `Fn(&Parts) -> String`.
///
/// Two requests get the same principal only if they come from the same
/// user: a principal shared by two users lets one receive the other's
/// stored reply.
pub trait MakePrincipal: Send + Sync + 'static {
    /// The principal of the request with these parts.
    fn make_principal(&self, parts: &Parts) -> String;
}

impl<F> MakePrincipal for F
where
    F: Fn(&Parts) -> String + Send + Sync + 'static,
{
    fn make_principal(&self, parts: &Parts) -> String {
        self(parts)
    }
}

/// The default principal policy; see the module docs.
#[derive(Clone)]
pub struct DefaultPrincipal {
    mac: Hmac<Sha256>,
    api_key_headers: Vec<HeaderName>,
    session_cookie: String,
}

impl std::fmt::Debug for DefaultPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultPrincipal")
            .field("api_key_headers", &self.api_key_headers)
            .field("session_cookie", &self.session_cookie)
            .finish_non_exhaustive()
    }
}

impl DefaultPrincipal {
    /// The policy keyed with `secret` (use at least 32 random bytes), with
    /// `X-API-Key` as the API-key header and `sid` as the session cookie.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self {
            // HMAC takes keys of any length.
            mac: <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_ref())
                .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default())),
            api_key_headers: vec![HeaderName::from_static("x-api-key")],
            session_cookie: "sid".to_owned(),
        }
    }

    /// The headers that carry API keys (replacing the default `X-API-Key`).
    pub fn api_key_headers(mut self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        self.api_key_headers = names.into_iter().collect();
        self
    }

    /// The session cookie's exact name (default `sid`).
    pub fn session_cookie(mut self, name: impl Into<String>) -> Self {
        self.session_cookie = name.into();
        self
    }

    /// The principal for these request headers.
    pub fn of_headers(&self, headers: &HeaderMap) -> String {
        let lines = |name: &HeaderName| -> Vec<&[u8]> {
            headers
                .get_all(name)
                .iter()
                .map(http::HeaderValue::as_bytes)
                .collect()
        };
        let auth = lines(&AUTHORIZATION);
        if !auth.is_empty() {
            return self.tagged("auth", &auth);
        }
        let mut keys = Vec::new();
        for name in &self.api_key_headers {
            for value in headers.get_all(name) {
                keys.push(name.as_str().as_bytes());
                keys.push(value.as_bytes());
            }
        }
        if !keys.is_empty() {
            return self.tagged("key", &keys);
        }
        let cookies = lines(&COOKIE);
        let session = cookies
            .iter()
            .flat_map(|line| line.split(|&b| b == b';'))
            .filter_map(|pair| {
                let pair = pair.trim_ascii();
                let eq = pair.iter().position(|&b| b == b'=')?;
                Some((
                    pair.get(..eq)?.trim_ascii(),
                    pair.get(eq + 1..)?.trim_ascii(),
                ))
            })
            .find(|(name, value)| *name == self.session_cookie.as_bytes() && !value.is_empty());
        if let Some((_, value)) = session {
            return self.tagged("sid", &[value]);
        }
        if cookies.iter().any(|line| !line.trim_ascii().is_empty()) {
            return self.tagged("cookie", &cookies);
        }
        ANONYMOUS.to_owned()
    }

    /// `kind:` + the first 128 bits of HMAC(kind, each part length-prefixed), in hex.
    fn tagged(&self, kind: &str, parts: &[&[u8]]) -> String {
        let mut mac = self.mac.clone();
        mac.update(kind.as_bytes());
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        let digest = mac.finalize().into_bytes();
        let mut hex = String::with_capacity(kind.len() + 33);
        hex.push_str(kind);
        hex.push(':');
        for byte in digest.iter().take(16) {
            hex.push_str(&format!("{byte:02x}"));
        }
        hex
    }
}

impl MakePrincipal for DefaultPrincipal {
    fn make_principal(&self, parts: &Parts) -> String {
        self.of_headers(&parts.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn principal(policy: &DefaultPrincipal, headers: &[(&str, &[u8])]) -> String {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::try_from(*name).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        policy.of_headers(&map)
    }

    #[test]
    fn distinct_credentials_get_distinct_principals() {
        let p = DefaultPrincipal::new(b"secret");
        let table: &[&[(&str, &[u8])]] = &[
            &[],
            &[("authorization", b"Basic YWxpY2U6cHc=")],
            &[("authorization", b"Basic Ym9iOnB3")],
            &[("authorization", b"Digest username=\"a\"")],
            &[("authorization", b"Bearer\talice")],
            &[("authorization", b"Bearer\tbob")],
            &[("authorization", b"Bearer caf\xe9")],
            &[("authorization", b"Bearer caf\xe8")],
            &[("authorization", b"Bearer same")],
            &[("authorization", b"Bearer same"), ("authorization", b"x")],
            &[("x-api-key", b"same")],
            &[("x-api-key", b"other")],
            &[("cookie", b"sid=same")],
            &[("cookie", b"SID=same")],
            &[("cookie", b"session=same")],
            &[("cookie", b"session=other")],
            &[("cookie", b"sid=")],
        ];
        let all: Vec<String> = table.iter().map(|h| principal(&p, h)).collect();
        for (i, a) in all.iter().enumerate() {
            for (j, b) in all.iter().enumerate().skip(i + 1) {
                assert_ne!(a, b, "{:?} and {:?} share a principal", table[i], table[j]);
            }
        }
        assert_eq!(all[0], ANONYMOUS);
    }

    #[test]
    fn the_same_credential_keeps_its_principal() {
        let p = DefaultPrincipal::new(b"secret");
        let sid = principal(&p, &[("cookie", b"theme=dark; sid=s1")]);
        assert_eq!(sid, principal(&p, &[("cookie", b"sid=s1")]));
        assert_eq!(
            sid,
            principal(&p, &[("cookie", b"a=1"), ("cookie", b" sid = s1 ")])
        );
        // Authorization wins over API keys and cookies.
        let auth = principal(&p, &[("authorization", b"Basic x")]);
        assert_eq!(
            auth,
            principal(
                &p,
                &[
                    ("authorization", b"Basic x"),
                    ("x-api-key", b"k"),
                    ("cookie", b"sid=1")
                ]
            )
        );
        assert!(auth.starts_with("auth:") && auth.len() == 5 + 32, "{auth}");
    }

    #[test]
    fn principals_depend_on_the_secret_and_hide_the_credential() {
        let a = DefaultPrincipal::new(b"one");
        let b = DefaultPrincipal::new(b"two");
        let headers: &[(&str, &[u8])] = &[("authorization", b"Bearer hunter2")];
        assert_ne!(principal(&a, headers), principal(&b, headers));
        assert!(!principal(&a, headers).contains("hunter2"));
        // HMAC-SHA-256(key "one", "auth" || u64 BE length || "Bearer hunter2"),
        // first 16 bytes in hex: pinned, because stored records depend on it.
        assert_eq!(
            principal(&a, headers),
            "auth:084aba43d5b4cb835ebafdf3e362e663"
        );
    }

    #[test]
    fn configured_names_are_exact() {
        let p = DefaultPrincipal::new(b"s")
            .session_cookie("session")
            .api_key_headers([HeaderName::from_static("x-token")]);
        let s = principal(&p, &[("cookie", b"session=a; other=1")]);
        assert_eq!(s, principal(&p, &[("cookie", b"other=2; session=a")]));
        assert!(s.starts_with("sid:"));
        assert!(principal(&p, &[("x-token", b"t")]).starts_with("key:"));
        // X-API-Key is no longer named: it is not a credential here, but the
        // unnamed cookie still keeps users apart.
        assert_eq!(principal(&p, &[("x-api-key", b"t")]), ANONYMOUS);
        assert!(principal(&p, &[("cookie", b"sid=a")]).starts_with("cookie:"));
    }
}
