//! Hostile and broken peers, for both stores: one org name used ten
//! thousand times.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;

use submit_guard_server::protocol::Reply;
use submit_guard_server::store::{Tx, TxOutcome};

use common::{Harness, Kind};

/// Creates `count` orgs named `name` in one transaction; their slugs.
fn create_orgs(h: &Harness, name: &'static str, count: usize, tag: &str) -> Vec<String> {
    let tag = tag.to_owned();
    let outcome = h
        .config
        .store
        .transact(
            None,
            Box::new(move |tx: &mut dyn Tx| {
                let mut slugs = Vec::with_capacity(count);
                for i in 0..count {
                    let org = tx.create_org(
                        &format!("{tag}-org-{i}"),
                        &format!("{tag}-member-{i}"),
                        name,
                        "anonymous",
                        i as i64,
                    )?;
                    slugs.push(org.slug);
                }
                Ok(Reply::json(StatusCode::CREATED, &slugs))
            }),
        )
        .unwrap();
    match outcome {
        TxOutcome::Committed(reply) => serde_json::from_slice(&reply.body).unwrap(),
        other => panic!("expected a commit, got {other:?}"),
    }
}

/// Ten thousand and fifty orgs named "Acme" (one transaction), then fifty
/// more in transactions of their own and five through HTTP: every one gets a
/// slug of its own, `acme`, `acme-1`, … in order, and none takes long.
async fn one_name_ten_thousand_times(kind: Kind) {
    let h = Harness::new(kind);
    let started = Instant::now();
    let mut slugs = create_orgs(&h, "Acme", 10_050, "bulk");
    let expected: Vec<String> = std::iter::once("acme".to_owned())
        .chain((1..10_050).map(|n| format!("acme-{n}")))
        .collect();
    assert_eq!(slugs, expected, "consecutive slugs in one transaction");
    for i in 0..50 {
        slugs.extend(create_orgs(&h, "  ACME!  ", 1, &format!("single-{i}")));
    }
    assert_eq!(slugs.last().unwrap(), "acme-10099");
    let elapsed = started.elapsed();
    // A generous bound: the probing allocator took minutes (memory) or
    // answered 500 after 10,000 (SQLite); a constant-time one takes well
    // under a second, even in a debug build on a busy machine.
    assert!(
        elapsed < Duration::from_secs(20),
        "10,100 creates took {elapsed:?}"
    );
    for _ in 0..5 {
        let got = h
            .send(common::Req::post("/api/orgs", json!({ "name": "Acme" })))
            .await;
        assert_eq!(got.status, StatusCode::CREATED, "{:?}", got.json);
        slugs.push(got.json["slug"].as_str().unwrap().to_owned());
    }
    let distinct: HashSet<&String> = slugs.iter().collect();
    assert_eq!(distinct.len(), 10_105, "every slug distinct");
    assert_eq!(h.count("/api/orgs").await, 10_105);
}

/// Names whose slugs look like another name's numbered slugs ("Acme 1" is
/// `acme-1`) never make a create fail, whatever the order.
async fn numbered_names_do_not_collide(kind: Kind) {
    let h = Harness::new(kind);
    let mut slugs = Vec::new();
    for name in ["Acme 1", "Acme 2", "Acme 3", "Acme 4", "Acme 5", "Acme 6"] {
        slugs.extend(create_orgs(&h, name, 1, name));
    }
    for i in 0..20 {
        slugs.extend(create_orgs(&h, "Acme", 1, &format!("acme-{i}")));
        slugs.extend(create_orgs(&h, "Acme 1", 1, &format!("a1-{i}")));
    }
    let distinct: HashSet<&String> = slugs.iter().collect();
    assert_eq!(
        distinct.len(),
        slugs.len(),
        "every slug distinct: {slugs:?}"
    );
    assert!(
        slugs.iter().all(|s| s.starts_with("acme")),
        "slugs keep their base: {slugs:?}"
    );
}

macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Kind::Memory).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Kind::Sqlite).await;
                }
            )*
        }
    };
}

both_stores!(
    one_name_ten_thousand_times,
    numbered_names_do_not_collide,
);
