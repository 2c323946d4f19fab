//! A small app of its own (notes) behind `IdempotencyLayer`, on the memory,
//! the SQLite and (feature `postgres`, with `DATABASE_URL`) the PostgreSQL
//! store: the transactional path, a handler that forgets to
//! record its reply, failures, plain mode, principals and the policies.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failure is a panic

#[macro_use]
mod contract;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, Json, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Router, body::Body};
use contract::Fixture;
use serde_json::{Value, json};
use submit_guard_idempotency::{
    Claim, IdempotencyConfig, IdempotencyLayer, ManualClock, Mode, Reply,
};
use tower::ServiceExt;

const SECRET: &[u8] = b"a test secret of at least 32 bytes";

type App = Arc<dyn Fixture>;

/// `POST /notes`: the note and its reply commit in one transaction.
async fn add_note(
    State(app): State<App>,
    claim: Option<Extension<Claim>>,
    Json(body): Json<Value>,
) -> Response {
    let text = body["text"].as_str().unwrap_or_default().to_owned();
    if text.is_empty() {
        return (StatusCode::BAD_REQUEST, "text is required").into_response();
    }
    let reply = Reply::json(StatusCode::CREATED, &json!({ "text": text }));
    let claim = claim.map(|Extension(claim)| claim);
    let committed = {
        let reply = reply.clone();
        tokio::task::spawn_blocking(move || app.commit_with_effect(claim.as_ref(), &reply, &text))
            .await
            .unwrap()
    };
    match committed {
        Ok(receipt) => (receipt, reply).into_response(),
        Err(err) => (StatusCode::CONFLICT, err.to_string()).into_response(),
    }
}

/// `POST /forgetful`: a bug: the effect commits, the reply is not recorded.
async fn forgetful(State(app): State<App>) -> Response {
    tokio::task::spawn_blocking(move || {
        app.commit_with_effect(None, &Reply::json(StatusCode::CREATED, &()), "forgotten")
    })
    .await
    .unwrap()
    .unwrap();
    (StatusCode::CREATED, "done").into_response()
}

/// `POST /plain`: an effect outside the store's transaction (plain mode).
async fn plain(State(app): State<App>) -> Response {
    tokio::task::spawn_blocking(move || {
        app.commit_with_effect(None, &Reply::json(StatusCode::CREATED, &()), "plain")
    })
    .await
    .unwrap()
    .unwrap();
    (
        StatusCode::CREATED,
        [("location", "/plain/1"), ("set-cookie", "sid=x")],
        "made",
    )
        .into_response()
}

struct Harness {
    fixture: App,
    router: Router,
    clock: Arc<ManualClock>,
}

fn harness(fixture: App, tweak: impl FnOnce(IdempotencyConfig) -> IdempotencyConfig) -> Harness {
    let clock = Arc::new(ManualClock::new(contract::T0));
    let config = tweak(IdempotencyConfig::new(SECRET).clock(clock.clone()));
    let transactional = Router::new()
        .route("/notes", post(add_note).get(|| async { "list" }))
        .route("/forgetful", post(forgetful))
        .layer(IdempotencyLayer::from_arc(fixture.store(), config.clone()));
    let plain_mode = Router::new()
        .route("/plain", post(plain))
        .layer(IdempotencyLayer::from_arc(
            fixture.store(),
            config.mode(Mode::Plain),
        ));
    Harness {
        router: transactional.merge(plain_mode).with_state(fixture.clone()),
        fixture,
        clock,
    }
}

struct Got {
    status: StatusCode,
    replayed: bool,
    headers: axum::http::HeaderMap,
    json: Value,
}

