//! The Idempotency-Key protocol rules that both halves of submit-guard share:
//! the browser client (through wasm and `js/canonical.js`) and the server.
//!
//! - [`parse_key`] / [`quote_key`]: the `Idempotency-Key` field,
//!   draft-ietf-httpapi-idempotency-key-header-07 §2 (an RFC 8941 sf-string;
//!   the bare form is accepted too).
//! - [`canonical_payload`]: when two request bodies are the same payload —
//!   JSON per RFC 8785 (JCS), `application/x-www-form-urlencoded` per the
//!   WHATWG URL standard, `multipart/form-data` per RFC 7578, anything else
//!   byte for byte. One table of same/different cases,
//!   `tests/vectors/payload.json`, checks this crate and `js/canonical.js`.
//! - [`fingerprint`]: SHA-256 of method, path and canonical body, as the
//!   server stores it (feature `fingerprint`).
//! - [`parse_retry_after`]: the `Retry-After` field, RFC 9110 §10.2.3.
//!
//! Pure functions over bytes: no I/O, no clock (the caller passes `now`),
//! `no_std` with `alloc`. Features: `canonical` (default; `serde_json`,
//! `ryu-js`, `form_urlencoded`, `memchr`), `fingerprint` (default; `sha2`),
//! `fuzz` (the fuzz targets, module `fuzz`). With no features, only the key
//! and `Retry-After` rules are built, with no dependency.
//!
//! ```
//! use submit_guard_protocol::{canonical_payload, parse_key, parse_retry_after, quote_key};
//!
//! let key = parse_key("\"8e2b6c1a\"").unwrap();
//! assert_eq!(parse_key("8e2b6c1a").unwrap(), key);
//! assert_eq!(quote_key(&key), "\"8e2b6c1a\"");
//!
//! let json = Some("application/json");
//! let a = canonical_payload(json, br#"{"name":"Acme","seats":1.0}"#);
//! let b = canonical_payload(json, br#"{ "seats": 1, "name": "\u0041cme" }"#);
//! assert_eq!(a, b);
//!
//! assert_eq!(parse_retry_after("120", 0), Some(120_000));
//! ```

#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(any(test, feature = "fuzz"))]
extern crate std;

#[cfg(feature = "canonical")]
pub mod canonical;
#[cfg(feature = "fingerprint")]
mod fingerprint;
#[cfg(feature = "fuzz")]
pub mod fuzz;
mod key;
mod retry_after;

#[cfg(feature = "canonical")]
pub use canonical::{Canonical, Form, canonical_payload, is_json, multipart_entries};
#[cfg(feature = "fingerprint")]
pub use fingerprint::{fingerprint, fingerprint_hex, to_hex};
pub use key::{Key, KeyError, MAX_KEY_LEN, parse_key, quote_key};
pub use retry_after::parse_retry_after;
