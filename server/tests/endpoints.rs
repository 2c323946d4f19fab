//! The demo endpoints, for both stores: correct without a key (including
//! under concurrency, through the store's own conditional writes) and
//! idempotent with one. Plus CORS, static files and test mode switches.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use submit_guard_server::Config;

use common::{Harness, Kind, Req, Resp};

async fn orgs_create_list_and_validate(kind: Kind) {
    let h = Harness::new(kind);
    let created = h
        .send(Req::post("/api/orgs", json!({ "name": "  Acme Corp  " })).bearer("alice"))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.json["name"], "Acme Corp", "names are trimmed");
    assert_eq!(created.json["slug"], "acme-corp");
    let id = created.json["id"].as_str().unwrap();
    assert_eq!(
        created.header("location"),
        Some(format!("/api/orgs/{id}").as_str())
    );
    let fetched = h.send(Req::get(&format!("/api/orgs/{id}"))).await;
    assert_eq!(fetched.json["slug"], "acme-corp");
    h.send(Req::get("/api/orgs/nope"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");

    // Two different keys, same name: unique slugs.
    let a = h
        .send(Req::post("/api/orgs", json!({ "name": "Acme" })).key("a"))
        .await;
    let b = h
        .send(Req::post("/api/orgs", json!({ "name": "Acme" })).key("b"))
        .await;
    assert_eq!(
        (a.json["slug"].as_str(), b.json["slug"].as_str()),
        (Some("acme"), Some("acme-1"))
    );

    let long = "x".repeat(101);
    for body in [
        json!({}),
        json!({ "name": "" }),
        json!({ "name": "   " }),
        json!({ "name": long }),
        json!({ "name": 5 }),
    ] {
        let resp = h.send(Req::post("/api/orgs", body.clone())).await;
        resp.assert_problem(StatusCode::BAD_REQUEST, "invalid-request");
    }
    let mut broken = Req::new(Method::POST, "/api/orgs").header("content-type", "application/json");
    broken.body = b"{\"name\":".to_vec();
    h.send(broken)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid-request");
    let max = h
        .send(Req::post("/api/orgs", json!({ "name": "y".repeat(100) })))
        .await;
    assert_eq!(max.status, StatusCode::CREATED);

    let orgs = h.send(Req::get("/api/orgs")).await.json;
    let slugs: Vec<_> = orgs
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs[..3], ["acme-corp", "acme", "acme-1"], "newest last");
    let members = h.send(Req::get("/api/memberships")).await.json;
    let members = members.as_array().unwrap();
    assert_eq!(members.len(), 4, "one owner membership per org");
    assert_eq!(members[0]["orgId"], id);
    assert_eq!(members[0]["role"], "owner");
    assert!(members[0].get("principal").is_none(), "never listed");

    // A url-encoded form body works too.
    let mut form = Req::new(Method::POST, "/api/orgs")
        .header("content-type", "application/x-www-form-urlencoded");
    form.body = b"name=Form+Org".to_vec();
    assert_eq!(h.send(form).await.json["slug"], "form-org");
}

async fn concurrent_unkeyed_orgs_get_unique_slugs(kind: Kind) {
    let h = Harness::new(kind);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let app = h.app.clone();
            tokio::spawn(async move {
                let req = Req::post("/api/orgs", json!({ "name": "Race" })).build();
                Resp::read(tower::ServiceExt::oneshot(app, req).await.unwrap()).await
            })
        })
        .collect();
    let mut slugs = HashSet::new();
    for task in tasks {
        let resp = task.await.unwrap();
        assert_eq!(resp.status, StatusCode::CREATED);
        slugs.insert(resp.json["slug"].as_str().unwrap().to_owned());
    }
    assert_eq!(slugs.len(), 20);
    assert!(slugs.contains("race") && slugs.contains("race-19"));
}

