//! The fetch, `AbortSignal` and timer glue: one submission, from the call
//! that takes the lock to the promise it settles.
//!
//! Every decision is the core's; this module only performs them: it sends an
//! attempt, races it against the attempt timeout and an abort, feeds the
//! outcome to [`Machine::settle`](crate::core::state::Machine::settle), and
//! waits or settles as told.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::Poll;

use futures_channel::oneshot;
use gloo_timers::future::TimeoutFuture;
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, AbortSignal, DomException, Request, RequestInit, Response};

use crate::body::{Payload, js_string};
use crate::core::retry::RetryAfter;
use crate::core::state::{Failure, FlightId, Kind, Outcome, Settle, Step};
use crate::error::{self, Detail, type_error};
use crate::guard::{Inner, new_key};
use crate::options::MAX_TIMER_MS;

/// `guard.fetch(input, init)`.
pub(crate) fn fetch(inner: &Rc<Inner>, input: JsValue, init: Option<RequestInit>) -> Promise {
    if !carries_key(&method_of(&input, init.as_ref())) {
        return passthrough(inner, &input, init.as_ref());
    }
    if let Some(answer) = inner.try_join(Kind::Fetch) {
        return answer;
    }
    // Anything wrong with the arguments fails here, before the lock is taken.
    let (template, payload) = match prepare(&input, init.as_ref()) {
        Ok(prepared) => prepared,
        Err(e) => return Promise::reject(&e),
    };
    let task = inner.clone();
    inner.launch(Kind::Fetch, move |id, cancelled| {
        submission(
            task.clone(),
            id,
            send_all(task, id, template, payload, cancelled),
        )
    })
}

/// `guard.run(task)`.
pub(crate) fn run(inner: &Rc<Inner>, task: JsValue) -> Promise {
    let Ok(task) = task.dyn_into::<Function>() else {
        return Promise::reject(&type_error("SubmitGuard.run: the task must be a function"));
    };
    if let Some(answer) = inner.try_join(Kind::Run) {
        return answer;
    }
    let shared = inner.clone();
    inner.launch(Kind::Run, move |id, cancelled| {
        submission(shared.clone(), id, run_all(shared, id, task, cancelled))
    })
}

/// Runs a submission's body, then makes sure its flight has ended: if the
/// body stopped on an unexpected JavaScript error before the core settled
/// it, the flight ends as failed, so the guard is never left locked.
async fn submission(
    inner: Rc<Inner>,
    id: FlightId,
    body: impl Future<Output = Result<JsValue, JsValue>>,
) -> Result<JsValue, JsValue> {
    let result = body.await;
    inner.update(|m| m.fail(id, Failure::Thrown));
    result
}

async fn send_all(
    inner: Rc<Inner>,
    id: FlightId,
    template: Request,
    payload: Payload,
    mut cancelled: oneshot::Receiver<JsValue>,
) -> Result<JsValue, JsValue> {
    // The caller's own `signal` aborts the submission like `guard.abort()`.
    let _on_abort = OnAbort::new(template.signal(), {
        let inner = inner.clone();
        move |reason| inner.abort_flight(id, reason)
    });
    let header = inner.options.header_name.as_str();
    if !template.headers().has(header)? {
        let fingerprint = match race(
            payload.fingerprint(&template.method(), &template.url()),
            0,
            &mut cancelled,
        )
        .await
        {
            Race::Done(Ok(fingerprint)) => fingerprint,
            Race::Done(Err(e)) => return Err(e),
            Race::Cancelled(reason) | Race::TimedOut(reason) => return Err(aborted(reason, 0)),
        };
        let Some(key) = inner.update(|m| m.key_for(id, Some(fingerprint), new_key)) else {
            return Err(aborted(JsValue::UNDEFINED, 0));
        };
        template
            .headers()
            .set(header, &wire_key(&key, inner.options.quote_key))?;
    }
    attempts(&inner, id, &mut cancelled, |_, signal| {
        let inner = inner.clone();
        let template = Request::clone(&template);
        async move { send_one(&inner, &template?, &signal).await }
    })
    .await
}

async fn run_all(
    inner: Rc<Inner>,
    id: FlightId,
    task: Function,
    mut cancelled: oneshot::Receiver<JsValue>,
) -> Result<JsValue, JsValue> {
    let Some(key) = inner.update(|m| m.key_for(id, None, new_key)) else {
        return Err(aborted(JsValue::UNDEFINED, 0));
    };
    attempts(&inner, id, &mut cancelled, move |attempt, signal| {
        let context = Object::new();
        let called = [
            ("key", JsValue::from(&key)),
            ("signal", signal.into()),
            ("attempt", attempt.into()),
        ]
        .iter()
        .try_for_each(|(name, value)| Reflect::set(&context, &(*name).into(), value).map(drop))
        .and_then(|()| task.call1(&JsValue::UNDEFINED, &context));
        async move {
            let value = match called {
                Ok(value) => JsFuture::from(Promise::resolve(&value)).await,
                Err(e) => Err(e),
            };
            Ok(match value {
                Ok(value) => Ended::new(Outcome::Completed, value),
                Err(error) => Ended::new(Outcome::Threw, error),
            })
        }
    })
    .await
}

