//! The store contract, run against both stores.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;

use super::*;
use crate::model::{Invite, Order, QrSession};
use submit_guard_idempotency::{ClaimOutcome, ClaimRequest, RecordKey};

const T0: i64 = 1_000_000;

/// Domain work that describes its outcome as text.
type Step = Box<dyn FnOnce(&mut dyn Tx) -> Result<String, StoreError> + Send>;

struct Fixture {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

fn memory() -> Fixture {
    Fixture {
        store: Arc::new(MemoryStore::new()),
        _dir: None,
    }
}

fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("store.db")).unwrap();
    Fixture {
        store: Arc::new(store),
        _dir: Some(dir),
    }
}

fn claim(key: &str, fingerprint: &str, now: i64) -> ClaimRequest {
    ClaimRequest {
        record: RecordKey {
            principal: "anonymous".into(),
            key: key.into(),
        },
        fingerprint: fingerprint.into(),
        method: "POST".into(),
        path: "/api/orgs".into(),
        now_ms: now,
        // Retention 1000 s, lock timeout 30 s.
        expired_before_ms: now - 1_000_000,
        lock_expired_before_ms: now - 30_000,
    }
}

fn fence(key: &str, fence: i64) -> Claim {
    Claim::new(
        RecordKey {
            principal: "anonymous".into(),
            key: key.into(),
        },
        fence,
    )
}

/// Runs a records call to completion (the records' API is async).
fn block<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn claim_on(s: &dyn Store, req: ClaimRequest) -> Result<ClaimOutcome, StoreError> {
    block(s.records().claim(req))
}

fn release_on(s: &dyn Store, claim: Claim) -> Result<bool, StoreError> {
    block(s.records().release(claim))
}

fn purge_on(
    s: &dyn Store,
    expired_before_ms: i64,
    lock_expired_before_ms: i64,
) -> Result<u64, StoreError> {
    block(s.records().purge(expired_before_ms, lock_expired_before_ms))
}

fn create_org(name: &'static str) -> Work {
    Box::new(move |tx| {
        let org = tx.create_org(
            &uuid::Uuid::new_v4().to_string(),
            &uuid::Uuid::new_v4().to_string(),
            name,
            "p",
            T0,
        )?;
        Ok(
            Reply::json(StatusCode::CREATED, &json!({ "slug": org.slug }))
                .with_header("location", "/api/orgs/x")
                .with_header("set-cookie", "sid=1"),
        )
    })
}

fn org_count(store: &dyn Store) -> usize {
    let reply = store
        .read(Box::new(|tx| {
            Ok(Reply::json(StatusCode::OK, &tx.list_orgs(&Page::all())?))
        }))
        .unwrap();
    serde_json::from_slice::<Vec<serde_json::Value>>(&reply.body)
        .unwrap()
        .len()
}

fn claimed(fence: i64, takeover: bool) -> ClaimOutcome {
    ClaimOutcome::Claimed { fence, takeover }
}

fn claim_complete_replay(f: Fixture) {
    let s = &*f.store;
    assert_eq!(
        claim_on(s, claim("k", "fp", T0)).unwrap(),
        claimed(1, false)
    );
    assert_eq!(
        claim_on(s, claim("k", "fp", T0 + 1)).unwrap(),
        ClaimOutcome::InFlight
    );
    assert_eq!(
        claim_on(s, claim("k", "other", T0 + 1)).unwrap(),
        ClaimOutcome::Mismatch
    );
    let TxOutcome::Committed(reply, Some(_)) = s
        .transact(Some(&fence("k", 1)), create_org("Acme"))
        .unwrap()
    else {
        panic!("expected a commit");
    };
    assert_eq!(reply.status, 201);
    let ClaimOutcome::Completed(stored) = claim_on(s, claim("k", "fp", T0 + 2)).unwrap() else {
        panic!("expected a replay");
    };
    assert_eq!(stored.body, reply.body);
    let names: Vec<_> = stored.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["content-type", "location"],
        "set-cookie is never stored"
    );
    assert_eq!(
        claim_on(s, claim("k", "other", T0 + 2)).unwrap(),
        ClaimOutcome::Mismatch
    );
    assert_eq!(org_count(s), 1);
}

fn failure_rolls_back_and_release_rearms(f: Fixture) {
    let s = &*f.store;
    assert_eq!(
        claim_on(s, claim("k", "fp", T0)).unwrap(),
        claimed(1, false)
    );
    let failing: Work = Box::new(|tx| {
        tx.create_org("o1", "m1", "Acme", "p", T0)?;
        Ok(Reply::json(StatusCode::INTERNAL_SERVER_ERROR, &json!({})))
    });
    assert!(matches!(
        s.transact(Some(&fence("k", 1)), failing).unwrap(),
        TxOutcome::RolledBack(_)
    ));
    assert_eq!(org_count(s), 0, "a failed reply rolls back its effect");
    assert!(release_on(s, fence("k", 1)).unwrap());
    assert!(!release_on(s, fence("k", 1)).unwrap(), "released once");
    // A released key is claimable again, even with another body (nothing was stored).
    assert_eq!(
        claim_on(s, claim("k", "fixed-body", T0 + 1)).unwrap(),
        claimed(2, false)
    );
    assert!(matches!(
        s.transact(Some(&fence("k", 2)), create_org("Acme"))
            .unwrap(),
        TxOutcome::Committed(..)
    ));
    assert_eq!(org_count(s), 1);
}

