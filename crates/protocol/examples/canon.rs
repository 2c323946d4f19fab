//! Canonical payloads for another implementation to compare with: reads
//! lines of `{"contentType": string|null, "body": string}` on stdin and
//! writes `{"form": …, "text": …}` for each (`text` lossy UTF-8). Used by
//! `tests/vectors/differential.mjs` to check `js/canonical.js` against this
//! crate on generated inputs.

use std::io::{BufRead, Write};
use submit_guard_protocol::{Form, canonical_payload};

fn main() -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let Ok(case) = serde_json::from_str::<serde_json::Value>(&line) else {
            writeln!(out, "null")?;
            continue;
        };
        let content_type = case.get("contentType").and_then(|v| v.as_str());
        let body = case
            .get("body")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let canonical = canonical_payload(content_type, body.as_bytes());
        let form = match canonical.form() {
            Form::Json => "json",
            Form::UrlEncoded => "urlencoded",
            Form::Multipart => "multipart",
            Form::Raw => "raw",
        };
        let text = String::from_utf8_lossy(canonical.bytes());
        let answer = serde_json::json!({ "form": form, "text": text });
        writeln!(out, "{answer}")?;
    }
    out.flush()
}
