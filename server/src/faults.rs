//! Test mode fault injection through the `X-Fault` request header.
//!
//! Grammar (whitespace around `;` and `=` is ignored):
//!
//! ```text
//! X-Fault: <fault> [; times=N]
//! fault   = delay=MS | fail-before-commit | fail-after-commit | drop-after-commit
//!         | garble-after-commit | reset-after-commit | status=CODE | kill=after-claim | kill=after-effect | kill=after-store
//! ```
//!
//! Where each fault strikes is documented on [`Fault`]. With `times=N` the
//! fault applies to the first N requests carrying the same `Idempotency-Key`
//! value (or, without a key, the same `X-Fault` value); the counters live in
//! the store, so they survive a restart on the same SQLite file and are
//! cleared by `POST /api/_reset`. Without `times`, every request carrying the
//! header is hit. Outside test mode the header is ignored.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::problem::{self, Problem};
use crate::protocol::IDEMPOTENCY_KEY;

/// `X-Fault`: the test mode request header.
pub const X_FAULT: HeaderName = HeaderName::from_static("x-fault");

/// The longest accepted `delay`.
const MAX_DELAY: Duration = Duration::from_secs(600);

/// One injectable fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Sleep this long before the handler runs (after the claim, so the key
    /// is held while sleeping).
    Delay(Duration),
    /// Run the effect, then fail with 500 before commit: nothing committed,
    /// key released.
    FailBeforeCommit,
    /// Commit the effect and the stored response, then answer 500.
    FailAfterCommit,
    /// Commit the effect and the stored response, then close the connection
    /// without any response (needs [`crate::serve`]). A browser resends a
    /// request whose kept-alive connection closed this way by itself, so a
    /// page sees the replay, never the loss.
    DropAfterCommit,
    /// Commit the effect and the stored response, then send a response head
    /// no client may accept (the status line and two different
    /// `Content-Length` values) and close the connection (needs
    /// [`crate::serve`]). The lost response a browser cannot hide: `fetch`
    /// rejects with a `TypeError` and the browser does not resend.
    GarbleAfterCommit,
    /// Commit the effect and the stored response, then reset the connection
    /// (RST) without any response (needs [`crate::serve`]). Like
    /// [`Fault::DropAfterCommit`], a browser resends by itself on a
    /// kept-alive connection.
    ResetAfterCommit,
    /// Answer this status with a problem body before anything else: no
    /// claim, no handler, nothing stored. 503 and 429 carry `Retry-After: 1`.
    Status(StatusCode),
    /// SIGKILL the server process at this phase.
    Kill(Phase),
}

/// Where a [`Fault::Kill`] strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// After the claim is committed, before the handler (without a key:
    /// just before the handler).
    AfterClaim,
    /// After the effect's statements ran inside the transaction, before commit.
    AfterEffect,
    /// After the effect and the stored response committed.
    AfterStore,
}

/// A parsed `X-Fault` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpec {
    /// The fault.
    pub fault: Fault,
    /// `times=N`: strike only the first N matching requests.
    pub times: Option<u64>,
}

/// Parses an `X-Fault` value; the error says what is wrong.
pub fn parse(raw: &str) -> Result<FaultSpec, String> {
    let mut parts = raw.split(';').map(str::trim);
    let head = parts.next().unwrap_or_default();
    let (name, value) = match head.split_once('=') {
        Some((n, v)) => (n.trim(), Some(v.trim())),
        None => (head, None),
    };
    let fault = match (name, value) {
        ("delay", Some(ms)) => {
            let ms: u64 = ms
                .parse()
                .map_err(|_| format!("delay needs milliseconds, got {ms:?}"))?;
            let delay = Duration::from_millis(ms);
            if delay > MAX_DELAY {
                return Err(format!("delay is capped at {} ms", MAX_DELAY.as_millis()));
            }
            Fault::Delay(delay)
        }
        ("fail-before-commit", None) => Fault::FailBeforeCommit,
        ("fail-after-commit", None) => Fault::FailAfterCommit,
        ("drop-after-commit", None) => Fault::DropAfterCommit,
        ("garble-after-commit", None) => Fault::GarbleAfterCommit,
        ("reset-after-commit", None) => Fault::ResetAfterCommit,
        ("status", Some(code)) => {
            let code = code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .filter(|c| c.is_client_error() || c.is_server_error())
                .ok_or_else(|| format!("status needs a 4xx or 5xx code, got {code:?}"))?;
            Fault::Status(code)
        }
        ("kill", Some("after-claim")) => Fault::Kill(Phase::AfterClaim),
        ("kill", Some("after-effect")) => Fault::Kill(Phase::AfterEffect),
        ("kill", Some("after-store")) => Fault::Kill(Phase::AfterStore),
        _ => return Err(format!("unknown fault {head:?}")),
    };
    let mut times = None;
    for param in parts {
        match param.split_once('=').map(|(n, v)| (n.trim(), v.trim())) {
            Some(("times", n)) if times.is_none() => {
                let n: u64 = n
                    .parse()
                    .map_err(|_| format!("times needs a count, got {n:?}"))?;
                if n == 0 {
                    return Err("times must be at least 1".into());
                }
                times = Some(n);
            }
            _ => return Err(format!("unknown or repeated parameter {param:?}")),
        }
    }
    Ok(FaultSpec { fault, times })
}

