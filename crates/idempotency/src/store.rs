//! The store contract: [`IdempotencyStore`] keeps key records and nothing
//! else. The app's data lives where the app wants it; a handler commits its
//! effect and its reply together through the store's typed API
//! ([`crate::SqliteStore::commit_in`], [`crate::MemoryStore::begin`]), which
//! returns the [`Committed`] receipt the layer looks for.
//!
//! A record is one row keyed by (principal, key) with a fingerprint, a fence
//! and a state: `locked` (a request holds it), `done` (its reply is stored)
//! or `free` (released: the next claim re-arms it with fence + 1). Released
//! records are kept rather than deleted, so fences never repeat while a
//! record exists.
//!
//! # Implementing a store
//!
//! Every decision is one conditional statement, never read-then-write:
//!
//! - [`claim`](IdempotencyStore::claim): `INSERT … ON CONFLICT DO NOTHING`
//!   (fence 1); else `UPDATE … SET fence = fence + 1 … WHERE state = 'free'
//!   OR (state = 'done' AND created_at <= expired_before)`; else `UPDATE …
//!   WHERE state = 'locked' AND locked_at <= lock_expired_before AND
//!   (fingerprint = ? OR created_at <= expired_before)` (takeover); else a
//!   read that only explains the refusal.
//! - commit, in the app's transaction: `UPDATE … SET state = 'done', status,
//!   headers, body WHERE principal = ? AND key = ? AND fence = ? AND state =
//!   'locked'`; no row matched → [`CommitError::FenceLost`] and the app rolls
//!   back. Only then build [`Committed::attest`].
//! - [`release`](IdempotencyStore::release): `UPDATE … SET state = 'free'
//!   WHERE … AND fence = ? AND state = 'locked'`.
//! - [`purge`](IdempotencyStore::purge): `DELETE … WHERE created_at <= ? AND
//!   NOT (state = 'locked' AND locked_at > ?)`, safe to run from several
//!   processes at once.
//!
//! The `contract` module of this crate's tests runs the same table against
//! every store.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::HeaderName;

use crate::protocol::{Reply, STORED_HEADERS};

/// A boxed, `Send` future: what the store trait's methods return, so that the
/// trait stays object safe (`Arc<dyn IdempotencyStore>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A store failure. Expected outcomes (a conflict, a lost fence) are values,
/// not errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or is busy: the request was not run and
    /// can be retried (503 + `Retry-After`).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store is broken in a way that a retry will not fix (its file
    /// was deleted or replaced, it is read-only): 503 without `Retry-After`,
    /// and an operator must step in.
    #[error("store failed: {0}")]
    Failed(String),
    /// Anything else (500).
    #[error("store failure: {0}")]
    Internal(String),
}

/// Where an idempotency record lives: the principal and the key.
///
/// Method and path are part of the fingerprint, so reusing a key on another
/// endpoint is a mismatch (422) rather than a fresh request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordKey {
    /// Who asked; see [`crate::MakePrincipal`].
    pub principal: String,
    /// The normalized key.
    pub key: String,
}

/// A claim attempt.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// The record to claim.
    pub record: RecordKey,
    /// See [`crate::MakeFingerprint`].
    pub fingerprint: String,
    /// Request method, kept for diagnostics.
    pub method: String,
    /// Request path with query, kept for diagnostics.
    pub path: String,
    /// The current time, ms since the Unix epoch.
    pub now_ms: i64,
    /// Records created at or before this time are expired: treated as new.
    pub expired_before_ms: i64,
    /// Locks taken at or before this time are stale: the next claim with the
    /// same fingerprint takes over.
    pub lock_expired_before_ms: i64,
}

/// The atomic decision of [`IdempotencyStore::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The caller now holds the key under `fence` and should run the handler.
    Claimed {
        /// The fencing token: incremented on every claim and takeover.
        fence: i64,
        /// Whether a stale lock was taken over from a holder presumed dead.
        takeover: bool,
    },
    /// Completed with the same fingerprint: replay this.
    Completed(Reply),
    /// Another request holds a fresh lock on the key (409).
    InFlight,
    /// The key was used with a different fingerprint (422).
    Mismatch,
}

/// The claim a request holds while its handler runs. The layer puts it in
/// the request's extensions; a handler takes it (`Option<Extension<Claim>>`
/// or `parts.extensions.get::<Claim>()`) and hands it to the store's commit
/// call inside its own transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The claimed record.
    pub record: RecordKey,
    /// The fencing token returned by the claim.
    pub fence: i64,
    stored_headers: Arc<[HeaderName]>,
}

