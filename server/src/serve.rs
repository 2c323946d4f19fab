//! The accept loop: HTTP/1.1 over a bound listener, with graceful shutdown,
//! connection limits (a header timeout, an idle timeout, a cap on open
//! connections), problem bodies for over-long request heads, and the ability
//! to end one connection without a whole response (the `drop-after-commit`,
//! `garble-after-commit` and `reset-after-commit` faults, which `axum::serve`
//! cannot express).
//!
//! Slow or silent peers (slowloris) cannot starve well-behaved ones: a
//! request head must arrive within the header timeout, a connection with no
//! request in progress that sends nothing for the idle timeout is closed,
//! and at the cap the connection idle the longest makes room for a new one.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request as AxumRequest;
use axum::http::{Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::problem::{Problem, ProblemType};

/// How long in-flight connections get to finish after shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection asked to close (idle, evicted, shutdown) may take
/// to finish what it is writing before it is dropped, when no request of
/// its is in progress.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// At the connection cap, only a connection with no request in progress
/// and none finished (or opened) for at least this long may be closed to
/// make room: nothing of a response can still be waiting in its buffers,
/// and a new connection gets the time to send its request.
const QUIET_FOR_EVICTION: Duration = Duration::from_millis(250);

/// hyper's read buffer: a request head longer than this gets hyper's own
/// bare 431 (see [`limit_head`] for the limits that answer with a problem).
const HYPER_MAX_BUF: usize = 64 * 1024;

/// The longest request target (path and query) answered normally; longer
/// ones get a 414 problem.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The most header bytes (names and values) answered normally; more get a
/// 431 problem.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// 414: the request target is longer than [`MAX_URI_BYTES`].
pub const URI_TOO_LONG: ProblemType = ProblemType {
    uri: "urn:submit-guard:problem:uri-too-long",
    title: "The request target is too long",
};

/// 431: the request's header fields are larger than [`MAX_HEADER_BYTES`].
pub const HEADERS_TOO_LARGE: ProblemType = ProblemType {
    uri: "urn:submit-guard:problem:headers-too-large",
    title: "The request header fields are too large",
};

/// Connection limits for [`serve_with`]; [`ConnLimits::default`] is what
/// [`serve`] uses and the server's flags default to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// A request head must be complete within this long of the connection
    /// opening or of its previous response, else the connection is closed
    /// (`--header-timeout`, default 10 s): bounds slow-header clients.
    pub header_timeout: Duration,
    /// A connection with no request in progress that sends and receives
    /// nothing for this long is closed (`--idle-timeout`, default 5 s).
    pub idle_timeout: Duration,
    /// At most this many open connections (`--max-connections`, default
    /// 1024), and never more than half the process's open-file limit
    /// (`RLIMIT_NOFILE`), so that accepting cannot run out of descriptors
    /// while silent peers hold them. At the cap, a new connection is
    /// accepted and the open one that has gone the longest without a request
    /// (none in progress, none finished or opened in the last 250 ms) is
    /// closed to make room; if there is none, the new connection waits for
    /// the first to close (and further ones wait in the listen backlog).
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            max_connections: 1024,
        }
    }
}

/// The header block of [`Ending::Garbled`]: conflicting lengths, which
/// RFC 9112 section 6.3 makes an unrecoverable error for the recipient.
pub(crate) const GARBLED_HEADERS: &str = "content-length: 0\r\ncontent-length: 1\r\n\r\n";

/// How [`ConnAbort::close`] ends a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Close (FIN) without sending a byte. On a kept-alive connection a
    /// browser resends the request itself, so the page never sees the loss.
    Silent,
    /// Send a response head no HTTP client may accept (the status line,
    /// then two different `Content-Length` values), then close (FIN). The
    /// browser reports a network error (`fetch` rejects with a `TypeError`)
    /// and, unlike after a silent close or a reset, does not resend.
    Garbled(StatusCode),
    /// Reset the connection (RST, `SO_LINGER` 0) without sending a byte.
    Reset,
}

/// Request extension: ends the request's connection without a (whole)
/// response.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnAbort(Arc<AbortSignal>);

#[derive(Debug, Default)]
struct AbortSignal {
    notify: Notify,
    ending: Mutex<Option<Ending>>,
}

