//! The HTTP routes, one module per resource, and the glue every handler
//! shares: [`Effect`] (run domain work in one store transaction under the
//! request's claim, and hand the layer its receipt) and [`JsonBody`] (parse
//! a JSON body into a problem-aware 400).

mod invites;
mod orders;
mod orgs;
mod qr;
pub(crate) mod testing;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::from_fn;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::de::DeserializeOwned;
use submit_guard_idempotency::IdempotencyLayer;

use crate::AppState;
use crate::domain::{Claim, Page, StoreError, Tx, TxOutcome};
use crate::faults::{self, ActiveFault, Fault, Phase};
use crate::problem::{self, Problem};
use crate::protocol::Reply;
use crate::serve::ConnAbort;

/// The API routes: the protected endpoints behind the idempotency `layer`
/// (`None` when [`crate::Config::idempotency`] is off), the reads, and (in
/// test mode) the test endpoints.
pub(crate) fn api(state: &AppState, layer: Option<IdempotencyLayer>) -> Router<AppState> {
    let mut protected = Router::new()
        .route("/api/orgs", post(orgs::create))
        .route("/api/invites", post(invites::create))
        .route("/api/invites/{token}/claim", post(invites::claim))
        .route("/api/qr/sessions", post(qr::create))
        .route("/api/orders", post(orders::create))
        .route("/api/orders/{id}/pay", post(orders::pay))
        .route("/api/orders/{id}/items", put(orders::update_items))
        .route_layer(from_fn(faults::before_handler));
    if let Some(layer) = layer {
        protected = protected.route_layer(layer);
    }
    let reads = Router::new()
        .route("/api/orgs", get(orgs::list))
        .route("/api/orgs/{id}", get(orgs::get_one))
        .route("/api/memberships", get(orgs::memberships))
        .route("/api/invites", get(invites::list))
        .route("/api/qr/sessions", get(qr::list))
        .route("/api/orders", get(orders::list))
        .route("/api/orders/{id}", get(orders::get_one))
        .route("/api/payments", get(orders::payments))
        .route("/api/health", get(health))
        .route_layer(from_fn(faults::before_handler));
    let mut api = protected.merge(reads);
    if state.config.test_mode {
        api = api.merge(testing::routes());
    }
    api.route("/api/{*rest}", axum::routing::any(api_not_found))
}

/// `GET /api/health`: 200 `{"status":"ok"}` when the store answers a read;
/// else its problem (503 `store-failed` for a vanished database file).
async fn health(effect: Effect) -> Response {
    effect
        .read(|_| ok_json(&serde_json::json!({ "status": "ok" })))
        .await
}

async fn api_not_found(req: Request) -> Problem {
    Problem::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    ))
}

/// Handler glue: the store, the request's claim (if any), its injected fault
/// (test mode) and its connection.
pub(crate) struct Effect {
    state: AppState,
    claim: Option<Claim>,
    fault: Option<Fault>,
    abort: Option<ConnAbort>,
}

impl FromRequestParts<AppState> for Effect {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self {
            state: state.clone(),
            claim: parts.extensions.get::<Claim>().cloned(),
            fault: parts.extensions.get::<ActiveFault>().map(|f| f.0.clone()),
            abort: parts.extensions.get::<ConnAbort>().cloned(),
        })
    }
}

impl Effect {
    /// The requester's principal, under the layer's policy: to tell a user
    /// what is theirs without listing principals.
    pub(crate) fn principal(&self, parts: &Parts) -> String {
        self.state.idempotency.principal_of(parts)
    }

    /// The clock's current time.
    pub(crate) fn now_ms(&self) -> i64 {
        self.state.config.clock.now_ms()
    }

    /// Runs `work` in one store transaction. A success reply commits the
    /// effect and, under a claim, the stored reply with it (conditional on
    /// the fence), and the response carries the receipt for the layer; any
    /// other reply rolls back. Commit-phase faults strike here, outside the
    /// library.
    pub(crate) async fn run<F>(self, work: F) -> Response
    where
        F: FnOnce(&mut dyn Tx) -> Result<Reply, StoreError> + Send + 'static,
    {
        let fault = self.fault.clone();
        let work = Box::new(move |tx: &mut dyn Tx| {
            let reply = work(tx)?;
            if reply.is_success() {
                match fault {
                    Some(Fault::FailBeforeCommit) => {
                        return Ok(injected(&fault, "failed before commit").into_reply());
                    }
                    Some(Fault::Kill(Phase::AfterEffect)) => faults::kill_self(Phase::AfterEffect),
                    _ => {}
                }
            }
            Ok(reply)
        });
        let store = self.state.config.store.clone();
        let claim = self.claim.clone();
        let outcome =
            crate::domain::call(store, move |store| store.transact(claim.as_ref(), work)).await;
        let (reply, receipt) = match outcome {
            Ok(Ok(TxOutcome::Committed(reply, receipt))) => (reply, receipt),
            Ok(Ok(TxOutcome::RolledBack(reply))) => return reply.into_response(),
            Ok(Ok(TxOutcome::FenceLost)) => {
                if let Some(claim) = &self.claim {
                    let (key, principal) = (&claim.record.key, &claim.record.principal);
                    tracing::warn!(%key, %principal, fence = claim.fence, "idempotency: stale holder's commit rejected, effect rolled back");
                }
                return Problem::new(
                    StatusCode::CONFLICT,
                    problem::CLAIM_SUPERSEDED,
                    "this request's lock on its Idempotency-Key expired and another request took over; its effect was rolled back",
                )
                .retry_after(1)
                .into_response();
            }
            Ok(Err(err)) => return Problem::from(err).into_response(),
            Err(err) => return Problem::internal(err.to_string()).into_response(),
        };
        let mut response = match self.fault {
            Some(Fault::Kill(Phase::AfterStore)) => faults::kill_self(Phase::AfterStore),
            Some(Fault::FailAfterCommit) => {
                injected(&self.fault, "failed after commit").into_response()
            }
            Some(Fault::DropAfterCommit) => match &self.abort {
                Some(abort) => {
                    abort.abort();
                    return std::future::pending().await;
                }
                None => injected(
                    &self.fault,
                    "drop-after-commit needs submit_guard_server::serve",
                )
                .into_response(),
            },
            _ => reply.into_response(),
        };
        if let Some(receipt) = receipt {
            response.extensions_mut().insert(receipt);
        }
        response
    }

