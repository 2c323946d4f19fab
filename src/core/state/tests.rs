use super::*;
use crate::core::key::KeyLife;
use proptest::prelude::*;

/// Makes keys "k1", "k2", … so tests can say which key should be current.
#[derive(Default)]
struct Keys(u32);

impl Keys {
    fn next(&mut self) -> String {
        self.0 += 1;
        format!("k{}", self.0)
    }
}

fn machine(settings: Settings) -> (Machine, Keys) {
    let mut keys = Keys::default();
    let m = Machine::new(settings, keys.next());
    (m, keys)
}

fn status(status: u16) -> Outcome {
    Outcome::Response {
        status,
        retry_after: None,
    }
}

fn start(m: &mut Machine, kind: Kind) -> FlightId {
    match m.begin(kind) {
        Begin::Start(id) => id,
        other => panic!("expected a start, got {other:?}"),
    }
}

const FP1: Option<Fingerprint> = Some(Fingerprint(1));
const FP2: Option<Fingerprint> = Some(Fingerprint(2));

#[test]
fn same_tick_calls_start_once_and_share() {
    let (mut m, _) = machine(Settings::default());
    let starts = (0..10_000)
        .map(|_| m.begin(Kind::Fetch))
        .filter(|b| matches!(b, Begin::Start(_)))
        .count();
    assert_eq!(starts, 1);
    assert_eq!(m.begin(Kind::Fetch), Begin::Share);
    assert_eq!(m.state(), State::Pending);
    assert!(m.pending());
}

#[test]
fn duplicates_rejected_in_reject_mode_or_across_kinds() {
    let settings = Settings {
        on_duplicate: OnDuplicate::Reject,
        ..Settings::default()
    };
    let (mut m, _) = machine(settings);
    start(&mut m, Kind::Fetch);
    assert_eq!(m.begin(Kind::Fetch), Begin::Reject(Failure::Duplicate));

    let (mut m, _) = machine(Settings::default());
    start(&mut m, Kind::Run);
    assert_eq!(m.begin(Kind::Fetch), Begin::Reject(Failure::Duplicate));
    assert_eq!(m.begin(Kind::Run), Begin::Share);
}

#[test]
fn retries_reuse_the_key_and_success_replaces_it() {
    let (mut m, mut keys) = machine(Settings::default());
    let id = start(&mut m, Kind::Fetch);
    assert_eq!(m.key_for(id, FP1, || keys.next()).as_deref(), Some("k1"));
    assert_eq!(m.send(id), Some(1));
    let step = m.settle(id, status(503), 0, 0.5, || keys.next());
    assert_eq!(step, Step::Wait { ms: 150 });
    assert_eq!((m.state(), m.key()), (State::Pending, "k1"));
    assert_eq!(m.send(id), Some(2));
    let step = m.settle(id, status(201), 0, 0.5, || keys.next());
    assert_eq!(step, Step::Done(Settle::Resolve));
    assert_eq!(
        (m.state(), m.key(), m.attempts()),
        (State::Succeeded, "k2", 2)
    );
    assert!(!m.pending());
}

#[test]
fn failure_keeps_the_key_and_the_guard_usable() {
    let (mut m, mut keys) = machine(Settings::default());
    let id = start(&mut m, Kind::Fetch);
    m.key_for(id, FP1, || keys.next());
    for attempt in 1..=3 {
        assert_eq!(m.send(id), Some(attempt));
        let step = m.settle(id, Outcome::Network, 0, 0.0, || keys.next());
        let want = if attempt < 3 {
            Step::Wait { ms: 0 }
        } else {
            Step::Done(Settle::Reject(Failure::Network))
        };
        assert_eq!(step, want);
    }
    assert_eq!((m.state(), m.key()), (State::Failed, "k1"));

    // Manual resubmit of the same payload: same key, attempts start over.
    let id = start(&mut m, Kind::Fetch);
    assert_eq!(m.attempts(), 0);
    assert_eq!(m.key_for(id, FP1, || keys.next()).as_deref(), Some("k1"));
    m.send(id);
    m.settle(id, status(422), 0, 0.5, || keys.next());
    assert_eq!((m.state(), m.key()), (State::Failed, "k1"));

    // The user edits the form: a new key for the new payload.
    let id = start(&mut m, Kind::Fetch);
    assert_eq!(m.key_for(id, FP2, || keys.next()).as_deref(), Some("k2"));
}

