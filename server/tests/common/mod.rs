//! Shared test harness: an app over either store with a manual clock, a
//! request builder for `oneshot`, and a way to make the store unavailable.

#![allow(dead_code)]

pub mod net;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use serde_json::Value;
use submit_guard_server::{
    Config, ManualClock, MemoryStore, SqliteOptions, SqliteStore, Store, app,
};
use tower::ServiceExt;

/// The clock starts here (2025-01-01T00:00:00Z).
pub const T0: i64 = 1_735_689_600_000;

/// Which store a harness runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Memory,
    Sqlite,
}

/// An app plus the handles a test needs around it.
pub struct Harness {
    pub kind: Kind,
    pub app: Router,
    pub config: Config,
    pub clock: Arc<ManualClock>,
    memory: Option<Arc<MemoryStore>>,
    pub db_path: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl Harness {
    /// A harness with default config (test mode on, so faults can be injected).
    pub fn new(kind: Kind) -> Self {
        Self::with(kind, |_| {})
    }

    /// A harness whose config `tweak` adjusts before the app is built.
    pub fn with(kind: Kind, tweak: impl FnOnce(&mut Config)) -> Self {
        let clock = Arc::new(ManualClock::new(T0));
        let (store, memory, db_path, dir): (Arc<dyn Store>, _, _, _) = match kind {
            Kind::Memory => {
                let memory = Arc::new(MemoryStore::new());
                (memory.clone(), Some(memory), None, None)
            }
            Kind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("server.db");
                let options = SqliteOptions {
                    busy_timeout: Duration::from_millis(200),
                };
                let store = SqliteStore::open_with(&path, options).unwrap();
                (Arc::new(store), None, Some(path), Some(dir))
            }
        };
        let mut config = Config::new(store);
        config.clock = clock.clone();
        config.test_mode = true;
        tweak(&mut config);
        Self {
            kind,
            app: app(config.clone()).unwrap(),
            config,
            clock,
            memory,
            db_path,
            _dir: dir,
        }
    }

    /// Sends `req` through the app.
    pub async fn send(&self, req: Req) -> Resp {
        let response = self.app.clone().oneshot(req.build()).await.unwrap();
        Resp::read(response).await
    }

    /// Makes the store unavailable until the guard drops: the memory store is
    /// switched off; the SQLite file is locked by `BEGIN EXCLUSIVE` from
    /// another connection, for real.
    pub fn make_unavailable(&self) -> Unavailable<'_> {
        match self.kind {
            Kind::Memory => {
                self.memory.as_ref().unwrap().set_unavailable(true);
                Unavailable {
                    harness: self,
                    conn: None,
                }
            }
            Kind::Sqlite => {
                let conn = rusqlite::Connection::open(self.db_path.as_ref().unwrap()).unwrap();
                conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
                Unavailable {
                    harness: self,
                    conn: Some(conn),
                }
            }
        }
    }

    /// `GET path` → the JSON array's length.
    pub async fn count(&self, path: &str) -> usize {
        let resp = self.send(Req::get(path)).await;
        assert_eq!(resp.status, StatusCode::OK, "{path}: {:?}", resp.json);
        resp.json.as_array().unwrap().len()
    }
}

/// Holds the store unavailable; see [`Harness::make_unavailable`].
pub struct Unavailable<'a> {
    harness: &'a Harness,
    conn: Option<rusqlite::Connection>,
}

impl Drop for Unavailable<'_> {
    fn drop(&mut self) {
        if let Some(memory) = &self.harness.memory {
            memory.set_unavailable(false);
        }
        if let Some(conn) = self.conn.take() {
            conn.execute_batch("ROLLBACK").unwrap();
        }
    }
}

/// A request under construction.
#[derive(Clone)]
pub struct Req {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Req {
    pub fn new(method: Method, path: &str) -> Self {
        Self {
            method,
            path: path.into(),
            headers: HeaderMap::new(),
            body: Vec::new(),
        }
    }

    pub fn get(path: &str) -> Self {
        Self::new(Method::GET, path)
    }

    /// `POST path` with a JSON body.
    pub fn post(path: &str, json: Value) -> Self {
        Self::new(Method::POST, path).json(json)
    }

    pub fn json(mut self, json: Value) -> Self {
        self.body = serde_json::to_vec(&json).unwrap();
        self.header("content-type", "application/json")
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        let value = HeaderValue::from_bytes(value.as_bytes()).unwrap();
        self.headers
            .append(HeaderName::try_from(name).unwrap(), value);
        self
    }

    pub fn key(self, key: &str) -> Self {
        self.header("idempotency-key", key)
    }

    pub fn fault(self, fault: &str) -> Self {
        self.header("x-fault", fault)
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn build(self) -> Request<Body> {
        let mut req = Request::builder().method(self.method).uri(self.path);
        for (name, value) in &self.headers {
            req = req.header(name, value);
        }
        req.body(Body::from(self.body)).unwrap()
    }
}

/// A response read to the end.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The body as JSON, or `Null`.
    pub json: Value,
}

impl Resp {
    pub async fn read(response: axum::response::Response) -> Self {
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap()
            .to_vec();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Self {
            status: parts.status,
            headers: parts.headers,
            body,
            json,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn replayed(&self) -> bool {
        self.header("idempotent-replayed") == Some("true")
    }

    /// Asserts a problem body of `status` whose type ends with `slug`.
    pub fn assert_problem(&self, status: StatusCode, slug: &str) {
        assert_eq!(self.status, status, "body: {}", self.json);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let kind = self.json["type"].as_str().unwrap_or_default();
        assert!(
            kind.ends_with(slug),
            "problem type {kind} should end with {slug}"
        );
        assert_eq!(self.json["status"], status.as_u16());
        assert!(
            self.json["title"].is_string() && self.json["detail"].is_string(),
            "{}",
            self.json
        );
    }
}

/// Defines `$name` once per store: `mod memory { … } mod sqlite { … }`,
/// each test calling `super::$name(Harness-kind)`.
#[macro_export]
macro_rules! per_store {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(start_paused = true)]
                async fn $name() { super::$name($crate::common::Kind::Memory).await }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(start_paused = true)]
                async fn $name() { super::$name($crate::common::Kind::Sqlite).await }
            )*
        }
    };
}
