//! `POST /api/orgs`, `GET /api/orgs`, `GET /api/orgs/{id}`, `GET /api/memberships`.
//!
//! Field reports 000 and 001: a double-clicked "create organization" made
//! two orgs, or an org without its owner. Here the org and its owner
//! membership are created in one transaction, the slug is made unique by the
//! database's UNIQUE constraint, and the key makes a repeat a replay.

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{Effect, JsonBody, ok_json};
use crate::problem::Problem;
use crate::protocol::{self, Reply};

/// The longest org name, in characters, after trimming.
const MAX_NAME: usize = 100;

#[derive(Deserialize)]
pub(crate) struct CreateOrg {
    name: Option<String>,
}

pub(crate) async fn create(
    effect: Effect,
    headers: HeaderMap,
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
    let owner = protocol::principal(&headers);
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

pub(crate) async fn list(effect: Effect) -> Response {
    effect.read(|tx| ok_json(&tx.list_orgs()?)).await
}

pub(crate) async fn get_one(effect: Effect, Path(id): Path<String>) -> Response {
    effect
        .read(
            move |tx| match tx.list_orgs()?.into_iter().find(|org| org.id == id) {
                Some(org) => ok_json(&org),
                None => Ok(Problem::not_found(format!("no org {id}")).into_reply()),
            },
        )
        .await
}

pub(crate) async fn memberships(effect: Effect) -> Response {
    effect.read(|tx| ok_json(&tx.list_memberships()?)).await
}
