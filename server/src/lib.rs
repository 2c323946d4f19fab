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
//! ## Running
//!
//! ```text
//! submit-guard-server [--addr 127.0.0.1:8080] [--store memory|sqlite:PATH]
//!                     [--retention 24h] [--lock-timeout 30s] [--static DIR]
//!                     [--test-mode] [--require-key] [--body-limit 64KiB]
//!                     [--no-idempotency]
//! ```
//!
//! | flag | default | meaning |
//! |---|---|---|
//! | `--addr` | `127.0.0.1:8080` | address to bind; port 0 picks a free one |
//! | `--store` | `sqlite:submit-guard.db` | `memory`, or a SQLite file (WAL) that survives restarts |
//! | `--retention` | `24h` | how long keys are remembered (`30s`, `1500ms`, … any humantime duration) |
//! | `--lock-timeout` | `30s` | how long a claim may stay unfinished before a retry takes it over |
//! | `--static DIR` | none | serve `DIR` at `/` (`index.html` for `/`) |
//! | `--test-mode` | off | enable `X-Fault`, `POST /api/_reset`, `GET /api/_requests` |
//! | `--require-key` | off | unsafe requests to protected endpoints without a key get 400 |
//! | `--body-limit` | `64KiB` | largest request body: bytes, or `k`/`KiB`/`m`/`MiB` |
//! | `--no-idempotency` | off | a benchmarking aid: the same routes and handlers without the idempotency layer, so keys are ignored (see [`Config::idempotency`]) |
//!
//! Once bound, the binary prints exactly one line to stdout and flushes it:
//! `listening on http://127.0.0.1:PORT` (the real port). Logs go to stderr
//! (`RUST_LOG`, default `info`): one line per claim, takeover, replay,
//! conflict, mismatch and release, with `key`, `principal` and `path`.
//! Expired keys are purged every `retention / 4` (between 1 s and 60 s).
//! SIGINT or SIGTERM stop accepting and let open requests finish (10 s at
//! most). For browser tests:
//!
//! ```text
//! $ submit-guard-server --addr 127.0.0.1:0 --store memory --test-mode
//! listening on http://127.0.0.1:41234
//! ```
//!
//! ## The protocol
//!
//! Protected endpoints are the unsafe methods (POST, PUT, PATCH, DELETE) of
//! the routes marked *protected* below. Errors are RFC 9457
//! `application/problem+json` with `type`, `title`, `status` and `detail`
//! (see [`problem`] for the types).
//!
//! | situation | response |
//! |---|---|
//! | no key, [`Config::require_key`] on | 400 `idempotency-key-missing` |
//! | no key, `require_key` off (default) | the handler runs normally, no dedupe |
//! | malformed key: empty, over 255 characters, not printable ASCII, a comma, broken sf-string quoting, or several `Idempotency-Key` lines | 400 `idempotency-key-malformed` |
//! | first request with a key | atomic claim; the handler runs; a 2xx/3xx response is stored (status, body, and only `Content-Type`, `Location`, `ETag`) with its effect |
//! | same key and fingerprint, completed | the stored response plus `Idempotent-Replayed: true` |
//! | same key while the first is still running | 409 `idempotency-key-in-use` + `Retry-After: 1` |
//! | same key, different body, method, path or query | 422 `idempotency-key-mismatch`; the record is untouched |
//! | the handler answers 4xx (validation, not found, already paid, …) | that 4xx; effect rolled back, key released, nothing stored |
//! | the handler fails (5xx) | that 5xx; transaction rolled back, key released: a retry re-executes |
//! | the claim holder died (its lock is older than the lock timeout) | a retry with the same fingerprint takes over with fence + 1; the stale holder's commit is refused (its effect rolled back) and it answers 409 `idempotency-claim-superseded` |
//! | the key is older than the retention window | treated as new (any fingerprint); purged periodically |
//! | the store is unavailable (SQLite file locked by another process past `busy_timeout`) | 503 `store-unavailable` + `Retry-After: 1`; the handler's effect does not run |
//!
//! A client that goes away mid-request (an aborted `fetch`) releases its
//! claim when the server notices the closed connection, so its retry runs
//! at once instead of waiting out the lock timeout.
//!
//! Every response to a keyed request carries `Idempotency-Retention:
//! <seconds>`. CORS allows any origin (no credentials), the methods above,
//! and the request headers `Idempotency-Key`, `Content-Type`,
//! `Authorization` (plus `X-Fault` in test mode); it exposes
//! `Idempotent-Replayed`, `Retry-After`, `Location`, `ETag` and
//! `Idempotency-Retention`. Bodies over the limit get 413 `body-too-large`.
//!
//! **Keys.** Bare (`abc`) and RFC 8941 sf-string (`"abc"`, with `\"` and
//! `\\` escapes) forms are accepted and normalize to the same key
//! ([`protocol::parse_key`]). A record is identified by the *principal* and
//! the key: the principal is `Authorization: Bearer …`, else the `sid`
//! cookie, else `anonymous`, stored only as a hash prefix
//! ([`protocol::principal`]), so user B never sees user A's replay. Method,
//! path (with query) and body form the *fingerprint*
//! ([`protocol::fingerprint`]): SHA-256 over the method, the path, and the
//! body canonicalized — JSON with object keys sorted at every depth,
//! `application/x-www-form-urlencoded` with its pairs sorted, anything else
//! raw bytes. So a key reused on another endpoint is a 422 rather than a
//! silent second execution.
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
//! ## Endpoints
//!
//! Each is correct without a key (its writes are single conditional
//! statements) and idempotent with one. IDs are UUIDs; times are ms since
//! the Unix epoch; lists are oldest first, newest last.
//!
//! | route | protected | result |
//! |---|---|---|
//! | `POST /api/orgs` `{"name"}` | yes | 201 `{"id","name","slug"}` + `Location`; the org and its owner membership (the principal) in one transaction. Name trimmed, 1–100 characters, else 400. Slugs `acme`, `acme-1`, … made unique by a UNIQUE constraint |
//! | `GET /api/orgs`, `GET /api/orgs/{id}`, `GET /api/memberships` | | lists / one org (404) |
//! | `POST /api/invites` `{"email","ttlSeconds"}` | yes | 201 `{"token","email","expiresAt"}`; `ttlSeconds` 0–2592000, default 86400 |
//! | `POST /api/invites/{token}/claim` | yes | first 201 `{"id"}` (a claim record); any repeat 200 `{"id","idempotent":true}` with the same id; unknown token 400; expired 410; used without a record 409. The claim is one `UPDATE invites SET used_at = ? WHERE token = ? AND used_at IS NULL AND expires_at > now` (field report 002) |
//! | `GET /api/invites` | | list, with `usedAt` and `claimId` |
//! | `POST /api/qr/sessions` `{"table"}` | yes | 201 `{"id","table"}`; by design a new session per call without a key (field report 003). `table` is a string (1–100 characters) or an integer |
//! | `GET /api/qr/sessions` | | list |
//! | `POST /api/orders` `{"items":[…]}` | yes | 201 `{"id","version":1,"items","createdAt"}` + `Location`, `ETag`; `items` optional |
//! | `GET /api/orders`, `GET /api/orders/{id}` | | list / one order (404) with `ETag: "vN"` |
//! | `POST /api/orders/{id}/pay` | yes | 201 `{"paymentId","orderId"}`; any later pay, whatever its key, 409 `already-paid` with the existing `paymentId` (`UNIQUE (order_id)`); unknown order 404 |
//! | `PUT /api/orders/{id}/items` `{"items","version"}` | yes | 200 with `version + 1`; stale version 409 `stale-version` with `currentVersion` (`UPDATE … WHERE version = ?`, field report 004); unknown order 404 |
//! | `GET /api/payments` | | list |
//!
//! Bodies are read as JSON whatever the declared media type (an empty body
//! is `{}`), except url-encoded forms (read as an object of strings) and
//! `multipart/*` (415). Unknown `/api/…` routes get a 404 problem.
//!
//! ## Test mode
//!
//! With `--test-mode` ([`Config::test_mode`]); otherwise these routes are
//! 404 and `X-Fault` is ignored.
//!
//! - `POST /api/_reset` → 204: clears the domain, the idempotency records,
//!   the fault counters and the request log.
//! - `GET /api/_requests` → every request received since the last reset, in
//!   arrival order: `[{"method", "path" (with query), "key" (the raw
//!   Idempotency-Key or null), "fault" (the raw X-Fault or null), "status"
//!   (the final status, or null if no response was sent)}]`. CORS preflights
//!   are logged too; the two test endpoints are not.
//! - Request header `X-Fault: <fault>[; times=N]` ([`faults`]):
//!
//! | fault | effect |
//! |---|---|
//! | `delay=MS` | sleep MS (≤ 600000) before the handler; on a keyed request, after the claim, so the key is held meanwhile |
//! | `fail-before-commit` | the effect runs, then 500: rolled back, key released |
//! | `fail-after-commit` | effect and response committed, then the client gets 500 |
//! | `drop-after-commit` | effect and response committed, then the connection is closed with no response at all (needs [`serve`]) |
//! | `status=CODE` | CODE (4xx/5xx) with a problem body before anything else: no claim, no handler, nothing stored; 503 and 429 add `Retry-After: 1` |
//! | `kill=after-claim` | SIGKILL after the claim committed (without a key: just before the handler) |
//! | `kill=after-effect` | SIGKILL after the effect's statements ran, before commit |
//! | `kill=after-store` | SIGKILL after effect and response committed |
//!
//! With `times=N` the fault strikes only the first N requests carrying the
//! same `Idempotency-Key` value (without a key: the same `X-Fault` value).
//! Client retries resend their headers, so `times=1` means "the first
//! attempt only". The counters live in the store, so on a SQLite file they
//! survive the restart after a `kill`. Without `times`, every request with
//! the header is hit.
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
//! `idempotency` (the middleware), [`store`] (the trait, memory and SQLite),
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
pub use store::{MemoryStore, SqliteOptions, SqliteStore, Store, StoreError};

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
