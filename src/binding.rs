//! The JavaScript boundary: the exported `SubmitGuard` class and the
//! driver's handle on its core. Decides nothing.
//!
//! `SubmitGuard` converts what JavaScript passes and hands each call to the
//! JS driver (`js/driver.js`). The driver performs everything the browser does
//! (fetch, timers, listeners, storage, Web Locks, attach) and asks the core
//! what to do at each step through a [`Flow`], whose methods answer with the
//! core's decision as a small number. The driver holds the `Flow`, not the
//! `SubmitGuard`: freeing the class while a submission runs leaves the
//! submission (and its `Flow`) intact. No `Flow` method calls into
//! JavaScript (bar `crypto.getRandomValues`), so none can be re-entered.

use alloc::borrow::ToOwned;
use alloc::string::String;

use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;
use web_sys::RequestInit;

use crate::core::key::{self, Fingerprint, KeyLife};
use crate::core::options::{self, OPTIONS, Options, Reader};
use crate::core::retry::RetryAfter;
use crate::core::state::{Begin, Failure, FlightId, Kind, Machine, Outcome, Settle, State, Step};

#[wasm_bindgen(module = "/js/driver.js")]
extern "C" {
    /// Reads the options into `flow`, sets up the guard's driver state and
    /// returns it; throws the `TypeError` or `RangeError` for bad options.
    #[wasm_bindgen(catch)]
    fn create(flow: Flow, options: &JsValue) -> Result<JsValue, JsValue>;
    fn fetch(driver: &JsValue, input: JsValue, init: JsValue) -> Promise;
    fn run(driver: &JsValue, task: JsValue) -> Promise;
    fn abort(driver: &JsValue, reason: JsValue);
    fn reset(driver: &JsValue);
    #[wasm_bindgen(catch)]
    fn subscribe(driver: &JsValue, listener: JsValue) -> Result<Function, JsValue>;
    #[wasm_bindgen(catch)]
    fn attach(driver: &JsValue, form: JsValue, options: JsValue) -> Result<Function, JsValue>;
    fn dispose(driver: &JsValue);
    /// The guard's `key` (0), `state` (1), `pending` (2) or `attempts` (3).
    fn read(driver: &JsValue, what: u32) -> JsValue;
    /// Fills `bytes` from `crypto.getRandomValues`.
    fn random(bytes: &mut [u8]);
}

// The canonical payload (`js/canonical.js`, the server's definition of "the
// same payload"), which the driver imports. Declared here so that
// wasm-bindgen ships the file beside the driver; Rust never calls it.
#[wasm_bindgen(module = "/js/canonical.js")]
extern "C" {
    #[allow(dead_code)]
    #[wasm_bindgen(js_name = canonicalPayload)]
    fn canonical_payload(body: &JsValue, content_type: &JsValue) -> JsValue;
}

/// A fresh key from the platform's cryptographic random source.
fn new_key() -> String {
    let mut bytes = [0u8; 16];
    random(&mut bytes);
    key::uuid_v4(bytes)
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = include_str!("types.d.ts");

/// One guarded form: its idempotency key, its in-flight lock, its retries.
#[wasm_bindgen]
pub struct SubmitGuard {
    driver: JsValue,
}

#[wasm_bindgen]
impl SubmitGuard {
    /// Creates a guard with a fresh key. Throws a `TypeError` for an unknown
    /// option or a value of the wrong type, a `RangeError` for a value out of
    /// range; the message names the option.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_optional_param_type = "SubmitGuardOptions | null")]
        options: Option<Object>,
    ) -> Result<SubmitGuard, JsValue> {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, JsValue::from);
        let flow = Flow {
            machine: Machine::new(Default::default(), new_key()),
            options: Options::default(),
            reader: Some(Reader::new()),
            wait_ms: 0,
            failure: None,
            sent_with: None,
        };
        let driver = create(flow, &options)?;
        Ok(Self { driver })
    }

    /// The current idempotency key: a UUID v4, 36 characters.
    #[wasm_bindgen(getter)]
    pub fn key(&self) -> String {
        read(&self.driver, 0).as_string().unwrap_or_default()
    }

    /// `"idle"`, `"pending"`, `"succeeded"` or `"failed"`.
    #[wasm_bindgen(getter, unchecked_return_type = "SubmitGuardState")]
    pub fn state(&self) -> String {
        read(&self.driver, 1).as_string().unwrap_or_default()
    }

    /// Whether a submission is in flight.
    #[wasm_bindgen(getter)]
    pub fn pending(&self) -> bool {
        read(&self.driver, 2).is_truthy()
    }

    /// Attempts made by the current or last submission.
    #[wasm_bindgen(getter)]
    pub fn attempts(&self) -> u32 {
        read(&self.driver, 3).as_f64().unwrap_or_default() as u32
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
        fetch(
            &self.driver,
            input,
            init.map_or(JsValue::UNDEFINED, Into::into),
        )
    }

    /// Runs a task as one guarded submission (typed in `types.d.ts`).
    #[wasm_bindgen(skip_typescript)]
    pub fn run(&self, task: JsValue) -> Promise {
        run(&self.driver, task)
    }

    /// Cancels the submission in flight: it rejects with `ABORTED`, its
    /// request is aborted with `reason`, and the key is kept for the resubmit.
    pub fn abort(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "unknown")] reason: JsValue,
    ) {
        abort(&self.driver, reason);
    }

    /// Aborts any submission in flight, replaces the key and returns to
    /// `"idle"`.
    pub fn reset(&self) {
        reset(&self.driver);
    }

    /// Calls `listener` on every change of `state`, `key` or `attempts`;
    /// returns the function that unsubscribes it. Works as the `subscribe`
    /// argument of React's `useSyncExternalStore`.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "() => void")] listener: JsValue,
    ) -> Result<Function, JsValue> {
        subscribe(&self.driver, listener)
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
        attach(&self.driver, form, options)
    }
}