    /// Runs read-only `work` on a snapshot.
    pub(crate) async fn read<F>(self, work: F) -> Response
    where
        F: FnOnce(&mut dyn Tx) -> Result<Reply, StoreError> + Send + 'static,
    {
        let store = self.state.config.store.clone();
        match crate::domain::call(store, move |store| store.read(Box::new(work))).await {
            Ok(Ok(reply)) => reply.into_response(),
            Ok(Err(err)) => Problem::from(err).into_response(),
            Err(err) => Problem::internal(err.to_string()).into_response(),
        }
    }
}

fn injected(fault: &Option<Fault>, what: &str) -> Problem {
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        problem::INJECTED_FAULT,
        format!("X-Fault {fault:?}: {what}"),
    )
}

/// A JSON request body. JSON is read whatever the declared media type
/// (`fetch` with a string body sends `text/plain`), except that an
/// `application/x-www-form-urlencoded` body reads as an object of strings
/// (last value wins) and `multipart/*` is a 415. Any failure is a 400 problem
/// (413 over the body limit), before any effect. An empty body reads as `{}`.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let media = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        if media.starts_with("multipart/") {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                problem::UNSUPPORTED_MEDIA_TYPE,
                format!("expected a JSON or url-encoded body, got {media}"),
            ));
        }
        let bytes = axum::body::to_bytes(req.into_body(), state.config.body_limit)
            .await
            .map_err(|err| Problem::from_body_error(&err))?;
        let parsed = if media == "application/x-www-form-urlencoded" {
            let object: serde_json::Map<String, serde_json::Value> = form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned().into()))
                .collect();
            serde_json::from_value(object.into())
        } else if bytes.iter().all(u8::is_ascii_whitespace) {
            serde_json::from_slice(b"{}")
        } else {
            serde_json::from_slice(&bytes)
        };
        parsed
            .map(JsonBody)
            .map_err(|err| Problem::invalid(format!("invalid request body: {err}")))
    }
}

/// The largest (and default) page of a list endpoint.
pub(crate) const MAX_PAGE: usize = 1000;

/// `?limit=N&after=ID` of a list endpoint: `limit` 1–1000 (default 1000),
/// `after` the id of the last item already seen. Anything else is a 400.
pub(crate) struct Paging {
    page: Page,
    path: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let mut page = Page {
            after: None,
            limit: MAX_PAGE,
        };
        for (name, value) in
            form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
        {
            match &*name {
                "limit" => {
                    page.limit = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_PAGE).contains(n))
                        .ok_or_else(|| {
                            Problem::invalid(format!(
                                "limit must be an integer from 1 to {MAX_PAGE}, got {value:?}"
                            ))
                        })?;
                }
                "after" => page.after = Some(value.into_owned()),
                _ => {}
            }
        }
        Ok(Self {
            page,
            path: parts.uri.path().to_owned(),
        })
    }
}

impl Paging {
    /// What to fetch: one item more than the page, to know if more remain.
    pub(crate) fn fetch(&self) -> Page {
        Page {
            after: self.page.after.clone(),
            limit: self.page.limit.saturating_add(1),
        }
    }

    /// The page as a 200 JSON array of `view`s, with `Link: <…>; rel="next"`
    /// when `items` (fetched with [`Paging::fetch`]) hold more.
    pub(crate) fn reply<T>(
        &self,
        mut items: Vec<T>,
        id: impl Fn(&T) -> &str,
        view: impl Fn(&T) -> serde_json::Value,
    ) -> Result<Reply, StoreError> {
        let more = items.len() > self.page.limit;
        items.truncate(self.page.limit);
        let body: Vec<_> = items.iter().map(view).collect();
        let mut reply = Reply::json(StatusCode::OK, &body);
        if let (true, Some(last)) = (more, items.last()) {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("after", id(last))
                .append_pair("limit", &self.page.limit.to_string())
                .finish();
            reply = reply.with_header("link", format!("<{}?{query}>; rel=\"next\"", self.path));
        }
        Ok(reply)
    }
}

/// Any serializable item as JSON (for [`Paging::reply`]).
pub(crate) fn as_json<T: serde::Serialize>(item: &T) -> serde_json::Value {
    serde_json::to_value(item).unwrap_or_default()
}

/// A 200 JSON reply.
pub(crate) fn ok_json(value: &impl serde::Serialize) -> Result<Reply, StoreError> {
    Ok(Reply::json(StatusCode::OK, value))
}
