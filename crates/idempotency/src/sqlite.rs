//! [`SqliteStore`]: records in a SQLite file (WAL mode), committed in the
//! app's own transaction.
//!
//! The store holds one connection behind a mutex and shares it: the app runs
//! its transactions on it with [`SqliteStore::with_connection`] (so claims
//! and effects never meet `SQLITE_BUSY` inside the process), or on a
//! connection of its own to the same file. Either way the handler's effect
//! and its reply commit together: [`SqliteStore::commit_in`] runs `UPDATE
//! idempotency_keys SET state = 'done', … WHERE fence = ? AND state =
//! 'locked'` inside the app's transaction, and a miss
//! ([`CommitError::FenceLost`]) means the app rolls back. A crash between
//! effect and stored reply is impossible: both are on disk or neither is.
//!
//! Claims, releases and purges commit with `synchronous = NORMAL` (in WAL
//! mode that survives a process crash; what a power cut could lose is a
//! claim, and a lost claim only lets the retry claim again). Run the app's
//! transactions with `synchronous = FULL` (the default this store sets),
//! whose fsync also makes every earlier commit durable.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{
    Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior, params,
};

use crate::protocol::Reply;
use crate::store::{
    BoxFuture, Claim, ClaimOutcome, ClaimRequest, CommitError, Committed, IdempotencyStore,
    StoreError,
};

/// Options for [`SqliteStore::open_with`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// How long a statement waits for another connection's lock on the file
    /// before it fails with [`StoreError::Unavailable`]. Default 5 s.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Idempotency records in one SQLite file; they survive restarts and crashes.
/// Cloning shares the connection.
///
/// The file is watched: if it is deleted or replaced while open (the
/// connection would go on writing to a file nobody will read again, and an
/// acknowledged key would run twice after a restart), every call fails with
/// [`StoreError::Failed`]. A read-only file is refused at open.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    file: Arc<FileIdentity>,
}

/// The database file as opened: its path and (on Unix) device and inode.
#[derive(Debug)]
struct FileIdentity {
    path: PathBuf,
    id: Option<(u64, u64)>,
}

impl FileIdentity {
    fn of(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            id: file_id(path),
        }
    }

    /// Fails if the file is gone or another file now has its name.
    fn check(&self) -> Result<(), StoreError> {
        if self.id.is_some() && file_id(&self.path) != self.id {
            return Err(StoreError::Failed(format!(
                "the database file {} was deleted or replaced while the server had it open; \
                 restore it and restart",
                self.path.display()
            )));
        }
        Ok(())
    }
}

#[cfg(unix)]
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_path: &Path) -> Option<(u64, u64)> {
    None
}

/// The records table. Created by [`SqliteStore::open`] if missing.
pub const SCHEMA: &str = "
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
";

/// Contention and I/O trouble are "unavailable" (503, retry); a read-only
/// database is "failed" (503, no retry: it will not become writable in a
/// second); everything else is internal.
impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(ErrorCode::ReadOnly) => StoreError::Failed(err.to_string()),
            Some(
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::CannotOpen
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull,
            ) => StoreError::Unavailable(err.to_string()),
            _ => StoreError::Internal(err.to_string()),
        }
    }
}

