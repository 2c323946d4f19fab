//! Test mode endpoints and the request log they expose.
//!
//! - `POST /api/_reset` clears all state: domain, idempotency records, fault
//!   counters and the request log. 204.
//! - `GET /api/_requests` lists every request received since the last reset,
//!   in arrival order, as `{"method", "path", "key", "fault", "status",
//!   "done"}`: `done` is `false` while the server is still handling the
//!   request; once `true`, `status` is the response's, or `null` if the
//!   connection closed without one (the client went away, or
//!   `drop-after-commit`). The two test endpoints themselves are not logged.

use std::sync::Mutex;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Serialize;

use crate::AppState;
use crate::faults::X_FAULT;
use crate::problem::Problem;
use crate::protocol::IDEMPOTENCY_KEY;

const RESET: &str = "/api/_reset";
const REQUESTS: &str = "/api/_requests";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(RESET, post(reset))
        .route(REQUESTS, get(requests))
}

/// One logged request.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LoggedRequest {
    method: String,
    path: String,
    key: Option<String>,
    fault: Option<String>,
    status: Option<u16>,
    done: bool,
}

/// The log, with a generation number so that a response finishing after a
/// reset does not write into the new log.
#[derive(Debug, Default)]
pub(crate) struct RequestLog(Mutex<(u64, Vec<LoggedRequest>)>);

impl RequestLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Vec<LoggedRequest>)> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn push(&self, entry: LoggedRequest) -> (u64, usize) {
        let mut log = self.lock();
        log.1.push(entry);
        (log.0, log.1.len() - 1)
    }

    fn finish(&self, (generation, index): (u64, usize), status: Option<StatusCode>) {
        let mut log = self.lock();
        if log.0 != generation {
            return; // reset since: this slot belongs to the old log
        }
        if let Some(entry) = log.1.get_mut(index) {
            entry.status = status.map(|s| s.as_u16());
            entry.done = true;
        }
    }

    fn clear(&self) {
        let mut log = self.lock();
        log.0 += 1;
        log.1.clear();
    }

    fn snapshot(&self) -> Vec<LoggedRequest> {
        self.lock().1.clone()
    }
}

fn header_text(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Marks a logged request done when dropped: with the response's status,
/// or with none if the handler was dropped first (the connection closed).
struct Handling<'a> {
    log: &'a RequestLog,
    slot: (u64, usize),
    status: Option<StatusCode>,
}

impl Drop for Handling<'_> {
    fn drop(&mut self) {
        self.log.finish(self.slot, self.status);
    }
}

/// Outermost middleware (test mode): logs the request on arrival and its
/// final status once the response exists.
pub(crate) async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == RESET || path == REQUESTS {
        return next.run(req).await;
    }
    let entry = LoggedRequest {
        method: req.method().to_string(),
        path: req
            .uri()
            .path_and_query()
            .map_or(path, |pq| pq.as_str())
            .to_owned(),
        key: header_text(req.headers(), &IDEMPOTENCY_KEY),
        fault: header_text(req.headers(), &X_FAULT),
        status: None,
        done: false,
    };
    let mut handling = Handling {
        slot: state.log.push(entry),
        log: &state.log,
        status: None,
    };
    let response = next.run(req).await;
    handling.status = Some(response.status());
    response
}

async fn reset(State(state): State<AppState>) -> Response {
    let store = state.config.store.clone();
    match crate::domain::call(store, move |store| store.reset()).await {
        Ok(Ok(())) => {
            state.log.clear();
            tracing::info!("test mode: state reset");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(Err(err)) => Problem::from(err).into_response(),
        Err(err) => Problem::internal(err.to_string()).into_response(),
    }
}

async fn requests(State(state): State<AppState>) -> Json<Vec<LoggedRequest>> {
    Json(state.log.snapshot())
}
