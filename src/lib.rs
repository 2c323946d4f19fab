#![doc = include_str!("../README.md")]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod core;

#[cfg(target_arch = "wasm32")]
mod binding;

#[cfg(target_arch = "wasm32")]
pub use binding::SubmitGuard;

// talc in place of Rust's default wasm allocator (dlmalloc): less wasm and no
// slower in the benchmarks. The module is single-threaded; a build with
// atomics keeps the default.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// Without `std` (the npm package), a panic traps: no message is formatted,
/// so none of Rust's formatting is linked in. No panic is reachable from
/// JavaScript by design (`clippy::unwrap_used`, `indexing_slicing` and
/// `panic` are linted); a trap would surface as a `RuntimeError`.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &::core::panic::PanicInfo) -> ! {
    ::core::arch::wasm32::unreachable()
}