impl ConnAbort {
    /// Ends the connection as `ending` says: its task drops the connection
    /// (and with it the in-flight handler) as soon as it is polled.
    pub(crate) fn close(&self, ending: Ending) {
        *self.0.ending.lock().unwrap_or_else(PoisonError::into_inner) = Some(ending);
        self.0.notify.notify_one();
    }

    fn ending(&self) -> Ending {
        self.0
            .ending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .unwrap_or(Ending::Silent)
    }
}

/// Ends a connection whose hyper state machine has just been dropped: `raw`
/// is the last handle on its socket, so the socket closes (or resets) when
/// it is dropped here.
fn end_connection(raw: Arc<TcpStream>, ending: Ending) {
    match ending {
        Ending::Silent => {}
        Ending::Garbled(status) => {
            let line = format!(
                "HTTP/1.1 {} {}\r\n{GARBLED_HEADERS}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            );
            // A few bytes into an empty send buffer: written at once even
            // though the descriptor is non-blocking.
            if let Err(err) = raw.try_write(line.as_bytes()) {
                tracing::warn!(error = %err, "could not send the garbled response head");
            }
        }
        Ending::Reset => {
            if let Err(err) = rustix::net::sockopt::set_socket_linger(&*raw, Some(Duration::ZERO)) {
                tracing::warn!(error = %err, "could not set SO_LINGER 0 for a reset");
            }
        }
    }
    drop(raw);
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting, lets open connections finish (at most 10 s), and returns.
/// Uses [`ConnLimits::default`].
///
/// Use this rather than `axum::serve`: it bounds slow and idle connections
/// and makes `X-Fault: drop-after-commit` (and `garble-`, `reset-`) really end
/// the connection.
pub async fn serve(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()>) {
    serve_with(listener, app, ConnLimits::default(), shutdown).await;
}

/// [`serve`] with explicit connection limits.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    let max = effective_cap(limits.max_connections, open_file_limit());
    let slots = Arc::new(Semaphore::new(max));
    let registry = Arc::new(Registry::default());
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(HYPER_MAX_BUF);
    let mut shutdown = std::pin::pin!(shutdown);
    'accept: loop {
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
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            // At the cap: make room by closing the connection that has gone
            // the longest without a request, then take its slot.
            Err(_) => loop {
                if !registry.close_idlest() {
                    tracing::debug!(
                        max,
                        "connection cap reached, no connection to close yet: waiting"
                    );
                }
                tokio::select! {
                    permit = slots.clone().acquire_owned() => match permit {
                        Ok(permit) => break permit,
                        Err(_) => break 'accept,
                    },
                    () = tokio::time::sleep(QUIET_FOR_EVICTION) => {}
                    () = &mut shutdown => break 'accept,
                }
            },
        };
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "set_nodelay failed");
        }
        let conn = registry.add();
        let task = Connection {
            registry: registry.clone(),
            conn,
            idle_timeout: limits.idle_timeout,
        };
        tokio::spawn(task.run(stream, app.clone(), builder.clone(), permit));
    }
    drop(listener);
    registry.close_all();
    let drained = slots.acquire_many(u32::try_from(max).unwrap_or(u32::MAX));
    tokio::select! {
        _ = drained => tracing::info!("all connections closed"),
        () = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("shutdown: gave up waiting for connections"),
    }
}

/// The process's soft limit on open files, if any.
fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// The connection cap in force: `max_connections`, but at most half the
/// open-file limit (the rest is for the store's files, static files and the
/// listener), and at least 1.
fn effective_cap(max_connections: usize, open_files: Option<u64>) -> usize {
    let by_files = open_files
        .map(|n| usize::try_from(n / 2).unwrap_or(usize::MAX))
        .unwrap_or(usize::MAX);
    let cap = max_connections
        .min(by_files)
        .clamp(1, Semaphore::MAX_PERMITS);
    if cap < max_connections {
        tracing::info!(
            max_connections,
            cap,
            ?open_files,
            "connection cap lowered to half the open-file limit"
        );
    }
    cap
}

/// The open connections, so that the accept loop can close the idlest and
/// shutdown can close them all.
#[derive(Debug, Default)]
struct Registry {
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<ConnState>>>,
    epoch: EpochCell,
}

/// The instant activity times are counted from.
#[derive(Debug)]
struct EpochCell(Instant);

