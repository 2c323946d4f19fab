//! The domain operations in PostgreSQL's SQL, as in the SQLite store: every
//! write is one conditional statement whose `WHERE` clause or constraint is
//! the whole guard; reads that follow a miss only explain the miss.

use serde_json::Value;
use tokio::runtime::Handle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Transaction};

use super::map_err;
use crate::domain::{Page, StoreError, Tx, no_free_slug};
use crate::model::{
    self, Invite, InviteClaim, Membership, Order, Org, PayOutcome, Payment, QrSession,
    UpdateOutcome,
};

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// A transaction driven from a blocking thread: each statement is one
/// `block_on`.
pub(super) struct PgTx<'a> {
    tx: &'a Transaction<'a>,
    runtime: &'a Handle,
}

impl<'a> PgTx<'a> {
    pub(super) fn new(tx: &'a Transaction<'a>, runtime: &'a Handle) -> Self {
        Self { tx, runtime }
    }

    fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
        self.runtime
            .block_on(self.tx.execute(sql, params))
            .map_err(map_err)
    }

    fn query_opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>, StoreError> {
        self.runtime
            .block_on(self.tx.query_opt(sql, params))
            .map_err(map_err)
    }

    fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, StoreError> {
        self.runtime
            .block_on(self.tx.query(sql, params))
            .map_err(map_err)
    }

    /// Runs a list query whose `$1` is the page's `after` id (or NULL) and
    /// `$2` its limit.
    fn list<T>(
        &self,
        sql: &str,
        page: &Page,
        map: impl Fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.query(sql, &[&page.after, &page.sql_limit()])?
            .iter()
            .map(map)
            .collect()
    }
}

fn get<'r, T: tokio_postgres::types::FromSql<'r>>(
    row: &'r Row,
    idx: usize,
) -> Result<T, StoreError> {
    row.try_get(idx).map_err(map_err)
}

fn json_column(row: &Row, idx: usize) -> Result<Value, StoreError> {
    let text: String = get(row, idx)?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Internal(format!("stored JSON in column {idx}: {e}")))
}

fn to_json(value: &Value) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Internal(e.to_string()))
}

fn order_row(row: &Row) -> Result<Order, StoreError> {
    Ok(Order {
        id: get(row, 0)?,
        items: json_column(row, 1)?,
        version: get(row, 2)?,
        created_at: get(row, 3)?,
    })
}

fn payment_row(row: &Row) -> Result<Payment, StoreError> {
    Ok(Payment {
        payment_id: get(row, 0)?,
        order_id: get(row, 1)?,
        created_at: get(row, 2)?,
    })
}

