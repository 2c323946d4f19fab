//! The JavaScript boundary, in headless Chromium, against the real reference
//! server on loopback (`make test-browser` starts it and runs these).
//!
//! Each test tags its URLs and request bodies, then asks the server what it
//! received (`GET /api/_requests`) and what it created, so the assertions are
//! about real requests and real effects. Faults come from the server's test
//! mode (`X-Fault: …; times=1` strikes only the first attempt of a key).

#![cfg(target_arch = "wasm32")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use js_sys::{Array, Function, Promise, RangeError, TypeError};
use submit_guard::SubmitGuard;
use support::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;
use web_sys::{AbortController, FormData, RequestInit};

wasm_bindgen_test_configure!(run_in_browser);

fn fetch(guard: &SubmitGuard, url: &str, init: RequestInit) -> Promise {
    guard
        .fetch(url.into(), Some(init.unchecked_into()))
        .unchecked_into()
}

/// Through `guard`, a POST to the tagged QR sessions endpoint for table `t`
/// (one session per executed request), with extra `headers`.
fn open_session(guard: &SubmitGuard, t: &str, headers: &[(&str, &str)]) -> Promise {
    fetch(guard, &sessions_url(t), post(&table(t), headers))
}

#[wasm_bindgen_test]
fn options_are_checked_with_errors_naming_the_option() {
    let cases: [(&str, bool, &str); 9] = [
        (
            r#"{"timeoutMS": 5}"#,
            true,
            "`timeoutMS` is not an option; did you mean `timeoutMs`?",
        ),
        (
            r#"{"timeoutMs": "5"}"#,
            true,
            "`timeoutMs` must be a number, got the string \"5\"",
        ),
        (
            r#"{"retryOn": [503, "x"]}"#,
            true,
            "`retryOn` must be an array of numbers, got an array holding the string",
        ),
        (
            r#"{"quoteKey": 1}"#,
            true,
            "`quoteKey` must be a boolean, got the number 1",
        ),
        (
            r#"{"retries": 11}"#,
            false,
            "`retries` must be an integer from 0 to 10, got 11",
        ),
        (
            r#"{"timeoutMs": -1}"#,
            false,
            "`timeoutMs` must be an integer",
        ),
        (
            r#"{"retryOn": [99]}"#,
            false,
            "`retryOn` must hold HTTP statuses from 100 to 599, got 99",
        ),
        (
            r#"{"headerName": "Idem Key"}"#,
            false,
            "`headerName` must be a non-empty HTTP token",
        ),
        (
            r#"{"onDuplicate": "queue"}"#,
            false,
            "`onDuplicate` must be \"share\" or \"reject\"",
        ),
    ];
    for (options, is_type_error, needle) in cases {
        let error = guard_error(js_sys::JSON::parse(options).unwrap());
        let message = prop(&error, "message").as_string().unwrap();
        assert!(message.contains(needle), "{options}: {message}");
        if is_type_error {
            assert!(
                error.is_instance_of::<TypeError>(),
                "{options} should throw a TypeError"
            );
        } else {
            assert!(
                error.is_instance_of::<RangeError>(),
                "{options} should throw a RangeError"
            );
        }
    }
    let error = guard_error(object(&[("fetch", JsValue::from(5))]));
    assert!(error.is_instance_of::<TypeError>());
    assert!(
        prop(&error, "message")
            .as_string()
            .unwrap()
            .contains("`fetch` must be a function")
    );
    let error = guard_error(JsValue::from("fast"));
    assert!(error.is_instance_of::<TypeError>());
    // No options, null and undefined values all mean the defaults.
    let g = SubmitGuard::new(JsValue::UNDEFINED).unwrap();
    assert!(is_uuid_v4(&g.key()), "{}", g.key());
    assert_eq!(
        (g.state().as_str(), g.pending(), g.attempts()),
        ("idle", false, 0)
    );
    guard(r#"{"timeoutMs": null, "retries": null}"#);
    guard_error_free(object(&[("retries", JsValue::UNDEFINED)]));
}

fn guard_error_free(options: JsValue) {
    assert!(SubmitGuard::new(options).is_ok());
}

#[wasm_bindgen_test]
async fn ten_same_tick_posts_send_one_request_and_all_get_the_response() {
    let t = tag("ten");
    let g = guard("{}");
    let key = g.key();
    let calls: Vec<Promise> = (0..10).map(|_| open_session(&g, &t, &[])).collect();
    assert!(g.pending());
    assert_eq!(g.state(), "pending");
    let mut ids = Vec::new();
    for call in calls {
        let response = settle(call).await.unwrap();
        // Every caller has its own clone: every body can be read.
        ids.push(prop(&json(&response).await, "id").as_string().unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    let requests = seen(&t).await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].key.as_deref(), Some(key.as_str()));
    assert_eq!(sessions(&t).await, 1);
    assert_eq!(g.state(), "succeeded");
    assert_ne!(g.key(), key, "a success replaces the key");
    assert!(is_uuid_v4(&g.key()));
}

#[wasm_bindgen_test]
async fn a_caller_joining_later_still_gets_a_readable_body() {
    // The first caller is awaiting (and will read the body at once) before
    // the second joins: the second's clone must still be made first.
    let t = tag("join-later");
    let g = guard("{}");
    let first = open_session(&g, &t, &[("x-fault", "delay=300; times=1")]);
    // In JavaScript, so the body is read in the very reaction that receives
    // the response, as `const r = await guard.fetch(…); await r.json()` does.
    let read = Function::new_with_args("p", "return p.then((r) => r.json())");
    let reader: Promise = read
        .call1(&JsValue::UNDEFINED, &first)
        .unwrap()
        .unchecked_into();
    sleep(100).await;
    let second = open_session(&g, &t, &[]);
    let a = settle(reader).await.unwrap();
    let b = json(&settle(second).await.unwrap()).await;
    assert_eq!(prop(&a, "id").as_string(), prop(&b, "id").as_string());
    assert_eq!(seen(&t).await.len(), 1);
}

#[wasm_bindgen_test]
async fn reject_mode_refuses_duplicates_at_once() {
    let t = tag("reject");
    let g = guard(r#"{"onDuplicate": "reject"}"#);
    let first = open_session(&g, &t, &[]);
    let others: Vec<Promise> = (0..9).map(|_| open_session(&g, &t, &[])).collect();
    for other in others {
        assert_eq!(code(&settle(other).await.unwrap_err()), "DUPLICATE");
    }
    settle(first).await.unwrap();
    assert_eq!(seen(&t).await.len(), 1);
    assert_eq!(sessions(&t).await, 1);
}

#[wasm_bindgen_test]
async fn a_503_is_retried_with_the_same_key() {
    let t = tag("retry503");
    let g = guard(r#"{"backoffMs": 1, "maxBackoffMs": 1}"#);
    let key = g.key();
    let response = settle(open_session(&g, &t, &[("x-fault", "status=503; times=1")]))
        .await
        .unwrap();
    assert_eq!(prop(&response, "status").as_f64(), Some(201.0));
    let requests = seen(&t).await;
    let keys: Vec<_> = requests.iter().map(|r| r.key.clone()).collect();
    assert_eq!(keys, vec![Some(key.clone()), Some(key.clone())]);
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![Some(503), Some(201)]
    );
    assert_eq!(g.attempts(), 2);
    assert_eq!(sessions(&t).await, 1);
    assert_ne!(g.key(), key);
}

#[wasm_bindgen_test]
async fn retry_after_replaces_the_backoff_and_a_long_one_stops() {
    // The server's 503 says `Retry-After: 1`; the backoff would be ~1 ms.
    let t = tag("retryafter");
    let g = guard(r#"{"backoffMs": 1, "maxBackoffMs": 1}"#);
    let started = js_sys::Date::now();
    settle(open_session(&g, &t, &[("x-fault", "status=503; times=1")]))
        .await
        .unwrap();
    let waited = js_sys::Date::now() - started;
    assert!(
        waited >= 950.0,
        "retried after {waited} ms, before the server's Retry-After"
    );

    let t = tag("retryafter-long");
    let g = guard(r#"{"maxRetryAfterMs": 500}"#);
    let key = g.key();
    let error = settle(open_session(&g, &t, &[("x-fault", "status=503; times=1")]))
        .await
        .unwrap_err();
    assert_eq!(code(&error), "HTTP");
    assert_eq!(prop(&error, "status").as_f64(), Some(503.0));
    assert!(prop(&error, "response").is_instance_of::<web_sys::Response>());
    assert_eq!(
        seen(&t).await.len(),
        1,
        "a Retry-After over the cap stops the retries"
    );
    assert_eq!((g.state().as_str(), g.key()), ("failed", key.clone()));
    // Usable after the error: the resubmit goes out with the same key.
    settle(open_session(&g, &t, &[])).await.unwrap();
    let requests = seen(&t).await;
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].key.as_deref(), Some(key.as_str()));
}

#[wasm_bindgen_test]
async fn a_timed_out_attempt_is_retried_with_the_same_key() {
    let t = tag("timeout-retry");
    let g = guard(r#"{"timeoutMs": 300, "backoffMs": 1, "maxBackoffMs": 1}"#);
    let key = g.key();
    let response = settle(open_session(&g, &t, &[("x-fault", "delay=1500; times=1")]))
        .await
        .unwrap();
    assert!(prop(&response, "ok").as_bool().unwrap());
    assert!(g.attempts() >= 2);
    assert_all_sent_with(&t, &key, 2).await;
    assert_eq!(sessions(&t).await, 1);
}

#[wasm_bindgen_test]
async fn timeouts_fail_with_code_timeout_and_leave_the_guard_usable() {
    let t = tag("timeout");
    // Margins for a loaded machine: the resubmit must answer within 1 s.
    let g = guard(r#"{"timeoutMs": 1000, "retries": 0}"#);
    let key = g.key();
    let error = settle(open_session(&g, &t, &[("x-fault", "delay=2000; times=1")]))
        .await
        .unwrap_err();
    assert_eq!(code(&error), "TIMEOUT");
    assert_eq!(
        (g.state().as_str(), g.pending(), g.key()),
        ("failed", false, key.clone())
    );
    until_done(&t).await; // the slow first request finishes on the server
    let response = settle(open_session(&g, &t, &[])).await.unwrap();
    assert!(prop(&response, "ok").as_bool().unwrap());
    assert_eq!(
        sessions(&t).await,
        1,
        "the resubmit with the same key is not a second effect"
    );
}

#[wasm_bindgen_test]
async fn abort_then_resubmit_keeps_the_key() {
    let t = tag("abort");
    let g = guard("{}");
    let key = g.key();
    let call = open_session(&g, &t, &[("x-fault", "delay=400; times=1")]);
    sleep(100).await;
    g.abort(JsValue::from("user left"));
    assert!(!g.pending(), "abort releases the lock at once");
    let error = settle(call).await.unwrap_err();
    assert_eq!(code(&error), "ABORTED");
    assert_eq!(
        prop(&error, "cause").as_string().as_deref(),
        Some("user left")
    );
    assert_eq!((g.state().as_str(), g.key()), ("failed", key.clone()));
    settle(open_session(&g, &t, &[])).await.unwrap();
    assert_all_sent_with(&t, &key, 1).await;
    assert_eq!(sessions(&t).await, 1);
}

#[wasm_bindgen_test]
async fn the_callers_signal_aborts_the_submission() {
    let t = tag("signal");
    let g = guard("{}");
    let controller = AbortController::new().unwrap();
    let init = post(&table(&t), &[("x-fault", "delay=400; times=1")]);
    init.set_signal(Some(&controller.signal()));
    let call = fetch(&g, &sessions_url(&t), init);
    sleep(50).await;
    controller.abort();
    assert_eq!(code(&settle(call).await.unwrap_err()), "ABORTED");
    assert_eq!(g.state(), "failed");
    // An already aborted signal rejects at once and takes no lock.
    let init = post(&table(&t), &[]);
    init.set_signal(Some(&controller.signal()));
    assert_eq!(
        code(
            &settle(fetch(&g, &sessions_url(&t), init))
                .await
                .unwrap_err()
        ),
        "ABORTED"
    );
    assert!(!g.pending());
}

#[wasm_bindgen_test]
async fn reset_aborts_replaces_the_key_and_returns_to_idle() {
    let t = tag("reset");
    let g = guard("{}");
    let key = g.key();
    let call = open_session(&g, &t, &[("x-fault", "delay=300; times=1")]);
    g.reset();
    assert_eq!(
        (g.state().as_str(), g.pending(), g.attempts()),
        ("idle", false, 0)
    );
    assert_ne!(g.key(), key);
    assert_eq!(code(&settle(call).await.unwrap_err()), "ABORTED");
    assert_eq!(
        g.state(),
        "idle",
        "the aborted submission does not overwrite the reset"
    );
}

#[wasm_bindgen_test]
async fn an_edited_payload_gets_a_new_key_and_the_same_one_does_not() {
    let t = tag("edit");
    let g = guard("{}");
    let url = format!("{}/api/orgs?t={t}", server());
    let first = g.key();
    // An empty name fails validation on the server: a 400, nothing stored.
    let error = settle(fetch(&g, &url, post(r#"{"name":""}"#, &[])))
        .await
        .unwrap_err();
    assert_eq!(
        (code(&error), prop(&error, "status").as_f64()),
        ("HTTP".to_owned(), Some(400.0))
    );
    settle(fetch(&g, &url, post(r#"{"name":""}"#, &[])))
        .await
        .unwrap_err();
    assert_eq!(g.key(), first, "the same payload keeps its key");
    let name = format!("Acme {t}");
    let response = settle(fetch(
        &g,
        &url,
        post(&format!(r#"{{"name":"{name}"}}"#), &[]),
    ))
    .await
    .unwrap();
    assert_eq!(prop(&response, "status").as_f64(), Some(201.0));
    let keys: Vec<_> = seen(&t).await.into_iter().map(|r| r.key.unwrap()).collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(keys[0], first);
    assert_eq!(keys[1], first);
    assert_ne!(keys[2], first, "the edited form went out with a new key");
}

#[wasm_bindgen_test]
async fn form_data_is_fingerprinted_by_its_fields() {
    let t = tag("form");
    let g = guard(r#"{"retries": 0}"#);
    let url = format!("{}/api/qr/sessions?t={t}", server());
    let form = |value: &str| {
        let f = FormData::new().unwrap();
        f.append_with_str("table", value).unwrap();
        let init = RequestInit::new();
        init.set_method("POST");
        init.set_body(&f);
        let h = web_sys::Headers::new().unwrap();
        h.set("x-fault", "status=400").unwrap();
        init.set_headers(&h);
        init
    };
    let key = g.key();
    settle(fetch(&g, &url, form("a"))).await.unwrap_err();
    settle(fetch(&g, &url, form("a"))).await.unwrap_err(); // a new FormData, same fields
    settle(fetch(&g, &url, form("b"))).await.unwrap_err();
    let keys: Vec<_> = seen(&t).await.into_iter().map(|r| r.key.unwrap()).collect();
    assert_eq!(keys[..2], [key.clone(), key.clone()]);
    assert_ne!(keys[2], key);
}

#[wasm_bindgen_test]
async fn a_key_the_caller_set_is_sent_as_is() {
    let t = tag("own-key");
    let g = guard("{}");
    let key = g.key();
    let own = format!("own-{t}");
    settle(open_session(&g, &t, &[("idempotency-key", &own)]))
        .await
        .unwrap();
    assert_eq!(seen(&t).await[0].key.as_deref(), Some(own.as_str()));
    assert_eq!(
        g.key(),
        key,
        "the guard's own key was not used, so it is kept"
    );
}

#[wasm_bindgen_test]
async fn quote_key_sends_an_sf_string() {
    let t = tag("quoted");
    let g = guard(r#"{"quoteKey": true, "headerName": "Idempotency-Key"}"#);
    let key = g.key();
    settle(open_session(&g, &t, &[])).await.unwrap();
    assert_eq!(seen(&t).await[0].key, Some(format!("\"{key}\"")));
}

#[wasm_bindgen_test]
async fn network_errors_are_retried_then_fail_with_code_network() {
    // Port 9 (discard) is closed on loopback: the connection is refused.
    let g = guard(r#"{"retries": 1, "backoffMs": 1, "maxBackoffMs": 1}"#);
    let key = g.key();
    let error = settle(fetch(
        &g,
        "http://127.0.0.1:9/api/qr/sessions",
        post("{}", &[]),
    ))
    .await
    .unwrap_err();
    assert_eq!(code(&error), "NETWORK");
    assert!(
        prop(&error, "cause").is_instance_of::<TypeError>(),
        "the fetch error is the cause"
    );
    assert_eq!(
        (g.attempts(), g.state().as_str(), g.key()),
        (2, "failed", key)
    );
    assert!(!g.pending());
}

#[wasm_bindgen_test]
async fn throw_http_errors_false_resolves_with_the_response() {
    let t = tag("nothrow");
    let g = guard(r#"{"throwHttpErrors": false}"#);
    let key = g.key();
    let url = format!("{}/api/orgs?t={t}", server());
    let response = settle(fetch(&g, &url, post(r#"{"name":""}"#, &[])))
        .await
        .unwrap();
    assert_eq!(prop(&response, "status").as_f64(), Some(400.0));
    assert_eq!((g.state().as_str(), g.key()), ("failed", key));
}

#[wasm_bindgen_test]
async fn get_passes_through_without_key_or_lock() {
    let t = tag("get");
    let g = guard("{}");
    let url = format!("{}/api/qr/sessions?t={t}", server());
    let a = g.fetch(url.as_str().into(), None);
    let b = g.fetch(url.as_str().into(), None);
    assert!(!g.pending());
    settle(a).await.unwrap();
    settle(b).await.unwrap();
    let requests = seen(&t).await;
    assert_eq!(requests.len(), 2);
    assert!(
        requests
            .iter()
            .all(|r| r.method == "GET" && r.key.is_none())
    );
}

#[wasm_bindgen_test]
async fn run_gives_the_key_and_passes_task_errors_through() {
    let g = guard("{}");
    let key = g.key();
    let calls = std::rc::Rc::new(std::cell::Cell::new(0));
    let counter = calls.clone();
    let seen_key = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
    let seen_key2 = seen_key.clone();
    let failing = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |ctx: JsValue| {
        counter.set(counter.get() + 1);
        *seen_key2.borrow_mut() = prop(&ctx, "key").as_string().unwrap();
        assert_eq!(prop(&ctx, "attempt").as_f64(), Some(1.0));
        assert!(prop(&ctx, "signal").is_instance_of::<web_sys::AbortSignal>());
        Promise::reject(&JsValue::from("boom"))
    });
    let task: &JsValue = failing.as_ref();
    let first = g.run(task.clone());
    let second = g.run(task.clone()); // same tick: shares the first
    assert_eq!(
        settle(first).await.unwrap_err().as_string().as_deref(),
        Some("boom")
    );
    assert_eq!(
        settle(second).await.unwrap_err().as_string().as_deref(),
        Some("boom")
    );
    assert_eq!(calls.get(), 1);
    assert_eq!(*seen_key.borrow(), key);
    assert_eq!((g.state().as_str(), g.key()), ("failed", key.clone()));

    let ok = Closure::<dyn FnMut(JsValue) -> JsValue>::new(|ctx: JsValue| prop(&ctx, "key"));
    let value = settle(g.run(ok.as_ref().clone())).await.unwrap();
    assert_eq!(
        value.as_string(),
        Some(key.clone()),
        "the retry after a failure has the same key"
    );
    assert_eq!(g.state(), "succeeded");
    assert_ne!(g.key(), key);
    assert!(
        settle(g.run(JsValue::from(3)))
            .await
            .unwrap_err()
            .is_instance_of::<TypeError>()
    );
    assert!(!g.pending());
}

#[wasm_bindgen_test]
async fn a_run_task_that_ignores_its_signal_still_times_out() {
    let g = guard(r#"{"timeoutMs": 100, "retries": 1, "backoffMs": 1, "maxBackoffMs": 1}"#);
    let attempts = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let record = attempts.clone();
    let never = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |ctx: JsValue| {
        record.borrow_mut().push((
            prop(&ctx, "attempt").as_f64().unwrap(),
            prop(&ctx, "signal"),
        ));
        Promise::new(&mut |_, _| {})
    });
    let error = settle(g.run(never.as_ref().clone())).await.unwrap_err();
    assert_eq!(code(&error), "TIMEOUT");
    let attempts = attempts.borrow();
    assert_eq!(
        attempts.iter().map(|a| a.0).collect::<Vec<_>>(),
        vec![1.0, 2.0]
    );
    let aborted = |s: &JsValue| s.dyn_ref::<web_sys::AbortSignal>().unwrap().aborted();
    assert!(
        attempts.iter().all(|a| aborted(&a.1)),
        "each timed-out attempt's signal was aborted"
    );
}

#[wasm_bindgen_test]
async fn subscribers_hear_every_change_and_can_unsubscribe() {
    let t = tag("subscribe");
    let g = std::rc::Rc::new(guard("{}"));
    let states = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let (record, observed) = (states.clone(), g.clone());
    let listener = Closure::<dyn FnMut()>::new(move || record.borrow_mut().push(observed.state()));
    let unsubscribe: Function = g
        .subscribe(listener.as_ref().clone())
        .unwrap()
        .unchecked_into();
    settle(open_session(&g, &t, &[])).await.unwrap();
    assert_eq!(states.borrow().first().map(String::as_str), Some("pending"));
    assert_eq!(
        states.borrow().last().map(String::as_str),
        Some("succeeded")
    );
    unsubscribe.call0(&JsValue::UNDEFINED).unwrap();
    let heard = states.borrow().len();
    g.reset();
    assert_eq!(
        states.borrow().len(),
        heard,
        "unsubscribed listeners are not called"
    );
    unsubscribe.call0(&JsValue::UNDEFINED).unwrap(); // twice is fine
    assert!(
        g.subscribe(JsValue::from(1))
            .unwrap_err()
            .is_instance_of::<TypeError>()
    );
}

#[wasm_bindgen_test]
async fn listeners_may_call_back_into_the_guard() {
    use std::cell::RefCell;
    use std::rc::Rc;

    let t = tag("reenter");
    let g = Rc::new(guard(r#"{"retries": 0}"#));
    let joined: Rc<RefCell<Option<Promise>>> = Rc::default();
    let heard: Rc<RefCell<Vec<(String, String)>>> = Rc::default();
    let (guard_, joined_, heard_, t_) = (g.clone(), joined.clone(), heard.clone(), t.clone());
    // While notified, a listener reads the guard, joins the submission in
    // flight, and resets the guard once it has failed (a `Fn` closure: the
    // reset notifies it again while it runs).
    let listener = Closure::<dyn Fn()>::new(move || {
        let state = guard_.state();
        heard_.borrow_mut().push((state.clone(), guard_.key()));
        match state.as_str() {
            "pending" if joined_.borrow().is_none() => {
                let call = open_session(&guard_, &t_, &[]);
                *joined_.borrow_mut() = Some(call);
            }
            "failed" => guard_.reset(),
            _ => {}
        }
    });
    let _unsubscribe = g.subscribe(listener.as_ref().clone()).unwrap();
    let first_key = g.key();
    let first = open_session(&g, &t, &[("x-fault", "status=503")]);
    let joined_call = joined
        .borrow_mut()
        .take()
        .expect("the listener heard pending");
    assert_eq!(code(&settle(first).await.unwrap_err()), "HTTP");
    assert_eq!(
        code(&settle(joined_call).await.unwrap_err()),
        "HTTP",
        "the call made from the listener shared the submission"
    );
    assert_eq!(seen(&t).await.len(), 1, "one request for both calls");
    assert_eq!(g.state(), "idle", "the listener's reset took effect");
    assert_ne!(g.key(), first_key);
    // "pending" twice: the state, then the attempt count.
    let mut changes = heard.borrow().clone();
    changes.dedup_by(|a, b| a.0 == b.0);
    let expected = [
        ("pending", first_key.clone()),
        ("failed", first_key),
        ("idle", g.key()),
    ]
    .map(|(state, key)| (state.to_string(), key));
    assert_eq!(changes, expected);

    settle(open_session(&g, &t, &[])).await.unwrap();
    assert_eq!(g.state(), "succeeded");
    assert_eq!(sessions(&t).await, 1);
}

#[wasm_bindgen_test]
async fn the_fetch_option_is_called_with_the_keyed_request() {
    let requests = std::rc::Rc::new(std::cell::RefCell::new(Array::new()));
    let record = requests.clone();
    let fake = Closure::<dyn FnMut(JsValue, JsValue) -> Promise>::new(
        move |request: JsValue, init: JsValue| {
            record.borrow().push(&request);
            assert!(
                init.is_undefined(),
                "the attempt's request carries everything"
            );
            assert!(prop(&request, "signal").is_instance_of::<web_sys::AbortSignal>());
            let response = web_sys::Response::new_with_opt_str(Some("{}")).unwrap();
            Promise::resolve(&JsValue::from(response))
        },
    );
    let g = SubmitGuard::new(object(&[("fetch", fake.as_ref().clone())])).unwrap();
    let key = g.key();
    settle(fetch(&g, "https://example.invalid/submit", post("{}", &[])))
        .await
        .unwrap();
    let request: web_sys::Request = requests.borrow().get(0).dyn_into().unwrap();
    assert_eq!(request.method(), "POST");
    assert_eq!(request.headers().get("idempotency-key").unwrap(), Some(key));
    assert_eq!(requests.borrow().length(), 1);
}

#[wasm_bindgen_test]
async fn a_task_or_the_fetch_option_may_abort_or_reset_its_own_guard() {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    // A `run` task aborts its own submission before it returns.
    let g = Rc::new(guard("{}"));
    let key = g.key();
    let me = g.clone();
    let aborting = Closure::<dyn Fn(JsValue) -> Promise>::new(move |_ctx: JsValue| {
        me.abort(JsValue::from("from the task"));
        Promise::resolve(&JsValue::from(1))
    });
    let error = settle(g.run(aborting.as_ref().clone())).await.unwrap_err();
    assert_eq!(code(&error), "ABORTED");
    assert_eq!(
        (g.state().as_str(), g.pending(), g.key()),
        ("failed", false, key.clone())
    );
    let ok = Closure::<dyn Fn(JsValue) -> JsValue>::new(|ctx: JsValue| prop(&ctx, "key"));
    let value = settle(g.run(ok.as_ref().clone())).await.unwrap();
    assert_eq!(value.as_string(), Some(key), "usable, with the same key");

    // The `fetch` option resets the guard while it is being called.
    let slot: Rc<RefCell<Option<Rc<SubmitGuard>>>> = Rc::default();
    let (me, calls) = (slot.clone(), Rc::new(Cell::new(0)));
    let counter = calls.clone();
    let resetting = Closure::<dyn Fn(JsValue) -> Promise>::new(move |_request: JsValue| {
        counter.set(counter.get() + 1);
        if let Some(g) = me.borrow().as_ref() {
            g.reset();
        }
        let response = web_sys::Response::new_with_opt_str(Some("{}")).unwrap();
        Promise::resolve(&JsValue::from(response))
    });
    let g = Rc::new(SubmitGuard::new(object(&[("fetch", resetting.as_ref().clone())])).unwrap());
    *slot.borrow_mut() = Some(g.clone());
    let key = g.key();
    let call = fetch(&g, "https://example.invalid/submit", post("{}", &[]));
    let error = settle(call).await.unwrap_err();
    assert_eq!(code(&error), "ABORTED");
    assert_eq!((g.state().as_str(), g.pending()), ("idle", false));
    assert_ne!(g.key(), key);
    assert_eq!(calls.get(), 1, "a reset submission is not retried");
    slot.borrow_mut().take();
}

#[wasm_bindgen_test]
async fn a_readable_stream_body_is_refused_without_locking() {
    let g = guard("{}");
    let init = RequestInit::new();
    init.set_method("POST");
    let stream = web_sys::ReadableStream::new().unwrap();
    init.set_body(&stream);
    let error = settle(g.fetch("/x".into(), Some(init.unchecked_into())))
        .await
        .unwrap_err();
    assert!(error.is_instance_of::<TypeError>());
    assert!(
        prop(&error, "message")
            .as_string()
            .unwrap()
            .contains("ReadableStream")
    );
    assert!(!g.pending());
}

#[wasm_bindgen_test]
async fn arguments_fetch_would_refuse_are_refused_without_locking_or_sending() {
    let t = tag("bad-arguments");
    let g = guard("{}");
    let key = g.key();
    let signal = post(&table(&t), &[]);
    js_sys::Reflect::set(&signal, &"signal".into(), &"soon".into()).unwrap();
    let method = post(&table(&t), &[]);
    method.set_method("CONNECT");
    let header = post(&table(&t), &[]);
    let pairs = Array::of1(&Array::of2(&"bad header".into(), &"1".into()));
    header.set_headers(&pairs);
    for (what, init) in [("signal", signal), ("method", method), ("header", header)] {
        let error = settle(fetch(&g, &sessions_url(&t), init))
            .await
            .unwrap_err();
        assert!(error.is_instance_of::<TypeError>(), "{what}: {error:?}");
        assert!(!g.pending(), "{what}");
        assert_eq!(g.attempts(), 0, "{what}");
    }
    assert!(seen(&t).await.is_empty());
    // The guard is untouched: the next good submission sends the same key.
    settle(open_session(&g, &t, &[])).await.unwrap();
    assert_eq!(seen(&t).await.len(), 1);
    assert_eq!(seen(&t).await[0].key.as_deref(), Some(key.as_str()));
}

#[wasm_bindgen_test]
async fn a_signal_aborted_in_the_same_task_as_the_call_sends_nothing() {
    let t = tag("abort-same-task");
    let g = guard("{}");
    let key = g.key();
    let controller = AbortController::new().unwrap();
    let init = post(&table(&t), &[]);
    init.set_signal(Some(&controller.signal()));
    let call = fetch(&g, &sessions_url(&t), init);
    controller.abort();
    assert_eq!(code(&settle(call).await.unwrap_err()), "ABORTED");
    assert!(!g.pending());
    assert_eq!(g.state(), "failed");
    assert!(seen(&t).await.is_empty());
    // The resubmit sends the key the aborted submission held.
    settle(open_session(&g, &t, &[])).await.unwrap();
    assert_eq!(seen(&t).await[0].key.as_deref(), Some(key.as_str()));
}

#[wasm_bindgen_test]
async fn a_different_submission_in_flight_is_refused_as_busy_never_shared() {
    // Issue 12.2: one guard, one tick, three different submissions. Only the
    // first is sent; the others are told BUSY, not the first one's result.
    let t = tag("busy");
    let g = guard("{}");
    let orgs = format!("{}/api/orgs?t={t}", server());
    let ten = format!(r#"{{"name":"Amount 10 {t}"}}"#);
    let twenty_five = format!(r#"{{"name":"Amount 25 {t}"}}"#);
    let first = fetch(&g, &orgs, post(&ten, &[]));
    let other_payload = fetch(&g, &orgs, post(&twenty_five, &[]));
    let other_url = open_session(&g, &t, &[]);
    let same = fetch(&g, &orgs, post(&ten, &[]));
    let created = json(&settle(first).await.unwrap()).await;
    assert_eq!(code(&settle(other_payload).await.unwrap_err()), "BUSY");
    assert_eq!(code(&settle(other_url).await.unwrap_err()), "BUSY");
    let shared = json(&settle(same).await.unwrap()).await;
    assert_eq!(
        prop(&created, "id"),
        prop(&shared, "id"),
        "the same submission shares"
    );
    assert_eq!(seen(&t).await.len(), 1);
    assert_eq!(sessions(&t).await, 0);
    // Nothing was left behind: the refused payload goes out on its own.
    let again = settle(fetch(&g, &orgs, post(&twenty_five, &[])))
        .await
        .unwrap();
    assert_eq!(prop(&again, "status").as_f64(), Some(201.0));
    assert_eq!(seen(&t).await.len(), 2);
}

#[wasm_bindgen_test]
async fn a_pre_aborted_signal_sends_nothing_and_leaves_the_state_failed() {
    // Issue 12.5: like every other failure (rule 4), with the key kept.
    let t = tag("pre-aborted");
    let g = guard("{}");
    let key = g.key();
    let controller = AbortController::new().unwrap();
    controller.abort_with_reason(&JsValue::from("gone"));
    let init = post(&table(&t), &[]);
    init.set_signal(Some(&controller.signal()));
    let error = settle(fetch(&g, &sessions_url(&t), init))
        .await
        .unwrap_err();
    assert_eq!(code(&error), "ABORTED");
    assert_eq!(prop(&error, "cause").as_string().as_deref(), Some("gone"));
    assert_eq!(
        (g.state().as_str(), g.pending(), g.key()),
        ("failed", false, key.clone())
    );
    assert!(seen(&t).await.is_empty());
    settle(open_session(&g, &t, &[])).await.unwrap();
    assert_all_sent_with(&t, &key, 1).await;
}
