//! [`PostgresStore`]: records in PostgreSQL, shared by every instance of the
//! app that connects to the same database, committed in the app's own
//! transaction.
//!
//! The store holds a connection pool ([`deadpool_postgres`] over
//! [`tokio_postgres`]) and lends it out: the app runs its transactions on
//! [`PostgresStore::pool`] (or on a pool of its own to the same database), and
//! [`PostgresStore::commit_in`] runs `UPDATE idempotency_keys SET state =
//! 'done', … WHERE principal = $1 AND key = $2 AND fence = $3 AND state =
//! 'locked'` inside that transaction. No row matched
//! ([`CommitError::FenceLost`]) means the claim was taken over: the app rolls
//! back. Both commit or neither does, so a crash between effect and stored
//! reply is impossible, and a process killed mid-transaction loses its
//! connection, which makes PostgreSQL roll its transaction back.
//!
//! # Several instances
//!
//! A claim is one statement, one round trip, that PostgreSQL makes atomic
//! across connections (see [`crate::store`]): `INSERT … ON CONFLICT DO
//! NOTHING RETURNING fence`, so of any number of concurrent first requests
//! exactly one inserts; else, in the same statement, a conditional `UPDATE …
//! SET fence = fence + 1 … RETURNING fence` re-arms a released or expired
//! record or takes over a stale lock, and since an update row-locks and
//! re-checks its condition, exactly one of several racing claimants gets
//! each fence; else the same statement reads the record to explain the
//! refusal. A commit holds the record's row lock
//! until the app's transaction ends, so a takeover racing a commit waits for
//! it and then sees the stored reply.
//!
//! Times are the `now_ms` the caller passes in (the app's clock), as for the
//! other stores, so the same contract tests drive all of them with a manual
//! clock. With several instances their clocks matter for liveness only: an
//! instance whose clock runs ahead takes over stale locks that much sooner
//! (keep clocks in sync with NTP and the lock timeout well above the skew).
//! Safety never depends on clocks: a premature takeover bumps the fence, and
//! the earlier holder's commit then matches no row and rolls back.
//!
//! The schema is created by [`PostgresStore::connect`] if missing, under a
//! transaction-scoped advisory lock so that instances starting together do
//! not race on `CREATE TABLE IF NOT EXISTS`. It is never re-created later:
//! a table dropped under a running store is reported as a permanent
//! [`StoreError::Internal`], not silently replaced.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Transaction};

use crate::protocol::Reply;
use crate::store::{
    BoxFuture, Claim, ClaimOutcome, ClaimRequest, CommitError, Committed, IdempotencyStore,
    StoreError,
};

