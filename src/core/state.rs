//! The submission state machine: events in, decisions out.
//!
//! A [`Machine`] is one guard's state. The binding feeds it events — a call
//! wants to submit, an attempt is about to be sent, an attempt ended, the user
//! aborted or reset — together with the current time and a jitter value, and
//! it answers with what to do next. It never reads a clock, starts a timer or
//! touches JavaScript, so every rule here is a table test.
//!
//! A submission in flight is identified by a [`FlightId`]. Abort and reset end
//! the flight at once, so the lock is released synchronously; events that the
//! old flight's task reports later carry its stale id and change nothing.

use alloc::borrow::ToOwned;
use alloc::string::String;

use super::key::{Fingerprint, KeyLife};
use super::retry::{Attempted, RetryAfter, RetryPolicy};

/// The observable state of a guard (`guard.state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Nothing submitted yet, or reset since.
    Idle,
    /// A submission is in flight; further calls are deduplicated.
    Pending,
    /// The last submission succeeded; the key has been replaced.
    Succeeded,
    /// The last submission failed; the key is kept for the retry.
    Failed,
}

impl State {
    /// The name JavaScript sees.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

/// Which entry point started a submission: results are only shared between
/// calls of the same kind, since a `run` task's value is not a `Response`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `guard.fetch`.
    Fetch,
    /// `guard.run`.
    Run,
}

/// What a call made while a submission is in flight gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnDuplicate {
    /// The in-flight submission's result.
    #[default]
    Share,
    /// An immediate `DUPLICATE` error.
    Reject,
}

/// Identifies one submission from its start to its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlightId(u64);

impl FlightId {
    /// The id as a number (1, 2, …), for the driver to hand back.
    pub fn number(self) -> u64 {
        self.0
    }

    /// The id the driver handed back.
    pub fn from_number(number: u64) -> Self {
        Self(number)
    }
}

/// Why a submission failed. Each maps to a stable error `code` in JavaScript,
/// except [`Failure::Thrown`]: a `run` task's own error passes through as is.
/// The messages are written in JavaScript, from the code (formatting in Rust
/// costs kilobytes of WebAssembly).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The same submission is already in flight (`onDuplicate: "reject"`),
    /// or one of the other kind (a `fetch` while a `run` is in flight).
    Duplicate,
    /// A different submission (another method, URL or payload) is in flight:
    /// this one is neither sent nor given the other's result.
    Busy,
    /// The last attempt timed out.
    Timeout,
    /// The last attempt failed before a response arrived.
    Network,
    /// The submission was aborted or reset.
    Aborted,
    /// The final response was not a success.
    Http {
        /// The final status.
        status: u16,
    },
    /// The caller's code threw: a `run` task, or the `fetch` option.
    Thrown,
    /// Another tab holds the submission lock (`onDuplicate: "reject"`).
    CrossTab,
}

impl Failure {
    /// The stable `code` JavaScript can switch on; `None` for a task's error.
    pub fn code(self) -> Option<&'static str> {
        Some(match self {
            Self::Duplicate => "DUPLICATE",
            Self::Busy => "BUSY",
            Self::Timeout => "TIMEOUT",
            Self::Network => "NETWORK",
            Self::Aborted => "ABORTED",
            Self::Http { .. } => "HTTP",
            Self::CrossTab => "CROSS_TAB",
            Self::Thrown => return None,
        })
    }

    /// Whether another tab waiting for this form may settle with this
    /// outcome (`crossTab`): not when it ended here without an answer of its
    /// own (aborted, refused), since the waiting tab must then submit itself.
    pub fn is_shared_across_tabs(self) -> bool {
        !matches!(
            self,
            Self::Aborted | Self::Duplicate | Self::Busy | Self::CrossTab
        )
    }
}

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered with `status`.
    Response {
        /// The response status (0 for an opaque response).
        status: u16,
        /// The parsed `Retry-After` header, if any.
        retry_after: Option<RetryAfter>,
    },
    /// The request failed before a response arrived.
    Network,
    /// The attempt took longer than `timeoutMs`.
    Timeout,
    /// A `run` task resolved.
    Completed,
    /// A `run` task threw or rejected.
    Threw,
}

