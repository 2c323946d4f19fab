//! The domain operations in SQL. Every write is one conditional statement
//! whose `WHERE` clause or constraint is the whole guard; reads that follow
//! a miss only explain the miss.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::map_err;
use crate::domain::{Page, StoreError, Tx, no_free_slug};
use crate::model::{
    self, Invite, InviteClaim, Membership, Order, Org, PayOutcome, Payment, QrSession,
    UpdateOutcome,
};

pub(super) struct SqlTx<'a> {
    conn: &'a Connection,
}

impl<'a> SqlTx<'a> {
    pub(super) fn new(conn: &'a Connection) -> Self {
        Self { conn }
    }

    /// Runs a list query whose `?1` is the page's `after` id (or NULL) and
    /// `?2` its limit.
    fn list<T>(
        &self,
        sql: &str,
        page: &Page,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(map_err)?;
        let rows = stmt
            .query_map(params![page.after, page.sql_limit()], map)
            .map_err(map_err)?;
        rows.collect::<Result<_, _>>().map_err(map_err)
    }
}

fn json_column(row: &Row<'_>, idx: usize) -> rusqlite::Result<Value> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn to_json(value: &Value) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Internal(e.to_string()))
}

fn order_row(row: &Row<'_>) -> rusqlite::Result<Order> {
    Ok(Order {
        id: row.get(0)?,
        items: json_column(row, 1)?,
        version: row.get(2)?,
        created_at: row.get(3)?,
    })
}

fn payment_row(row: &Row<'_>) -> rusqlite::Result<Payment> {
    Ok(Payment {
        payment_id: row.get(0)?,
        order_id: row.get(1)?,
        created_at: row.get(2)?,
    })
}