/// The fault chosen for this request, as a request extension.
#[derive(Debug, Clone)]
pub(crate) struct ActiveFault(pub(crate) Fault);

/// Outer middleware (test mode): parses `X-Fault`, counts `times`, answers
/// `status=CODE` at once, and hands every other fault on as [`ActiveFault`].
pub(crate) async fn inject(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(raw) = req.headers().get(&X_FAULT) else {
        return next.run(req).await;
    };
    let raw = String::from_utf8_lossy(raw.as_bytes()).into_owned();
    let spec = match parse(&raw) {
        Ok(spec) => spec,
        Err(detail) => {
            return Problem::new(StatusCode::BAD_REQUEST, problem::FAULT_MALFORMED, detail)
                .into_response();
        }
    };
    if let Some(times) = spec.times {
        let counter = match req.headers().get(&IDEMPOTENCY_KEY) {
            Some(key) => format!("key:{}", String::from_utf8_lossy(key.as_bytes())),
            None => format!("fault:{raw}"),
        };
        let store = state.config.store.clone();
        let hits = crate::store::call(store, move |store| store.count_fault(&counter)).await;
        match hits {
            Ok(Ok(hits)) if hits > times => return next.run(req).await,
            Ok(Ok(_)) => {}
            Ok(Err(err)) => return Problem::from(err).into_response(),
            Err(err) => return Problem::internal(err.to_string()).into_response(),
        }
    }
    if let Fault::Status(status) = spec.fault {
        tracing::info!(%status, path = %req.uri().path(), "fault: status");
        let problem = Problem::new(status, problem::INJECTED_FAULT, format!("X-Fault: {raw}"));
        return match status.as_u16() {
            429 | 503 => problem.retry_after(1),
            _ => problem,
        }
        .into_response();
    }
    req.extensions_mut().insert(ActiveFault(spec.fault));
    next.run(req).await
}

/// Inner middleware, right around the handler (inside the idempotency
/// layer): applies `delay` and `kill=after-claim`.
pub(crate) async fn before_handler(req: Request, next: Next) -> Response {
    match req.extensions().get::<ActiveFault>() {
        Some(ActiveFault(Fault::Delay(delay))) => tokio::time::sleep(*delay).await,
        Some(ActiveFault(Fault::Kill(Phase::AfterClaim))) => kill_self(Phase::AfterClaim),
        _ => {}
    }
    next.run(req).await
}

/// Sends SIGKILL to this process: no destructors, no flushing, as in a crash.
pub(crate) fn kill_self(phase: Phase) -> ! {
    tracing::warn!(?phase, "fault: killing the process");
    let result =
        rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    // SIGKILL cannot be caught; reaching this line means kill(2) failed.
    tracing::error!(?result, "fault: kill failed, aborting instead");
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_fault() {
        let ok = |raw: &str, fault: Fault, times: Option<u64>| {
            assert_eq!(parse(raw), Ok(FaultSpec { fault, times }), "{raw}");
        };
        ok("delay=250", Fault::Delay(Duration::from_millis(250)), None);
        ok("fail-before-commit", Fault::FailBeforeCommit, None);
        ok(
            "fail-after-commit; times=1",
            Fault::FailAfterCommit,
            Some(1),
        );
        ok(
            " drop-after-commit ;times = 3 ",
            Fault::DropAfterCommit,
            Some(3),
        );
        ok("garble-after-commit", Fault::GarbleAfterCommit, None);
        ok(
            "reset-after-commit; times=1",
            Fault::ResetAfterCommit,
            Some(1),
        );
        ok(
            "status=503",
            Fault::Status(StatusCode::SERVICE_UNAVAILABLE),
            None,
        );
        ok(
            "kill=after-claim; times=1",
            Fault::Kill(Phase::AfterClaim),
            Some(1),
        );
        ok("kill=after-effect", Fault::Kill(Phase::AfterEffect), None);
        ok("kill=after-store", Fault::Kill(Phase::AfterStore), None);
    }

    #[test]
    fn rejects_nonsense() {
        for raw in [
            "",
            "delay",
            "delay=soon",
            "delay=600001",
            "status=200",
            "status=abc",
            "kill",
            "kill=now",
            "explode",
            "fail-before-commit=1",
            "garble-after-commit=1",
            "delay=1; times=0",
            "delay=1; times=x",
            "delay=1; times=1; times=2",
            "delay=1; other=2",
        ] {
            assert!(parse(raw).is_err(), "{raw:?} should not parse");
        }
    }
}
