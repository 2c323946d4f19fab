//! The PostgreSQL store: the idempotency records of
//! [`submit_guard_idempotency::PostgresStore`] and the demo's domain tables
//! in one database, which several server instances share.
//!
//! A request's domain statements and its stored reply commit in one
//! PostgreSQL transaction: the domain work runs on a connection from the
//! records' pool, and [`PostgresStore::commit_in`] stores the reply with
//! `UPDATE … WHERE fence = $3 AND state = 'locked'` before the commit; a
//! miss rolls everything back. A process killed mid-request loses its
//! connection, and PostgreSQL rolls its open transaction back: either both
//! the effect and the reply are in the database, or neither is.
//!
//! The server's [`Store`] trait is synchronous and is called on tokio's
//! blocking pool; this store drives its async driver from there with
//! [`Handle::block_on`], so the connections' I/O runs on the runtime's
//! workers while the blocking thread waits.

mod tx;

use std::future::Future;

use submit_guard_idempotency::{
    Claim, ClaimOutcome as RecordOutcome, ClaimRequest as RecordClaim, CommitError,
    IdempotencyStore, PostgresOptions, PostgresStore as Records, RecordKey as Key,
    Reply as StoredReply, StoreError as RecordError,
};
use tokio::runtime::Handle;

use super::{ClaimOutcome, ClaimRequest, Fence, Store, StoreError, TxOutcome, Work};
use crate::protocol::Reply;

