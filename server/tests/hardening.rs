//! Hostile and broken peers, for both stores: responses lost in ways a
//! browser cannot paper over (`garble-after-commit`), slow and silent
//! connections (slowloris) against the connection limits, over-long request
//! heads, and one org name used ten thousand times.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;

use submit_guard_server::domain::{Tx, TxOutcome};
use submit_guard_server::protocol::Reply;
use submit_guard_server::{ConnLimits, app, serve_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

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
        TxOutcome::Committed(reply, _) => serde_json::from_slice(&reply.body).unwrap(),
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

/// A server with explicit connection limits; stops when the sender drops.
async fn start_limited(h: &Harness, limits: ConnLimits) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve_with(
        listener,
        app(h.config.clone()).expect("the app builds"),
        limits,
        async move {
            let _ = stopped.await;
        },
    ));
    (addr, stop)
}

/// One request on a fresh connection, read to the end (`Connection:
/// close`); the status line.
async fn fresh_request(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    response.lines().next().unwrap_or_default().to_owned()
}

/// A slowloris peer: connects, starts a request head and trickles a header
/// line every 100 ms without ever finishing it; reconnects whenever the
/// server closes the connection. Counts its connections.
async fn slowloris(addr: SocketAddr, connections: Arc<AtomicUsize>) {
    loop {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        connections.fetch_add(1, Ordering::Relaxed);
        if stream
            .write_all(b"GET /api/orgs HTTP/1.1\r\nHost: test\r\n")
            .await
            .is_err()
        {
            continue;
        }
        while stream.write_all(b"X-Slow: 1\r\n").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Silent peers: connect and send nothing, reconnecting when closed.
async fn silent(addr: SocketAddr, connections: Arc<AtomicUsize>) {
    loop {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        connections.fetch_add(1, Ordering::Relaxed);
        let mut byte = [0; 1];
        let _ = stream.read(&mut byte).await;
    }
}

/// 20 slowloris and 10 silent peers against a cap of 8 connections, with
/// timeouts far too long to help: every request of a well-behaved client is
/// still served, each within a few seconds.
async fn slowloris_does_not_starve_a_well_behaved_client(kind: Kind) {
    let h = Harness::new(kind);
    let limits = ConnLimits {
        header_timeout: Duration::from_secs(600),
        idle_timeout: Duration::from_secs(600),
        max_connections: 8,
    };
    let (addr, _stop) = start_limited(&h, limits).await;
    let attacks = Arc::new(AtomicUsize::new(0));
    let attackers: Vec<_> = (0..30)
        .map(|i| {
            let attacks = attacks.clone();
            if i < 20 {
                tokio::spawn(slowloris(addr, attacks))
            } else {
                tokio::spawn(silent(addr, attacks))
            }
        })
        .collect();
    // Let the attackers fill the server first.
    while attacks.load(Ordering::Relaxed) < 30 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..5 {
        let started = Instant::now();
        let status =
            tokio::time::timeout(Duration::from_secs(15), fresh_request(addr, "/api/orgs"))
                .await
                .unwrap_or_else(|_| panic!("request {i} starved for 15 s"));
        assert_eq!(status, "HTTP/1.1 200 OK", "request {i}");
        let took = started.elapsed();
        eprintln!("{kind:?}: request {i} served in {took:?}");
        assert!(took < Duration::from_secs(10), "request {i} took {took:?}");
    }
    assert!(
        attacks.load(Ordering::Relaxed) > 30,
        "the cap closed attacking connections to make room"
    );
    for attacker in attackers {
        attacker.abort();
    }
}

/// The field report's run against the real binary with the default
/// connection cap, under a limit of 128 open files: 148 silent connections
/// and 40 slowloris peers, held open and reconnecting, with timeouts too long
/// to help. A well-behaved client is still served, each request within a few
/// seconds: the cap stays under the descriptor limit and evicts attackers.
/// (With a cap above the limit, accept fails with EMFILE and the client
/// waits as long as the attackers hold their connections.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_binary_serves_under_a_descriptor_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("sh")
        .args(["-c", "ulimit -n 128 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_submit-guard-server"))
        // Timeouts far too long to help: the cap alone must do it.
        .args(["--header-timeout", "600s", "--idle-timeout", "600s"])
        .args(["--addr", "127.0.0.1:0", "--store"])
        .arg(format!("sqlite:{}", dir.path().join("s.db").display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    let attacks = Arc::new(AtomicUsize::new(0));
    let attackers: Vec<_> = (0..188)
        .map(|i| {
            let attacks = attacks.clone();
            if i < 40 {
                tokio::spawn(slowloris(addr, attacks))
            } else {
                tokio::spawn(silent(addr, attacks))
            }
        })
        .collect();
    while attacks.load(Ordering::Relaxed) < 188 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut outcome = Ok(());
    for i in 0..5 {
        let started = Instant::now();
        match tokio::time::timeout(Duration::from_secs(15), fresh_request(addr, "/api/orgs")).await
        {
            Ok(status) if status == "HTTP/1.1 200 OK" => {
                eprintln!("request {i} served in {:?}", started.elapsed());
            }
            Ok(status) => {
                outcome = Err(format!("request {i}: {status:?}"));
                break;
            }
            Err(_) => {
                outcome = Err(format!("request {i} starved for 15 s"));
                break;
            }
        }
    }
    for attacker in attackers {
        attacker.abort();
    }
    let _ = child.kill();
    let _ = child.wait();
    outcome.unwrap();
}

/// With short timeouts: a silent connection is closed after the idle
/// timeout; one that trickles its head, after the header timeout; a slow
/// request is not cut by either.
async fn idle_and_slow_connections_are_closed(kind: Kind) {
    let h = Harness::new(kind);
    let limits = ConnLimits {
        header_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_millis(500),
        max_connections: 64,
    };
    let (addr, _stop) = start_limited(&h, limits).await;

    let mut quiet = TcpStream::connect(addr).await.unwrap();
    let mut byte = [0; 1];
    let read = tokio::time::timeout(Duration::from_secs(10), quiet.read(&mut byte))
        .await
        .expect("a silent connection is closed within 10 s");
    assert!(matches!(read, Ok(0) | Err(_)), "closed: {read:?}");

    let mut trickler = TcpStream::connect(addr).await.unwrap();
    trickler
        .write_all(b"GET /api/orgs HTTP/1.1\r\nHost: test\r\n")
        .await
        .unwrap();
    let trickle = async {
        // A byte every 100 ms keeps it from ever being idle for 500 ms.
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if trickler.write_all(b"X-Slow: 1\r\n").await.is_err() {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), trickle)
        .await
        .expect("a trickling request head is cut off within 10 s");

    // Kept alive between two requests, then idle: closed.
    let client = Client::new();
    let base = format!("http://{addr}");
    let slow = client
        .post(
            &format!("{base}/api/orgs"),
            &[("idempotency-key", "slow-1"), ("x-fault", "delay=1500")],
            &json!({ "name": "Slow" }),
        )
        .await
        .unwrap();
    assert_eq!(
        slow.status,
        StatusCode::CREATED,
        "a 1.5 s request outlives a 0.5 s idle timeout"
    );
    assert_eq!(client.count(&format!("{base}/api/orgs")).await, 1);
}

/// Over-long request targets and header fields are problems with CORS
/// headers, like every other error.
async fn long_heads_are_problems(kind: Kind) {
    let h = Harness::new(kind);
    let server = InProcess::start(h.config.clone()).await;
    let client = Client::new();
    let origin = ("origin", "http://elsewhere.test");
    let long_path = format!("/api/orgs?{}", "q".repeat(9 * 1024));
    let got = client
        .send(
            axum::http::Method::GET,
            &server.url(&long_path),
            &[origin],
            &serde_json::Value::Null,
        )
        .await
        .unwrap();
    assert_eq!(got.status, StatusCode::URI_TOO_LONG);
    assert_problem(&got, "urn:submit-guard:problem:uri-too-long");

    let big = "v".repeat(8 * 1024);
    let headers = [
        origin,
        ("x-a", &big),
        ("x-b", &big),
        ("x-c", &big),
        ("x-d", &big),
    ];
    let got = client
        .post(
            &server.url("/api/orgs"),
            &headers,
            &json!({ "name": "Big" }),
        )
        .await
        .unwrap();
    assert_eq!(got.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_problem(&got, "urn:submit-guard:problem:headers-too-large");
    assert_eq!(
        client.count(&server.url("/api/orgs")).await,
        0,
        "nothing ran"
    );

    // Just under the limits: served.
    let ok_path = format!("/api/orgs?{}", "q".repeat(7 * 1024));
    let got = client.get(&server.url(&ok_path)).await;
    assert_eq!(got.status, StatusCode::OK);
    server.stop().await;
}

fn assert_problem(got: &common::net::Got, type_uri: &str) {
    assert_eq!(
        got.headers.get("content-type").unwrap(),
        "application/problem+json"
    );
    assert_eq!(got.headers.get("access-control-allow-origin").unwrap(), "*");
    assert_eq!(got.json["type"], type_uri, "{}", got.json);
    assert_eq!(got.json["status"], got.status.as_u16());
    assert!(
        got.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("limit"))
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
    slowloris_does_not_starve_a_well_behaved_client,
    idle_and_slow_connections_are_closed,
    long_heads_are_problems,
);
