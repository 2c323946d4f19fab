//! `POST /api/orders`, `GET /api/orders`, `GET /api/orders/{id}`,
//! `POST /api/orders/{id}/pay`, `PUT /api/orders/{id}/items`, `GET /api/payments`.
//!
//! Field report 004: find-then-update lost concurrent item updates and let
//! two tabs complete one order. Here an items update is a compare-and-set on
//! the order's version (409 when stale), and an order has at most one
//! payment whatever the keys, enforced by `UNIQUE (order_id)`: a second pay
//! gets 409 `already paid` with the existing `paymentId`.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Effect, JsonBody, Paging, as_json};
use crate::model::{Order, PayOutcome, UpdateOutcome};
use crate::problem::{self, Problem};
use crate::protocol::Reply;

#[derive(Deserialize)]
pub(crate) struct CreateOrder {
    items: Option<Value>,
}

#[derive(Deserialize)]
pub(crate) struct UpdateItems {
    items: Option<Value>,
    version: Option<i64>,
}

fn etag(order: &Order) -> String {
    format!("\"v{}\"", order.version)
}

fn order_reply(status: StatusCode, order: &Order) -> Reply {
    Reply::json(status, order).with_header("etag", etag(order))
}

fn no_order(id: &str) -> Reply {
    Problem::not_found(format!("no order {id}")).into_reply()
}

pub(crate) async fn create(effect: Effect, JsonBody(body): JsonBody<CreateOrder>) -> Response {
    let items = match body.items {
        None => Value::Array(Vec::new()),
        Some(items @ Value::Array(_)) => items,
        Some(_) => return Problem::invalid("items must be an array").into_response(),
    };
    let order = Order {
        id: Uuid::new_v4().to_string(),
        version: 1,
        items,
        created_at: effect.now_ms(),
    };
    effect
        .run(move |tx| {
            tx.create_order(&order)?;
            Ok(order_reply(StatusCode::CREATED, &order)
                .with_header("location", format!("/api/orders/{}", order.id)))
        })
        .await
}

pub(crate) async fn list(effect: Effect, paging: Paging) -> Response {
    effect
        .read(move |tx| paging.reply(tx.list_orders(&paging.fetch())?, |o| &o.id, as_json))
        .await
}

pub(crate) async fn get_one(effect: Effect, Path(id): Path<String>) -> Response {
    effect
        .read(move |tx| {
            Ok(match tx.get_order(&id)? {
                Some(order) => order_reply(StatusCode::OK, &order),
                None => no_order(&id),
            })
        })
        .await
}

pub(crate) async fn pay(effect: Effect, Path(id): Path<String>) -> Response {
    let payment_id = Uuid::new_v4().to_string();
    let now = effect.now_ms();
    effect
        .run(move |tx| {
            Ok(match tx.pay_order(&id, &payment_id, now)? {
                PayOutcome::Paid(p) => Reply::json(
                    StatusCode::CREATED,
                    &json!({ "paymentId": p.payment_id, "orderId": p.order_id }),
                ),
                PayOutcome::AlreadyPaid(p) => Problem::new(
                    StatusCode::CONFLICT,
                    problem::ALREADY_PAID,
                    format!("order {} already has payment {}", p.order_id, p.payment_id),
                )
                .with("paymentId", p.payment_id)
                .with("orderId", p.order_id)
                .into_reply(),
                PayOutcome::NoOrder => no_order(&id),
            })
        })
        .await
}

pub(crate) async fn update_items(
    effect: Effect,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateItems>,
) -> Response {
    let (Some(items @ Value::Array(_)), Some(version)) = (body.items, body.version) else {
        return Problem::invalid("items (an array) and version (an integer) are required")
            .into_response();
    };
    effect
        .run(move |tx| {
            Ok(match tx.update_items(&id, &items, version)? {
                UpdateOutcome::Updated(order) => order_reply(StatusCode::OK, &order),
                UpdateOutcome::Stale(current) => Problem::new(
                    StatusCode::CONFLICT,
                    problem::STALE_VERSION,
                    format!("order {id} is at version {current}, not {version}"),
                )
                .with("currentVersion", current)
                .into_reply(),
                UpdateOutcome::NoOrder => no_order(&id),
            })
        })
        .await
}

pub(crate) async fn payments(effect: Effect, paging: Paging) -> Response {
    effect
        .read(move |tx| {
            paging.reply(
                tx.list_payments(&paging.fetch())?,
                |p| &p.payment_id,
                as_json,
            )
        })
        .await
}