fn stale_holder_is_fenced_off(f: Fixture) {
    let s = &*f.store;
    assert_eq!(
        claim_on(s, claim("k", "fp", T0)).unwrap(),
        claimed(1, false)
    );
    // Not yet stale: still in flight.
    assert_eq!(
        claim_on(s, claim("k", "fp", T0 + 29_000)).unwrap(),
        ClaimOutcome::InFlight
    );
    // Stale but another body: still a mismatch, never a takeover.
    assert_eq!(
        claim_on(s, claim("k", "other", T0 + 31_000)).unwrap(),
        ClaimOutcome::Mismatch
    );
    assert_eq!(
        claim_on(s, claim("k", "fp", T0 + 31_000)).unwrap(),
        claimed(2, true)
    );
    // The presumed-dead holder wakes up and tries to commit: rejected, effect rolled back.
    assert_eq!(
        s.transact(Some(&fence("k", 1)), create_org("Stale"))
            .unwrap(),
        TxOutcome::FenceLost
    );
    assert_eq!(org_count(s), 0);
    assert!(
        !release_on(s, fence("k", 1)).unwrap(),
        "a stale holder cannot release the new claim"
    );
    assert!(matches!(
        s.transact(Some(&fence("k", 2)), create_org("Acme"))
            .unwrap(),
        TxOutcome::Committed(..)
    ));
    assert_eq!(org_count(s), 1);
    assert!(matches!(
        claim_on(s, claim("k", "fp", T0 + 32_000)).unwrap(),
        ClaimOutcome::Completed(_)
    ));
}

fn retention_expiry_and_purge(f: Fixture) {
    let s = &*f.store;
    assert_eq!(
        claim_on(s, claim("old", "fp", T0)).unwrap(),
        claimed(1, false)
    );
    assert!(matches!(
        s.transact(Some(&fence("old", 1)), create_org("Acme"))
            .unwrap(),
        TxOutcome::Committed(..)
    ));
    let later = T0 + 1_000_000;
    // Exactly at the retention boundary the key is expired: treated as new, any body.
    assert_eq!(
        claim_on(s, claim("old", "new-body", later)).unwrap(),
        claimed(2, false)
    );
    assert!(release_on(s, fence("old", 2)).unwrap());
    // Purge: an expired record goes, a live lock stays, a fresh record stays.
    assert_eq!(
        claim_on(s, claim("live", "fp", later)).unwrap(),
        claimed(1, false)
    );
    let much_later = later + 1_000_000;
    assert_eq!(
        claim_on(s, claim("fresh", "fp", much_later)).unwrap(),
        claimed(1, false)
    );
    assert_eq!(
        purge_on(s, much_later - 1_000_000, much_later - 30_000).unwrap(),
        2
    );
    assert_eq!(
        claim_on(s, claim("old", "x", much_later)).unwrap(),
        claimed(1, false),
        "purged: starts over"
    );
    assert_eq!(
        claim_on(s, claim("fresh", "fp", much_later)).unwrap(),
        ClaimOutcome::InFlight
    );
}