async fn invites_claim_once(kind: Kind) {
    let h = Harness::new(kind);
    let invite = h
        .send(Req::post(
            "/api/invites",
            json!({ "email": "ann@example.com", "ttlSeconds": 60 }),
        ))
        .await;
    assert_eq!(invite.status, StatusCode::CREATED);
    let token = invite.json["token"].as_str().unwrap().to_owned();
    let claim = |key: Option<&str>| {
        let req = Req::post(&format!("/api/invites/{token}/claim"), json!({}));
        match key {
            Some(key) => req.key(key),
            None => req,
        }
    };
    let first = h.send(claim(Some("k1"))).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let id = first.json["id"].clone();
    assert!(id.is_string());
    assert!(h.send(claim(Some("k1"))).await.replayed());
    for key in [Some("k2"), None] {
        let repeat = h.send(claim(key)).await;
        assert_eq!(repeat.status, StatusCode::OK, "{key:?}");
        assert_eq!(repeat.json, json!({ "id": id, "idempotent": true }));
    }
    h.send(Req::post("/api/invites/unknown/claim", json!({})))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invite-unknown");

    let soon = h
        .send(Req::post(
            "/api/invites",
            json!({ "email": "bo@example.com", "ttlSeconds": 10 }),
        ))
        .await;
    let soon_token = soon.json["token"].as_str().unwrap();
    h.clock.advance(Duration::from_secs(10));
    h.send(Req::post(
        &format!("/api/invites/{soon_token}/claim"),
        json!({}),
    ))
    .await
    .assert_problem(StatusCode::GONE, "invite-expired");
    // A used invite stays claimed (200 with its id) after it would have expired.
    h.clock.advance(Duration::from_secs(60));
    assert_eq!(h.send(claim(None)).await.status, StatusCode::OK);

    for bad in [
        json!({}),
        json!({ "email": "no-at-sign" }),
        json!({ "email": "a@b.c", "ttlSeconds": -1 }),
    ] {
        h.send(Req::post("/api/invites", bad))
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "invalid-request");
    }
    let list = h.send(Req::get("/api/invites")).await.json;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["claimId"], id);
    assert!(list[1]["usedAt"].is_null());
}