/// What a call made while idle or pending should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begin {
    /// No submission was in flight: this call starts one.
    Start(FlightId),
    /// Hand out the in-flight submission's result; send nothing.
    Share,
    /// Reject at once with this failure; send nothing.
    Reject(Failure),
    /// Do nothing at all: a submit of an attached form while one is in
    /// flight (whatever `onDuplicate` says: there is no caller to answer).
    Ignore,
}

/// What to do after an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Wait `ms`, then send the next attempt with the same key.
    Wait {
        /// Milliseconds to wait.
        ms: u64,
    },
    /// The submission is over; settle the caller's promise.
    Done(Settle),
}

/// How to settle the caller's promise once a submission is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settle {
    /// Resolve with the response or the task's value.
    Resolve,
    /// Reject with this failure.
    Reject(Failure),
}

/// The behaviour settings of a guard, already validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// When and how long to retry.
    pub policy: RetryPolicy,
    /// What a call made while a submission is in flight gets.
    pub on_duplicate: OnDuplicate,
    /// Whether a final non-2xx rejects (`true`) or resolves with the response.
    pub throw_http_errors: bool,
}

impl Settings {
    /// The defaults, as a constant.
    pub const DEFAULT: Self = Self {
        policy: RetryPolicy::DEFAULT,
        on_duplicate: OnDuplicate::Share,
        throw_http_errors: true,
    };
}

impl Default for Settings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[derive(Clone, Copy, Debug)]
struct Flight {
    id: FlightId,
    kind: Kind,
    /// What this submission sends (method, URL, payload), for telling a
    /// duplicate of it from a different submission; `None` for a `run`.
    identity: Option<Fingerprint>,
    /// Whether this flight sent the guard's own key (not a caller's header).
    uses_key: bool,
    /// Whether the next attempt may be sent: at the start, and after a wait.
    ready: bool,
}

/// One guard's submission state.
#[derive(Clone, Debug)]
pub struct Machine {
    settings: Settings,
    state: State,
    key: KeyLife,
    attempts: u32,
    flight: Option<Flight>,
    flights: u64,
    version: u64,
}

impl Machine {
    /// A guard with a fresh key.
    pub fn new(settings: Settings, key: String) -> Self {
        Self::with_key(settings, KeyLife::new(key))
    }

    /// A guard that continues with a key it had before (e.g. restored from
    /// storage after a reload), so the same payload is sent with the same key.
    pub fn with_key(settings: Settings, key: KeyLife) -> Self {
        Self {
            settings,
            state: State::Idle,
            key,
            attempts: 0,
            flight: None,
            flights: 0,
            version: 0,
        }
    }

    /// The settings the guard was made with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The current key.
    pub fn key(&self) -> &str {
        self.key.key()
    }

    /// The key with the payload it was last sent with.
    pub fn key_life(&self) -> &KeyLife {
        &self.key
    }

    /// Attempts made by the current or last submission.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether a submission is in flight.
    pub fn pending(&self) -> bool {
        self.flight.is_some()
    }

    /// The submission in flight and its kind, if any.
    pub fn flight(&self) -> Option<(FlightId, Kind)> {
        self.flight.map(|f| (f.id, f.kind))
    }

    /// What flight `id` sends, as it began (`None` for a `run` task, or when
    /// the flight has ended).
    pub fn identity(&self, id: FlightId) -> Option<Fingerprint> {
        self.current(id).and_then(|f| f.identity)
    }

    /// Grows by one on every observable change (state, key or attempts); the
    /// binding compares it before and after an event to notify subscribers.
    pub fn version(&self) -> u64 {
        self.version
    }

    fn changed(&mut self) {
        self.version = self.version.wrapping_add(1);
    }

    fn current(&self, id: FlightId) -> Option<Flight> {
        self.flight.filter(|f| f.id == id)
    }

    /// A call wants to submit, without saying what (see [`Machine::submit`]).
    pub fn begin(&mut self, kind: Kind) -> Begin {
        self.submit(kind, None)
    }

