//! Storage: one [`Store`] trait holding both the idempotency records and the
//! domain, so that a request's effect and its stored response commit in one
//! transaction, conditional on the request's fencing token.
//!
//! Three implementations with identical semantics: [`MemoryStore`] (a mutex
//! around plain collections), [`SqliteStore`] (one SQLite connection in
//! WAL mode behind a mutex) and [`PostgresStore`] (a connection pool to a
//! database that several instances share). Every method is synchronous; the
//! server calls them through the crate-private `call`: on tokio's blocking
//! pool for SQLite and PostgreSQL, which do I/O, and inline for the memory
//! store, which never blocks for long.

mod memory;
mod postgres;
mod sqlite;

pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use sqlite::{SqliteOptions, SqliteStore};

use crate::model::{
    Invite, InviteClaim, Membership, Order, Org, PayOutcome, Payment, QrSession, UpdateOutcome,
};
use crate::protocol::Reply;

/// A store failure. Expected outcomes (a conflict, a stale version) are
/// values, not errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or is locked by someone else: the request
    /// was not run and can be retried (503 + `Retry-After`).
    #[error("store unavailable: {0}")]
    Unavailable(String),
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
    /// See [`crate::protocol::principal`].
    pub principal: String,
    /// The normalized key.
    pub key: String,
}

/// A claim attempt.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// The record to claim.
    pub record: RecordKey,
    /// See [`crate::protocol::fingerprint`].
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

/// The atomic decision of [`Store::claim`].
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

/// The claim a request holds while its handler runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The claimed record.
    pub record: RecordKey,
    /// The fencing token returned by the claim.
    pub fence: i64,
}

/// How a [`Store::transact`] call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxOutcome {
    /// The work's reply was a success: its effects committed, and, when
    /// fenced, the reply was stored in the same transaction.
    Committed(Reply),
    /// The work's reply was not a success (4xx, 5xx): everything rolled back.
    RolledBack(Reply),
    /// The fence no longer matches (the claim was taken over): everything
    /// rolled back.
    FenceLost,
}

/// A unit of work run inside a store transaction.
pub type Work = Box<dyn FnOnce(&mut dyn Tx) -> Result<Reply, StoreError> + Send>;

/// The store: idempotency records, domain data and test-mode fault counters.
pub trait Store: Send + Sync + 'static {
    /// Whether calls may block on I/O, and so belong on the blocking pool.
    fn blocks(&self) -> bool {
        true
    }

    /// Claims `req.record` atomically, never read-then-write: inserts a new
    /// record (fence 1); or re-arms a released or expired one (fence + 1);
    /// or takes over a stale lock with the same fingerprint (fence + 1).
    /// Otherwise reports what holds the key.
    fn claim(&self, req: &ClaimRequest) -> Result<ClaimOutcome, StoreError>;

    /// Releases a claim whose request stored nothing (4xx, 5xx, abandoned),
    /// so a retry runs afresh. Only if `fence` still holds it; returns
    /// whether it did.
    fn release(&self, fence: &Fence) -> Result<bool, StoreError>;

    /// Runs `work` in one write transaction. A success reply commits the
    /// effects and, with `fence`, stores the reply on the record in the same
    /// transaction, conditional on the fence still holding it; anything else
    /// rolls back.
    fn transact(&self, fence: Option<&Fence>, work: Work) -> Result<TxOutcome, StoreError>;

    /// Runs `work` on a read-only snapshot; its writes, if any, are discarded.
    fn read(&self, work: Work) -> Result<Reply, StoreError>;

    /// Deletes records created at or before `expired_before_ms`, except
    /// locks newer than `lock_expired_before_ms`. Returns how many.
    fn purge(
        &self,
        expired_before_ms: i64,
        lock_expired_before_ms: i64,
    ) -> Result<usize, StoreError>;

    /// Test mode: increments the named fault counter and returns its new value.
    fn count_fault(&self, name: &str) -> Result<u64, StoreError>;

    /// Test mode: deletes everything (domain, records, fault counters).
    fn reset(&self) -> Result<(), StoreError>;
}

/// The domain operations available inside a transaction. Each write is a
/// single conditional statement (or its in-memory equivalent) so that
/// concurrent requests without keys stay correct too.
pub trait Tx {
    /// Creates the org with the first free slug (`base`, `base-1`, …; the
    /// uniqueness is enforced by the store, not by a prior read) and the
    /// owner's membership.
    fn create_org(
        &mut self,
        org_id: &str,
        membership_id: &str,
        name: &str,
        owner: &str,
        now: i64,
    ) -> Result<Org, StoreError>;
    /// All orgs, newest last.
    fn list_orgs(&mut self) -> Result<Vec<Org>, StoreError>;
    /// All memberships, newest last.
    fn list_memberships(&mut self) -> Result<Vec<Membership>, StoreError>;

    /// Creates an invite.
    fn create_invite(&mut self, invite: &Invite) -> Result<(), StoreError>;
    /// Claims an invite with one conditional update (`used_at IS NULL AND
    /// expires_at > now`); creates the claim record `claim_id` if it won.
    fn claim_invite(
        &mut self,
        token: &str,
        claim_id: &str,
        now: i64,
    ) -> Result<InviteClaim, StoreError>;
    /// All invites, newest last.
    fn list_invites(&mut self) -> Result<Vec<Invite>, StoreError>;

    /// Creates a QR session (always a new one).
    fn create_qr_session(&mut self, session: &QrSession) -> Result<(), StoreError>;
    /// All QR sessions, newest last.
    fn list_qr_sessions(&mut self) -> Result<Vec<QrSession>, StoreError>;

    /// Creates an order.
    fn create_order(&mut self, order: &Order) -> Result<(), StoreError>;
    /// One order.
    fn get_order(&mut self, id: &str) -> Result<Option<Order>, StoreError>;
    /// All orders, newest last.
    fn list_orders(&mut self) -> Result<Vec<Order>, StoreError>;
    /// Replaces the items if the order is at `expected_version` (one
    /// conditional update), bumping the version.
    fn update_items(
        &mut self,
        id: &str,
        items: &serde_json::Value,
        expected_version: i64,
    ) -> Result<UpdateOutcome, StoreError>;
    /// Pays the order: one payment per order, enforced by a unique order id.
    fn pay_order(
        &mut self,
        order_id: &str,
        payment_id: &str,
        now: i64,
    ) -> Result<PayOutcome, StoreError>;
    /// All payments, newest last.
    fn list_payments(&mut self) -> Result<Vec<Payment>, StoreError>;
}

#[cfg(test)]
mod tests;

/// Runs `f` with `store`: on tokio's blocking pool if the store
/// [blocks](Store::blocks), inline otherwise (a thread hand-off per call
/// would cost the memory store more than the call itself).
pub(crate) async fn call<T, F>(
    store: std::sync::Arc<dyn Store>,
    f: F,
) -> Result<T, tokio::task::JoinError>
where
    F: FnOnce(&dyn Store) -> T + Send + 'static,
    T: Send + 'static,
{
    if store.blocks() {
        tokio::task::spawn_blocking(move || f(&*store)).await
    } else {
        Ok(f(&*store))
    }
}
