//! The pure core: every decision submit-guard makes, as plain Rust.
//!
//! Nothing here knows about JavaScript, timers or clocks; the binding passes
//! the current time and random numbers in, and acts on the values returned.

#[cfg(feature = "fuzz")]
pub mod fuzz;
pub mod key;
pub mod options;
pub mod retry;
pub mod state;
