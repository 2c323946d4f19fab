//! One submission's life: the lock is taken, the cross-tab protocol entered
//! (`crossTab`), the key chosen (and persisted, `persist`), the attempts run
//! (see [`crate::fetch`]), and the flight always ended, so the guard is never
//! left locked, whatever fails.

use std::rc::Rc;

use futures_channel::oneshot;
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use web_sys::Response;

use crate::body::Payload;
use crate::core::key::{Fingerprint, KeyLife};
use crate::core::state::{Failure, FlightId, Kind, Outcome, Settle, State};
use crate::error::{self, Detail};
use crate::fetch::{Outgoing, aborted, run_all, send_all};
use crate::guard::{Inner, new_key};
use crate::persist;
use crate::tabs::{self, Entered, Holder};
use crate::wait::{Race, race};

/// What a submission does once it has the lock.
pub(crate) enum Job {
    /// `guard.fetch`: what every attempt is made from, and the body.
    Fetch {
        outgoing: Outgoing,
        payload: Payload,
    },
    /// `guard.run`: the task.
    Run { task: Function },
}

/// Takes the lock and starts the submission; returns its promise.
pub(crate) fn start(inner: &Rc<Inner>, job: Job) -> Promise {
    let kind = match job {
        Job::Fetch { .. } => Kind::Fetch,
        Job::Run { .. } => Kind::Run,
    };
    let shared = inner.clone();
    inner.launch(kind, move |id, cancelled| life(shared, id, cancelled, job))
}

async fn life(
    inner: Rc<Inner>,
    id: FlightId,
    mut cancelled: oneshot::Receiver<JsValue>,
    job: Job,
) -> Result<JsValue, JsValue> {
    let _on_abort = match &job {
        Job::Fetch { outgoing, .. } => outgoing.hear_caller_abort(&inner, id),
        Job::Run { .. } => None,
    };
    let cross_tab = inner
        .options
        .name
        .as_deref()
        .filter(|_| inner.options.cross_tab);
    let result = match cross_tab {
        None => perform(&inner, id, &mut cancelled, job, None).await,
        Some(name) => {
            let share = inner.machine.borrow().settings().on_duplicate
                == crate::core::state::OnDuplicate::Share;
            match tabs::enter(name, share, &mut cancelled).await {
                Ok(Entered::Alone) => perform(&inner, id, &mut cancelled, job, None).await,
                Ok(Entered::Holder(holder)) => {
                    let result = perform(&inner, id, &mut cancelled, job, Some(&holder)).await;
                    holder.finish(&result).await;
                    result
                }
                Ok(Entered::Shared(outcome, value)) => shared(&inner, id, outcome, value),
                Ok(Entered::Busy) => {
                    inner.update(|m| m.fail(id, Failure::CrossTab));
                    Err(error::failure(Failure::CrossTab, Detail::default()))
                }
                Ok(Entered::Aborted(reason)) => Err(aborted(reason, 0)),
                Err(error) => Err(error),
            }
        }
    };
    // Ends the flight if nothing above did (an unexpected JavaScript error).
    inner.update(|m| m.fail(id, Failure::Thrown));
    if let Some(name) = inner
        .options
        .name
        .as_deref()
        .filter(|_| inner.options.persist)
    {
        if inner.machine.borrow().state() == State::Succeeded {
            persist::clear(name);
        }
    }
    result
}

async fn perform(
    inner: &Rc<Inner>,
    id: FlightId,
    cancelled: &mut oneshot::Receiver<JsValue>,
    job: Job,
    holder: Option<&Holder>,
) -> Result<JsValue, JsValue> {
    match job {
        Job::Fetch { outgoing, payload } => {
            send_all(inner, id, outgoing, payload, cancelled, holder).await
        }
        Job::Run { task } => run_all(inner, id, task, cancelled, holder).await,
    }
}

/// Settles with the result another tab's submission of this form reached.
fn shared(
    inner: &Inner,
    id: FlightId,
    outcome: Outcome,
    value: Result<JsValue, JsValue>,
) -> Result<JsValue, JsValue> {
    let value = value.unwrap_or_else(|thrown| thrown);
    match inner.update(|m| m.conclude(id, outcome, new_key)) {
        Settle::Resolve => Ok(value),
        Settle::Reject(Failure::Thrown) => Err(value),
        Settle::Reject(failure) => Err(error::failure(
            failure,
            Detail {
                attempts: 0,
                response: value.dyn_into::<Response>().ok(),
                cause: None,
            },
        )),
    }
}

/// The key flight `id` sends `payload` with, after the checks that may
/// replace the guard's own: a key restored from storage that belongs to
/// another live tab is dropped; the key the previous cross-tab holder sent the
/// same payload with is adopted. Waiting tabs hear the key; with `persist` it
/// is written to storage before anything is sent.
pub(crate) async fn choose_key(
    inner: &Rc<Inner>,
    id: FlightId,
    payload: Option<Fingerprint>,
    holder: Option<&Holder>,
    cancelled: &mut oneshot::Receiver<JsValue>,
) -> Result<String, JsValue> {
    let persisted = inner
        .options
        .name
        .as_deref()
        .filter(|_| inner.options.persist);
    let tab = match persisted {
        None => None,
        Some(_) => match race(persist::tab(), 0, cancelled).await {
            Race::Done(tab) => Some(tab),
            Race::Cancelled(reason) | Race::TimedOut(reason) => return Err(aborted(reason, 0)),
        },
    };
    if let Some(tab) = &tab {
        let owner = inner.restored_from.borrow_mut().take();
        if owner.is_some_and(|owner| owner != *tab) {
            inner.update(|m| m.adopt(id, KeyLife::new(new_key())));
        }
    }
    if let Some(previous) = holder
        .and_then(|h| h.adopt.as_ref())
        .filter(|a| a.payload == payload)
    {
        inner.update(|m| m.adopt(id, KeyLife::restored(previous.key.clone(), payload)));
    }
    let key = inner
        .update(|m| m.key_for(id, payload, new_key))
        .ok_or_else(|| aborted(JsValue::UNDEFINED, 0))?;
    if let Some(holder) = holder {
        holder.started(&key, payload);
    }
    if let (Some(name), Some(tab)) = (persisted, &tab) {
        persist::save(name, &key, payload, tab);
    }
    Ok(key)
}