#[test]
fn final_outcomes_table() {
    let no_throw = Settings {
        throw_http_errors: false,
        ..Settings::default()
    };
    let long_wait = Outcome::Response {
        status: 503,
        retry_after: Some(RetryAfter::Delay(61_000)),
    };
    // (settings, outcome, settle, state after)
    let table = [
        (
            Settings::default(),
            status(200),
            Settle::Resolve,
            State::Succeeded,
        ),
        (
            Settings::default(),
            status(0),
            Settle::Resolve,
            State::Succeeded,
        ),
        (
            Settings::default(),
            status(400),
            Settle::Reject(Failure::Http { status: 400 }),
            State::Failed,
        ),
        (
            Settings::default(),
            status(301),
            Settle::Reject(Failure::Http { status: 301 }),
            State::Failed,
        ),
        (
            Settings::default(),
            long_wait,
            Settle::Reject(Failure::Http { status: 503 }),
            State::Failed,
        ),
        (
            no_throw.clone(),
            status(422),
            Settle::Resolve,
            State::Failed,
        ),
        (no_throw, long_wait, Settle::Resolve, State::Failed),
        (
            Settings::default(),
            Outcome::Completed,
            Settle::Resolve,
            State::Succeeded,
        ),
        (
            Settings::default(),
            Outcome::Threw,
            Settle::Reject(Failure::Thrown),
            State::Failed,
        ),
    ];
    for (settings, outcome, settle, state) in table {
        let (mut m, mut keys) = machine(settings);
        let id = start(&mut m, Kind::Fetch);
        m.key_for(id, FP1, || keys.next());
        m.send(id);
        assert_eq!(
            m.settle(id, outcome, 0, 0.5, || keys.next()),
            Step::Done(settle),
            "{outcome:?}"
        );
        assert_eq!(m.state(), state, "{outcome:?}");
        let key = if state == State::Succeeded {
            "k2"
        } else {
            "k1"
        };
        assert_eq!(m.key(), key, "{outcome:?}");
    }
}

#[test]
fn retry_after_replaces_backoff() {
    let (mut m, mut keys) = machine(Settings::default());
    let id = start(&mut m, Kind::Fetch);
    m.key_for(id, FP1, || keys.next());
    m.send(id);
    let conflict = Outcome::Response {
        status: 409,
        retry_after: Some(RetryAfter::Delay(1_000)),
    };
    assert_eq!(
        m.settle(id, conflict, 0, 0.5, || keys.next()),
        Step::Wait { ms: 1_000 }
    );
}

#[test]
fn abort_releases_at_once_and_keeps_the_key() {
    let (mut m, mut keys) = machine(Settings::default());
    let id = start(&mut m, Kind::Fetch);
    m.key_for(id, FP1, || keys.next());
    m.send(id);
    assert_eq!(m.abort(), Some(id));
    assert_eq!(
        (m.state(), m.key(), m.pending()),
        (State::Failed, "k1", false)
    );
    assert_eq!(m.abort(), None);

    // The old flight's late answer changes nothing, even a success.
    let step = m.settle(id, status(201), 0, 0.5, || keys.next());
    assert_eq!(step, Step::Done(Settle::Reject(Failure::Aborted)));
    assert_eq!(m.send(id), None);
    assert_eq!(m.key_for(id, FP2, || keys.next()), None);
    assert_eq!((m.state(), m.key()), (State::Failed, "k1"));

    let id2 = start(&mut m, Kind::Fetch);
    assert_ne!(id, id2);
    assert_eq!(m.key_for(id2, FP1, || keys.next()).as_deref(), Some("k1"));
}

#[test]
fn reset_aborts_and_replaces_the_key() {
    let (mut m, mut keys) = machine(Settings::default());
    let id = start(&mut m, Kind::Fetch);
    m.key_for(id, FP1, || keys.next());
    m.send(id);
    assert_eq!(m.reset(keys.next()), Some(id));
    assert_eq!((m.state(), m.key(), m.attempts()), (State::Idle, "k2", 0));
    assert_eq!(
        m.settle(id, status(201), 0, 0.5, || keys.next()),
        Step::Done(Settle::Reject(Failure::Aborted))
    );
    assert_eq!((m.state(), m.key()), (State::Idle, "k2"));
    assert_eq!(m.reset(keys.next()), None);
    assert_eq!(m.key(), "k3");
}

#[test]
fn a_callers_own_key_leaves_the_guards_key_alone() {
    let (mut m, mut keys) = machine(Settings::default());
    let id = start(&mut m, Kind::Fetch);
    m.send(id); // no key_for: the caller's header is sent
    assert_eq!(
        m.settle(id, status(201), 0, 0.5, || keys.next()),
        Step::Done(Settle::Resolve)
    );
    assert_eq!((m.state(), m.key()), (State::Succeeded, "k1"));
}