impl Claim {
    /// A claim on `record` under `fence`, storing the default headers
    /// ([`STORED_HEADERS`]) with its reply.
    pub fn new(record: RecordKey, fence: i64) -> Self {
        Self::with_stored_headers(record, fence, Arc::from(STORED_HEADERS.as_slice()))
    }

    /// A claim whose reply keeps only `stored_headers` (never `Set-Cookie`).
    pub fn with_stored_headers(
        record: RecordKey,
        fence: i64,
        stored_headers: Arc<[HeaderName]>,
    ) -> Self {
        Self {
            record,
            fence,
            stored_headers,
        }
    }

    /// `reply` as it is stored under this claim: status, body and only the
    /// allowed headers. Store implementations store this.
    pub fn stored_reply(&self, reply: &Reply) -> Reply {
        Reply {
            status: reply.status,
            headers: reply.stored_headers_of(&self.stored_headers),
            body: reply.body.clone(),
        }
    }
}

/// Proof that a reply was recorded under a claim, in the same transaction as
/// the handler's effect. Returned only by the stores' commit calls; the
/// handler returns it as part of its response (it is an
/// [`IntoResponseParts`](axum_core::response::IntoResponseParts)), and the
/// layer refuses (500, claim kept) a success response that carries none.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "return the receipt with the response, or the layer answers 500"]
pub struct Committed {
    claim: Claim,
}

impl Committed {
    /// For store implementations only: the receipt for `claim`, to be built
    /// after the conditional update that stored the reply matched its row,
    /// in the transaction that also holds the effect.
    pub fn attest(claim: Claim) -> Self {
        Self { claim }
    }

    /// The claim the reply was recorded under.
    pub fn claim(&self) -> &Claim {
        &self.claim
    }
}

impl axum_core::response::IntoResponseParts for Committed {
    type Error = std::convert::Infallible;

    fn into_response_parts(
        self,
        mut res: axum_core::response::ResponseParts,
    ) -> Result<axum_core::response::ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}

/// Why a commit under a claim did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// The claim no longer holds the record (its lock expired and another
    /// request took over, or it was released): roll the effect back.
    #[error("the claim on this Idempotency-Key was taken over; roll back")]
    FenceLost,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Idempotency records: claim, commit (plain mode), release, purge.
///
/// Object safe; the layer holds an `Arc<dyn IdempotencyStore>`. Every method
/// is one atomic decision (see the module docs for the statements).
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Claims `req.record` atomically: inserts a new record (fence 1); or
    /// re-arms a released or expired one (fence + 1); or takes over a stale
    /// lock with the same fingerprint (fence + 1). Otherwise reports what
    /// holds the key.
    fn claim(&self, req: ClaimRequest) -> BoxFuture<'_, Result<ClaimOutcome, StoreError>>;

    /// Plain mode: stores `reply` under `claim` in a transaction of the
    /// store's own, after the handler's effect committed elsewhere. Only if
    /// the fence still holds an unfinished lock.
    fn complete(&self, claim: Claim, reply: Reply)
    -> BoxFuture<'_, Result<Committed, CommitError>>;

    /// Releases a claim whose request stored nothing (4xx, 5xx, abandoned),
    /// so a retry runs afresh. Only if the fence still holds it; returns
    /// whether it did.
    fn release(&self, claim: Claim) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Deletes records created at or before `expired_before_ms`, except
    /// locks newer than `lock_expired_before_ms`. Returns how many.
    fn purge(
        &self,
        expired_before_ms: i64,
        lock_expired_before_ms: i64,
    ) -> BoxFuture<'_, Result<u64, StoreError>>;
}

impl<T: IdempotencyStore + ?Sized> IdempotencyStore for Arc<T> {
    fn claim(&self, req: ClaimRequest) -> BoxFuture<'_, Result<ClaimOutcome, StoreError>> {
        (**self).claim(req)
    }

    fn complete(
        &self,
        claim: Claim,
        reply: Reply,
    ) -> BoxFuture<'_, Result<Committed, CommitError>> {
        (**self).complete(claim, reply)
    }

    fn release(&self, claim: Claim) -> BoxFuture<'_, Result<bool, StoreError>> {
        (**self).release(claim)
    }

    fn purge(
        &self,
        expired_before_ms: i64,
        lock_expired_before_ms: i64,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        (**self).purge(expired_before_ms, lock_expired_before_ms)
    }
}
