//! The store contract through the [`IdempotencyStore`] trait alone: every
//! protocol row, expiry, takeover with fencing, release, purge and a claim
//! race, run against each store by `tests/stores.rs` (memory, SQLite) and
//! `tests/postgres.rs` (PostgreSQL).
//!
//! Each check takes a `scope`, used as the principal, so that checks can
//! share one database. Times start at [`T0`]; the retention is [`RETENTION`]
//! and the lock timeout [`LOCK_TIMEOUT`] (both in ms).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use submit_guard_idempotency::{
    Claim, ClaimOutcome, ClaimRequest, CommitError, IdempotencyStore, RecordKey, Reply,
};

/// The clock of the checks starts here (2025-01-01T00:00:00Z).
pub const T0: i64 = 1_735_689_600_000;
/// Records older than this (ms) are expired.
pub const RETENTION: i64 = 60_000;
/// Locks older than this (ms) are stale.
pub const LOCK_TIMEOUT: i64 = 1_000;

/// A claim of `key` under `scope` with fingerprint `fp` at time `now`.
pub fn request(scope: &str, key: &str, fp: &str, now: i64) -> ClaimRequest {
    ClaimRequest {
        record: RecordKey {
            principal: scope.to_owned(),
            key: key.to_owned(),
        },
        fingerprint: fp.to_owned(),
        method: "POST".to_owned(),
        path: "/things".to_owned(),
        now_ms: now,
        expired_before_ms: now - RETENTION,
        lock_expired_before_ms: now - LOCK_TIMEOUT,
    }
}

/// A 201 with a header that is stored and one that never is.
pub fn reply(id: &str) -> Reply {
    Reply {
        status: 201,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("location".into(), format!("/things/{id}")),
            ("set-cookie".into(), "sid=secret".into()),
        ],
        body: format!("{{\"id\":\"{id}\"}}").into_bytes(),
    }
}

/// `reply(id)` as a replay returns it: without `Set-Cookie`.
pub fn stored(id: &str) -> Reply {
    let mut reply = reply(id);
    reply.headers.retain(|(name, _)| name != "set-cookie");
    reply
}

/// Claims and expects a fresh claim; returns it.
pub async fn claimed(store: &dyn IdempotencyStore, req: ClaimRequest) -> (Claim, bool) {
    let record = req.record.clone();
    match store.claim(req).await.expect("claim") {
        ClaimOutcome::Claimed { fence, takeover } => (Claim::new(record, fence), takeover),
        other => panic!("expected a claim on {record:?}, got {other:?}"),
    }
}

/// Completes `claim` with `reply` (plain mode) and checks the receipt.
pub async fn complete(store: &dyn IdempotencyStore, claim: &Claim, reply: Reply) {
    let committed = store
        .complete(claim.clone(), reply)
        .await
        .expect("complete");
    assert_eq!(committed.claim(), claim);
}

/// A new key is claimed with fence 1; a second claim while it is held is
/// `InFlight` with the same body and `Mismatch` with another.
pub async fn new_key_then_in_flight(store: &dyn IdempotencyStore, scope: &str) {
    let (claim, takeover) = claimed(store, request(scope, "k", "fp", T0)).await;
    assert_eq!((claim.fence, takeover), (1, false));
    assert_eq!(
        store
            .claim(request(scope, "k", "fp", T0 + 10))
            .await
            .unwrap(),
        ClaimOutcome::InFlight
    );
    assert_eq!(
        store
            .claim(request(scope, "k", "other", T0 + 10))
            .await
            .unwrap(),
        ClaimOutcome::Mismatch
    );
}