#[test]
fn run_tasks_keep_the_key_until_success() {
    let (mut m, mut keys) = machine(Settings::default());
    let id = start(&mut m, Kind::Run);
    assert_eq!(m.key_for(id, None, || keys.next()).as_deref(), Some("k1"));
    m.send(id);
    assert_eq!(
        m.settle(id, Outcome::Timeout, 0, 0.5, || keys.next()),
        Step::Wait { ms: 150 }
    );
    m.send(id);
    assert_eq!(
        m.settle(id, Outcome::Threw, 0, 0.5, || keys.next()),
        Step::Done(Settle::Reject(Failure::Thrown))
    );
    let id = start(&mut m, Kind::Run);
    assert_eq!(m.key_for(id, None, || keys.next()).as_deref(), Some("k1"));
    m.send(id);
    m.settle(id, Outcome::Completed, 0, 0.5, || keys.next());
    assert_eq!(m.key(), "k2");
}

#[test]
fn a_result_shared_by_another_tab_is_final() {
    let no_throw = Settings {
        throw_http_errors: false,
        ..Settings::default()
    };
    // (settings, outcome, settle, state): a 503 is not retried here.
    let table = [
        (
            Settings::default(),
            status(201),
            Settle::Resolve,
            State::Succeeded,
        ),
        (
            Settings::default(),
            status(503),
            Settle::Reject(Failure::Http { status: 503 }),
            State::Failed,
        ),
        (
            Settings::default(),
            Outcome::Network,
            Settle::Reject(Failure::Network),
            State::Failed,
        ),
        (no_throw, status(503), Settle::Resolve, State::Failed),
    ];
    for (settings, outcome, settle, state) in table {
        let (mut m, mut keys) = machine(settings);
        let id = start(&mut m, Kind::Fetch);
        assert_eq!(
            m.conclude(id, outcome, || keys.next()),
            settle,
            "{outcome:?}"
        );
        assert_eq!(
            (m.state(), m.key()),
            (state, "k1"),
            "our own key was not sent: kept"
        );
    }
    let (mut m, mut keys) = machine(Settings::default());
    let id = start(&mut m, Kind::Fetch);
    m.abort();
    assert_eq!(
        m.conclude(id, status(201), || keys.next()),
        Settle::Reject(Failure::Aborted)
    );
}

#[test]
fn adopting_a_key_sent_elsewhere_keeps_it_for_the_same_payload() {
    let (mut m, mut keys) = machine(Settings::default());
    let id = start(&mut m, Kind::Fetch);
    assert!(m.adopt(id, KeyLife::restored("other-tab".into(), FP1)));
    assert_eq!(m.key(), "other-tab");
    assert_eq!(
        m.key_for(id, FP1, || keys.next()).as_deref(),
        Some("other-tab")
    );
    m.abort();
    let id = start(&mut m, Kind::Fetch);
    assert!(m.adopt(id, KeyLife::restored("other-tab".into(), FP1)));
    assert_eq!(
        m.key_for(id, FP2, || keys.next()).as_deref(),
        Some("k2"),
        "another payload: a new key"
    );
    m.abort();
    assert!(
        !m.adopt(id, KeyLife::new("late".into())),
        "an ended flight adopts nothing"
    );
    assert_eq!(m.key(), "k2");
}

#[test]
fn version_moves_on_every_observable_change() {
    let (mut m, mut keys) = machine(Settings::default());
    let mut last = m.version();
    let mut moved = |m: &Machine| {
        let v = m.version();
        let did = v != last;
        last = v;
        did
    };
    let id = start(&mut m, Kind::Fetch);
    assert!(moved(&m));
    m.begin(Kind::Fetch); // shared: nothing changes
    assert!(!moved(&m));
    m.key_for(id, FP1, || keys.next()); // first send: same key
    assert!(!moved(&m));
    m.send(id);
    assert!(moved(&m));
    m.settle(id, status(503), 0, 0.5, || keys.next()); // a wait changes nothing visible
    assert!(!moved(&m));
    m.abort();
    assert!(moved(&m));
    m.reset(keys.next());
    assert!(moved(&m));
}

#[test]
fn failure_codes_are_stable() {
    let codes: Vec<_> = [
        Failure::Duplicate,
        Failure::Busy,
        Failure::Timeout,
        Failure::Network,
        Failure::Aborted,
        Failure::Http { status: 500 },
        Failure::CrossTab,
        Failure::Thrown,
    ]
    .map(Failure::code)
    .into();
    assert_eq!(
        codes,
        [
            Some("DUPLICATE"),
            Some("BUSY"),
            Some("TIMEOUT"),
            Some("NETWORK"),
            Some("ABORTED"),
            Some("HTTP"),
            Some("CROSS_TAB"),
            None
        ]
    );
}

