//! `POST /api/invites`, `POST /api/invites/{token}/claim`, `GET /api/invites`.
//!
//! Field report 002: a wizard submitted twice and two Submission rows were
//! created for one invite, because the claim was read-then-update. Here the
//! claim is one conditional UPDATE (`… WHERE token = ? AND used_at IS NULL
//! AND expires_at > now`); the loser learns why it lost with a read:
//! already claimed → 200 with the same claim id, unknown → 400, expired →
//! 410, used without a record → 409.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{Effect, JsonBody, Paging, as_json};
use crate::model::{Invite, InviteClaim};
use crate::problem::{self, Problem};
use crate::protocol::Reply;

/// Default invite lifetime: one day.
const DEFAULT_TTL_SECONDS: i64 = 86_400;
/// Longest invite lifetime: 30 days.
const MAX_TTL_SECONDS: i64 = 30 * 86_400;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateInvite {
    email: Option<String>,
    ttl_seconds: Option<i64>,
}

fn valid_email(email: Option<&str>) -> Option<String> {
    let email = email?.trim();
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && email.len() <= 254
        && !email.contains(char::is_whitespace);
    ok.then(|| email.to_owned())
}

pub(crate) async fn create(effect: Effect, JsonBody(body): JsonBody<CreateInvite>) -> Response {
    let Some(email) = valid_email(body.email.as_deref()) else {
        return Problem::invalid("email must be an address like name@example.com").into_response();
    };
    let ttl = body.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
    if !(0..=MAX_TTL_SECONDS).contains(&ttl) {
        return Problem::invalid(format!(
            "ttlSeconds must be between 0 and {MAX_TTL_SECONDS}"
        ))
        .into_response();
    }
    let now = effect.now_ms();
    let invite = Invite {
        token: Uuid::new_v4().simple().to_string(),
        email,
        expires_at: now + ttl * 1000,
        used_at: None,
        claim_id: None,
        created_at: now,
    };
    effect
        .run(move |tx| {
            tx.create_invite(&invite)?;
            Ok(Reply::json(
                StatusCode::CREATED,
                &json!({ "token": invite.token, "email": invite.email, "expiresAt": invite.expires_at }),
            ))
        })
        .await
}

pub(crate) async fn claim(effect: Effect, Path(token): Path<String>) -> Response {
    let claim_id = Uuid::new_v4().to_string();
    let now = effect.now_ms();
    effect
        .run(move |tx| {
            Ok(match tx.claim_invite(&token, &claim_id, now)? {
                InviteClaim::Created(id) => Reply::json(StatusCode::CREATED, &json!({ "id": id })),
                InviteClaim::Repeat(id) => {
                    Reply::json(StatusCode::OK, &json!({ "id": id, "idempotent": true }))
                }
                InviteClaim::Unknown => Problem::new(
                    StatusCode::BAD_REQUEST,
                    problem::INVITE_UNKNOWN,
                    "no invite has this token",
                )
                .into_reply(),
                InviteClaim::Expired => Problem::new(
                    StatusCode::GONE,
                    problem::INVITE_EXPIRED,
                    "the invite expired before it was claimed",
                )
                .into_reply(),
                InviteClaim::UsedWithoutRecord => Problem::new(
                    StatusCode::CONFLICT,
                    problem::INVITE_USED,
                    "the invite was used but its claim record is missing",
                )
                .into_reply(),
            })
        })
        .await
}

pub(crate) async fn list(effect: Effect, paging: Paging) -> Response {
    effect
        .read(move |tx| paging.reply(tx.list_invites(&paging.fetch())?, |i| &i.token, as_json))
        .await
}
