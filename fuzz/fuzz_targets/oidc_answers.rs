#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| amphi_console::fuzzing::oidc_answers(data));
