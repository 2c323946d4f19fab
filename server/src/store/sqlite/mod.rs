//! The SQLite store: one connection (WAL mode, `busy_timeout`) behind a
//! mutex. Claims, releases and transactions each run in one `BEGIN
//! IMMEDIATE` transaction; a request's domain effect and its stored reply
//! commit in the same transaction, and the reply is written by an `UPDATE …
//! WHERE fence = ?` whose miss rolls everything back. A crash between effect
//! and stored reply is therefore impossible: either both are on disk or
//! neither is.

mod tx;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use super::{ClaimOutcome, ClaimRequest, Fence, Store, StoreError, TxOutcome, Work};
use crate::protocol::Reply;

/// Options for [`SqliteStore::open_with`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// How long a statement waits for another process's lock on the file
    /// before the request fails with 503. Default 5 s.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// A store in one SQLite file; state survives restarts and crashes.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS idempotency_keys (
    principal   TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    method      TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    fence       INTEGER NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('locked', 'done', 'free')),
    locked_at   INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    status      INTEGER,
    headers     TEXT,
    body        BLOB,
    PRIMARY KEY (principal, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
CREATE TABLE IF NOT EXISTS orgs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, slug TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS slug_counters (
    base TEXT PRIMARY KEY, next_n INTEGER NOT NULL
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
";

/// Maps SQLite errors: contention and I/O trouble are "unavailable" (503,
/// retry), everything else is internal.
pub(super) fn map_err(err: rusqlite::Error) -> StoreError {
    match err.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::ReadOnly,
        ) => StoreError::Unavailable(err.to_string()),
        _ => StoreError::Internal(err.to_string()),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens (creating if needed) the database at `path`.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(map_err)?;
        conn.busy_timeout(options.busy_timeout).map_err(map_err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(map_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Internal(format!(
                "could not enable WAL, journal_mode is {mode}"
            )));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(map_err)?;
        conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;"))
            .map_err(map_err)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // rusqlite rolls back an unfinished transaction on drop, so a panic
        // while the lock was held leaves the connection usable.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction and commits what it returns `Ok` for.
    ///
    /// This is the bookkeeping (claims, releases, purges, fault counters), so
    /// it commits with `synchronous = NORMAL`: in WAL mode that survives a
    /// process crash, and what a power cut could lose costs nothing — a lost
    /// claim lets the retry claim again. Effects and the replies stored with
    /// them ([`Store::transact`]) commit with `FULL`, whose fsync also makes
    /// every earlier commit in the log durable. One fsync per keyed request,
    /// as without the idempotency layer.
    fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        conn.execute_batch("PRAGMA synchronous = NORMAL")
            .map_err(map_err)?;
        let result = (|| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let value = f(&tx)?;
            tx.commit().map_err(map_err)?;
            Ok(value)
        })();
        conn.execute_batch("PRAGMA synchronous = FULL")
            .map_err(map_err)?;
        result
    }
}

fn reply_from_row(status: i64, headers: &str, body: Vec<u8>) -> Result<Reply, StoreError> {
    let headers: Vec<(String, String)> = serde_json::from_str(headers)
        .map_err(|e| StoreError::Internal(format!("stored headers: {e}")))?;
    Ok(Reply {
        status: u16::try_from(status).map_err(|e| StoreError::Internal(e.to_string()))?,
        headers,
        body,
    })
}

