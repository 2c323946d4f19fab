//! Every row of the protocol table, for both stores, through `app()` with
//! `oneshot`. Time is a manual clock (for retention and lock expiry) and
//! tokio's paused clock (for `X-Fault: delay`), so nothing waits for real.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;

use common::{Harness, Kind, Req};

fn org(name: &str) -> Req {
    Req::post("/api/orgs", json!({ "name": name }))
}

async fn missing_key_is_400_when_required(kind: Kind) {
    let h = Harness::with(kind, |c| c.require_key = true);
    let resp = h.send(org("Acme")).await;
    resp.assert_problem(StatusCode::BAD_REQUEST, "idempotency-key-missing");
    assert_eq!(h.count("/api/orgs").await, 0, "reads need no key");
    let resp = h.send(org("Acme").key("k1")).await;
    assert_eq!(resp.status, StatusCode::CREATED);
}

async fn missing_key_runs_the_handler_when_optional(kind: Kind) {
    let h = Harness::new(kind);
    for _ in 0..2 {
        let resp = h
            .send(Req::post("/api/qr/sessions", json!({ "table": "T1" })))
            .await;
        assert_eq!(resp.status, StatusCode::CREATED);
        assert!(!resp.replayed());
        assert_eq!(
            resp.header("idempotency-retention"),
            None,
            "only keyed responses advertise retention"
        );
    }
    assert_eq!(h.count("/api/qr/sessions").await, 2, "no key, no dedupe");
}

async fn malformed_keys_are_400(kind: Kind) {
    let h = Harness::new(kind);
    let long = "k".repeat(256);
    let quoted_long = format!("\"{}\"", "k".repeat(256));
    let malformed: Vec<&str> = vec![
        "",
        " ",
        "\"\"",
        "a,b",
        "\"a,b\"",
        ",",
        "a\tb",
        "\"a\tb\"",
        "caf\u{e9}",
        "\"caf\u{e9}\"",
        "\u{1F600}",
        "\"abc",
        "abc\"",
        "a\"b",
        "a\\b",
        "\"a\\qb\"",
        "\"a\\\"",
        "\"abc\"def",
        "\"abc\";p=1",
        "\"a\"\"b\"",
        &long,
        &quoted_long,
    ];
    assert!(malformed.len() >= 20);
    for key in &malformed {
        let resp = h.send(org("Acme").key(key)).await;
        resp.assert_problem(StatusCode::BAD_REQUEST, "idempotency-key-malformed");
        assert_eq!(
            resp.header("idempotency-retention"),
            Some("86400"),
            "{key:?}"
        );
    }
    // Two header lines, even with equal values.
    let resp = h.send(org("Acme").key("k1").key("k1")).await;
    resp.assert_problem(StatusCode::BAD_REQUEST, "idempotency-key-malformed");
    assert_eq!(
        h.count("/api/orgs").await,
        0,
        "no malformed request had an effect"
    );
    // The limits themselves are fine.
    let max = "k".repeat(255);
    assert_eq!(
        h.send(org("Acme").key(&max)).await.status,
        StatusCode::CREATED
    );
}

