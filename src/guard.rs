//! The exported `SubmitGuard` class: thin glue over the core [`Machine`].
//!
//! The class holds an `Rc<Inner>`. Every exported method is synchronous; the
//! ones that submit clone the `Rc` into a future and return
//! `future_to_promise(…)`, so overlapping calls from JavaScript never meet a
//! borrowed `&self`. Borrows of the machine are short and never held while
//! JavaScript runs (a listener, a `fetch`, a task): any of those may call back
//! into the guard.

use std::cell::RefCell;
use std::rc::Rc;

use futures_channel::oneshot;
use js_sys::{Function, Object, Promise, Reflect, Set};
use wasm_bindgen::prelude::*;
use web_sys::RequestInit;

use gloo_events::EventListener;
use web_sys::{DomException, PageTransitionEvent};

use crate::attach::Attachment;
use crate::core::key::{KeyLife, uuid_v4};
use crate::core::state::{Begin, Failure, FlightId, Kind, Machine};
use crate::error;
use crate::options::Options;
use crate::persist;

#[wasm_bindgen]
extern "C" {
    /// A promise seen as something to call `then` on with a plain function
    /// (js-sys's `then` takes a Rust closure).
    #[wasm_bindgen(js_name = Promise)]
    type Thenable;

    #[wasm_bindgen(method, js_name = then)]
    fn then(this: &Thenable, on_fulfilled: &Function) -> Promise;
}

