//! # submit-guard-server
//!
//! The server half of the IETF Idempotency-Key protocol
//! (draft-ietf-httpapi-idempotency-key-header-07), written as the reference
//! the [submit-guard](https://github.com/submit-guard/submit-guard) browser
//! client is tested against. A form submitted twice (double click, retry
//! after a timeout, a lost response) carries the same `Idempotency-Key`;
//! this server runs it once and replays the stored response to every repeat.
//!
//! The point is atomicity: the key is claimed with one conditional
//! statement, never read-then-write, and a request's effect and its stored
//! response commit in **one** SQLite transaction that is conditional on the
//! claim's fencing token. A crash between "did it" and "remembered it" is
//! impossible by construction, and a holder presumed dead cannot write late.
//!
//! ## Running, the protocol, the endpoints
//!
//! The project README's [*The reference server*](https://github.com/submit-guard/submit-guard#the-reference-server)
//! section documents the
//! command line (`--addr`, `--store memory|sqlite:PATH|postgres://…`, `--retention`,
//! `--lock-timeout`, `--static DIR`, `--test-mode`, `--require-key`,
//! `--body-limit`, `--no-idempotency`), every row of the protocol table, the
//! endpoints and test mode's faults; this page is the library's view.
//! Protected endpoints are the unsafe methods of the domain routes; keys are
//! parsed by [`protocol::parse_key`] (bare and sf-string forms normalize to
//! the same key) and scoped by [`protocol::principal`]; [`protocol::fingerprint`]
//! hashes the method, the path and the canonical body; errors are RFC 9457
//! problems ([`problem`]); faults are in [`faults`]. Without
//! [`Config::require_key`] a keyless request runs the handler undeduplicated.
//!
//! **Atomicity.** [`Store::claim`] is, in one `BEGIN IMMEDIATE`
//! transaction: `INSERT … ON CONFLICT DO NOTHING` (a new key, fence 1), else
//! `UPDATE … SET fence = fence + 1 … WHERE state = 'free' OR (state =
//! 'done' AND expired)` (a released or expired key), else `UPDATE … SET
//! fence = fence + 1 … WHERE state = 'locked' AND locked_at <= stale AND
//! fingerprint = ?` (takeover), else a read that only explains the refusal.
//! The handler's domain statements and `UPDATE idempotency_keys SET state =
//! 'done', status = ?, body = ? … WHERE fence = ? AND state = 'locked'` run
//! in one transaction ([`Store::transact`]); if that update matches no row,
//! everything rolls back. One SQLite connection in WAL mode sits behind a
//! mutex and is used from `spawn_blocking`, so concurrency never yields
//! `SQLITE_BUSY` (and never a 5xx) inside the process; claims and releases
//! commit with `synchronous = NORMAL`, effects with `FULL` (one fsync per
//! keyed request). [`MemoryStore`] has the same semantics with a mutex and
//! copy-on-commit over persistent collections, called inline. Released keys are
//! kept (state `free`) rather than deleted, so fences never repeat while a
//! record exists.
//!
//! ## As a library
//!
//! [`app`] builds the router without side effects; [`serve`] runs it (use it
//! rather than `axum::serve`, so `drop-after-commit` can close a socket).
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
//!     serve(listener, app(config), async { let _ = tokio::signal::ctrl_c().await; }).await;
//!     Ok(())
//! }
//! ```
//!
//! Modules: [`protocol`] (keys, principal, fingerprint, stored replies),
//! `idempotency` (the middleware), [`store`] (the trait, memory, SQLite and
//! PostgreSQL),
//! `routes` (one file per resource, plus the test endpoints), [`faults`]
//! (test mode), [`problem`] (RFC 9457), [`model`] (domain types), [`clock`].

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod faults;
mod idempotency;
pub mod model;
pub mod problem;
pub mod protocol;
mod routes;
mod serve;
pub mod store;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

pub use clock::{Clock, ManualClock, SystemClock};
pub use serve::serve;
pub use store::{MemoryStore, PostgresStore, SqliteOptions, SqliteStore, Store, StoreError};

use crate::clock::millis;
use crate::problem::{PROBLEM_JSON, Problem};
use crate::routes::testing::RequestLog;

/// Everything [`app`] needs. Build with [`Config::new`] and adjust fields.
#[derive(Clone)]
pub struct Config {
    /// Domain data and idempotency records.
    pub store: Arc<dyn Store>,
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

/// Shared per-app state: the config and the test mode request log.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) log: RequestLog,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Builds the HTTP application. No side effects: nothing is bound, spawned
/// or global; all state lives in `config.store` and the returned router.
pub fn app(config: Config) -> Router {
    let test_mode = config.test_mode;
    let body_limit = config.body_limit;
    let static_dir = config.static_dir.clone();
    let state = AppState(Arc::new(Shared {
        config,
        log: RequestLog::default(),
    }));

    let mut router = routes::api(&state);
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
        .layer(cors(test_mode))
        .layer(TraceLayer::new_for_http());
    if test_mode {
        router = router.layer(from_fn_with_state(state.clone(), routes::testing::record));
    }
    router.with_state(state)
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
/// locks that have not yet expired). Blocking; `main` runs it periodically
/// from `spawn_blocking`. Returns how many records were deleted.
pub fn purge_expired(config: &Config) -> Result<usize, StoreError> {
    let now = config.clock.now_ms();
    config.store.purge(
        now.saturating_sub(millis(config.retention)),
        now.saturating_sub(millis(config.lock_timeout)),
    )
}
