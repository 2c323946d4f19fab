//! [`PostgresStore`] on a real PostgreSQL: the store contract
//! (`tests/contract`, each row in a schema of its own); several instances
//! (each its own pool, as separate processes would have) on one database;
//! effects committed in the app's own transaction; a claim holder killed
//! with SIGKILL at each phase.
//!
//! The database is `DATABASE_URL`, which `scripts/with-postgres.sh` (and so
//! `make test-postgres`) sets to a throwaway cluster. Without it each test
//! prints why and passes, unless `SUBMIT_GUARD_REQUIRE_POSTGRES=1` (set by
//! `make test-postgres`), where a missing database is a failure. Tests share
//! the database: each works under a principal (or a schema) of its own.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod contract;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use submit_guard_idempotency::{
    Claim, ClaimOutcome, ClaimRequest, CommitError, IdempotencyStore, PostgresStore, RecordKey,
    Reply, StoreError,
};

/// The clock of these tests starts here (2025-01-01T00:00:00Z).
const T0: i64 = 1_735_689_600_000;
/// Records older than this (ms) are expired.
const RETENTION: i64 = 60_000;
/// Locks older than this (ms) are stale.
const LOCK_TIMEOUT: i64 = 1_000;

/// `DATABASE_URL`, or `None` (after saying why) when the tests may skip.
fn database_url(test: &str) -> Option<String> {
    contract::postgres_url(test)
}

/// A claim of `key` under `scope` with fingerprint `fp` at time `now`.
fn request(scope: &str, key: &str, fp: &str, now: i64) -> ClaimRequest {
    ClaimRequest {
        record: RecordKey {
            principal: scope.to_owned(),
            key: key.to_owned(),
        },
        fingerprint: fp.to_owned(),
        method: "POST".to_owned(),
        path: "/things".to_owned(),
        now_ms: now,
        expired_before_ms: now - RETENTION,
        lock_expired_before_ms: now - LOCK_TIMEOUT,
    }
}

/// A 201 with a header that is stored and one that never is.
fn reply(id: &str) -> Reply {
    Reply {
        status: 201,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("location".into(), format!("/things/{id}")),
            ("set-cookie".into(), "sid=secret".into()),
        ],
        body: format!("{{\"id\":\"{id}\"}}").into_bytes(),
    }
}

/// `reply(id)` as a replay returns it: without `Set-Cookie`.
fn stored(id: &str) -> Reply {
    let mut reply = reply(id);
    reply.headers.retain(|(name, _)| name != "set-cookie");
    reply
}

/// Claims and expects a fresh claim; returns it.
async fn claimed(store: &dyn IdempotencyStore, req: ClaimRequest) -> (Claim, bool) {
    let record = req.record.clone();
    match store.claim(req).await.unwrap() {
        ClaimOutcome::Claimed { fence, takeover } => (Claim::new(record, fence), takeover),
        other => panic!("expected a claim on {record:?}, got {other:?}"),
    }
}