impl From<rusqlite::Error> for CommitError {
    fn from(err: rusqlite::Error) -> Self {
        CommitError::Store(err.into())
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens (creating if needed) the database at `path`: WAL mode,
    /// `synchronous = FULL`, foreign keys on, the records table created.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let conn = Connection::open(path)?;
        if conn.is_readonly(rusqlite::MAIN_DB)? {
            return Err(StoreError::Failed(format!(
                "the database file {} is read-only: every write would fail",
                path.display()
            )));
        }
        conn.busy_timeout(options.busy_timeout)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Internal(format!(
                "could not enable WAL, journal_mode is {mode}"
            )));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;"))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            file: Arc::new(FileIdentity::of(path)),
        })
    }

    /// Runs `f` with the shared connection, holding its lock. Blocking: call
    /// it from `tokio::task::spawn_blocking` in async code. Open transactions
    /// with `TransactionBehavior::Immediate` for writes. Call
    /// [`SqliteStore::check`] first to refuse work on a vanished file.
    pub fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.conn())
    }

    /// Fails with [`StoreError::Failed`] if the database file was deleted or
    /// replaced since it was opened. Every call of the store runs it; an app
    /// running its own transactions through [`SqliteStore::with_connection`]
    /// should too.
    pub fn check(&self) -> Result<(), StoreError> {
        self.file.check()
    }

    /// Stores `reply` on the record `claim` holds, inside the app's
    /// transaction `tx`, conditional on the fence: `UPDATE idempotency_keys
    /// SET state = 'done', … WHERE principal = ? AND key = ? AND fence = ?
    /// AND state = 'locked'`. On [`CommitError::FenceLost`] the app must roll
    /// back (drop `tx`): a takeover happened and the effect must not commit.
    /// Commit only success replies; let the layer release the claim on others.
    pub fn commit_in(
        tx: &Transaction<'_>,
        claim: &Claim,
        reply: &Reply,
    ) -> Result<Committed, CommitError> {
        let stored = claim.stored_reply(reply);
        let headers = serde_json::to_string(&stored.headers)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let updated = tx.execute(
            "UPDATE idempotency_keys SET state = 'done', status = ?4, headers = ?5, body = ?6
              WHERE principal = ?1 AND key = ?2 AND fence = ?3 AND state = 'locked'",
            params![
                claim.record.principal,
                claim.record.key,
                claim.fence,
                stored.status,
                headers,
                stored.body
            ],
        )?;
        if updated == 1 {
            Ok(Committed::attest(claim.clone()))
        } else {
            Err(CommitError::FenceLost)
        }
    }

    /// Deletes every record.
    pub fn clear(&self) -> Result<(), StoreError> {
        self.bookkeeping(|tx| {
            tx.execute("DELETE FROM idempotency_keys", [])?;
            Ok(())
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // rusqlite rolls back an unfinished transaction on drop, so a panic
        // while the lock was held leaves the connection usable.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction with `synchronous =
    /// NORMAL` and commits what it returns `Ok` for (see the module docs).
    fn bookkeeping<T, E: From<rusqlite::Error> + FromStore>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.check().map_err(|err| E::from_store(err))?;
        let mut conn = self.conn();
        conn.execute_batch("PRAGMA synchronous = NORMAL")?;
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })();
        conn.execute_batch("PRAGMA synchronous = FULL")?;
        result
    }

    /// Runs blocking `f` on tokio's blocking pool (inline outside a runtime).
    fn blocking<T, E>(
        &self,
        f: impl FnOnce(&Self) -> Result<T, E> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, E>>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let store = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => Box::pin(async move {
                match runtime.spawn_blocking(move || f(&store)).await {
                    Ok(result) => result,
                    Err(err) => {
                        Err(StoreError::Internal(format!("store task failed: {err}")).into())
                    }
                }
            }),
            Err(_) => Box::pin(std::future::ready(f(&store))),
        }
    }

    fn claim_now(&self, r: &ClaimRequest) -> Result<ClaimOutcome, StoreError> {
        self.bookkeeping(|conn| {
            // 1. A new key: one conditional insert.
            let inserted = conn.execute(
                "INSERT INTO idempotency_keys
                   (principal, key, method, path, fingerprint, fence, state, locked_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1, 'locked', ?6, ?6)
                 ON CONFLICT (principal, key) DO NOTHING",
                params![
                    r.record.principal,
                    r.record.key,
                    r.method,
                    r.path,
                    r.fingerprint,
                    r.now_ms
                ],
            )?;
            if inserted == 1 {
                return Ok(ClaimOutcome::Claimed {
                    fence: 1,
                    takeover: false,
                });
            }
            // 2. Re-arm a released record or an expired completed one, or take
            //    over a stale lock: one conditional update each, fence + 1.
            let rearm = "state = 'free' OR (state = 'done' AND created_at <= ?7)";
            let take_over =
                "state = 'locked' AND locked_at <= ?8 AND (fingerprint = ?5 OR created_at <= ?7)";
            for (takeover, condition) in [(false, rearm), (true, take_over)] {
                let sql = format!(
                    "UPDATE idempotency_keys
                        SET method = ?3, path = ?4, fingerprint = ?5, fence = fence + 1,
                            state = 'locked', locked_at = ?6, created_at = ?6,
                            status = NULL, headers = NULL, body = NULL
                      WHERE principal = ?1 AND key = ?2 AND ({condition})
                  RETURNING fence"
                );
                let mut stmt = conn.prepare_cached(&sql)?;
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
                let count = stmt.parameter_count().min(values.len());
                let fence: Option<i64> = stmt
                    .query_row(values.get(..count).unwrap_or(&values), |row| row.get(0))
                    .optional()?;
                if let Some(fence) = fence {
                    return Ok(ClaimOutcome::Claimed { fence, takeover });
                }
            }
            // 3. Held by someone else: report what holds it.
            type Row = (String, String, Option<i64>, Option<String>, Option<Vec<u8>>);
            let (state, fingerprint, status, headers, body): Row = conn.query_row(
                "SELECT state, fingerprint, status, headers, body FROM idempotency_keys
                  WHERE principal = ?1 AND key = ?2",
                params![r.record.principal, r.record.key],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                },
            )?;
            if fingerprint != r.fingerprint {
                return Ok(ClaimOutcome::Mismatch);
            }
            match (state.as_str(), status, headers) {
                ("done", Some(status), Some(headers)) => Ok(ClaimOutcome::Completed(
                    reply_from_row(status, &headers, body.unwrap_or_default())?,
                )),
                ("done", _, _) => Err(StoreError::Internal(
                    "completed record without a reply".into(),
                )),
                _ => Ok(ClaimOutcome::InFlight),
            }
        })
    }
}

