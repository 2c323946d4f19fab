//! The accept loop: HTTP/1.1 over a bound listener, with graceful shutdown
//! and the ability to drop one connection without answering (the
//! `drop-after-commit` fault, which `axum::serve` cannot express).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt;

/// How long in-flight connections get to finish after shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Request extension: closes the request's connection without a response.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnAbort(Arc<Notify>);

impl ConnAbort {
    /// Closes the connection: its task drops the connection (and with it the
    /// socket and the in-flight handler) as soon as it is polled.
    pub(crate) fn abort(&self) {
        self.0.notify_one();
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting, lets open connections finish (at most 10 s), and returns.
///
/// Use this rather than `axum::serve`: it also makes `X-Fault:
/// drop-after-commit` really close the socket.
pub async fn serve(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(err) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "set_nodelay failed");
        }
        let abort = ConnAbort::default();
        let service = {
            let (app, abort) = (app.clone(), abort.clone());
            hyper::service::service_fn(move |req: Request<Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(abort.clone());
                app.clone().oneshot(req)
            })
        };
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            tokio::select! {
                result = conn => if let Err(err) = result {
                    tracing::debug!(error = %err, "connection error");
                },
                () = abort.0.notified() => tracing::info!("connection closed without a response"),
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("shutdown: gave up waiting for connections"),
    }
}
