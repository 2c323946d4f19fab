//! [`IdempotencyConfig`]: the layer's settings and the policies that vary
//! between apps (principal, protected requests, fingerprint).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use http::{HeaderName, Method, header};

use crate::clock::{Clock, SystemClock};
use crate::principal::{DefaultPrincipal, MakePrincipal};
use crate::protocol::{self, STORED_HEADERS};

/// Which requests the layer guards; the rest pass straight through.
/// Implemented for closures `Fn(&Parts) -> bool`.
pub trait Protect: Send + Sync + 'static {
    /// Whether this request must go through the protocol.
    fn is_protected(&self, parts: &Parts) -> bool;
}

impl<F> Protect for F
where
    F: Fn(&Parts) -> bool + Send + Sync + 'static,
{
    fn is_protected(&self, parts: &Parts) -> bool {
        self(parts)
    }
}

/// The default [`Protect`]: the unsafe methods (`POST`, `PUT`, `PATCH`,
/// `DELETE`) on every route the layer is applied to.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnsafeMethods;

impl Protect for UnsafeMethods {
    fn is_protected(&self, parts: &Parts) -> bool {
        matches!(
            parts.method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        )
    }
}

/// What makes two requests "the same request" under one key: a digest of
/// the method, the path and the canonical body. Implemented for closures
/// `Fn(&Parts, &[u8]) -> String`.
pub trait MakeFingerprint: Send + Sync + 'static {
    /// The fingerprint of a request with these parts and body.
    fn fingerprint(&self, parts: &Parts, body: &[u8]) -> String;
}

impl<F> MakeFingerprint for F
where
    F: Fn(&Parts, &[u8]) -> String + Send + Sync + 'static,
{
    fn fingerprint(&self, parts: &Parts, body: &[u8]) -> String {
        self(parts, body)
    }
}

/// The default [`MakeFingerprint`]: [`protocol::fingerprint`] of the method,
/// the path with query, and the body canonicalized by its media type (JSON
/// keys sorted, form pairs sorted, anything else raw).
#[derive(Debug, Clone, Copy, Default)]
pub struct CanonicalBody;

impl MakeFingerprint for CanonicalBody {
    fn fingerprint(&self, parts: &Parts, body: &[u8]) -> String {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        protocol::fingerprint(&parts.method, &path_of(parts), content_type, body)
    }
}

/// The request's path with its query, as fingerprinted and recorded.
pub(crate) fn path_of(parts: &Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned())
}

/// Who stores a protected handler's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The handler commits its effect and its reply in one transaction of
    /// its own, through the store's typed API, and returns the
    /// [`Committed`](crate::Committed) receipt with its response. A success
    /// response without a receipt is refused with a 500 problem and the
    /// claim is kept until the lock timeout. A crash can never separate the
    /// effect from its stored reply.
    #[default]
    Transactional,
    /// The layer stores the handler's success reply itself, after the
    /// handler returned: for handlers that cannot share a transaction with
    /// the store. Weaker: a crash between the handler's commit and the
    /// layer's lets a retry (after the lock timeout) run the effect again.
    /// The layer reads the whole success response into memory to store it,
    /// so keep such responses small (not streams).
    Plain,
}

/// The layer's settings: a small, cheap-to-clone value built with chained
/// setters from [`IdempotencyConfig::new`].
#[derive(Clone)]
pub struct IdempotencyConfig {
    pub(crate) retention: Duration,
    pub(crate) lock_timeout: Duration,
    pub(crate) require_key: bool,
    pub(crate) body_limit: usize,
    pub(crate) mode: Mode,
    pub(crate) stored_headers: Arc<[HeaderName]>,
    pub(crate) principal: Arc<dyn MakePrincipal>,
    pub(crate) protect: Arc<dyn Protect>,
    pub(crate) fingerprint: Arc<dyn MakeFingerprint>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl fmt::Debug for IdempotencyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotencyConfig")
            .field("retention", &self.retention)
            .field("lock_timeout", &self.lock_timeout)
            .field("require_key", &self.require_key)
            .field("body_limit", &self.body_limit)
            .field("mode", &self.mode)
            .field("stored_headers", &self.stored_headers)
            .finish_non_exhaustive()
    }
}

