//! What the browser tests share: the test server's address, request helpers,
//! and readers for the server's request log.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use js_sys::{Array, JSON, Object, Promise, Reflect};
use submit_guard::SubmitGuard;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestInit, Response};

/// The reference server the tests talk to, started with `--test-mode` by
/// `make test-browser`, which passes its address in at build time. Read with
/// `option_env!` so the tests still build (for clippy) without one.
#[allow(clippy::option_env_unwrap)]
pub fn server() -> &'static str {
    option_env!("SUBMIT_GUARD_SERVER")
        .expect("SUBMIT_GUARD_SERVER is not set: run the browser tests with `make test-browser`")
}

/// A tag unique to one test run, put in URLs so a test sees only its own
/// requests in the server's log.
pub fn tag(name: &str) -> String {
    let random = (js_sys::Math::random() * 1e12) as u64;
    format!("{name}-{random}")
}

/// `{SERVER}/api/qr/sessions?t={tag}`: a keyed endpoint that creates one
/// session per executed request, so effects are countable.
pub fn sessions_url(tag: &str) -> String {
    format!("{}/api/qr/sessions?t={tag}", server())
}

/// A guard made from options written as JSON.
pub fn guard(options: &str) -> SubmitGuard {
    SubmitGuard::new(JSON::parse(options).unwrap()).unwrap()
}

/// `new SubmitGuard(options)`'s error for options written as a JS value.
pub fn guard_error(options: JsValue) -> JsValue {
    match SubmitGuard::new(options.clone()) {
        Ok(_) => panic!(
            "expected {} to be refused",
            js_sys::JSON::stringify(&options)
                .map(String::from)
                .unwrap_or_default()
        ),
        Err(e) => e,
    }
}

/// A POST of `body` as JSON, with extra headers.
pub fn post(body: &str, headers: &[(&str, &str)]) -> RequestInit {
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    let h = Headers::new().unwrap();
    h.set("content-type", "application/json").unwrap();
    for (name, value) in headers {
        h.set(name, value).unwrap();
    }
    init.set_headers(&h);
    init
}

/// Awaits a promise (js-sys's, or the one the guard's methods return),
/// keeping the rejection as a value.
pub async fn settle(promise: impl Into<JsValue>) -> Result<JsValue, JsValue> {
    JsFuture::from(promise.into().unchecked_into::<Promise>()).await
}

/// Reads `value[name]`.
pub fn prop(value: &JsValue, name: &str) -> JsValue {
    Reflect::get(value, &name.into()).unwrap()
}

/// The `code` of a `SubmitGuardError`, checking its `name` on the way.
pub fn code(error: &JsValue) -> String {
    assert!(
        error.is_instance_of::<js_sys::Error>(),
        "not an Error: {error:?}"
    );
    assert_eq!(
        prop(error, "name").as_string().as_deref(),
        Some("SubmitGuardError"),
        "{error:?}"
    );
    prop(error, "code").as_string().unwrap()
}

/// The JSON body of a response.
pub async fn json(response: &JsValue) -> JsValue {
    let response: &Response = response.dyn_ref().expect("a Response");
    JsFuture::from(response.json().unwrap()).await.unwrap()
}

/// Sleeps in the browser.
pub async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

/// One request in the server's log.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub key: Option<String>,
    pub status: Option<u16>,
    /// Whether the server has finished handling it.
    pub done: bool,
}

/// The requests the server received whose path contains `tag`, in order.
pub async fn seen(tag: &str) -> Vec<Seen> {
    let url = format!("{}/api/_requests", server());
    let response = settle(web_sys::window().unwrap().fetch_with_str(&url))
        .await
        .unwrap();
    let log: Array = json(&response).await.dyn_into().unwrap();
    log.iter()
        .map(|r| Seen {
            method: prop(&r, "method").as_string().unwrap(),
            path: prop(&r, "path").as_string().unwrap(),
            key: prop(&r, "key").as_string(),
            status: prop(&r, "status").as_f64().map(|s| s as u16),
            done: prop(&r, "done").as_bool().unwrap_or(false),
        })
        .filter(|r| r.method != "OPTIONS" && r.path.contains(tag))
        .collect()
}

/// Waits (up to 30 s) until the server has finished every request for
/// `tag` it received: a fixed sleep is too short on a loaded machine.
pub async fn until_done(tag: &str) {
    for _ in 0..600 {
        if seen(tag).await.iter().all(|r| r.done) {
            return;
        }
        sleep(50).await;
    }
    panic!(
        "the server still handles requests for {tag}: {:?}",
        seen(tag).await
    );
}

/// Asserts that the server saw at least `at_least` requests for `tag`, each
/// carrying `key`.
pub async fn assert_all_sent_with(tag: &str, key: &str, at_least: usize) {
    let requests = seen(tag).await;
    assert!(requests.len() >= at_least, "{requests:?}");
    assert!(
        requests.iter().all(|r| r.key.as_deref() == Some(key)),
        "not all with key {key}: {requests:?}"
    );
}

/// How many QR sessions the server holds for table `table`: the effects.
pub async fn sessions(table: &str) -> usize {
    let url = format!("{}/api/qr/sessions", server());
    let response = settle(web_sys::window().unwrap().fetch_with_str(&url))
        .await
        .unwrap();
    let list: Array = json(&response).await.dyn_into().unwrap();
    list.iter()
        .filter(|s| prop(s, "table").as_string().as_deref() == Some(table))
        .count()
}

/// The body of a QR session request for table `table`.
pub fn table(table: &str) -> String {
    format!(r#"{{"table":"{table}"}}"#)
}

/// Whether `key` looks like a UUID v4.
pub fn is_uuid_v4(key: &str) -> bool {
    let b = key.as_bytes();
    key.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
        && key
            .chars()
            .filter(|&c| c != '-')
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

/// An object with the given properties.
pub fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (name, value) in pairs {
        Reflect::set(&o, &(*name).into(), value).unwrap();
    }
    o.into()
}