impl Harness {
    async fn send(
        &self,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Value,
    ) -> Got {
        let mut req = Request::post(path).header("content-type", "application/json");
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let response = self
            .router
            .clone()
            .oneshot(req.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        Got {
            status: parts.status,
            replayed: parts
                .headers
                .get("idempotent-replayed")
                .is_some_and(|v| v == "true"),
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            headers: parts.headers,
        }
    }

    async fn effects(&self) -> Vec<String> {
        let fixture = self.fixture.clone();
        tokio::task::spawn_blocking(move || fixture.effects())
            .await
            .unwrap()
    }
}

async fn commits_and_replays(fixture: App) {
    let h = harness(fixture, |c| c);
    let first = h
        .send("/notes", Some("k1"), &[], json!({ "text": "hello" }))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(!first.replayed);
    assert_eq!(first.headers["idempotency-retention"], "86400");
    let again = h
        .send("/notes", Some("k1"), &[], json!({ "text": "hello" }))
        .await;
    assert_eq!((again.status, again.replayed), (StatusCode::CREATED, true));
    assert_eq!(again.json, first.json);
    let other = h
        .send("/notes", Some("k1"), &[], json!({ "text": "bye" }))
        .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Without a key the handler runs each time (keys optional by default).
    h.send("/notes", None, &[], json!({ "text": "free" })).await;
    h.send("/notes", None, &[], json!({ "text": "free" })).await;
    assert_eq!(h.effects().await, ["hello", "free", "free"]);
}

async fn a_success_without_a_recorded_reply_is_refused_and_keeps_the_claim(fixture: App) {
    let h = harness(fixture, |c| c.lock_timeout(Duration::from_secs(30)));
    let first = h.send("/forgetful", Some("f1"), &[], json!({})).await;
    assert_eq!(first.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        first.json["type"]
            .as_str()
            .unwrap()
            .ends_with("idempotency-reply-not-recorded"),
        "{}",
        first.json
    );
    // Not silently released: the retry is refused until the lock times out…
    let retry = h.send("/forgetful", Some("f1"), &[], json!({})).await;
    assert_eq!(retry.status, StatusCode::CONFLICT);
    assert_eq!(h.effects().await, ["forgotten"]);
    // …and only then taken over (the app's bug costs a repeat, not a silent one).
    h.clock.advance(Duration::from_secs(30));
    let late = h.send("/forgetful", Some("f1"), &[], json!({})).await;
    assert_eq!(late.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(h.effects().await, ["forgotten", "forgotten"]);
}

async fn a_failure_releases_the_claim(fixture: App) {
    let h = harness(fixture, |c| c);
    let bad = h
        .send("/notes", Some("r1"), &[], json!({ "text": "" }))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // Released at once: the same key runs afresh, even with a fixed body.
    let fixed = h
        .send("/notes", Some("r1"), &[], json!({ "text": "fixed" }))
        .await;
    assert_eq!((fixed.status, fixed.replayed), (StatusCode::CREATED, false));
    assert_eq!(h.effects().await, ["fixed"]);
}

async fn plain_mode_stores_the_reply_after_the_handler(fixture: App) {
    let h = harness(fixture, |c| c);
    let first = h.send("/plain", Some("p1"), &[], json!({})).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(
        first.headers["set-cookie"], "sid=x",
        "the first response is untouched"
    );
    let again = h.send("/plain", Some("p1"), &[], json!({})).await;
    assert_eq!((again.status, again.replayed), (StatusCode::CREATED, true));
    assert_eq!(again.headers["location"], "/plain/1");
    assert!(again.headers.get("set-cookie").is_none(), "never replayed");
    assert_eq!(h.effects().await, ["plain"]);
}

async fn principals_keep_users_apart(fixture: App) {
    let h = harness(fixture, |c| c);
    let body = json!({ "text": "same" });
    let alice = h
        .send(
            "/notes",
            Some("k"),
            &[("authorization", "Basic YWxpY2U6cA==")],
            body.clone(),
        )
        .await;
    let bob = h
        .send(
            "/notes",
            Some("k"),
            &[("authorization", "Basic Ym9iOnA=")],
            body.clone(),
        )
        .await;
    let key = h
        .send("/notes", Some("k"), &[("x-api-key", "k-1")], body.clone())
        .await;
    let nobody = h.send("/notes", Some("k"), &[], body.clone()).await;
    assert!(
        [&alice, &bob, &key, &nobody]
            .iter()
            .all(|g| g.status == StatusCode::CREATED && !g.replayed)
    );
    let alice_again = h
        .send(
            "/notes",
            Some("k"),
            &[("authorization", "Basic YWxpY2U6cA==")],
            body,
        )
        .await;
    assert!(alice_again.replayed);
    assert_eq!(h.effects().await.len(), 4);
}

async fn policies_are_the_apps(fixture: App) {
    let h = harness(fixture, |c| {
        c.require_key(true)
            .protect(|parts: &axum::http::request::Parts| parts.uri.path() == "/notes")
            .stored_headers([axum::http::header::CONTENT_TYPE])
    });
    let keyless = h.send("/notes", None, &[], json!({ "text": "x" })).await;
    assert_eq!(keyless.status, StatusCode::BAD_REQUEST);
    assert!(
        keyless.json["type"]
            .as_str()
            .unwrap()
            .ends_with("idempotency-key-missing")
    );
    // /plain is not protected under this policy: no key needed, no replay.
    let unprotected = h.send("/plain", None, &[], json!({})).await;
    assert_eq!(unprotected.status, StatusCode::CREATED);
    let malformed = h
        .send("/notes", Some("a,b"), &[], json!({ "text": "x" }))
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(h.effects().await, ["plain"]);
}

macro_rules! per_store {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $( #[tokio::test] async fn $name() { super::$name(crate::contract::memory()).await } )*
        }
        mod sqlite {
            $( #[tokio::test] async fn $name() { super::$name(crate::contract::sqlite()).await } )*
        }
        /// On `DATABASE_URL` (skipped without it; see `contract::postgres_url`).
        #[cfg(feature = "postgres")]
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(fixture) = crate::contract::postgres(module_path!()).await else {
                        return;
                    };
                    super::$name(fixture).await
                }
            )*
        }
    };
}

per_store!(
    commits_and_replays,
    a_success_without_a_recorded_reply_is_refused_and_keeps_the_claim,
    a_failure_releases_the_claim,
    plain_mode_stores_the_reply_after_the_handler,
    principals_keep_users_apart,
    policies_are_the_apps,
);
