//! `POST /api/qr/sessions`, `GET /api/qr/sessions`.
//!
//! Field report 003: opening a table's QR link creates a guest session, and
//! by design every call creates a new one (privacy: no session reuse). So
//! without a key, two calls are two sessions; only the Idempotency-Key (and
//! the client guard in front of it) turns a double effect into one.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Effect, JsonBody, Paging, as_json};
use crate::model::QrSession;
use crate::problem::Problem;
use crate::protocol::Reply;

#[derive(Deserialize)]
pub(crate) struct CreateSession {
    table: Option<Value>,
}

/// A table is a non-empty string of at most 100 characters, or an integer.
fn valid_table(table: Option<Value>) -> Result<Value, Problem> {
    match table {
        Some(Value::String(s)) if !s.trim().is_empty() && s.trim().chars().count() <= 100 => {
            Ok(Value::String(s.trim().to_owned()))
        }
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Value::Number(n)),
        _ => Err(Problem::invalid(
            "table must be a non-empty string (at most 100 characters) or an integer",
        )),
    }
}

pub(crate) async fn create(effect: Effect, JsonBody(body): JsonBody<CreateSession>) -> Response {
    let table = match valid_table(body.table) {
        Ok(table) => table,
        Err(problem) => return problem.into_response(),
    };
    let session = QrSession {
        id: Uuid::new_v4().to_string(),
        table,
        created_at: effect.now_ms(),
    };
    effect
        .run(move |tx| {
            tx.create_qr_session(&session)?;
            Ok(Reply::json(
                StatusCode::CREATED,
                &json!({ "id": session.id, "table": session.table }),
            ))
        })
        .await
}

pub(crate) async fn list(effect: Effect, paging: Paging) -> Response {
    effect
        .read(move |tx| paging.reply(tx.list_qr_sessions(&paging.fetch())?, |q| &q.id, as_json))
        .await
}