impl Drop for SubmitGuard {
    /// `free()`, or the garbage collector reclaiming an unreachable guard:
    /// listeners are dropped. A submission in flight still settles and an
    /// attached form stays guarded until detached: the driver holds them.
    fn drop(&mut self) {
        dispose(&self.driver);
    }
}

/// The driver's handle on one guard's core: every method is an event or a
/// question, and answers with the core's decision. Not part of the API.
#[doc(hidden)]
#[wasm_bindgen(skip_typescript)]
pub struct Flow {
    machine: Machine,
    options: Options,
    reader: Option<Reader>,
    /// The wait of the last `WAIT` decision, in ms.
    wait_ms: u64,
    /// The failure of the last `REFUSE` or `REJECT` decision.
    failure: Option<Failure>,
    /// The fingerprint the key is being sent with.
    sent_with: Option<Fingerprint>,
}

// Decisions, as the driver reads them (`js/driver.js` has the same table).
const START: u32 = 1;
const SHARE: u32 = 2;
const REFUSE: u32 = 3;
const IGNORE: u32 = 4;
const WAIT: u32 = 5;
const RESOLVE: u32 = 6;
const REJECT: u32 = 7;
const THROW: u32 = 8;
/// Flag: forget the key saved for the form (`persist`, `crossTab`).
const CLEAR: u32 = 16;
/// Flag: tell other tabs how the submission ended (`crossTab`).
const BROADCAST: u32 = 32;

fn failure_number(failure: Failure) -> u32 {
    match failure {
        Failure::Duplicate => 1,
        Failure::Busy => 2,
        Failure::Timeout => 3,
        Failure::Network => 4,
        Failure::Aborted => 5,
        Failure::Http { .. } => 6,
        Failure::Thrown => 7,
        Failure::CrossTab => 8,
    }
}

/// How an attempt ended, as the driver reports it.
fn outcome(kind: u32, status: u16, retry_after: Option<String>, now_ms: u64) -> Outcome {
    match kind {
        1 => Outcome::Response {
            status,
            retry_after: retry_after
                .as_deref()
                .and_then(|value| RetryAfter::parse(value, now_ms)),
        },
        2 => Outcome::Network,
        3 => Outcome::Timeout,
        4 => Outcome::Completed,
        _ => Outcome::Threw,
    }
}

/// What a submission sends, as the driver joins it: method, URL and
/// payload, separated by newlines (which neither a method nor a parsed URL
/// holds). `None` for a `run` task.
fn identity(what: Option<String>) -> Option<Fingerprint> {
    let what = what?;
    let (method, rest) = what.split_once('\n')?;
    let (url, payload) = rest.split_once('\n')?;
    Some(key::fingerprint(method, url, payload))
}

fn flight(id: f64) -> FlightId {
    FlightId::from_number(id as u64)
}

#[wasm_bindgen]
impl Flow {
    /// The index of option `name`, or minus the problem's code.
    pub fn option(&self, name: &str) -> f64 {
        match options::index(name) {
            Ok(ix) => ix as f64,
            Err(problem) => -(problem.code() as f64),
        }
    }

    /// The name of option `ix`, for messages.
    #[wasm_bindgen(js_name = optionName)]
    pub fn option_name(&self, ix: usize) -> Option<String> {
        OPTIONS.get(ix).map(|(name, _)| (*name).to_owned())
    }