/// The records table. Created by [`PostgresStore::connect`] if missing.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS idempotency_keys (
    principal   TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    method      TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    fence       BIGINT  NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('locked', 'done', 'free')),
    locked_at   BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    status      INTEGER,
    headers     TEXT,
    body        BYTEA,
    taken_from  TEXT,
    PRIMARY KEY (principal, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
";

/// The advisory lock that serializes schema creation between instances
/// (an arbitrary constant: "sg-idem" in ASCII).
const SCHEMA_LOCK: i64 = 0x0073_672d_6964_656d;

/// How many records one purge statement deletes; the purge repeats until a
/// batch comes back short.
const PURGE_BATCH: i64 = 1000;

/// A claim that reads a record as claimable but could not claim it (a
/// concurrent release, commit or purge in between) tries again, this many
/// times in all before answering 503.
const CLAIM_ROUNDS: usize = 4;

/// The whole claim in one statement, one round trip: a new key is inserted
/// (fence 1); else a released or expired record is re-armed, or a stale lock
/// with the same fingerprint taken over (fence + 1; `taken_from` keeps the
/// state it had, so `RETURNING` can tell a takeover); else the record is read
/// to explain the refusal. The sub-statements share one snapshot: if the
/// insert adds the row, the update cannot see it, so a row is never
/// modified twice. Kind 0: inserted; 1: re-armed or taken over; 2: refused.
const CLAIM: &str = "
WITH inserted AS (
    INSERT INTO idempotency_keys
           (principal, key, method, path, fingerprint, fence, state, locked_at, created_at)
    VALUES ($1, $2, $3, $4, $5, 1, 'locked', $6, $6)
    ON CONFLICT (principal, key) DO NOTHING
    RETURNING fence
), updated AS (
    UPDATE idempotency_keys
       SET taken_from = state, method = $3, path = $4, fingerprint = $5,
           fence = fence + 1, state = 'locked', locked_at = $6, created_at = $6,
           status = NULL, headers = NULL, body = NULL
     WHERE principal = $1 AND key = $2
       AND (state = 'free'
            OR (state = 'done' AND created_at <= $7)
            OR (state = 'locked' AND locked_at <= $8 AND (fingerprint = $5 OR created_at <= $7)))
    RETURNING fence, taken_from = 'locked' AS takeover
)
SELECT 0 AS kind, fence, false AS takeover, NULL::text AS state, NULL::text AS fingerprint,
       NULL::integer AS status, NULL::text AS headers, NULL::bytea AS body,
       NULL::bigint AS created_at, NULL::bigint AS locked_at
  FROM inserted
UNION ALL
SELECT 1, fence, takeover, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM updated
UNION ALL
SELECT 2, fence, false, state, fingerprint, status, headers, body, created_at, locked_at
  FROM idempotency_keys
 WHERE principal = $1 AND key = $2
   AND NOT EXISTS (SELECT 1 FROM inserted) AND NOT EXISTS (SELECT 1 FROM updated)";

const COMMIT: &str = "
UPDATE idempotency_keys SET state = 'done', status = $4, headers = $5, body = $6
 WHERE principal = $1 AND key = $2 AND fence = $3 AND state = 'locked'";

const RELEASE: &str = "
UPDATE idempotency_keys SET state = 'free'
 WHERE principal = $1 AND key = $2 AND fence = $3 AND state = 'locked'";

/// One batch of expired records, skipping rows another instance (a purge, a
/// claim, a commit) holds: several instances purge side by side.
const PURGE: &str = "
DELETE FROM idempotency_keys k
 USING (SELECT principal, key FROM idempotency_keys
         WHERE created_at <= $1 AND NOT (state = 'locked' AND locked_at > $2)
         LIMIT $3
           FOR UPDATE SKIP LOCKED) expired
 WHERE k.principal = expired.principal AND k.key = expired.key";

/// Options for [`PostgresStore::connect_with`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Most connections the pool opens. Default 16.
    pub max_connections: usize,
    /// How long a call waits for a free connection, or for a new one to be
    /// established, before it fails with [`StoreError::Unavailable`].
    /// Default 5 s.
    pub wait_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            wait_timeout: Duration::from_secs(5),
        }
    }
}

/// Idempotency records in a PostgreSQL database, shared by every instance
/// connected to it. Cloning shares the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("status", &self.pool.status())
            .finish_non_exhaustive()
    }
}

/// Whether `err` is worth retrying: the connection failed or was lost, the
/// server is starting, stopping or out of resources, or the transaction lost
/// a race (serialization failure, deadlock, lock timeout). A missing table,
/// a refused login, a read-only database and the like are permanent.
fn is_transient(err: &tokio_postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    match err.code() {
        Some(code) => {
            let class = code.code().get(..2).unwrap_or_default();
            // 08: connection exception; 53: insufficient resources;
            // 57P0x: shutdown, crash shutdown, cannot connect now.
            class == "08"
                || class == "53"
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::T_R_SERIALIZATION_FAILURE,
                    SqlState::T_R_DEADLOCK_DETECTED,
                    SqlState::LOCK_NOT_AVAILABLE,
                ]
                .contains(code)
        }
        // No SQLSTATE: an I/O error on the socket (refused, reset) is
        // transient; a conversion error or a protocol surprise is not.
        None => std::error::Error::source(err).is_some_and(|source| source.is::<std::io::Error>()),
    }
}

/// Whether `err` says the database itself is broken in a way no retry will
/// fix, until an operator steps in: a table missing (dropped under a running
/// store, which never re-creates it), a refused login or privilege, a
/// database that does not exist or is read-only.
fn is_permanent(err: &tokio_postgres::Error) -> bool {
    let Some(code) = err.code() else {
        return false;
    };
    let class = code.code().get(..2).unwrap_or_default();
    // 28: invalid authorization; 3D: invalid catalog name (no database).
    class == "28"
        || class == "3D"
        || [
            SqlState::UNDEFINED_TABLE,
            SqlState::UNDEFINED_COLUMN,
            SqlState::INSUFFICIENT_PRIVILEGE,
            SqlState::READ_ONLY_SQL_TRANSACTION,
        ]
        .contains(code)
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> Self {
        // The Display of a server error is only "db error"; its message,
        // detail and SQLSTATE are in the source.
        let text = match err.as_db_error() {
            Some(db) => format!(
                "PostgreSQL {}: {}{}",
                db.code().code(),
                db.message(),
                db.detail().map(|d| format!(" ({d})")).unwrap_or_default()
            ),
            None => match std::error::Error::source(&err) {
                Some(source) => format!("PostgreSQL: {err}: {source}"),
                None => format!("PostgreSQL: {err}"),
            },
        };
        if is_transient(&err) {
            StoreError::Unavailable(text)
        } else if is_permanent(&err) {
            StoreError::Failed(text)
        } else {
            StoreError::Internal(text)
        }
    }
}

