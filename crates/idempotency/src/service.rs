//! [`Idempotency`]: the service the layer wraps around the app's routes. It
//! parses the key, claims it atomically, and then replays, refuses, or runs
//! the inner service under the claim's fence.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use tower_service::Service;

use crate::clock::millis;
use crate::config::{Mode, path_of};
use crate::layer::Shared;
use crate::problem::{self, Problem};
use crate::protocol::{self, IDEMPOTENCY_RETENTION, IDEMPOTENT_REPLAYED, Reply};
use crate::store::{
    BoxFuture, Claim, ClaimOutcome, ClaimRequest, CommitError, Committed, IdempotencyStore,
    RecordKey,
};

/// The future of [`Idempotency`]'s responses.
pub type ResponseFuture<E> = BoxFuture<'static, Result<Response, E>>;

/// The idempotency middleware; built by [`crate::IdempotencyLayer`].
#[derive(Clone)]
pub struct Idempotency<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Idempotency<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("inner", &self.inner)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl<S, ResBody> Service<Request<Body>> for Idempotency<S>
where
    S: Service<Request<Body>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The ready service goes into the future; a clone stays for the next call.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move { handle(shared, inner, req).await })
    }
}

/// Calls the inner service (already ready) once and boxes its body.
async fn run<S, ResBody>(mut inner: S, req: Request<Body>) -> Result<Response, S::Error>
where
    S: Service<Request<Body>, Response = http::Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Ok(inner.call(req).await?.map(Body::new))
}

async fn handle<S, ResBody>(
    shared: Arc<Shared>,
    inner: S,
    req: Request<Body>,
) -> Result<Response, S::Error>
where
    S: Service<Request<Body>, Response = http::Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let config = &shared.config;
    let (parts, body) = req.into_parts();
    if !config.protect.is_protected(&parts) {
        return run(inner, Request::from_parts(parts, body)).await;
    }
    let keyed = parts.headers.contains_key(&protocol::IDEMPOTENCY_KEY);
    let response = match protocol::parse_key(&parts.headers) {
        Ok(Some(key)) => run_keyed(&shared, key, parts, body, inner).await?,
        Ok(None) if config.require_key => Problem::new(
            StatusCode::BAD_REQUEST,
            problem::KEY_MISSING,
            "this endpoint requires an Idempotency-Key header",
        )
        .into_response(),
        Ok(None) => run(inner, Request::from_parts(parts, body)).await?,
        Err(err) => Problem::new(
            StatusCode::BAD_REQUEST,
            problem::KEY_MALFORMED,
            err.to_string(),
        )
        .into_response(),
    };
    Ok(if keyed {
        with_retention(response, config.retention.as_secs())
    } else {
        response
    })
}

fn with_retention(mut response: Response, seconds: u64) -> Response {
    response
        .headers_mut()
        .insert(IDEMPOTENCY_RETENTION, HeaderValue::from(seconds));
    response
}

async fn run_keyed<S, ResBody>(
    shared: &Arc<Shared>,
    key: String,
    mut parts: Parts,
    body: Body,
    inner: S,
) -> Result<Response, S::Error>
where
    S: Service<Request<Body>, Response = http::Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let config = &shared.config;
    let principal = config.principal.make_principal(&parts);
    let bytes = match Limited::new(body, config.body_limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => return Ok(Problem::from_body_error(&*err).into_response()),
    };
    let now = config.clock.now_ms();
    let request = ClaimRequest {
        record: RecordKey { principal, key },
        fingerprint: config.fingerprint.fingerprint(&parts, &bytes),
        method: parts.method.to_string(),
        path: path_of(&parts),
        now_ms: now,
        expired_before_ms: now.saturating_sub(millis(config.retention)),
        lock_expired_before_ms: now.saturating_sub(millis(config.lock_timeout)),
    };
    let (key, principal, path) = (
        request.record.key.clone(),
        request.record.principal.clone(),
        request.path.clone(),
    );
    let record = request.record.clone();
    let outcome = match shared.store.claim(request).await {
        Ok(outcome) => outcome,
        Err(err) => {
            tracing::warn!(%key, %principal, %path, error = %err, "idempotency: claim failed");
            return Ok(Problem::from(err).into_response());
        }
    };
    match outcome {
        ClaimOutcome::Claimed { fence, takeover } => {
            if takeover {
                tracing::warn!(%key, %principal, %path, fence, "idempotency: took over a stale lock");
            } else {
                tracing::info!(%key, %principal, %path, fence, "idempotency: claimed");
            }
            let claim = Claim::with_stored_headers(record, fence, config.stored_headers.clone());
            let mut guard = ReleaseOnDrop {
                store: shared.store.clone(),
                claim: Some(claim.clone()),
            };
            parts.extensions.insert(claim.clone());
            let response = run(inner, Request::from_parts(parts, Body::from(bytes))).await?;
            // From here on the layer decides what happens to the claim.
            guard.claim = None;
            Ok(settle(shared, claim, response).await)
        }
        ClaimOutcome::Completed(reply) => {
            tracing::info!(%key, %principal, %path, status = reply.status, "idempotency: replayed");
            let mut response = reply.into_response();
            response
                .headers_mut()
                .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
            Ok(response)
        }
        ClaimOutcome::InFlight => {
            tracing::info!(%key, %principal, %path, "idempotency: conflict, request in flight");
            Ok(Problem::new(
                StatusCode::CONFLICT,
                problem::KEY_IN_USE,
                "a request with this Idempotency-Key is still being processed; retry later",
            )
            .retry_after(1)
            .into_response())
        }
        ClaimOutcome::Mismatch => {
            tracing::info!(%key, %principal, %path, "idempotency: mismatch, key reused for a different request");
            Ok(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                problem::KEY_MISMATCH,
                "this Idempotency-Key was first used with a different method, path or body",
            )
            .into_response())
        }
    }
}

