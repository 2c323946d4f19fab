//! The store contract (`store_contract`) on the in-process stores: memory and
//! a SQLite file.

#![allow(clippy::unwrap_used)]

mod store_contract;

use std::sync::Arc;

use submit_guard_idempotency::MemoryStore;

#[tokio::test]
async fn memory() {
    store_contract::all(Arc::new(MemoryStore::new()), "memory").await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = submit_guard_idempotency::SqliteStore::open(dir.path().join("records.db")).unwrap();
    store_contract::all(Arc::new(store), "sqlite").await;
}
