//! Cross-tab single flight (`crossTab: true`): Web Locks and a
//! `BroadcastChannel`, both named `submit-guard:<name>`.
//!
//! A submission asks for the lock with `ifAvailable`. The tab that gets it is
//! the *holder*: it records its key and payload fingerprint in `localStorage`
//! (`submit-guard:<name>:flight`), submits, broadcasts the result, and only
//! then releases the lock. A tab that finds the lock held is a *waiter*: with
//! `onDuplicate: "reject"` it fails at once with `CROSS_TAB`; with `"share"`
//! it queues for the lock and listens. When the result arrives it settles with
//! it, sending nothing. If the lock comes free without a result (the holder
//! was aborted, or its tab closed mid-flight), the waiter becomes the holder
//! and submits itself — with the recorded key when its payload is the same,
//! so the server replays rather than repeats. The record is removed after a
//! success; after a failure it stays, like a guard's key, for the resubmit.
//!
//! Where `navigator.locks` or `BroadcastChannel` is missing (an insecure
//! context, an old browser) a submission proceeds as if alone: the same-tab
//! lock still holds, and the server's idempotency still protects.

use std::cell::RefCell;
use std::rc::Rc;

use futures_channel::oneshot;
use gloo_events::EventListener;
use js_sys::{Array, ArrayBuffer, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{BroadcastChannel, MessageEvent, Response, ResponseInit};

use crate::core::key::Fingerprint;
use crate::core::state::{Failure, Outcome};
use crate::error::{self, Detail};
use crate::wait::{Either, Race, either, race, sleep};

/// How long a waiter that got the lock waits for the holder's result, which
/// is broadcast just before the lock is released but may arrive just after.
const GRACE_MS: u32 = 250;

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks` (web-sys has it only behind an unstable flag).
    pub(crate) type LockManager;

    #[wasm_bindgen(method, js_name = request)]
    fn request(this: &LockManager, name: &str, options: &Object, callback: &Function) -> Promise;
}

/// `navigator.locks`, where the platform has it.
pub(crate) fn lock_manager() -> Option<LockManager> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let locks = Reflect::get(&navigator, &"locks".into()).ok()?;
    locks.is_object().then(|| locks.unchecked_into())
}

/// A Web Lock this page holds until [`HeldLock::release`] or drop.
pub(crate) struct HeldLock {
    release: Option<Function>,
}

impl HeldLock {
    pub(crate) fn release(&mut self) {
        if let Some(resolve) = self.release.take() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        self.release();
    }
}

/// Asks for the lock `name`. With `if_available`, answers `None` at once if
/// another holder has it; otherwise queues until it is granted, or until
/// `abort` fires (an error). The lock is held until the handle is released.
pub(crate) async fn acquire(
    locks: &LockManager,
    name: &str,
    if_available: bool,
    abort: Option<&web_sys::AbortSignal>,
) -> Result<Option<HeldLock>, JsValue> {
    let (granted, on_grant) = oneshot::channel::<Option<HeldLock>>();
    let granted = RefCell::new(Some(granted));
    let callback = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |lock: JsValue| {
        let Some(granted) = granted.borrow_mut().take() else {
            return JsValue::UNDEFINED;
        };
        if lock.is_null() {
            let _ = granted.send(None);
            return JsValue::UNDEFINED;
        }
        // The lock is held until this promise settles. Its resolver travels
        // inside a `HeldLock`, which releases on drop: if nobody receives it,
        // or the receiver goes away with it unread, the lock is let go.
        let mut release = None;
        let held = Promise::new(&mut |resolve, _| release = Some(resolve));
        let _ = granted.send(Some(HeldLock { release }));
        held.into()
    });
    let options = Object::new();
    if if_available {
        Reflect::set(&options, &"ifAvailable".into(), &JsValue::TRUE)?;
    }
    if let Some(signal) = abort {
        Reflect::set(&options, &"signal".into(), signal)?;
    }
    let requested =
        JsFuture::from(locks.request(name, &options, callback.as_ref().unchecked_ref()));
    // The request settles after the callback ran, or rejects if aborted first.
    let failed = async {
        match requested.await {
            Err(e) => e,
            Ok(_) => std::future::pending().await,
        }
    };
    match either(on_grant, failed).await {
        Either::Left(Ok(lock)) => Ok(lock),
        Either::Left(Err(_)) => Err(JsValue::from_str(
            "submit-guard: the lock request was dropped",
        )),
        Either::Right(error) => Err(error),
    }
}

/// How a submission entered the cross-tab protocol.
pub(crate) enum Entered {
    /// No Web Locks here: submit as if alone.
    Alone,
    /// This tab holds the lock: submit, then [`Holder::finish`].
    Holder(Holder),
    /// Another tab submitted; this is its result for this tab to settle with.
    Shared(Outcome, Result<JsValue, JsValue>),
    /// Another tab holds the lock and duplicates are rejected.
    Busy,
    /// The submission was aborted while waiting.
    Aborted(JsValue),
}

/// A key some tab sent this form's payload with, and that payload.
pub(crate) struct Recorded {
    pub key: String,
    pub payload: Option<Fingerprint>,
}

/// This tab's turn at submitting the form.
pub(crate) struct Holder {
    name: String,
    channel: Option<BroadcastChannel>,
    lock: HeldLock,
    /// The key recorded by an earlier holder that did not succeed, to reuse
    /// for the same payload.
    pub adopt: Option<Recorded>,
}

/// Enters the cross-tab protocol for the form `name`.
pub(crate) async fn enter(
    name: &str,
    share: bool,
    cancelled: &mut oneshot::Receiver<JsValue>,
) -> Result<Entered, JsValue> {
    let lock_name = channel_name(name);
    let (Some(locks), Ok(channel)) = (lock_manager(), BroadcastChannel::new(&lock_name)) else {
        return Ok(Entered::Alone);
    };
    let holder = |lock| Entered::Holder(Holder::new(name, channel.clone(), lock));
    // Listen before asking, so no result falls between the two.
    let done = Rc::new(RefCell::new(None::<JsValue>));
    let (wake, woken) = oneshot::channel::<()>();
    let listener = {
        let (done, wake) = (done.clone(), RefCell::new(Some(wake)));
        EventListener::new(&channel, "message", move |event| {
            let Some(data) = event.dyn_ref::<MessageEvent>().map(MessageEvent::data) else {
                return;
            };
            if Reflect::get(&data, &"t".into())
                .ok()
                .and_then(|t| t.as_string())
                .as_deref()
                == Some("done")
            {
                *done.borrow_mut() = Some(data);
                if let Some(wake) = wake.borrow_mut().take() {
                    let _ = wake.send(());
                }
            }
        })
    };
    match race(acquire(&locks, &lock_name, true, None), 0, cancelled).await {
        Race::Done(Ok(Some(lock))) => return Ok(holder(lock)),
        Race::Done(Ok(None)) => {}
        Race::Done(Err(e)) => return Err(e),
        Race::Cancelled(reason) | Race::TimedOut(reason) => return Ok(Entered::Aborted(reason)),
    }
    if !share {
        return Ok(Entered::Busy);
    }
    // Queue for the lock and listen: the holder's result usually comes first.
    let queue = web_sys::AbortController::new()?;
    let signal = queue.signal();
    let mut woken = woken;
    let waiting = either(
        &mut woken,
        acquire(&locks, &lock_name, false, Some(&signal)),
    );
    let turn = match race(waiting, 0, cancelled).await {
        Race::Done(Either::Left(_)) => None,
        Race::Done(Either::Right(granted)) => Some(granted?),
        Race::Cancelled(reason) | Race::TimedOut(reason) => {
            queue.abort();
            return Ok(Entered::Aborted(reason));
        }
    };
    let lock = match turn {
        // Woken by the result: stop queueing.
        None => {
            queue.abort();
            return Ok(settle_with(&done));
        }
        Some(Some(lock)) => lock,
        Some(None) => return Ok(Entered::Alone),
    };
    // Granted: the holder let go. Its result, posted just before, may still
    // be on its way.
    if done.borrow().is_none() {
        let _ = either(&mut woken, sleep(GRACE_MS)).await;
    }
    if done.borrow().is_some() {
        drop(lock);
        return Ok(settle_with(&done));
    }
    drop(listener);
    Ok(holder(lock))
}

fn settle_with(done: &RefCell<Option<JsValue>>) -> Entered {
    match done.borrow_mut().take() {
        Some(done) => shared(&done),
        None => Entered::Alone,
    }
}

impl Holder {
    fn new(name: &str, channel: BroadcastChannel, lock: HeldLock) -> Self {
        Self {
            name: name.to_owned(),
            channel: Some(channel),
            lock,
            adopt: recorded(name),
        }
    }

    /// Records the key this submission is sent with, for the next holder.
    pub(crate) fn started(&self, key: &str, payload: Option<Fingerprint>) {
        let Some(storage) = local_storage() else {
            return;
        };
        let record = Object::new();
        let _ = Reflect::set(&record, &"key".into(), &key.into());
        let payload = payload.map_or(JsValue::NULL, |p| p.to_hex().into());
        let _ = Reflect::set(&record, &"payload".into(), &payload);
        if let Ok(text) = js_sys::JSON::stringify(&record) {
            let _ = storage.set_item(&record_name(&self.name), &String::from(text));
        }
    }

    /// Broadcasts the result (unless the submission was aborted: then the
    /// next tab submits itself), forgets the key after a success, and
    /// releases the lock.
    pub(crate) async fn finish(mut self, result: &Result<JsValue, JsValue>) {
        if let Some(message) = done_message(result).await {
            self.post(&message);
        }
        if succeeded(result) {
            if let Some(storage) = local_storage() {
                let _ = storage.remove_item(&record_name(&self.name));
            }
        }
        self.lock.release();
        if let Some(channel) = self.channel.take() {
            channel.close();
        }
    }

    fn post(&self, message: &JsValue) {
        if let Some(channel) = &self.channel {
            if let Err(e) = channel.post_message(message) {
                // A value that cannot be cloned (a `run` result holding a
                // function): waiters get the reason instead.
                let fallback = Object::new();
                let _ = Reflect::set(&fallback, &"t".into(), &"done".into());
                let _ = Reflect::set(&fallback, &"thrown".into(), &e);
                let _ = channel.post_message(&fallback);
            }
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        if let Some(channel) = self.channel.take() {
            channel.close();
        }
    }
}

fn succeeded(result: &Result<JsValue, JsValue>) -> bool {
    match result {
        Ok(value) => value
            .dyn_ref::<Response>()
            .is_none_or(|r| r.ok() || r.status() == 0),
        Err(_) => false,
    }
}

fn channel_name(name: &str) -> String {
    format!("submit-guard:{name}")
}

fn record_name(name: &str) -> String {
    format!("submit-guard:{name}:flight")
}

fn local_storage() -> Option<web_sys::Storage> {
    let storage = Reflect::get(&js_sys::global(), &"localStorage".into()).ok()?;
    storage.is_object().then(|| storage.unchecked_into())
}

/// The key recorded by the last holder of form `name`, if any.
fn recorded(name: &str) -> Option<Recorded> {
    let text = local_storage()?.get_item(&record_name(name)).ok()??;
    let record = js_sys::JSON::parse(&text).ok()?;
    let key = Reflect::get(&record, &"key".into()).ok()?.as_string()?;
    let payload = Reflect::get(&record, &"payload".into())
        .ok()
        .and_then(|p| p.as_string())
        .and_then(|p| Fingerprint::from_hex(&p));
    Some(Recorded { key, payload })
}

/// The message describing a finished submission, or `None` if it was aborted.
async fn done_message(result: &Result<JsValue, JsValue>) -> Option<JsValue> {
    let message = Object::new();
    let set = |name: &str, value: &JsValue| {
        let _ = Reflect::set(&message, &name.into(), value);
    };
    set("t", &"done".into());
    match result {
        Ok(value) => match value.dyn_ref::<Response>() {
            Some(response) => set("response", &serialize(response).await?),
            None => set("value", value),
        },
        Err(error) => {
            let code = Reflect::get(error, &"code".into())
                .ok()
                .and_then(|c| c.as_string());
            let is_ours = Reflect::get(error, &"name".into())
                .ok()
                .and_then(|n| n.as_string())
                .as_deref()
                == Some("SubmitGuardError");
            match code.as_deref() {
                _ if !is_ours => set("thrown", error),
                Some("ABORTED") | Some("DUPLICATE") | Some("CROSS_TAB") | None => return None,
                Some(code) => {
                    set("code", &code.into());
                    let response = Reflect::get(error, &"response".into()).ok();
                    if let Some(response) = response.as_ref().and_then(|r| r.dyn_ref::<Response>())
                    {
                        set("response", &serialize(response).await?);
                    }
                }
            }
        }
    }
    Some(message.into())
}

/// Status, status text, headers and body of a response, as cloneable data.
async fn serialize(response: &Response) -> Option<JsValue> {
    let copy = Response::clone(response).ok()?;
    let body = JsFuture::from(copy.array_buffer().ok()?).await.ok()?;
    let headers = Array::from(&response.headers());
    let data = Object::new();
    let _ = Reflect::set(&data, &"status".into(), &response.status().into());
    let _ = Reflect::set(&data, &"statusText".into(), &response.status_text().into());
    let _ = Reflect::set(&data, &"headers".into(), &headers);
    let _ = Reflect::set(&data, &"body".into(), &body);
    Some(data.into())
}

/// Rebuilds a response from [`serialize`]'s data.
fn deserialize(data: &JsValue) -> Option<(u16, Response)> {
    let status = Reflect::get(data, &"status".into()).ok()?.as_f64()? as u16;
    let init = ResponseInit::new();
    init.set_status(status);
    let text = Reflect::get(data, &"statusText".into())
        .ok()?
        .as_string()
        .unwrap_or_default();
    init.set_status_text(&text);
    let headers = Reflect::get(data, &"headers".into()).ok()?;
    Reflect::set(&init, &"headers".into(), &headers).ok()?;
    let body: ArrayBuffer = Reflect::get(data, &"body".into()).ok()?.dyn_into().ok()?;
    // A null-body status (204, 205, 304) must be built without a body.
    let body = (!matches!(status, 204 | 205 | 304)).then_some(body);
    let response =
        Response::new_with_opt_buffer_source_and_init(body.as_ref().map(|b| b.as_ref()), &init)
            .ok()?;
    Some((status, response))
}

/// What a waiter settles with, from the holder's `done` message.
fn shared(done: &JsValue) -> Entered {
    let get = |name: &str| {
        Reflect::get(done, &name.into())
            .ok()
            .filter(|v| !v.is_undefined())
    };
    if let Some(thrown) = get("thrown") {
        return Entered::Shared(Outcome::Threw, Err(thrown));
    }
    if let Some(value) = get("value") {
        return Entered::Shared(Outcome::Completed, Ok(value));
    }
    let response = get("response").and_then(|r| deserialize(&r));
    match (get("code").and_then(|c| c.as_string()).as_deref(), response) {
        (None, Some((status, response))) => Entered::Shared(
            Outcome::Response {
                status,
                retry_after: None,
            },
            Ok(response.into()),
        ),
        (Some("HTTP"), Some((status, response))) => Entered::Shared(
            Outcome::Response {
                status,
                retry_after: None,
            },
            Ok(response.into()),
        ),
        (Some("TIMEOUT"), _) => Entered::Shared(Outcome::Timeout, Ok(JsValue::UNDEFINED)),
        (Some("NETWORK"), _) => Entered::Shared(Outcome::Network, Ok(JsValue::UNDEFINED)),
        // Not shareable as a response (e.g. an opaque one): say so.
        _ => Entered::Shared(
            Outcome::Threw,
            Err(error::failure(Failure::CrossTab, Detail::default())),
        ),
    }
}
