//! Hostile and broken peers, for both stores: responses lost in ways a
//! browser cannot paper over (`garble-after-commit`),
//! and one org name used ten thousand times.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;

use submit_guard_server::protocol::Reply;
use submit_guard_server::store::{Tx, TxOutcome};

use common::net::{Client, InProcess};
use common::{Harness, Kind};

/// What a raw exchange ended with.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The server closed the connection (FIN).
    Closed,
    /// The server reset the connection (RST).
    Reset,
}

/// Sends one raw HTTP/1.1 request; returns the bytes received before the
/// connection ended, and how it ended.
fn raw_exchange(addr: SocketAddr, request: &str) -> (Vec<u8>, End) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut received = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return (received, End::Closed),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (received, End::Reset);
            }
            Err(e) => panic!("expected bytes, EOF or a reset, got {e}"),
        }
    }
}

fn order_request(key: &str, fault: &str) -> String {
    let body = r#"{"items":[{"sku":"tea"}]}"#;
    format!(
        "POST /api/orders HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Idempotency-Key: {key}\r\nX-Fault: {fault}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A lost response of each kind: the effect committed, the client got
/// `expected` bytes and `end`, the log shows no answer, and a retry with the
/// same key replays the one effect.
async fn lost_response(kind: Kind, fault: &str, expected: &[u8], end: End) {
    let h = Harness::new(kind);
    let server = InProcess::start(h.config.clone()).await;
    let request = order_request("lost-1", &format!("{fault}; times=1"));
    let addr = server.addr;
    let (received, ended) = tokio::task::spawn_blocking(move || raw_exchange(addr, &request))
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&received),
        String::from_utf8_lossy(expected),
        "{fault}: the bytes sent before the connection ended"
    );
    assert_eq!(ended, end, "{fault}: how the connection ended");

    let client = Client::new();
    let orders = client.get(&server.url("/api/orders")).await.json;
    assert_eq!(orders.as_array().unwrap().len(), 1, "the effect committed");
    let log = client.get(&server.url("/api/_requests")).await.json;
    assert_eq!(
        (&log[0]["status"], &log[0]["done"]),
        (&json!(null), &json!(true)),
        "the server never answered in full: {log}"
    );

    let headers = [
        ("idempotency-key", "lost-1"),
        ("x-fault", &format!("{fault}; times=1")),
    ];
    let retry = client
        .post(
            &server.url("/api/orders"),
            &headers,
            &json!({ "items": [{ "sku": "tea" }] }),
        )
        .await
        .unwrap();
    assert_eq!(retry.status, StatusCode::CREATED);
    assert!(retry.replayed());
    assert_eq!(retry.json, orders[0]);
    assert_eq!(client.count(&server.url("/api/orders")).await, 1);
    server.stop().await;
}

async fn garble_after_commit_sends_an_unacceptable_head(kind: Kind) {
    lost_response(
        kind,
        "garble-after-commit",
        b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\ncontent-length: 1\r\n\r\n",
        End::Closed,
    )
    .await;
}

async fn reset_after_commit_resets(kind: Kind) {
    lost_response(kind, "reset-after-commit", b"", End::Reset).await;
}

async fn drop_after_commit_closes_silently(kind: Kind) {
    lost_response(kind, "drop-after-commit", b"", End::Closed).await;
}

/// Creates `count` orgs named `name` in one transaction; their slugs.
fn create_orgs(h: &Harness, name: &'static str, count: usize, tag: &str) -> Vec<String> {
    let tag = tag.to_owned();
    let outcome = h
        .config
        .store
        .transact(
            None,
            Box::new(move |tx: &mut dyn Tx| {
                let mut slugs = Vec::with_capacity(count);
                for i in 0..count {
                    let org = tx.create_org(
                        &format!("{tag}-org-{i}"),
                        &format!("{tag}-member-{i}"),
                        name,
                        "anonymous",
                        i as i64,
                    )?;
                    slugs.push(org.slug);
                }
                Ok(Reply::json(StatusCode::CREATED, &slugs))
            }),
        )
        .unwrap();
    match outcome {
        TxOutcome::Committed(reply) => serde_json::from_slice(&reply.body).unwrap(),
        other => panic!("expected a commit, got {other:?}"),
    }
}

/// Ten thousand and fifty orgs named "Acme" (one transaction), then fifty
/// more in transactions of their own and five through HTTP: every one gets a
/// slug of its own, `acme`, `acme-1`, … in order, and none takes long.
async fn one_name_ten_thousand_times(kind: Kind) {
    let h = Harness::new(kind);
    let started = Instant::now();
    let mut slugs = create_orgs(&h, "Acme", 10_050, "bulk");
    let expected: Vec<String> = std::iter::once("acme".to_owned())
        .chain((1..10_050).map(|n| format!("acme-{n}")))
        .collect();
    assert_eq!(slugs, expected, "consecutive slugs in one transaction");
    for i in 0..50 {
        slugs.extend(create_orgs(&h, "  ACME!  ", 1, &format!("single-{i}")));
    }
    assert_eq!(slugs.last().unwrap(), "acme-10099");
    let elapsed = started.elapsed();
    // A generous bound: the probing allocator took minutes (memory) or
    // answered 500 after 10,000 (SQLite); a constant-time one takes well
    // under a second, even in a debug build on a busy machine.
    assert!(
        elapsed < Duration::from_secs(20),
        "10,100 creates took {elapsed:?}"
    );
    for _ in 0..5 {
        let got = h
            .send(common::Req::post("/api/orgs", json!({ "name": "Acme" })))
            .await;
        assert_eq!(got.status, StatusCode::CREATED, "{:?}", got.json);
        slugs.push(got.json["slug"].as_str().unwrap().to_owned());
    }
    let distinct: HashSet<&String> = slugs.iter().collect();
    assert_eq!(distinct.len(), 10_105, "every slug distinct");
    assert_eq!(h.count("/api/orgs").await, 10_105);
}

/// Names whose slugs look like another name's numbered slugs ("Acme 1" is
/// `acme-1`) never make a create fail, whatever the order.
async fn numbered_names_do_not_collide(kind: Kind) {
    let h = Harness::new(kind);
    let mut slugs = Vec::new();
    for name in ["Acme 1", "Acme 2", "Acme 3", "Acme 4", "Acme 5", "Acme 6"] {
        slugs.extend(create_orgs(&h, name, 1, name));
    }
    for i in 0..20 {
        slugs.extend(create_orgs(&h, "Acme", 1, &format!("acme-{i}")));
        slugs.extend(create_orgs(&h, "Acme 1", 1, &format!("a1-{i}")));
    }
    let distinct: HashSet<&String> = slugs.iter().collect();
    assert_eq!(
        distinct.len(),
        slugs.len(),
        "every slug distinct: {slugs:?}"
    );
    assert!(
        slugs.iter().all(|s| s.starts_with("acme")),
        "slugs keep their base: {slugs:?}"
    );
}

macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Kind::Memory).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Kind::Sqlite).await;
                }
            )*
        }
    };
}

both_stores!(
    garble_after_commit_sends_an_unacceptable_head,
    reset_after_commit_resets,
    drop_after_commit_closes_silently,
    one_name_ten_thousand_times,
    numbered_names_do_not_collide,
);
