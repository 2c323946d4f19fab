//! [`MemoryStore`]: records in a map behind one mutex, for one process.
//!
//! The app commits under a claim with [`MemoryStore::begin`]: it returns a
//! [`MemoryTx`] that holds the store's lock after checking the fence, so no
//! takeover or release can happen between the app's effect and
//! [`MemoryTx::commit`]. Do the effect while holding it (synchronously: the
//! guard is a `std` mutex guard, never held across `.await`), and drop it
//! without committing to give up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::protocol::Reply;
use crate::store::{
    BoxFuture, Claim, ClaimOutcome, ClaimRequest, CommitError, Committed, IdempotencyStore,
    RecordKey, StoreError,
};

/// Records that live and die with the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<RecordKey, Record>>,
    unavailable: AtomicBool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecordState {
    Locked,
    Done,
    Free,
}

#[derive(Debug)]
struct Record {
    fingerprint: String,
    fence: i64,
    state: RecordState,
    locked_at: i64,
    created_at: i64,
    reply: Option<Reply>,
}

type Records = HashMap<RecordKey, Record>;

/// A commit in progress under a claim: holds the store's lock; see the
/// module docs.
#[derive(Debug)]
pub struct MemoryTx<'a> {
    records: MutexGuard<'a, Records>,
    claim: Claim,
}

impl MemoryTx<'_> {
    /// Stores `reply` under the claim (which the lock kept valid) and returns
    /// the receipt. A reply that is not a success (`reply.is_success()`)
    /// should not be committed: drop the transaction and let the layer
    /// release the claim instead.
    pub fn commit(mut self, reply: &Reply) -> Committed {
        let stored = self.claim.stored_reply(reply);
        if let Some(record) = self.records.get_mut(&self.claim.record) {
            record.state = RecordState::Done;
            record.reply = Some(stored);
        }
        Committed::attest(self.claim)
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Testing aid: while unavailable, every call fails with
    /// [`StoreError::Unavailable`], as an unreachable database would.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// Deletes every record.
    pub fn clear(&self) -> Result<(), StoreError> {
        self.lock()?.clear();
        Ok(())
    }

    /// Starts a commit under `claim`: locks the store and checks that the
    /// claim still holds its record ([`CommitError::FenceLost`] if not).
    pub fn begin(&self, claim: &Claim) -> Result<MemoryTx<'_>, CommitError> {
        let records = self.lock()?;
        match records.get(&claim.record) {
            Some(r) if r.fence == claim.fence && r.state == RecordState::Locked => Ok(MemoryTx {
                records,
                claim: claim.clone(),
            }),
            _ => Err(CommitError::FenceLost),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Records>, StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("memory store switched off".into()));
        }
        // Every update below is a single assignment sequence that cannot
        // panic halfway, so a poisoned lock still guards consistent records.
        Ok(self
            .records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    fn claim_now(&self, req: &ClaimRequest) -> Result<ClaimOutcome, StoreError> {
        let mut records = self.lock()?;
        let Some(record) = records.get_mut(&req.record) else {
            records.insert(
                req.record.clone(),
                Record {
                    fingerprint: req.fingerprint.clone(),
                    fence: 1,
                    state: RecordState::Locked,
                    locked_at: req.now_ms,
                    created_at: req.now_ms,
                    reply: None,
                },
            );
            return Ok(ClaimOutcome::Claimed {
                fence: 1,
                takeover: false,
            });
        };
        let expired = record.created_at <= req.expired_before_ms;
        let rearm =
            record.state == RecordState::Free || (record.state == RecordState::Done && expired);
        let takeover = record.state == RecordState::Locked
            && record.locked_at <= req.lock_expired_before_ms
            && (record.fingerprint == req.fingerprint || expired);
        if rearm || takeover {
            record.fingerprint.clone_from(&req.fingerprint);
            record.fence += 1;
            record.state = RecordState::Locked;
            record.locked_at = req.now_ms;
            record.created_at = req.now_ms;
            record.reply = None;
            return Ok(ClaimOutcome::Claimed {
                fence: record.fence,
                takeover,
            });
        }
        Ok(
            match (record.state, record.fingerprint == req.fingerprint) {
                (_, false) => ClaimOutcome::Mismatch,
                (RecordState::Done, true) => match &record.reply {
                    Some(reply) => ClaimOutcome::Completed(reply.clone()),
                    None => {
                        return Err(StoreError::Internal(
                            "completed record without a reply".into(),
                        ));
                    }
                },
                (RecordState::Locked | RecordState::Free, true) => ClaimOutcome::InFlight,
            },
        )
    }

    fn release_now(&self, claim: &Claim) -> Result<bool, StoreError> {
        let mut records = self.lock()?;
        Ok(match records.get_mut(&claim.record) {
            Some(r) if r.fence == claim.fence && r.state == RecordState::Locked => {
                r.state = RecordState::Free;
                true
            }
            _ => false,
        })
    }

    fn purge_now(
        &self,
        expired_before_ms: i64,
        lock_expired_before_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut records = self.lock()?;
        let before = records.len();
        records.retain(|_, r| {
            let expired = r.created_at <= expired_before_ms;
            let live_lock = r.state == RecordState::Locked && r.locked_at > lock_expired_before_ms;
            !expired || live_lock
        });
        Ok(u64::try_from(before - records.len()).unwrap_or(u64::MAX))
    }
}

// Every call is a short critical section: run inline rather than on the
// blocking pool, which would cost more than the call.
impl IdempotencyStore for MemoryStore {
    fn claim(&self, req: ClaimRequest) -> BoxFuture<'_, Result<ClaimOutcome, StoreError>> {
        let outcome = self.claim_now(&req);
        Box::pin(std::future::ready(outcome))
    }

    fn complete(
        &self,
        claim: Claim,
        reply: Reply,
    ) -> BoxFuture<'_, Result<Committed, CommitError>> {
        let committed = self.begin(&claim).map(|tx| tx.commit(&reply));
        Box::pin(std::future::ready(committed))
    }

    fn release(&self, claim: Claim) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(std::future::ready(self.release_now(&claim)))
    }

    fn purge(
        &self,
        expired_before_ms: i64,
        lock_expired_before_ms: i64,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        let purged = self.purge_now(expired_before_ms, lock_expired_before_ms);
        Box::pin(std::future::ready(purged))
    }
}
