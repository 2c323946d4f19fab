//! `POST /api/orgs`, `GET /api/orgs`, `GET /api/orgs/{id}`, `GET /api/memberships`.
//!
//! Field reports 000 and 001: a double-clicked "create organization" made
//! two orgs, or an org without its owner. Here the org and its owner
//! membership are created in one transaction, the slug is made unique by the
//! database's UNIQUE constraint, and the key makes a repeat a replay.
//!
//! Principals are never listed: an org and a membership say `mine: true`
//! to their owner and `false` to everyone else.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{Effect, JsonBody, Paging, ok_json};
use crate::domain::Page;
use crate::model::{Membership, Org};
use crate::problem::Problem;
use crate::protocol::Reply;

/// The longest org name, in characters, after trimming.
const MAX_NAME: usize = 100;

#[derive(Deserialize)]
pub(crate) struct CreateOrg {
    name: Option<String>,
}

/// An org as listed: its owner only as `mine`.
fn org_view(org: &Org, principal: &str) -> serde_json::Value {
    json!({
        "id": org.id,
        "name": org.name,
        "slug": org.slug,
        "createdAt": org.created_at,
        "mine": org.owner == principal,
    })
}

/// A membership as listed: its principal only as `mine`.
fn membership_view(m: &Membership, principal: &str) -> serde_json::Value {
    json!({
        "id": m.id,
        "orgId": m.org_id,
        "role": m.role,
        "createdAt": m.created_at,
        "mine": m.principal == principal,
    })
}

pub(crate) async fn create(
    effect: Effect,
    parts: Parts,
    JsonBody(body): JsonBody<CreateOrg>,
) -> Response {
    let name = body
        .name
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if name.is_empty() {
        return Problem::invalid("name is required").into_response();
    }
    if name.chars().count() > MAX_NAME {
        return Problem::invalid(format!("name must be at most {MAX_NAME} characters"))
            .into_response();
    }
    let owner = effect.principal(&parts);
    let (org_id, membership_id) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
    let now = effect.now_ms();
    effect
        .run(move |tx| {
            let org = tx.create_org(&org_id, &membership_id, &name, &owner, now)?;
            Ok(Reply::json(
                StatusCode::CREATED,
                &json!({ "id": org.id, "name": org.name, "slug": org.slug }),
            )
            .with_header("location", format!("/api/orgs/{}", org.id)))
        })
        .await
}

pub(crate) async fn list(effect: Effect, parts: Parts, paging: Paging) -> Response {
    let me = effect.principal(&parts);
    effect
        .read(move |tx| {
            let orgs = tx.list_orgs(&paging.fetch())?;
            paging.reply(orgs, |o| &o.id, |o| org_view(o, &me))
        })
        .await
}

pub(crate) async fn get_one(effect: Effect, parts: Parts, Path(id): Path<String>) -> Response {
    let me = effect.principal(&parts);
    effect
        .read(move |tx| {
            match tx
                .list_orgs(&Page::all())?
                .into_iter()
                .find(|org| org.id == id)
            {
                Some(org) => ok_json(&org_view(&org, &me)),
                None => Ok(Problem::not_found(format!("no org {id}")).into_reply()),
            }
        })
        .await
}

pub(crate) async fn memberships(effect: Effect, parts: Parts, paging: Paging) -> Response {
    let me = effect.principal(&parts);
    effect
        .read(move |tx| {
            let list = tx.list_memberships(&paging.fetch())?;
            paging.reply(list, |m| &m.id, |m| membership_view(m, &me))
        })
        .await
}
