//! The fetch, `AbortSignal` and timer glue: the attempts of one submission.
//!
//! Every decision is the core's; this module only performs them: it sends an
//! attempt, races it against the attempt timeout and an abort, feeds the
//! outcome to [`Machine::settle`](crate::core::state::Machine::settle), and
//! waits or settles as told. [`crate::submission`] wraps a submission's life
//! around this (the cross-tab lock, the persisted key).

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;

use futures_channel::oneshot;
use gloo_events::EventListener;
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, AbortSignal, Request, RequestInit, Response};

use crate::body::{Payload, js_string};
use crate::core::retry::RetryAfter;
use crate::core::state::{Failure, FlightId, Outcome, Settle, Step};
use crate::error::{self, Detail, type_error};
use crate::guard::{Inner, new_key};
use crate::js;
use crate::options::MAX_TIMER_MS;
use crate::submission::{self, Job};
use crate::tabs::Holder;
use crate::wait::{Race, race, sleep};

/// `guard.fetch(input, init)`.
pub(crate) fn fetch(inner: &Rc<Inner>, input: JsValue, init: Option<RequestInit>) -> Promise {
    if !carries_key(&method_of(&input, init.as_ref())) {
        return passthrough(inner, &input, init.as_ref());
    }
    if let Some(answer) = inner.try_join(crate::core::state::Kind::Fetch) {
        return answer;
    }
    // Anything wrong with the arguments fails here, before the lock is taken.
    match prepare(&input, init.as_ref()) {
        Ok((outgoing, payload)) => submission::start(inner, Job::Fetch { outgoing, payload }),
        Err(e) => Promise::reject(&e),
    }
}

/// `guard.run(task)`.
pub(crate) fn run(inner: &Rc<Inner>, task: JsValue) -> Promise {
    let Ok(task) = task.dyn_into::<Function>() else {
        return Promise::reject(&type_error("SubmitGuard.run: the task must be a function"));
    };
    if let Some(answer) = inner.try_join(crate::core::state::Kind::Run) {
        return answer;
    }
    submission::start(inner, Job::Run { task })
}

/// A fetch submission: fingerprints the payload, picks the key, then sends
/// attempts until the core says stop.
pub(crate) async fn send_all(
    inner: &Rc<Inner>,
    id: FlightId,
    outgoing: Outgoing,
    payload: Payload,
    cancelled: &mut oneshot::Receiver<JsValue>,
    holder: Option<&Holder>,
) -> Result<JsValue, JsValue> {
    let template = &outgoing.template;
    let header = inner.options.header_name.as_str();
    if !template.headers().has(header)? {
        let (method, url) = (template.method(), template.url());
        let hashed = payload.fingerprint(&method, &url);
        let fingerprint = match race(hashed, 0, cancelled).await {
            Race::Done(Ok(fingerprint)) => fingerprint,
            Race::Done(Err(e)) => return Err(e),
            Race::Cancelled(reason) | Race::TimedOut(reason) => return Err(aborted(reason, 0)),
        };
        let key = submission::choose_key(inner, id, Some(fingerprint), holder, cancelled).await?;
        template
            .headers()
            .set(header, &wire_key(&key, inner.options.quote_key))?;
    }
    attempts(inner, id, cancelled, |_| {
        let (controller, request) = outgoing.attempt()?;
        let inner = inner.clone();
        Ok((controller, async move { send_one(&inner, request).await }))
    })
    .await
}