/// A completed key replays its stored reply (never `Set-Cookie`) to the same
/// request and refuses another body; a second completion under the same
/// fence is refused.
pub async fn complete_then_replay(store: &dyn IdempotencyStore, scope: &str) {
    let (claim, _) = claimed(store, request(scope, "k", "fp", T0)).await;
    let committed = store.complete(claim.clone(), reply("a")).await.unwrap();
    assert_eq!(committed.claim(), &claim);
    assert_eq!(
        store
            .claim(request(scope, "k", "fp", T0 + 10))
            .await
            .unwrap(),
        ClaimOutcome::Completed(stored("a"))
    );
    assert_eq!(
        store
            .claim(request(scope, "k", "other", T0 + 10))
            .await
            .unwrap(),
        ClaimOutcome::Mismatch
    );
    assert_eq!(
        store.complete(claim, reply("b")).await,
        Err(CommitError::FenceLost),
        "a done record is not completed twice"
    );
    // Well past the lock timeout, a done record still replays.
    assert_eq!(
        store
            .claim(request(scope, "k", "fp", T0 + 10 * LOCK_TIMEOUT))
            .await
            .unwrap(),
        ClaimOutcome::Completed(stored("a"))
    );
}

/// A released claim lets the next request claim afresh with fence + 1, and
/// only the fence that holds the record releases it.
pub async fn release_then_reclaim(store: &dyn IdempotencyStore, scope: &str) {
    let (claim, _) = claimed(store, request(scope, "k", "fp", T0)).await;
    assert!(store.release(claim.clone()).await.unwrap());
    assert!(
        !store.release(claim.clone()).await.unwrap(),
        "released twice"
    );
    // Another body may use a released key: nothing was stored under it.
    let (again, takeover) = claimed(store, request(scope, "k", "other", T0 + 10)).await;
    assert_eq!((again.fence, takeover), (2, false));
    assert!(
        !store.release(claim.clone()).await.unwrap(),
        "the old fence releases nothing"
    );
    assert_eq!(
        store.complete(claim, reply("old")).await,
        Err(CommitError::FenceLost)
    );
    complete(store, &again, reply("new")).await;
    assert_eq!(
        store
            .claim(request(scope, "k", "other", T0 + 20))
            .await
            .unwrap(),
        ClaimOutcome::Completed(stored("new"))
    );
}

/// After the retention, a completed key is new again (fence + 1, not a
/// takeover), with any body.
pub async fn expiry(store: &dyn IdempotencyStore, scope: &str) {
    let (claim, _) = claimed(store, request(scope, "k", "fp", T0)).await;
    complete(store, &claim, reply("a")).await;
    let before = T0 + RETENTION - 1;
    assert_eq!(
        store
            .claim(request(scope, "k", "fp", before))
            .await
            .unwrap(),
        ClaimOutcome::Completed(stored("a"))
    );
    let (again, takeover) = claimed(store, request(scope, "k", "other", T0 + RETENTION)).await;
    assert_eq!((again.fence, takeover), (2, false));
}

/// A lock older than the lock timeout is taken over by the same request
/// (fence + 1); the old holder can neither complete nor release; a lock that
/// is not stale yet is not taken over; another body is still a mismatch.
pub async fn takeover_with_fencing(store: &dyn IdempotencyStore, scope: &str) {
    let (old, _) = claimed(store, request(scope, "k", "fp", T0)).await;
    assert_eq!(
        store
            .claim(request(scope, "k", "fp", T0 + LOCK_TIMEOUT - 1))
            .await
            .unwrap(),
        ClaimOutcome::InFlight,
        "not stale yet"
    );
    assert_eq!(
        store
            .claim(request(scope, "k", "other", T0 + LOCK_TIMEOUT))
            .await
            .unwrap(),
        ClaimOutcome::Mismatch,
        "a stale lock is not handed to another body"
    );
    let (new, takeover) = claimed(store, request(scope, "k", "fp", T0 + LOCK_TIMEOUT)).await;
    assert_eq!((new.fence, takeover), (2, true));
    assert_eq!(
        store.complete(old.clone(), reply("late")).await,
        Err(CommitError::FenceLost),
        "the presumed-dead holder's late commit is refused"
    );
    assert!(!store.release(old).await.unwrap());
    complete(store, &new, reply("new")).await;
    assert_eq!(
        store
            .claim(request(scope, "k", "fp", T0 + LOCK_TIMEOUT + 1))
            .await
            .unwrap(),
        ClaimOutcome::Completed(stored("new"))
    );
}

