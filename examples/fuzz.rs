//! The stable fuzz driver over the core's targets (the options reader and
//! `Retry-After`):
//!
//! ```text
//! FUZZ_SECONDS=60 FUZZ_SEED=1 cargo run -p submit-guard --features fuzz --example fuzz [target…]
//! ```
//!
//! See `submit_guard_protocol::fuzz::run_targets`.

use std::path::Path;
use std::process::ExitCode;
use submit_guard::core::fuzz::TARGETS;
use submit_guard_protocol::fuzz::run_targets;

fn main() -> ExitCode {
    run_targets(
        &TARGETS,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz"),
    )
}
