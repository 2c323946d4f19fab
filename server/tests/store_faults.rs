//! Permanent store faults (issue 12, fault 11) are reported as such: a
//! database deleted or replaced under a running server is noticed, never
//! silently written to (an acknowledged key would run again after a
//! restart); the health check fails; the 503 does not invite a retry in a
//! second.

mod common;

use axum::http::StatusCode;
use serde_json::json;

use common::{Harness, Kind, Req};

fn org(name: &str) -> Req {
    Req::post("/api/orgs", json!({ "name": name }))
}

#[tokio::test]
async fn health_is_ok_while_the_store_works() {
    for kind in [Kind::Memory, Kind::Sqlite] {
        let h = Harness::new(kind);
        let health = h.send(Req::get("/api/health")).await;
        assert_eq!(health.status, StatusCode::OK, "{kind:?}: {}", health.json);
        assert_eq!(health.json["status"], "ok");
    }
}

#[tokio::test]
async fn a_deleted_database_is_noticed() {
    let h = Harness::new(Kind::Sqlite);
    let path = h.db_path.clone().unwrap();
    assert_eq!(
        h.send(org("Acme").key("k1")).await.status,
        StatusCode::CREATED
    );
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
    for req in [
        org("Beta").key("k2"),
        org("Acme").key("k1"),
        org("Gamma"),
        Req::get("/api/orgs"),
        Req::get("/api/health"),
    ] {
        let what = format!("{} {}", req.method, req.path);
        let resp = h.send(req).await;
        resp.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "store-failed");
        assert_eq!(
            resp.header("retry-after"),
            None,
            "{what}: a permanent fault"
        );
        let detail = resp.json["detail"].as_str().unwrap();
        assert!(detail.contains("deleted or replaced"), "{what}: {detail}");
    }
    assert!(!path.exists(), "not silently recreated");
}

#[tokio::test]
async fn a_replaced_database_is_noticed() {
    let h = Harness::new(Kind::Sqlite);
    let path = h.db_path.clone().unwrap();
    assert_eq!(
        h.send(org("Acme").key("k1")).await.status,
        StatusCode::CREATED
    );
    let copy = path.with_extension("copy");
    std::fs::copy(&path, &copy).unwrap();
    std::fs::rename(&copy, &path).unwrap();
    let resp = h.send(org("Beta").key("k2")).await;
    resp.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "store-failed");
}

/// Makes `path` read-only for this process, even as root (`chattr +i`),
/// until dropped.
struct ReadOnly(std::path::PathBuf);

impl ReadOnly {
    fn new(path: &std::path::Path) -> Self {
        let mut perms = std::fs::metadata(path).unwrap().permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(path, perms).unwrap();
        if std::fs::OpenOptions::new().write(true).open(path).is_ok() {
            // Root ignores permissions: make the file immutable instead.
            let status = std::process::Command::new("chattr")
                .arg("+i")
                .arg(path)
                .status()
                .expect("chattr (e2fsprogs) is needed to make a file read-only for root");
            assert!(status.success(), "chattr +i failed");
        }
        Self(path.to_path_buf())
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_read_only_database_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.db");
    drop(submit_guard_server::SqliteStore::open(&path).unwrap());
    let _ro = ReadOnly::new(&path);
    let err = submit_guard_server::SqliteStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_submit-guard-server"))
        .args(["--addr", "127.0.0.1:0", "--store"])
        .arg(format!("sqlite:{}", path.display()))
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the server started on a read-only file"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("read-only"), "{stderr}");
    assert!(out.stdout.is_empty(), "it never listened");
}
