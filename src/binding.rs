//! The JavaScript boundary: the exported `SubmitGuard` class and the
//! driver's handle on its core. Decides nothing.
//!
//! `SubmitGuard` hands each call to the JS driver (`js/driver.js`) through
//! one export, `__act` (the package installs the class's JavaScript methods
//! and getters as calls of it; Rust callers have typed methods). The driver
//! performs everything the browser does (fetch, timers, listeners, storage,
//! Web Locks, attach) and asks the core what to do at each step through a
//! [`Flow`], whose one method `on` takes every event and answers with the
//! core's decision as a small number. The driver holds the `Flow`, not the
//! `SubmitGuard`: freeing the class while a submission runs leaves the
//! submission (and its `Flow`) intact. No `Flow` method calls into
//! JavaScript (bar `crypto.getRandomValues`), so none can be re-entered.

use alloc::borrow::ToOwned;
use alloc::string::String;

use wasm_bindgen::prelude::*;

use crate::core::key::{self, Fingerprint, KeyLife};
use crate::core::options::{self, OPTIONS, Options, Problem, Reader};
use crate::core::retry::RetryAfter;
use crate::core::state::{
    Begin, Failure, FlightId, Kind, Machine, OnDuplicate, Outcome, Settle, State, Step,
};

// The JavaScript types the class takes and returns, declared here rather
// than taken from js-sys and web-sys: nothing but their TypeScript names is
// used, and js-sys links in an executor's export whose data outlives it.
#[wasm_bindgen]
extern "C" {
    /// A JavaScript promise.
    #[wasm_bindgen(typescript_type = "Promise<any>")]
    pub type Promise;
    /// A JavaScript function.
    #[wasm_bindgen(typescript_type = "Function")]
    #[derive(Debug)]
    pub type Function;
    /// The `init` argument of `fetch`.
    #[wasm_bindgen(typescript_type = "RequestInit")]
    pub type RequestInit;
}

#[wasm_bindgen(module = "/js/driver.js")]
extern "C" {
    /// Reads the options into `flow`, sets up the guard's driver state and
    /// returns it; throws the `TypeError` or `RangeError` for bad options.
    #[wasm_bindgen(catch)]
    fn create(flow: Flow, options: &JsValue) -> Result<JsValue, JsValue>;
    /// Performs method `op` of the class (the `ACT` table) with up to two
    /// arguments; throws what the method throws.
    #[wasm_bindgen(catch)]
    fn act(driver: &JsValue, op: u32, a: JsValue, b: JsValue) -> Result<JsValue, JsValue>;
    /// `act` for the methods that throw nothing.
    #[wasm_bindgen(js_name = act)]
    fn call(driver: &JsValue, op: u32, a: JsValue, b: JsValue) -> JsValue;
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
        options: JsValue,
    ) -> Result<SubmitGuard, JsValue> {
        // The machine gets its key with the options (`READY`); the driver
        // asks for nothing before.
        let flow = Flow {
            machine: Machine::new(Default::default(), String::new()),
            options: Options::default(),
            reader: Some(Reader::new()),
            wait_ms: 0,
            failure: None,
            sent_with: None,
            recorded: None,
            wire: String::new(),
        };
        let driver = create(flow, &options)?;
        Ok(Self { driver })
    }

    /// Performs method `op` of the class (the driver's `ACT` table) with up
    /// to two arguments. The package installs the class's JavaScript
    /// methods (`fetch`, `run`, `abort`, `reset`, `subscribe`, `attach`) and
    /// getters (`key`, `state`, `pending`, `attempts`) as calls of this one
    /// export (scripts/package.mjs), typed in `types.d.ts`: one export shim
    /// instead of ten. Rust callers use the methods below.
    #[wasm_bindgen(js_name = __act, skip_typescript)]
    pub fn js_act(&self, op: u32, a: JsValue, b: JsValue) -> Result<JsValue, JsValue> {
        act(&self.driver, op, a, b)
    }
}

/// The class's methods for Rust callers (the browser tests); JavaScript
/// reaches the same driver calls through `__act`.
impl SubmitGuard {
    /// The current idempotency key: a UUID v4, 36 characters.
    pub fn key(&self) -> String {
        self.call(KEY, JsValue::UNDEFINED)
            .as_string()
            .unwrap_or_default()
    }

    /// `"idle"`, `"pending"`, `"succeeded"` or `"failed"`.
    pub fn state(&self) -> String {
        self.call(STATE, JsValue::UNDEFINED)
            .as_string()
            .unwrap_or_default()
    }

    /// Whether a submission is in flight.
    pub fn pending(&self) -> bool {
        self.call(PENDING, JsValue::UNDEFINED).is_truthy()
    }