    /// A call of `kind` wants to submit what `identity` identifies (method,
    /// URL and payload; `None` for a `run` task). Taking the lock is
    /// synchronous: of any number of calls in one tick, exactly one gets
    /// [`Begin::Start`]. While a submission is in flight, a call of the other
    /// kind is a `DUPLICATE`; a different submission is refused as `BUSY`
    /// (it must not be told someone else's result); the same submission
    /// shares the result, or is a `DUPLICATE` with `onDuplicate: "reject"`.
    pub fn submit(&mut self, kind: Kind, identity: Option<Fingerprint>) -> Begin {
        match self.flight {
            None => {
                self.flights = self.flights.wrapping_add(1);
                let id = FlightId(self.flights);
                self.flight = Some(Flight {
                    id,
                    kind,
                    identity,
                    uses_key: false,
                    ready: true,
                });
                self.state = State::Pending;
                self.attempts = 0;
                self.changed();
                Begin::Start(id)
            }
            // A result of the other kind cannot stand in for this one.
            Some(f) if f.kind != kind => Begin::Reject(Failure::Duplicate),
            Some(f) if f.kind == Kind::Fetch && f.identity != identity => {
                Begin::Reject(Failure::Busy)
            }
            Some(_) if self.settings.on_duplicate == OnDuplicate::Reject => {
                Begin::Reject(Failure::Duplicate)
            }
            Some(_) => Begin::Share,
        }
    }

    /// An attached form is submitted: it starts a fetch submission, or is
    /// ignored while one is in flight (see [`Begin::Ignore`]).
    pub fn submit_form(&mut self, identity: Option<Fingerprint>) -> Begin {
        if self.flight.is_some() {
            return Begin::Ignore;
        }
        self.submit(Kind::Fetch, identity)
    }

    /// A call came with a signal that was already aborted: it rejects with
    /// `ABORTED` and sends nothing. Like every other failure, it leaves the
    /// state `"failed"` (rule 4), unless a submission is in flight, which it
    /// does not touch.
    pub fn refuse_aborted(&mut self) -> Failure {
        if self.flight.is_none() && self.state != State::Failed {
            self.state = State::Failed;
            self.changed();
        }
        Failure::Aborted
    }

    /// A key restored from storage (`persist`) is about to be sent by flight
    /// `id`; `mine` says whether this tab wrote it. One written by another
    /// live tab (a duplicated tab's copy of the storage) is replaced by a
    /// fresh key, so two tabs never send one key for two submissions.
    pub fn restored_owner(&mut self, id: FlightId, mine: bool, fresh: impl FnOnce() -> String) {
        if !mine && self.current(id).is_some() {
            self.key.replace(fresh());
            self.changed();
        }
    }

    /// A key some other tab recorded for this form (`crossTab`): flight `id`
    /// adopts it when it was sent with the same payload, so the server
    /// replays rather than repeats. Returns whether it was adopted.
    pub fn adopt_recorded(
        &mut self,
        id: FlightId,
        key: String,
        sent_with: Option<Fingerprint>,
        payload: Option<Fingerprint>,
    ) -> bool {
        sent_with.is_some()
            && sent_with == payload
            && self.adopt(id, KeyLife::restored(key, payload))
    }

    /// The key for flight `id` to send its payload with, or `None` if the
    /// flight has ended. See [`KeyLife::prepare`] for when it is replaced.
    pub fn key_for(
        &mut self,
        id: FlightId,
        payload: Option<Fingerprint>,
        fresh: impl FnOnce() -> String,
    ) -> Option<String> {
        let mut flight = self.current(id)?;
        flight.uses_key = true;
        self.flight = Some(flight);
        if self.key.prepare(payload, fresh) {
            self.changed();
        }
        Some(self.key.key().to_owned())
    }

    /// Flight `id` is about to send an attempt: returns its number (1-based),
    /// or `None` if nothing should be sent: the flight has ended, or its last
    /// attempt has not been settled with a [`Step::Wait`].
    pub fn send(&mut self, id: FlightId) -> Option<u32> {
        let mut flight = self.current(id).filter(|f| f.ready)?;
        flight.ready = false;
        self.flight = Some(flight);
        self.attempts = self.attempts.saturating_add(1);
        self.changed();
        Some(self.attempts)
    }

    /// An attempt of flight `id` ended with `outcome` at `now_ms`; `jitter` is
    /// a random number in `[0, 1)` and `fresh` makes the next key, which is
    /// needed after a success.
    pub fn settle(
        &mut self,
        id: FlightId,
        outcome: Outcome,
        now_ms: u64,
        jitter: f64,
        fresh: impl FnOnce() -> String,
    ) -> Step {
        self.decide(id, outcome, Some((now_ms, jitter)), fresh)
    }