impl From<tokio_postgres::Error> for CommitError {
    fn from(err: tokio_postgres::Error) -> Self {
        CommitError::Store(err.into())
    }
}

impl From<PoolError> for StoreError {
    fn from(err: PoolError) -> Self {
        match err {
            PoolError::Backend(err) => err.into(),
            PoolError::Timeout(_) => {
                StoreError::Unavailable(format!("PostgreSQL connection pool: {err}"))
            }
            other => StoreError::Internal(format!("PostgreSQL connection pool: {other}")),
        }
    }
}

impl From<PoolError> for CommitError {
    fn from(err: PoolError) -> Self {
        CommitError::Store(err.into())
    }
}

fn reply_from_row(status: i32, headers: &str, body: Vec<u8>) -> Result<Reply, StoreError> {
    let headers: Vec<(String, String)> = serde_json::from_str(headers)
        .map_err(|e| StoreError::Internal(format!("stored headers: {e}")))?;
    Ok(Reply {
        status: u16::try_from(status).map_err(|e| StoreError::Internal(e.to_string()))?,
        headers,
        body,
    })
}

impl PostgresStore {
    /// Connects to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, or a
    /// libpq `key=value` string) with default options; see
    /// [`connect_with`](Self::connect_with).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// Connects to `url` and creates the records table if it is missing.
    /// Fails, naming what was wrong, if the URL does not parse, the server
    /// cannot be reached or refuses the login, or the schema cannot be
    /// created: an app should refuse to start rather than answer 503 forever.
    /// TLS is not supported: connect over loopback or a private network.
    pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::Internal(format!("invalid PostgreSQL URL {}: {e}", redact(url)))
        })?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .wait_timeout(Some(options.wait_timeout))
            .create_timeout(Some(options.wait_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Internal(format!("PostgreSQL connection pool: {e}")))?;
        let store = Self { pool };
        store.create_schema().await.map_err(|err| match err {
            StoreError::Unavailable(e) | StoreError::Failed(e) | StoreError::Internal(e) => {
                StoreError::Internal(format!(
                    "cannot set up the idempotency store at {}: {e}",
                    redact(url)
                ))
            }
        })?;
        Ok(store)
    }

    async fn create_schema(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .await?;
        tx.batch_execute(SCHEMA).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The pool: take a connection from it for the app's own transactions
    /// (`pool.get().await?.transaction().await?`) and call
    /// [`commit_in`](Self::commit_in) in them.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Stores `reply` on the record `claim` holds, inside the app's
    /// transaction `tx`, conditional on the fence: `UPDATE idempotency_keys
    /// SET state = 'done', … WHERE principal = $1 AND key = $2 AND fence = $3
    /// AND state = 'locked'`. On [`CommitError::FenceLost`] the app must roll
    /// back (drop `tx`): a takeover happened and the effect must not commit.
    /// The record stays row-locked until `tx` ends, so call it last, just
    /// before `tx.commit()`. Commit only success replies; let the layer
    /// release the claim on others.
    ///
    /// A `deadpool_postgres::Transaction` derefs to the `tokio_postgres` one:
    /// pass `&tx`.
    pub async fn commit_in(
        tx: &Transaction<'_>,
        claim: &Claim,
        reply: &Reply,
    ) -> Result<Committed, CommitError> {
        let stored = claim.stored_reply(reply);
        let headers = serde_json::to_string(&stored.headers)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let statement = tx.prepare(COMMIT).await?;
        let updated = tx
            .execute(
                &statement,
                &[
                    &claim.record.principal,
                    &claim.record.key,
                    &claim.fence,
                    &i32::from(stored.status),
                    &headers,
                    &stored.body,
                ],
            )
            .await?;
        if updated == 1 {
            Ok(Committed::attest(claim.clone()))
        } else {
            Err(CommitError::FenceLost)
        }
    }

    /// Deletes every record (tests, resets).
    pub async fn clear(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client.execute("DELETE FROM idempotency_keys", &[]).await?;
        Ok(())
    }

    async fn claim_now(&self, r: &ClaimRequest) -> Result<ClaimOutcome, StoreError> {
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(CLAIM).await?;
        for _ in 0..CLAIM_ROUNDS {
            let row = client
                .query_opt(
                    &statement,
                    &[
                        &r.record.principal,
                        &r.record.key,
                        &r.method,
                        &r.path,
                        &r.fingerprint,
                        &r.now_ms,
                        &r.expired_before_ms,
                        &r.lock_expired_before_ms,
                    ],
                )
                .await?;
            // No row at all: the insert met a row that the statement's
            // snapshot cannot see (committed meanwhile), or a purge deleted
            // it. Go round again.
            let Some(row) = row else { continue };
            let kind: i32 = row.try_get(0)?;
            if kind != 2 {
                return Ok(ClaimOutcome::Claimed {
                    fence: row.try_get(1)?,
                    takeover: row.try_get(2)?,
                });
            }
            // Held by someone else. The read saw the statement's snapshot;
            // if a concurrent release or commit made the record claimable
            // since, go round again.
            let state: String = row.try_get(3)?;
            let fingerprint: String = row.try_get(4)?;
            let created_at: i64 = row.try_get(8)?;
            let locked_at: i64 = row.try_get(9)?;
            let claimable = match state.as_str() {
                "free" => true,
                "done" => created_at <= r.expired_before_ms,
                _ => {
                    locked_at <= r.lock_expired_before_ms
                        && (fingerprint == r.fingerprint || created_at <= r.expired_before_ms)
                }
            };
            if claimable {
                continue;
            }
            if fingerprint != r.fingerprint {
                return Ok(ClaimOutcome::Mismatch);
            }
            if state != "done" {
                return Ok(ClaimOutcome::InFlight);
            }
            let status: Option<i32> = row.try_get(5)?;
            let headers: Option<String> = row.try_get(6)?;
            let body: Option<Vec<u8>> = row.try_get(7)?;
            return match (status, headers) {
                (Some(status), Some(headers)) => Ok(ClaimOutcome::Completed(reply_from_row(
                    status,
                    &headers,
                    body.unwrap_or_default(),
                )?)),
                _ => Err(StoreError::Internal(
                    "completed record without a reply".into(),
                )),
            };
        }
        Err(StoreError::Unavailable(format!(
            "the record kept changing under {CLAIM_ROUNDS} claim attempts"
        )))
    }

    async fn complete_now(&self, claim: &Claim, reply: &Reply) -> Result<Committed, CommitError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let committed = Self::commit_in(&tx, claim, reply).await?;
        tx.commit().await?;
        Ok(committed)
    }

    async fn release_now(&self, claim: &Claim) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(RELEASE).await?;
        let n = client
            .execute(
                &statement,
                &[&claim.record.principal, &claim.record.key, &claim.fence],
            )
            .await?;
        Ok(n == 1)
    }

    async fn purge_now(
        &self,
        expired_before_ms: i64,
        lock_expired_before_ms: i64,
    ) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(PURGE).await?;
        let mut total = 0;
        loop {
            let n = client
                .execute(
                    &statement,
                    &[&expired_before_ms, &lock_expired_before_ms, &PURGE_BATCH],
                )
                .await?;
            total += n;
            if n < PURGE_BATCH.unsigned_abs() {
                return Ok(total);
            }
        }
    }
}

