//! The store contract: one table of protocol rows, races and fencing, run
//! against every [`IdempotencyStore`]. A store plugs in with a [`Fixture`]
//! and one line: `contract_suite!(my_fixture());` (see `tests/stores.rs`).

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::json;
use submit_guard_idempotency::{
    Claim, ClaimOutcome, ClaimRequest, CommitError, Committed, IdempotencyStore, MemoryStore,
    RecordKey, Reply, SqliteStore,
};

/// The clock's start.
pub const T0: i64 = 1_000_000_000;
/// Retention used by [`claim`]: 1000 s.
pub const RETENTION: i64 = 1_000_000;
/// Lock timeout used by [`claim`]: 30 s.
pub const LOCK_TIMEOUT: i64 = 30_000;

/// A store under test plus what the contract needs beyond the trait: an app
/// transaction that commits an effect and the reply under a claim together.
pub trait Fixture: Send + Sync + 'static {
    /// The store.
    fn store(&self) -> Arc<dyn IdempotencyStore>;
    /// In one app transaction: records the effect `name`, and under `claim`
    /// (if any) the reply. On any error nothing of it may remain. Blocking.
    fn commit_with_effect(
        &self,
        claim: Option<&Claim>,
        reply: &Reply,
        name: &str,
    ) -> Result<Option<Committed>, CommitError>;
    /// The committed effects, oldest first. Blocking.
    fn effects(&self) -> Vec<String>;
}

/// The memory store; effects in a list guarded by the records' lock.
pub struct MemoryFixture {
    store: Arc<MemoryStore>,
    effects: Mutex<Vec<String>>,
}

pub fn memory() -> Arc<dyn Fixture> {
    Arc::new(MemoryFixture {
        store: Arc::new(MemoryStore::new()),
        effects: Mutex::default(),
    })
}

impl Fixture for MemoryFixture {
    fn store(&self) -> Arc<dyn IdempotencyStore> {
        self.store.clone()
    }

    fn commit_with_effect(
        &self,
        claim: Option<&Claim>,
        reply: &Reply,
        name: &str,
    ) -> Result<Option<Committed>, CommitError> {
        match claim {
            Some(claim) => {
                let tx = self.store.begin(claim)?;
                self.effects.lock().unwrap().push(name.to_owned());
                Ok(Some(tx.commit(reply)))
            }
            None => {
                self.effects.lock().unwrap().push(name.to_owned());
                Ok(None)
            }
        }
    }

    fn effects(&self) -> Vec<String> {
        self.effects.lock().unwrap().clone()
    }
}

/// The SQLite store in a temporary file; effects in a table of the app's.
pub struct SqliteFixture {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

pub fn sqlite() -> Arc<dyn Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("records.db")).unwrap();
    store.with_connection(|conn| {
        conn.execute_batch("CREATE TABLE effects (name TEXT NOT NULL)")
            .unwrap();
    });
    Arc::new(SqliteFixture { store, _dir: dir })
}

impl Fixture for SqliteFixture {
    fn store(&self) -> Arc<dyn IdempotencyStore> {
        Arc::new(self.store.clone())
    }

    fn commit_with_effect(
        &self,
        claim: Option<&Claim>,
        reply: &Reply,
        name: &str,
    ) -> Result<Option<Committed>, CommitError> {
        self.store.with_connection(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute("INSERT INTO effects (name) VALUES (?1)", [name])?;
            let receipt = match claim {
                Some(claim) => Some(SqliteStore::commit_in(&tx, claim, reply)?),
                None => None,
            };
            tx.commit()?;
            Ok(receipt)
        })
    }

    fn effects(&self) -> Vec<String> {
        self.store.with_connection(|conn| {
            let mut stmt = conn
                .prepare("SELECT name FROM effects ORDER BY rowid")
                .unwrap();
            stmt.query_map([], |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        })
    }
}

/// `DATABASE_URL`, or `None` (after saying why) when PostgreSQL tests may
/// skip (`support/database_url.rs`).
#[cfg(feature = "postgres")]
#[path = "../support/database_url.rs"]
mod database_url;
#[cfg(feature = "postgres")]
pub use database_url::database_url as postgres_url;