async fn connect(url: &str) -> PostgresStore {
    PostgresStore::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

/// A principal no other test (or earlier run) uses.
fn scope(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{name}/{}/{nanos}", std::process::id())
}

/// The app's own table for the tests' effects.
async fn effects_table(store: &PostgresStore) {
    let mut client = store.pool().get().await.unwrap();
    let tx = client.transaction().await.unwrap();
    tx.execute("SELECT pg_advisory_xact_lock(42)", &[])
        .await
        .unwrap();
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS test_effects (scope TEXT NOT NULL, holder TEXT NOT NULL)",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn effects(store: &PostgresStore, scope: &str) -> Vec<String> {
    let client = store.pool().get().await.unwrap();
    client
        .query(
            "SELECT holder FROM test_effects WHERE scope = $1 ORDER BY holder",
            &[&scope],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// A handler: in one transaction of the app, records its effect (`holder`)
/// and, conditional on the fence, its reply. Commits both or neither.
async fn run_effect(
    store: &PostgresStore,
    scope: &str,
    claim: &Claim,
    holder: &str,
) -> Result<Reply, CommitError> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO test_effects (scope, holder) VALUES ($1, $2)",
        &[&scope, &holder],
    )
    .await?;
    let answer = reply(holder);
    // FenceLost: `tx` drops, which rolls the effect back.
    let committed = PostgresStore::commit_in(&tx, claim, &answer).await?;
    assert_eq!(committed.claim(), claim);
    tx.commit().await?;
    Ok(answer)
}

/// Every row of the store contract, on PostgreSQL.
mod contract_rows {
    contract_suite!(match crate::contract::postgres(module_path!()).await {
        Some(fixture) => fixture,
        None => return,
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_race_for_one_key() {
    let Some(url) = database_url("two_instances_race_for_one_key") else {
        return;
    };
    let stores: [Arc<dyn IdempotencyStore>; 2] =
        [Arc::new(connect(&url).await), Arc::new(connect(&url).await)];
    let scope = scope("race");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let store = stores[i % 2].clone();
        let req = request(&scope, "race", "fp", T0);
        tasks.spawn(async move { store.claim(req).await });
    }
    let (mut claims, mut in_flight) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            Ok(ClaimOutcome::Claimed { fence: 1, .. }) => claims += 1,
            Ok(ClaimOutcome::InFlight) => in_flight += 1,
            other => panic!("unexpected outcome in a claim race: {other:?}"),
        }
    }
    assert_eq!((claims, in_flight), (1, 999));
}

/// 1,000 concurrent requests with one key, spread over two instances, each
/// retrying while the key is in flight: exactly one effect, every request
/// answered with its reply, no store error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_one_effect() {
    let Some(url) = database_url("two_instances_one_effect") else {
        return;
    };
    let stores = [connect(&url).await, connect(&url).await];
    effects_table(&stores[0]).await;
    let scope = scope("one-effect");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let store = stores[i % 2].clone();
        let scope = scope.clone();
        tasks.spawn(async move {
            let holder = format!("request-{i}");
            loop {
                match store.claim(request(&scope, "k", "fp", T0)).await {
                    Ok(ClaimOutcome::Claimed { fence, .. }) => {
                        let claim = Claim::new(
                            RecordKey {
                                principal: scope.clone(),
                                key: "k".into(),
                            },
                            fence,
                        );
                        return run_effect(&store, &scope, &claim, &holder)
                            .await
                            .map(|reply| claim.stored_reply(&reply))
                            .map_err(|e| format!("{holder}: {e}"));
                    }
                    Ok(ClaimOutcome::Completed(reply)) => return Ok(reply),
                    Ok(ClaimOutcome::InFlight) => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    other => return Err(format!("{holder}: {other:?}")),
                }
            }
        });
    }
    let mut replies = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        replies.push(joined.unwrap().unwrap());
    }
    let done = effects(&stores[0], &scope).await;
    assert_eq!(done.len(), 1, "exactly one effect: {done:?}");
    let winner = stored(&done[0]);
    assert_eq!(replies.len(), 1000);
    assert!(
        replies.iter().all(|r| *r == winner),
        "every request got the winner's reply"
    );
}

