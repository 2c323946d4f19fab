//! Pending keys that survive a reload (`persist: true`).
//!
//! Before a request is sent, the key and the payload fingerprint are written
//! to `sessionStorage` under `submit-guard:<name>`, with the identity of the
//! tab that wrote them; a success clears the entry. A guard made after a
//! reload reads the entry back, so resubmitting the same payload reuses the
//! key and the server replays instead of repeating.
//!
//! A tab the browser duplicated starts with a copy of `sessionStorage`,
//! including the original tab's pending key. Each tab therefore holds a Web
//! Lock named after its identity for its whole life: a page that finds its
//! stored identity's lock free is the same tab reloaded and takes it over;
//! one that finds it held is a duplicate while the original is alive, so it
//! takes a new identity and ignores entries written by the original. Without
//! Web Locks a duplicate cannot be told from a reload, and the key is reused.

use std::cell::RefCell;

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::Storage;

use crate::core::key::{Fingerprint, KeyLife};
use crate::guard::new_key;
use crate::tabs::{HeldLock, acquire, lock_manager};

const TAB_KEY: &str = "submit-guard:tab";

/// A key read back from storage, with the tab that wrote it.
pub(crate) struct Saved {
    pub key: KeyLife,
    pub tab: String,
}

fn storage() -> Option<Storage> {
    let storage = Reflect::get(&js_sys::global(), &"sessionStorage".into()).ok()?;
    storage.is_object().then(|| storage.unchecked_into())
}

fn entry_name(name: &str) -> String {
    format!("submit-guard:{name}")
}

/// The entry of form `name`, if one was written and is readable.
pub(crate) fn restore(name: &str) -> Option<Saved> {
    let text = storage()?.get_item(&entry_name(name)).ok()??;
    let value = js_sys::JSON::parse(&text).ok()?;
    let field = |name: &str| {
        Reflect::get(&value, &name.into())
            .ok()
            .and_then(|v| v.as_string())
    };
    let key = field("key")?;
    let payload = field("payload").and_then(|p| Fingerprint::from_hex(&p));
    Some(Saved {
        key: KeyLife::restored(key, payload),
        tab: field("tab")?,
    })
}

/// Writes the entry of form `name`. Storage may be full or forbidden (a
/// sandboxed frame): then the key is simply not kept across a reload.
pub(crate) fn save(name: &str, key: &str, payload: Option<Fingerprint>, tab: &str) {
    let Some(storage) = storage() else { return };
    let entry = Object::new();
    let _ = Reflect::set(&entry, &"key".into(), &key.into());
    let payload = payload.map_or(JsValue::NULL, |p| p.to_hex().into());
    let _ = Reflect::set(&entry, &"payload".into(), &payload);
    let _ = Reflect::set(&entry, &"tab".into(), &tab.into());
    if let Ok(text) = js_sys::JSON::stringify(&entry) {
        let _ = storage.set_item(&entry_name(name), &String::from(text));
    }
}

/// Removes the entry of form `name`.
pub(crate) fn clear(name: &str) {
    if let Some(storage) = storage() {
        let _ = storage.remove_item(&entry_name(name));
    }
}

thread_local! {
    /// This page's tab identity, worked out once (see the module docs).
    static TAB: Promise = wasm_bindgen_futures::future_to_promise(async { Ok(claim_identity().await.into()) });
    /// The lock that marks this tab as alive, held for the page's life; the
    /// browser releases it when the page goes away.
    static TAB_LOCK: RefCell<Option<HeldLock>> = const { RefCell::new(None) };
}

/// This tab's identity; the first call starts working it out.
pub(crate) async fn tab() -> String {
    let identity = TAB.with(Promise::clone);
    JsFuture::from(identity)
        .await
        .ok()
        .and_then(|t| t.as_string())
        .unwrap_or_default()
}

/// Starts working out this tab's identity, so a submit need not wait for it.
pub(crate) fn start_tab() {
    TAB.with(|_| ());
}

async fn claim_identity() -> String {
    let storage = storage();
    let stored = storage
        .as_ref()
        .and_then(|s| s.get_item(TAB_KEY).ok().flatten());
    let Some(locks) = lock_manager() else {
        return remember(storage.as_ref(), stored.unwrap_or_else(new_key));
    };
    if let Some(id) = stored {
        // Free: this tab, reloaded. Held: the original of a duplicated tab.
        if let Ok(Some(lock)) = acquire(&locks, &lock_name(&id), true, None).await {
            TAB_LOCK.with(|held| *held.borrow_mut() = Some(lock));
            return remember(storage.as_ref(), id);
        }
    }
    let id = new_key();
    if let Ok(Some(lock)) = acquire(&locks, &lock_name(&id), true, None).await {
        TAB_LOCK.with(|held| *held.borrow_mut() = Some(lock));
    }
    remember(storage.as_ref(), id)
}

fn lock_name(id: &str) -> String {
    format!("submit-guard:tab:{id}")
}

fn remember(storage: Option<&Storage>, id: String) -> String {
    if let Some(storage) = storage {
        let _ = storage.set_item(TAB_KEY, &id);
    }
    id
}