/// The contract's fixture: a store in a fresh schema (so that each row of
/// the contract starts from an empty table, as with the other stores), with
/// the app's effects in a table beside the records.
#[cfg(feature = "postgres")]
pub struct PostgresFixture {
    store: submit_guard_idempotency::PostgresStore,
    runtime: tokio::runtime::Handle,
}

/// The PostgreSQL fixture, or `None` (the test returns) without a
/// database; see [`postgres_url`].
#[cfg(feature = "postgres")]
pub async fn postgres(test: &str) -> Option<Arc<dyn Fixture>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SCHEMAS: AtomicUsize = AtomicUsize::new(0);
    let url = postgres_url(test)?;
    let schema = format!(
        "contract_{}_{}",
        std::process::id(),
        SCHEMAS.fetch_add(1, Ordering::SeqCst)
    );
    let admin = submit_guard_idempotency::PostgresStore::connect(&url)
        .await
        .unwrap();
    admin
        .pool()
        .get()
        .await
        .unwrap()
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
             CREATE TABLE {schema}.effects (name TEXT NOT NULL, seq BIGINT GENERATED ALWAYS AS IDENTITY)"
        ))
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let store = submit_guard_idempotency::PostgresStore::connect(&format!(
        "{url}{sep}options=-csearch_path%3D{schema}"
    ))
    .await
    .unwrap();
    Some(Arc::new(PostgresFixture {
        store,
        runtime: tokio::runtime::Handle::current(),
    }))
}

#[cfg(feature = "postgres")]
impl Fixture for PostgresFixture {
    fn store(&self) -> Arc<dyn IdempotencyStore> {
        Arc::new(self.store.clone())
    }

    fn commit_with_effect(
        &self,
        claim: Option<&Claim>,
        reply: &Reply,
        name: &str,
    ) -> Result<Option<Committed>, CommitError> {
        self.runtime.block_on(async {
            let mut client = self.store.pool().get().await?;
            let tx = client.transaction().await?;
            tx.execute("INSERT INTO effects (name) VALUES ($1)", &[&name])
                .await?;
            let receipt = match claim {
                Some(claim) => Some(
                    submit_guard_idempotency::PostgresStore::commit_in(&tx, claim, reply).await?,
                ),
                None => None,
            };
            tx.commit().await?;
            Ok(receipt)
        })
    }

    fn effects(&self) -> Vec<String> {
        self.runtime.block_on(async {
            let client = self.store.pool().get().await.unwrap();
            client
                .query("SELECT name FROM effects ORDER BY seq", &[])
                .await
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect()
        })
    }
}

/// Defines the contract's tests for `$fixture` (an expression giving an
/// `Arc<dyn Fixture>`), in the enclosing module.
#[macro_export]
macro_rules! contract_suite {
    ($fixture:expr) => {
        $crate::contract_suite!(@tests $fixture;
            claim_commit_replay,
            release_rearms,
            stale_holder_is_fenced_off,
            retention_expiry_and_purge,
            plain_mode_completes_once,
            one_of_many_concurrent_claims_wins,
            set_cookie_is_never_stored,
        );
    };
    (@tests $fixture:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::contract::$name($fixture).await
            }
        )*
    };
}

pub fn claim(key: &str, fingerprint: &str, now: i64) -> ClaimRequest {
    ClaimRequest {
        record: record(key),
        fingerprint: fingerprint.into(),
        method: "POST".into(),
        path: "/notes".into(),
        now_ms: now,
        expired_before_ms: now - RETENTION,
        lock_expired_before_ms: now - LOCK_TIMEOUT,
    }
}

fn record(key: &str) -> RecordKey {
    RecordKey {
        principal: "anonymous".into(),
        key: key.into(),
    }
}

fn held(key: &str, fence: i64) -> Claim {
    Claim::new(record(key), fence)
}

fn claimed(fence: i64, takeover: bool) -> ClaimOutcome {
    ClaimOutcome::Claimed { fence, takeover }
}

