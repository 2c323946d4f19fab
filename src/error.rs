//! Core errors → JavaScript errors.
//!
//! Bad options become a `TypeError` or `RangeError` naming the option. Every
//! failure of a submission becomes an `Error` whose `name` is
//! `"SubmitGuardError"` and whose `code` is stable (`DUPLICATE`, `TIMEOUT`,
//! `NETWORK`, `ABORTED`, `HTTP`, `CROSS_TAB`); an `HTTP` error also carries
//! `status` and `response`, and the underlying error, if any, is its `cause`.
//! Errors thrown by a `run` task are passed through untouched.

use js_sys::{Error, RangeError, Reflect, TypeError};
use wasm_bindgen::JsValue;
use web_sys::Response;

use crate::core::state::Failure;
use crate::options::{OptionError, OptionErrorKind};

/// An options problem as the `TypeError` or `RangeError` it stands for.
pub(crate) fn option_error(e: &OptionError) -> JsValue {
    let message = e.to_string();
    match e.kind {
        OptionErrorKind::Type => TypeError::new(&message).into(),
        OptionErrorKind::Range => RangeError::new(&message).into(),
    }
}

/// A `TypeError` for a bad argument.
pub(crate) fn type_error(message: &str) -> JsValue {
    TypeError::new(message).into()
}

/// What went with a failure, for its JavaScript error.
#[derive(Default)]
pub(crate) struct Detail {
    /// Attempts made by the submission.
    pub attempts: u32,
    /// The final response of an `HTTP` failure.
    pub response: Option<Response>,
    /// The error underneath: the network `TypeError`, the abort reason.
    pub cause: Option<JsValue>,
}

/// A submission failure as a `SubmitGuardError`.
pub(crate) fn failure(failure: Failure, detail: Detail) -> JsValue {
    let Some(code) = failure.code() else {
        // A task's own error is passed through; callers never get here with
        // one, but if they did, the cause is the error itself.
        return detail.cause.unwrap_or(JsValue::UNDEFINED);
    };
    let attempts = detail.attempts;
    let message = match failure {
        Failure::Timeout | Failure::Network | Failure::Http { .. } if attempts > 0 => {
            let plural = if attempts == 1 { "" } else { "s" };
            format!("submit-guard: {failure} ({attempts} attempt{plural})")
        }
        _ => format!("submit-guard: {failure}"),
    };
    let error = Error::new(&message);
    error.set_name("SubmitGuardError");
    set(&error, "code", &code.into());
    if let Failure::Http { status } = failure {
        set(&error, "status", &status.into());
        set(
            &error,
            "response",
            detail
                .response
                .as_ref()
                .map_or(&JsValue::UNDEFINED, |r| r.as_ref()),
        );
    }
    if let Some(cause) = &detail.cause {
        error.set_cause(cause);
    }
    error.into()
}

fn set(target: &Error, name: &str, value: &JsValue) {
    // Defining a property on a fresh Error cannot fail.
    let _ = Reflect::set(target, &name.into(), value);
}