    /// Flight `id` ends with the outcome another tab's submission of the same
    /// form reached (cross-tab sharing): classified like [`Machine::settle`],
    /// but never retried here, since the other tab already retried.
    pub fn conclude(
        &mut self,
        id: FlightId,
        outcome: Outcome,
        fresh: impl FnOnce() -> String,
    ) -> Settle {
        match self.decide(id, outcome, None, fresh) {
            Step::Done(settle) => settle,
            // Unreachable without a retry clock; fail safe rather than hang.
            Step::Wait { .. } => self.fail_settle(id, Failure::Network),
        }
    }

    fn decide(
        &mut self,
        id: FlightId,
        outcome: Outcome,
        retry: Option<(u64, f64)>,
        fresh: impl FnOnce() -> String,
    ) -> Step {
        let Some(mut flight) = self.current(id) else {
            return Step::Done(Settle::Reject(Failure::Aborted));
        };
        let attempted = match outcome {
            Outcome::Completed => return self.succeed(flight, fresh),
            Outcome::Threw => return self.fail(id, Failure::Thrown),
            Outcome::Response { status, .. } if status == 0 || (200..300).contains(&status) => {
                return self.succeed(flight, fresh);
            }
            Outcome::Response {
                status,
                retry_after,
            } => Attempted::Response {
                status,
                retry_after,
            },
            Outcome::Network => Attempted::Network,
            Outcome::Timeout => Attempted::Timeout,
        };
        let policy = &self.settings.policy;
        let wait = retry.and_then(|(now_ms, jitter)| {
            policy.retry_after(self.attempts, &attempted, now_ms, jitter)
        });
        if let Some(ms) = wait {
            flight.ready = true;
            self.flight = Some(flight);
            return Step::Wait { ms };
        }
        match attempted {
            Attempted::Response { .. } if !self.settings.throw_http_errors => {
                self.end(State::Failed);
                Step::Done(Settle::Resolve)
            }
            Attempted::Response { status, .. } => self.fail(id, Failure::Http { status }),
            Attempted::Network => self.fail(id, Failure::Network),
            Attempted::Timeout => self.fail(id, Failure::Timeout),
        }
    }

    fn fail_settle(&mut self, id: FlightId, failure: Failure) -> Settle {
        match self.fail(id, failure) {
            Step::Done(settle) => settle,
            Step::Wait { .. } => Settle::Reject(failure),
        }
    }

    /// Flight `id` continues with `key` instead of the guard's own: the key
    /// another tab already sent this form's payload with, or a fresh one in
    /// place of a key restored from storage that belongs to another live tab.
    /// Returns `false` if the flight has ended.
    pub fn adopt(&mut self, id: FlightId, key: KeyLife) -> bool {
        if self.current(id).is_none() {
            return false;
        }
        if self.key != key {
            self.key = key;
            self.changed();
        }
        true
    }

    /// Flight `id` failed outside an attempt (its payload could not be read,
    /// its fetch returned something that is not a response): it ends as
    /// failed, keeping the key.
    pub fn fail(&mut self, id: FlightId, failure: Failure) -> Step {
        if self.current(id).is_some() {
            self.end(State::Failed);
        }
        Step::Done(Settle::Reject(failure))
    }

    fn succeed(&mut self, flight: Flight, fresh: impl FnOnce() -> String) -> Step {
        if flight.uses_key {
            self.key.replace(fresh());
        }
        self.end(State::Succeeded);
        Step::Done(Settle::Resolve)
    }

    fn end(&mut self, state: State) {
        self.flight = None;
        self.state = state;
        self.changed();
    }

    /// Aborts the submission in flight, if any: the lock is released at once
    /// and the key kept, so the next submit resends with the same key.
    /// Returns the flight that ended.
    pub fn abort(&mut self) -> Option<FlightId> {
        let flight = self.flight?;
        self.end(State::Failed);
        Some(flight.id)
    }

    /// Aborts any submission in flight, replaces the key and returns to idle.
    /// Returns the flight that ended, if any.
    pub fn reset(&mut self, fresh: String) -> Option<FlightId> {
        let ended = self.flight.take().map(|f| f.id);
        self.key.replace(fresh);
        self.state = State::Idle;
        self.attempts = 0;
        self.changed();
        ended
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
