//! Waiting for the first of several things: the work, a timeout, an abort.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;

use futures_channel::oneshot;
use gloo_timers::future::TimeoutFuture;
use wasm_bindgen::JsValue;
use web_sys::DomException;

/// What won a [`race`].
pub(crate) enum Race<T> {
    /// The work finished.
    Done(T),
    /// The timeout fired first; holds the reason to abort the work with.
    TimedOut(JsValue),
    /// The submission was aborted first; holds the abort reason.
    Cancelled(JsValue),
}

/// Runs `work` until it finishes, `timeout_ms` pass (0: never), or the
/// submission is aborted, whichever is first. An abort wins a tie.
pub(crate) async fn race<F: Future>(
    work: F,
    timeout_ms: u32,
    cancelled: &mut oneshot::Receiver<JsValue>,
) -> Race<F::Output> {
    let mut work = pin!(work);
    let mut timer = (timeout_ms > 0).then(|| TimeoutFuture::new(timeout_ms));
    poll_fn(|cx| {
        if let Poll::Ready(reason) = Pin::new(&mut *cancelled).poll(cx) {
            // A dropped sender means the flight was ended without a reason.
            return Poll::Ready(Race::Cancelled(reason.unwrap_or(JsValue::UNDEFINED)));
        }
        if let Poll::Ready(done) = work.as_mut().poll(cx) {
            return Poll::Ready(Race::Done(done));
        }
        if let Some(timer) = timer.as_mut() {
            if Pin::new(timer).poll(cx).is_ready() {
                let message = format!("submit-guard: the attempt took longer than {timeout_ms} ms");
                let reason = DomException::new_with_message_and_name(&message, "TimeoutError")
                    .map_or_else(|_| JsValue::from(message), JsValue::from);
                return Poll::Ready(Race::TimedOut(reason));
            }
        }
        Poll::Pending
    })
    .await
}

/// Which of two futures finished first.
pub(crate) enum Either<A, B> {
    /// The first.
    Left(A),
    /// The second.
    Right(B),
}

/// Runs `a` and `b` until one finishes; `a` wins a tie.
pub(crate) async fn either<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let (mut a, mut b) = (pin!(a), pin!(b));
    poll_fn(|cx| {
        if let Poll::Ready(done) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(done));
        }
        if let Poll::Ready(done) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(done));
        }
        Poll::Pending
    })
    .await
}

/// Sleeps `ms` milliseconds.
pub(crate) fn sleep(ms: u32) -> TimeoutFuture {
    TimeoutFuture::new(ms)
}