/// `promise.then(on_fulfilled)`.
fn then(promise: &Promise, on_fulfilled: &Function) -> Promise {
    promise.unchecked_ref::<Thenable>().then(on_fulfilled)
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** What a guard is doing: see `SubmitGuard.state`. */
export type SubmitGuardState = "idle" | "pending" | "succeeded" | "failed";

/** The stable `code` of a `SubmitGuardError`. */
export type SubmitGuardErrorCode = "DUPLICATE" | "TIMEOUT" | "NETWORK" | "ABORTED" | "HTTP" | "CROSS_TAB";

/** Every failure of a submission rejects with one of these. */
export interface SubmitGuardError extends Error {
  name: "SubmitGuardError";
  code: SubmitGuardErrorCode;
  /** The final status, for `code: "HTTP"`. */
  status?: number;
  /** The final response, for `code: "HTTP"`; its body is unread. */
  response?: Response;
  /** The error underneath: the network `TypeError`, or the abort reason. */
  cause?: unknown;
}

/** Options of `guard.attach(form, options)`. */
export interface SubmitGuardAttachOptions {
  /** Headers sent with every submission of the form (a CSRF token, say). */
  headers?: HeadersInit;
}

/** What a `run` task is given for each attempt. */
export interface SubmitGuardContext {
  /** The idempotency key to send: the same for every attempt and resubmit. */
  key: string;
  /** Aborted when the attempt times out or the submission is aborted. */
  signal: AbortSignal;
  /** 1 for the first attempt, 2 for the first retry, … */
  attempt: number;
}

export interface SubmitGuard {
  /**
   * Runs `task` as one guarded submission: at most one runs at a time, it is
   * given the key, an abort signal and the attempt number, it is retried with
   * the same key when it times out, and its own errors pass through unchanged.
   */
  run<T>(task: (ctx: SubmitGuardContext) => T | PromiseLike<T>): Promise<T>;
}
"#;

/// One guarded form: its idempotency key, its in-flight lock, its retries.
#[wasm_bindgen]
pub struct SubmitGuard {
    inner: Rc<Inner>,
}

/// What the exported class and its submissions share.
pub(crate) struct Inner {
    pub(crate) machine: RefCell<Machine>,
    pub(crate) options: Options,
    /// The `fetch` option; `None` means the global `fetch` at call time.
    pub(crate) fetch: Option<Function>,
    flight: RefCell<Option<Flight>>,
    /// Subscribed listeners. A JavaScript `Set`, so that an unsubscribe
    /// function is plain JavaScript and stays safe to call after `free()`.
    listeners: Set,
    /// `r => r.clone()` as a plain JavaScript function (see [`Inner::answer`]);
    /// `None` where the runtime has no `Response`.
    clone_response: Option<Function>,
    /// Forms handled by `attach`, kept in step with `pending`.
    pub(crate) attachments: RefCell<Vec<Rc<Attachment>>>,
    /// With `persist`: the tab that stored the restored key, checked (once)
    /// before the key is first sent.
    pub(crate) restored_from: RefCell<Option<String>>,
    /// Unlocks a submission left pending when the page is restored from the
    /// back/forward cache; removed when the guard goes.
    pageshow: RefCell<Option<EventListener>>,
}

/// The binding's handles on the submission in flight.
struct Flight {
    id: FlightId,
    kind: Kind,
    /// Settles with the submission's result; duplicates share it.
    result: Promise,
    /// Tells the submission it was aborted, with the reason.
    cancel: oneshot::Sender<JsValue>,
}

#[wasm_bindgen]
impl SubmitGuard {
    /// Creates a guard with a fresh key. Throws a `TypeError` for an unknown
    /// option or a value of the wrong type, a `RangeError` for a value out of
    /// range; the message names the option.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_optional_param_type = "SubmitGuardOptions")] options: Option<
            Object,
        >,
    ) -> Result<SubmitGuard, JsValue> {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, JsValue::from);
        let (options, fetch) = crate::options::from_js(&options)?;
        let saved = match &options.name {
            Some(name) if options.persist => {
                persist::start_tab();
                persist::restore(name)
            }
            _ => None,
        };
        let (key, restored_from) = match saved {
            Some(saved) => (saved.key, Some(saved.tab)),
            None => (KeyLife::new(new_key()), None),
        };
        let inner = Rc::new(Inner {
            machine: RefCell::new(Machine::with_key(options.settings.clone(), key)),
            options,
            fetch,
            flight: RefCell::new(None),
            listeners: Set::new(&JsValue::UNDEFINED),
            clone_response: response_cloner(),
            attachments: RefCell::new(Vec::new()),
            restored_from: RefCell::new(restored_from),
            pageshow: RefCell::new(None),
        });
        *inner.pageshow.borrow_mut() = on_pageshow(&inner);
        Ok(Self { inner })
    }

    /// The current idempotency key: a UUID v4, 36 characters.
    #[wasm_bindgen(getter)]
    pub fn key(&self) -> String {
        self.inner.machine.borrow().key().to_owned()
    }

    /// `"idle"`, `"pending"`, `"succeeded"` or `"failed"`.
    #[wasm_bindgen(getter, unchecked_return_type = "SubmitGuardState")]
    pub fn state(&self) -> String {
        self.inner.machine.borrow().state().as_str().to_owned()
    }

    /// Whether a submission is in flight.
    #[wasm_bindgen(getter)]
    pub fn pending(&self) -> bool {
        self.inner.machine.borrow().pending()
    }

    /// Attempts made by the current or last submission.
    #[wasm_bindgen(getter)]
    pub fn attempts(&self) -> u32 {
        self.inner.machine.borrow().attempts()
    }

    /// Sends a request like `fetch`, guarded. POST, PUT, PATCH and DELETE carry
    /// the key, are deduplicated and retried; GET, HEAD and OPTIONS pass
    /// through once. Every caller can read the body: duplicates each get
    /// their own clone of the response.
    #[wasm_bindgen(unchecked_return_type = "Promise<Response>")]
    pub fn fetch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RequestInfo | URL")] input: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestInit")] init: Option<RequestInit>,
    ) -> Promise {
        crate::fetch::fetch(&self.inner, input, init)
    }

    /// Runs a task as one guarded submission (typed in the interface above).
    #[wasm_bindgen(skip_typescript)]
    pub fn run(&self, task: JsValue) -> Promise {
        crate::fetch::run(&self.inner, task)
    }

    /// Cancels the submission in flight: it rejects with `ABORTED`, its
    /// request is aborted with `reason`, and the key is kept for the resubmit.
    pub fn abort(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "unknown")] reason: JsValue,
    ) {
        self.inner.abort(reason);
    }

    /// Aborts any submission in flight, replaces the key and returns to
    /// `"idle"`.
    pub fn reset(&self) {
        let ended = self.inner.flight.borrow_mut().take();
        if let Some(name) = self
            .inner
            .options
            .name
            .as_deref()
            .filter(|_| self.inner.options.persist)
        {
            persist::clear(name);
        }
        self.inner.update(|m| m.reset(new_key()));
        if let Some(flight) = ended {
            let _ = flight.cancel.send(JsValue::UNDEFINED);
        }
    }

    /// Calls `listener` on every change of `state`, `key` or `attempts`;
    /// returns the function that unsubscribes it. Works as the `subscribe`
    /// argument of React's `useSyncExternalStore`.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "() => void")] listener: JsValue,
    ) -> Result<Function, JsValue> {
        if !listener.is_function() {
            return Err(error::type_error(
                "SubmitGuard.subscribe: the listener must be a function",
            ));
        }
        let listeners = &self.inner.listeners;
        listeners.add(&listener);
        let delete: Function<fn(JsValue) -> JsValue> =
            Reflect::get(listeners, &"delete".into())?.dyn_into()?;
        Ok(delete.bind1(listeners, &listener).unchecked_into())
    }

    /// Guards a plain HTML form: its submit (click or Enter) goes through
    /// `fetch` to the form's `action` with its `method` and `enctype`; its
    /// submit buttons are disabled and `aria-busy` set while pending;
    /// `submitguard:success` and `submitguard:error` are dispatched on it.
    /// Returns the function that detaches and restores the form.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn attach(
        &self,
        #[wasm_bindgen(unchecked_param_type = "HTMLFormElement")] form: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SubmitGuardAttachOptions")]
        options: JsValue,
    ) -> Result<Function, JsValue> {
        crate::attach::attach(&self.inner, form, options)
    }
}

