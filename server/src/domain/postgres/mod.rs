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
use std::sync::Arc;

use submit_guard_idempotency::{
    CommitError, IdempotencyStore, PostgresOptions, PostgresStore as Records,
};
use tokio::runtime::Handle;

use super::{Claim, Store, StoreError, TxOutcome, Work, random_secret};
use crate::protocol::Reply;

/// The demo's domain tables, beside `idempotency_keys` (created by
/// [`Records`]). `seq` orders lists the way SQLite's `rowid` does.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS orgs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, slug TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL, created_at BIGINT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE TABLE IF NOT EXISTS slug_counters (
    base TEXT PRIMARY KEY, next_n BIGINT NOT NULL
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
CREATE TABLE IF NOT EXISTS server_secrets (
    name TEXT PRIMARY KEY, value BYTEA NOT NULL
);
";

/// Serializes the domain schema's creation between instances starting together.
const SCHEMA_LOCK: i64 = 0x0073_672d_6465_6d6f;

/// A store in a PostgreSQL database; several server processes may share it.
/// Needs tokio's multi-thread runtime (it blocks on its async driver).
#[derive(Clone)]
pub struct PostgresStore {
    records: Records,
    runtime: Handle,
    secret: Vec<u8>,
}

pub(super) fn map_err(err: tokio_postgres::Error) -> StoreError {
    err.into()
}

impl PostgresStore {
    /// Connects to `url` (`postgres://USER@HOST:PORT/DB`) and creates the
    /// records and domain tables if missing. Async: call it before serving.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PostgresOptions {
            max_connections: 32,
            ..PostgresOptions::default()
        };
        let records = Records::connect_with(url, options).await?;
        let mut client = records.pool().get().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .await
            .map_err(map_err)?;
        tx.batch_execute(SCHEMA).await.map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        // One principal secret for every instance on the database: the first
        // to start stores its own, the others read it, so a credential maps
        // to the same principal whichever instance a request reaches. Two
        // statements: the SELECT's snapshot is taken after the INSERT, so it
        // sees a secret another instance committed meanwhile.
        client
            .execute(
                "INSERT INTO server_secrets (name, value) VALUES ('principal', $1)
                 ON CONFLICT (name) DO NOTHING",
                &[&random_secret()?],
            )
            .await
            .map_err(map_err)?;
        let secret: Vec<u8> = client
            .query_one(
                "SELECT value FROM server_secrets WHERE name = 'principal'",
                &[],
            )
            .await
            .map_err(map_err)?
            .try_get(0)
            .map_err(map_err)?;
        drop(client);
        Ok(Self {
            records,
            runtime: Handle::current(),
            secret,
        })
    }

    /// Runs `fut` to completion from a blocking thread (the server calls
    /// the store from `spawn_blocking`); on a worker thread of the
    /// multi-thread runtime, `block_in_place` makes that allowed too.
    fn wait<T>(&self, fut: impl Future<Output = T>) -> T {
        tokio::task::block_in_place(|| self.runtime.block_on(fut))
    }

    /// Runs `work` in one transaction; see [`Store::transact`]. Each
    /// statement is its own `block_on` (they cannot nest), with `work`
    /// running between them on this blocking thread.
    fn run(
        &self,
        claim: Option<&Claim>,
        work: Work,
        read_only: bool,
    ) -> Result<TxOutcome, StoreError> {
        let mut client = self.wait(self.records.pool().get())?;
        let tx = self
            .wait(client.build_transaction().read_only(read_only).start())
            .map_err(map_err)?;
        let reply = work(&mut tx::PgTx::new(&tx, &self.runtime))?;
        if read_only || !reply.is_success() {
            return Ok(TxOutcome::RolledBack(reply)); // dropping `tx` rolls back
        }
        let receipt = match claim {
            Some(claim) => match self.wait(Records::commit_in(&tx, claim, &reply)) {
                Ok(receipt) => Some(receipt),
                // Dropping `tx` rolls back the effect.
                Err(CommitError::FenceLost) => return Ok(TxOutcome::FenceLost),
                Err(CommitError::Store(err)) => return Err(err),
            },
            None => None,
        };
        self.wait(tx.commit()).map_err(map_err)?;
        Ok(TxOutcome::Committed(reply, receipt))
    }

    /// Runs `sql` with `params` on a pooled connection and returns the first
    /// column of its one row.
    fn one<T>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<T, StoreError>
    where
        T: for<'r> tokio_postgres::types::FromSql<'r>,
    {
        self.wait(async {
            let client = self.records.pool().get().await?;
            let row = client.query_one(sql, params).await.map_err(map_err)?;
            row.try_get(0).map_err(map_err)
        })
    }
}

impl Store for PostgresStore {
    fn records(&self) -> Arc<dyn IdempotencyStore> {
        Arc::new(self.records.clone())
    }

    fn transact(&self, claim: Option<&Claim>, work: Work) -> Result<TxOutcome, StoreError> {
        self.run(claim, work, false)
    }

    fn read(&self, work: Work) -> Result<Reply, StoreError> {
        match self.run(None, work, true)? {
            TxOutcome::Committed(reply, _) | TxOutcome::RolledBack(reply) => Ok(reply),
            TxOutcome::FenceLost => Err(StoreError::Internal("a read lost a fence".into())),
        }
    }

    /// One secret for every instance on the database, read at connect.
    fn principal_secret(&self) -> Result<Vec<u8>, StoreError> {
        Ok(self.secret.clone())
    }

    fn count_fault(&self, name: &str) -> Result<u64, StoreError> {
        let hits: i64 = self.one(
            "INSERT INTO fault_counters (name, hits) VALUES ($1, 1)
             ON CONFLICT (name) DO UPDATE SET hits = fault_counters.hits + 1
             RETURNING hits",
            &[&name],
        )?;
        Ok(hits.unsigned_abs())
    }

    fn reset(&self) -> Result<(), StoreError> {
        self.wait(async {
            let client = self.records.pool().get().await?;
            client
                .batch_execute(
                    "BEGIN;
                     DELETE FROM payments; DELETE FROM orders; DELETE FROM qr_sessions;
                     DELETE FROM invite_claims; DELETE FROM invites; DELETE FROM memberships;
                     DELETE FROM orgs; DELETE FROM slug_counters; DELETE FROM fault_counters; DELETE FROM idempotency_keys;
                     COMMIT;",
                )
                .await
                .map_err(map_err)
        })
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("records", &self.records)
            .finish_non_exhaustive()
    }
}