fn domain_rules(f: Fixture) {
    let s = &*f.store;
    let run = |work: Work| match s.transact(None, work).unwrap() {
        TxOutcome::Committed(reply, _) | TxOutcome::RolledBack(reply) => {
            serde_json::from_slice::<serde_json::Value>(&reply.body).unwrap()
        }
        TxOutcome::FenceLost => panic!("unfenced work cannot lose a fence"),
    };
    let slugs: Vec<_> = (0..3)
        .map(|_| run(create_org("Acme"))["slug"].clone())
        .collect();
    assert_eq!(slugs, ["acme", "acme-1", "acme-2"]);

    let invite = |token: &str, expires_at: i64| Invite {
        token: token.into(),
        email: "a@b.c".into(),
        expires_at,
        used_at: None,
        claim_id: None,
        created_at: T0,
    };
    let claim_invite = |token: &'static str, id: &'static str| {
        s.transact(
            None,
            Box::new(move |tx| {
                let outcome = tx.claim_invite(token, id, T0 + 10)?;
                Ok(Reply::json(StatusCode::OK, &format!("{outcome:?}")))
            }),
        )
        .unwrap()
    };
    let body = |outcome: TxOutcome| match outcome {
        TxOutcome::Committed(r, _) => serde_json::from_slice::<String>(&r.body).unwrap(),
        other => panic!("{other:?}"),
    };
    let (live, dead) = (invite("live", T0 + 1_000), invite("dead", T0 + 10));
    s.transact(
        None,
        Box::new(move |tx| {
            tx.create_invite(&live)?;
            tx.create_invite(&dead)?;
            Ok(Reply::json(StatusCode::CREATED, &()))
        }),
    )
    .unwrap();
    assert_eq!(body(claim_invite("live", "c1")), r#"Created("c1")"#);
    assert_eq!(body(claim_invite("live", "c2")), r#"Repeat("c1")"#);
    assert_eq!(
        body(claim_invite("dead", "c3")),
        "Expired",
        "expires_at > now is strict"
    );
    assert_eq!(body(claim_invite("nope", "c4")), "Unknown");

    let order = Order {
        id: "o1".into(),
        version: 1,
        items: json!([]),
        created_at: T0,
    };
    let step = move |f: Step| {
        body(
            s.transact(
                None,
                Box::new(move |tx| Ok(Reply::json(StatusCode::OK, &f(tx)?))),
            )
            .unwrap(),
        )
    };
    step(Box::new(move |tx| {
        tx.create_order(&order).map(|()| String::new())
    }));
    let pay = |id: &'static str| -> Step {
        Box::new(move |tx| Ok(format!("{:?}", tx.pay_order("o1", id, T0)?)))
    };
    assert!(step(pay("p1")).starts_with(r#"Paid(Payment { payment_id: "p1""#));
    assert!(step(pay("p2")).starts_with(r#"AlreadyPaid(Payment { payment_id: "p1""#));
    let update = |version: i64| -> Step {
        Box::new(move |tx| {
            Ok(format!(
                "{:?}",
                tx.update_items("o1", &json!([version]), version)?
            ))
        })
    };
    assert!(step(update(1)).starts_with("Updated(Order { id: \"o1\", version: 2"));
    assert_eq!(step(update(1)), "Stale(2)");
    let qr = QrSession {
        id: "q1".into(),
        table: json!(7),
        created_at: T0,
    };
    step(Box::new(move |tx| {
        tx.create_qr_session(&qr)?;
        Ok(format!("{:?}", tx.list_qr_sessions(&Page::all())?))
    }));
    assert_eq!(
        step(Box::new(|tx| Ok(format!(
            "{}",
            tx.list_qr_sessions(&Page::all())?[0].table
        )))),
        "7"
    );
}

fn fault_counters_and_reset(f: Fixture) {
    let s = &*f.store;
    assert_eq!(s.count_fault("key:a").unwrap(), 1);
    assert_eq!(s.count_fault("key:a").unwrap(), 2);
    assert_eq!(s.count_fault("key:b").unwrap(), 1);
    s.transact(None, create_org("Acme")).unwrap();
    claim_on(s, claim("k", "fp", T0)).unwrap();
    s.reset().unwrap();
    assert_eq!(org_count(s), 0);
    assert_eq!(s.count_fault("key:a").unwrap(), 1);
    assert_eq!(
        claim_on(s, claim("k", "fp", T0)).unwrap(),
        claimed(1, false)
    );
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            $( #[test] fn $name() { super::$name(super::memory()) } )*
        }
        mod sqlite_store {
            $( #[test] fn $name() { super::$name(super::sqlite()) } )*
        }
    };
}

contract!(
    claim_complete_replay,
    failure_rolls_back_and_release_rearms,
    stale_holder_is_fenced_off,
    retention_expiry_and_purge,
    domain_rules,
    fault_counters_and_reset,
);

#[test]
fn sqlite_state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(
            claim_on(&s, claim("k", "fp", T0)).unwrap(),
            claimed(1, false)
        );
        s.transact(Some(&fence("k", 1)), create_org("Acme"))
            .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert!(matches!(
        claim_on(&s, claim("k", "fp", T0 + 1)).unwrap(),
        ClaimOutcome::Completed(_)
    ));
    assert_eq!(org_count(&s), 1);
}

/// Issue 12, fault 9: a read in progress never holds up a write (SQLite:
/// reads run on connections of their own, in WAL snapshots).
fn writes_proceed_during_a_read(f: Fixture) {
    use std::sync::mpsc;
    let store = f.store.clone();
    let (reading, read_started) = mpsc::channel();
    let (finish_read, until_told) = mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        store
            .read(Box::new(move |tx| {
                let before = tx.list_orgs(&Page::all())?.len();
                reading.send(()).unwrap();
                until_told.recv().unwrap();
                // Still the snapshot the read started with.
                assert_eq!(tx.list_orgs(&Page::all())?.len(), before);
                Ok(Reply::json(StatusCode::OK, &before))
            }))
            .unwrap()
    });
    read_started.recv().unwrap();
    let store = f.store.clone();
    let (wrote, write_done) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = store.transact(None, create_org("During")).unwrap();
        wrote.send(outcome).unwrap();
    });
    let outcome = write_done.recv_timeout(std::time::Duration::from_secs(20));
    finish_read.send(()).unwrap();
    let reply = reader.join().unwrap();
    assert!(
        matches!(outcome, Ok(TxOutcome::Committed(..))),
        "the write waited for the read: {outcome:?}"
    );
    assert_eq!(reply.body, b"0");
    assert_eq!(org_count(&*f.store), 1);
}

#[test]
fn memory_writes_proceed_during_a_read() {
    writes_proceed_during_a_read(memory());
}

#[test]
fn sqlite_writes_proceed_during_a_read() {
    writes_proceed_during_a_read(sqlite());
}
