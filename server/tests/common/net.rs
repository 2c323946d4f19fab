//! Real sockets: an in-process server on 127.0.0.1:0, the built binary as a
//! child process, and a small HTTP/1.1 client.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use axum::http::{HeaderMap, Method, Request, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use submit_guard_server::{Config, app, serve};
use tokio::sync::oneshot;

/// An in-process server; shuts down gracefully on [`InProcess::stop`].
pub struct InProcess {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl InProcess {
    pub async fn start(config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app(config).unwrap(), async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap();
    }
}

/// The real binary, killed on drop.
pub struct Binary {
    pub child: Child,
    pub base: String,
}

impl Binary {
    /// Starts the server binary with `args` plus `--addr 127.0.0.1:0`, logs
    /// to `log`, and reads its `listening on …` line.
    pub fn start(args: &[&str], log: &Path) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_submit-guard-server"))
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        Self { child, base }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pooled HTTP/1.1 client.
#[derive(Clone)]
pub struct Client(HyperClient<HttpConnector, Full<Bytes>>);

/// A response read to the end.
#[derive(Debug)]
pub struct Got {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Got {
    pub fn replayed(&self) -> bool {
        self.headers
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true")
    }
}

impl Client {
    pub fn new() -> Self {
        Self(
            HyperClient::builder(TokioExecutor::new())
                .pool_max_idle_per_host(128)
                .build_http(),
        )
    }

    /// Sends a request; `Err` when no response arrived (connection closed).
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> Result<Got, String> {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(url)
            .header("content-type", "application/json");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let bytes = if method == Method::GET {
            Vec::new()
        } else {
            serde_json::to_vec(body).unwrap()
        };
        let req = req.body(Full::new(Bytes::from(bytes))).unwrap();
        let response = self.0.request(req).await.map_err(|e| format!("{e:?}"))?;
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Got {
            status: parts.status,
            headers: parts.headers,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        })
    }

    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> Result<Got, String> {
        self.send(Method::POST, url, headers, body).await
    }

    pub async fn get(&self, url: &str) -> Got {
        self.send(Method::GET, url, &[], &Value::Null)
            .await
            .unwrap()
    }

    /// How many items the list endpoint at `url` returns.
    pub async fn count(&self, url: &str) -> usize {
        let list = self.get(url).await.json;
        list.as_array()
            .unwrap_or_else(|| panic!("{url} is not a list: {list}"))
            .len()
    }
}
