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

// lol_alloc's free-list allocator in place of Rust's default wasm allocator
// (dlmalloc) or talc: the module allocates little (a few strings per call),
// so a sorted, coalescing free list is enough, and it is the smallest that
// reuses memory (0.6 KB gzipped less than talc). The lock costs 48 bytes and
// keeps this crate free of `unsafe`. A build with atomics keeps the default.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());

/// Without `std` (the npm package), a panic traps: no message is formatted,
/// so none of Rust's formatting is linked in. No panic is reachable from
/// JavaScript by design (`clippy::unwrap_used`, `indexing_slicing` and
/// `panic` are linted); a trap would surface as a `RuntimeError`.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &::core::panic::PanicInfo) -> ! {
    ::core::arch::wasm32::unreachable()
}
