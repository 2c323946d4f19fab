#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| submit_guard::core::fuzz::options(data));