fn created() -> Reply {
    Reply::json(StatusCode::CREATED, &json!({ "id": 1 }))
        .with_header("location", "/notes/1")
        .with_header("set-cookie", "sid=leak")
        .with_header("x-other", "1")
}

/// Runs the blocking commit on the blocking pool, as an app would.
async fn commit(
    f: &Arc<dyn Fixture>,
    claim: Claim,
    name: &'static str,
) -> Result<Option<Committed>, CommitError> {
    let f = f.clone();
    tokio::task::spawn_blocking(move || f.commit_with_effect(Some(&claim), &created(), name))
        .await
        .unwrap()
}

async fn effects(f: &Arc<dyn Fixture>) -> Vec<String> {
    let f = f.clone();
    tokio::task::spawn_blocking(move || f.effects())
        .await
        .unwrap()
}

pub async fn claim_commit_replay(f: Arc<dyn Fixture>) {
    let s = f.store();
    assert_eq!(s.claim(claim("k", "fp", T0)).await, Ok(claimed(1, false)));
    assert_eq!(
        s.claim(claim("k", "fp", T0 + 1)).await,
        Ok(ClaimOutcome::InFlight)
    );
    assert_eq!(
        s.claim(claim("k", "other", T0 + 1)).await,
        Ok(ClaimOutcome::Mismatch)
    );
    let receipt = commit(&f, held("k", 1), "first").await.unwrap().unwrap();
    assert_eq!(receipt.claim(), &held("k", 1));
    let Ok(ClaimOutcome::Completed(stored)) = s.claim(claim("k", "fp", T0 + 2)).await else {
        panic!("expected a replay");
    };
    assert_eq!((stored.status, &stored.body), (201, &created().body));
    assert_eq!(
        s.claim(claim("k", "other", T0 + 2)).await,
        Ok(ClaimOutcome::Mismatch)
    );
    // A second commit under the same claim finds the record done: refused.
    assert_eq!(
        commit(&f, held("k", 1), "again").await,
        Err(CommitError::FenceLost)
    );
    assert_eq!(effects(&f).await, ["first"]);
    // Another principal's record with the same key is another record.
    let mut other = claim("k", "fp", T0 + 3);
    other.record.principal = "auth:someone".into();
    assert_eq!(s.claim(other).await, Ok(claimed(1, false)));
}

pub async fn release_rearms(f: Arc<dyn Fixture>) {
    let s = f.store();
    assert_eq!(s.claim(claim("k", "fp", T0)).await, Ok(claimed(1, false)));
    assert_eq!(s.release(held("k", 1)).await, Ok(true));
    assert_eq!(s.release(held("k", 1)).await, Ok(false), "released once");
    // Nothing was stored, so a new body may claim it.
    assert_eq!(
        s.claim(claim("k", "fixed", T0 + 1)).await,
        Ok(claimed(2, false))
    );
    assert_eq!(
        commit(&f, held("k", 1), "stale").await,
        Err(CommitError::FenceLost)
    );
    commit(&f, held("k", 2), "fresh").await.unwrap();
    assert_eq!(effects(&f).await, ["fresh"]);
}

pub async fn stale_holder_is_fenced_off(f: Arc<dyn Fixture>) {
    let s = f.store();
    assert_eq!(s.claim(claim("k", "fp", T0)).await, Ok(claimed(1, false)));
    let fresh = T0 + LOCK_TIMEOUT - 1;
    assert_eq!(
        s.claim(claim("k", "fp", fresh)).await,
        Ok(ClaimOutcome::InFlight)
    );
    let stale = T0 + LOCK_TIMEOUT;
    assert_eq!(
        s.claim(claim("k", "other", stale)).await,
        Ok(ClaimOutcome::Mismatch),
        "a stale lock is never taken over by another body"
    );
    assert_eq!(s.claim(claim("k", "fp", stale)).await, Ok(claimed(2, true)));
    // The presumed-dead holder wakes up: its commit and its effect are refused.
    assert_eq!(
        commit(&f, held("k", 1), "late").await,
        Err(CommitError::FenceLost)
    );
    assert_eq!(s.release(held("k", 1)).await, Ok(false));
    assert!(effects(&f).await.is_empty(), "the late effect rolled back");
    commit(&f, held("k", 2), "new holder").await.unwrap();
    assert!(matches!(
        s.claim(claim("k", "fp", stale + 1)).await,
        Ok(ClaimOutcome::Completed(_))
    ));
    assert_eq!(effects(&f).await, ["new holder"]);
}

