//! The stable fuzz driver over this crate's targets:
//!
//! ```text
//! FUZZ_SECONDS=60 FUZZ_SEED=1 cargo run -p submit-guard-idempotency --features fuzz --example fuzz [target…]
//! ```
//!
//! See `submit_guard_protocol::fuzz::run_targets`.

use std::path::Path;
use std::process::ExitCode;
use submit_guard_idempotency::fuzz::TARGETS;
use submit_guard_protocol::fuzz::run_targets;

fn main() -> ExitCode {
    run_targets(
        &TARGETS,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz"),
    )
}