/// A holder presumed dead (its lock went stale) whose effect is still
/// uncommitted: the other instance takes over with fence + 1 and commits;
/// the late commit is refused and the late effect rolled back; a replay
/// works from either instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_commit_after_takeover_rolls_back() {
    let Some(url) = database_url("late_commit_after_takeover_rolls_back") else {
        return;
    };
    let (a, b) = (connect(&url).await, connect(&url).await);
    effects_table(&a).await;
    let scope = scope("late");
    let (old, _) = claimed(&a, request(&scope, "k", "fp", T0)).await;

    // A's handler has done its effect but not yet committed.
    let mut client = a.pool().get().await.unwrap();
    let slow = client.transaction().await.unwrap();
    slow.execute(
        "INSERT INTO test_effects (scope, holder) VALUES ($1, 'a')",
        &[&scope],
    )
    .await
    .unwrap();

    let (new, takeover) = claimed(&b, request(&scope, "k", "fp", T0 + LOCK_TIMEOUT)).await;
    assert_eq!((new.fence, takeover), (2, true));
    run_effect(&b, &scope, &new, "b").await.unwrap();

    assert_eq!(
        PostgresStore::commit_in(&slow, &old, &reply("a")).await,
        Err(CommitError::FenceLost)
    );
    drop(slow);
    drop(client);
    assert_eq!(effects(&a, &scope).await, ["b"], "A's effect rolled back");
    for store in [&a, &b] {
        assert_eq!(
            store
                .claim(request(&scope, "k", "fp", T0 + LOCK_TIMEOUT + 5))
                .await
                .unwrap(),
            ClaimOutcome::Completed(stored("b"))
        );
    }
}

/// A takeover that races a commit in progress waits for the commit's row
/// lock, then sees the stored reply instead of taking over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_waits_for_a_commit_in_progress() {
    let Some(url) = database_url("takeover_waits_for_a_commit_in_progress") else {
        return;
    };
    let (a, b) = (connect(&url).await, connect(&url).await);
    effects_table(&a).await;
    let scope = scope("waits");
    let (claim, _) = claimed(&a, request(&scope, "k", "fp", T0)).await;

    let mut client = a.pool().get().await.unwrap();
    let tx = client.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO test_effects (scope, holder) VALUES ($1, 'a')",
        &[&scope],
    )
    .await
    .unwrap();
    let _receipt = PostgresStore::commit_in(&tx, &claim, &reply("a"))
        .await
        .unwrap();

    let takeover = {
        let (b, scope) = (b.clone(), scope.clone());
        tokio::spawn(async move { b.claim(request(&scope, "k", "fp", T0 + LOCK_TIMEOUT)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !takeover.is_finished(),
        "the takeover waits for the row lock of the commit in progress"
    );
    tx.commit().await.unwrap();
    assert_eq!(
        takeover.await.unwrap().unwrap(),
        ClaimOutcome::Completed(stored("a"))
    );
    assert_eq!(effects(&b, &scope).await, ["a"]);
}

/// A table dropped under a running store is a permanent fault
/// ([`StoreError::Failed`], not `Unavailable` inviting a retry) and is not
/// silently re-created; an unreachable database at start is an error that
/// names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_faults_are_reported_as_such() {
    let Some(url) = database_url("permanent_faults_are_reported_as_such") else {
        return;
    };
    // A schema of its own, so that dropping the table leaves the other tests alone.
    let admin = connect(&url).await;
    let schema = format!("dropped_{}", std::process::id());
    admin
        .pool()
        .get()
        .await
        .unwrap()
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{sep}options=-csearch_path%3D{schema}");
    let store = connect(&scoped).await;
    claimed(&store, request("p", "k", "fp", T0)).await;
    admin
        .pool()
        .get()
        .await
        .unwrap()
        .batch_execute(&format!("DROP TABLE {schema}.idempotency_keys"))
        .await
        .unwrap();
    for _ in 0..2 {
        match store.claim(request("p", "k2", "fp", T0)).await {
            Err(StoreError::Failed(message)) => {
                assert!(message.contains("idempotency_keys"), "{message}")
            }
            other => panic!("expected a permanent failure, got {other:?}"),
        }
    }

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let nowhere = format!("postgres://postgres@127.0.0.1:{port}/db");
    let err = PostgresStore::connect(&nowhere).await.unwrap_err();
    assert!(
        err.to_string().contains(&nowhere) && err.to_string().contains("cannot set up"),
        "{err}"
    );
    let err = PostgresStore::connect("postgres://[bad").await.unwrap_err();
    assert!(err.to_string().contains("invalid PostgreSQL URL"), "{err}");
}

const HOLDER_PHASE: &str = "SG_PG_HOLDER_PHASE";
const HOLDER_SCOPE: &str = "SG_PG_HOLDER_SCOPE";

/// Not a test: the claim holder that the kill tests start as a process of
/// its own (this test binary, run with `--ignored --exact holder`). It claims
/// at [`T0`], goes as far as its phase says, prints `holding` and waits to
/// be killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a helper process of the kill tests, started by them"]
async fn holder() {
    let (Ok(phase), Ok(scope), Some(url)) = (
        std::env::var(HOLDER_PHASE),
        std::env::var(HOLDER_SCOPE),
        database_url("holder"),
    ) else {
        return;
    };
    let store = connect(&url).await;
    let (claim, _) = claimed(&store, request(&scope, "k", "fp", T0)).await;
    let mut client = store.pool().get().await.unwrap();
    let tx = client.transaction().await.unwrap();
    if phase != "claim" {
        tx.execute(
            "INSERT INTO test_effects (scope, holder) VALUES ($1, 'dead')",
            &[&scope],
        )
        .await
        .unwrap();
    }
    if phase == "commit-in" || phase == "commit" {
        let _receipt = PostgresStore::commit_in(&tx, &claim, &reply("dead"))
            .await
            .unwrap();
    }
    if phase == "commit" {
        tx.commit().await.unwrap();
    }
    println!("holding");
    tokio::time::sleep(Duration::from_secs(600)).await;
}

/// Starts the holder at `phase`, kills it with SIGKILL once it holds, and
/// returns what the other instance then sees: the outcome of its claim
/// after the lock timeout, and the effects.
async fn kill_holder(url: &str, phase: &str) -> (ClaimOutcome, Vec<String>, PostgresStore, String) {
    let store = connect(url).await;
    effects_table(&store).await;
    let scope = scope(&format!("kill-{phase}"));
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "holder",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLDER_PHASE, phase)
        .env(HOLDER_SCOPE, &scope)
        .env("DATABASE_URL", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let holding = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.ends_with("holding")) // after "test holder ... "
    });
    let holding = tokio::time::timeout(Duration::from_secs(60), holding).await;
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(
        matches!(holding, Ok(Ok(true))),
        "the holder never reported holding ({phase})"
    );
    assert_eq!(
        status.signal(),
        Some(9),
        "killed by SIGKILL, not {status:?}"
    );
    let outcome = store
        .claim(request(&scope, "k", "fp", T0 + LOCK_TIMEOUT))
        .await
        .unwrap();
    let done = effects(&store, &scope).await;
    (outcome, done, store, scope)
}

