//! [`IdempotencyLayer`]: applies the protocol to a service.

use std::sync::Arc;

use tower_layer::Layer;

use crate::clock::millis;
use crate::config::IdempotencyConfig;
use crate::service::Idempotency;
use crate::store::{IdempotencyStore, StoreError};

/// A [`Layer`] that puts [`Idempotency`] in front of a service:
/// `Router::new().route(…).layer(IdempotencyLayer::new(store, config))`.
#[derive(Clone)]
pub struct IdempotencyLayer {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) store: Arc<dyn IdempotencyStore>,
    pub(crate) config: IdempotencyConfig,
}

impl std::fmt::Debug for IdempotencyLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyLayer")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl IdempotencyLayer {
    /// The layer over `store` (an `Arc<…>` of a store works too: keep a
    /// clone to commit through) with `config`.
    pub fn new(store: impl IdempotencyStore, config: IdempotencyConfig) -> Self {
        Self::from_arc(Arc::new(store), config)
    }

    /// The layer over a shared store.
    pub fn from_arc(store: Arc<dyn IdempotencyStore>, config: IdempotencyConfig) -> Self {
        Self {
            shared: Arc::new(Shared { store, config }),
        }
    }

    /// The config.
    pub fn config(&self) -> &IdempotencyConfig {
        &self.shared.config
    }

    /// Deletes records older than the retention window (keeping locks that
    /// have not expired). Run it periodically; it is safe to run from
    /// several processes at once. Returns how many records were deleted.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let config = &self.shared.config;
        let now = config.clock.now_ms();
        self.shared
            .store
            .purge(
                now.saturating_sub(millis(config.retention)),
                now.saturating_sub(millis(config.lock_timeout)),
            )
            .await
    }
}

impl<S> Layer<S> for IdempotencyLayer {
    type Service = Idempotency<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Idempotency {
            inner,
            shared: self.shared.clone(),
        }
    }
}
