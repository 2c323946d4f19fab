//! The demo's domain: orgs, invites, QR sessions, orders and payments, and
//! test mode's fault counters, behind one [`Store`] trait with three
//! implementations (memory, SQLite and PostgreSQL) of identical semantics.
//!
//! Each store sits beside the idempotency records of
//! `submit_guard_idempotency` ([`Store::records`]) and commits a request's
//! effect and its reply in one transaction: [`MemoryStore`] under the records'
//! lock ([`submit_guard_idempotency::MemoryStore::begin`]), [`SqliteStore`] on
//! the records' own connection
//! ([`submit_guard_idempotency::SqliteStore::commit_in`]), [`PostgresStore`]
//! in one PostgreSQL transaction on a connection of the records' pool
//! ([`submit_guard_idempotency::PostgresStore::commit_in`]). Every method is
//! synchronous; the server calls them through the crate-private `call`: on
//! tokio's blocking pool for SQLite and PostgreSQL, which do I/O, and inline for the
//! memory store, which never blocks for long.

mod memory;
mod postgres;
mod sqlite;

use std::sync::Arc;

pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
use submit_guard_idempotency::IdempotencyStore;
pub use submit_guard_idempotency::{Claim, Committed, SqliteOptions, StoreError};

use crate::model::{
    Invite, InviteClaim, Membership, Order, Org, PayOutcome, Payment, QrSession, UpdateOutcome,
};
use crate::protocol::Reply;

/// How a [`Store::transact`] call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxOutcome {
    /// The work's reply was a success: its effects committed, and, under a
    /// claim, the reply was stored in the same transaction (the receipt).
    Committed(Reply, Option<Committed>),
    /// The work's reply was not a success (4xx, 5xx): everything rolled back.
    RolledBack(Reply),
    /// The fence no longer matches (the claim was taken over): everything
    /// rolled back.
    FenceLost,
}

/// A unit of work run inside a store transaction.
pub type Work = Box<dyn FnOnce(&mut dyn Tx) -> Result<Reply, StoreError> + Send>;

/// The store: domain data and test-mode fault counters, beside the
/// idempotency records they commit with.
pub trait Store: Send + Sync + 'static {
    /// Whether calls may block on I/O, and so belong on the blocking pool.
    fn blocks(&self) -> bool {
        true
    }

    /// The idempotency records, for the layer.
    fn records(&self) -> Arc<dyn IdempotencyStore>;

    /// Runs `work` in one write transaction. A success reply commits the
    /// effects and, under `claim`, stores the reply on the record in the same
    /// transaction, conditional on the claim's fence; anything else rolls
    /// back.
    fn transact(&self, claim: Option<&Claim>, work: Work) -> Result<TxOutcome, StoreError>;

    /// Runs `work` on a read-only snapshot; its writes, if any, are discarded.
    fn read(&self, work: Work) -> Result<Reply, StoreError>;

    /// The secret principals are keyed with, created on first use and kept
    /// with the data (so records stay valid across restarts of a SQLite store).
    fn principal_secret(&self) -> Result<Vec<u8>, StoreError>;

    /// Test mode: increments the named fault counter and returns its new value.
    fn count_fault(&self, name: &str) -> Result<u64, StoreError>;

    /// Test mode: deletes everything (domain, records, fault counters).
    fn reset(&self) -> Result<(), StoreError>;
}

/// A page of a list: at most `limit` items after the one whose id is
/// `after` (oldest first). An unknown `after` gives an empty page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The id (for invites the token) of the last item already seen.
    pub after: Option<String>,
    /// The most items to return.
    pub limit: usize,
}

impl Page {
    /// Everything.
    pub fn all() -> Self {
        Self {
            after: None,
            limit: usize::MAX,
        }
    }

    /// `limit` as an SQL `LIMIT` (saturating).
    pub(crate) fn sql_limit(&self) -> i64 {
        i64::try_from(self.limit).unwrap_or(i64::MAX)
    }
}

/// 32 random bytes from the operating system.
pub(crate) fn random_secret() -> Result<Vec<u8>, StoreError> {
    let mut secret = vec![0; 32];
    getrandom::fill(&mut secret).map_err(|e| {
        StoreError::Internal(format!("no randomness for the principal secret: {e}"))
    })?;
    Ok(secret)
}

/// A create whose every slug candidate collided (see
/// [`crate::model::allocate_slug`]): odds of one in 2^32 per try.
pub(crate) fn no_free_slug(base: &str) -> StoreError {
    StoreError::Internal(format!(
        "no free slug for {base:?} after {} random suffixes",
        crate::model::RANDOM_SLUG_TRIES
    ))
}

/// The domain operations available inside a transaction. Each write is a
/// single conditional statement (or its in-memory equivalent) so that
/// concurrent requests without keys stay correct too.
pub trait Tx {
    /// Creates the org with a free slug, in constant time: `base`, `base-1`,
    /// … from a per-base counter kept in the same transaction, a random
    /// suffix after a few collisions with other names' slugs (uniqueness is
    /// enforced by the store, not by a prior read) and the owner's membership.
    fn create_org(
        &mut self,
        org_id: &str,
        membership_id: &str,
        name: &str,
        owner: &str,
        now: i64,
    ) -> Result<Org, StoreError>;
    /// All orgs, newest last.
    fn list_orgs(&mut self, page: &Page) -> Result<Vec<Org>, StoreError>;
    /// All memberships, newest last.
    fn list_memberships(&mut self, page: &Page) -> Result<Vec<Membership>, StoreError>;

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
    fn list_invites(&mut self, page: &Page) -> Result<Vec<Invite>, StoreError>;

    /// Creates a QR session (always a new one).
    fn create_qr_session(&mut self, session: &QrSession) -> Result<(), StoreError>;
    /// All QR sessions, newest last.
    fn list_qr_sessions(&mut self, page: &Page) -> Result<Vec<QrSession>, StoreError>;

    /// Creates an order.
    fn create_order(&mut self, order: &Order) -> Result<(), StoreError>;
    /// One order.
    fn get_order(&mut self, id: &str) -> Result<Option<Order>, StoreError>;
    /// All orders, newest last.
    fn list_orders(&mut self, page: &Page) -> Result<Vec<Order>, StoreError>;
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
    fn list_payments(&mut self, page: &Page) -> Result<Vec<Payment>, StoreError>;
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
