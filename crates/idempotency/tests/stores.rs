//! The store contract (`tests/contract`) against every store: one line each.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failure is a panic

#[macro_use]
mod contract;

mod memory {
    contract_suite!(crate::contract::memory());
}

mod sqlite {
    contract_suite!(crate::contract::sqlite());
}
