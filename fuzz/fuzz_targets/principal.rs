#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| submit_guard_idempotency::fuzz::principal(data));
