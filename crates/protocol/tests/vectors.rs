//! Runs the shared table `tests/vectors/payload.json` (also run against
//! `js/canonical.js`) against this crate.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::Value;
use submit_guard_protocol::{Form, canonical_payload, fingerprint};

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/vectors/payload.json"
));

fn text<'a>(case: &'a Value, field: &str) -> Option<&'a str> {
    case.get(field).and_then(Value::as_str)
}

#[test]
fn every_shared_vector_holds() {
    let cases: Vec<Value> = serde_json::from_str(VECTORS).expect("payload.json is a JSON array");
    assert!(cases.len() >= 40, "only {} vectors", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let name = text(case, "name").expect("every vector has a name");
        let type_a = text(case, "contentType");
        let type_b = text(case, "contentTypeB").or(type_a);
        let a = canonical_payload(type_a, text(case, "a").expect(name).as_bytes());
        let b = canonical_payload(type_b, text(case, "b").expect(name).as_bytes());
        let same = case["same"].as_bool().expect(name);
        if (a == b) != same {
            failures.push(format!(
                "{name}: expected same = {same}\n  a: {:?} {:?}\n  b: {:?} {:?}",
                a.form(),
                String::from_utf8_lossy(a.bytes()),
                b.form(),
                String::from_utf8_lossy(b.bytes())
            ));
        }
        // The fingerprint follows payload equality.
        let (fa, fb) = (fingerprint("POST", "/p", &a), fingerprint("POST", "/p", &b));
        if (fa == fb) != same {
            failures.push(format!("{name}: fingerprints disagree with same = {same}"));
        }
        if let Some(form) = text(case, "form") {
            let expected = match form {
                "json" => Form::Json,
                "urlencoded" => Form::UrlEncoded,
                "multipart" => Form::Multipart,
                "raw" => Form::Raw,
                other => panic!("{name}: unknown form {other:?}"),
            };
            if a.form() != expected {
                failures.push(format!(
                    "{name}: form {:?}, expected {expected:?}",
                    a.form()
                ));
            }
        }
        if let Some(canonical) = text(case, "canonical") {
            if a.bytes() != canonical.as_bytes() {
                failures.push(format!(
                    "{name}: canonical {:?}, expected {canonical:?}",
                    String::from_utf8_lossy(a.bytes())
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