/// What happens to a claim once the handler answered: kept if the reply was
/// recorded under it; recorded by the layer (plain mode); refused (a success
/// without a receipt in transactional mode); or released (no success).
async fn settle(shared: &Shared, claim: Claim, response: Response) -> Response {
    let recorded = response
        .extensions()
        .get::<Committed>()
        .is_some_and(|receipt| {
            receipt.claim().record == claim.record && receipt.claim().fence == claim.fence
        });
    if recorded {
        return response;
    }
    let success = response.status().is_success() || response.status().is_redirection();
    let (key, principal) = (&claim.record.key, &claim.record.principal);
    if !success {
        // Await the release so that a retry sent after this response can claim.
        release(shared.store.clone(), claim).await;
        return response;
    }
    match shared.config.mode {
        Mode::Transactional => {
            tracing::error!(%key, %principal, fence = claim.fence, status = %response.status(),
                "idempotency: the handler answered a success without recording its reply; the claim is kept until the lock timeout");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                problem::REPLY_NOT_RECORDED,
                "the handler answered without recording its reply under the Idempotency-Key; \
                 its effect may have happened, and the key stays locked until the lock timeout",
            )
            .into_response()
        }
        Mode::Plain => store_after(shared, claim, response).await,
    }
}

/// Plain mode: reads the handler's response and stores it under the claim.
async fn store_after(shared: &Shared, claim: Claim, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            tracing::warn!(key = %claim.record.key, error = %err, "idempotency: the response body failed; nothing stored");
            release(shared.store.clone(), claim).await;
            return Problem::internal(format!("the response body failed: {err}")).into_response();
        }
    };
    let reply = Reply {
        status: parts.status.as_u16(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect(),
        body: bytes.to_vec(),
    };
    let (key, principal, fence) = (
        claim.record.key.clone(),
        claim.record.principal.clone(),
        claim.fence,
    );
    match shared.store.complete(claim, reply).await {
        Ok(_) => {
            tracing::info!(%key, %principal, fence, "idempotency: stored the reply (plain mode)")
        }
        Err(CommitError::FenceLost) => {
            tracing::warn!(%key, %principal, fence, "idempotency: claim taken over before the reply was stored (plain mode)")
        }
        Err(CommitError::Store(err)) => {
            tracing::warn!(%key, %principal, fence, error = %err, "idempotency: could not store the reply (plain mode); the lock will expire")
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

async fn release(store: Arc<dyn IdempotencyStore>, claim: Claim) {
    let (key, principal) = (claim.record.key.clone(), claim.record.principal.clone());
    match store.release(claim).await {
        Ok(true) => tracing::info!(%key, %principal, "idempotency: released"),
        Ok(false) => tracing::debug!(%key, %principal, "idempotency: nothing to release"),
        Err(err) => {
            tracing::warn!(%key, %principal, error = %err, "idempotency: release failed; the lock will expire")
        }
    }
}

/// Releases the claim if the request is dropped before the handler answers
/// (the client went away). A late release is harmless: it only matches
/// while the fence still holds an unfinished lock.
struct ReleaseOnDrop {
    store: Arc<dyn IdempotencyStore>,
    claim: Option<Claim>,
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        let Some(claim) = self.claim.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(release(self.store.clone(), claim));
        }
    }
}
