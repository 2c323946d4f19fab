//! # submit-guard-server
//!
//! The server half of the IETF Idempotency-Key protocol
//! (draft-ietf-httpapi-idempotency-key-header-07), written as the reference
//! the [submit-guard](https://github.com/submit-guard/submit-guard) browser
//! client is tested against. A form submitted twice (double click, retry
//! after a timeout, a lost response) carries the same `Idempotency-Key`;
//! this server runs it once and replays the stored response to every repeat.
//!
//! The protocol itself (key parsing, principals, fingerprints, claims,
//! replays, fencing, the stores' records) is the
//! [`submit_guard_idempotency`] crate's `IdempotencyLayer`; this server is
//! one user of it. Its own part is the demo domain ([`domain`]: the
//! [`Store`] trait, memory, SQLite and PostgreSQL), whose handlers commit their effect
//! and their reply in one transaction through the crate's typed API, and
//! test mode's faults ([`faults`]), which stay outside the library.
//!
//! **Atomicity.** A handler's domain statements and the record's `UPDATE
//! idempotency_keys SET state = 'done', … WHERE fence = ? AND state =
//! 'locked'` run in one transaction ([`Store::transact`]); if that update
//! matches no row, everything rolls back. One SQLite writer connection in
//! WAL mode sits behind a mutex and is used from `spawn_blocking`, so
//! concurrency never yields `SQLITE_BUSY` (and never a 5xx) inside the
//! process; reads run on read-only connections of their own, in WAL
//! snapshots, so read load never holds up writes; claims
//! and releases commit with `synchronous = NORMAL`, effects with `FULL` (one
//! fsync per keyed request). [`MemoryStore`] has the same semantics with a
//! mutex and copy-on-commit over persistent collections, called inline.
//!
//! **Principals** are keyed hashes (HMAC-SHA-256) of the request's
//! credential, with a secret from `--principal-secret`, or else one the
//! store creates on first start and keeps (in the SQLite file, so records
//! stay valid across restarts; per process for the memory store). They are
//! never listed: `GET /api/orgs` says `mine: true|false` instead.
//!
//! ## As a library
//!
//! [`app`] builds the router without side effects; [`serve`] runs it (use it
//! rather than `axum::serve`: it bounds slow and idle connections, see
//! [`ConnLimits`], and lets `drop-after-commit` close a socket).
//!
//! ```no_run
//! use std::sync::Arc;
//! use submit_guard_server::{Config, MemoryStore, app, serve};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let mut config = Config::new(Arc::new(MemoryStore::new()));
//!     config.test_mode = true;
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//!     println!("listening on http://{}", listener.local_addr()?);
//!     let router = app(config).map_err(std::io::Error::other)?;
//!     serve(listener, router, async { let _ = tokio::signal::ctrl_c().await; }).await;
//!     Ok(())
//! }
//! ```
//!
//! Modules: [`domain`] (the store trait, memory and SQLite), `routes` (one
//! file per resource, plus the test endpoints), [`faults`] (test mode),
//! [`problem`] (RFC 9457, the demo's types), [`model`] (domain types);
//! [`protocol`] and [`clock`] are the library's.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod domain;
pub mod faults;
pub mod model;
pub mod problem;
mod routes;
mod serve;

pub use submit_guard_idempotency::{clock, protocol};
// `faults` reaches the store through this older path.
pub(crate) use domain as store;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use submit_guard_idempotency::{IdempotencyConfig, IdempotencyLayer};
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

pub use clock::{Clock, ManualClock, SystemClock};
pub use domain::{MemoryStore, PostgresStore, SqliteOptions, SqliteStore, Store, StoreError};
pub use serve::{ConnLimits, serve, serve_with};

use crate::clock::millis;
use crate::problem::{PROBLEM_JSON, Problem};
use crate::routes::testing::RequestLog;

/// Everything [`app`] needs. Build with [`Config::new`] and adjust fields.
#[derive(Clone)]
pub struct Config {
    /// Domain data, beside the idempotency records it commits with.
    pub store: Arc<dyn Store>,
    /// The key principals are derived with (`--principal-secret`); `None`
    /// uses the store's own ([`Store::principal_secret`]).
    pub principal_secret: Option<Vec<u8>>,
    /// How long a key is remembered (`--retention`, default 24 h); older keys
    /// are treated as new. Advertised as `Idempotency-Retention`.
    pub retention: Duration,
    /// How long a claim may stay unfinished before the next request with the
    /// same key takes it over (`--lock-timeout`, default 30 s).
    pub lock_timeout: Duration,
    /// Reject unsafe requests to protected endpoints that carry no key
    /// (`--require-key`, default off).
    pub require_key: bool,
    /// Enable `X-Fault`, `POST /api/_reset` and `GET /api/_requests`
    /// (`--test-mode`, default off).
    pub test_mode: bool,
    /// Largest accepted request body in bytes (`--body-limit`, default 64 KiB).
    pub body_limit: usize,
    /// Run the idempotency layer in front of the protected endpoints
    /// (default on). Off (`--no-idempotency`) is a benchmarking aid: the same
    /// routes and handlers without the middleware, so an `Idempotency-Key` is
    /// ignored and every request runs its handler, as a server without the
    /// protocol would. Never turn it off in production.
    pub idempotency: bool,
    /// Serve this directory at `/` (`--static`).
    pub static_dir: Option<PathBuf>,
    /// The time source.
    pub clock: Arc<dyn Clock>,
}

