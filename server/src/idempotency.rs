//! The idempotency middleware: put in front of the protected endpoints, it
//! parses the key, claims it atomically, and then replays, rejects, or runs
//! the handler under the claim's fence.
//!
//! The handler stores its own response: [`crate::routes::Effect::run`] passes
//! the request's [`Fence`] to [`Store::transact`], which commits the effect
//! and the response together. This layer only releases the claim when
//! nothing was stored (a 4xx, a 5xx, or a dropped request).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::clock::millis;
use crate::problem::{self, Problem};
use crate::protocol::{self, IDEMPOTENCY_KEY, IDEMPOTENCY_RETENTION, IDEMPOTENT_REPLAYED};
use crate::store::{ClaimOutcome, ClaimRequest, Fence, RecordKey, Store};

/// Response extension set by the handler glue when the response's effect
/// (and, under a claim, the response itself) was committed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Committed;

/// Methods the layer guards; the rest pass straight through.
fn is_guarded(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The middleware. See the crate docs for the protocol table it implements.
pub(crate) async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !is_guarded(req.method()) {
        return next.run(req).await;
    }
    let config = &state.config;
    let keyed = req.headers().contains_key(&IDEMPOTENCY_KEY);
    let response = match protocol::parse_key(req.headers()) {
        Ok(Some(key)) => run_keyed(&state, key, req, next).await,
        Ok(None) if config.require_key => Problem::new(
            StatusCode::BAD_REQUEST,
            problem::KEY_MISSING,
            "this endpoint requires an Idempotency-Key header",
        )
        .into_response(),
        Ok(None) => next.run(req).await,
        Err(err) => Problem::new(
            StatusCode::BAD_REQUEST,
            problem::KEY_MALFORMED,
            err.to_string(),
        )
        .into_response(),
    };
    if keyed {
        with_retention(response, config.retention.as_secs())
    } else {
        response
    }
}

fn with_retention(mut response: Response, seconds: u64) -> Response {
    response
        .headers_mut()
        .insert(IDEMPOTENCY_RETENTION, HeaderValue::from(seconds));
    response
}

async fn run_keyed(state: &AppState, key: String, req: Request, next: Next) -> Response {
    let config = &state.config;
    let principal = protocol::principal(req.headers());
    let (mut parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, config.body_limit).await {
        Ok(bytes) => bytes,
        Err(err) => return Problem::from_body_error(&err).into_response(),
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let now = config.clock.now_ms();
    let claim = ClaimRequest {
        record: RecordKey { principal, key },
        fingerprint: protocol::fingerprint(&parts.method, &path, content_type, &bytes),
        method: parts.method.to_string(),
        path,
        now_ms: now,
        expired_before_ms: now.saturating_sub(millis(config.retention)),
        lock_expired_before_ms: now.saturating_sub(millis(config.lock_timeout)),
    };
    let store = config.store.clone();
    let claimed = {
        let claim = claim.clone();
        crate::store::call(store, move |store| store.claim(&claim)).await
    };
    let outcome = match claimed {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(err)) => {
            tracing::warn!(key = %claim.record.key, principal = %claim.record.principal, path = %claim.path, error = %err, "idempotency: claim failed");
            return Problem::from(err).into_response();
        }
        Err(err) => return Problem::internal(err.to_string()).into_response(),
    };
    let (key, principal, path) = (&claim.record.key, &claim.record.principal, &claim.path);
    match outcome {
        ClaimOutcome::Claimed { fence, takeover } => {
            if takeover {
                tracing::warn!(%key, %principal, %path, fence, "idempotency: took over a stale lock");
            } else {
                tracing::info!(%key, %principal, %path, fence, "idempotency: claimed");
            }
            let fence = Fence {
                record: claim.record.clone(),
                fence,
            };
            let mut guard = ReleaseOnDrop::new(config.store.clone(), fence.clone());
            parts.extensions.insert(fence.clone());
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            if response.extensions().get::<Committed>().is_none() {
                // Await the release so that a retry sent after this response can claim.
                guard.disarm();
                release(config.store.clone(), fence).await;
            } else {
                guard.disarm();
            }
            response
        }
        ClaimOutcome::Completed(reply) => {
            tracing::info!(%key, %principal, %path, status = reply.status, "idempotency: replayed");
            let mut response = reply.into_response();
            response
                .headers_mut()
                .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
            response
        }
        ClaimOutcome::InFlight => {
            tracing::info!(%key, %principal, %path, "idempotency: conflict, request in flight");
            Problem::new(
                StatusCode::CONFLICT,
                problem::KEY_IN_USE,
                "a request with this Idempotency-Key is still being processed; retry later",
            )
            .retry_after(1)
            .into_response()
        }
        ClaimOutcome::Mismatch => {
            tracing::info!(%key, %principal, %path, "idempotency: mismatch, key reused for a different request");
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                problem::KEY_MISMATCH,
                "this Idempotency-Key was first used with a different method, path or body",
            )
            .into_response()
        }
    }
}

async fn release(store: Arc<dyn Store>, fence: Fence) {
    let (key, principal) = (fence.record.key.clone(), fence.record.principal.clone());
    match crate::store::call(store, move |store| store.release(&fence)).await {
        Ok(Ok(true)) => tracing::info!(%key, %principal, "idempotency: released"),
        Ok(Ok(false)) => tracing::debug!(%key, %principal, "idempotency: nothing to release"),
        Ok(Err(err)) => {
            tracing::warn!(%key, %principal, error = %err, "idempotency: release failed; the lock will expire")
        }
        Err(err) => {
            tracing::warn!(%key, %principal, error = %err, "idempotency: release task failed")
        }
    }
}

/// Releases the claim if the request is dropped before it finishes (the
/// client went away mid-handler). A late release is harmless: it only
/// matches while the fence still holds an unfinished lock.
struct ReleaseOnDrop {
    store: Arc<dyn Store>,
    fence: Option<Fence>,
}

impl ReleaseOnDrop {
    fn new(store: Arc<dyn Store>, fence: Fence) -> Self {
        Self {
            store,
            fence: Some(fence),
        }
    }

    fn disarm(&mut self) {
        self.fence = None;
    }
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        let Some(fence) = self.fence.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(release(self.store.clone(), fence));
        }
    }
}