impl Default for EpochCell {
    fn default() -> Self {
        Self(Instant::now())
    }
}

/// One connection's activity, shared by its task, its I/O and the registry.
#[derive(Debug)]
struct ConnState {
    id: u64,
    epoch: Instant,
    /// Requests handed to the app whose response has not been produced yet.
    busy: AtomicUsize,
    /// Milliseconds from `epoch` to the last byte read or written, or to
    /// the last request's end.
    last_active_ms: AtomicU64,
    /// Milliseconds from `epoch` to the connection's opening or its last
    /// request's end, whichever is later: a peer that never finishes a
    /// request head keeps its opening time.
    last_request_ms: AtomicU64,
    /// Asked to close (idle, evicted or shutdown).
    closing: AtomicBool,
    /// Asked to close at once, without a grace (evicted while quiet).
    close_now: AtomicBool,
    close: Notify,
}

impl ConnState {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_active_ms
            .fetch_max(self.now_ms(), Ordering::Relaxed);
    }

    fn request_done(&self) {
        let now = self.now_ms();
        self.last_active_ms.fetch_max(now, Ordering::Relaxed);
        self.last_request_ms.fetch_max(now, Ordering::Relaxed);
    }

    fn idle_since(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed))
    }

    fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire) > 0
    }

    /// Asks the connection's task to close it (`now`: without a grace).
    fn ask_to_close(&self, now: bool) {
        if now {
            self.close_now.store(true, Ordering::Release);
        }
        self.closing.store(true, Ordering::Release);
        self.close.notify_one();
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ConnState>>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self) -> Arc<ConnState> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(ConnState {
            id,
            epoch: self.epoch.0,
            busy: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(0),
            last_request_ms: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            close_now: AtomicBool::new(false),
            close: Notify::new(),
        });
        conn.request_done();
        self.lock().insert(id, conn.clone());
        conn
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Closes at once the connection that has gone the longest without a
    /// request, if it has no request in progress and has been quiet for
    /// [`QUIET_FOR_EVICTION`]; false if there is none.
    fn close_idlest(&self) -> bool {
        let now = self.epoch.0.elapsed();
        let quiet_before =
            u64::try_from(now.saturating_sub(QUIET_FOR_EVICTION).as_millis()).unwrap_or(u64::MAX);
        let idlest = self
            .lock()
            .values()
            .filter(|c| {
                !c.is_busy()
                    && !c.closing.load(Ordering::Acquire)
                    && c.last_request_ms.load(Ordering::Relaxed) <= quiet_before
            })
            .min_by_key(|c| c.last_request_ms.load(Ordering::Relaxed))
            .cloned();
        match idlest {
            Some(conn) => {
                tracing::info!(
                    conn = conn.id,
                    "connection cap reached: closing the connection longest without a request"
                );
                conn.ask_to_close(true);
                true
            }
            None => false,
        }
    }

    fn close_all(&self) {
        for conn in self.lock().values() {
            conn.ask_to_close(false);
        }
    }
}

/// One connection's task: serves it, closes it when idle or asked to, ends
/// it as a fault says.
struct Connection {
    registry: Arc<Registry>,
    conn: Arc<ConnState>,
    idle_timeout: Duration,
}