    /// Attempts made by the current or last submission.
    pub fn attempts(&self) -> u32 {
        self.call(ATTEMPTS, JsValue::UNDEFINED)
            .as_f64()
            .unwrap_or_default() as u32
    }

    /// Sends a request like `fetch`, guarded. POST, PUT, PATCH and DELETE carry
    /// the key, are deduplicated and retried; GET, HEAD and OPTIONS pass
    /// through once. Every caller can read the body: duplicates each get
    /// their own clone of the response.
    pub fn fetch(&self, input: JsValue, init: Option<RequestInit>) -> Promise {
        call(&self.driver, FETCH, input, init.into()).unchecked_into()
    }

    /// Runs a task as one guarded submission.
    pub fn run(&self, task: JsValue) -> Promise {
        self.call(RUN, task).unchecked_into()
    }

    /// Cancels the submission in flight: it rejects with `ABORTED`, its
    /// request is aborted with `reason`, and the key is kept for the resubmit.
    pub fn abort(&self, reason: JsValue) {
        self.call(ABORT, reason);
    }

    /// Aborts any submission in flight, replaces the key and returns to
    /// `"idle"`.
    pub fn reset(&self) {
        self.call(RESET, JsValue::UNDEFINED);
    }

    /// Calls `listener` on every change of `state`, `key` or `attempts`;
    /// returns the function that unsubscribes it. Works as the `subscribe`
    /// argument of React's `useSyncExternalStore`.
    pub fn subscribe(&self, listener: JsValue) -> Result<Function, JsValue> {
        act(&self.driver, SUBSCRIBE, listener, JsValue::UNDEFINED).map(JsCast::unchecked_into)
    }

    /// Guards a plain HTML form: its submit (click or Enter) goes through
    /// `fetch` to the form's `action` with its `method` and `enctype`; its
    /// submit buttons are disabled and `aria-busy` set while pending;
    /// `submitguard:success` and `submitguard:error` are dispatched on it.
    /// Returns the function that detaches and restores the form.
    pub fn attach(&self, form: JsValue, options: JsValue) -> Result<Function, JsValue> {
        act(&self.driver, ATTACH, form, options).map(JsCast::unchecked_into)
    }
}

// The class's methods, as the driver's `act` numbers them.
const FETCH: u32 = 0;
const RUN: u32 = 1;
const ABORT: u32 = 2;
const RESET: u32 = 3;
const SUBSCRIBE: u32 = 4;
const ATTACH: u32 = 5;
const DISPOSE: u32 = 6;
const KEY: u32 = 7;
const STATE: u32 = 8;
const PENDING: u32 = 9;
const ATTEMPTS: u32 = 10;

impl SubmitGuard {
    /// Method `op` of the driver with one argument.
    fn call(&self, op: u32, a: JsValue) -> JsValue {
        call(&self.driver, op, a, JsValue::UNDEFINED)
    }
}