/// How an attempt ended, with what the caller may be given.
struct Ended {
    outcome: Outcome,
    /// The response, the task's value, or the task's error.
    value: JsValue,
    /// The error beneath a network failure.
    cause: Option<JsValue>,
}

impl Ended {
    fn new(outcome: Outcome, value: JsValue) -> Self {
        Self {
            outcome,
            value,
            cause: None,
        }
    }
}

/// The attempt loop shared by `fetch` and `run`: makes attempts with
/// `attempt` (given the attempt's number and abort signal) until the core
/// says stop.
async fn attempts<F, Fut>(
    inner: &Inner,
    id: FlightId,
    cancelled: &mut oneshot::Receiver<JsValue>,
    mut attempt: F,
) -> Result<JsValue, JsValue>
where
    F: FnMut(u32, AbortSignal) -> Fut,
    Fut: Future<Output = Result<Ended, JsValue>>,
{
    loop {
        let Some(number) = inner.update(|m| m.send(id)) else {
            return Err(aborted(JsValue::UNDEFINED, 0));
        };
        let controller = AbortController::new()?;
        let ended = match race(
            attempt(number, controller.signal()),
            inner.options.timeout_ms,
            cancelled,
        )
        .await
        {
            Race::Done(ended) => ended?,
            Race::TimedOut(reason) => {
                controller.abort_with_reason(&reason);
                Ended::new(Outcome::Timeout, JsValue::UNDEFINED)
            }
            Race::Cancelled(reason) => {
                controller.abort_with_reason(&reason);
                return Err(aborted(reason, number));
            }
        };
        let now = js_sys::Date::now() as u64;
        let jitter = js_sys::Math::random();
        match inner.update(|m| m.settle(id, ended.outcome, now, jitter, new_key)) {
            Step::Wait { ms } => {
                discard(&ended.value);
                let ms = u32::try_from(ms).unwrap_or(MAX_TIMER_MS);
                if let Race::Cancelled(reason) = race(TimeoutFuture::new(ms), 0, cancelled).await {
                    return Err(aborted(reason, number));
                }
            }
            Step::Done(Settle::Resolve) => return Ok(ended.value),
            Step::Done(Settle::Reject(Failure::Thrown)) => return Err(ended.value),
            Step::Done(Settle::Reject(failure)) => {
                let detail = Detail {
                    attempts: number,
                    response: ended.value.dyn_into::<Response>().ok(),
                    cause: ended.cause,
                };
                return Err(error::failure(failure, detail));
            }
        }
    }
}

/// Sends one attempt of a fetch submission.
async fn send_one(
    inner: &Inner,
    template: &Request,
    signal: &AbortSignal,
) -> Result<Ended, JsValue> {
    let network = |cause: JsValue| Ended {
        outcome: Outcome::Network,
        value: JsValue::UNDEFINED,
        cause: Some(cause),
    };
    let request = Request::clone(template)?;
    let init = RequestInit::new();
    init.set_signal(Some(signal));
    // A non-empty init resets the referrer and its policy (Fetch, "new
    // Request"); hand the caller's back.
    init.set_referrer(&template.referrer());
    init.set_referrer_policy(template.referrer_policy());
    let sent = match fetch_function(inner)?.call2(&js_sys::global(), &request, &init) {
        Ok(sent) => sent,
        Err(cause) => return Ok(network(cause)),
    };
    match JsFuture::from(Promise::resolve(&sent)).await {
        Ok(value) => {
            let response: Response = value.dyn_into().map_err(|_| {
                type_error("submit-guard: fetch resolved with something that is not a Response")
            })?;
            let retry_after = response
                .headers()
                .get("retry-after")?
                .and_then(|v| RetryAfter::parse(&v));
            let outcome = Outcome::Response {
                status: response.status(),
                retry_after,
            };
            Ok(Ended::new(outcome, response.into()))
        }
        Err(cause) => Ok(network(cause)),
    }
}

/// The `fetch` option, or the global `fetch` at call time (so a polyfill or
/// test double installed after the guard was made is used).
fn fetch_function(inner: &Inner) -> Result<Function, JsValue> {
    if let Some(fetch) = &inner.fetch {
        return Ok(fetch.clone());
    }
    Reflect::get(&js_sys::global(), &"fetch".into())?
        .dyn_into()
        .map_err(|_| {
            type_error("submit-guard: there is no global fetch here; pass the `fetch` option")
        })
}

/// GET, HEAD and OPTIONS: sent once, as is, without a key or a lock.
fn passthrough(inner: &Inner, input: &JsValue, init: Option<&RequestInit>) -> Promise {
    let global = js_sys::global();
    let sent = fetch_function(inner).and_then(|fetch| match init {
        Some(init) => fetch.call2(&global, input, init),
        None => fetch.call1(&global, input),
    });
    match sent {
        Ok(value) => Promise::resolve(&value),
        Err(e) => Promise::reject(&e),
    }
}