impl Drop for SubmitGuard {
    /// `free()`, or the garbage collector reclaiming an unreachable guard
    /// (the package is built with weak references): listeners are dropped.
    /// Nothing else changes, since the two cannot be told apart: a
    /// submission in flight still settles (call `abort()` first to cancel
    /// it), and an attached form stays guarded until its detach function is
    /// called.
    fn drop(&mut self) {
        self.inner.listeners.clear();
    }
}

/// Aborts a submission left pending when the page comes back from the
/// back/forward cache: its request died with the old page, and its button
/// must not stay disabled. The key is kept, so a resubmit is safe.
fn on_pageshow(inner: &Rc<Inner>) -> Option<EventListener> {
    let window = web_sys::window()?;
    let weak = Rc::downgrade(inner);
    Some(EventListener::new(&window, "pageshow", move |event| {
        let restored = event
            .dyn_ref::<PageTransitionEvent>()
            .is_some_and(PageTransitionEvent::persisted);
        if let Some(inner) = weak.upgrade().filter(|_| restored) {
            let reason = DomException::new_with_message_and_name(
                "submit-guard: the page was restored from the back/forward cache",
                "AbortError",
            );
            inner.abort(reason.map_or(JsValue::UNDEFINED, JsValue::from));
        }
    }))
}

impl Inner {
    /// Runs `change` on the machine, then tells listeners if anything they can
    /// see changed. The borrow ends before any listener runs.
    pub(crate) fn update<R>(&self, change: impl FnOnce(&mut Machine) -> R) -> R {
        let (result, before, after, live) = {
            let mut machine = self.machine.borrow_mut();
            let before = machine.version();
            let result = change(&mut machine);
            (
                result,
                before,
                machine.version(),
                machine.flight().map(|(id, _)| id),
            )
        };
        // The submission that ended through `change` no longer needs handles.
        let mut flight = self.flight.borrow_mut();
        if flight.as_ref().is_some_and(|f| Some(f.id) != live) {
            *flight = None;
        }
        drop(flight);
        if before != after {
            self.notify();
        }
        result
    }

    fn notify(&self) {
        let attachments = self.attachments.borrow().clone();
        if !attachments.is_empty() {
            let pending = self.machine.borrow().pending();
            for attachment in attachments {
                attachment.sync(pending);
            }
        }
        if self.listeners.size() == 0 {
            return;
        }
        // A snapshot: listeners may subscribe or unsubscribe while we call.
        for listener in js_sys::Array::from(&self.listeners) {
            if let Some(f) = listener.dyn_ref::<Function>() {
                if let Err(e) = f.call0(&JsValue::UNDEFINED) {
                    // One broken listener must not stop the others or the guard.
                    web_sys::console::error_2(&"submit-guard: a listener threw".into(), &e);
                }
            }
        }
    }

    /// If a submission is in flight, the answer to a call of `kind` made now:
    /// see [`Inner::answer`]. `None` if the call should start a submission.
    pub(crate) fn try_join(&self, kind: Kind) -> Option<Promise> {
        let begin = {
            let mut machine = self.machine.borrow_mut();
            if !machine.pending() {
                return None;
            }
            machine.begin(kind)
        };
        Some(self.answer(kind, begin))
    }

