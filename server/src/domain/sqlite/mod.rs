//! The SQLite store: the domain's tables in the same file as the
//! idempotency records of [`submit_guard_idempotency::SqliteStore`], on its
//! one connection (WAL mode, `busy_timeout`) behind its mutex. A request's
//! domain effect and its stored reply commit in one `BEGIN IMMEDIATE`
//! transaction, and the reply is written by
//! [`submit_guard_idempotency::SqliteStore::commit_in`]'s `UPDATE … WHERE
//! fence = ?`, whose miss rolls everything back. A crash between effect and
//! stored reply is therefore impossible: either both are on disk or neither
//! is. Every call first checks that the file is still the one opened
//! ([`submit_guard_idempotency::SqliteStore::check`]).
//!
//! Reads run on connections of their own (read-only, each in a WAL
//! snapshot), kept in a small pool, so that list endpoints under load never
//! queue behind, or hold up, the writer's mutex.

mod tx;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use submit_guard_idempotency::{
    CommitError, IdempotencyStore, SqliteOptions, SqliteStore as Records,
};

use super::{Claim, Store, StoreError, TxOutcome, Work, random_secret};
use crate::protocol::Reply;

/// A store in one SQLite file; state survives restarts and crashes.
#[derive(Debug)]
pub struct SqliteStore {
    records: Records,
    readers: Readers,
}

/// Idle read-only connections to the file, opened on demand.
#[derive(Debug)]
struct Readers {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

/// At most this many idle readers are kept; more may be open at once.
const MAX_IDLE_READERS: usize = 8;

impl Readers {
    /// Runs `f` in a read transaction on a connection of its own.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(map_err)?;
                conn.busy_timeout(self.busy_timeout).map_err(map_err)?;
                conn
            }
        };
        let result = (|| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(map_err)?;
            f(&tx) // dropping `tx` rolls back
        })();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS orgs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, slug TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS memberships (
    id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES orgs (id),
    principal TEXT NOT NULL, role TEXT NOT NULL, created_at INTEGER NOT NULL,
    UNIQUE (org_id, principal)
);
CREATE TABLE IF NOT EXISTS invites (
    token TEXT PRIMARY KEY, email TEXT NOT NULL, expires_at INTEGER NOT NULL,
    used_at INTEGER, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS invite_claims (
    id TEXT PRIMARY KEY, token TEXT NOT NULL UNIQUE REFERENCES invites (token),
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS qr_sessions (
    id TEXT PRIMARY KEY, table_ref TEXT NOT NULL, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, items TEXT NOT NULL, version INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY, order_id TEXT NOT NULL UNIQUE REFERENCES orders (id),
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fault_counters (
    name TEXT PRIMARY KEY, hits INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fault_counters (
    name TEXT PRIMARY KEY, hits INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS server_secrets (
    name TEXT PRIMARY KEY, value BLOB NOT NULL
);
";

/// SQLite errors as store errors: contention and I/O trouble are
/// "unavailable" (503, retry), everything else is internal.
pub(super) fn map_err(err: rusqlite::Error) -> StoreError {
    StoreError::from(err)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens (creating if needed) the database at `path`: the records' table
    /// and the domain's.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let busy_timeout = options.busy_timeout;
        let records = Records::open_with(path, options)?;
        records.with_connection(|conn| {
            conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;"))
                .map_err(map_err)
        })?;
        Ok(Self {
            records,
            readers: Readers {
                path: path.to_path_buf(),
                busy_timeout,
                idle: Mutex::default(),
            },
        })
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction and commits what it
    /// returns `Ok` for.
    fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.records.check()?;
        self.records.with_connection(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let value = f(&tx)?;
            tx.commit().map_err(map_err)?;
            Ok(value)
        })
    }
}

impl Store for SqliteStore {
    fn records(&self) -> Arc<dyn IdempotencyStore> {
        Arc::new(self.records.clone())
    }

    fn transact(&self, claim: Option<&Claim>, work: Work) -> Result<TxOutcome, StoreError> {
        self.records.check()?;
        self.records.with_connection(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let reply = work(&mut tx::SqlTx::new(&tx))?;
            if !reply.is_success() {
                return Ok(TxOutcome::RolledBack(reply)); // dropping `tx` rolls back
            }
            let receipt = match claim {
                Some(claim) => match Records::commit_in(&tx, claim, &reply) {
                    Ok(receipt) => Some(receipt),
                    // Dropping `tx` rolls back the effect.
                    Err(CommitError::FenceLost) => return Ok(TxOutcome::FenceLost),
                    Err(CommitError::Store(err)) => return Err(err),
                },
                None => None,
            };
            tx.commit().map_err(map_err)?;
            Ok(TxOutcome::Committed(reply, receipt))
        })
    }

    fn read(&self, work: Work) -> Result<Reply, StoreError> {
        self.records.check()?;
        self.readers.read(|conn| work(&mut tx::SqlTx::new(conn)))
    }

    fn principal_secret(&self) -> Result<Vec<u8>, StoreError> {
        let fresh = random_secret()?;
        self.write(|conn| {
            conn.execute(
                "INSERT INTO server_secrets (name, value) VALUES ('principal', ?1)
                 ON CONFLICT (name) DO NOTHING",
                params![fresh],
            )
            .map_err(map_err)?;
            conn.query_row(
                "SELECT value FROM server_secrets WHERE name = 'principal'",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(map_err)?
            .ok_or_else(|| StoreError::Internal("the principal secret vanished".into()))
        })
    }

    fn count_fault(&self, name: &str) -> Result<u64, StoreError> {
        self.write(|conn| {
            let hits: i64 = conn
                .query_row(
                    "INSERT INTO fault_counters (name, hits) VALUES (?1, 1)
                     ON CONFLICT (name) DO UPDATE SET hits = hits + 1
                     RETURNING hits",
                    params![name],
                    |row| row.get(0),
                )
                .map_err(map_err)?;
            Ok(hits.unsigned_abs())
        })
    }

    fn reset(&self) -> Result<(), StoreError> {
        self.write(|conn| {
            conn.execute_batch(
                "DELETE FROM payments; DELETE FROM orders; DELETE FROM qr_sessions;
                 DELETE FROM invite_claims; DELETE FROM invites; DELETE FROM memberships;
                 DELETE FROM orgs; DELETE FROM fault_counters;",
            )
            .map_err(map_err)
        })?;
        self.records.clear()
    }
}