impl Tx for SqlTx<'_> {
    fn create_org(
        &mut self,
        org_id: &str,
        membership_id: &str,
        name: &str,
        owner: &str,
        now: i64,
    ) -> Result<Org, StoreError> {
        // Constant time: the base's counter, bumped in this transaction,
        // names the candidate; the UNIQUE constraint decides (no read of
        // existing slugs). A few collisions with other names' slugs ("Acme 1"
        // is `acme-1`) move the counter on, then random suffixes take over.
        let base = model::slugify(name);
        let mut next_number = self
            .conn
            .prepare_cached(
                "INSERT INTO slug_counters (base, next_n) VALUES (?1, 1)
                 ON CONFLICT (base) DO UPDATE SET next_n = next_n + 1
                 RETURNING next_n - 1",
            )
            .map_err(map_err)?;
        let mut insert = self
            .conn
            .prepare_cached(
                "INSERT INTO orgs (id, name, slug, owner, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (slug) DO NOTHING",
            )
            .map_err(map_err)?;
        let slug = model::allocate_slug::<StoreError>(
            &base,
            || {
                let n: i64 = next_number
                    .query_row(params![base], |row| row.get(0))
                    .map_err(map_err)?;
                Ok(u32::try_from(n).unwrap_or(u32::MAX))
            },
            |slug| {
                let inserted = insert
                    .execute(params![org_id, name, slug, owner, now])
                    .map_err(map_err)?;
                Ok(inserted == 1)
            },
        )?
        .ok_or_else(|| no_free_slug(&base))?;
        self.conn
            .execute(
                "INSERT INTO memberships (id, org_id, principal, role, created_at)
                 VALUES (?1, ?2, ?3, 'owner', ?4)",
                params![membership_id, org_id, owner, now],
            )
            .map_err(map_err)?;
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
              WHERE ?1 IS NULL OR (created_at, rowid) > (SELECT created_at, rowid FROM orgs WHERE id = ?1)
              ORDER BY created_at, rowid LIMIT ?2",
            page,
            |row| {
                Ok(Org {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    slug: row.get(2)?,
                    owner: row.get(3)?,
                    created_at: row.get(4)?,
                })
            },
        )
    }

    fn list_memberships(&mut self, page: &Page) -> Result<Vec<Membership>, StoreError> {
        self.list(
            "SELECT id, org_id, principal, role, created_at FROM memberships
              WHERE ?1 IS NULL OR (created_at, rowid) > (SELECT created_at, rowid FROM memberships WHERE id = ?1)
              ORDER BY created_at, rowid LIMIT ?2",
            page,
            |row| {
                Ok(Membership {
                    id: row.get(0)?,
                    org_id: row.get(1)?,
                    principal: row.get(2)?,
                    role: row.get(3)?,
                    created_at: row.get(4)?,
                })
            },
        )
    }

    fn create_invite(&mut self, invite: &Invite) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO invites (token, email, expires_at, used_at, created_at) VALUES (?1, ?2, ?3, NULL, ?4)",
                params![invite.token, invite.email, invite.expires_at, invite.created_at],
            )
            .map_err(map_err)?;
        Ok(())
    }

    fn claim_invite(
        &mut self,
        token: &str,
        claim_id: &str,
        now: i64,
    ) -> Result<InviteClaim, StoreError> {
        // Field report 002: the guard is the WHERE clause, so exactly one
        // concurrent caller's update matches.
        let won = self
            .conn
            .execute(
                "UPDATE invites SET used_at = ?1 WHERE token = ?2 AND used_at IS NULL AND expires_at > ?1",
                params![now, token],
            )
            .map_err(map_err)?;
        if won == 1 {
            self.conn
                .execute(
                    "INSERT INTO invite_claims (id, token, created_at) VALUES (?1, ?2, ?3)",
                    params![claim_id, token, now],
                )
                .map_err(map_err)?;
            return Ok(InviteClaim::Created(claim_id.into()));
        }
        let found: Option<(Option<i64>, Option<String>)> = self
            .conn
            .query_row(
                "SELECT i.used_at, c.id FROM invites i LEFT JOIN invite_claims c ON c.token = i.token
                  WHERE i.token = ?1",
                params![token],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(map_err)?;
        Ok(match found {
            None => InviteClaim::Unknown,
            Some((Some(_), Some(id))) => InviteClaim::Repeat(id),
            Some((Some(_), None)) => InviteClaim::UsedWithoutRecord,
            Some((None, _)) => InviteClaim::Expired,
        })
    }

    fn list_invites(&mut self, page: &Page) -> Result<Vec<Invite>, StoreError> {
        self.list(
            "SELECT i.token, i.email, i.expires_at, i.used_at, c.id, i.created_at
               FROM invites i LEFT JOIN invite_claims c ON c.token = i.token
              WHERE ?1 IS NULL OR (i.created_at, i.rowid) > (SELECT created_at, rowid FROM invites WHERE token = ?1)
              ORDER BY i.created_at, i.rowid LIMIT ?2",
            page,
            |row| {
                Ok(Invite {
                    token: row.get(0)?,
                    email: row.get(1)?,
                    expires_at: row.get(2)?,
                    used_at: row.get(3)?,
                    claim_id: row.get(4)?,
                    created_at: row.get(5)?,
                })
            },
        )
    }

    fn create_qr_session(&mut self, session: &QrSession) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO qr_sessions (id, table_ref, created_at) VALUES (?1, ?2, ?3)",
                params![session.id, to_json(&session.table)?, session.created_at],
            )
            .map_err(map_err)?;
        Ok(())
    }

    fn list_qr_sessions(&mut self, page: &Page) -> Result<Vec<QrSession>, StoreError> {
        self.list(
            "SELECT id, table_ref, created_at FROM qr_sessions
              WHERE ?1 IS NULL OR (created_at, rowid) > (SELECT created_at, rowid FROM qr_sessions WHERE id = ?1)
              ORDER BY created_at, rowid LIMIT ?2",
            page,
            |row| {
                Ok(QrSession {
                    id: row.get(0)?,
                    table: json_column(row, 1)?,
                    created_at: row.get(2)?,
                })
            },
        )
    }

    fn create_order(&mut self, order: &Order) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO orders (id, items, version, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![
                    order.id,
                    to_json(&order.items)?,
                    order.version,
                    order.created_at
                ],
            )
            .map_err(map_err)?;
        Ok(())
    }

    fn get_order(&mut self, id: &str) -> Result<Option<Order>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, items, version, created_at FROM orders WHERE id = ?1",
                params![id],
                order_row,
            )
            .optional()
            .map_err(map_err)
    }

    fn list_orders(&mut self, page: &Page) -> Result<Vec<Order>, StoreError> {
        self.list(
            "SELECT id, items, version, created_at FROM orders
              WHERE ?1 IS NULL OR (created_at, rowid) > (SELECT created_at, rowid FROM orders WHERE id = ?1)
              ORDER BY created_at, rowid LIMIT ?2",
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
        // Field report 004: compare-and-set on the version, no find-then-update.
        let updated = self
            .conn
            .query_row(
                "UPDATE orders SET items = ?1, version = version + 1 WHERE id = ?2 AND version = ?3
                 RETURNING id, items, version, created_at",
                params![to_json(items)?, id, expected_version],
                order_row,
            )
            .optional()
            .map_err(map_err)?;
        if let Some(order) = updated {
            return Ok(UpdateOutcome::Updated(order));
        }
        let current: Option<i64> = self
            .conn
            .query_row(
                "SELECT version FROM orders WHERE id = ?1",
                params![id],
                |row| row.get(0),
            )
            .optional()
            .map_err(map_err)?;
        Ok(current.map_or(UpdateOutcome::NoOrder, UpdateOutcome::Stale))
    }

    fn pay_order(
        &mut self,
        order_id: &str,
        payment_id: &str,
        now: i64,
    ) -> Result<PayOutcome, StoreError> {
        // One payment per order: UNIQUE (order_id) decides, not a prior read.
        let paid = self
            .conn
            .query_row(
                "INSERT INTO payments (id, order_id, created_at)
                 SELECT ?1, id, ?3 FROM orders WHERE id = ?2
                 ON CONFLICT (order_id) DO NOTHING
                 RETURNING id, order_id, created_at",
                params![payment_id, order_id, now],
                payment_row,
            )
            .optional()
            .map_err(map_err)?;
        if let Some(payment) = paid {
            return Ok(PayOutcome::Paid(payment));
        }
        let existing = self
            .conn
            .query_row(
                "SELECT id, order_id, created_at FROM payments WHERE order_id = ?1",
                params![order_id],
                payment_row,
            )
            .optional()
            .map_err(map_err)?;
        Ok(existing.map_or(PayOutcome::NoOrder, PayOutcome::AlreadyPaid))
    }

    fn list_payments(&mut self, page: &Page) -> Result<Vec<Payment>, StoreError> {
        self.list(
            "SELECT id, order_id, created_at FROM payments
              WHERE ?1 IS NULL OR (created_at, rowid) > (SELECT created_at, rowid FROM payments WHERE id = ?1)
              ORDER BY created_at, rowid LIMIT ?2",
            page,
            payment_row,
        )
    }
}
