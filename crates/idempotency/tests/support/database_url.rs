//! The PostgreSQL tests' database, shared by this crate's tests and the
//! server's (`server/tests/postgres_instances.rs` includes this file).

use std::io::Write;

const REQUIRE: &str = "SUBMIT_GUARD_REQUIRE_POSTGRES";

/// `DATABASE_URL`, or `None` (after saying why on stderr) when PostgreSQL
/// tests may skip: a missing database fails them only under
/// `SUBMIT_GUARD_REQUIRE_POSTGRES=1` (`make test-postgres`).
pub fn database_url(test: &str) -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var(REQUIRE).is_ok_and(|v| v == "1") => panic!(
            "{test}: DATABASE_URL is not set but {REQUIRE}=1: run under scripts/with-postgres.sh"
        ),
        _ => {
            // Straight to stderr: the test harness captures `eprintln!`
            // of passing tests, and the reason should show.
            let _ = writeln!(
                std::io::stderr(),
                "skipped {test}: DATABASE_URL is not set (make test-postgres runs it on a throwaway cluster)"
            );
            None
        }
    }
}