impl IdempotencyConfig {
    /// The defaults, with [`DefaultPrincipal`] keyed by `principal_secret`:
    /// 24 h retention, 30 s lock timeout, keys optional, 64 KiB body limit,
    /// [`Mode::Transactional`], `Content-Type`, `Location` and `ETag` stored,
    /// [`UnsafeMethods`] protected, [`CanonicalBody`] fingerprints, the
    /// system clock.
    pub fn new(principal_secret: impl AsRef<[u8]>) -> Self {
        Self {
            retention: Duration::from_secs(24 * 60 * 60),
            lock_timeout: Duration::from_secs(30),
            require_key: false,
            body_limit: 64 * 1024,
            mode: Mode::Transactional,
            stored_headers: Arc::from(STORED_HEADERS.as_slice()),
            principal: Arc::new(DefaultPrincipal::new(principal_secret)),
            protect: Arc::new(UnsafeMethods),
            fingerprint: Arc::new(CanonicalBody),
            clock: Arc::new(SystemClock),
        }
    }

    /// How long a key is remembered; older keys are treated as new.
    /// Advertised as `Idempotency-Retention` (whole seconds).
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// How long a claim may stay unfinished before the next request with the
    /// same key and fingerprint takes it over (fence + 1).
    pub fn lock_timeout(mut self, lock_timeout: Duration) -> Self {
        self.lock_timeout = lock_timeout;
        self
    }

    /// Refuse protected requests without a key (400) instead of running them
    /// undeduplicated.
    pub fn require_key(mut self, require_key: bool) -> Self {
        self.require_key = require_key;
        self
    }

    /// The largest request body the layer reads to fingerprint it (413 above).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Who stores the reply; see [`Mode`].
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The response headers stored and replayed with a reply (replacing the
    /// default `Content-Type`, `Location`, `ETag`). `Set-Cookie` is never
    /// stored, even if named: a replay must not hand out a session.
    pub fn stored_headers(mut self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        self.stored_headers = names
            .into_iter()
            .filter(|name| name != header::SET_COOKIE)
            .collect();
        self
    }

    /// The principal policy (default [`DefaultPrincipal`]).
    pub fn principal(mut self, policy: impl MakePrincipal) -> Self {
        self.principal = Arc::new(policy);
        self
    }

    /// Which requests are protected (default [`UnsafeMethods`]).
    pub fn protect(mut self, policy: impl Protect) -> Self {
        self.protect = Arc::new(policy);
        self
    }

    /// The fingerprint, that is the body canonicalization (default [`CanonicalBody`]).
    pub fn fingerprint(mut self, policy: impl MakeFingerprint) -> Self {
        self.fingerprint = Arc::new(policy);
        self
    }

    /// The time source (default the system clock; [`crate::ManualClock`] in tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The principal the configured policy gives a request: for an app that
    /// shows users what is theirs without showing principals.
    pub fn principal_of(&self, parts: &Parts) -> String {
        self.principal.make_principal(parts)
    }

    /// See [`IdempotencyConfig::retention`].
    pub fn get_retention(&self) -> Duration {
        self.retention
    }

    /// See [`IdempotencyConfig::lock_timeout`].
    pub fn get_lock_timeout(&self) -> Duration {
        self.lock_timeout
    }

    /// See [`IdempotencyConfig::body_limit`].
    pub fn get_body_limit(&self) -> usize {
        self.body_limit
    }

    /// See [`IdempotencyConfig::mode`].
    pub fn get_mode(&self) -> Mode {
        self.mode
    }
}