/// Store errors into the error types the bookkeeping returns.
trait FromStore {
    fn from_store(err: StoreError) -> Self;
}

impl FromStore for StoreError {
    fn from_store(err: StoreError) -> Self {
        err
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

impl IdempotencyStore for SqliteStore {
    fn claim(&self, req: ClaimRequest) -> BoxFuture<'_, Result<ClaimOutcome, StoreError>> {
        self.blocking(move |store| store.claim_now(&req))
    }

    fn complete(
        &self,
        claim: Claim,
        reply: Reply,
    ) -> BoxFuture<'_, Result<Committed, CommitError>> {
        self.blocking(move |store| {
            store.check()?;
            let mut conn = store.conn();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let committed = Self::commit_in(&tx, &claim, &reply)?;
            tx.commit()?;
            Ok(committed)
        })
    }

    fn release(&self, claim: Claim) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.blocking(move |store| {
            store.bookkeeping(|tx| {
                let n = tx.execute(
                    "UPDATE idempotency_keys SET state = 'free'
                      WHERE principal = ?1 AND key = ?2 AND fence = ?3 AND state = 'locked'",
                    params![claim.record.principal, claim.record.key, claim.fence],
                )?;
                Ok(n == 1)
            })
        })
    }

    fn purge(
        &self,
        expired_before_ms: i64,
        lock_expired_before_ms: i64,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.blocking(move |store| {
            store.bookkeeping(|tx| {
                let n = tx.execute(
                    "DELETE FROM idempotency_keys
                      WHERE created_at <= ?1 AND NOT (state = 'locked' AND locked_at > ?2)",
                    params![expired_before_ms, lock_expired_before_ms],
                )?;
                Ok(u64::try_from(n).unwrap_or(u64::MAX))
            })
        })
    }
}
