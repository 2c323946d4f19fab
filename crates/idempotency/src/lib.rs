//! # submit-guard-idempotency
//!
//! The IETF Idempotency-Key protocol (draft-ietf-httpapi-idempotency-key-header-07)
//! for axum and tower apps.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
pub mod problem;
pub mod protocol;
#[cfg(feature = "sqlite")]
mod sqlite;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use memory::{MemoryStore, MemoryTx};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresStore};
pub use protocol::Reply;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteOptions, SqliteStore};
pub use store::{
    BoxFuture, Claim, ClaimOutcome, ClaimRequest, CommitError, Committed, IdempotencyStore,
    RecordKey, StoreError,
};
