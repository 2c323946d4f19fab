//! Two server processes on one PostgreSQL database, over real TCP: they
//! behave as one server. 1,000 concurrent same-key requests spread over both
//! make exactly one effect and no 5xx; a holder killed with SIGKILL at each
//! phase of a request is taken over by the other instance after the lock
//! timeout (fence + 1); a slow holder's late commit is refused; replays work
//! from either instance.
//!
//! The database is `DATABASE_URL` (set by `scripts/with-postgres.sh`, so by
//! `make test-postgres`). Without it each test prints why and passes, unless
//! `SUBMIT_GUARD_REQUIRE_POSTGRES=1`, where a missing database is a failure.
//! Each test works in a PostgreSQL schema of its own.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use futures_util::future::join_all;
use serde_json::json;

use common::net::{Binary, Client, Got};

// `DATABASE_URL`, or `None` (after saying why) when the tests may skip: the
// idempotency crate's tests use the same rule.
#[path = "../../crates/idempotency/tests/support/database_url.rs"]
mod support_database_url;
use support_database_url::database_url;

/// A fresh schema named `name` in the database at `url`, and the URL that
/// makes a server use it.
async fn fresh_schema(url: &str, name: &str) -> String {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    let schema = format!("{name}_{}", std::process::id());
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .await
        .unwrap();
    drop(client);
    let _ = driver.await;
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-csearch_path%3D{schema}")
}

