//! The JavaScript boundary: the exported `SubmitGuard` class and the
//! driver's handle on its core. Decides nothing.
//!
//! `SubmitGuard` converts what JavaScript passes and hands each call to the
//! JS driver (`js/driver.js`). The driver performs everything the browser does
//! (fetch, timers, listeners, storage, Web Locks, attach) and asks the core
//! what to do at each step through a [`Flow`], whose methods answer with the
//! core's decision as a small number. The driver holds the `Flow`, not the
//! `SubmitGuard`: freeing the class while a submission runs leaves the
//! submission (and its `Flow`) intact.
//!
//! Borrows of the machine are short and end before any JavaScript runs.

use alloc::borrow::ToOwned;
use alloc::rc::Rc;
use alloc::string::String;
use core::cell::RefCell;

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
    /// Fills `bytes` from `crypto.getRandomValues`.
    fn random(bytes: &mut [u8]);
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
    core: Rc<Core>,
    driver: JsValue,
}

/// What a guard's class and its driver share.
struct Core {
    machine: RefCell<Machine>,
    options: RefCell<Options>,
    reader: RefCell<Option<Reader>>,
    /// Details of the last decision: the wait, the failure.
    last: RefCell<Last>,
}

#[derive(Default)]
struct Last {
    wait_ms: u64,
    failure: Option<Failure>,
    sent_with: Option<Fingerprint>,
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
        let core = Rc::new(Core {
            machine: RefCell::new(Machine::new(Default::default(), new_key())),
            options: RefCell::new(Options::default()),
            reader: RefCell::new(Some(Reader::new())),
            last: RefCell::new(Last::default()),
        });
        let driver = create(Flow { core: core.clone() }, &options)?;
        Ok(Self { core, driver })
    }

    /// The current idempotency key: a UUID v4, 36 characters.
    #[wasm_bindgen(getter)]
    pub fn key(&self) -> String {
        self.core.machine.borrow().key().to_owned()
    }

    /// `"idle"`, `"pending"`, `"succeeded"` or `"failed"`.
    #[wasm_bindgen(getter, unchecked_return_type = "SubmitGuardState")]
    pub fn state(&self) -> String {
        self.core.machine.borrow().state().as_str().to_owned()
    }

    /// Whether a submission is in flight.
    #[wasm_bindgen(getter)]
    pub fn pending(&self) -> bool {
        self.core.machine.borrow().pending()
    }

    /// Attempts made by the current or last submission.
    #[wasm_bindgen(getter)]
    pub fn attempts(&self) -> u32 {
        self.core.machine.borrow().attempts()
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
        fetch(&self.driver, input, init.map_or(JsValue::UNDEFINED, Into::into))
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
    core: Rc<Core>,
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
fn outcome(kind: u32, status: u16, retry_after: Option<String>) -> Outcome {
    match kind {
        1 => Outcome::Response {
            status,
            retry_after: retry_after.as_deref().and_then(RetryAfter::parse),
        },
        2 => Outcome::Network,
        3 => Outcome::Timeout,
        4 => Outcome::Completed,
        _ => Outcome::Threw,
    }
}

#[wasm_bindgen]
impl Flow {
    fn read(&self, read: impl FnOnce(&mut Reader) -> Result<(), options::Problem>) -> f64 {
        let mut reader = self.core.reader.borrow_mut();
        match reader.as_mut().map(read) {
            Some(Err(problem)) => problem.code() as f64,
            _ => 0.0,
        }
    }

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

    /// Option `ix` is a string: 0, or the problem's code.
    pub fn text(&self, ix: usize, value: &str) -> f64 {
        self.read(|r| r.text(ix, value))
    }

    /// Option `ix` is a boolean.
    pub fn flag(&self, ix: usize, value: bool) -> f64 {
        self.read(|r| r.flag(ix, value))
    }

    /// Option `ix` is a number.
    pub fn number(&self, ix: usize, value: f64) -> f64 {
        self.read(|r| r.number(ix, value))
    }

    /// Option `ix` is a function.
    pub fn function(&self, ix: usize) -> f64 {
        self.read(|r| r.function(ix))
    }

    /// Option `ix` is an array reporting `length` entries.
    pub fn list(&self, ix: usize, length: f64) -> f64 {
        self.read(|r| r.list(ix, length))
    }

    /// The next entry of the array: a number, or `undefined` for anything
    /// else.
    pub fn item(&self, ix: usize, value: Option<f64>) -> f64 {
        self.read(|r| r.item(ix, value))
    }

    /// Option `ix` is of a type no option takes.
    pub fn other(&self, ix: usize) -> f64 {
        self.read(|r| Err(r.other(ix)))
    }

    /// Every option is read: 0, or the code of a problem with `name`.
    pub fn ready(&self) -> f64 {
        let Some(reader) = self.core.reader.borrow_mut().take() else {
            return 0.0;
        };
        match reader.finish() {
            Ok(options) => {
                let machine = Machine::new(options.settings.clone(), new_key());
                *self.core.machine.borrow_mut() = machine;
                *self.core.options.borrow_mut() = options;
                0.0
            }
            Err((_, problem)) => problem.code() as f64,
        }
    }

    /// Continues with `key`, restored from storage (`persist`) with the
    /// fingerprint it was sent with.
    pub fn restore(&self, key: String, sent_with: Option<String>) {
        let fingerprint = sent_with.as_deref().and_then(Fingerprint::from_hex);
        let settings = self.core.options.borrow().settings.clone();
        *self.core.machine.borrow_mut() =
            Machine::with_key(settings, KeyLife::restored(key, fingerprint));
    }

    /// The header the key goes in.
    #[wasm_bindgen(getter, js_name = headerName)]
    pub fn header_name(&self) -> String {
        self.core.options.borrow().header_name.clone()
    }

    /// The per-attempt timeout in ms (0: none).
    #[wasm_bindgen(getter)]
    pub fn timeout(&self) -> u32 {
        self.core.options.borrow().timeout_ms
    }

    /// The form's name, with `crossTab` or `persist`.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> Option<String> {
        self.core.options.borrow().name.clone()
    }

    /// Whether one tab at a time submits the form.
    #[wasm_bindgen(getter, js_name = crossTab)]
    pub fn cross_tab(&self) -> bool {
        self.core.options.borrow().cross_tab
    }

    /// Whether the pending key is saved for a reload.
    #[wasm_bindgen(getter)]
    pub fn persist(&self) -> bool {
        self.core.options.borrow().persist
    }

    /// Grows on every change listeners can see.
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> f64 {
        self.core.machine.borrow().version() as f64
    }

    /// Whether a submission is in flight.
    #[wasm_bindgen(getter)]
    pub fn pending(&self) -> bool {
        self.core.machine.borrow().pending()
    }

    /// The flight in progress (0: none).
    #[wasm_bindgen(getter)]
    pub fn flight(&self) -> f64 {
        self.core
            .machine
            .borrow()
            .flight()
            .map_or(0.0, |(id, _)| id.number() as f64)
    }

    /// The current key, for storage.
    #[wasm_bindgen(getter)]
    pub fn key(&self) -> String {
        self.core.machine.borrow().key().to_owned()
    }

    /// The fingerprint the key is being sent with, as hex, for storage.
    #[wasm_bindgen(getter, js_name = sentWith)]
    pub fn sent_with(&self) -> Option<String> {
        self.core.last.borrow().sent_with.map(Fingerprint::to_hex)
    }

    /// The wait of the last [`WAIT`] decision, in ms.
    #[wasm_bindgen(getter)]
    pub fn wait(&self) -> f64 {
        self.core.last.borrow().wait_ms as f64
    }

    /// The failure of the last `REFUSE` or `REJECT` decision, as a number
    /// (the driver's table turns it into a code).
    #[wasm_bindgen(getter)]
    pub fn failure(&self) -> u32 {
        self.core.last.borrow().failure.map_or(0, failure_number)
    }

    /// Whether `method` carries the key (all but the safe methods).
    #[wasm_bindgen(js_name = carriesKey)]
    pub fn carries_key(&self, method: &str) -> bool {
        key::carries_key(method)
    }

    /// A call wants to submit: `kind` 0 is `fetch`, 1 `run`, 2 an attached
    /// form; `method`, `url` and `payload` say what (absent for `run`).
    pub fn begin(
        &self,
        kind: u32,
        method: Option<String>,
        url: Option<String>,
        payload: Option<String>,
    ) -> u32 {
        let identity = match (&method, &url) {
            (Some(method), Some(url)) => Some(key::fingerprint(
                method,
                url,
                payload.as_deref().unwrap_or_default(),
            )),
            _ => None,
        };
        let begin = {
            let mut machine = self.core.machine.borrow_mut();
            match kind {
                1 => machine.submit(Kind::Run, None),
                2 => machine.submit_form(identity),
                _ => machine.submit(Kind::Fetch, identity),
            }
        };
        match begin {
            Begin::Start(_) => START,
            Begin::Share => SHARE,
            Begin::Ignore => IGNORE,
            Begin::Reject(failure) => {
                self.core.last.borrow_mut().failure = Some(failure);
                REFUSE
            }
        }
    }

    /// A call came with an already aborted signal: it is refused.
    #[wasm_bindgen(js_name = refuseAborted)]
    pub fn refuse_aborted(&self) {
        self.core.machine.borrow_mut().refuse_aborted();
    }

    /// The key flight `id` sends with, as the header value (`None`: the
    /// flight has ended). `payload` is absent for a `run` task; `mine` says,
    /// with `persist`, whether the restored key was written by this tab;
    /// `recorded` and `recorded_with` are the key another tab recorded for
    /// the form (`crossTab`) and the fingerprint it was sent with.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = keyFor)]
    pub fn key_for(
        &self,
        id: f64,
        method: Option<String>,
        url: Option<String>,
        payload: Option<String>,
        mine: Option<bool>,
        recorded: Option<String>,
        recorded_with: Option<String>,
    ) -> Option<String> {
        let id = FlightId::from_number(id as u64);
        let payload = match (&method, &url) {
            (Some(method), Some(url)) => Some(key::fingerprint(
                method,
                url,
                payload.as_deref().unwrap_or_default(),
            )),
            _ => None,
        };
        let key = {
            let mut machine = self.core.machine.borrow_mut();
            if let Some(mine) = mine {
                machine.restored_owner(id, mine, new_key);
            }
            if let Some(recorded) = recorded {
                let with = recorded_with.as_deref().and_then(Fingerprint::from_hex);
                machine.adopt_recorded(id, recorded, with, payload);
            }
            machine.key_for(id, payload, new_key)?
        };
        self.core.last.borrow_mut().sent_with = payload;
        let quote = self.core.options.borrow().quote_key;
        Some(key::wire_key(&key, quote))
    }

    /// Flight `id` is about to send an attempt: its number, or 0 to stop.
    pub fn send(&self, id: f64) -> u32 {
        let id = FlightId::from_number(id as u64);
        self.core.machine.borrow_mut().send(id).unwrap_or(0)
    }

    fn done(&self, settle: Settle) -> u32 {
        let state = self.core.machine.borrow().state();
        let clear = if state == State::Succeeded { CLEAR } else { 0 };
        let decision = match settle {
            Settle::Resolve => RESOLVE | BROADCAST,
            Settle::Reject(Failure::Thrown) => THROW | BROADCAST,
            Settle::Reject(failure) => {
                self.core.last.borrow_mut().failure = Some(failure);
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
        &self,
        id: f64,
        outcome_kind: u32,
        status: u16,
        retry_after: Option<String>,
        now_ms: f64,
        jitter: f64,
    ) -> u32 {
        let id = FlightId::from_number(id as u64);
        let outcome = outcome(outcome_kind, status, retry_after);
        let step = self.core.machine.borrow_mut().settle(
            id,
            outcome,
            now_ms.max(0.0) as u64,
            jitter,
            new_key,
        );
        match step {
            Step::Wait { ms } => {
                self.core.last.borrow_mut().wait_ms = ms;
                WAIT
            }
            Step::Done(settle) => self.done(settle),
        }
    }

    /// Flight `id` ends with the outcome another tab reached (`crossTab`).
    pub fn conclude(&self, id: f64, outcome_kind: u32, status: u16) -> u32 {
        let id = FlightId::from_number(id as u64);
        let outcome = outcome(outcome_kind, status, None);
        let settle = self.core.machine.borrow_mut().conclude(id, outcome, new_key);
        self.done(settle) & !BROADCAST
    }

    /// Another tab is submitting the form (`crossTab`): flight `id` waits
    /// for its result (`WAIT`), or is refused with `CROSS_TAB` (`REJECT`).
    #[wasm_bindgen(js_name = otherTab)]
    pub fn other_tab(&self, id: f64) -> u32 {
        let shares = self.core.options.borrow().settings.on_duplicate
            == crate::core::state::OnDuplicate::Share;
        if shares {
            return WAIT;
        }
        self.fail(id, failure_number(Failure::CrossTab))
    }

    /// Flight `id` failed outside an attempt with failure number `failure`
    /// (e.g. 7: the `fetch` option threw; 5: aborted while waiting).
    pub fn fail(&self, id: f64, failure: u32) -> u32 {
        let id = FlightId::from_number(id as u64);
        let failure = match failure {
            5 => Failure::Aborted,
            8 => Failure::CrossTab,
            4 => Failure::Network,
            _ => Failure::Thrown,
        };
        let step = self.core.machine.borrow_mut().fail(id, failure);
        match step {
            Step::Done(settle) => self.done(settle) & !BROADCAST,
            Step::Wait { .. } => REJECT,
        }
    }

    /// Aborts the flight in progress; returns it (0: none).
    #[wasm_bindgen(js_name = abortFlight)]
    pub fn abort_flight(&self) -> f64 {
        let ended = self.core.machine.borrow_mut().abort();
        ended.map_or(0.0, |id| id.number() as f64)
    }

    /// Resets: aborts the flight in progress (returned; 0: none) and
    /// replaces the key. The saved key, if any, is to be cleared.
    #[wasm_bindgen(js_name = resetAll)]
    pub fn reset_all(&self) -> f64 {
        let fresh = new_key();
        let ended = self.core.machine.borrow_mut().reset(fresh);
        ended.map_or(0.0, |id| id.number() as f64)
    }
}