impl Config {
    /// The defaults around `store`: 24 h retention, 30 s lock timeout, keys
    /// optional, test mode off, 64 KiB body limit, no static dir, system
    /// clock, the idempotency layer on.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            principal_secret: None,
            retention: Duration::from_secs(24 * 60 * 60),
            lock_timeout: Duration::from_secs(30),
            require_key: false,
            test_mode: false,
            body_limit: 64 * 1024,
            idempotency: true,
            static_dir: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("retention", &self.retention)
            .field("lock_timeout", &self.lock_timeout)
            .field("require_key", &self.require_key)
            .field("test_mode", &self.test_mode)
            .field("body_limit", &self.body_limit)
            .field("idempotency", &self.idempotency)
            .field("static_dir", &self.static_dir)
            .finish_non_exhaustive()
    }
}

/// Shared per-app state: the config, the layer's config (for principals)
/// and the test mode request log.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) idempotency: IdempotencyConfig,
    pub(crate) log: RequestLog,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The idempotency layer's settings for `config`: its durations, key rule,
/// body limit and clock, principals keyed with `secret`.
pub fn idempotency_config(config: &Config, secret: &[u8]) -> IdempotencyConfig {
    IdempotencyConfig::new(secret)
        .retention(config.retention)
        .lock_timeout(config.lock_timeout)
        .require_key(config.require_key)
        .body_limit(config.body_limit)
        .clock(config.clock.clone())
}

/// Builds the HTTP application. Nothing is bound, spawned or global; all
/// state lives in `config.store` and the returned router. The store is
/// asked for its principal secret (created on first use) unless
/// `config.principal_secret` is set; that failing is the error.
pub fn app(config: Config) -> Result<Router, StoreError> {
    let secret = match &config.principal_secret {
        Some(secret) => secret.clone(),
        None => config.store.principal_secret()?,
    };
    let test_mode = config.test_mode;
    let body_limit = config.body_limit;
    let static_dir = config.static_dir.clone();
    let layer = config.idempotency.then(|| {
        IdempotencyLayer::from_arc(config.store.records(), idempotency_config(&config, &secret))
    });
    let state = AppState(Arc::new(Shared {
        idempotency: idempotency_config(&config, &secret),
        config,
        log: RequestLog::default(),
    }));

    let mut router = routes::api(&state, layer);
    router = match static_dir {
        Some(dir) => router.fallback_service(ServeDir::new(dir)),
        None => router.fallback(|| async { Problem::not_found("no such resource") }),
    };
    if test_mode {
        router = router.layer(from_fn_with_state(state.clone(), faults::inject));
    }
    router = router
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(from_fn(problem_for_bare_413))
        .layer(from_fn(serve::limit_head))
        .layer(cors(test_mode))
        .layer(TraceLayer::new_for_http());
    if test_mode {
        router = router.layer(from_fn_with_state(state.clone(), routes::testing::record));
    }
    Ok(router.with_state(state))
}

/// CORS for a browser demo on another origin: any origin, no credentials.
fn cors(test_mode: bool) -> CorsLayer {
    let mut allow = vec![
        protocol::IDEMPOTENCY_KEY,
        header::CONTENT_TYPE,
        header::AUTHORIZATION,
    ];
    if test_mode {
        allow.push(faults::X_FAULT);
    }
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(allow)
        .expose_headers([
            protocol::IDEMPOTENT_REPLAYED,
            header::RETRY_AFTER,
            header::LOCATION,
            header::ETAG,
            protocol::IDEMPOTENCY_RETENTION,
        ])
        .max_age(Duration::from_secs(600))
}

/// `RequestBodyLimitLayer` answers an oversized `Content-Length` with a bare
/// 413; give it a problem body like every other error.
async fn problem_for_bare_413(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(req).await;
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes() == PROBLEM_JSON.as_bytes());
    if response.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE && !is_problem {
        return Problem::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            problem::BODY_TOO_LARGE,
            "the request body is larger than the server accepts",
        )
        .into_response();
    }
    response
}

/// Deletes idempotency records older than the retention window (keeping
/// locks that have not yet expired); `main` runs it periodically. Returns
/// how many records were deleted.
pub async fn purge_expired(config: &Config) -> Result<u64, StoreError> {
    let now = config.clock.now_ms();
    config
        .store
        .records()
        .purge(
            now.saturating_sub(millis(config.retention)),
            now.saturating_sub(millis(config.lock_timeout)),
        )
        .await
}
