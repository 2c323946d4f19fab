//! # submit-guard-idempotency
//!
//! The IETF Idempotency-Key protocol (draft-ietf-httpapi-idempotency-key-header-07)
//! for axum and tower apps.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
mod config;
mod layer;
mod memory;
pub mod principal;
pub mod problem;
pub mod protocol;
mod service;
#[cfg(feature = "sqlite")]
mod sqlite;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{CanonicalBody, IdempotencyConfig, MakeFingerprint, Mode, Protect, UnsafeMethods};
pub use layer::IdempotencyLayer;
pub use memory::{MemoryStore, MemoryTx};
pub use principal::{DefaultPrincipal, MakePrincipal};
pub use protocol::Reply;
pub use service::{Idempotency, ResponseFuture};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteOptions, SqliteStore};
pub use store::{
    BoxFuture, Claim, ClaimOutcome, ClaimRequest, CommitError, Committed, IdempotencyStore,
    RecordKey, StoreError,
};