    /// Option `ix` given a value of type `ty`: 0 a string (`text`), 1 a
    /// boolean (`number` 0 or 1), 2 a number, 3 a function, 4 an array of
    /// `number` entries, 5 its next entry, a number, 6 its next entry, not a
    /// number, 7 anything else. Answers 0, or the problem's code.
    pub fn set(&mut self, ix: usize, ty: u32, number: f64, text: Option<String>) -> f64 {
        let Some(reader) = self.reader.as_mut() else {
            return 0.0;
        };
        let read = match ty {
            0 => reader.text(ix, text.as_deref().unwrap_or_default()),
            1 => reader.flag(ix, number != 0.0),
            2 => reader.number(ix, number),
            3 => reader.function(ix),
            4 => reader.list(ix, number),
            5 => reader.item(ix, Some(number)),
            6 => reader.item(ix, None),
            _ => Err(reader.other(ix)),
        };
        read.map_or_else(|problem| problem.code() as f64, |()| 0.0)
    }

    /// Every option is read: 0, or the code of a problem with `name`.
    pub fn ready(&mut self) -> f64 {
        let Some(reader) = self.reader.take() else {
            return 0.0;
        };
        match reader.finish() {
            Ok(options) => {
                self.machine = Machine::new(options.settings.clone(), new_key());
                self.options = options;
                0.0
            }
            Err((_, problem)) => problem.code() as f64,
        }
    }

    /// Continues with `key`, restored from storage (`persist`) with the
    /// fingerprint it was sent with.
    pub fn restore(&mut self, key: String, sent_with: Option<String>) {
        let fingerprint = sent_with.as_deref().and_then(Fingerprint::from_hex);
        self.machine = Machine::with_key(
            self.options.settings.clone(),
            KeyLife::restored(key, fingerprint),
        );
    }

    /// A number the driver needs: the version that grows on every visible
    /// change (0), pending (1), the flight in progress (2, 0 for none), the
    /// last wait in ms (3), the last failure's number (4), the timeout (5),
    /// `crossTab` (6), `persist` (7), attempts (8).
    pub fn get(&self, what: u32) -> f64 {
        let m = &self.machine;
        let o = &self.options;
        match what {
            0 => m.version() as f64,
            1 => f64::from(u8::from(m.pending())),
            2 => m.flight().map_or(0.0, |(id, _)| id.number() as f64),
            3 => self.wait_ms as f64,
            4 => f64::from(self.failure.map_or(0, failure_number)),
            5 => f64::from(o.timeout_ms),
            6 => f64::from(u8::from(o.cross_tab)),
            7 => f64::from(u8::from(o.persist)),
            _ => f64::from(m.attempts()),
        }
    }

    /// A string the driver needs: the key (0), the state (1), the header
    /// name (2), the form's name (3), the fingerprint being sent, as hex (4).
    pub fn text(&self, what: u32) -> Option<String> {
        match what {
            0 => Some(self.machine.key().to_owned()),
            1 => Some(self.machine.state().as_str().to_owned()),
            2 => Some(self.options.header_name.clone()),
            3 => self.options.name.clone(),
            _ => self.sent_with.map(Fingerprint::to_hex),
        }
    }

    /// Whether `method` carries the key (all but the safe methods).
    #[wasm_bindgen(js_name = carriesKey)]
    pub fn carries_key(&self, method: &str) -> bool {
        key::carries_key(method)
    }

    /// A call wants to submit: `kind` 0 is `fetch`, 1 `run`, 2 an attached
    /// form; `what` says what: method, URL and payload joined by newlines.
    pub fn begin(&mut self, kind: u32, what: Option<String>) -> u32 {
        let identity = identity(what);
        let begin = match kind {
            1 => self.machine.submit(Kind::Run, None),
            2 => self.machine.submit_form(identity),
            _ => self.machine.submit(Kind::Fetch, identity),
        };
        match begin {
            Begin::Start(_) => START,
            Begin::Share => SHARE,
            Begin::Ignore => IGNORE,
            Begin::Reject(failure) => {
                self.failure = Some(failure);
                REFUSE
            }
        }
    }

    /// A call came with an already aborted signal: it is refused.
    #[wasm_bindgen(js_name = refuseAborted)]
    pub fn refuse_aborted(&mut self) {
        self.machine.refuse_aborted();
    }