fn start(store: &str, log: &Path) -> Binary {
    Binary::start(
        &["--store", store, "--test-mode", "--lock-timeout", "1s"],
        log,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_same_key_requests_over_two_instances_make_one_effect() {
    let Some(url) = database_url("thousand_same_key_requests_over_two_instances_make_one_effect")
    else {
        return;
    };
    let store = fresh_schema(&url, "thousand").await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("servers.log");
    let servers = [start(&store, &log), start(&store, &log)];
    let client = Client::new();
    let body = json!({ "name": "Thousand" });
    // A credential: its principal is keyed with the secret both instances
    // read from the database, so it is the same record on either.
    let headers = [
        ("idempotency-key", "same"),
        ("authorization", "Bearer two-instances"),
    ];
    let results = join_all((0..1000).map(|i| {
        let client = client.clone();
        let url = format!("{}/api/orgs", servers[i % 2].base);
        let body = body.clone();
        async move { client.post(&url, &headers, &body).await }
    }))
    .await;
    let mut created = 0;
    for got in &results {
        let got = got.as_ref().unwrap();
        assert!(
            got.status == StatusCode::CREATED || got.status == StatusCode::CONFLICT,
            "only 201 (first or replay) and 409 (in flight): {got:?}"
        );
        if got.status == StatusCode::CREATED && !got.replayed() {
            created += 1;
        }
    }
    assert_eq!(created, 1, "exactly one request ran the handler");
    for server in &servers {
        assert_eq!(
            client.count(&format!("{}/api/orgs", server.base)).await,
            1,
            "exactly one effect, seen from {}",
            server.base
        );
        let replay = client
            .post(&format!("{}/api/orgs", server.base), &headers, &body)
            .await
            .unwrap();
        assert_eq!(replay.status, StatusCode::CREATED);
        assert!(replay.replayed(), "a replay from {}", server.base);
    }
}

/// Retries `POST url` with `headers` while it answers 409, for up to 20 s.
async fn retry_until_answered(client: &Client, url: &str, headers: &[(&str, &str)]) -> Vec<Got> {
    let body = json!({ "name": "Crash Test" });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut attempts = Vec::new();
    loop {
        let got = client.post(url, headers, &body).await.unwrap();
        let done = got.status != StatusCode::CONFLICT;
        attempts.push(got);
        if done {
            return attempts;
        }
        assert!(
            Instant::now() < deadline,
            "still 409 after 20 s: the stale lock was never taken over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Instance A is killed with SIGKILL at `phase` of a keyed request; the
/// client retries on instance B. Returns B's answers and its log.
async fn kill_one_retry_on_the_other(phase: &str) -> (Vec<Got>, String) {
    let url = database_url(&format!("kill_after_{phase}")).unwrap_or_default();
    let store = fresh_schema(&url, &format!("kill_{}", phase.replace('-', "_"))).await;
    let dir = tempfile::tempdir().unwrap();
    let (log_a, log_b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let mut a = start(&store, &log_a);
    let b = start(&store, &log_b);
    let client = Client::new();
    let fault = format!("kill=after-{phase}; times=1");
    let body = json!({ "name": "Crash Test" });
    let lost = client
        .post(
            &format!("{}/api/orgs", a.base),
            &[("idempotency-key", "crash-key"), ("x-fault", &fault)],
            &body,
        )
        .await;
    assert!(lost.is_err(), "A died before answering: {lost:?}");
    let status = a.child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "killed by SIGKILL, not {status:?}"
    );

    // The times=1 counter is in the shared database: the fault does not
    // strike B, which gets the same headers.
    let attempts = retry_until_answered(
        &client,
        &format!("{}/api/orgs", b.base),
        &[("idempotency-key", "crash-key"), ("x-fault", &fault)],
    )
    .await;
    let orgs = client.get(&format!("{}/api/orgs", b.base)).await.json;
    assert_eq!(
        orgs.as_array().unwrap().len(),
        1,
        "exactly one effect after {phase}: {orgs}"
    );
    assert_eq!(
        client.count(&format!("{}/api/memberships", b.base)).await,
        1,
        "the org and its membership committed together"
    );
    let last = attempts.last().unwrap();
    assert_eq!(last.status, StatusCode::CREATED);
    assert_eq!(last.json["id"], orgs[0]["id"]);
    drop(b);
    (attempts, std::fs::read_to_string(&log_b).unwrap())
}

async fn killed_before_commit(phase: &str) {
    if database_url(&format!("kill_after_{phase}")).is_none() {
        return;
    }
    let (attempts, log) = kill_one_retry_on_the_other(phase).await;
    assert!(
        !attempts.last().unwrap().replayed(),
        "nothing committed before the crash: B runs the request"
    );
    let takeover = log
        .lines()
        .find(|line| line.contains("took over a stale lock"))
        .unwrap_or_else(|| panic!("B never took over the dead holder's lock:\n{log}"));
    assert!(
        takeover.contains("fence=2"),
        "the takeover bumps the fence: {takeover}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_claim() {
    killed_before_commit("claim").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_effect_before_commit() {
    killed_before_commit("effect").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_store() {
    if database_url("kill_after_store").is_none() {
        return;
    }
    let (attempts, _) = kill_one_retry_on_the_other("store").await;
    assert_eq!(attempts.len(), 1, "no lock left behind: B answers at once");
    assert!(
        attempts[0].replayed(),
        "effect and response were committed together: a replay"
    );
}

/// A holder that outlives its lock (a 3 s delay against a 1 s lock timeout)
/// is taken over by the other instance, and its late commit is refused: one
/// effect, the late holder told 409 claim-superseded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_commit_after_a_takeover_is_refused() {
    let Some(url) = database_url("a_late_commit_after_a_takeover_is_refused") else {
        return;
    };
    let store = fresh_schema(&url, "late").await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("servers.log");
    let (a, b) = (start(&store, &log), start(&store, &log));
    let client = Client::new();
    let body = json!({ "name": "Late" });
    let slow = {
        let (client, url, body) = (client.clone(), format!("{}/api/orgs", a.base), body.clone());
        tokio::spawn(async move {
            client
                .post(
                    &url,
                    &[("idempotency-key", "late"), ("x-fault", "delay=3000")],
                    &body,
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fresh = client
        .post(
            &format!("{}/api/orgs", b.base),
            &[("idempotency-key", "late")],
            &body,
        )
        .await
        .unwrap();
    assert_eq!(fresh.status, StatusCode::CREATED, "B took over: {fresh:?}");
    assert!(!fresh.replayed());
    let late = slow.await.unwrap().unwrap();
    assert_eq!(late.status, StatusCode::CONFLICT, "{late:?}");
    assert!(
        late.json["type"]
            .as_str()
            .is_some_and(|t| t.contains("superseded")),
        "{}",
        late.json
    );
    assert_eq!(client.count(&format!("{}/api/orgs", a.base)).await, 1);
    let replay = client
        .post(
            &format!("{}/api/orgs", a.base),
            &[("idempotency-key", "late")],
            &body,
        )
        .await
        .unwrap();
    assert!(replay.replayed(), "A replays B's reply");
    assert_eq!(replay.json["id"], fresh.json["id"]);
}

/// An unreachable database at start: the server refuses to start and says
/// which database, without a password.
#[tokio::test]
async fn an_unreachable_database_stops_the_start() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_submit-guard-server"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--store",
            &format!("postgres://app:hunter2@127.0.0.1:{port}/db"),
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}/db")),
        "names the database: {stderr}"
    );
    assert!(!stderr.contains("hunter2"), "no password: {stderr}");
    assert!(output.stdout.is_empty(), "never listened");
}

/// Slugs in constant time on PostgreSQL too: 10,000 orgs already holding
/// `acme` … `acme-9999` (as a probing allocator would have made them) leave
/// every further create of "Acme" a 201 with a slug of its own, and one name
/// created 40 times at once gets `beta`, `beta-1` … from its counter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_name_ten_thousand_times() {
    let Some(url) = database_url("one_name_ten_thousand_times") else {
        return;
    };
    let store = fresh_schema(&url, "slugs").await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(&store, &dir.path().join("server.log"));
    let (db, connection) = tokio_postgres::connect(&store, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    db.batch_execute(
        "INSERT INTO orgs (id, name, slug, owner, created_at)
         SELECT 'seed-' || n, 'Acme', CASE WHEN n = 0 THEN 'acme' ELSE 'acme-' || n END, 'seed', n
           FROM generate_series(0, 9999) AS n",
    )
    .await
    .unwrap();
    drop(db);
    let _ = driver.await;

    let client = Client::new();
    let orgs = format!("{}/api/orgs", server.base);
    let mut slugs = std::collections::HashSet::new();
    for _ in 0..5 {
        let got = client
            .post(&orgs, &[], &json!({ "name": "Acme" }))
            .await
            .unwrap();
        assert_eq!(got.status, StatusCode::CREATED, "{got:?}");
        let slug = got.json["slug"].as_str().unwrap().to_owned();
        assert!(slug.starts_with("acme-"), "{slug}");
        assert!(slugs.insert(slug), "a slug of its own");
    }
    let beta = join_all((0..40).map(|_| {
        let client = client.clone();
        let orgs = orgs.clone();
        async move { client.post(&orgs, &[], &json!({ "name": "Beta" })).await }
    }))
    .await;
    let mut numbered: Vec<String> = beta
        .iter()
        .map(|got| {
            let got = got.as_ref().unwrap();
            assert_eq!(got.status, StatusCode::CREATED, "{got:?}");
            got.json["slug"].as_str().unwrap().to_owned()
        })
        .collect();
    numbered.sort();
    let mut expected: Vec<String> = std::iter::once("beta".to_owned())
        .chain((1..40).map(|n| format!("beta-{n}")))
        .collect();
    expected.sort();
    assert_eq!(numbered, expected, "consecutive numbers from the counter");
}
