//! # submit-guard-idempotency
//!
//! The IETF Idempotency-Key protocol (draft-ietf-httpapi-idempotency-key-header-07)
//! for axum and tower apps. A request sent twice (a double click, a retry
//! after a timeout, a lost response) carries the same `Idempotency-Key`;
//! [`IdempotencyLayer`] runs it once and replays the stored reply to every
//! repeat. Unlike middleware that stores the reply *beside* the effect, the
//! handler commits its effect and its reply in **one transaction of its
//! own**, conditional on the claim's fencing token, so a crash between "did
//! it" and "remembered it" is impossible and a holder presumed dead cannot
//! write late.
//!
//! ```no_run
//! use axum::{Router, extract::{Extension, State}, http::StatusCode, routing::post};
//! use submit_guard_idempotency::{Claim, Committed, IdempotencyConfig, IdempotencyLayer, Reply, SqliteStore};
//!
//! async fn create(State(store): State<SqliteStore>, Extension(claim): Extension<Claim>)
//!     -> Result<(Committed, Reply), StatusCode> {
//!     let reply = Reply::json(StatusCode::CREATED, &serde_json::json!({ "ok": true }));
//!     tokio::task::spawn_blocking(move || store.with_connection(|conn| {
//!         let tx = conn.transaction().map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
//!         tx.execute("INSERT INTO things DEFAULT VALUES", []).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
//!         let committed = SqliteStore::commit_in(&tx, &claim, &reply).map_err(|_| StatusCode::CONFLICT)?;
//!         tx.commit().map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
//!         Ok((committed, reply))
//!     })).await.map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqliteStore::open("app.db")?;
//! let config = IdempotencyConfig::new(std::env::var("PRINCIPAL_SECRET")?).require_key(true);
//! let app: Router = Router::new()
//!     .route("/things", post(create))
//!     .layer(IdempotencyLayer::new(store.clone(), config))
//!     .with_state(store);
//! axum::serve(tokio::net::TcpListener::bind("127.0.0.1:3000").await?, app).await?;
//! # Ok(()) }
//! ```
//!
//! What the example leaves out:
//!
//! - **The secret** keys the hash that turns a credential into a principal
//!   (HMAC-SHA-256), so stored records never hold credentials. Give at least
//!   32 random bytes, the same on every instance and across restarts (a new
//!   secret makes every stored record unreachable); the config does not
//!   check its length.
//! - **Your tables** may live in the same SQLite file: create them with
//!   [`SqliteStore::with_connection`] before serving. `rusqlite` comes with
//!   the store; the app needs `axum`, `tokio` (macros, net, rt-multi-thread)
//!   and whatever it serializes with.
//! - **Keyless requests**: with `require_key(false)` (the default) the
//!   handler runs without a claim and nothing is deduplicated: take
//!   `Option<Extension<Claim>>`, commit with [`SqliteStore::commit_in`] when
//!   there is a claim and plainly otherwise, and return a `Response` (the
//!   receipt check below applies to keyed requests only).
//! - **The body**: the layer reads it (up to the body limit) to fingerprint
//!   it and hands it on, so extractors such as `Json` still work.
//! - **Defaults**: 24 h retention, 30 s lock timeout, a 64 KiB body limit
//!   ([`IdempotencyConfig::new`]). `commit_in` fails with
//!   [`CommitError::FenceLost`] when the claim was taken over (answer 409), and
//!   with a database error otherwise.
//! - **Memory**: with [`MemoryStore`], [`MemoryStore::begin`] returns a
//!   transaction that holds the records' lock across the effect.
//!
//! ## The protocol
//!
//! Protected requests (by default the unsafe methods: POST, PUT, PATCH,
//! DELETE; see [`Protect`]) go through the table below; the rest pass
//! through. Errors are RFC 9457 `application/problem+json` ([`problem`]).
//!
//! | situation | response |
//! |---|---|
//! | no key, `require_key(true)` | 400 `idempotency-key-missing` |
//! | no key (the default) | the handler runs without a claim, no dedupe |
//! | malformed key: empty, over 255 characters, not printable ASCII, a comma, broken sf-string quoting, several lines | 400 `idempotency-key-malformed` |
//! | first request with a key | atomic claim (fence 1); the handler runs with the [`Claim`] in its request extensions and commits its effect and reply together |
//! | same principal, key and fingerprint, completed | the stored status, body and headers (default `Content-Type`, `Location`, `ETag`; never `Set-Cookie`), plus `Idempotent-Replayed: true` |
//! | same key while the first is still running | 409 `idempotency-key-in-use` + `Retry-After: 1` |
//! | same key, different method, path, query or canonical body | 422 `idempotency-key-mismatch`; the record is untouched |
//! | the handler answers 4xx or 5xx without a receipt | that response; the claim is released, a retry runs afresh |
//! | the handler answers 2xx/3xx without a [`Committed`] receipt ([`Mode::Transactional`]) | 500 `idempotency-reply-not-recorded`; the claim is **kept** until the lock timeout (never silently released) |
//! | the same, in [`Mode::Plain`] | the layer stores the reply itself, then answers |
//! | the claim holder died (its lock is older than the lock timeout) | a retry with the same fingerprint takes over with fence + 1; the old holder's commit gets [`CommitError::FenceLost`] and rolls back |
//! | the record is older than the retention window | treated as new; [`IdempotencyLayer::purge_expired`] deletes it |
//! | the store is unavailable | 503 `store-unavailable` + `Retry-After: 1`; the handler does not run |
//! | a body over the body limit | 413 `body-too-large` |
//! | the client goes away mid-handler | the claim is released when the request future is dropped |
//!
//! Every response to a keyed request carries `Idempotency-Retention:
//! <seconds>`. Keys in bare (`abc`) and sf-string (`"abc"`) form are the same
//! key ([`protocol::parse_key`]). A record is identified by the principal
//! and the key ([`principal`]: distinct credentials never share a record);
//! the fingerprint is SHA-256 over method, path with query and the canonical
//! body ([`CanonicalBody`]).
//!
//! ## Guarantees
//!
//! - **Exactly one execution per (principal, key, fingerprint)** while the
//!   record is retained: the claim is one conditional statement
//!   ([`IdempotencyStore::claim`]), never read-then-write, so of any number
//!   of concurrent requests one runs and the others get 409 (or the replay).
//! - **Effect and reply together** ([`Mode::Transactional`]): the reply is
//!   stored by a conditional `UPDATE … WHERE fence = ? AND state = 'locked'`
//!   inside the handler's transaction; if it matches no row (a takeover), the
//!   handler rolls back. A success without a receipt is refused, not
//!   released.
//! - **Fencing**: every claim and takeover increments the fence; a stale
//!   holder can neither commit nor release.
//! - **Users apart**: [`DefaultPrincipal`] keys records by a keyed hash of
//!   the credential; anonymous only without any credential.
//!
//! ## What each store does on a crash
//!
//! - [`SqliteStore`] (WAL): a crash before the app's commit loses the
//!   effect and leaves the claim `locked`; the retry after the lock timeout
//!   takes it over and runs once. A crash after it leaves both the effect and
//!   the reply on disk; the retry gets the replay. Claims and releases
//!   commit with `synchronous = NORMAL` (a power cut may lose a claim, which
//!   only lets the retry claim again); app transactions with `FULL`.
//! - `PostgresStore` (feature `postgres`; several instances may share one
//!   database): a process that dies mid-request loses its connection, and
//!   PostgreSQL rolls its open transaction back, effect and reply together;
//!   the claim stays `locked` and a retry on any instance takes it over
//!   after the lock timeout (fence + 1). A committed transaction holds both;
//!   the retry gets the replay. The app runs its transaction on
//!   `PostgresStore::pool` and calls `PostgresStore::commit_in` last in it.
//! - [`MemoryStore`]: a crash loses every record and the app's in-memory
//!   data with it; nothing survives, so nothing is inconsistent. Use it for
//!   one process whose data is in memory too, and for tests.
//! - Plain mode, any store: a crash between the handler's own commit and
//!   the layer's leaves the effect without a reply; after the lock timeout
//!   a retry runs the effect again (the guarantee of Stripe-style
//!   middleware, weaker than the above).
//!
//! ## Writing a store
//!
//! Implement [`IdempotencyStore`] (one conditional statement per decision;
//! the [`store`] module lists them, in SQL that PostgreSQL runs as is) and a
//! commit call for the app's transaction that returns
//! [`Committed::attest`]. The crate's `tests/contract` suite takes a new
//! store with one line.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
mod config;
#[cfg(feature = "fuzz")]
pub mod fuzz;
mod layer;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
pub mod principal;
pub mod problem;
pub mod protocol;
mod service;
#[cfg(feature = "sqlite")]
mod sqlite;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{CanonicalBody, IdempotencyConfig, MakeFingerprint, Mode, Protect, UnsafeMethods};
pub use layer::IdempotencyLayer;
pub use memory::{MemoryStore, MemoryTx};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresStore};
pub use principal::{DefaultPrincipal, MakePrincipal};
pub use protocol::Reply;
pub use service::{Idempotency, ResponseFuture};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteOptions, SqliteStore};
pub use store::{
    BoxFuture, Claim, ClaimOutcome, ClaimRequest, CommitError, Committed, IdempotencyStore,
    RecordKey, StoreError,
};