/// The method `fetch(input, init)` would use, upper-cased.
fn method_of(input: &JsValue, init: Option<&RequestInit>) -> String {
    let from_init = init
        .and_then(|init| Reflect::get(init, &"method".into()).ok())
        .filter(|m| !m.is_undefined());
    let method = match from_init {
        Some(method) => js_string(&method).unwrap_or_default(),
        None => input
            .dyn_ref::<Request>()
            .map_or_else(|| "GET".to_owned(), Request::method),
    };
    method.to_ascii_uppercase()
}

/// Whether requests with this method are guarded: all but the safe ones.
fn carries_key(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// Captures the payload and builds the request every attempt is cloned from.
fn prepare(input: &JsValue, init: Option<&RequestInit>) -> Result<(Request, Payload), JsValue> {
    let payload = Payload::capture(input, init)?;
    let template = match (input.dyn_ref::<Request>(), init) {
        (Some(request), Some(init)) => Request::new_with_request_and_init(request, init)?,
        (Some(request), None) => Request::new_with_request(request)?,
        (None, Some(init)) => Request::new_with_str_and_init(&js_string(input)?, init)?,
        (None, None) => Request::new_with_str(&js_string(input)?)?,
    };
    let signal = template.signal();
    if signal.aborted() {
        return Err(aborted(signal.reason(), 0));
    }
    Ok((template, payload))
}

/// The key as the header value: bare, or as an RFC 8941 sf-string.
fn wire_key(key: &str, quote: bool) -> String {
    if !quote {
        return key.to_owned();
    }
    let mut quoted = String::with_capacity(key.len() + 2);
    quoted.push('"');
    for c in key.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// An `ABORTED` error; the abort reason, if one was given, is its cause.
fn aborted(reason: JsValue, attempts: u32) -> JsValue {
    let cause = (!reason.is_undefined()).then_some(reason);
    error::failure(
        Failure::Aborted,
        Detail {
            attempts,
            response: None,
            cause,
        },
    )
}

/// Lets a response that will not be used go, instead of buffering its body.
fn discard(value: &JsValue) {
    if let Some(body) = value.dyn_ref::<Response>().and_then(Response::body) {
        // Cancelling an unread body resolves; nothing to wait for.
        let _ = body.cancel();
    }
}

/// What won a [`race`].
enum Race<T> {
    /// The work finished.
    Done(T),
    /// The timeout fired first; holds the reason to abort the work with.
    TimedOut(JsValue),
    /// The submission was aborted first; holds the abort reason.
    Cancelled(JsValue),
}

/// Runs `work` until it finishes, `timeout_ms` pass (0: never), or the
/// submission is aborted, whichever is first. An abort wins a tie.
async fn race<F: Future>(
    work: F,
    timeout_ms: u32,
    cancelled: &mut oneshot::Receiver<JsValue>,
) -> Race<F::Output> {
    let mut work = pin!(work);
    let mut timer = (timeout_ms > 0).then(|| TimeoutFuture::new(timeout_ms));
    poll_fn(|cx| {
        if let Poll::Ready(reason) = Pin::new(&mut *cancelled).poll(cx) {
            // A dropped sender means the flight was ended without a reason.
            return Poll::Ready(Race::Cancelled(reason.unwrap_or(JsValue::UNDEFINED)));
        }
        if let Poll::Ready(done) = work.as_mut().poll(cx) {
            return Poll::Ready(Race::Done(done));
        }
        if let Some(timer) = timer.as_mut() {
            if Pin::new(timer).poll(cx).is_ready() {
                let message = format!("submit-guard: the attempt took longer than {timeout_ms} ms");
                let reason = DomException::new_with_message_and_name(&message, "TimeoutError")
                    .map_or_else(|_| JsValue::from(message), JsValue::from);
                return Poll::Ready(Race::TimedOut(reason));
            }
        }
        Poll::Pending
    })
    .await
}

/// Calls `on_abort` with the reason when `signal` aborts, until dropped.
#[must_use = "dropping it stops listening"]
struct OnAbort {
    signal: AbortSignal,
    _listener: Closure<dyn FnMut()>,
}

impl OnAbort {
    fn new(signal: AbortSignal, mut on_abort: impl FnMut(JsValue) + 'static) -> Self {
        let source = signal.clone();
        let listener = Closure::<dyn FnMut()>::new(move || on_abort(source.reason()));
        // The signal is the request's own (it follows the caller's), so its
        // `onabort` is ours to use.
        signal.set_onabort(Some(listener.as_ref().unchecked_ref()));
        Self {
            signal,
            _listener: listener,
        }
    }
}

impl Drop for OnAbort {
    fn drop(&mut self) {
        self.signal.set_onabort(None);
    }
}