    /// The answer to a call made while a submission is in flight: its shared
    /// result, or an immediate `DUPLICATE` rejection; nothing is sent either
    /// way. Fetch callers each get their own clone of the response, so every
    /// one of them can read the body.
    fn answer(&self, kind: Kind, begin: Begin) -> Promise {
        let shared = match begin {
            Begin::Share => self
                .flight
                .borrow()
                .as_ref()
                .filter(|f| f.kind == kind)
                .map(|f| f.result.clone()),
            Begin::Reject(_) | Begin::Start(_) => None,
        };
        match (shared, &self.clone_response) {
            (Some(result), Some(clone)) if kind == Kind::Fetch => then(&result, clone),
            (Some(result), _) => result,
            (None, _) => {
                let failure = match begin {
                    Begin::Reject(failure) => failure,
                    _ => Failure::Duplicate,
                };
                Promise::reject(&error::failure(failure, error::Detail::default()))
            }
        }
    }

    /// Starts a submission of `kind`: takes the lock, runs `submission` (given
    /// the flight and the receiver that reports an abort) and returns its
    /// promise. Listeners hear "pending" once the flight can be joined.
    pub(crate) fn launch<F>(
        self: &Rc<Self>,
        kind: Kind,
        submission: impl FnOnce(FlightId, oneshot::Receiver<JsValue>) -> F,
    ) -> Promise
    where
        F: std::future::Future<Output = Result<JsValue, JsValue>> + 'static,
    {
        let (before, begin) = {
            let mut machine = self.machine.borrow_mut();
            (machine.version(), machine.begin(kind))
        };
        let Begin::Start(id) = begin else {
            return self.answer(kind, begin);
        };
        let (cancel, cancelled) = oneshot::channel();
        let result = wasm_bindgen_futures::future_to_promise(submission(id, cancelled));
        *self.flight.borrow_mut() = Some(Flight {
            id,
            kind,
            result: result.clone(),
            cancel,
        });
        if self.machine.borrow().version() != before {
            self.notify();
        }
        // The first caller gets the response itself, one step later than
        // the callers who join: `then` runs their clones before the first
        // caller's code can read (and so lock) the body.
        match (kind, first_caller()) {
            (Kind::Fetch, Some(identity)) => then(&result, &identity),
            _ => result,
        }
    }

    /// Aborts the submission in flight, if any, with `reason`.
    pub(crate) fn abort(&self, reason: JsValue) {
        let ended = self.flight.borrow_mut().take();
        self.update(|m| m.abort());
        if let Some(flight) = ended {
            let _ = flight.cancel.send(reason);
        }
    }

    /// Detaches the attached form `id`: its listener goes and the form is
    /// restored.
    pub(crate) fn detach(&self, id: u32) {
        let detached: Vec<_> = {
            let mut attachments = self.attachments.borrow_mut();
            let (gone, kept) = std::mem::take(&mut *attachments)
                .into_iter()
                .partition(|a| a.id() == id);
            *attachments = kept;
            gone
        };
        drop(detached);
    }

    /// Aborts flight `id` if it is still the one in flight (the caller's own
    /// `AbortSignal` fired).
    pub(crate) fn abort_flight(&self, id: FlightId, reason: JsValue) {
        let current = self.flight.borrow().as_ref().map(|f| f.id);
        if current == Some(id) {
            self.abort(reason);
        }
    }
}

/// A fresh key from the platform's cryptographic random source.
pub(crate) fn new_key() -> String {
    let mut bytes = [0u8; 16];
    let filled = Reflect::get(&js_sys::global(), &"crypto".into())
        .ok()
        .filter(|c| c.is_object())
        .map(|c| c.unchecked_into::<web_sys::Crypto>())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut bytes).is_ok());
    if !filled {
        // No Web Crypto (a very old runtime): keys must still differ.
        for b in &mut bytes {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    uuid_v4(bytes)
}

/// JavaScript's `Object`, which returns an object given to it unchanged: an
/// identity `then` callback that needs no Rust closure.
fn first_caller() -> Option<Function> {
    Reflect::get(&js_sys::global(), &"Object".into())
        .ok()?
        .dyn_into()
        .ok()
}

/// `Function.prototype.call.bind(Response.prototype.clone)`: calling it with a
/// response returns a clone. Made of JavaScript functions only (no `eval`, no
/// Rust closure), so a pending `then` that runs it after `free()` still works.
fn response_cloner() -> Option<Function> {
    let global = js_sys::global();
    let get = |target: &JsValue, path: &[&str]| -> Option<Function> {
        let mut value = target.clone();
        for name in path {
            value = Reflect::get(&value, &(*name).into()).ok()?;
        }
        value.dyn_into().ok()
    };
    let clone = get(&global, &["Response", "prototype", "clone"])?;
    let call = get(&global, &["Function", "prototype", "call"])?;
    Some(call.bind0(&clone))
}