async fn concurrent_unkeyed_invite_claims_create_one_record(kind: Kind) {
    let h = Harness::new(kind);
    let invite = h
        .send(Req::post(
            "/api/invites",
            json!({ "email": "ann@example.com" }),
        ))
        .await;
    let path = format!(
        "/api/invites/{}/claim",
        invite.json["token"].as_str().unwrap()
    );
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (app, path) = (h.app.clone(), path.clone());
            tokio::spawn(async move {
                let req = Req::post(&path, json!({})).build();
                Resp::read(tower::ServiceExt::oneshot(app, req).await.unwrap()).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    let mut ids = HashSet::new();
    for task in tasks {
        let resp = task.await.unwrap();
        statuses.push(resp.status.as_u16());
        ids.insert(resp.json["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 19);
    assert_eq!(ids.len(), 1, "every caller learns the one claim id");
}

async fn qr_sessions_are_new_without_a_key(kind: Kind) {
    let h = Harness::new(kind);
    let a = h
        .send(Req::post("/api/qr/sessions", json!({ "table": "T7" })))
        .await;
    let b = h
        .send(Req::post("/api/qr/sessions", json!({ "table": "T7" })))
        .await;
    assert_ne!(a.json["id"], b.json["id"], "by design: field report 003");
    assert_eq!(a.json["table"], "T7");
    let c = h
        .send(Req::post("/api/qr/sessions", json!({ "table": 7 })).key("scan-1"))
        .await;
    let d = h
        .send(Req::post("/api/qr/sessions", json!({ "table": 7 })).key("scan-1"))
        .await;
    assert_eq!(c.json, d.json);
    assert_eq!(c.json["table"], 7);
    assert_eq!(h.count("/api/qr/sessions").await, 3);
    for bad in [
        json!({}),
        json!({ "table": "" }),
        json!({ "table": 1.5 }),
        json!({ "table": [1] }),
    ] {
        h.send(Req::post("/api/qr/sessions", bad))
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "invalid-request");
    }
}

/// `--no-idempotency` (a benchmarking aid): the same handlers run, keys are
/// ignored, so a repeated key is a second effect and no protocol header is sent.
async fn idempotency_layer_off_runs_the_bare_handlers(kind: Kind) {
    let h = Harness::with(kind, |c| c.idempotency = false);
    let a = h
        .send(Req::post("/api/qr/sessions", json!({ "table": 7 })).key("scan-1"))
        .await;
    let b = h
        .send(Req::post("/api/qr/sessions", json!({ "table": 7 })).key("scan-1"))
        .await;
    assert_eq!(
        (a.status, b.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    assert_ne!(a.json["id"], b.json["id"], "the key is ignored");
    assert!(!b.replayed());
    assert_eq!(b.header("idempotency-retention"), None);
    assert_eq!(h.count("/api/qr/sessions").await, 2);
    let malformed = h
        .send(Req::post("/api/qr/sessions", json!({ "table": 1 })).key(""))
        .await;
    assert_eq!(
        malformed.status,
        StatusCode::CREATED,
        "nothing parses the key"
    );
    h.send(Req::post("/api/qr/sessions", json!({})))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid-request");
}

async fn orders_pay_once_and_update_by_version(kind: Kind) {
    let h = Harness::new(kind);
    let empty = h.send(Req::post("/api/orders", json!({}))).await;
    assert_eq!(empty.json["items"], json!([]));
    let order = h
        .send(Req::post("/api/orders", json!({ "items": [{ "sku": "tea" }] })).key("o1"))
        .await;
    assert_eq!(order.status, StatusCode::CREATED);
    assert_eq!(order.json["version"], 1);
    assert_eq!(order.header("etag"), Some("\"v1\""));
    let id = order.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        order.header("location"),
        Some(format!("/api/orders/{id}").as_str())
    );
    assert_eq!(
        h.send(Req::get(&format!("/api/orders/{id}"))).await.json,
        order.json
    );
    h.send(Req::post("/api/orders", json!({ "items": "tea" })))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid-request");

    let items = |version: Value, key: &str| {
        Req::new(Method::PUT, &format!("/api/orders/{id}/items"))
            .json(json!({ "items": [{ "sku": "cake" }], "version": version }))
            .key(key)
    };
    let updated = h.send(items(json!(1), "u1")).await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(updated.json["version"], 2);
    assert_eq!(updated.json["items"], json!([{ "sku": "cake" }]));
    assert!(
        h.send(items(json!(1), "u1")).await.replayed(),
        "a retry of the same update replays"
    );
    let stale = h.send(items(json!(1), "u2")).await;
    stale.assert_problem(StatusCode::CONFLICT, "stale-version");
    assert_eq!(stale.json["currentVersion"], 2);
    h.send(items(json!(null), "u3"))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid-request");
    h.send(
        Req::new(Method::PUT, "/api/orders/nope/items").json(json!({ "items": [], "version": 1 })),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not-found");

    let pay = |key: &str| Req::post(&format!("/api/orders/{id}/pay"), json!({})).key(key);
    let paid = h.send(pay("tab-1")).await;
    assert_eq!(paid.status, StatusCode::CREATED);
    assert_eq!(paid.json["orderId"], id.as_str());
    assert!(h.send(pay("tab-1")).await.replayed());
    let other_tab = h.send(pay("tab-2")).await;
    other_tab.assert_problem(StatusCode::CONFLICT, "already-paid");
    assert_eq!(other_tab.json["paymentId"], paid.json["paymentId"]);
    let unkeyed = h
        .send(Req::post(&format!("/api/orders/{id}/pay"), json!({})))
        .await;
    assert_eq!(unkeyed.json["paymentId"], paid.json["paymentId"]);
    assert_eq!(h.count("/api/payments").await, 1);
    assert_eq!(h.count("/api/orders").await, 2);
}

async fn concurrent_unkeyed_pays_and_updates_have_one_winner(kind: Kind) {
    let h = Harness::new(kind);
    let order = h.send(Req::post("/api/orders", json!({}))).await;
    let id = order.json["id"].as_str().unwrap().to_owned();
    let spawn = |req: Req| {
        let app = h.app.clone();
        tokio::spawn(async move {
            Resp::read(tower::ServiceExt::oneshot(app, req.build()).await.unwrap()).await
        })
    };
    let pays: Vec<_> = (0..10)
        .map(|_| spawn(Req::post(&format!("/api/orders/{id}/pay"), json!({}))))
        .collect();
    let updates: Vec<_> = (0..10)
        .map(|i| {
            spawn(
                Req::new(Method::PUT, &format!("/api/orders/{id}/items"))
                    .json(json!({ "items": [i], "version": 1 })),
            )
        })
        .collect();
    let mut pay_statuses = Vec::new();
    for task in pays {
        pay_statuses.push(task.await.unwrap().status.as_u16());
    }
    let mut update_statuses = Vec::new();
    for task in updates {
        update_statuses.push(task.await.unwrap().status.as_u16());
    }
    pay_statuses.sort_unstable();
    update_statuses.sort_unstable();
    assert_eq!(pay_statuses, [[201].as_slice(), &[409; 9]].concat());
    assert_eq!(
        update_statuses,
        [[200].as_slice(), &[409; 9]].concat(),
        "no lost update"
    );
    assert_eq!(h.count("/api/payments").await, 1);
    assert_eq!(
        h.send(Req::get(&format!("/api/orders/{id}"))).await.json["version"],
        2
    );
}

async fn test_mode_switches(kind: Kind) {
    let off = Harness::with(kind, |c: &mut Config| c.test_mode = false);
    off.send(Req::post("/api/_reset", json!({})))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    off.send(Req::get("/api/_requests"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    let ignored = off
        .send(Req::post("/api/orgs", json!({ "name": "Acme" })).fault("status=503"))
        .await;
    assert_eq!(
        ignored.status,
        StatusCode::CREATED,
        "X-Fault is ignored outside test mode"
    );

    let on = Harness::new(kind);
    on.send(Req::post("/api/orgs", json!({ "name": "Acme" })).fault("explode"))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "fault-malformed");
    let injected = on
        .send(
            Req::post("/api/orgs?x=1", json!({ "name": "Acme" }))
                .key("k1")
                .fault("status=429; times=1"),
        )
        .await;
    injected.assert_problem(StatusCode::TOO_MANY_REQUESTS, "injected-fault");
    assert_eq!(injected.header("retry-after"), Some("1"));
    let teapot = on
        .send(Req::post("/api/orgs", json!({ "name": "Acme" })).fault("status=418"))
        .await;
    teapot.assert_problem(StatusCode::IM_A_TEAPOT, "injected-fault");
    assert_eq!(teapot.header("retry-after"), None);
    // status= claimed nothing: the same key now runs.
    let ok = on
        .send(
            Req::post("/api/orgs?x=1", json!({ "name": "Acme" }))
                .key("k1")
                .fault("status=429; times=1"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    // Without a key, times=N counts requests with the same X-Fault value.
    for expected in [
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::CREATED,
    ] {
        let resp = on
            .send(Req::post("/api/qr/sessions", json!({ "table": 1 })).fault("status=503; times=2"))
            .await;
        assert_eq!(resp.status, expected);
    }
    let log = on.send(Req::get("/api/_requests")).await.json;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 7, "{log:?}");
    assert_eq!(
        log[1],
        json!({ "method": "POST", "path": "/api/orgs?x=1", "key": "k1", "fault": "status=429; times=1", "status": 429, "done": true })
    );
    assert_eq!(log[3]["status"], 201);
    assert_eq!(log[4]["key"], Value::Null);

    assert_eq!(
        on.send(Req::post("/api/_reset", json!({}))).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(on.send(Req::get("/api/_requests")).await.json, json!([]));
    assert_eq!(on.count("/api/orgs").await, 0);
    assert_eq!(on.count("/api/qr/sessions").await, 0);
    // Reset also forgot keys and fault counters.
    let again = on
        .send(
            Req::post("/api/orgs?x=1", json!({ "name": "Acme" }))
                .key("k1")
                .fault("status=429; times=1"),
        )
        .await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn cors_preflight_and_exposed_headers(kind: Kind) {
    for test_mode in [false, true] {
        let h = Harness::with(kind, |c| c.test_mode = test_mode);
        let preflight = h
            .send(
                Req::new(Method::OPTIONS, "/api/orgs")
                    .header("origin", "http://localhost:5173")
                    .header("access-control-request-method", "POST")
                    .header(
                        "access-control-request-headers",
                        "idempotency-key,content-type,authorization",
                    ),
            )
            .await;
        assert!(preflight.status.is_success());
        assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
        let allowed = preflight
            .header("access-control-allow-headers")
            .unwrap()
            .to_owned();
        for name in ["idempotency-key", "content-type", "authorization"] {
            assert!(allowed.contains(name), "{allowed}");
        }
        assert_eq!(allowed.contains("x-fault"), test_mode, "{allowed}");
        let resp = h
            .send(
                Req::post("/api/orgs", json!({ "name": "Acme" }))
                    .key("k")
                    .header("origin", "http://localhost:5173"),
            )
            .await;
        let exposed = resp.header("access-control-expose-headers").unwrap();
        for name in [
            "idempotent-replayed",
            "retry-after",
            "location",
            "idempotency-retention",
        ] {
            assert!(exposed.contains(name), "{exposed}");
        }
    }
}

async fn static_files_and_unknown_routes(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<h1>demo</h1>").unwrap();
    std::fs::write(dir.path().join("app.js"), "console.log(1)").unwrap();
    let path = dir.path().to_owned();
    let h = Harness::with(kind, move |c| c.static_dir = Some(path));
    let index = h.send(Req::get("/")).await;
    assert_eq!(index.status, StatusCode::OK);
    assert_eq!(index.body, b"<h1>demo</h1>");
    assert!(
        index
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(h.send(Req::get("/app.js")).await.body, b"console.log(1)");
    assert_eq!(
        h.send(Req::get("/missing.js")).await.status,
        StatusCode::NOT_FOUND
    );
    h.send(Req::get("/api/nothing"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    assert_eq!(
        h.send(Req::get("/api/invites/x/claim")).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let bare = Harness::new(kind);
    bare.send(Req::get("/"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
}

per_store!(
    orgs_create_list_and_validate,
    concurrent_unkeyed_orgs_get_unique_slugs,
    invites_claim_once,
    concurrent_unkeyed_invite_claims_create_one_record,
    qr_sessions_are_new_without_a_key,
    idempotency_layer_off_runs_the_bare_handlers,
    orders_pay_once_and_update_by_version,
    concurrent_unkeyed_pays_and_updates_have_one_winner,
    test_mode_switches,
    cors_preflight_and_exposed_headers,
    static_files_and_unknown_routes,
);

#[tokio::test]
async fn sqlite_used_invite_without_a_record_is_409() {
    let h = Harness::new(Kind::Sqlite);
    let invite = h
        .send(Req::post(
            "/api/invites",
            json!({ "email": "ann@example.com" }),
        ))
        .await;
    let token = invite.json["token"].as_str().unwrap().to_owned();
    let claimed = h
        .send(Req::post(&format!("/api/invites/{token}/claim"), json!({})))
        .await;
    assert_eq!(claimed.status, StatusCode::CREATED);
    // Damage the data as a failed half-migration would: the claim record is gone.
    let conn = rusqlite::Connection::open(h.db_path.as_ref().unwrap()).unwrap();
    conn.execute("DELETE FROM invite_claims", []).unwrap();
    drop(conn);
    h.send(Req::post(&format!("/api/invites/{token}/claim"), json!({})))
        .await
        .assert_problem(StatusCode::CONFLICT, "invite-used");
}

/// Issue 12, fault 9: list endpoints are paginated: `limit` (1–1000,
/// default 1000) and `after` (the last id of the previous page), oldest
/// first, with a `Link: <…>; rel="next"` while more remain.
#[tokio::test(start_paused = true)]
async fn lists_are_paginated() {
    for kind in [Kind::Memory, Kind::Sqlite] {
        let h = Harness::new(kind);
        for table in 1..=5 {
            let resp = h
                .send(Req::post("/api/qr/sessions", json!({ "table": table })))
                .await;
            assert_eq!(resp.status, StatusCode::CREATED);
        }
        let mut seen = Vec::new();
        let mut next = Some("/api/qr/sessions?limit=2".to_owned());
        let mut pages = 0;
        while let Some(url) = next.take() {
            let page = h.send(Req::get(&url)).await;
            assert_eq!(page.status, StatusCode::OK, "{kind:?} {url}: {}", page.json);
            let items = page.json.as_array().unwrap();
            assert!(items.len() <= 2, "{kind:?} {url}");
            seen.extend(items.iter().map(|s| s["table"].clone()));
            next = page.header("link").map(|link| {
                let (target, rel) = link.split_once(';').unwrap();
                assert_eq!(rel.trim(), "rel=\"next\"");
                target.trim_matches(['<', '>', ' ']).to_owned()
            });
            pages += 1;
        }
        assert_eq!(pages, 3, "{kind:?}");
        assert_eq!(
            seen,
            [json!(1), json!(2), json!(3), json!(4), json!(5)],
            "{kind:?}"
        );
        // Without parameters: everything up to the default page size, no Link.
        let all = h.send(Req::get("/api/qr/sessions")).await;
        assert_eq!(all.json.as_array().unwrap().len(), 5);
        assert_eq!(all.header("link"), None);
        for path in [
            "/api/orgs",
            "/api/memberships",
            "/api/invites",
            "/api/orders",
            "/api/payments",
        ] {
            let resp = h.send(Req::get(&format!("{path}?limit=1"))).await;
            assert_eq!(resp.status, StatusCode::OK, "{kind:?} {path}");
        }
        for bad in ["limit=0", "limit=1001", "limit=x"] {
            h.send(Req::get(&format!("/api/qr/sessions?{bad}")))
                .await
                .assert_problem(StatusCode::BAD_REQUEST, "invalid-request");
        }
    }
}
