//! The in-memory store: the domain behind one mutex, beside the records of
//! [`submit_guard_idempotency::MemoryStore`]. A transaction works on a copy of
//! the domain and swaps it in only when the reply succeeds and, under a
//! claim, the records' lock ([`submit_guard_idempotency::MemoryStore::begin`])
//! confirmed the fence; so it has the same all-or-nothing semantics as
//! SQLite. The domain's tables are persistent collections (`imbl`), so that
//! copy is O(1) and shares structure, whatever the store holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use imbl::{HashSet, Vector};
use serde_json::Value;
use submit_guard_idempotency::{CommitError, IdempotencyStore, MemoryStore as Records};

use super::{Claim, Page, Store, StoreError, Tx, TxOutcome, Work, no_free_slug, random_secret};
use crate::model::{
    self, Invite, InviteClaim, Membership, Order, Org, PayOutcome, Payment, QrSession,
    UpdateOutcome,
};
use crate::protocol::Reply;

/// A store that lives and dies with the process.
#[derive(Debug)]
pub struct MemoryStore {
    records: Arc<Records>,
    state: Mutex<State>,
    unavailable: AtomicBool,
    secret: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    domain: Domain,
    fault_counters: HashMap<String, u64>,
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

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store, with a fresh random principal secret (falling back
    /// to a fixed one only if the system has no randomness to give).
    pub fn new() -> Self {
        Self {
            records: Arc::new(Records::new()),
            state: Mutex::default(),
            unavailable: AtomicBool::new(false),
            secret: random_secret().unwrap_or_else(|_| b"submit-guard memory store".to_vec()),
        }
    }

    /// Testing aid: while unavailable, every call fails with
    /// [`StoreError::Unavailable`], as a SQLite file locked by another
    /// process would.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
        self.records.set_unavailable(unavailable);
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

    fn records(&self) -> Arc<dyn IdempotencyStore> {
        self.records.clone()
    }

    fn transact(&self, claim: Option<&Claim>, work: Work) -> Result<TxOutcome, StoreError> {
        let mut state = self.lock()?;
        let mut draft = state.domain.clone();
        let reply = work(&mut MemTx { d: &mut draft })?;
        if !reply.is_success() {
            return Ok(TxOutcome::RolledBack(reply));
        }
        let receipt = match claim {
            // The records' lock is held from the fence check to the commit,
            // and the domain's around both: effect and reply land together.
            Some(claim) => match self.records.begin(claim) {
                Ok(tx) => Some(tx.commit(&reply)),
                Err(CommitError::FenceLost) => return Ok(TxOutcome::FenceLost),
                Err(CommitError::Store(err)) => return Err(err),
            },
            None => None,
        };
        state.domain = draft;
        Ok(TxOutcome::Committed(reply, receipt))
    }

    fn read(&self, work: Work) -> Result<Reply, StoreError> {
        let state = self.lock()?;
        let mut snapshot = state.domain.clone();
        drop(state);
        work(&mut MemTx { d: &mut snapshot })
    }

    fn principal_secret(&self) -> Result<Vec<u8>, StoreError> {
        Ok(self.secret.clone())
    }

    fn count_fault(&self, name: &str) -> Result<u64, StoreError> {
        let mut state = self.lock()?;
        let hits = state.fault_counters.entry(name.to_owned()).or_default();
        *hits += 1;
        Ok(*hits)
    }

    fn reset(&self) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        self.records.clear()?;
        *state = State::default();
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
        let base = model::slugify(name);
        let (counters, slugs) = (&mut self.d.slug_counters, &mut self.d.slugs);
        let slug = model::allocate_slug::<StoreError>(
            &base,
            || {
                let next = counters.entry(base.clone()).or_insert(0);
                let n = *next;
                *next = next.saturating_add(1);
                Ok(n)
            },
            |slug| Ok(slugs.insert(slug.to_owned()).is_none()),
        )?
        .ok_or_else(|| no_free_slug(&base))?;
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

    fn list_orgs(&mut self, page: &Page) -> Result<Vec<Org>, StoreError> {
        Ok(paged(&self.d.orgs, |o| o.id.as_str(), page))
    }

    fn list_memberships(&mut self, page: &Page) -> Result<Vec<Membership>, StoreError> {
        Ok(paged(&self.d.memberships, |m| m.id.as_str(), page))
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

    fn list_invites(&mut self, page: &Page) -> Result<Vec<Invite>, StoreError> {
        Ok(paged(&self.d.invites, |i| i.token.as_str(), page))
    }

    fn create_qr_session(&mut self, session: &QrSession) -> Result<(), StoreError> {
        self.d.qr_sessions.push_back(session.clone());
        Ok(())
    }

    fn list_qr_sessions(&mut self, page: &Page) -> Result<Vec<QrSession>, StoreError> {
        Ok(paged(&self.d.qr_sessions, |q| q.id.as_str(), page))
    }

    fn create_order(&mut self, order: &Order) -> Result<(), StoreError> {
        self.d.orders.push_back(order.clone());
        Ok(())
    }

    fn get_order(&mut self, id: &str) -> Result<Option<Order>, StoreError> {
        Ok(self.d.orders.iter().find(|o| o.id == id).cloned())
    }

    fn list_orders(&mut self, page: &Page) -> Result<Vec<Order>, StoreError> {
        Ok(paged(&self.d.orders, |o| o.id.as_str(), page))
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

    fn list_payments(&mut self, page: &Page) -> Result<Vec<Payment>, StoreError> {
        Ok(paged(&self.d.payments, |p| p.payment_id.as_str(), page))
    }
}

/// The page of `items` (oldest first) after the item whose id is `page.after`.
fn paged<T: Clone>(items: &Vector<T>, id: impl Fn(&T) -> &str, page: &Page) -> Vec<T> {
    let start = match &page.after {
        None => 0,
        Some(after) => items
            .iter()
            .position(|item| id(item) == after)
            .map_or(items.len(), |i| i + 1),
    };
    items.iter().skip(start).take(page.limit).cloned().collect()
}