async fn bare_and_quoted_keys_are_the_same_key(kind: Kind) {
    let h = Harness::new(kind);
    let first = h
        .send(org("Acme").key(r#"a"b"#.replace('"', "").as_str()))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let quoted = h.send(org("Acme").key("\"ab\"")).await;
    assert!(quoted.replayed());
    assert_eq!(quoted.json, first.json);
    // Escapes normalize too: "a\"b" is the key a"b, which bare syntax cannot spell.
    let escaped = h.send(org("Other").key(r#""a\"b\\c""#)).await;
    assert_eq!(escaped.status, StatusCode::CREATED);
    let again = h.send(org("Other").key(r#""a\"b\\c""#)).await;
    assert!(again.replayed());
}

async fn first_request_is_stored_and_replayed(kind: Kind) {
    let h = Harness::new(kind);
    let first = h.send(org("Acme").key("k1")).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(!first.replayed());
    assert_eq!(first.header("idempotency-retention"), Some("86400"));
    let location = first.header("location").unwrap().to_owned();
    assert_eq!(
        location,
        format!("/api/orgs/{}", first.json["id"].as_str().unwrap())
    );

    // Same key, same payload with another key order and spacing: a replay.
    let replay = h
        .send(
            Req::new(Method::POST, "/api/orgs")
                .key("k1")
                .header("content-type", "application/json")
                .json(json!({"name": "Acme"})),
        )
        .await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert!(replay.replayed());
    assert_eq!(replay.body, first.body);
    assert_eq!(replay.header("location"), Some(location.as_str()));
    assert_eq!(replay.header("content-type"), Some("application/json"));
    assert_eq!(replay.header("idempotency-retention"), Some("86400"));
    assert_eq!(h.count("/api/orgs").await, 1);
    assert_eq!(h.count("/api/memberships").await, 1);

    // Canonical JSON: key order and whitespace do not change the fingerprint.
    let order = h
        .send(
            Req::post(
                "/api/orders",
                json!({ "items": [{ "sku": "a", "qty": 1 }] }),
            )
            .key("k2"),
        )
        .await;
    let mut raw = Req::new(Method::POST, "/api/orders")
        .key("k2")
        .header("content-type", "application/json");
    raw.body = br#"{ "items" : [ { "qty":1, "sku":"a" } ] }"#.to_vec();
    let replay = h.send(raw).await;
    assert!(replay.replayed(), "{}", replay.json);
    assert_eq!(replay.json, order.json);
    assert_eq!(replay.header("etag"), Some("\"v1\""));
}

async fn in_flight_key_is_409_with_retry_after(kind: Kind) {
    let h = Harness::new(kind);
    let app = h.app.clone();
    let slow = org("Acme").key("k1").fault("delay=60000");
    let first = tokio::spawn(async move {
        common::Resp::read(tower::ServiceExt::oneshot(app, slow.build()).await.unwrap()).await
    });
    // Paused time only advances when every task is idle, so once this sleep
    // ends the first request has claimed the key and is sleeping on it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = h.send(org("Acme").key("k1")).await;
    second.assert_problem(StatusCode::CONFLICT, "idempotency-key-in-use");
    assert_eq!(second.header("retry-after"), Some("1"));
    assert_eq!(second.header("idempotency-retention"), Some("86400"));
    let first = first.await.unwrap();
    assert_eq!(first.status, StatusCode::CREATED);
    let third = h.send(org("Acme").key("k1")).await;
    assert!(third.replayed());
    assert_eq!(third.json, first.json);
    assert_eq!(h.count("/api/orgs").await, 1);
}

async fn different_payload_method_or_path_is_422(kind: Kind) {
    let h = Harness::new(kind);
    let first = h.send(org("Acme").key("k1")).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let other_body = h.send(org("Acme Two").key("k1")).await;
    other_body.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-mismatch");
    let other_path = h
        .send(Req::post("/api/qr/sessions", json!({ "name": "Acme" })).key("k1"))
        .await;
    other_path.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-mismatch");
    let other_query = h
        .send(Req::post("/api/orgs?x=1", json!({ "name": "Acme" })).key("k1"))
        .await;
    other_query.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-mismatch");
    let mut other_method = org("Acme").key("k1");
    other_method.method = Method::PUT;
    let other_method = h.send(other_method).await;
    assert_eq!(
        other_method.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "PUT /api/orgs is not a route"
    );
    let mut put = Req::new(Method::PUT, "/api/orders/x/items")
        .json(json!({ "items": [], "version": 1 }))
        .key("k1");
    put.method = Method::PUT;
    h.send(put)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-mismatch");
    // The stored record is untouched: the original still replays.
    let replay = h.send(org("Acme").key("k1")).await;
    assert!(replay.replayed());
    assert_eq!(replay.body, first.body);
    assert_eq!(h.count("/api/orgs").await, 1);
    assert_eq!(h.count("/api/qr/sessions").await, 0);
}

async fn validation_failure_releases_the_key(kind: Kind) {
    let h = Harness::new(kind);
    let bad = h.send(org("   ").key("k1")).await;
    bad.assert_problem(StatusCode::BAD_REQUEST, "invalid-request");
    assert_eq!(bad.header("idempotency-retention"), Some("86400"));
    // Nothing was stored, so the corrected form may reuse the key.
    let good = h.send(org("Acme").key("k1")).await;
    assert_eq!(good.status, StatusCode::CREATED);
    assert!(!good.replayed());
    // A 4xx decided inside the transaction (paying an unknown order) also releases.
    let missing = h
        .send(Req::post("/api/orders/nope/pay", json!({})).key("k2"))
        .await;
    missing.assert_problem(StatusCode::NOT_FOUND, "not-found");
    let again = h
        .send(Req::post("/api/orders/nope/pay", json!({})).key("k2"))
        .await;
    assert!(!again.replayed(), "a 4xx is never stored");
    assert_eq!(h.count("/api/orgs").await, 1);
}

async fn handler_failure_rolls_back_and_releases(kind: Kind) {
    let h = Harness::new(kind);
    let failed = h
        .send(org("Acme").key("k1").fault("fail-before-commit; times=1"))
        .await;
    failed.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "injected-fault");
    assert_eq!(h.count("/api/orgs").await, 0, "the effect rolled back");
    assert_eq!(h.count("/api/memberships").await, 0);
    // The client retries with the same headers: times=1 is spent, so it re-executes.
    let retry = h
        .send(org("Acme").key("k1").fault("fail-before-commit; times=1"))
        .await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert!(!retry.replayed());
    assert_eq!(h.count("/api/orgs").await, 1);
}

async fn lost_response_after_commit_replays(kind: Kind) {
    let h = Harness::new(kind);
    let failed = h
        .send(org("Acme").key("k1").fault("fail-after-commit; times=1"))
        .await;
    failed.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "injected-fault");
    assert_eq!(h.count("/api/orgs").await, 1, "the effect committed");
    let retry = h
        .send(org("Acme").key("k1").fault("fail-after-commit; times=1"))
        .await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert!(retry.replayed());
    assert_eq!(h.count("/api/orgs").await, 1);
}

async fn stale_lock_is_taken_over_and_the_stale_holder_fenced(kind: Kind) {
    let h = Harness::new(kind);
    let app = h.app.clone();
    // The first holder claims, then stalls for a minute (a hung process).
    let stale = org("Acme").key("k1").fault("delay=60000; times=1");
    let stale = tokio::spawn(async move {
        common::Resp::read(
            tower::ServiceExt::oneshot(app, stale.build())
                .await
                .unwrap(),
        )
        .await
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        h.send(org("Acme").key("k1")).await.status,
        StatusCode::CONFLICT
    );
    // Past the lock timeout, a retry takes over with a higher fence and finishes.
    h.clock
        .advance(h.config.lock_timeout + Duration::from_millis(1));
    let takeover = h.send(org("Acme").key("k1")).await;
    assert_eq!(takeover.status, StatusCode::CREATED);
    assert!(!takeover.replayed());
    // The stale holder wakes up: its commit is refused and its effect rolled back.
    let stale = stale.await.unwrap();
    stale.assert_problem(StatusCode::CONFLICT, "idempotency-claim-superseded");
    assert_eq!(h.count("/api/orgs").await, 1);
    assert_eq!(h.count("/api/memberships").await, 1);
    let replay = h.send(org("Acme").key("k1")).await;
    assert!(replay.replayed());
    assert_eq!(replay.json, takeover.json);
}

async fn expired_key_is_new_and_purged(kind: Kind) {
    let h = Harness::with(kind, |c| c.retention = Duration::from_secs(60));
    let first = h.send(org("Acme").key("k1")).await;
    assert_eq!(first.header("idempotency-retention"), Some("60"));
    h.clock.advance(Duration::from_secs(59));
    assert!(
        h.send(org("Acme").key("k1")).await.replayed(),
        "inside the window"
    );
    h.clock.advance(Duration::from_secs(1));
    let fresh = h.send(org("Acme").key("k1")).await;
    assert_eq!(fresh.status, StatusCode::CREATED);
    assert!(!fresh.replayed(), "older than retention: treated as new");
    assert_eq!(fresh.json["slug"], "acme-1");
    // Purge removes expired records and keeps fresh ones.
    h.send(org("Beta").key("k2")).await;
    h.clock.advance(Duration::from_secs(30));
    h.send(org("Gamma").key("k3")).await;
    h.clock.advance(Duration::from_secs(30));
    assert_eq!(
        submit_guard_server::purge_expired(&h.config).await.unwrap(),
        2,
        "k1 and k2 expired, k3 is 30 s old"
    );
    assert!(h.send(org("Gamma").key("k3")).await.replayed());
    assert_eq!(
        submit_guard_server::purge_expired(&h.config).await.unwrap(),
        0
    );
}

async fn store_unavailable_is_503_and_runs_nothing(kind: Kind) {
    let h = Harness::new(kind);
    {
        let _down = h.make_unavailable();
        let keyed = h.send(org("Acme").key("k1")).await;
        keyed.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "store-unavailable");
        assert_eq!(keyed.header("retry-after"), Some("1"));
        let unkeyed = h.send(org("Acme")).await;
        unkeyed.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "store-unavailable");
        assert_eq!(unkeyed.header("retry-after"), Some("1"));
    }
    assert_eq!(h.count("/api/orgs").await, 0);
    let retry = h.send(org("Acme").key("k1")).await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert!(!retry.replayed());
}

async fn keys_are_scoped_by_principal(kind: Kind) {
    let h = Harness::new(kind);
    let alice = h.send(org("Acme").key("shared").bearer("alice")).await;
    let bob = h.send(org("Acme").key("shared").bearer("bob")).await;
    assert_eq!(bob.status, StatusCode::CREATED);
    assert!(!bob.replayed(), "Bob never gets Alice's response");
    assert_ne!(bob.json["id"], alice.json["id"]);
    let cookie = h
        .send(org("Acme").key("shared").header("cookie", "sid=s-1"))
        .await;
    let anonymous = h.send(org("Acme").key("shared")).await;
    assert!(!cookie.replayed() && !anonymous.replayed());
    assert!(
        h.send(org("Acme").key("shared").bearer("alice"))
            .await
            .replayed()
    );
    assert!(
        h.send(
            org("Acme")
                .key("shared")
                .header("cookie", "theme=x; sid=s-1")
        )
        .await
        .replayed()
    );
    assert!(h.send(org("Acme").key("shared")).await.replayed());
    assert_eq!(h.count("/api/orgs").await, 4);
    let mine: Vec<_> = h
        .send(Req::get("/api/memberships").bearer("alice"))
        .await
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mine"].as_bool().unwrap())
        .collect();
    assert_eq!(mine, [true, false, false, false], "only Alice's is hers");
}

async fn bodies_over_the_limit_are_413(kind: Kind) {
    let h = Harness::with(kind, |c| c.body_limit = 1024);
    let big = json!({ "name": "x".repeat(2000) });
    // Known Content-Length: refused before reading.
    let sized = Req::post("/api/orgs", big.clone()).key("k1");
    let length = sized.body.len().to_string();
    let sized = sized.header("content-length", &length);
    h.send(sized)
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large");
    // Streamed without a length, keyed and not: refused while reading.
    for key in [Some("k1"), None] {
        let mut req =
            axum::http::Request::post("/api/orgs").header("content-type", "application/json");
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        let req = req
            .body(chunked(serde_json::to_vec(&big).unwrap()))
            .unwrap();
        let resp = common::Resp::read(
            tower::ServiceExt::oneshot(h.app.clone(), req)
                .await
                .unwrap(),
        )
        .await;
        resp.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large");
    }
    assert_eq!(h.count("/api/orgs").await, 0);
    // Nothing was claimed: the key is free for a normal request.
    assert_eq!(
        h.send(org("Acme").key("k1")).await.status,
        StatusCode::CREATED
    );
}

/// A body of 100-byte chunks with no length.
fn chunked(bytes: Vec<u8>) -> axum::body::Body {
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = bytes
        .chunks(100)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    axum::body::Body::from_stream(futures_util::stream::iter(chunks))
}

per_store!(
    missing_key_is_400_when_required,
    missing_key_runs_the_handler_when_optional,
    malformed_keys_are_400,
    bare_and_quoted_keys_are_the_same_key,
    first_request_is_stored_and_replayed,
    in_flight_key_is_409_with_retry_after,
    different_payload_method_or_path_is_422,
    validation_failure_releases_the_key,
    handler_failure_rolls_back_and_releases,
    lost_response_after_commit_replays,
    stale_lock_is_taken_over_and_the_stale_holder_fenced,
    expired_key_is_new_and_purged,
    store_unavailable_is_503_and_runs_nothing,
    keys_are_scoped_by_principal,
    bodies_over_the_limit_are_413,
);
