//! The idempotency key and the payload fingerprint it was last sent with.
//!
//! The lifecycle rules (see the crate docs) live in [`KeyLife`]: a key is made
//! at construction, reused for every retry and every resubmit of the same
//! payload, and replaced only after a success, when the payload changes, or on
//! reset. Randomness comes from the caller as 16 bytes, so the rules are plain
//! functions that tests drive deterministically.

use alloc::borrow::ToOwned;
use alloc::string::String;

use core::hash::Hasher;

use fnv::FnvHasher;

/// The lower-case hex digit for the low four bits of `n`.
fn hex(n: u64) -> char {
    let digit = (n & 0xf) as u8;
    char::from(if digit < 10 { b'0' } else { b'a' - 10 } + digit)
}

/// Formats 16 random bytes as a UUID version 4 key: 36 characters, hyphenated,
/// lower case, with the version and variant bits set (RFC 9562 §5.4).
pub fn uuid_v4(mut random: [u8; 16]) -> String {
    random[6] = (random[6] & 0x0f) | 0x40;
    random[8] = (random[8] & 0x3f) | 0x80;
    let mut key = String::with_capacity(36);
    for (i, byte) in random.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            key.push('-');
        }
        key.push(hex(u64::from(byte >> 4)));
        key.push(hex(u64::from(*byte)));
    }
    key
}

/// Whether requests with `method` carry the key, are deduplicated and may be
/// retried: every method but the safe ones (RFC 9110 §9.2.1), compared
/// without regard to case. The server keeps the same list.
pub fn carries_key(method: &str) -> bool {
    !["GET", "HEAD", "OPTIONS", "TRACE"]
        .iter()
        .any(|safe| safe.eq_ignore_ascii_case(method))
}

/// The key as the header value: bare, or as an RFC 8941 sf-string (`"…"`,
/// with `"` and `\` escaped) when `quote` is on.
pub fn wire_key(key: &str, quote: bool) -> String {
    if !quote {
        return key.to_owned();
    }
    let mut quoted = String::with_capacity(key.len() + 2);
    quoted.push('"');
    for c in key.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// The fingerprint of a submission: its method (upper-cased here), its
/// absolute URL and its payload as the driver reads it (`payloadOf`).
pub fn fingerprint(method: &str, url: &str, payload: &str) -> Fingerprint {
    let mut hash = FingerprintBuilder::new();
    // Upper-cased a byte at a time as it is hashed: no copy is allocated.
    hash.begin(Part::Method, method.len() as u64);
    for byte in method.bytes() {
        hash.write(&[byte.to_ascii_uppercase()]);
    }
    hash.part(Part::Url, url.as_bytes())
        .part(Part::Text, payload.as_bytes());
    hash.finish()
}

/// A 64-bit digest of what a submission sends: method, URL and body.
///
/// It only has to tell "the user changed the form" from "the user pressed
/// submit again", locally, so a fast non-cryptographic hash (FNV-1a) is enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    /// The fingerprint as 16 lower-case hex digits, for storage.
    pub fn to_hex(self) -> String {
        let mut text = String::with_capacity(16);
        for i in (0..16).rev() {
            text.push(hex(self.0 >> (i * 4)));
        }
        text
    }

    /// Parses what [`Fingerprint::to_hex`] wrote.
    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 16 {
            return None;
        }
        text.bytes()
            .try_fold(0u64, |n, b| {
                Some(n << 4 | u64::from((b as char).to_digit(16)?))
            })
            .map(Self)
    }
}

/// Builds a [`Fingerprint`] from the parts of a request.
///
/// Every part is tagged and length-prefixed, so `("ab", "c")` and `("a", "bc")`
/// never collide by construction, and a body given as text hashes differently
/// from the same bytes given as a form field.
#[derive(Default)]
pub struct FingerprintBuilder {
    hasher: FnvHasher,
}

/// What a part of the fingerprint is; written before the part.
#[derive(Clone, Copy, Debug)]
#[repr(u8)]
pub enum Part {
    /// The request method, upper-cased by the caller.
    Method = 1,
    /// The absolute request URL.
    Url = 2,
    /// A text body (string, JSON text, `URLSearchParams`).
    Text = 3,
    /// A binary body (`Blob`, `ArrayBuffer`, typed array).
    Bytes = 4,
    /// The name of a form field.
    FieldName = 5,
    /// The text value of a form field.
    FieldText = 6,
    /// The file name and type of a form field holding a file.
    FieldFile = 7,
    /// A request without a body.
    NoBody = 8,
}

impl FingerprintBuilder {
    /// Starts a fingerprint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one whole tagged part.
    pub fn part(&mut self, part: Part, bytes: &[u8]) -> &mut Self {
        self.begin(part, bytes.len() as u64).write(bytes)
    }

    /// Starts a tagged part of `len` bytes that arrives in pieces through
    /// [`FingerprintBuilder::write`], e.g. a large `Blob` read in chunks.
    pub fn begin(&mut self, part: Part, len: u64) -> &mut Self {
        self.hasher.write_u8(part as u8);
        self.hasher.write_u64(len);
        self
    }

    /// Adds the next piece of the part started by [`FingerprintBuilder::begin`].
    pub fn write(&mut self, bytes: &[u8]) -> &mut Self {
        self.hasher.write(bytes);
        self
    }

    /// The fingerprint of everything added so far.
    pub fn finish(&self) -> Fingerprint {
        Fingerprint(self.hasher.finish())
    }
}

/// The current key and the fingerprint of the payload it was last sent with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLife {
    key: String,
    sent_with: Option<Fingerprint>,
}

impl KeyLife {
    /// A fresh key that has not been sent yet.
    pub fn new(key: String) -> Self {
        Self {
            key,
            sent_with: None,
        }
    }