impl Drop for SubmitGuard {
    /// `free()`, or the garbage collector reclaiming an unreachable guard:
    /// listeners are dropped. A submission in flight still settles and an
    /// attached form stays guarded until detached: the driver holds them.
    fn drop(&mut self) {
        // Through the catching import, which the package has anyway (the
        // driver's dispose throws nothing).
        let _ = act(
            &self.driver,
            DISPOSE,
            JsValue::UNDEFINED,
            JsValue::UNDEFINED,
        );
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
    /// The key another tab recorded for the form, for the next `KEY_FOR`.
    recorded: Option<String>,
    /// The header value of the last `KEY_FOR`.
    wire: String,
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
fn outcome(kind: u32, status: u16, retry_after: Option<&str>, now_ms: u64) -> Outcome {
    match kind {
        1 => Outcome::Response {
            status,
            retry_after: retry_after.and_then(|value| RetryAfter::parse(value, now_ms)),
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
fn identity(what: Option<&str>) -> Option<Fingerprint> {
    let (method, rest) = line(what?)?;
    let (url, payload) = line(rest)?;
    Some(key::fingerprint(method, url, payload))
}

/// `text` split at its first newline.
fn line(text: &str) -> Option<(&str, &str)> {
    let mut at = 0;
    while *text.as_bytes().get(at)? != b'\n' {
        at += 1;
    }
    Some((text.get(..at)?, text.get(at + 1..)?))
}

// The driver's events and questions (`js/driver.js` has the same table).
// Below 16: a number the driver needs (see `Flow::number`).
const OPTION: u32 = 16;
const SET: u32 = 17;
const READY: u32 = 18;
const RESTORE: u32 = 19;
const CARRIES: u32 = 20;
const BEGIN: u32 = 21;
const REFUSE_ABORTED: u32 = 22;
const RECORDED: u32 = 23;
const KEY_FOR: u32 = 24;
const SEND: u32 = 25;
const SETTLE: u32 = 26;
const CONCLUDE: u32 = 27;
const OTHER_TAB: u32 = 28;
const FAIL: u32 = 29;
const ABORT_FLIGHT: u32 = 30;
const RESET_ALL: u32 = 31;

#[wasm_bindgen]
impl Flow {
    /// One event or question from the driver, answered with the core's
    /// decision as a number. `id` is the flight it is about, `a`, `b` and
    /// `c` its numbers and `text` its string, as the `Flow` methods below
    /// describe for each event.
    pub fn on(&mut self, event: u32, id: f64, a: f64, b: f64, c: f64, text: Option<String>) -> f64 {
        let text = text.as_deref();
        let flight = FlightId::from_number(id as u64);
        let decision = match event {
            OPTION => return self.option(text.unwrap_or_default()),
            SET => return self.set(id as usize, a as u32, b, text) as f64,
            READY => return self.ready() as f64,
            RESTORE => {
                self.restore(text.unwrap_or_default());
                0
            }
            CARRIES => u32::from(key::carries_key(text.unwrap_or_default())),
            BEGIN => self.begin(a as u32, text),
            REFUSE_ABORTED => {
                self.machine.refuse_aborted();
                0
            }
            RECORDED => {
                self.recorded = text.map(ToOwned::to_owned);
                0
            }
            KEY_FOR => self.key_for(flight, a, text),
            SEND => self.machine.send(flight).unwrap_or(0),
            SETTLE => self.settle(flight, a, b, c, text),
            CONCLUDE => {
                let outcome = outcome(a as u32, b as u16, None, 0);
                let settle = self.machine.conclude(flight, outcome, new_key);
                self.done(settle) & !BROADCAST
            }
            OTHER_TAB => self.other_tab(flight),
            FAIL => self.fail(flight, a as u32),
            ABORT_FLIGHT => return flight_number(self.machine.abort()),
            RESET_ALL => {
                let fresh = new_key();
                return flight_number(self.machine.reset(fresh));
            }
            _ => return self.number(event),
        };
        f64::from(decision)
    }

    /// A string the driver needs: the key (0), the state (1), the header
    /// name (2), the form's name (3), the fingerprint being sent, as hex (4),
    /// the header value of the last `KEY_FOR` (5); from 16, the name of
    /// option `what - 16`, for messages.
    #[wasm_bindgen(unchecked_return_type = "string | undefined")]
    pub fn text(&self, what: u32) -> JsValue {
        let text = match what {
            0 => self.machine.key(),
            1 => self.machine.state().as_str(),
            2 => &self.options.header_name,
            3 => self.options.name.as_deref().unwrap_or_default(),
            4 => match self.sent_with {
                Some(fingerprint) => return fingerprint.to_hex().as_str().into(),
                None => "",
            },
            5 => &self.wire,
            _ => OPTIONS
                .get(what.wrapping_sub(16) as usize)
                .map_or("", |(name, _)| name),
        };
        if text.is_empty() {
            JsValue::UNDEFINED
        } else {
            text.into()
        }
    }
}

fn flight_number(flight: Option<FlightId>) -> f64 {
    flight.map_or(0.0, |id| id.number() as f64)
}

impl Flow {
    /// A number the driver needs: the version that grows on every visible
    /// change (0), pending (1), the flight in progress (2, 0 for none), the
    /// last wait in ms (3), the last failure's number (4), the timeout (5),
    /// `crossTab` (6), `persist` (7), attempts (8).
    fn number(&self, what: u32) -> f64 {
        let m = &self.machine;
        let o = &self.options;
        match what {
            0 => m.version() as f64,
            1 => f64::from(u8::from(m.pending())),
            2 => flight_number(m.flight().map(|(id, _)| id)),
            3 => self.wait_ms as f64,
            4 => f64::from(self.failure.map_or(0, failure_number)),
            5 => f64::from(o.timeout_ms),
            6 => f64::from(u8::from(o.cross_tab)),
            7 => f64::from(u8::from(o.persist)),
            _ => f64::from(m.attempts()),
        }
    }

    /// `OPTION`: the index of option `name`, or minus the problem's code.
    fn option(&self, name: &str) -> f64 {
        match options::index(name) {
            Ok(ix) => ix as f64,
            Err(problem) => -(problem.code() as f64),
        }
    }

    /// `SET`: option `ix` given a value of type `ty`: 0 a string (`text`),
    /// 1 a boolean (`number` 0 or 1), 2 a number, 3 a function, 4 an array
    /// of `number` entries, 5 its next entry, a number, 6 its next entry, not
    /// a number, 7 anything else. Answers 0, or the problem's code.
    fn set(&mut self, ix: usize, ty: u32, number: f64, text: Option<&str>) -> u64 {
        let Some(reader) = self.reader.as_mut() else {
            return 0;
        };
        let read = match ty {
            0 => reader.text(ix, text.unwrap_or_default()),
            1 => reader.flag(ix, number != 0.0),
            2 => reader.number(ix, number),
            3 => reader.function(ix),
            4 => reader.list(ix, number),
            5 => reader.item(ix, Some(number)),
            6 => reader.item(ix, None),
            _ => Err(reader.other(ix)),
        };
        read.map_or_else(Problem::code, |()| 0)
    }

    /// `READY`: every option is read: 0, or the code of a problem with `name`.
    fn ready(&mut self) -> u64 {
        let Some(reader) = self.reader.take() else {
            return 0;
        };
        match reader.finish() {
            Ok(options) => {
                self.machine = Machine::new(options.settings.clone(), new_key());
                self.options = options;
                0
            }
            Err((_, problem)) => problem.code(),
        }
    }

    /// `RESTORE`: continues with the key restored from storage (`persist`),
    /// given as the key, then a newline and the fingerprint it was sent with
    /// when there is one.
    fn restore(&mut self, saved: &str) {
        let (key, sent_with) = line(saved).map_or((saved, None), |(key, hex)| {
            (key, Fingerprint::from_hex(hex))
        });
        if key.is_empty() {
            // Nothing to continue with: the fresh key stays.
            return;
        }
        self.machine = Machine::with_key(
            self.options.settings.clone(),
            KeyLife::restored(key.to_owned(), sent_with),
        );
    }

    /// `BEGIN`: a call wants to submit: `kind` 0 is `fetch`, 1 `run`, 2 an
    /// attached form; `what` says what: method, URL and payload joined by
    /// newlines.
    fn begin(&mut self, kind: u32, what: Option<&str>) -> u32 {
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

    /// `KEY_FOR`: the key `flight` sends with; answers 1 with the header
    /// value in `text(5)`, or 0 when the flight has ended. `what` is what it
    /// sends (absent for a `run` task, and when it is what the flight began
    /// with); `mine` (1 or 0; -1 when unknown)
    /// says, with `persist`, whether this tab wrote the restored key. A key
    /// another tab recorded for the form (`RECORDED`: the key and the
    /// fingerprint it was sent with, joined by a newline) is used up here.
    fn key_for(&mut self, id: FlightId, mine: f64, what: Option<&str>) -> u32 {
        let m = &mut self.machine;
        // Without `what`, the flight sends what it began with (`BEGIN`).
        let payload = identity(what).or_else(|| m.identity(id));
        if mine >= 0.0 {
            m.restored_owner(id, mine > 0.0, new_key);
        }
        if let Some((key, with)) = self.recorded.take().as_deref().and_then(line) {
            m.adopt_recorded(id, key.to_owned(), Fingerprint::from_hex(with), payload);
        }
        let Some(key) = m.key_for(id, payload, new_key) else {
            return 0;
        };
        self.sent_with = payload;
        self.wire = key::wire_key(&key, self.options.quote_key);
        1
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

    /// `SETTLE`: an attempt of the flight ended: `how` is the outcome (1 a
    /// response, 2 a network error, 3 a timeout, 4 a task's value, 5 a
    /// task's error) plus 8 × the response's status; `retry_after` is its
    /// header; `now_ms` the time, `jitter` a random number in [0, 1).
    fn settle(
        &mut self,
        id: FlightId,
        how: f64,
        now_ms: f64,
        jitter: f64,
        retry_after: Option<&str>,
    ) -> u32 {
        let how = how as u32;
        let now = now_ms.max(0.0) as u64;
        let outcome = outcome(how % 8, (how / 8) as u16, retry_after, now);
        match self.machine.settle(id, outcome, now, jitter, new_key) {
            Step::Wait { ms } => {
                self.wait_ms = ms;
                WAIT
            }
            Step::Done(settle) => self.done(settle),
        }
    }

    /// `OTHER_TAB`: another tab is submitting the form (`crossTab`): the
    /// flight waits for its result (`WAIT`), or is refused with `CROSS_TAB`
    /// (`REJECT`).
    fn other_tab(&mut self, id: FlightId) -> u32 {
        if self.options.settings.on_duplicate == OnDuplicate::Share {
            return WAIT;
        }
        self.fail(id, failure_number(Failure::CrossTab))
    }

    /// `FAIL`: the flight failed outside an attempt with failure number
    /// `failure` (7: unexpected, e.g. `fetch` resolved with something else;
    /// 5: aborted; 8: another tab holds the form).
    fn fail(&mut self, id: FlightId, failure: u32) -> u32 {
        let failure = match failure {
            5 => Failure::Aborted,
            8 => Failure::CrossTab,
            _ => Failure::Thrown,
        };
        match self.machine.fail(id, failure) {
            Step::Done(settle) => self.done(settle) & !BROADCAST,
            Step::Wait { .. } => REJECT,
        }
    }
}