impl Connection {
    async fn run(
        self,
        stream: TcpStream,
        app: Router,
        builder: hyper::server::conn::http1::Builder,
        _permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        // A second handle on the socket, so that a fault can still write
        // to (or reset) it after hyper's connection is dropped.
        let raw = Arc::new(stream);
        let abort = ConnAbort::default();
        let service = {
            let (app, abort, conn) = (app, abort.clone(), self.conn.clone());
            hyper::service::service_fn(move |req: Request<Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(abort.clone());
                let busy = Busy::new(conn.clone());
                let response = app.clone().oneshot(req);
                async move {
                    let response = response.await;
                    drop(busy);
                    response
                }
            })
        };
        let io = TokioIo::new(Tracked {
            inner: raw.clone(),
            conn: self.conn.clone(),
        });
        // Boxed, so that it can be dropped (closing hyper's descriptor)
        // before a fault's ending.
        let mut http = Box::pin(builder.serve_connection(io, service));
        let mut close_by: Option<Instant> = None;
        let mut check_idle_at = self.conn.idle_since() + self.idle_timeout;
        let ended = loop {
            tokio::select! {
                result = http.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(error = %err, "connection error");
                    }
                    break None;
                }
                () = abort.0.notify.notified() => break Some(abort.ending()),
                () = self.conn.close.notified(), if close_by.is_none() => {
                    if self.conn.close_now.load(Ordering::Acquire) && !self.conn.is_busy() {
                        break None;
                    }
                    http.as_mut().graceful_shutdown();
                    close_by = Some(Instant::now() + CLOSE_GRACE);
                }
                () = tokio::time::sleep_until(close_by.unwrap_or(check_idle_at)), if close_by.is_some() => {
                    if !self.conn.is_busy() {
                        // A partial request head, or a response that will not drain.
                        tracing::debug!(conn = self.conn.id, "connection closed after its grace");
                        break None;
                    }
                    close_by = Some(Instant::now() + CLOSE_GRACE);
                }
                () = tokio::time::sleep_until(check_idle_at), if close_by.is_none() => {
                    let now = Instant::now();
                    let idle_at = self.conn.idle_since() + self.idle_timeout;
                    if !self.conn.is_busy() && idle_at <= now {
                        tracing::debug!(conn = self.conn.id, "idle connection closed");
                        self.conn.ask_to_close(false);
                    }
                    check_idle_at = if idle_at > now { idle_at } else { now + self.idle_timeout };
                }
            }
        };
        // hyper's handle on the socket is gone once `http` drops; `raw`, the
        // last one, closes it (or, for a fault, ends it as told).
        drop(http);
        self.registry.remove(self.conn.id);
        if let Some(ending) = ended {
            tracing::info!(?ending, "connection ended without a whole response");
            end_connection(raw, ending);
        }
    }
}

/// Counts a request in progress on its connection while alive.
struct Busy(Arc<ConnState>);

impl Busy {
    fn new(conn: Arc<ConnState>) -> Self {
        conn.busy.fetch_add(1, Ordering::AcqRel);
        conn.touch();
        Self(conn)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.request_done();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket, shared with the connection's task (see [`end_connection`]),
/// noting when bytes move.
struct Tracked {
    inner: Arc<TcpStream>,
    conn: Arc<ConnState>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.inner.poll_read_ready(cx))?;
            match self.inner.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    if n > 0 {
                        self.conn.touch();
                    }
                    return Poll::Ready(Ok(()));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.inner.poll_write_ready(cx))?;
            match self.inner.try_write(buf) {
                Ok(n) => {
                    self.conn.touch();
                    return Poll::Ready(Ok(n));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.inner.poll_write_ready(cx))?;
            match self.inner.try_write_vectored(bufs) {
                Ok(n) => {
                    self.conn.touch();
                    return Poll::Ready(Ok(n));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(
            rustix::net::shutdown(&*self.inner, rustix::net::Shutdown::Write).map_err(Into::into),
        )
    }
}

/// Middleware: a request target longer than [`MAX_URI_BYTES`] is a 414
/// problem, header fields over [`MAX_HEADER_BYTES`] a 431 problem, before
/// anything else runs. (Heads hyper cannot parse, over 64 KiB or with more
/// than 100 fields never reach the app: hyper answers those itself with a
/// bare 400 or 431 and closes the connection.)
pub(crate) async fn limit_head(req: AxumRequest, next: Next) -> Response {
    let uri = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri > MAX_URI_BYTES {
        return Problem::new(
            StatusCode::URI_TOO_LONG,
            URI_TOO_LONG,
            format!("the request target is {uri} bytes; the limit is {MAX_URI_BYTES}"),
        )
        .into_response();
    }
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers > MAX_HEADER_BYTES {
        return Problem::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            HEADERS_TOO_LARGE,
            format!("the header fields are {headers} bytes; the limit is {MAX_HEADER_BYTES}"),
        )
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_half_the_descriptors() {
        assert_eq!(effective_cap(1024, None), 1024);
        assert_eq!(effective_cap(1024, Some(128)), 64);
        assert_eq!(effective_cap(10, Some(128)), 10);
        assert_eq!(effective_cap(1024, Some(1)), 1);
        assert_eq!(effective_cap(0, Some(1_000_000)), 1);
    }
}