/// The demo's domain tables, beside `idempotency_keys` (created by
/// [`Records`]). `seq` orders lists the way SQLite's `rowid` does.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS orgs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, slug TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL, created_at BIGINT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE TABLE IF NOT EXISTS memberships (
    id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES orgs (id),
    principal TEXT NOT NULL, role TEXT NOT NULL, created_at BIGINT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    UNIQUE (org_id, principal)
);
CREATE TABLE IF NOT EXISTS invites (
    token TEXT PRIMARY KEY, email TEXT NOT NULL, expires_at BIGINT NOT NULL,
    used_at BIGINT, created_at BIGINT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE TABLE IF NOT EXISTS invite_claims (
    id TEXT PRIMARY KEY, token TEXT NOT NULL UNIQUE REFERENCES invites (token),
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS qr_sessions (
    id TEXT PRIMARY KEY, table_ref TEXT NOT NULL, created_at BIGINT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, items TEXT NOT NULL, version BIGINT NOT NULL,
    created_at BIGINT NOT NULL, seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY, order_id TEXT NOT NULL UNIQUE REFERENCES orders (id),
    created_at BIGINT NOT NULL, seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE TABLE IF NOT EXISTS fault_counters (
    name TEXT PRIMARY KEY, hits BIGINT NOT NULL
);
";

/// Serializes the domain schema's creation between instances starting together.
const SCHEMA_LOCK: i64 = 0x0073_672d_6465_6d6f;

/// A store in a PostgreSQL database; several server processes may share it.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    records: Records,
    runtime: Handle,
}

fn store_error(err: RecordError) -> StoreError {
    match err {
        RecordError::Unavailable(e) => StoreError::Unavailable(e),
        RecordError::Internal(e) => StoreError::Internal(e),
    }
}

pub(super) fn map_err(err: tokio_postgres::Error) -> StoreError {
    store_error(err.into())
}

fn commit_error(err: CommitError) -> Result<(), StoreError> {
    match err {
        CommitError::FenceLost => Ok(()),
        CommitError::Store(e) => Err(store_error(e)),
    }
}

fn claim_of(fence: &Fence) -> Claim {
    Claim::new(
        Key {
            principal: fence.record.principal.clone(),
            key: fence.record.key.clone(),
        },
        fence.fence,
    )
}

impl PostgresStore {
    /// Connects to `url` (`postgres://USER@HOST:PORT/DB`) and creates the
    /// records and domain tables if missing. Async: call it before serving.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PostgresOptions {
            max_connections: 32,
            ..PostgresOptions::default()
        };
        let records = Records::connect_with(url, options)
            .await
            .map_err(store_error)?;
        let mut client = records
            .pool()
            .get()
            .await
            .map_err(|e| store_error(e.into()))?;
        let tx = client.transaction().await.map_err(map_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .await
            .map_err(map_err)?;
        tx.batch_execute(SCHEMA).await.map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        drop(client);
        Ok(Self {
            records,
            runtime: Handle::current(),
        })
    }

    /// Runs `fut` to completion from a blocking thread.
    fn wait<T>(&self, fut: impl Future<Output = T>) -> T {
        self.runtime.block_on(fut)
    }

    /// Runs `work` in one transaction; see [`Store::transact`]. Each
    /// statement is its own `block_on` (they cannot nest), with `work`
    /// running between them on this blocking thread.
    fn run(
        &self,
        fence: Option<&Fence>,
        work: Work,
        read_only: bool,
    ) -> Result<TxOutcome, StoreError> {
        let mut client = self
            .wait(self.records.pool().get())
            .map_err(|e| store_error(e.into()))?;
        let tx = self
            .wait(client.build_transaction().read_only(read_only).start())
            .map_err(map_err)?;
        let reply = work(&mut tx::PgTx::new(&tx, &self.runtime))?;
        if read_only || !reply.is_success() {
            return Ok(TxOutcome::RolledBack(reply)); // dropping `tx` rolls back
        }
        if let Some(fence) = fence {
            let stored = StoredReply {
                status: reply.status,
                headers: reply.headers.clone(),
                body: reply.body.clone(),
            };
            if let Err(err) = self.wait(Records::commit_in(&tx, &claim_of(fence), &stored)) {
                commit_error(err)?;
                return Ok(TxOutcome::FenceLost); // dropping `tx` rolls back the effect
            }
        }
        self.wait(tx.commit()).map_err(map_err)?;
        Ok(TxOutcome::Committed(reply))
    }
}

impl Store for PostgresStore {
    fn claim(&self, req: &ClaimRequest) -> Result<ClaimOutcome, StoreError> {
        let request = RecordClaim {
            record: Key {
                principal: req.record.principal.clone(),
                key: req.record.key.clone(),
            },
            fingerprint: req.fingerprint.clone(),
            method: req.method.clone(),
            path: req.path.clone(),
            now_ms: req.now_ms,
            expired_before_ms: req.expired_before_ms,
            lock_expired_before_ms: req.lock_expired_before_ms,
        };
        let outcome = self
            .wait(self.records.claim(request))
            .map_err(store_error)?;
        Ok(match outcome {
            RecordOutcome::Claimed { fence, takeover } => ClaimOutcome::Claimed { fence, takeover },
            RecordOutcome::Completed(reply) => ClaimOutcome::Completed(Reply {
                status: reply.status,
                headers: reply.headers,
                body: reply.body,
            }),
            RecordOutcome::InFlight => ClaimOutcome::InFlight,
            RecordOutcome::Mismatch => ClaimOutcome::Mismatch,
        })
    }

    fn release(&self, fence: &Fence) -> Result<bool, StoreError> {
        self.wait(self.records.release(claim_of(fence)))
            .map_err(store_error)
    }

    fn transact(&self, fence: Option<&Fence>, work: Work) -> Result<TxOutcome, StoreError> {
        self.run(fence, work, false)
    }

    fn read(&self, work: Work) -> Result<Reply, StoreError> {
        match self.run(None, work, true)? {
            TxOutcome::Committed(reply) | TxOutcome::RolledBack(reply) => Ok(reply),
            TxOutcome::FenceLost => Err(StoreError::Internal("a read lost a fence".into())),
        }
    }

    fn purge(
        &self,
        expired_before_ms: i64,
        lock_expired_before_ms: i64,
    ) -> Result<usize, StoreError> {
        let n = self
            .wait(
                self.records
                    .purge(expired_before_ms, lock_expired_before_ms),
            )
            .map_err(store_error)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn count_fault(&self, name: &str) -> Result<u64, StoreError> {
        self.wait(async {
            let client = self
                .records
                .pool()
                .get()
                .await
                .map_err(|e| store_error(e.into()))?;
            let row = client
                .query_one(
                    "INSERT INTO fault_counters (name, hits) VALUES ($1, 1)
                     ON CONFLICT (name) DO UPDATE SET hits = fault_counters.hits + 1
                     RETURNING hits",
                    &[&name],
                )
                .await
                .map_err(map_err)?;
            let hits: i64 = row.try_get(0).map_err(map_err)?;
            Ok(hits.unsigned_abs())
        })
    }

    fn reset(&self) -> Result<(), StoreError> {
        self.wait(async {
            let client = self
                .records
                .pool()
                .get()
                .await
                .map_err(|e| store_error(e.into()))?;
            client
                .batch_execute(
                    "BEGIN;
                     DELETE FROM payments; DELETE FROM orders; DELETE FROM qr_sessions;
                     DELETE FROM invite_claims; DELETE FROM invites; DELETE FROM memberships;
                     DELETE FROM orgs; DELETE FROM idempotency_keys; DELETE FROM fault_counters;
                     COMMIT;",
                )
                .await
                .map_err(map_err)
        })
    }
}
