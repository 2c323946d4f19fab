//! The in-memory store: everything behind one mutex. A transaction works on
//! a copy of the domain and swaps it in only when the reply succeeds and the
//! fence still holds, so it has the same all-or-nothing semantics as SQLite.
//! The domain's tables are persistent collections (`imbl`), so that copy is
//! O(1) and shares structure, whatever the store holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use imbl::{HashSet, Vector};
use serde_json::Value;

use super::{ClaimOutcome, ClaimRequest, Fence, RecordKey, Store, StoreError, Tx, TxOutcome, Work};
use crate::model::{
    self, Invite, InviteClaim, Membership, Order, Org, PayOutcome, Payment, QrSession,
    UpdateOutcome,
};
use crate::protocol::Reply;

/// A store that lives and dies with the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    unavailable: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    domain: Domain,
    records: HashMap<RecordKey, Record>,
    fault_counters: HashMap<String, u64>,
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

#[derive(Debug, Clone, Default)]
struct Domain {
    orgs: Vector<Org>,
    slugs: HashSet<String>,
    /// Per slug base: the number the next numbered candidate takes.
    slug_counters: imbl::HashMap<String, u32>,
    memberships: Vector<Membership>,
    invites: Vector<Invite>,
    qr_sessions: Vector<QrSession>,
    orders: Vector<Order>,
    payments: Vector<Payment>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Testing aid: while unavailable, every call fails with
    /// [`StoreError::Unavailable`], as a SQLite file locked by another
    /// process would.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("memory store switched off".into()));
        }
        // A panic inside a transaction never leaves a half-applied domain
        // (the copy is swapped in whole), so a poisoned lock is still sound.
        Ok(self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

impl Store for MemoryStore {
    fn blocks(&self) -> bool {
        false
    }

    fn claim(&self, req: &ClaimRequest) -> Result<ClaimOutcome, StoreError> {
        let mut state = self.lock()?;
        let Some(record) = state.records.get_mut(&req.record) else {
            state.records.insert(
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

    fn release(&self, fence: &Fence) -> Result<bool, StoreError> {
        let mut state = self.lock()?;
        Ok(match state.records.get_mut(&fence.record) {
            Some(r) if r.fence == fence.fence && r.state == RecordState::Locked => {
                r.state = RecordState::Free;
                true
            }
            _ => false,
        })
    }

    fn transact(&self, fence: Option<&Fence>, work: Work) -> Result<TxOutcome, StoreError> {
        let mut state = self.lock()?;
        let mut draft = state.domain.clone();
        let reply = work(&mut MemTx { d: &mut draft })?;
        if !reply.is_success() {
            return Ok(TxOutcome::RolledBack(reply));
        }
        if let Some(fence) = fence {
            match state.records.get_mut(&fence.record) {
                Some(r) if r.fence == fence.fence && r.state == RecordState::Locked => {
                    r.state = RecordState::Done;
                    r.reply = Some(Reply {
                        headers: reply.stored_headers(),
                        ..reply.clone()
                    });
                }
                _ => return Ok(TxOutcome::FenceLost),
            }
        }
        state.domain = draft;
        Ok(TxOutcome::Committed(reply))
    }

    fn read(&self, work: Work) -> Result<Reply, StoreError> {
        let state = self.lock()?;
        let mut snapshot = state.domain.clone();
        drop(state);
        work(&mut MemTx { d: &mut snapshot })
    }

    fn purge(
        &self,
        expired_before_ms: i64,
        lock_expired_before_ms: i64,
    ) -> Result<usize, StoreError> {
        let mut state = self.lock()?;
        let before = state.records.len();
        state.records.retain(|_, r| {
            let expired = r.created_at <= expired_before_ms;
            let live_lock = r.state == RecordState::Locked && r.locked_at > lock_expired_before_ms;
            !expired || live_lock
        });
        Ok(before - state.records.len())
    }

    fn count_fault(&self, name: &str) -> Result<u64, StoreError> {
        let mut state = self.lock()?;
        let hits = state.fault_counters.entry(name.to_owned()).or_default();
        *hits += 1;
        Ok(*hits)
    }

    fn reset(&self) -> Result<(), StoreError> {
        *self.lock()? = State::default();
        Ok(())
    }
}

struct MemTx<'a> {
    d: &'a mut Domain,
}

impl Tx for MemTx<'_> {
    fn create_org(
        &mut self,
        org_id: &str,
        membership_id: &str,
        name: &str,
        owner: &str,
        now: i64,
    ) -> Result<Org, StoreError> {
        // Constant time: the base's counter names the candidate; a few
        // collisions with other names' slugs move it on, then a random
        // suffix takes over.
        let base = model::slugify(name);
        let mut next = self.d.slug_counters.get(&base).copied().unwrap_or(0);
        let mut numbered = None;
        for _ in 0..model::SLUG_NUMBERED_TRIES {
            let candidate = model::slug_candidate(&base, next);
            next = next.saturating_add(1);
            if !self.d.slugs.contains(&candidate) {
                numbered = Some(candidate);
                break;
            }
        }
        self.d.slug_counters.insert(base.clone(), next);
        let slug = numbered.unwrap_or_else(|| {
            loop {
                let candidate = model::random_slug(&base);
                if !self.d.slugs.contains(&candidate) {
                    break candidate;
                }
            }
        });
        self.d.slugs.insert(slug.clone());
        let org = Org {
            id: org_id.into(),
            name: name.into(),
            slug,
            owner: owner.into(),
            created_at: now,
        };
        self.d.orgs.push_back(org.clone());
        self.d.memberships.push_back(Membership {
            id: membership_id.into(),
            org_id: org_id.into(),
            principal: owner.into(),
            role: "owner".into(),
            created_at: now,
        });
        Ok(org)
    }

    fn list_orgs(&mut self) -> Result<Vec<Org>, StoreError> {
        Ok(self.d.orgs.iter().cloned().collect())
    }

    fn list_memberships(&mut self) -> Result<Vec<Membership>, StoreError> {
        Ok(self.d.memberships.iter().cloned().collect())
    }

    fn create_invite(&mut self, invite: &Invite) -> Result<(), StoreError> {
        if self.d.invites.iter().any(|i| i.token == invite.token) {
            return Err(StoreError::Internal("duplicate invite token".into()));
        }
        self.d.invites.push_back(invite.clone());
        Ok(())
    }

    fn claim_invite(
        &mut self,
        token: &str,
        claim_id: &str,
        now: i64,
    ) -> Result<InviteClaim, StoreError> {
        let Some(invite) = self.d.invites.iter_mut().find(|i| i.token == token) else {
            return Ok(InviteClaim::Unknown);
        };
        // The in-memory twin of `UPDATE … WHERE used_at IS NULL AND expires_at > now`.
        if invite.used_at.is_none() && invite.expires_at > now {
            invite.used_at = Some(now);
            invite.claim_id = Some(claim_id.into());
            return Ok(InviteClaim::Created(claim_id.into()));
        }
        Ok(match (&invite.used_at, &invite.claim_id) {
            (Some(_), Some(id)) => InviteClaim::Repeat(id.clone()),
            (Some(_), None) => InviteClaim::UsedWithoutRecord,
            (None, _) => InviteClaim::Expired,
        })
    }

    fn list_invites(&mut self) -> Result<Vec<Invite>, StoreError> {
        Ok(self.d.invites.iter().cloned().collect())
    }

    fn create_qr_session(&mut self, session: &QrSession) -> Result<(), StoreError> {
        self.d.qr_sessions.push_back(session.clone());
        Ok(())
    }

    fn list_qr_sessions(&mut self) -> Result<Vec<QrSession>, StoreError> {
        Ok(self.d.qr_sessions.iter().cloned().collect())
    }

    fn create_order(&mut self, order: &Order) -> Result<(), StoreError> {
        self.d.orders.push_back(order.clone());
        Ok(())
    }

    fn get_order(&mut self, id: &str) -> Result<Option<Order>, StoreError> {
        Ok(self.d.orders.iter().find(|o| o.id == id).cloned())
    }

    fn list_orders(&mut self) -> Result<Vec<Order>, StoreError> {
        Ok(self.d.orders.iter().cloned().collect())
    }

    fn update_items(
        &mut self,
        id: &str,
        items: &Value,
        expected_version: i64,
    ) -> Result<UpdateOutcome, StoreError> {
        let Some(order) = self.d.orders.iter_mut().find(|o| o.id == id) else {
            return Ok(UpdateOutcome::NoOrder);
        };
        if order.version != expected_version {
            return Ok(UpdateOutcome::Stale(order.version));
        }
        order.items = items.clone();
        order.version += 1;
        Ok(UpdateOutcome::Updated(order.clone()))
    }

    fn pay_order(
        &mut self,
        order_id: &str,
        payment_id: &str,
        now: i64,
    ) -> Result<PayOutcome, StoreError> {
        if !self.d.orders.iter().any(|o| o.id == order_id) {
            return Ok(PayOutcome::NoOrder);
        }
        if let Some(existing) = self.d.payments.iter().find(|p| p.order_id == order_id) {
            return Ok(PayOutcome::AlreadyPaid(existing.clone()));
        }
        let payment = Payment {
            payment_id: payment_id.into(),
            order_id: order_id.into(),
            created_at: now,
        };
        self.d.payments.push_back(payment.clone());
        Ok(PayOutcome::Paid(payment))
    }

    fn list_payments(&mut self) -> Result<Vec<Payment>, StoreError> {
        Ok(self.d.payments.iter().cloned().collect())
    }
}