/// `url` without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = url.get(scheme + 3..at).unwrap_or_default();
            match userinfo.split_once(':') {
                Some((user, _)) => format!(
                    "{}{user}:***{}",
                    url.get(..scheme + 3).unwrap_or_default(),
                    url.get(at..).unwrap_or_default()
                ),
                None => url.to_owned(),
            }
        }
        _ if url.contains("password") => "(a connection string with a password)".to_owned(),
        _ => url.to_owned(),
    }
}

impl IdempotencyStore for PostgresStore {
    fn claim(&self, req: ClaimRequest) -> BoxFuture<'_, Result<ClaimOutcome, StoreError>> {
        Box::pin(async move { self.claim_now(&req).await })
    }

    fn complete(
        &self,
        claim: Claim,
        reply: Reply,
    ) -> BoxFuture<'_, Result<Committed, CommitError>> {
        Box::pin(async move { self.complete_now(&claim, &reply).await })
    }

    fn release(&self, claim: Claim) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move { self.release_now(&claim).await })
    }

    fn purge(
        &self,
        expired_before_ms: i64,
        lock_expired_before_ms: i64,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            self.purge_now(expired_before_ms, lock_expired_before_ms)
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/app"),
            "postgres://app:***@db:5432/app"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1:5432/db"),
            "postgres://postgres@127.0.0.1:5432/db"
        );
        assert_eq!(
            redact("host=db password=s3cret"),
            "(a connection string with a password)"
        );
        assert_eq!(redact("host=db user=app"), "host=db user=app");
    }
}