    /// A key restored from storage together with the payload it was sent with.
    pub fn restored(key: String, sent_with: Option<Fingerprint>) -> Self {
        Self { key, sent_with }
    }

    /// The current key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The fingerprint the current key was last sent with, if it was sent.
    pub fn sent_with(&self) -> Option<Fingerprint> {
        self.sent_with
    }

    /// The key to send `payload` with. The key is replaced (by `fresh`) only if
    /// it was already sent with a different payload: the user edited the form
    /// after a failure. Returns whether the key was replaced.
    ///
    /// `None` means the payload is unknown (a `run` task): the key is kept.
    pub fn prepare(
        &mut self,
        payload: Option<Fingerprint>,
        fresh: impl FnOnce() -> String,
    ) -> bool {
        let changed = matches!((self.sent_with, payload), (Some(old), Some(new)) if old != new);
        if changed {
            self.key = fresh();
        }
        if payload.is_some() {
            self.sent_with = payload;
        }
        changed
    }

    /// Replaces the key: after a success, or on reset.
    pub fn replace(&mut self, fresh: String) {
        self.key = fresh;
        self.sent_with = None;
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn fp(parts: &[(Part, &str)]) -> Fingerprint {
        let mut b = FingerprintBuilder::new();
        for (part, text) in parts {
            b.part(*part, text.as_bytes());
        }
        b.finish()
    }

    #[test]
    fn uuid_v4_has_version_and_variant_bits() {
        let key = uuid_v4([0xff; 16]);
        assert_eq!(key.len(), 36);
        assert_eq!(key, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(uuid_v4([0; 16]), "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn safe_methods_carry_no_key() {
        for (method, keyed) in [
            ("POST", true),
            ("put", true),
            ("Patch", true),
            ("DELETE", true),
            ("PURGE", true),
            ("GET", false),
            ("get", false),
            ("HEAD", false),
            ("OPTIONS", false),
            ("trace", false),
        ] {
            assert_eq!(carries_key(method), keyed, "{method}");
        }
    }

    #[test]
    fn quoted_keys_are_sf_strings() {
        assert_eq!(wire_key("abc", false), "abc");
        assert_eq!(wire_key("abc", true), "\"abc\"");
        assert_eq!(wire_key("a\"b\\c", true), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn fingerprints_tell_method_url_and_payload_apart() {
        let base = fingerprint("post", "https://x/a", "{}");
        assert_eq!(base, fingerprint("POST", "https://x/a", "{}"));
        assert_ne!(base, fingerprint("PUT", "https://x/a", "{}"));
        assert_ne!(base, fingerprint("POST", "https://x/b", "{}"));
        assert_ne!(base, fingerprint("POST", "https://x/a", "{ }"));
        assert_ne!(
            fingerprint("POST", "https://x/a1", ""),
            fingerprint("POST", "https://x/a", "1")
        );
    }

    proptest::proptest! {
        #[test]
        fn uuids_are_v4_whatever_the_bytes(bytes in proptest::array::uniform16(0u8..)) {
            let key = uuid_v4(bytes);
            let reference = uuid::Builder::from_random_bytes(bytes).into_uuid().hyphenated().to_string();
            proptest::prop_assert_eq!(key, reference);
        }

        #[test]
        fn hex_round_trips_any_fingerprint(n in 0u64..) {
            proptest::prop_assert_eq!(Fingerprint::from_hex(&Fingerprint(n).to_hex()), Some(Fingerprint(n)));
        }
    }

    #[test]
    fn parts_are_framed_so_boundaries_matter() {
        let a = fp(&[(Part::FieldName, "ab"), (Part::FieldText, "c")]);
        let b = fp(&[(Part::FieldName, "a"), (Part::FieldText, "bc")]);
        assert_ne!(a, b);
        let text = fp(&[(Part::Text, "x")]);
        let bytes = fp(&[(Part::Bytes, "x")]);
        assert_ne!(text, bytes);
        assert_eq!(fp(&[(Part::Text, "x")]), text);
    }

    #[test]
    fn chunked_part_equals_whole_part() {
        let whole = fp(&[(Part::Bytes, "hello world")]);
        let mut b = FingerprintBuilder::new();
        b.begin(Part::Bytes, 11).write(b"hello").write(b" world");
        assert_eq!(b.finish(), whole);
    }

    #[test]
    fn hex_round_trips() {
        let f = Fingerprint(0x0123_4567_89ab_cdef);
        assert_eq!(f.to_hex(), "0123456789abcdef");
        assert_eq!(Fingerprint::from_hex(&f.to_hex()), Some(f));
        assert_eq!(Fingerprint::from_hex("xyz"), None);
        assert_eq!(Fingerprint::from_hex("0123456789abcdeg"), None);
    }

    #[test]
    fn key_lifecycle_table() {
        let a = Some(Fingerprint(1));
        let b = Some(Fingerprint(2));
        // (sent before, payload now, key replaced?)
        let table = [
            (None, a, false),    // first send
            (a, a, false),       // resubmit of the same payload
            (a, b, true),        // edited after a failure
            (a, None, false),    // a run task: payload unknown
            (None, None, false), // a run task, first send
        ];
        for (before, now, replaced) in table {
            let mut life = KeyLife::restored("k1".into(), before);
            let did = life.prepare(now, || "k2".into());
            assert_eq!(did, replaced, "{before:?} then {now:?}");
            assert_eq!(life.key(), if replaced { "k2" } else { "k1" });
            assert_eq!(life.sent_with(), now.or(before));
        }
    }

    #[test]
    fn replace_forgets_the_payload() {
        let mut life = KeyLife::restored("k1".into(), Some(Fingerprint(1)));
        life.replace("k2".into());
        assert_eq!(life, KeyLife::new("k2".into()));
    }
}
