//! Principals (issue 12, fault 3): two distinct credentials never share an
//! idempotency record, whatever carries them; anonymous only without any
//! credential; principals are never listed.

mod common;

use axum::http::StatusCode;
use serde_json::json;

use common::{Harness, Kind, Req};

fn org(name: &str) -> Req {
    Req::post("/api/orgs", json!({ "name": name })).key("shared-key")
}

/// Pairs of requests from two different users: each pair must get two
/// separate orgs, neither a replay nor a 422 that reveals the other's use.
fn distinct_credentials() -> Vec<(&'static str, Req, Req)> {
    vec![
        (
            "Basic",
            org("Acme").header("authorization", "Basic YWxpY2U6cHc="),
            org("Acme").header("authorization", "Basic Ym9iOnB3"),
        ),
        (
            "Digest",
            org("Acme").header("authorization", r#"Digest username="alice", response="1""#),
            org("Acme").header("authorization", r#"Digest username="bob", response="2""#),
        ),
        (
            "X-API-Key",
            org("Acme").header("x-api-key", "key-alice"),
            org("Acme").header("x-api-key", "key-bob"),
        ),
        (
            "a cookie other than sid",
            org("Acme").header("cookie", "session=alice"),
            org("Acme").header("cookie", "session=bob"),
        ),
        (
            "SID (another name than sid)",
            org("Acme").header("cookie", "SID=alice"),
            org("Acme").header("cookie", "SID=bob"),
        ),
        (
            "a token with a non-ASCII byte",
            org("Acme").header("authorization", "Bearer caf\u{e9}-alice"),
            org("Acme").header("authorization", "Bearer caf\u{e9}-bob"),
        ),
        (
            "Bearer<TAB>token",
            org("Acme").header("authorization", "Bearer\talice"),
            org("Acme").header("authorization", "Bearer\tbob"),
        ),
        (
            "a credential against none",
            org("Acme").header("authorization", "Basic YWxpY2U6cHc="),
            org("Acme"),
        ),
        (
            "a bearer token against the same bytes as a sid cookie",
            org("Acme").bearer("same"),
            org("Acme").header("cookie", "sid=same"),
        ),
    ]
}

async fn distinct_credentials_never_share_a_record(kind: Kind) {
    for (case, alice, bob) in distinct_credentials() {
        // The same body: B must not get A's replay.
        let h = Harness::new(kind);
        let first = h.send(alice.clone()).await;
        assert_eq!(first.status, StatusCode::CREATED, "{case}: {}", first.json);
        let second = h.send(bob.clone()).await;
        assert_eq!(
            second.status,
            StatusCode::CREATED,
            "{case}: {}",
            second.json
        );
        assert!(!second.replayed(), "{case}: B got A's replay");
        assert_ne!(first.json["id"], second.json["id"], "{case}");
        assert_eq!(h.count("/api/orgs").await, 2, "{case}");
        // Another body: B must not be told (422) that A used the key.
        let h = Harness::new(kind);
        assert_eq!(h.send(alice).await.status, StatusCode::CREATED, "{case}");
        let other = h.send(bob.json(json!({ "name": "Other" }))).await;
        assert_eq!(other.status, StatusCode::CREATED, "{case}: {}", other.json);
    }
}

async fn the_same_credential_replays(kind: Kind) {
    let same: Vec<(&str, Req, Req)> = vec![
        (
            "Basic",
            org("Acme").header("authorization", "Basic YWxpY2U6cHc="),
            org("Acme").header("authorization", "Basic YWxpY2U6cHc="),
        ),
        (
            "X-API-Key",
            org("Acme").header("x-api-key", "k1"),
            org("Acme").header("x-api-key", "k1"),
        ),
        (
            "sid among changing cookies",
            org("Acme").header("cookie", "theme=dark; sid=s1"),
            org("Acme").header("cookie", "sid=s1; theme=light"),
        ),
        (
            "other cookies, unchanged",
            org("Acme").header("cookie", "session=alice"),
            org("Acme").header("cookie", "session=alice"),
        ),
        ("no credential", org("Acme"), org("Acme")),
    ];
    for (case, first, again) in same {
        let h = Harness::new(kind);
        let first = h.send(first).await;
        assert_eq!(first.status, StatusCode::CREATED, "{case}");
        let again = h.send(again).await;
        assert!(again.replayed(), "{case}: {:?}", again.status);
        assert_eq!(first.json["id"], again.json["id"], "{case}");
    }
}

async fn principals_are_never_listed(kind: Kind) {
    let h = Harness::new(kind);
    let created = h.send(org("Acme").bearer("hunter2")).await;
    assert_eq!(created.status, StatusCode::CREATED);
    for path in ["/api/orgs", "/api/memberships"] {
        let resp = h.send(Req::get(path)).await;
        let text = String::from_utf8_lossy(&resp.body).into_owned();
        assert!(!text.contains("bearer:"), "{path}: {text}");
        for item in resp.json.as_array().unwrap() {
            assert!(item.get("owner").is_none(), "{path}: {item}");
            assert!(item.get("principal").is_none(), "{path}: {item}");
        }
    }
    let one = h
        .send(Req::get(&format!(
            "/api/orgs/{}",
            created.json["id"].as_str().unwrap()
        )))
        .await;
    assert!(one.json.get("owner").is_none(), "{}", one.json);
    // The requester learns which are theirs, and nobody else does.
    let mine = h.send(Req::get("/api/orgs").bearer("hunter2")).await;
    assert_eq!(mine.json[0]["mine"], true, "{}", mine.json);
    let theirs = h.send(Req::get("/api/orgs").bearer("other")).await;
    assert_eq!(theirs.json[0]["mine"], false, "{}", theirs.json);
}

per_store!(
    distinct_credentials_never_share_a_record,
    the_same_credential_replays,
    principals_are_never_listed,
);