    /// The key flight `id` sends with, as the header value (`None`: the
    /// flight has ended). `what` is what it sends (absent for a `run` task);
    /// `mine` (1 or 0; -1 when unknown) says, with `persist`, whether this
    /// tab wrote the restored key; `recorded` is the key another tab
    /// recorded for the form and the fingerprint it was sent with, joined by
    /// a newline (`crossTab`).
    #[wasm_bindgen(js_name = keyFor)]
    pub fn key_for(
        &mut self,
        id: f64,
        what: Option<String>,
        mine: f64,
        recorded: Option<String>,
    ) -> Option<String> {
        let id = flight(id);
        let payload = identity(what);
        let m = &mut self.machine;
        if mine >= 0.0 {
            m.restored_owner(id, mine > 0.0, new_key);
        }
        if let Some((key, with)) = recorded.as_deref().and_then(|r| r.split_once('\n')) {
            m.adopt_recorded(id, key.to_owned(), Fingerprint::from_hex(with), payload);
        }
        let key = m.key_for(id, payload, new_key)?;
        self.sent_with = payload;
        Some(key::wire_key(&key, self.options.quote_key))
    }

    /// Flight `id` is about to send an attempt: its number, or 0 to stop.
    pub fn send(&mut self, id: f64) -> u32 {
        self.machine.send(flight(id)).unwrap_or(0)
    }

    fn done(&mut self, settle: Settle) -> u32 {
        let clear = if self.machine.state() == State::Succeeded {
            CLEAR
        } else {
            0
        };
        let decision = match settle {
            Settle::Resolve => RESOLVE | BROADCAST,
            Settle::Reject(Failure::Thrown) => THROW | BROADCAST,
            Settle::Reject(failure) => {
                self.failure = Some(failure);
                let broadcast = if failure.is_shared_across_tabs() {
                    BROADCAST
                } else {
                    0
                };
                REJECT | broadcast
            }
        };
        decision | clear
    }

    /// An attempt of flight `id` ended: `outcome` 1 a response with
    /// `status` (and `retry_after`, the header), 2 a network error, 3 a
    /// timeout, 4 a task's value, 5 a task's error.
    pub fn settle(
        &mut self,
        id: f64,
        outcome_kind: u32,
        status: u16,
        retry_after: Option<String>,
        now_ms: f64,
        jitter: f64,
    ) -> u32 {
        let now = now_ms.max(0.0) as u64;
        let outcome = outcome(outcome_kind, status, retry_after, now);
        match self
            .machine
            .settle(flight(id), outcome, now, jitter, new_key)
        {
            Step::Wait { ms } => {
                self.wait_ms = ms;
                WAIT
            }
            Step::Done(settle) => self.done(settle),
        }
    }

    /// Flight `id` ends with the outcome another tab reached (`crossTab`).
    pub fn conclude(&mut self, id: f64, outcome_kind: u32, status: u16) -> u32 {
        let outcome = outcome(outcome_kind, status, None, 0);
        let settle = self.machine.conclude(flight(id), outcome, new_key);
        self.done(settle) & !BROADCAST
    }

    /// Another tab is submitting the form (`crossTab`): flight `id` waits
    /// for its result (`WAIT`), or is refused with `CROSS_TAB` (`REJECT`).
    #[wasm_bindgen(js_name = otherTab)]
    pub fn other_tab(&mut self, id: f64) -> u32 {
        if self.options.settings.on_duplicate == crate::core::state::OnDuplicate::Share {
            return WAIT;
        }
        self.fail(id, failure_number(Failure::CrossTab))
    }

    /// Flight `id` failed outside an attempt with failure number `failure`
    /// (7: unexpected, e.g. `fetch` resolved with something else; 5:
    /// aborted; 8: another tab holds the form).
    pub fn fail(&mut self, id: f64, failure: u32) -> u32 {
        let failure = match failure {
            5 => Failure::Aborted,
            8 => Failure::CrossTab,
            _ => Failure::Thrown,
        };
        match self.machine.fail(flight(id), failure) {
            Step::Done(settle) => self.done(settle) & !BROADCAST,
            Step::Wait { .. } => REJECT,
        }
    }

    /// Aborts the flight in progress; returns it (0: none).
    #[wasm_bindgen(js_name = abortFlight)]
    pub fn abort_flight(&mut self) -> f64 {
        self.machine.abort().map_or(0.0, |id| id.number() as f64)
    }

    /// Resets: aborts the flight in progress (returned; 0: none) and
    /// replaces the key.
    #[wasm_bindgen(js_name = resetAll)]
    pub fn reset_all(&mut self) -> f64 {
        let fresh = new_key();
        self.machine
            .reset(fresh)
            .map_or(0.0, |id| id.number() as f64)
    }
}