pub async fn retention_expiry_and_purge(f: Arc<dyn Fixture>) {
    let s = f.store();
    assert_eq!(s.claim(claim("old", "fp", T0)).await, Ok(claimed(1, false)));
    commit(&f, held("old", 1), "old").await.unwrap();
    let later = T0 + RETENTION;
    // At the retention boundary the record is expired: new, any body.
    assert_eq!(
        s.claim(claim("old", "new-body", later)).await,
        Ok(claimed(2, false))
    );
    assert_eq!(s.release(held("old", 2)).await, Ok(true));
    assert_eq!(
        s.claim(claim("live", "fp", later)).await,
        Ok(claimed(1, false))
    );
    let much_later = later + RETENTION;
    assert_eq!(
        s.claim(claim("fresh", "fp", much_later)).await,
        Ok(claimed(1, false))
    );
    // An expired record goes, an expired-but-unfinished lock goes, a fresh one stays.
    assert_eq!(
        s.purge(much_later - RETENTION, much_later - LOCK_TIMEOUT)
            .await,
        Ok(2)
    );
    assert_eq!(
        s.claim(claim("old", "x", much_later)).await,
        Ok(claimed(1, false)),
        "purged: starts over at fence 1"
    );
    assert_eq!(
        s.claim(claim("fresh", "fp", much_later)).await,
        Ok(ClaimOutcome::InFlight)
    );
}

pub async fn plain_mode_completes_once(f: Arc<dyn Fixture>) {
    let s = f.store();
    assert_eq!(s.claim(claim("k", "fp", T0)).await, Ok(claimed(1, false)));
    let receipt = s.complete(held("k", 1), created()).await.unwrap();
    assert_eq!(receipt.claim().fence, 1);
    assert_eq!(
        s.complete(held("k", 1), created()).await,
        Err(CommitError::FenceLost)
    );
    assert_eq!(
        s.complete(held("nothing", 1), created()).await,
        Err(CommitError::FenceLost)
    );
    let Ok(ClaimOutcome::Completed(stored)) = s.claim(claim("k", "fp", T0 + 1)).await else {
        panic!("expected a replay");
    };
    assert_eq!(stored.status, 201);
}

pub async fn one_of_many_concurrent_claims_wins(f: Arc<dyn Fixture>) {
    let s = f.store();
    let attempts: Vec<_> = (0..64)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.claim(claim("race", "fp", T0 + i % 3)).await })
        })
        .collect();
    let mut won = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(ClaimOutcome::Claimed {
                fence: 1,
                takeover: false,
            }) => won += 1,
            Ok(ClaimOutcome::InFlight) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 1);
}

pub async fn set_cookie_is_never_stored(f: Arc<dyn Fixture>) {
    let s = f.store();
    assert_eq!(s.claim(claim("k", "fp", T0)).await, Ok(claimed(1, false)));
    commit(&f, held("k", 1), "e").await.unwrap();
    let Ok(ClaimOutcome::Completed(stored)) = s.claim(claim("k", "fp", T0 + 1)).await else {
        panic!("expected a replay");
    };
    let names: Vec<_> = stored.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["content-type", "location"]);
    // A claim naming its own headers keeps those, and still never Set-Cookie.
    assert_eq!(s.claim(claim("k2", "fp", T0)).await, Ok(claimed(1, false)));
    let custom = Claim::with_stored_headers(
        record("k2"),
        1,
        Arc::from(vec![
            http::HeaderName::from_static("x-other"),
            http::header::SET_COOKIE,
        ]),
    );
    let _receipt = s.complete(custom, created()).await.unwrap();
    let Ok(ClaimOutcome::Completed(stored)) = s.claim(claim("k2", "fp", T0 + 1)).await else {
        panic!("expected a replay");
    };
    assert_eq!(stored.headers, [("x-other".to_owned(), "1".to_owned())]);
}
