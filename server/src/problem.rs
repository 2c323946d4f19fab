//! RFC 9457 problem details: every error this server returns is one of these,
//! served as `application/problem+json` with `type`, `title`, `status` and
//! `detail`, plus optional extension members (for example `paymentId`).
//!
//! The protocol's problem types (and [`Problem`] itself) come from
//! `submit_guard_idempotency::problem`; the demo's own are here.

pub use submit_guard_idempotency::problem::*;
use submit_guard_idempotency::problem_types;

problem_types! {
    /// 415: the request body's media type is not accepted.
    UNSUPPORTED_MEDIA_TYPE = "unsupported-media-type", "Unsupported request media type";
    /// 400: the invite token does not exist.
    INVITE_UNKNOWN = "invite-unknown", "Invalid invite token";
    /// 410: the invite expired before it was claimed.
    INVITE_EXPIRED = "invite-expired", "Invite has expired";
    /// 409: the invite was used but no claim record exists.
    INVITE_USED = "invite-used", "Invite already used";
    /// 409: the order already has a payment; the body carries its `paymentId`.
    ALREADY_PAID = "already-paid", "already paid";
    /// 409: the update was based on a stale order version; the body carries `currentVersion`.
    STALE_VERSION = "stale-version", "The order was changed by another request";
    /// Test mode: a fault injected through `X-Fault`.
    INJECTED_FAULT = "injected-fault", "Injected fault";
    /// Test mode: the `X-Fault` header does not parse.
    FAULT_MALFORMED = "fault-malformed", "X-Fault header is malformed";
}