impl Tx for PgTx<'_> {
    fn create_org(
        &mut self,
        org_id: &str,
        membership_id: &str,
        name: &str,
        owner: &str,
        now: i64,
    ) -> Result<Org, StoreError> {
        // The counter row's lock orders concurrent creates of one name; the
        // UNIQUE constraint decides each candidate (no read of existing slugs).
        let base = model::slugify(name);
        let slug = model::allocate_slug::<StoreError>(
            &base,
            || {
                let row = self.query_opt(
                    "INSERT INTO slug_counters (base, next_n) VALUES ($1, 1)
                     ON CONFLICT (base) DO UPDATE SET next_n = slug_counters.next_n + 1
                     RETURNING next_n - 1",
                    &[&base],
                )?;
                let n: i64 = match row {
                    Some(row) => get(&row, 0)?,
                    None => return Err(StoreError::Internal("slug counter not returned".into())),
                };
                Ok(u32::try_from(n).unwrap_or(u32::MAX))
            },
            |slug| {
                let inserted = self.execute(
                    "INSERT INTO orgs (id, name, slug, owner, created_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (slug) DO NOTHING",
                    &[&org_id, &name, &slug, &owner, &now],
                )?;
                Ok(inserted == 1)
            },
        )?
        .ok_or_else(|| no_free_slug(&base))?;
        self.execute(
            "INSERT INTO memberships (id, org_id, principal, role, created_at)
             VALUES ($1, $2, $3, 'owner', $4)",
            &[&membership_id, &org_id, &owner, &now],
        )?;
        Ok(Org {
            id: org_id.into(),
            name: name.into(),
            slug,
            owner: owner.into(),
            created_at: now,
        })
    }

    fn list_orgs(&mut self, page: &Page) -> Result<Vec<Org>, StoreError> {
        self.list(
            "SELECT id, name, slug, owner, created_at FROM orgs
              WHERE $1::text IS NULL OR (created_at, seq) > (SELECT created_at, seq FROM orgs WHERE id = $1)
              ORDER BY created_at, seq LIMIT $2",
            page,
            |row| {
                Ok(Org {
                    id: get(row, 0)?,
                    name: get(row, 1)?,
                    slug: get(row, 2)?,
                    owner: get(row, 3)?,
                    created_at: get(row, 4)?,
                })
            },
        )
    }

    fn list_memberships(&mut self, page: &Page) -> Result<Vec<Membership>, StoreError> {
        self.list(
            "SELECT id, org_id, principal, role, created_at FROM memberships
              WHERE $1::text IS NULL OR (created_at, seq) > (SELECT created_at, seq FROM memberships WHERE id = $1)
              ORDER BY created_at, seq LIMIT $2",
            page,
            |row| {
                Ok(Membership {
                    id: get(row, 0)?,
                    org_id: get(row, 1)?,
                    principal: get(row, 2)?,
                    role: get(row, 3)?,
                    created_at: get(row, 4)?,
                })
            },
        )
    }

    fn create_invite(&mut self, invite: &Invite) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO invites (token, email, expires_at, used_at, created_at)
             VALUES ($1, $2, $3, NULL, $4)",
            &[
                &invite.token,
                &invite.email,
                &invite.expires_at,
                &invite.created_at,
            ],
        )?;
        Ok(())
    }

    fn claim_invite(
        &mut self,
        token: &str,
        claim_id: &str,
        now: i64,
    ) -> Result<InviteClaim, StoreError> {
        // The guard is the WHERE clause: exactly one concurrent caller's
        // update matches.
        let won = self.execute(
            "UPDATE invites SET used_at = $1
              WHERE token = $2 AND used_at IS NULL AND expires_at > $1",
            &[&now, &token],
        )?;
        if won == 1 {
            self.execute(
                "INSERT INTO invite_claims (id, token, created_at) VALUES ($1, $2, $3)",
                &[&claim_id, &token, &now],
            )?;
            return Ok(InviteClaim::Created(claim_id.into()));
        }
        let found = self.query_opt(
            "SELECT i.used_at, c.id FROM invites i LEFT JOIN invite_claims c ON c.token = i.token
              WHERE i.token = $1",
            &[&token],
        )?;
        let Some(row) = found else {
            return Ok(InviteClaim::Unknown);
        };
        let used_at: Option<i64> = get(&row, 0)?;
        let claim: Option<String> = get(&row, 1)?;
        Ok(match (used_at, claim) {
            (Some(_), Some(id)) => InviteClaim::Repeat(id),
            (Some(_), None) => InviteClaim::UsedWithoutRecord,
            (None, _) => InviteClaim::Expired,
        })
    }

    fn list_invites(&mut self, page: &Page) -> Result<Vec<Invite>, StoreError> {
        self.list(
            "SELECT i.token, i.email, i.expires_at, i.used_at, c.id, i.created_at
               FROM invites i LEFT JOIN invite_claims c ON c.token = i.token
              WHERE $1::text IS NULL OR (i.created_at, i.seq) > (SELECT created_at, seq FROM invites WHERE token = $1)
              ORDER BY i.created_at, i.seq LIMIT $2",
            page,
            |row| {
                Ok(Invite {
                    token: get(row, 0)?,
                    email: get(row, 1)?,
                    expires_at: get(row, 2)?,
                    used_at: get(row, 3)?,
                    claim_id: get(row, 4)?,
                    created_at: get(row, 5)?,
                })
            },
        )
    }

    fn create_qr_session(&mut self, session: &QrSession) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO qr_sessions (id, table_ref, created_at) VALUES ($1, $2, $3)",
            &[&session.id, &to_json(&session.table)?, &session.created_at],
        )?;
        Ok(())
    }

    fn list_qr_sessions(&mut self, page: &Page) -> Result<Vec<QrSession>, StoreError> {
        self.list(
            "SELECT id, table_ref, created_at FROM qr_sessions
              WHERE $1::text IS NULL OR (created_at, seq) > (SELECT created_at, seq FROM qr_sessions WHERE id = $1)
              ORDER BY created_at, seq LIMIT $2",
            page,
            |row| {
                Ok(QrSession {
                    id: get(row, 0)?,
                    table: json_column(row, 1)?,
                    created_at: get(row, 2)?,
                })
            },
        )
    }

    fn create_order(&mut self, order: &Order) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO orders (id, items, version, created_at) VALUES ($1, $2, $3, $4)",
            &[
                &order.id,
                &to_json(&order.items)?,
                &order.version,
                &order.created_at,
            ],
        )?;
        Ok(())
    }

    fn get_order(&mut self, id: &str) -> Result<Option<Order>, StoreError> {
        self.query_opt(
            "SELECT id, items, version, created_at FROM orders WHERE id = $1",
            &[&id],
        )?
        .as_ref()
        .map(order_row)
        .transpose()
    }

    fn list_orders(&mut self, page: &Page) -> Result<Vec<Order>, StoreError> {
        self.list(
            "SELECT id, items, version, created_at FROM orders
              WHERE $1::text IS NULL OR (created_at, seq) > (SELECT created_at, seq FROM orders WHERE id = $1)
              ORDER BY created_at, seq LIMIT $2",
            page,
            order_row,
        )
    }

    fn update_items(
        &mut self,
        id: &str,
        items: &Value,
        expected_version: i64,
    ) -> Result<UpdateOutcome, StoreError> {
        // Compare-and-set on the version, no find-then-update.
        let updated = self.query_opt(
            "UPDATE orders SET items = $1, version = version + 1 WHERE id = $2 AND version = $3
             RETURNING id, items, version, created_at",
            &[&to_json(items)?, &id, &expected_version],
        )?;
        if let Some(row) = updated {
            return Ok(UpdateOutcome::Updated(order_row(&row)?));
        }
        let current = self.query_opt("SELECT version FROM orders WHERE id = $1", &[&id])?;
        Ok(match current {
            Some(row) => UpdateOutcome::Stale(get(&row, 0)?),
            None => UpdateOutcome::NoOrder,
        })
    }

    fn pay_order(
        &mut self,
        order_id: &str,
        payment_id: &str,
        now: i64,
    ) -> Result<PayOutcome, StoreError> {
        // One payment per order: UNIQUE (order_id) decides, not a prior read.
        let paid = self.query_opt(
            "INSERT INTO payments (id, order_id, created_at)
             SELECT $1, id, $3 FROM orders WHERE id = $2
             ON CONFLICT (order_id) DO NOTHING
             RETURNING id, order_id, created_at",
            &[&payment_id, &order_id, &now],
        )?;
        if let Some(row) = paid {
            return Ok(PayOutcome::Paid(payment_row(&row)?));
        }
        let existing = self.query_opt(
            "SELECT id, order_id, created_at FROM payments WHERE order_id = $1",
            &[&order_id],
        )?;
        Ok(match existing {
            Some(row) => PayOutcome::AlreadyPaid(payment_row(&row)?),
            None => PayOutcome::NoOrder,
        })
    }

    fn list_payments(&mut self, page: &Page) -> Result<Vec<Payment>, StoreError> {
        self.list(
            "SELECT id, order_id, created_at FROM payments
              WHERE $1::text IS NULL OR (created_at, seq) > (SELECT created_at, seq FROM payments WHERE id = $1)
              ORDER BY created_at, seq LIMIT $2",
            page,
            payment_row,
        )
    }
}
