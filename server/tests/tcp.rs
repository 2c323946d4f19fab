//! Over real TCP: 1,000 concurrent same-key requests, a connection dropped
//! after commit, a client that goes away mid-request, and graceful
//! shutdown, for both stores.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use tokio::sync::Semaphore;

use common::net::{Client, InProcess};
use common::{Harness, Kind};

const REQUESTS: usize = 1_000;
const IN_FLIGHT: usize = 100;

async fn thousand_same_key_requests_make_one_effect(kind: Kind) {
    let h = Harness::new(kind);
    let server = InProcess::start(h.config.clone()).await;
    let client = Client::new();
    let url = server.url("/api/orgs");
    let gate = Arc::new(Semaphore::new(IN_FLIGHT));
    let tasks: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let (client, url, gate) = (client.clone(), url.clone(), gate.clone());
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.unwrap();
                // The winner holds the key for 20 ms, so the others overlap it.
                let headers = [("idempotency-key", "same-key"), ("x-fault", "delay=20")];
                client
                    .post(&url, &headers, &json!({ "name": "Concurrent" }))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let (mut fresh, mut replayed, mut in_flight, mut other) =
        (Vec::new(), Vec::new(), 0, Vec::new());
    for task in tasks {
        let got = task.await.unwrap();
        match got.status {
            StatusCode::CREATED if got.replayed() => replayed.push(got.json["id"].clone()),
            StatusCode::CREATED => fresh.push(got.json["id"].clone()),
            StatusCode::CONFLICT => {
                assert_eq!(got.headers.get("retry-after").unwrap(), "1");
                in_flight += 1;
            }
            status => other.push(status),
        }
    }
    eprintln!(
        "{kind:?}: 1 × 201, {} replays, {in_flight} × 409, {} other",
        replayed.len(),
        other.len()
    );
    assert!(other.is_empty(), "only 201 or 409 expected, got {other:?}");
    assert_eq!(fresh.len(), 1, "exactly one request ran the handler");
    assert_eq!(fresh.len() + replayed.len() + in_flight, REQUESTS);
    assert!(
        replayed.iter().all(|id| *id == fresh[0]),
        "every replay is the original response"
    );
    assert_eq!(
        client.count(&server.url("/api/orgs")).await,
        1,
        "exactly one effect"
    );
    assert_eq!(client.count(&server.url("/api/memberships")).await, 1);
    server.stop().await;
}

async fn shutdown_lets_in_flight_requests_finish(kind: Kind) {
    let h = Harness::new(kind);
    let server = InProcess::start(h.config.clone()).await;
    let client = Client::new();
    let url = server.url("/api/orgs");
    let slow = tokio::spawn(async move {
        client
            .post(
                &url,
                &[("idempotency-key", "k"), ("x-fault", "delay=1000")],
                &json!({ "name": "Slow" }),
            )
            .await
    });
    // Wait until the server is handling it: the request log shows it on arrival.
    let probe = Client::new();
    for attempt in 0.. {
        let log = probe.get(&server.url("/api/_requests")).await.json;
        if log.as_array().is_some_and(|l| !l.is_empty()) {
            assert_eq!(log[0]["status"], serde_json::Value::Null, "still in flight");
            break;
        }
        assert!(attempt < 1_000, "the slow request never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.stop().await;
    let slow = slow.await.unwrap().unwrap();
    assert_eq!(
        slow.status,
        StatusCode::CREATED,
        "the in-flight request finished during shutdown"
    );
}

async fn a_client_that_goes_away_releases_its_key(kind: Kind) {
    let h = Harness::new(kind);
    let server = InProcess::start(h.config.clone()).await;
    let body = r#"{"table":"T1"}"#;
    let request = format!(
        "POST /api/qr/sessions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Idempotency-Key: gone-1\r\nX-Fault: delay=60000; times=1\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .unwrap();
    let client = Client::new();
    // Wait until the server holds the key (a twin is refused with 409)…
    let headers = [
        ("idempotency-key", "gone-1"),
        ("x-fault", "delay=60000; times=1"),
    ];
    let url = server.url("/api/qr/sessions");
    let log_url = server.url("/api/_requests");
    for attempt in 0.. {
        if key_is_held(&h, &client, &log_url, "gone-1").await {
            break;
        }
        assert!(attempt < 1_000, "the request never claimed its key");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let twin = client
        .post(&url, &headers, &json!({ "table": "T1" }))
        .await
        .unwrap();
    assert_eq!(twin.status, StatusCode::CONFLICT);
    let log = client.get(&log_url).await.json;
    let first = first_delayed(&log);
    assert_eq!(
        (&first["status"], &first["done"]),
        (&json!(null), &json!(false)),
        "in flight: {log}"
    );
    // …then the browser aborts: the connection closes mid-handler. The key
    // is released at once, long before the 30 s lock timeout (the test's
    // clock does not even move), so the retry runs instead of waiting.
    drop(stream);
    let retried = 'retry: {
        for _ in 0..500 {
            let got = client
                .post(&url, &headers, &json!({ "table": "T1" }))
                .await
                .unwrap();
            if got.status != StatusCode::CONFLICT {
                break 'retry got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the abandoned claim was never released");
    };
    assert_eq!(retried.status, StatusCode::CREATED);
    assert!(!retried.replayed());
    let log = client.get(&log_url).await.json;
    let first = first_delayed(&log);
    assert_eq!(
        (&first["status"], &first["done"]),
        (&json!(null), &json!(true)),
        "the client went away: no response, and done: {log}"
    );
    assert_eq!(
        client.count(&server.url("/api/qr/sessions")).await,
        1,
        "the abandoned attempt had no effect"
    );
    server.stop().await;
}

macro_rules! per_store_mt {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(super::Kind::Memory).await }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(super::Kind::Sqlite).await }
            )*
        }
    };
}

per_store_mt!(
    thousand_same_key_requests_make_one_effect,
    shutdown_lets_in_flight_requests_finish,
    a_client_that_goes_away_releases_its_key,
);

/// The first logged request that carried the delay (probes and retries
/// carry other faults or arrive later).
fn first_delayed(log: &serde_json::Value) -> serde_json::Value {
    log.as_array()
        .and_then(|l| l.iter().find(|r| r["fault"] == "delay=60000; times=1"))
        .cloned()
        .unwrap_or_else(|| panic!("no delayed request in {log}"))
}

/// Whether the server holds `key`: on SQLite, read from the file itself (WAL
/// lets a second connection read while the server writes). The memory store
/// claims inline, in the same poll that logs the request, so there the
/// request's arrival in the log is enough.
async fn key_is_held(h: &Harness, client: &Client, log_url: &str, key: &str) -> bool {
    match &h.db_path {
        Some(path) => {
            let conn = rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .unwrap();
            conn.query_row(
                "SELECT count(*) FROM idempotency_keys WHERE key = ?1 AND state = 'locked'",
                [key],
                |row| row.get::<_, i64>(0),
            )
            .unwrap()
                == 1
        }
        None => client
            .get(log_url)
            .await
            .json
            .as_array()
            .is_some_and(|l| !l.is_empty()),
    }
}
