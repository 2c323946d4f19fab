//! The demo domain: organizations and memberships, invites and their
//! claims, QR table sessions, orders and payments. Plain data, serialized
//! as the JSON the endpoints return (camelCase).

use serde::Serialize;
use serde_json::Value;

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Org {
    /// Id (UUID).
    pub id: String,
    /// Trimmed display name.
    pub name: String,
    /// Unique URL slug: `acme`, then `acme-1`, `acme-2`, … (a random
    /// suffix, `acme-3f9c2a71`, if another name's slug took the next number)
    pub slug: String,
    /// The principal that created it.
    pub owner: String,
    /// Creation time, ms since the Unix epoch.
    pub created_at: i64,
}

/// A principal's membership in an org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    /// Id (UUID).
    pub id: String,
    /// The org.
    pub org_id: String,
    /// The member.
    pub principal: String,
    /// `owner` for the creator.
    pub role: String,
    /// Creation time, ms since the Unix epoch.
    pub created_at: i64,
}

/// An invite, claimable once before it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Invite {
    /// The secret token in the invite link.
    pub token: String,
    /// Invitee address.
    pub email: String,
    /// Expiry, ms since the Unix epoch.
    pub expires_at: i64,
    /// When it was claimed, if it was.
    pub used_at: Option<i64>,
    /// The claim record, if any.
    pub claim_id: Option<String>,
    /// Creation time, ms since the Unix epoch.
    pub created_at: i64,
}

/// What claiming an invite did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteClaim {
    /// This call claimed it and created the claim record with this id.
    Created(String),
    /// It was already claimed; this is the existing claim record's id.
    Repeat(String),
    /// No such token.
    Unknown,
    /// Expired before it was claimed.
    Expired,
    /// Marked used, but no claim record exists.
    UsedWithoutRecord,
}

/// A guest session opened by scanning a table's QR code.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QrSession {
    /// Id (UUID).
    pub id: String,
    /// The table, as the client sent it (string or number).
    pub table: Value,
    /// Creation time, ms since the Unix epoch.
    pub created_at: i64,
}

/// An order with versioned items.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Id (UUID).
    pub id: String,
    /// Starts at 1, +1 on every items update.
    pub version: i64,
    /// The items, any JSON array.
    pub items: Value,
    /// Creation time, ms since the Unix epoch.
    pub created_at: i64,
}

/// A payment: at most one per order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// Id (UUID).
    pub payment_id: String,
    /// The paid order.
    pub order_id: String,
    /// Creation time, ms since the Unix epoch.
    pub created_at: i64,
}

/// What paying an order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayOutcome {
    /// This call created the payment.
    Paid(Payment),
    /// The order already has this payment.
    AlreadyPaid(Payment),
    /// No such order.
    NoOrder,
}

/// What a versioned items update did.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateOutcome {
    /// Applied; the order at its new version.
    Updated(Order),
    /// The expected version is stale; this is the current one.
    Stale(i64),
    /// No such order.
    NoOrder,
}

/// The URL slug for an org name: lowercase ASCII letters and digits, runs of
/// anything else become one `-`, at most 48 characters; `org` if nothing is left.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 48 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "org".to_owned()
    } else {
        slug.to_owned()
    }
}

/// How many numbered candidates (`base-N`, N from the base's counter) a
/// create tries before it falls back to [`random_slug`]: numbered candidates
/// collide only with other names' slugs ("Acme 1" is `acme-1`).
pub const SLUG_NUMBERED_TRIES: u32 = 4;

/// Random slug suffixes tried after the numbered ones: each collides with
/// odds of one in 2^32 per existing slug of that form.
pub const RANDOM_SLUG_TRIES: u32 = 8;

/// A slug for `base` with a random suffix, `acme-3f9c2a71`: the fallback
/// when numbered candidates keep colliding.
pub fn random_slug(base: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{base}-{}", &random[..8])
}

/// A free slug for `base`, in constant time, the one rule every store
/// follows: up to [`SLUG_NUMBERED_TRIES`] numbered candidates from the base's
/// counter (`next_number` returns it and moves it on), then up to
/// [`RANDOM_SLUG_TRIES`] random suffixes. `take` tries to take a candidate
/// (for a database, an insert the UNIQUE constraint may refuse) and says
/// whether it did. `None` if every try collided.
pub fn allocate_slug<E>(
    base: &str,
    mut next_number: impl FnMut() -> Result<u32, E>,
    mut take: impl FnMut(&str) -> Result<bool, E>,
) -> Result<Option<String>, E> {
    for attempt in 0..SLUG_NUMBERED_TRIES + RANDOM_SLUG_TRIES {
        let slug = if attempt < SLUG_NUMBERED_TRIES {
            slug_candidate(base, next_number()?)
        } else {
            random_slug(base)
        };
        if take(&slug)? {
            return Ok(Some(slug));
        }
    }
    Ok(None)
}

/// The `n`th slug candidate for `base`: `base`, `base-1`, `base-2`, …
pub fn slug_candidate(base: &str, n: u32) -> String {
    if n == 0 {
        base.to_owned()
    } else {
        format!("{base}-{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Acme"), "acme");
        assert_eq!(slugify("  Acme,  Inc. "), "acme-inc");
        assert_eq!(slugify("日本"), "org");
        assert_eq!(slugify("a--b__c"), "a-b-c");
        assert_eq!(slugify(&"x".repeat(100)).len(), 48);
        assert_eq!(slug_candidate("acme", 0), "acme");
        assert_eq!(slug_candidate("acme", 2), "acme-2");
    }
}