impl Store for SqliteStore {
    fn claim(&self, req: &ClaimRequest) -> Result<ClaimOutcome, StoreError> {
        let r = req;
        self.write(|conn| {
            // 1. A new key: one conditional insert.
            let inserted = conn
                .execute(
                    "INSERT INTO idempotency_keys
                       (principal, key, method, path, fingerprint, fence, state, locked_at, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 1, 'locked', ?6, ?6)
                     ON CONFLICT (principal, key) DO NOTHING",
                    params![r.record.principal, r.record.key, r.method, r.path, r.fingerprint, r.now_ms],
                )
                .map_err(map_err)?;
            if inserted == 1 {
                return Ok(ClaimOutcome::Claimed { fence: 1, takeover: false });
            }
            // 2. Re-arm a released record or an expired completed one, or take
            //    over a stale lock: one conditional update each, fence + 1.
            let rearm = "state = 'free' OR (state = 'done' AND created_at <= ?7)";
            let take_over = "state = 'locked' AND locked_at <= ?8 AND (fingerprint = ?5 OR created_at <= ?7)";
            for (takeover, condition) in [(false, rearm), (true, take_over)] {
                let sql = format!(
                    "UPDATE idempotency_keys
                        SET method = ?3, path = ?4, fingerprint = ?5, fence = fence + 1,
                            state = 'locked', locked_at = ?6, created_at = ?6,
                            status = NULL, headers = NULL, body = NULL
                      WHERE principal = ?1 AND key = ?2 AND ({condition})
                  RETURNING fence"
                );
                let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
                let values: [&dyn rusqlite::ToSql; 8] = [
                    &r.record.principal,
                    &r.record.key,
                    &r.method,
                    &r.path,
                    &r.fingerprint,
                    &r.now_ms,
                    &r.expired_before_ms,
                    &r.lock_expired_before_ms,
                ];
                let count = stmt.parameter_count();
                let fence: Option<i64> = stmt
                    .query_row(&values[..count], |row| row.get(0))
                    .optional()
                    .map_err(map_err)?;
                if let Some(fence) = fence {
                    return Ok(ClaimOutcome::Claimed { fence, takeover });
                }
            }
            // 3. Held by someone else: report what holds it.
            let (state, fingerprint, status, headers, body): (String, String, Option<i64>, Option<String>, Option<Vec<u8>>) = conn
                .query_row(
                    "SELECT state, fingerprint, status, headers, body FROM idempotency_keys
                      WHERE principal = ?1 AND key = ?2",
                    params![r.record.principal, r.record.key],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)),
                )
                .map_err(map_err)?;
            if fingerprint != r.fingerprint {
                return Ok(ClaimOutcome::Mismatch);
            }
            match (state.as_str(), status, headers) {
                ("done", Some(status), Some(headers)) => Ok(ClaimOutcome::Completed(reply_from_row(
                    status,
                    &headers,
                    body.unwrap_or_default(),
                )?)),
                ("done", _, _) => Err(StoreError::Internal("completed record without a reply".into())),
                _ => Ok(ClaimOutcome::InFlight),
            }
        })
    }

    fn release(&self, fence: &Fence) -> Result<bool, StoreError> {
        self.write(|conn| {
            let n = conn
                .execute(
                    "UPDATE idempotency_keys SET state = 'free'
                      WHERE principal = ?1 AND key = ?2 AND fence = ?3 AND state = 'locked'",
                    params![fence.record.principal, fence.record.key, fence.fence],
                )
                .map_err(map_err)?;
            Ok(n == 1)
        })
    }

    fn transact(&self, fence: Option<&Fence>, work: Work) -> Result<TxOutcome, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        let reply = work(&mut tx::SqlTx::new(&tx))?;
        if !reply.is_success() {
            return Ok(TxOutcome::RolledBack(reply)); // dropping `tx` rolls back
        }
        if let Some(fence) = fence {
            let headers = serde_json::to_string(&reply.stored_headers())
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            let stored = tx
                .execute(
                    "UPDATE idempotency_keys SET state = 'done', status = ?4, headers = ?5, body = ?6
                      WHERE principal = ?1 AND key = ?2 AND fence = ?3 AND state = 'locked'",
                    params![fence.record.principal, fence.record.key, fence.fence, reply.status, headers, reply.body],
                )
                .map_err(map_err)?;
            if stored != 1 {
                return Ok(TxOutcome::FenceLost); // dropping `tx` rolls back the effect
            }
        }
        tx.commit().map_err(map_err)?;
        Ok(TxOutcome::Committed(reply))
    }

    fn read(&self, work: Work) -> Result<Reply, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(map_err)?;
        work(&mut tx::SqlTx::new(&tx)) // dropping `tx` rolls back
    }

    fn purge(
        &self,
        expired_before_ms: i64,
        lock_expired_before_ms: i64,
    ) -> Result<usize, StoreError> {
        self.write(|conn| {
            conn.execute(
                "DELETE FROM idempotency_keys
                  WHERE created_at <= ?1 AND NOT (state = 'locked' AND locked_at > ?2)",
                params![expired_before_ms, lock_expired_before_ms],
            )
            .map_err(map_err)
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
                 DELETE FROM orgs; DELETE FROM slug_counters; DELETE FROM idempotency_keys; DELETE FROM fault_counters;",
            )
            .map_err(map_err)
        })
    }
}
