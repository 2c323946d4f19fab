//! RFC 9457 problem details: every error the layer returns is one of these,
//! served as `application/problem+json` with `type`, `title`, `status` and
//! `detail`, plus optional extension members. Apps may use [`Problem`] for
//! their own errors, with [`ProblemType`]s of their own.

use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Map, Value};

use crate::protocol::Reply;
use crate::store::StoreError;

/// The media type of a problem body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem type: a stable URI plus its human title.
///
/// The URIs are URNs (`urn:submit-guard:problem:…`): stable identifiers to
/// switch on, not links to dereference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemType {
    /// The `type` member.
    pub uri: &'static str,
    /// The `title` member: the same for every occurrence of the type.
    pub title: &'static str,
}

/// Declares [`ProblemType`] constants, one per line:
/// `/// doc` `NAME = "slug", "Title";` gives `NAME` with the URI
/// `urn:submit-guard:problem:slug`. Apps declare their own types with it.
#[macro_export]
macro_rules! problem_types {
    ($($(#[$doc:meta])* $name:ident = $slug:literal, $title:literal;)*) => {
        $(
            $(#[$doc])*
            pub const $name: $crate::problem::ProblemType = $crate::problem::ProblemType {
                uri: concat!("urn:submit-guard:problem:", $slug),
                title: $title,
            };
        )*
    };
}

problem_types! {
    /// 400: a protected request carried no `Idempotency-Key` while the server requires one.
    KEY_MISSING = "idempotency-key-missing", "Idempotency-Key header is required";
    /// 400: the `Idempotency-Key` header is malformed or repeated.
    KEY_MALFORMED = "idempotency-key-malformed", "Idempotency-Key header is malformed";
    /// 409: a request with the same key is still being processed.
    KEY_IN_USE = "idempotency-key-in-use", "A request with this Idempotency-Key is still in flight";
    /// 409: this request's claim was taken over after its lock expired; its effect was rolled back.
    CLAIM_SUPERSEDED = "idempotency-claim-superseded", "This request's claim on its Idempotency-Key was taken over";
    /// 422: the key was first used with a different method, path or body.
    KEY_MISMATCH = "idempotency-key-mismatch", "Idempotency-Key was already used for a different request";
    /// 400: the request body is not what the endpoint accepts.
    INVALID_REQUEST = "invalid-request", "The request is invalid";
    /// 413: the request body is larger than the server's limit.
    BODY_TOO_LARGE = "body-too-large", "The request body is too large";
    /// 404: no such resource.
    NOT_FOUND = "not-found", "Not found";
    /// 503: the store could not be reached; retry after `Retry-After` seconds.
    STORE_UNAVAILABLE = "store-unavailable", "The store is unavailable";
    /// 503: the store is broken (its file deleted, replaced or read-only); no `Retry-After`, a retry in a second will not help.
    STORE_FAILED = "store-failed", "The store has failed";
    /// 500: an unexpected server error.
    INTERNAL = "internal", "Internal server error";
    /// 500: a protected handler answered with a success but recorded no reply
    /// under its claim (a bug in the app: it must commit through the store's
    /// typed API, or the layer must run in plain mode). The claim is kept
    /// until the lock timeout, so a retry cannot run the effect again at once.
    REPLY_NOT_RECORDED = "idempotency-reply-not-recorded", "The handler did not record its reply";
}

/// One problem response.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The HTTP status, repeated in the body's `status` member.
    pub status: StatusCode,
    /// The problem type.
    pub kind: ProblemType,
    /// Human explanation of this occurrence.
    pub detail: String,
    /// Extension members, merged into the body.
    pub extensions: Map<String, Value>,
    /// `Retry-After` seconds, when a retry may succeed.
    pub retry_after: Option<u32>,
}

impl Problem {
    /// A problem of `kind` with `status` and `detail`.
    pub fn new(status: StatusCode, kind: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            detail: detail.into(),
            extensions: Map::new(),
            retry_after: None,
        }
    }

    /// 400 invalid request.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, INVALID_REQUEST, detail)
    }

    /// 404 not found.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, NOT_FOUND, detail)
    }

    /// 503 store unavailable, with `Retry-After: 1`.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, STORE_UNAVAILABLE, detail).retry_after(1)
    }

    /// 500 internal error.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL, detail)
    }

    /// The problem for a request body that could not be read: 413 when it
    /// went over the body limit, 400 otherwise.
    pub fn from_body_error(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = source {
            if e.is::<http_body_util::LengthLimitError>() {
                return Self::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    BODY_TOO_LARGE,
                    "the request body is larger than the server accepts",
                );
            }
            source = e.source();
        }
        Self::invalid(format!("could not read the request body: {err}"))
    }

    /// Adds an extension member to the body.
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(name.to_owned(), value.into());
        self
    }

    /// Sets `Retry-After` in seconds.
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The problem as a [`Reply`]: what a handler returns from inside a transaction.
    pub fn into_reply(self) -> Reply {
        let mut body = Map::new();
        body.insert("type".into(), self.kind.uri.into());
        body.insert("title".into(), self.kind.title.into());
        body.insert("status".into(), self.status.as_u16().into());
        body.insert("detail".into(), self.detail.into());
        for (name, value) in self.extensions {
            body.entry(name).or_insert(value);
        }
        let mut reply = Reply {
            status: self.status.as_u16(),
            headers: vec![("content-type".into(), PROBLEM_JSON.into())],
            body: serde_json::to_vec(&Value::Object(body)).unwrap_or_default(),
        };
        if let Some(seconds) = self.retry_after {
            reply
                .headers
                .push(("retry-after".into(), seconds.to_string()));
        }
        reply
    }
}

impl From<StoreError> for Problem {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(detail) => Self::unavailable(detail),
            StoreError::Failed(detail) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, STORE_FAILED, detail)
            }
            StoreError::Internal(detail) => Self::internal(detail),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        self.into_reply().into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_four_members_and_extensions() {
        const ALREADY_PAID: ProblemType = ProblemType {
            uri: "urn:submit-guard:problem:already-paid",
            title: "already paid",
        };
        let reply = Problem::new(StatusCode::CONFLICT, ALREADY_PAID, "order o1 is paid")
            .with("paymentId", "p1")
            .retry_after(2)
            .into_reply();
        assert_eq!(reply.status, 409);
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["type"], "urn:submit-guard:problem:already-paid");
        assert_eq!(body["title"], "already paid");
        assert_eq!(body["status"], 409);
        assert_eq!(body["detail"], "order o1 is paid");
        assert_eq!(body["paymentId"], "p1");
        assert!(reply.headers.contains(&("retry-after".into(), "2".into())));
        assert!(
            reply
                .headers
                .contains(&("content-type".into(), PROBLEM_JSON.into()))
        );
    }

    #[test]
    fn extensions_cannot_overwrite_standard_members() {
        let reply = Problem::invalid("bad").with("status", 200).into_reply();
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["status"], 400);
    }
}