/// One thing that can happen to a guard, for the property tests.
#[derive(Clone, Debug)]
enum Op {
    Begin(Kind, Option<u64>),
    Form(Option<u64>),
    KeyFor(Option<u64>),
    Send,
    Settle(Outcome),
    Abort,
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    let outcome = prop_oneof![
        (
            prop_oneof![Just(0u16), 200u16..300, 300u16..600],
            proptest::option::of(0u64..70_000)
        )
            .prop_map(|(status, ra)| Outcome::Response {
                status,
                retry_after: ra.map(RetryAfter::Delay),
            }),
        Just(Outcome::Network),
        Just(Outcome::Timeout),
        Just(Outcome::Completed),
        Just(Outcome::Threw),
    ];
    prop_oneof![
        3 => prop_oneof![
            proptest::option::of(0u64..2).prop_map(|id| Op::Begin(Kind::Fetch, id)),
            Just(Op::Begin(Kind::Run, None)),
        ],
        1 => proptest::option::of(0u64..2).prop_map(Op::Form),
        2 => proptest::option::of(0u64..3).prop_map(Op::KeyFor),
        3 => Just(Op::Send),
        3 => outcome.prop_map(Op::Settle),
        1 => Just(Op::Abort),
        1 => Just(Op::Reset),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Whatever happens, in whatever order: at most one submission is in
    /// flight; the key changes only on success, payload change or reset;
    /// no submission makes more attempts than allowed; a guard is never
    /// left locked after an error.
    #[test]
    fn invariants_hold(ops in proptest::collection::vec(op(), 1..80), on_duplicate in prop_oneof![Just(OnDuplicate::Share), Just(OnDuplicate::Reject)]) {
        let settings = Settings { on_duplicate, ..Settings::default() };
        let max_attempts = settings.policy.retries + 1;
        let (mut m, mut keys) = machine(settings);
        // The flight ids handed out, newest last; ops target the newest.
        let mut flights: Vec<FlightId> = Vec::new();
        let mut identities: Vec<Option<Fingerprint>> = Vec::new();
        for op in ops {
            let before = (m.key().to_owned(), m.key_life().sent_with(), m.flight());
            let target = flights.last().copied();
            let mut allowed_key_change = false;
            match op.clone() {
                Op::Begin(kind, identity) => {
                    let identity = identity.map(Fingerprint);
                    match m.submit(kind, identity) {
                        Begin::Start(id) => {
                            prop_assert!(before.2.is_none(), "started while {:?} in flight", before.2);
                            flights.push(id);
                            identities.push(identity);
                        }
                        Begin::Share => {
                            prop_assert!(before.2.is_some_and(|(_, k)| k == kind) && on_duplicate == OnDuplicate::Share);
                            prop_assert_eq!(identities.last().copied().flatten(), identity, "shared a different submission");
                        }
                        Begin::Reject(Failure::Busy) => {
                            prop_assert!(before.2.is_some_and(|(_, k)| k == kind));
                            prop_assert_ne!(identities.last().copied().flatten(), identity);
                        }
                        Begin::Reject(f) => {
                            prop_assert!(before.2.is_some());
                            prop_assert_eq!(f, Failure::Duplicate);
                        }
                        Begin::Ignore => prop_assert!(false, "a call is never ignored"),
                    }
                }
                Op::Form(identity) => match m.submit_form(identity.map(Fingerprint)) {
                    Begin::Start(id) => {
                        prop_assert!(before.2.is_none());
                        flights.push(id);
                        identities.push(identity.map(Fingerprint));
                    }
                    Begin::Ignore => prop_assert!(before.2.is_some()),
                    other => prop_assert!(false, "a form submit got {:?}", other),
                },
                Op::KeyFor(fp) => if let Some(id) = target {
                    let fp = fp.map(Fingerprint);
                    let got = m.key_for(id, fp, || keys.next());
                    let live = before.2.is_some_and(|(f, _)| f == id);
                    prop_assert_eq!(got.is_some(), live);
                    allowed_key_change = live && matches!((before.1, fp), (Some(a), Some(b)) if a != b);
                },
                Op::Send => if let Some(id) = target {
                    let _ = m.send(id);
                },
                Op::Settle(outcome) => if let Some(id) = target {
                    let live = before.2.is_some_and(|(f, _)| f == id);
                    let step = m.settle(id, outcome, 0, 0.5, || keys.next());
                    if !live {
                        prop_assert_eq!(step, Step::Done(Settle::Reject(Failure::Aborted)));
                    }
                    if matches!(step, Step::Done(_)) {
                        prop_assert!(m.flight().is_none_or(|(f, _)| f != id));
                    }
                    allowed_key_change = live && m.state() == State::Succeeded;
                },
                Op::Abort => {
                    m.abort();
                    prop_assert!(!m.pending());
                }
                Op::Reset => {
                    m.reset(keys.next());
                    prop_assert_eq!(m.state(), State::Idle);
                    allowed_key_change = true;
                }
            }
            if !allowed_key_change {
                prop_assert_eq!(m.key(), before.0.as_str(), "key changed on {:?}", op);
            }
            prop_assert_eq!(m.pending(), m.state() == State::Pending);
            prop_assert!(m.attempts() <= max_attempts, "{} attempts", m.attempts());
            // After anything but a start, a new submission can always begin.
            if !m.pending() {
                prop_assert!(matches!(m.clone().begin(Kind::Fetch), Begin::Start(_)));
            }
        }
    }
}

#[test]
fn only_the_same_submission_shares_the_flight() {
    let (mut m, _) = machine(Settings::default());
    let id = match m.submit(Kind::Fetch, FP1) {
        Begin::Start(id) => id,
        other => panic!("{other:?}"),
    };
    // (what the second call sends, what it gets)
    let table = [
        (FP1, Begin::Share),
        (FP2, Begin::Reject(Failure::Busy)),
        (None, Begin::Reject(Failure::Busy)),
    ];
    for (identity, want) in table {
        assert_eq!(m.submit(Kind::Fetch, identity), want, "{identity:?}");
    }
    assert_eq!(m.submit(Kind::Run, None), Begin::Reject(Failure::Duplicate));
    // Refusing changes nothing: the flight goes on.
    assert_eq!(m.flight(), Some((id, Kind::Fetch)));
    let reject = Settings {
        on_duplicate: OnDuplicate::Reject,
        ..Settings::default()
    };
    let (mut m, _) = machine(reject);
    start(&mut m, Kind::Fetch);
    assert_eq!(
        m.submit(Kind::Fetch, None),
        Begin::Reject(Failure::Duplicate)
    );
    assert_eq!(m.submit(Kind::Fetch, FP2), Begin::Reject(Failure::Busy));
}

#[test]
fn an_attached_form_is_ignored_while_pending_whatever_on_duplicate_says() {
    for on_duplicate in [OnDuplicate::Share, OnDuplicate::Reject] {
        let (mut m, _) = machine(Settings {
            on_duplicate,
            ..Settings::default()
        });
        assert!(matches!(m.submit_form(FP1), Begin::Start(_)));
        assert_eq!(m.submit_form(FP1), Begin::Ignore);
        assert_eq!(m.submit_form(FP2), Begin::Ignore);
        // A fetch of the same submission still shares the form's flight.
        let shared = if on_duplicate == OnDuplicate::Share {
            Begin::Share
        } else {
            Begin::Reject(Failure::Duplicate)
        };
        assert_eq!(m.submit(Kind::Fetch, FP1), shared);
    }
}

#[test]
fn a_pre_aborted_call_leaves_failed_unless_a_flight_runs() {
    let (mut m, _) = machine(Settings::default());
    let v = m.version();
    assert_eq!(m.refuse_aborted(), Failure::Aborted);
    assert_eq!((m.state(), m.pending()), (State::Failed, false));
    assert!(m.version() > v, "listeners hear it");
    let id = start(&mut m, Kind::Fetch);
    m.refuse_aborted();
    assert_eq!(
        m.flight(),
        Some((id, Kind::Fetch)),
        "the flight is untouched"
    );
    assert_eq!(m.state(), State::Pending);
}

#[test]
fn restored_keys_of_other_tabs_are_replaced_and_recorded_keys_adopted_for_the_same_payload() {
    let (mut m, mut keys) = machine(Settings::default());
    let id = start(&mut m, Kind::Fetch);
    m.restored_owner(id, true, || keys.next());
    assert_eq!(m.key(), "k1");
    m.restored_owner(id, false, || keys.next());
    assert_eq!(m.key(), "k2");
    assert!(!m.adopt_recorded(id, "other".into(), FP1, FP2));
    assert!(!m.adopt_recorded(id, "other".into(), None, None));
    assert_eq!(m.key(), "k2");
    assert!(m.adopt_recorded(id, "other".into(), FP1, FP1));
    assert_eq!(m.key_for(id, FP1, || keys.next()).as_deref(), Some("other"));
}