/// A `run` submission: picks the key, then runs attempts of the task until
/// the core says stop.
pub(crate) async fn run_all(
    inner: &Rc<Inner>,
    id: FlightId,
    task: Function,
    cancelled: &mut oneshot::Receiver<JsValue>,
    holder: Option<&Holder>,
) -> Result<JsValue, JsValue> {
    let key = submission::choose_key(inner, id, None, holder, cancelled).await?;
    attempts(inner, id, cancelled, move |attempt| {
        let controller = AbortController::new()?;
        let signal = controller.signal();
        let context = Object::new();
        let called = [
            ("key", JsValue::from(&key)),
            ("signal", signal.into()),
            ("attempt", attempt.into()),
        ]
        .iter()
        .try_for_each(|(name, value)| Reflect::set(&context, &(*name).into(), value).map(drop))
        .and_then(|()| task.call1(&JsValue::UNDEFINED, &context));
        Ok((controller, async move {
            let value = match called {
                Ok(value) => JsFuture::from(Promise::resolve(&value)).await,
                Err(e) => Err(e),
            };
            Ok(match value {
                Ok(value) => Ended::new(Outcome::Completed, value),
                Err(error) => Ended::new(Outcome::Threw, error),
            })
        }))
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
/// `attempt` (given the attempt's number; it returns the controller that
/// aborts the attempt, and the attempt) until the core says stop.
async fn attempts<F, Fut>(
    inner: &Inner,
    id: FlightId,
    cancelled: &mut oneshot::Receiver<JsValue>,
    mut attempt: F,
) -> Result<JsValue, JsValue>
where
    F: FnMut(u32) -> Result<(AbortController, Fut), JsValue>,
    Fut: Future<Output = Result<Ended, JsValue>>,
{
    loop {
        let Some(number) = inner.update(|m| m.send(id)) else {
            return Err(aborted(JsValue::UNDEFINED, 0));
        };
        let (controller, attempt) = attempt(number)?;
        let ended = match race(attempt, inner.options.timeout_ms, cancelled).await {
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
                if let Race::Cancelled(reason) = race(sleep(ms), 0, cancelled).await {
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
async fn send_one(inner: &Inner, request: Request) -> Result<Ended, JsValue> {
    let network = |cause: JsValue| Ended {
        outcome: Outcome::Network,
        value: JsValue::UNDEFINED,
        cause: Some(cause),
    };
    let sent = match fetch_function(inner)?.call1(&js_sys::global(), &request) {
        Ok(sent) => sent,
        Err(cause) => return Ok(network(cause)),
    };
    match JsFuture::from(Promise::resolve(&sent)).await {
        Ok(value) => {
            let response: Response = value.dyn_into().map_err(|_| {
                type_error("submit-guard: fetch resolved with something that is not a Response")
            })?;
            let retry_after = js::get_header(&response.headers(), &js::RETRY_AFTER)?
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
        .and_then(|init| js::get(init, &js::METHOD).ok())
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

/// What every attempt of a fetch submission is made from.
pub(crate) struct Outgoing {
    /// The request as `fetch(input, init)` would build it: building it checked
    /// the arguments; it carries the key. With [`Resend::Build`] it is also
    /// the first attempt, aborted by `first`.
    template: Request,
    /// The controller of the template's signal, until the template is sent.
    first: Cell<Option<AbortController>>,
    /// The caller's own `signal`, if the caller gave one.
    caller_signal: Option<AbortSignal>,
    resend: Resend,
}

/// How attempts are made, other than by sending the template itself.
enum Resend {
    /// Anew from the URL, the caller's init and the body captured at call
    /// time: cheap, and the body is the same bytes every time.
    Build {
        url: JsValue,
        init: Object,
        body: Option<JsValue>,
    },
    /// Cloned from the template, which is never sent itself: for a `Request`
    /// input or a `FormData` body, whose serialization (multipart boundary
    /// included) must not change between attempts. Cloning tees the body,
    /// which costs more.
    Clone,
}

impl Outgoing {
    /// Makes the caller's own `signal`, if one was given, abort flight `id`
    /// like `guard.abort()`, for as long as the returned listener lives. A
    /// signal aborted since the call (in the same task, or while the flight
    /// waited for another tab) aborts the flight at once.
    pub(crate) fn hear_caller_abort(
        &self,
        inner: &Rc<Inner>,
        id: FlightId,
    ) -> Option<EventListener> {
        let signal = self.caller_signal.as_ref()?;
        if signal.aborted() {
            inner.abort_flight(id, signal.reason());
            return None;
        }
        let (inner, heard) = (inner.clone(), signal.clone());
        Some(EventListener::once(signal, "abort", move |_| {
            inner.abort_flight(id, heard.reason());
        }))
    }

    /// The request for the next attempt, and the controller that aborts it.
    fn attempt(&self) -> Result<(AbortController, Request), JsValue> {
        if let Some(controller) = self.first.take() {
            return Ok((controller, Clone::clone(&self.template)));
        }
        let controller = AbortController::new()?;
        let signal = controller.signal();
        let request = match &self.resend {
            Resend::Build { url, init, body } => {
                let attempt = Object::assign(&Object::new(), init);
                js::set(&attempt, &js::HEADERS, &self.template.headers())?;
                js::set(&attempt, &js::SIGNAL, &signal)?;
                if let Some(body) = body {
                    js::set(&attempt, &js::BODY, body)?;
                }
                js::new_request(url, &attempt)?
            }
            Resend::Clone => {
                let init = RequestInit::new();
                init.set_signal(Some(&signal));
                // A non-empty init resets the referrer and its policy (Fetch,
                // "new Request"); hand the caller's back.
                init.set_referrer(&self.template.referrer());
                init.set_referrer_policy(self.template.referrer_policy());
                Request::new_with_request_and_init(&Request::clone(&self.template)?, &init)?
            }
        };
        Ok((controller, request))
    }
}

/// Captures the payload and builds the request the attempts are made from.
fn prepare(input: &JsValue, init: Option<&RequestInit>) -> Result<(Outgoing, Payload), JsValue> {
    let payload = Payload::capture(input, init)?;
    let rebuilt = match input.dyn_ref::<Request>() {
        Some(_) => None,
        None => payload.resend_body(),
    };
    let outgoing = match rebuilt {
        // A URL input with a body that can be given again: the template is
        // the first attempt, with a signal of ours; the caller's is heard
        // separately.
        Some(body) => {
            let init: Object = init.map_or_else(Object::new, |i| i.clone().unchecked_into());
            let signal = js::get(&init, &js::SIGNAL)?;
            let caller_signal = if signal.is_undefined() || signal.is_null() {
                None
            } else {
                Some(signal.dyn_into::<AbortSignal>().map_err(|_| {
                    type_error("submit-guard: `signal` in the init must be an AbortSignal")
                })?)
            };
            let first = AbortController::new()?;
            let own = Object::assign(&Object::new(), &init);
            js::set(&own, &js::SIGNAL, &first.signal())?;
            let template = js::new_request(input, &own)?;
            Outgoing {
                resend: Resend::Build {
                    url: js::get(&template, &js::URL)?,
                    init,
                    body,
                },
                template,
                first: Cell::new(Some(first)),
                caller_signal,
            }
        }
        None => {
            let template = js::new_request(input, init.map_or(&JsValue::UNDEFINED, AsRef::as_ref))?;
            // The template's signal follows the caller's.
            let caller_signal = Some(template.signal());
            Outgoing {
                template,
                first: Cell::new(None),
                caller_signal,
                resend: Resend::Clone,
            }
        }
    };
    if let Some(signal) = outgoing.caller_signal.as_ref().filter(|s| s.aborted()) {
        return Err(aborted(signal.reason(), 0));
    }
    Ok((outgoing, payload))
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
pub(crate) fn aborted(reason: JsValue, attempts: u32) -> JsValue {
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