/// The same key under two principals is two records.
pub async fn principals_apart(store: &dyn IdempotencyStore, scope: &str) {
    let alice = format!("{scope}/alice");
    let bob = format!("{scope}/bob");
    let (a, _) = claimed(store, request(&alice, "k", "fp", T0)).await;
    complete(store, &a, reply("alice")).await;
    let (b, _) = claimed(store, request(&bob, "k", "fp", T0 + 1)).await;
    assert_eq!(b.fence, 1, "bob's record is his own");
}

/// Purge deletes expired records, except locks that are not stale yet (when
/// the retention is shorter than the lock timeout), and says how many. Uses
/// times long before [`T0`] so that it never touches other checks' records
/// in a shared database.
pub async fn purge(store: &dyn IdempotencyStore, scope: &str) {
    let t = 1_000_000;
    let (done, _) = claimed(store, request(scope, "done", "fp", t)).await;
    complete(store, &done, reply("d")).await;
    let (free, _) = claimed(store, request(scope, "free", "fp", t)).await;
    store.release(free).await.unwrap();
    let _lock = claimed(store, request(scope, "lock", "fp", t)).await;
    let _young = claimed(store, request(scope, "young", "fp", t + 10)).await;
    // Expired: created at or before t + 1; the lock taken at t is not stale
    // before t - 1.
    assert_eq!(
        store.purge(t + 1, t - 1).await.unwrap(),
        2,
        "done and free, not the lock"
    );
    assert_eq!(
        store
            .claim(request(scope, "lock", "fp", t + 5))
            .await
            .unwrap(),
        ClaimOutcome::InFlight,
        "the lock survived"
    );
    assert_eq!(store.purge(t + 1, t).await.unwrap(), 1, "the stale lock");
    assert_eq!(store.purge(t + 1, t).await.unwrap(), 0, "nothing left");
    // The purged keys are new again (fence 1); the young one is untouched.
    for key in ["done", "free", "lock"] {
        let (claim, _) = claimed(store, request(scope, key, "fp", t + 20)).await;
        assert_eq!(claim.fence, 1, "{key} was deleted");
    }
    assert_eq!(
        store
            .claim(request(scope, "young", "fp", t + 20))
            .await
            .unwrap(),
        ClaimOutcome::InFlight
    );
}

/// `n` concurrent claims of one new key over `stores` (round robin): exactly
/// one is claimed, every other one is in flight, none fails.
pub async fn claim_race(stores: &[Arc<dyn IdempotencyStore>], scope: &str, n: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let store = stores[i % stores.len()].clone();
        let req = request(scope, "race", "fp", T0);
        tasks.spawn(async move { store.claim(req).await });
    }
    let (mut claims, mut in_flight) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            Ok(ClaimOutcome::Claimed { fence: 1, .. }) => claims += 1,
            Ok(ClaimOutcome::InFlight) => in_flight += 1,
            other => panic!("unexpected outcome in a claim race: {other:?}"),
        }
    }
    assert_eq!((claims, in_flight), (1, n - 1));
}

/// Every check above on one store (the race with a single store).
pub async fn all(store: Arc<dyn IdempotencyStore>, scope: &str) {
    new_key_then_in_flight(&*store, &format!("{scope}/new")).await;
    complete_then_replay(&*store, &format!("{scope}/replay")).await;
    release_then_reclaim(&*store, &format!("{scope}/release")).await;
    expiry(&*store, &format!("{scope}/expiry")).await;
    takeover_with_fencing(&*store, &format!("{scope}/takeover")).await;
    principals_apart(&*store, &format!("{scope}/principals")).await;
    purge(&*store, &format!("{scope}/purge")).await;
    claim_race(&[store], &format!("{scope}/race"), 64).await;
}
