//! Kill -9 at each phase of a keyed request, against the real binary and a
//! real SQLite file: after the claim, after the effect (before commit), and
//! after the commit. After a restart on the same file, a retry with the same
//! key makes exactly one effect; after the commit, it is a replay.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;

use common::net::{Binary, Client, Got};

async fn crash_then_retry(phase: &str) -> Vec<Got> {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("crash.db").display());
    let log = dir.path().join("server.log");
    let args = [
        "--store",
        db.as_str(),
        "--test-mode",
        "--lock-timeout",
        "1s",
    ];
    let client = Client::new();
    let fault = format!("kill=after-{phase}; times=1");
    let headers = [
        ("idempotency-key", "crash-key"),
        ("x-fault", fault.as_str()),
    ];
    let body = json!({ "name": "Crash Test" });

    let mut first = Binary::start(&args, &log);
    let url = format!("{}/api/orgs", first.base);
    let lost = client.post(&url, &headers, &body).await;
    assert!(lost.is_err(), "the process died before answering: {lost:?}");
    let status = first.child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "killed by SIGKILL, not {status:?}"
    );

    // Restart on the same file; the client retries with the same headers
    // (the times=1 counter is in the file, so the fault does not strike again).
    let second = Binary::start(&args, &log);
    let url = format!("{}/api/orgs", second.base);
    let client = Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut attempts = Vec::new();
    loop {
        let got = client.post(&url, &headers, &body).await.unwrap();
        let done = got.status != StatusCode::CONFLICT;
        if !done {
            assert_eq!(got.headers.get("retry-after").unwrap(), "1");
        }
        attempts.push(got);
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still 409 after 20 s: the stale lock was never taken over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let orgs = client.get(&format!("{}/api/orgs", second.base)).await.json;
    assert_eq!(
        orgs.as_array().unwrap().len(),
        1,
        "exactly one effect after {phase}: {orgs}"
    );
    assert_eq!(
        client
            .count(&format!("{}/api/memberships", second.base))
            .await,
        1,
        "the org and its membership committed together"
    );
    let last = attempts.last().unwrap();
    assert_eq!(last.status, StatusCode::CREATED);
    assert_eq!(last.json["id"], orgs[0]["id"]);
    attempts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_claim() {
    let attempts = crash_then_retry("claim").await;
    assert!(
        !attempts.last().unwrap().replayed(),
        "nothing ran before the crash: the retry executes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_effect_before_commit() {
    let attempts = crash_then_retry("effect").await;
    assert!(
        !attempts.last().unwrap().replayed(),
        "the uncommitted effect vanished: the retry executes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_store() {
    let attempts = crash_then_retry("store").await;
    assert_eq!(
        attempts.len(),
        1,
        "no lock left behind: the first retry answers"
    );
    assert!(
        attempts[0].replayed(),
        "effect and response were stored together: a replay"
    );
}