async fn kill_before_commit(phase: &str) {
    let Some(url) = database_url(&format!("kill_{phase}")) else {
        return;
    };
    let (outcome, done, store, scope) = kill_holder(&url, phase).await;
    assert!(
        done.is_empty(),
        "the killed holder's transaction rolled back: {done:?}"
    );
    assert_eq!(
        outcome,
        ClaimOutcome::Claimed {
            fence: 2,
            takeover: true
        },
        "after the lock timeout the other instance takes over"
    );
    let claim = Claim::new(
        RecordKey {
            principal: scope.clone(),
            key: "k".into(),
        },
        2,
    );
    run_effect(&store, &scope, &claim, "alive").await.unwrap();
    assert_eq!(effects(&store, &scope).await, ["alive"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_claim() {
    kill_before_commit("claim").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_effect() {
    kill_before_commit("effect").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_reply_stored_before_commit() {
    kill_before_commit("commit-in").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_commit() {
    let Some(url) = database_url("kill_after_commit") else {
        return;
    };
    let (outcome, done, _, _) = kill_holder(&url, "commit").await;
    assert_eq!(done, ["dead"], "the committed effect survives");
    assert_eq!(
        outcome,
        ClaimOutcome::Completed(stored("dead")),
        "effect and reply committed together: a replay"
    );
}
